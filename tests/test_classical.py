"""The classical baselines: all seven, same preprocessing, seeded."""

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from model.data.datasets import load_dataset
from model.data.preprocessing import features_and_target
from model.evaluation.classical import classical_models

EXPECTED = [
    "Logistic regression",
    "Random forest",
    "Gradient boosting",
    "SVM",
    "k-nearest neighbours",
    "Naive Bayes",
    "Decision tree",
]


@pytest.fixture(scope="module")
def data():
    return features_and_target(load_dataset())


def test_all_seven_behind_the_same_preprocessing():
    models = classical_models()
    assert list(models) == EXPECTED
    for pipeline in models.values():
        assert isinstance(pipeline, Pipeline) and pipeline.steps[0][0] == "preprocess"
        assert type(pipeline.steps[0][1]).__name__ == "ColumnTransformer"


@pytest.mark.parametrize("name", EXPECTED)
def test_each_fits_raw_frames_with_missing_values_and_gives_probabilities(data, name):
    X, y = data
    train, test = X.iloc[::2], X.iloc[1::2]
    proba = classical_models()[name].fit(train, y.iloc[::2]).predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean((proba[:, 1] >= 0.5) == y.iloc[1::2].to_numpy()) > 0.5  # better than chance


def test_seeded_models_repeat_themselves(data):
    X, y = data
    first = classical_models(seed=1)["Random forest"].fit(X, y).predict_proba(X)
    again = classical_models(seed=1)["Random forest"].fit(X, y).predict_proba(X)
    other = classical_models(seed=2)["Random forest"].fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_the_svm_is_the_calibrated_rbf_svc_until_it_samples_large_training_sets(data, caplog):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from model.data.preprocessing import make_preprocessor
    from model.evaluation.classical import RBFSupportVectorMachine

    X, y = data
    A, y = make_preprocessor().fit_transform(X), y.to_numpy()
    reference = CalibratedClassifierCV(SVC(kernel="rbf", random_state=0), method="sigmoid", ensemble=False)
    exact = RBFSupportVectorMachine(len(A), random_state=0).fit(A, y)
    np.testing.assert_array_equal(exact.predict_proba(A), reference.fit(A, y).predict_proba(A))
    assert (exact.rows_used_, exact.rows_given_) == (len(A), len(A))

    with caplog.at_level("WARNING", logger="model.evaluation.classical"):
        sampled = RBFSupportVectorMachine(120, random_state=0).fit(A, y)
    assert (sampled.rows_used_, sampled.rows_given_) == (120, len(A))
    assert "stratified random sample of 120" in caplog.text
    assert sampled.support_vectors_.shape[0] <= 120 < exact.support_vectors_.shape[0]
    assert sampled.predict_proba(A).shape == (len(A), 2)
