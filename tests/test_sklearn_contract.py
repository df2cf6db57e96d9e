"""ANNClassifier against scikit-learn's own estimator checks, plus the parts of the contract they
do not cover: callbacks that clones never share, NotFittedError before fit."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from model.nn.estimator import ANNClassifier
from model.nn.training import Callback, EpochEvent

# Small and full-batch, so the ~60 checks take seconds; enough epochs and a rate high enough to
# pass the checks' accuracy thresholds (0.83 on blobs).
FAST = dict(hidden_units=(4,), epochs=60, learning_rate=0.05, batch_size=None, device="cpu")

# Deliberate departures from scikit-learn's defaults, each with its reason.
EXPECTED_FAILED_CHECKS = {
    "check_class_weight_classifiers": "class_weight is None or 'balanced' only: it is an ANNConfig field "
    "saved as JSON, where a {label: weight} mapping is not offered",
}


@parametrize_with_checks([ANNClassifier(**FAST)], expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


class EpochCounter(Callback):
    def __init__(self):
        self.epochs: list[int] = []

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.epochs.append(event.epoch)


@pytest.fixture(scope="module")
def data():
    return make_classification(120, 5, n_informative=3, random_state=0)


def test_clones_get_callbacks_of_their_own_and_share_the_stop_event():
    counter, stop = EpochCounter(), threading.Event()
    original = ANNClassifier(**FAST, callbacks=[counter], stop_event=stop)
    twin = clone(original)
    assert twin.stop_event is stop  # one Cancel stops every fold
    assert len(twin.callbacks) == 1 and twin.callbacks[0] is not counter
    assert isinstance(twin.callbacks[0], EpochCounter)
    assert clone(original).callbacks[0] is not twin.callbacks[0]


def test_a_fitted_clone_reports_to_its_own_callbacks_only(data):
    X, y = data
    counter = EpochCounter()
    original = ANNClassifier(**{**FAST, "epochs": 3}, callbacks=[counter])
    twin = clone(original).fit(X, y)
    assert counter.epochs == [] and twin.callbacks[0].epochs == [1, 2, 3]
    original.fit(X, y)
    assert counter.epochs == [1, 2, 3]


def test_a_threaded_grid_search_never_feeds_the_original_callbacks(data):
    X, y = data
    counter = EpochCounter()
    search = GridSearchCV(
        ANNClassifier(**{**FAST, "epochs": 3}, callbacks=[counter]), {"learning_rate": [0.01, 0.05]}, cv=2, n_jobs=2
    )
    with parallel_config(backend="threading"):  # threads see the same objects: sharing would show here
        search.fit(X, y)
    assert counter.epochs == []  # every fold and the refit trained a clone with copies
    assert search.best_estimator_.callbacks[0].epochs == [1, 2, 3]


def test_callbacks_that_cannot_be_copied_make_clone_fail_clearly():
    class Locked(Callback):
        def __init__(self):
            self.lock = threading.Lock()

    with pytest.raises(TypeError, match="'callbacks' cannot be deep-copied"):
        clone(ANNClassifier(callbacks=[Locked()]))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "decision_function"])
def test_predicting_before_fit_raises_not_fitted_error(method):
    with pytest.raises(NotFittedError):
        getattr(ANNClassifier(**FAST), method)(np.zeros((3, 5)))


def test_get_state_before_fit_raises_not_fitted_error():
    with pytest.raises(NotFittedError):
        ANNClassifier(**FAST).get_state()


def test_predict_log_proba_is_the_log_of_predict_proba(data):
    X, y = data
    model = ANNClassifier(**FAST).fit(X, y)
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(model.predict_proba(X)), rtol=1e-6, atol=1e-9)
