"""Cells of an uploaded CSV as numbers: one parser shared by coding detection and validation.

A cell may be a string from the CSV reader or any Python value from a frame built in a
notebook. ``parse_numbers`` answers, per cell, the number (NaN where the cell marks a
missing value) and whether the cell is no number at all.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import pandas as pd

MISSING_MARKERS = ("", "?", "na", "n/a", "nan", "null", "none")


def cell_number(value) -> float | None:
    """A cell as a float: NaN when it marks a missing value, None when it is no number."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return math.nan
    if isinstance(value, (complex, np.complexfloating)):  # float() would drop the imaginary part
        return None
    if isinstance(value, (int, float, np.number, np.bool_)):  # bool too: True/False is 1/0
        try:
            return float(value)
        except OverflowError:  # an int beyond float range, e.g. 10**400
            return math.inf if value > 0 else -math.inf
    text = str(value).strip()
    if text.lower() in MISSING_MARKERS:
        return math.nan
    if "_" in text:  # Python's float() accepts 1_000; a CSV reader must not
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers as float64 with NaN for missing, mask of cells that are not numbers).

    Each distinct cell is parsed once: real files repeat few distinct values, so this
    stays fast at the row cap.
    """
    column = column.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_complex_dtype(column):
        return column.astype("float64"), pd.Series(False, index=column.index)
    cells = column.to_numpy(dtype=object)
    try:
        codes, distinct = pd.factorize(cells)  # missing cells get code -1
    except TypeError:  # unhashable cells (a list or dict, from a frame built in a notebook) are no numbers
        codes, distinct = pd.factorize(
            np.array([v if isinstance(v, Hashable) else repr(v) for v in cells], dtype=object)
        )
    parsed = [cell_number(value) for value in distinct]
    # index -1 picks the appended entry: a missing cell is NaN and not a "non-number"
    numbers = np.array([math.nan if v is None else v for v in parsed] + [math.nan], dtype="float64")
    not_number = np.array([v is None for v in parsed] + [False], dtype=bool)
    return pd.Series(numbers[codes], index=column.index), pd.Series(not_number[codes], index=column.index)


def numbers_of(column: pd.Series) -> pd.Series:
    """Numeric view of a column; missing markers and non-numbers become NaN."""
    return parse_numbers(column)[0]
