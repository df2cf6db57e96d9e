"""The preprocessing of a saved model, rebuilt from its statistics through our own transformer.

A bundle stores what make_preprocessor() learned (medians, means, scales, modes, features that had
no training value); scikit-learn has no public way to build a fitted imputer or scaler from such
numbers. SavedPreprocessor holds them as its own fitted attributes and applies them itself, exactly
as the fitted make_preprocessor() does:

    numeric      NaN -> median, then (x - mean) / scale
    binary       NaN -> most frequent value
    categorical  NaN -> most frequent value, then one-hot over the schema's codes (unknown code: all zeros)

A feature that had no training value is replaced by its fill value for every patient, whatever is
given (EmptyFeatureImputer's rule). The output (float64, same column order and names) is
bit-identical to the original's for float64, integer and nullable columns: the same float64
operations in the same order. (float32 columns are computed in float64 here, where scikit-learn
would stay in float32: a difference of about 1e-7 before the network's own float32.)

``from_statistics`` builds a fitted one from saved numbers, ``from_fitted`` from a fitted
make_preprocessor() (read through scikit-learn's documented fitted attributes), ``to_state`` gives
the JSON form a bundle stores. ``fit`` learns as make_preprocessor() does, so a clone of a loaded
pipeline refitted on other rows (cross-validation, another site) learns from those rows only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from model.data.preprocessing import make_preprocessor, output_feature_names, schema_categories
from model.data.schema import BINARY, CATEGORICAL, FEATURE_NAMES, NUMERIC

# The input columns as the transform reads them: each group in schema order, groups side by side.
GROUPED_ORDER = (*NUMERIC, *BINARY, *CATEGORICAL)


def _float_list(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def _vector(name: str, values: ArrayLike, length: int, positive: bool = False) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    if array.shape != (length,) or not np.isfinite(array).all() or (positive and (array <= 0).any()):
        raise ValueError(f"{name} must be {length} finite{' positive' if positive else ''} numbers")
    return array


def _columns(X: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The named columns of a DataFrame as a new float64 array (NaN for missing values)."""
    missing = [name for name in names if name not in X.columns]
    if missing:
        raise ValueError(f"columns are missing: {', '.join(missing)}")
    array = X[list(names)].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    if np.isinf(array).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    return array


def _statistics_of(preprocessor: Any) -> dict[str, Any]:
    """What a fitted make_preprocessor() learned, from scikit-learn's documented fitted attributes."""
    numeric = preprocessor.named_transformers_["numeric"]
    binary = preprocessor.named_transformers_["binary"]
    categorical = preprocessor.named_transformers_["categorical"]
    imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
    cat_imputer = categorical.named_steps["impute"]
    return {
        "numeric_median": imputer.statistics_,
        "numeric_mean": scaler.mean_,
        "numeric_scale": scaler.scale_,
        "numeric_var": scaler.var_,
        "n_samples_seen": int(np.max(scaler.n_samples_seen_)),
        "binary_fill": binary.statistics_,
        "categorical_fill": cat_imputer.statistics_,
        # EmptyFeatureImputer's own mask (model.data.preprocessing): features with no training value
        "empty_features": [
            str(name)
            for step in (imputer, binary, cat_imputer)
            for name, is_empty in zip(step.feature_names_in_, step.empty_features_, strict=True)
            if is_empty
        ],
        "feature_names_in": [str(name) for name in preprocessor.feature_names_in_],
        # left out on purpose (a moment of care): also left out when the model is refitted on other rows
        "unused_features": list(imputer.get_params()["unused_features"]),
    }


