"""Conversions from the other published codings of the Cleveland data to the UCI coding.

The UCI coding (model/data/schema.py) is the one the whole package speaks. Two other codings
circulate widely and look alike at a glance, which is exactly why they must be decoded
rather than trusted:

* Kaggle "heart.csv" (303 rows, also pingouin's ``chi2_independence``; and a 1,025-row
  version with repeated records): categorical codes renumbered from 0, missing values
  hidden as ``ca = 4`` and ``thal = 0``, and ``target`` inverted (1 = no disease).
* TensorFlow tutorial "heart.csv": UCI codes for numbers, ``thal`` written as words,
  and ``target`` = UCI ``num >= 2`` -- a different question from ours (num > 0).

The tables below are the verified mappings documented in data/README.md.
"""

from __future__ import annotations

import pandas as pd

# UCI's outcome column: 0 (no disease) to 4; the package's target is num > 0.
UCI_NUM = "num"
UCI_NUM_CODES = (0, 1, 2, 3, 4)
# Kaggle code -> UCI code, per column.
KAGGLE_TO_UCI: dict[str, dict[int, int]] = {
    "cp": {0: 4, 1: 2, 2: 3, 3: 1},
    "restecg": {0: 2, 1: 0, 2: 1},
    "slope": {0: 3, 1: 2, 2: 1},
    "thal": {1: 6, 2: 3, 3: 7},
}
# Kaggle stores a missing value as this code.
KAGGLE_MISSING_CODE: dict[str, int] = {"ca": 4, "thal": 0}

UCI_TO_KAGGLE: dict[str, dict[int, int]] = {
    column: {uci: kaggle for kaggle, uci in mapping.items()} for column, mapping in KAGGLE_TO_UCI.items()
}

# TensorFlow tutorial: thal as words.
TF_THAL_TO_UCI: dict[str, int] = {"normal": 3, "fixed": 6, "reversible": 7}


def allowed_kaggle_codes(column: str) -> set[int]:
    """The codes a Kaggle-coded file may contain in `column` (only for recoded columns)."""
    codes = set(KAGGLE_TO_UCI.get(column, {}))
    if column in KAGGLE_MISSING_CODE:
        codes.add(KAGGLE_MISSING_CODE[column])
    return codes


def _recode(frame: pd.DataFrame, mappings: dict[str, dict[int, int]]) -> pd.DataFrame:
    """Map the codes of each column in `mappings` and flip the target, which the Kaggle
    copy stores inverted (1 = no disease); flipping is its own inverse."""
    out = frame.copy()
    for column, mapping in mappings.items():
        if column in out:
            out[column] = out[column].map(mapping)
    if "target" in out:
        out["target"] = 1 - out["target"]
    return out


def kaggle_to_uci(frame: pd.DataFrame) -> pd.DataFrame:
    """Decode a numeric Kaggle-coded frame into UCI coding (returns a new frame).

    Codes that Kaggle does not use become NaN here; callers that must tell the user
    about them check ``allowed_kaggle_codes`` first.
    """
    unhidden = {c: frame[c].mask(frame[c] == code) for c, code in KAGGLE_MISSING_CODE.items() if c in frame}
    return _recode(frame.assign(**unhidden), KAGGLE_TO_UCI)


def uci_to_kaggle(frame: pd.DataFrame) -> pd.DataFrame:
    """Encode a UCI-coded frame the way the Kaggle copy does (for tests and round trips)."""
    out = _recode(frame, UCI_TO_KAGGLE)
    for column, code in KAGGLE_MISSING_CODE.items():
        if column in out:
            out[column] = out[column].fillna(code).astype(int)
    return out


def tf_thal_to_uci(thal: pd.Series) -> pd.Series:
    """Decode the TensorFlow tutorial's word-coded thal; anything else becomes NaN.

    The tutorial file carries two stray values ('1' and '2') that are no thal result;
    callers report the rows that turned into missing values.
    """
    words = thal.astype("string").str.strip().str.lower()
    return words.map(TF_THAL_TO_UCI).astype(float)
