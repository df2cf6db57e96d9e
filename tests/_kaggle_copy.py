"""A 1,025-row file built like the public Kaggle copy: the 303 built-in patients plus 722 repeats of them.

Written in Kaggle coding (model.data.codings.uci_to_kaggle) and read back through model.read_user_csv, so the
tests go through the importer path an analyst's upload takes.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from model.data.codings import uci_to_kaggle
from model.data.csv_import import read_user_csv
from model.data.datasets import load_dataset

N_REPEATS = 722


def kaggle_1025_bytes(seed: int = 0) -> bytes:
    """The CSV bytes: every built-in row once plus 722 drawn again, shuffled as the public copy is."""
    patients = load_dataset("cleveland")
    rng = np.random.default_rng(seed)
    repeats = patients.iloc[rng.integers(0, len(patients), N_REPEATS)]
    rows = pd.concat([patients, repeats], ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    buffer = io.StringIO()
    uci_to_kaggle(rows).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def kaggle_1025_frame(seed: int = 0) -> pd.DataFrame:
    """The file read back by the importer (UCI coding, 1,025 rows)."""
    result = read_user_csv(kaggle_1025_bytes(seed))
    assert result.frame is not None and result.report.ok, result.report.as_text()
    return result.frame


def seen_test_rows(X: pd.DataFrame, train, test) -> int:
    """Test rows whose exact 13 values also occur in the training rows: the slow, obvious reference.

    Row by row, a set of training tuples (missing values compared as equal): independent of model.splits.
    """
    values = X.reset_index(drop=True).astype(object).where(X.reset_index(drop=True).notna(), "missing")
    training = {tuple(row) for row in values.iloc[np.asarray(train)].itertuples(index=False)}
    return sum(tuple(row) in training for row in values.iloc[np.asarray(test)].itertuples(index=False))


def total_seen(X: pd.DataFrame, splits) -> int:
    """seen_test_rows summed over every split."""
    return sum(seen_test_rows(X, train, test) for train, test in splits)