class SavedPreprocessor(TransformerMixin, BaseEstimator):
    """make_preprocessor()'s transform with its learned statistics held as our own fitted attributes.

    median_, mean_, scale_, var_   one value per NUMERIC feature (var_ and n_samples_seen_ are kept
                                   for the bundle; the transform uses median_, mean_ and scale_)
    binary_fill_                   most frequent value per BINARY feature
    categorical_fill_              most frequent code per CATEGORICAL feature
    empty_features_                features that had no training value (always filled)
    categories_                    the schema's codes of each CATEGORICAL feature (one-hot columns)

    ``unused_features`` (a parameter: names) are left out on purpose, e.g. the imaging results for a
    before-imaging model: always among ``empty_features_``, and left out again by ``fit``.
    """

    def __init__(self, unused_features: tuple[str, ...] = ()):
        self.unused_features = unused_features

    # ---- building ----------------------------------------------------------------------
    @classmethod
    def from_statistics(
        cls,
        *,
        numeric_median: ArrayLike,
        numeric_mean: ArrayLike,
        numeric_scale: ArrayLike,
        numeric_var: ArrayLike,
        n_samples_seen: int,
        binary_fill: ArrayLike,
        categorical_fill: ArrayLike,
        empty_features: Iterable[str] = (),
        feature_names_in: Sequence[str] = FEATURE_NAMES,
        unused_features: Iterable[str] = (),
    ) -> SavedPreprocessor:
        """A fitted preprocessor applying these statistics (a ValueError names a wrong one)."""
        unused = tuple(name for name in FEATURE_NAMES if name in set(map(str, unused_features)))
        if not set(unused) <= set(map(str, empty_features)):
            raise ValueError("unused_features must be among empty_features (a left-out feature is always filled)")
        return cls(unused_features=unused)._set_statistics(
            numeric_median=numeric_median,
            numeric_mean=numeric_mean,
            numeric_scale=numeric_scale,
            numeric_var=numeric_var,
            n_samples_seen=n_samples_seen,
            binary_fill=binary_fill,
            categorical_fill=categorical_fill,
            empty_features=empty_features,
            feature_names_in=feature_names_in,
        )

    @classmethod
    def from_fitted(cls, preprocessor: Any) -> SavedPreprocessor:
        """The statistics of a fitted make_preprocessor() (returned as is when it already is a fitted
        SavedPreprocessor). AttributeError or KeyError when it is neither."""
        if isinstance(preprocessor, cls):
            check_is_fitted(preprocessor)
            return preprocessor
        statistics = _statistics_of(preprocessor)
        return cls(unused_features=tuple(statistics.pop("unused_features")))._set_statistics(**statistics)

    def _set_statistics(
        self,
        *,
        numeric_median: ArrayLike,
        numeric_mean: ArrayLike,
        numeric_scale: ArrayLike,
        numeric_var: ArrayLike,
        n_samples_seen: int,
        binary_fill: ArrayLike,
        categorical_fill: ArrayLike,
        empty_features: Iterable[str],
        feature_names_in: Sequence[str],
    ) -> SavedPreprocessor:
        self.median_ = _vector("numeric_median", numeric_median, len(NUMERIC))
        self.mean_ = _vector("numeric_mean", numeric_mean, len(NUMERIC))
        self.scale_ = _vector("numeric_scale", numeric_scale, len(NUMERIC), positive=True)
        self.var_ = _vector("numeric_var", numeric_var, len(NUMERIC))
        if not (isinstance(n_samples_seen, int | np.integer) and n_samples_seen >= 1):
            raise ValueError("n_samples_seen must be a positive whole number")
        self.n_samples_seen_ = int(n_samples_seen)
        self.binary_fill_ = _vector("binary_fill", binary_fill, len(BINARY))
        self.categorical_fill_ = _vector("categorical_fill", categorical_fill, len(CATEGORICAL))
        empty = frozenset(str(name) for name in empty_features)
        if not empty <= set(FEATURE_NAMES):
            raise ValueError(f"empty_features names unknown features: {', '.join(sorted(empty - set(FEATURE_NAMES)))}")
        self.empty_features_ = empty
        self.categories_ = [np.asarray(codes, dtype=np.float64) for codes in schema_categories()]
        self.feature_names_in_ = np.asarray([str(name) for name in feature_names_in], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def to_state(self) -> dict[str, Any]:
        """The JSON form a bundle stores in preprocessing.json (model.serving.bundle reads it back)."""
        check_is_fitted(self)
        return {
            "feature_names_in": [str(name) for name in self.feature_names_in_],
            "numeric": {
                "columns": list(NUMERIC),
                "impute_median": _float_list(self.median_),
                "scale_mean": _float_list(self.mean_),
                "scale_scale": _float_list(self.scale_),
                "scale_var": _float_list(self.var_),
                "n_samples_seen": self.n_samples_seen_,
            },
            "binary": {"columns": list(BINARY), "impute_most_frequent": _float_list(self.binary_fill_)},
            "categorical": {
                "columns": list(CATEGORICAL),
                "impute_most_frequent": _float_list(self.categorical_fill_),
                "categories": [_float_list(codes) for codes in self.categories_],
            },
            "output_columns": [str(name) for name in self.get_feature_names_out()],
            "empty_features": [name for name in FEATURE_NAMES if name in self.empty_features_],
            "unused_features": [name for name in FEATURE_NAMES if name in self.unused_features],
        }

    # ---- scikit-learn ------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> SavedPreprocessor:
        """Learn the statistics from X's rows, exactly as make_preprocessor() does (it does the learning)."""
        used = [name for name in FEATURE_NAMES if name not in self.unused_features]
        statistics = _statistics_of(make_preprocessor(used).fit(X))
        statistics.pop("unused_features")
        return self._set_statistics(**statistics)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The network's input matrix (float64) for a DataFrame holding the 13 feature columns."""
        check_is_fitted(self)
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                f"the preprocessing selects the 13 feature columns by name: pass a pandas DataFrame, "
                f"not {type(X).__name__}"
            )
        values = _columns(X, GROUPED_ORDER)  # one conversion for all three groups
        empty = [index for index, name in enumerate(GROUPED_ORDER) if name in self.empty_features_]
        values[:, empty] = np.nan  # no training value: the fill for everyone, as in training
        fill = np.concatenate([self.median_, self.binary_fill_, self.categorical_fill_])
        filled = np.where(np.isnan(values), fill, values)
        n_numeric, n_binary = len(NUMERIC), len(BINARY)
        numeric = (filled[:, :n_numeric] - self.mean_) / self.scale_
        binary = filled[:, n_numeric : n_numeric + n_binary]
        categorical = filled[:, n_numeric + n_binary :]
        one_hot = [
            (categorical[:, [index]] == codes[np.newaxis, :]).astype(np.float64)
            for index, codes in enumerate(self.categories_)
        ]
        return np.hstack([numeric, binary, *one_hot])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The names make_preprocessor() gives its columns: "numeric__age", ..., "categorical__cp=1", ...."""
        return np.asarray(output_feature_names(), dtype=object)
