"""Preprocessing of the 13 raw features, built from the one schema.

numeric      median imputation, then standardisation (mean 0, sd 1)
binary       most-frequent imputation (values stay 0/1)
categorical  most-frequent imputation, then one-hot coding

The one-hot categories are the schema's codes rather than the codes seen in the
training rows, so every fitted preprocessor emits the same columns in the same
order (cross-validation folds, saved bundles and batched training rely on that).
An unknown code becomes an all-zero block (handle_unknown="ignore").

A feature with no value at all in the training rows is kept (a warning names it): it is
filled with 0 for every patient, in training and in prediction alike, so the output width
never changes and a network never sees a value of a feature it could not learn from.

Everything is learned in ``fit`` from the rows passed to it only; inside a
Pipeline that means the training fold only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from model.data.schema import BINARY, CATEGORICAL, FEATURE_NAMES, NUMERIC, TARGET, feature

# Output columns are named "<group>__<feature>" or "<group>__<feature>=<code>".
GROUP_SEPARATOR = "__"
CATEGORY_SEPARATOR = "="


def category_column_name(feature_name: str, code) -> str:
    """Name of the one-hot column for one code (used by OneHotEncoder.feature_name_combiner)."""
    label = f"{code:g}" if isinstance(code, float) else str(code)
    return f"{feature_name}{CATEGORY_SEPARATOR}{label}"


def schema_categories() -> list[list[float]]:
    """The codes of each categorical feature, in schema order (floats: the raw columns may hold NaN)."""
    return [[float(code) for code in feature(name).codes] for name in CATEGORICAL]


def features_and_target(frame):
    """(X, y): the 13 feature columns in schema order and the 0/1 target of a loaded data set."""
    return frame[list(FEATURE_NAMES)], frame[TARGET.name].astype(int)


class EmptyFeatureImputer(SimpleImputer):
    """SimpleImputer that keeps features with no observed value (keep_empty_features=True), warns
    about them in fit, and fills them in transform even where a value is given.

    ``unused_features`` (names) are treated as having no value at all, on purpose and without a
    warning: a model for an earlier moment of care must not learn from a later test's result.
    ``empty_features_`` (bool per input column) is the learned mask; a saved bundle stores it.
    """

    def __init__(
        self,
        *,
        unused_features: tuple[str, ...] = (),
        missing_values=np.nan,
        strategy="mean",
        fill_value=None,
        copy=True,
        add_indicator=False,
        keep_empty_features=False,
    ):
        super().__init__(
            missing_values=missing_values,
            strategy=strategy,
            fill_value=fill_value,
            copy=copy,
            add_indicator=add_indicator,
            keep_empty_features=keep_empty_features,
        )
        self.unused_features = unused_features

    def _unused_mask(self, X) -> np.ndarray:
        names = X.columns if isinstance(X, pd.DataFrame) else []
        return np.array([str(name) in self.unused_features for name in names], dtype=bool)

    def fit(self, X, y=None):
        unused = self._unused_mask(X)
        if unused.any():
            X = X.copy()
            X[X.columns[unused]] = np.nan
        super().fit(X, y)
        no_value = np.asarray(pd.DataFrame(X).isna().all(axis=0), dtype=bool) & (len(X) > 0)
        self.empty_features_ = no_value | unused
        if (no_value & ~unused).any():
            names = getattr(self, "feature_names_in_", np.arange(len(no_value)))
            empty = ", ".join(map(str, np.asarray(names)[no_value & ~unused]))
            warnings.warn(
                f"no training value for {empty}: the model cannot learn from it; it is filled in "
                "with a constant for every patient",
                UserWarning,
                stacklevel=2,
            )
        return self

    def transform(self, X):
        empty = getattr(self, "empty_features_", None)
        if empty is not None and empty.any():
            if isinstance(X, pd.DataFrame):
                X = X.copy()
                X[X.columns[empty]] = np.nan
            else:
                X = np.array(X, dtype=float)
                X[:, empty] = np.nan
        return super().transform(X)


def make_preprocessor(features: Sequence[str] = FEATURE_NAMES) -> ColumnTransformer:
    """An unfitted ColumnTransformer for a DataFrame holding the 13 raw feature columns.

    Only `features` are learned from (e.g. a MomentOfCare's); the others are filled with a constant
    for every patient, so the output layout, saved bundles and explanations stay the same.
    """
    unknown = sorted(set(features) - set(FEATURE_NAMES))
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(map(repr, unknown))}; known: {', '.join(FEATURE_NAMES)}")
    unused = tuple(name for name in FEATURE_NAMES if name not in features)

    def imputer(strategy: str) -> EmptyFeatureImputer:
        return EmptyFeatureImputer(unused_features=unused, strategy=strategy, keep_empty_features=True)

    numeric = Pipeline([("impute", imputer("median")), ("scale", StandardScaler())])
    binary = imputer("most_frequent")
    categorical = Pipeline(
        [
            ("impute", imputer("most_frequent")),
            (
                "onehot",
                OneHotEncoder(
                    categories=schema_categories(),
                    handle_unknown="ignore",
                    sparse_output=False,
                    feature_name_combiner=category_column_name,
                ),
            ),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC)),
            ("binary", binary, list(BINARY)),
            ("categorical", categorical, list(CATEGORICAL)),
        ],
        remainder="drop",
        sparse_threshold=0.0,
    )


def group_of_column(name: str) -> str:
    """The raw feature behind one output column, e.g. "categorical__cp=4" -> "cp".

    Accepts names with or without the transformer prefix.
    """
    base = name.split(GROUP_SEPARATOR, 1)[-1]
    base = base.split(CATEGORY_SEPARATOR, 1)[0]
    if base not in FEATURE_NAMES:
        raise KeyError(f"output column {name!r} does not belong to any of the 13 features")
    return base


def output_feature_names(preprocessor=None) -> list[str]:
    """Output column names of a fitted preprocessor (or of the schema-fixed layout when None)."""
    if preprocessor is None:
        names = [f"numeric{GROUP_SEPARATOR}{n}" for n in NUMERIC]
        names += [f"binary{GROUP_SEPARATOR}{n}" for n in BINARY]
        names += [
            f"categorical{GROUP_SEPARATOR}{category_column_name(n, c)}"
            for n, codes in zip(CATEGORICAL, schema_categories(), strict=True)
            for c in codes
        ]
        return names
    return [str(n) for n in preprocessor.get_feature_names_out()]


def feature_groups(preprocessor=None) -> dict[str, list[int]]:
    """For each raw feature (schema order), the indices of its output columns.

    Summing attributions over a group gives one attribution per clinical feature.
    """
    groups: dict[str, list[int]] = {name: [] for name in FEATURE_NAMES}
    for index, name in enumerate(output_feature_names(preprocessor)):
        groups[group_of_column(name)].append(index)
    return groups


def features_without_value(preprocessor) -> frozenset[str]:
    """Names of the features a fitted make_preprocessor() fills with a constant for every patient (left out
    on purpose, or with no training value): a model behind it cannot depend on them."""
    empty: set[str] = set()
    for _, transformer, columns in preprocessor.transformers_:
        imputer = transformer[0] if isinstance(transformer, Pipeline) else transformer
        if isinstance(imputer, EmptyFeatureImputer):
            empty.update(str(name) for name, is_empty in zip(columns, imputer.empty_features_, strict=True) if is_empty)
    return frozenset(empty)


N_OUTPUTS = len(output_feature_names())
