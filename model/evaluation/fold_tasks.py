"""The per-fold work of a cross-validation as plain tasks, for this process or the helper process.

model.runtime.helper_process.share_work runs these functions here and in a helper process at once, so
they are top-level, take and return picklable values, and this module imports neither torch nor the
rest of model.evaluation (the helper imports only what unpickling them needs). Each task is a chunk of
folds; a fold's result depends only on its own inputs, so it is the same whichever process ran it.

scikit-learn's input checks are skipped while fitting on already preprocessed folds (assume_finite,
skip_parameter_validation: public settings of sklearn.config_context). They check, not compute: the
preprocessed matrices are finite (the imputers fill every gap; the scaler rejected infinite values
when it was fitted) and the estimators' parameters are fixed in model.evaluation.classical. For
small models those checks are a large part of each fit (measured: about a tenth of a comparison).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone

# What a helper process imports before its first task (model.runtime.helper_process.warm_up): the modules of
# the estimators and preprocessing it will unpickle.
HELPER_MODULES = (
    __name__,
    "model.data.preprocessing",
    "model.data.splits",
    "model.evaluation.classical",
    "model.evaluation.fold_metrics",
)
FOLDS_PER_TASK = 2  # a random-forest task is then about a second: fine enough to share the work evenly

Split = tuple[np.ndarray, np.ndarray]


def chunks(count: int, size: int = FOLDS_PER_TASK) -> list[range]:
    """range(0, count) in consecutive pieces of `size` (the last may be shorter)."""
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def preprocess_splits(make: Callable, X: pd.DataFrame, train_rows: Sequence[np.ndarray]) -> list[tuple]:
    """For each training-row set: (all rows transformed as float64, the fitted preprocessor, seconds)."""
    out = []
    for train in train_rows:
        start = time.perf_counter()
        preprocessor = make().fit(X.iloc[train] if hasattr(X, "iloc") else X[train])
        transformed = np.asarray(preprocessor.transform(X), dtype=np.float64)
        out.append((transformed, preprocessor, time.perf_counter() - start))
    return out


def fit_folds(estimator, X_folds: np.ndarray, y: np.ndarray, splits: Sequence[Split]) -> list[tuple]:
    """For each fold k: a clone of `estimator` fitted on X_folds[k][train], and
    (P(disease) on X_folds[k][test], fit seconds, predict seconds, the fitted clone)."""
    out = []
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for X, (train, test) in zip(X_folds, splits, strict=True):
            fitted = clone(estimator)
            start = time.perf_counter()
            fitted.fit(X[train], y[train])
            done = time.perf_counter()
            proba = fitted.predict_proba(X[test])[:, list(fitted.classes_).index(1)]
            out.append((proba, done - start, time.perf_counter() - done, fitted))
    return out


def fit_all(pipeline, X: pd.DataFrame, y: np.ndarray) -> tuple:
    """(the pipeline fitted on every row, fit seconds, seconds to predict every row): a model's size and speed."""
    start = time.perf_counter()
    pipeline.fit(X, y)
    fitted = time.perf_counter()
    pipeline.predict_proba(X)
    return pipeline, fitted - start, time.perf_counter() - fitted
