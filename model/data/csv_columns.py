"""The columns of an uploaded table: a header line, or the UCI processed order when there is none."""

from __future__ import annotations

import pandas as pd

from model.data.codings import UCI_NUM
from model.data.csv_cells import cell_number
from model.data.import_report import ValidationReport, describe_names, repeated_names
from model.data.schema import FEATURE_NAMES


def name_columns(raw: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    """Name the columns: from the header line, or UCI-processed order when there is none.

    The first line is a header unless every cell in it is a number or a missing marker.
    A file without one is in the UCI processed layout (``report.coding`` says so): the 13
    features and, optionally, UCI's outcome 'num' last.
    """
    first = raw.iloc[0].tolist()
    if all(cell_number(value) is not None for value in first):  # numbers or missing markers only
        width = raw.shape[1]
        if width not in (len(FEATURE_NAMES), len(FEATURE_NAMES) + 1):
            report.error(
                None,
                [],
                f"the file has no header line and {width} columns; without a header we expect the "
                f"UCI processed layout: {len(FEATURE_NAMES) + 1} columns ({', '.join(FEATURE_NAMES)}, "
                f"{UCI_NUM}) — or add a header line naming the columns",
            )
            return None
        report.coding = "uci-processed"
        body = raw.copy()
        body.columns = list(FEATURE_NAMES) + ([UCI_NUM] if width > len(FEATURE_NAMES) else [])
        return body.reset_index(drop=True)
    names = [str(v).strip().strip('"').strip().lower() for v in first]
    if report_repeated_names(names, report):
        return None
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = names
    return body


def report_repeated_names(names, report: ValidationReport) -> bool:
    """True (and an error) when column names repeat (after folding case and spaces)."""
    repeated = repeated_names(names)
    if repeated:
        report.error(None, [], f"the header names these columns more than once: {describe_names(repeated)}")
    return bool(repeated)
