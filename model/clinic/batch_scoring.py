"""A batch of patients' risks: every valid row scored as one patient is, every other row listed with its reasons.

``read_batch_csv`` reads a file with the importer (model/data/csv_import.py) in its
"set_aside" mode; ``score_batch`` takes what it returns (an ``ImportResult``: the good
rows and the set-aside ones with their reasons) or a frame built in a notebook, which it
checks the way the importer checks a file (``csv_import.set_aside_bad_rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.clinic.interval import (
    MC_BATCH_PASSES,
    MC_LEVEL,
    NO_INTERVAL_DETAIL,
    NoIntervalReason,
    clipped_passes,
    mc_dropout_bounds,
    no_interval_reason,
)
from model.clinic.reference import TrainingReference
from model.clinic.risk_bands import band_names
from model.clinic.unknown_averaging import averaged_risks, resolve_reference
from model.data.csv_import import read_user_csv, set_aside_bad_rows
from model.data.import_report import ImportResult
from model.data.schema import FEATURE_NAMES, FEATURES, TARGET, feature
from model.runtime.limits import MAX_ROWS, MAX_UPLOAD_BYTES

# Rows scored together: the plausible fillings, the dropout passes and the typicality check of 200,000 rows at
# once took 2.5 GB; a chunk of this many takes ~200 MB.
BATCH_CHUNK_ROWS = 20_000
MIN_KNOWN_FEATURES = 7  # a row with fewer known features than this is mostly imputation: not scored


class BatchError(ValueError):
    """The file as a whole cannot be scored (e.g. a required column is missing)."""


@dataclass
class BatchResult:
    scored: pd.DataFrame  # row, the 13 inputs (+ target if given), risk_percent, risk_band, imputed,
    #                       unknown_low/high_percent, interval_low/high_percent, atypical, atypical_reasons
    invalid: pd.DataFrame  # row, reasons
    reference_note: str | None = None  # the model's training data were not available: what stood in
    no_interval_reason: NoIntervalReason | None = None  # why the interval columns are empty (None: they are not)

    @property
    def n_rows(self) -> int:
        return len(self.scored) + len(self.invalid)

    @property
    def interval_note(self) -> str | None:
        """Why no row has an uncertainty interval, in words (None when they have one)."""
        if self.no_interval_reason is None:
            return None
        return "No uncertainty intervals: " + NO_INTERVAL_DETAIL[self.no_interval_reason]

    def as_table(self) -> pd.DataFrame:
        """Every row in file order: scored rows with risk and band, the others with `problem` filled in."""
        scored = self.scored.assign(problem="")
        invalid = self.invalid.rename(columns={"reasons": "problem"})
        parts = [part for part in (scored, invalid) if len(part)]
        table = pd.concat(parts, ignore_index=True) if parts else scored
        return table.sort_values("row", kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        text = f"{len(self.scored):,} of {self.n_rows:,} rows scored"
        if len(self.invalid):
            text += f"; {len(self.invalid):,} rows could not be scored (reasons listed)"
        return text + "."


def _check_shape(frame: pd.DataFrame, n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise BatchError("The file holds no patients.")
    if n_rows > max_rows:
        raise BatchError(f"The file has {n_rows:,} rows; at most {max_rows:,} can be scored at once.")
    absent = [feat for feat in FEATURES if feat.name not in frame.columns]
    if absent:
        raise BatchError(
            "Missing column(s): "
            + ", ".join(f"{f.name} ({f.label})" for f in absent)
            + ". Columns must be named as in the UCI data: "
            + ", ".join(FEATURE_NAMES)
            + "."
        )


def _refusal(result: ImportResult) -> BatchError:
    return BatchError(" ".join(str(issue) for issue in result.report.errors) or "The file holds no patients.")


def good_and_set_aside_rows(
    patients: ImportResult | pd.DataFrame, max_rows: int = MAX_ROWS
) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """(the rows to score, indexed by 1-based data row number; data row -> reasons for every row set aside).

    An ``ImportResult`` read with ``bad_rows="set_aside"`` has done this already; any other
    frame (a notebook's, or the importer's "refuse" reading) is checked here as the importer
    checks a file.
    """
    if isinstance(patients, ImportResult):
        if patients.frame is None:
            raise _refusal(patients)
        if patients.report.bad_rows == "set_aside":
            _check_shape(patients.frame, len(patients.frame) + len(patients.set_aside), max_rows)
            return patients.frame, {row: list(problems) for row, problems in patients.set_aside.items()}
        patients = patients.frame
    _check_shape(patients, len(patients), max_rows)
    frame, report = set_aside_bad_rows(patients)
    if frame is None:
        raise BatchError(" ".join(str(issue) for issue in report.errors))
    return frame, {row: list(problems) for row, problems in report.set_aside.items()}


def _score_rows(
    pipeline,
    values: pd.DataFrame,
    reference: TrainingReference,
    reason: str | None,
    n_passes: int,
    level: float,
    seed: int,
) -> pd.DataFrame:
    """The per-row columns of score_batch for one chunk of valid rows (float64 values, NaN where unknown)."""
    averaged = averaged_risks(pipeline, values, reference)
    bounds = np.full((len(values), 2), np.nan)
    if reason is None and len(values):
        bounds = mc_dropout_bounds(
            pipeline,
            averaged.fillings,
            averaged.counts,
            clipped_passes(n_passes),
            level,
            seed=seed,
            matrix=averaged.matrix,
        )
    typicality = reference.typicality.check(values.to_numpy(dtype=float))
    return pd.DataFrame(
        {
            "risk_percent": np.round(100.0 * averaged.mean, 1),
            "risk_band": band_names(averaged.mean),
            "unknown_low_percent": np.round(100.0 * averaged.low, 1),
            "unknown_high_percent": np.round(100.0 * averaged.high, 1),
            "interval_low_percent": np.round(100.0 * bounds[:, 0], 1),
            "interval_high_percent": np.round(100.0 * bounds[:, 1], 1),
            "atypical": typicality.atypical.astype(bool),
            "atypical_reasons": ["; ".join(row) for row in typicality.reasons],
        }
    )


def score_batch(
    pipeline,
    patients: ImportResult | pd.DataFrame,
    *,
    max_rows: int = MAX_ROWS,
    reference: TrainingReference | None = None,
    n_passes: int = MC_BATCH_PASSES,
    level: float = MC_LEVEL,
    progress: Callable[[float, str], None] | None = None,
) -> BatchResult:
    """Score every valid row; list every other row with its reasons.

    `patients` is what ``read_batch_csv`` returns (the importer's good rows and the rows it
    set aside with their reasons) or a frame built in a notebook, which is checked here the
    same way (``csv_import.set_aside_bad_rows``). Rows are numbered from 1 (the first
    patient below the header), as in the import report. A missing value (empty or "?") is
    named in the `imputed` column and, as in ``predict_risk``, the row's risk is averaged
    over its plausible fillings (`unknown_low_percent` – `unknown_high_percent` is their
    range); each row also gets the Monte Carlo dropout interval (`interval_low_percent` –
    `interval_high_percent`; NaN for a model without dropout, and ``no_interval_reason``
    says why) and the typicality check (`atypical`, `atypical_reasons`). A row with fewer
    than MIN_KNOWN_FEATURES known features, a value that is not a number or an impossible
    value (``Feature.check``) makes the row invalid.

    Rows are scored in chunks of BATCH_CHUNK_ROWS, so memory stays bounded on a large file; `progress(fraction,
    message)` hears of each chunk. Chunk c's dropout passes draw from a generator seeded with c.
    """
    frame, reasons = good_and_set_aside_rows(patients, max_rows)
    inputs = frame[list(FEATURE_NAMES)]
    missing = inputs.isna()
    too_few = missing.columns.size - missing.sum(axis=1) < MIN_KNOWN_FEATURES
    for row, n_missing in missing.sum(axis=1)[too_few].items():
        reasons[int(row)] = [
            f"only {len(FEATURES) - n_missing} of {len(FEATURES)} features given; at least "
            f"{MIN_KNOWN_FEATURES} are needed"
        ]
    valid = ~too_few.to_numpy()
    kept = frame[valid]
    scored = pd.DataFrame({"row": kept.index.to_numpy(dtype="int64")})
    for name in FEATURE_NAMES:
        scored[name] = kept[name].to_numpy()
    if TARGET.name in kept.columns:
        scored[TARGET.name] = kept[TARGET.name].to_numpy()
    reference = resolve_reference(pipeline, reference)
    values = inputs[valid].astype("float64")
    reason = no_interval_reason(pipeline)
    parts = []
    for first in range(0, max(len(values), 1), BATCH_CHUNK_ROWS):  # one (empty) chunk when no row is valid
        if progress is not None:
            progress(
                first / len(values),
                f"Scoring patients {first + 1:,} to {min(first + BATCH_CHUNK_ROWS, len(values)):,} of {len(values):,}",
            )
        parts.append(
            _score_rows(
                pipeline,
                values.iloc[first : first + BATCH_CHUNK_ROWS],
                reference,
                reason,
                n_passes,
                level,
                seed=first // BATCH_CHUNK_ROWS,
            )
        )
    if progress is not None:
        progress(1.0, f"Scored {len(values):,} patients")
    per_row = pd.concat(parts, ignore_index=True)
    labels = [feature(name).label for name in FEATURE_NAMES]
    imputed = [
        ", ".join(label for label, gap in zip(labels, gaps, strict=True) if gap) for gaps in missing[valid].to_numpy()
    ]
    per_row.insert(2, "imputed", imputed)  # after the risk and its band, as the page and the CSV show them
    for column in per_row.columns:
        scored[column] = per_row[column].to_numpy()
    invalid = pd.DataFrame(
        {
            "row": pd.Series(sorted(reasons), dtype="int64"),
            "reasons": ["; ".join(reasons[row]) for row in sorted(reasons)],
        }
    )
    return BatchResult(scored, invalid, reference.note, reason)


def read_batch_csv(
    source, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_UPLOAD_BYTES, coding: str | None = None
) -> ImportResult:
    """The importer's reading of a CSV of patients to score (``.frame`` None when the file is refused).

    The importer (model/data/csv_import.py) reads, recognises the coding (UCI, Kaggle,
    TensorFlow tutorial) and converts; in its "set_aside" mode a row with an impossible
    or non-numeric cell leaves the frame and is listed with its reasons in ``.set_aside``,
    and only a file-level problem (missing columns, not a CSV, too large) refuses the
    file. The result is what ``score_batch`` takes. A file whose values fit two codings is
    refused with ``.report.needs_coding`` and ``.report.candidate_codings``: read it again
    with ``coding=`` set to the one the user chose.
    """
    if isinstance(source, (bytes, bytearray)):
        data = source
    elif hasattr(source, "getvalue"):
        data = source.getvalue()
    else:
        data = source.read()
    return read_user_csv(bytes(data), max_rows=max_rows, max_bytes=max_bytes, bad_rows="set_aside", coding=coding)
