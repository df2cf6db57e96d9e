"""Readings of one file in each coding it fits, for a user who must choose between them.

When ``read_user_csv`` cannot tell a file's coding from its values, its report names the
candidates (``ValidationReport.candidate_codings``). ``read_candidates`` reads the file in
each of them; a ``CodingReading`` gives the few rows a person needs to recognise their
data (categories decoded with the schema's labels) and the prevalence each reading implies.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from model.data.csv_import import read_user_csv
from model.data.import_report import CODING_NAMES, ImportResult
from model.data.schema import TARGET, feature

PREVIEW_ROWS = 5
# The outcome and the columns that the UCI and Kaggle readings decode differently come first; age and sex
# then help a person recognise the patients.
PREVIEW_COLUMNS = (TARGET.name, "thal", "cp", "restecg", "slope", "ca", "age", "sex")
UNKNOWN = "Unknown"


def labelled_rows(frame: pd.DataFrame, n_rows: int = PREVIEW_ROWS, columns=PREVIEW_COLUMNS) -> pd.DataFrame:
    """The first rows with category codes shown as the schema's labels and columns named by their labels."""
    head = frame.head(n_rows)
    out = pd.DataFrame(index=head.index)
    for name in columns:
        if name not in head:
            continue
        f = feature(name)
        values = head[name]
        if f.categories:
            shown = [UNKNOWN if pd.isna(v) else f.category_label(v) for v in values]
        else:
            shown = [UNKNOWN if pd.isna(v) else f"{v:g}" for v in values.astype(float)]
        out[f.label] = shown
    out.index.name = "data row"
    if out.index.equals(pd.RangeIndex(len(out))):
        out.index = pd.Index(range(1, len(out) + 1), name="data row")
    return out


@dataclass(frozen=True)
class CodingReading:
    """The file as read in one coding."""

    coding: str
    result: ImportResult

    @property
    def name(self) -> str:
        return CODING_NAMES.get(self.coding, self.coding)

    @property
    def usable(self) -> bool:
        return self.result.frame is not None and not self.result.report.refuses

    @property
    def prevalence(self) -> tuple[int, int] | None:
        """(patients with disease, patients with a known outcome) in this reading; None without a target."""
        frame = self.result.frame
        if frame is None or not self.usable or not self.result.has_target:
            return None
        target = frame[TARGET.name].dropna()
        return int((target == 1).sum()), int(len(target))

    def prevalence_text(self) -> str:
        counts = self.prevalence
        if counts is None:
            return "no outcome to count" if self.usable else "this reading is refused"
        with_disease, known = counts
        share = 100.0 * with_disease / known if known else 0.0
        return f"disease in {with_disease:,} of {known:,} patients ({share:.1f} %)"

    def preview(self, n_rows: int = PREVIEW_ROWS) -> pd.DataFrame:
        frame = self.result.frame
        return pd.DataFrame() if frame is None else labelled_rows(frame, n_rows)


def read_candidates(data: bytes, codings, **read_options) -> list[CodingReading]:
    """The file read in each of `codings` (``read_options`` as for ``read_user_csv``)."""
    return [CodingReading(coding, read_user_csv(data, coding=coding, **read_options)) for coding in codings]
