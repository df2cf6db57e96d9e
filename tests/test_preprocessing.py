"""Preprocessing: schema-driven columns, NaN handling, and no leakage from rows it was not fitted on."""

import numpy as np
import pandas as pd
import pytest

from model.data.datasets import load_dataset
from model.data.preprocessing import (
    N_OUTPUTS,
    feature_groups,
    features_and_target,
    group_of_column,
    make_preprocessor,
    output_feature_names,
)
from model.data.schema import BINARY, CATEGORICAL, FEATURE_NAMES, NUMERIC, feature
from model.evaluation.pipelines import ann_pipeline


@pytest.fixture(scope="module")
def data():
    return features_and_target(load_dataset())


def biased_split(X):
    """Training rows = the older patients, so training statistics differ from whole-data ones."""
    train = X["age"] >= X["age"].median()
    return X[train].copy(), X[~train].copy()


def test_output_columns_follow_the_schema(data):
    X, _ = data
    fitted = make_preprocessor().fit(X)
    names = output_feature_names(fitted)
    assert names == output_feature_names() and len(names) == N_OUTPUTS
    expected = len(NUMERIC) + len(BINARY) + sum(len(feature(n).codes) for n in CATEGORICAL)
    assert fitted.transform(X).shape == (len(X), expected)
    groups = feature_groups(fitted)
    assert list(groups) == list(FEATURE_NAMES)
    assert sorted(i for idx in groups.values() for i in idx) == list(range(expected))
    assert len(groups["cp"]) == 4 and len(groups["age"]) == 1
    assert group_of_column("categorical__thal=7") == "thal" and group_of_column("oldpeak") == "oldpeak"
    with pytest.raises(KeyError, match="does not belong"):
        group_of_column("numeric__weight")


def test_width_is_fixed_even_when_a_category_is_absent_from_training(data):
    X, _ = data
    without_cp1 = X[X["cp"] != 1]
    assert make_preprocessor().fit(without_cp1).transform(X).shape[1] == N_OUTPUTS


def test_missing_values_are_imputed_and_unknown_codes_ignored(data):
    X, _ = data
    assert X.isna().any().any(), "the built-in data has missing ca/thal"
    fitted = make_preprocessor().fit(X)
    out = fitted.transform(X)
    assert np.isfinite(out).all()
    odd = X.iloc[:1].copy()
    odd["cp"] = 9.0  # not a schema code: its one-hot block is all zeros
    row = fitted.transform(odd)[0]
    assert row[feature_groups(fitted)["cp"]].sum() == 0


def test_no_leakage_statistics_come_from_training_rows_only(data):
    X, _ = data
    train, test = biased_split(X)
    train.loc[train.index[:5], "chol"] = np.nan  # the imputer must use the training median
    fitted = make_preprocessor().fit(train)
    numeric = fitted.named_transformers_["numeric"]
    medians = numeric.named_steps["impute"].statistics_
    scaler = numeric.named_steps["scale"]
    train_numeric = train[NUMERIC]
    np.testing.assert_allclose(medians, train_numeric.median().to_numpy())
    imputed = train_numeric.fillna(train_numeric.median())
    np.testing.assert_allclose(scaler.mean_, imputed.mean().to_numpy())
    np.testing.assert_allclose(scaler.scale_, imputed.std(ddof=0).to_numpy())
    # ... and they really differ from the statistics of all rows (so this test can fail)
    assert not np.allclose(scaler.mean_, X[NUMERIC].fillna(X[NUMERIC].median()).mean().to_numpy())
    mode = fitted.named_transformers_["categorical"].named_steps["impute"].statistics_
    np.testing.assert_array_equal(mode, train[CATEGORICAL].mode().iloc[0].to_numpy())
    # transforming other rows leaves the learned state alone
    fitted.transform(test)
    np.testing.assert_allclose(scaler.mean_, imputed.mean().to_numpy())


def test_no_leakage_inside_the_ann_pipeline(data):
    X, y = data
    train, _ = biased_split(X)
    pipeline = ann_pipeline(epochs=2).fit(train, y[train.index])
    scaler = pipeline.named_steps["preprocess"].named_transformers_["numeric"].named_steps["scale"]
    train_numeric = train[NUMERIC]
    np.testing.assert_allclose(scaler.mean_, train_numeric.fillna(train_numeric.median()).mean().to_numpy())
    assert scaler.n_samples_seen_ == len(train)


def test_input_may_be_integer_coded(data):
    X, _ = data
    ints = X.dropna().round().astype("int64")
    out = make_preprocessor().fit(X).transform(ints)
    assert out.shape == (len(ints), N_OUTPUTS) and np.isfinite(out).all()
    assert isinstance(ints, pd.DataFrame)
