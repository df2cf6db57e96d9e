"""Results as each model finishes, cheapest first, and the helper process that shares the folds: the per-model
events carry exactly the final result's rows, and sharing the work changes no number.

Counted in tasks and compared value for value, never in seconds.
"""

from __future__ import annotations

import os
import time

import _helper_tasks as tasks
import numpy as np
import pandas as pd
import pytest
from sklearn.naive_bayes import GaussianNB

from model.data.datasets import load_dataset
from model.evaluation import fold_tasks
from model.evaluation.batched_cv import preprocess_folds
from model.evaluation.classical import classical_models, with_preprocessing
from model.evaluation.comparison import ANN_NAME, Protocol, checked_features_and_target, run_comparison
from model.evaluation.cross_validation import cross_validate_models, make_splits
from model.evaluation.estimates import REFERENCE_SPEED, cheapest_first, estimate_comparison
from model.nn.config import ANNConfig, LayerConfig
from model.runtime import helper_process

SMALL_ANN = ANNConfig(hidden_layers=[LayerConfig(4, "relu", 0.0)], batch_size=None, epochs=10, seed=0)
MODELS = ["Random forest", "Naive Bayes", "Logistic regression", "Gradient boosting", ANN_NAME]
READY_WAIT_POLLS = 600  # × 0.1 s: the helper's start on a loaded machine
# loky says so when the helper is killed on purpose (test_a_helper_that_dies_costs_only_time), from its own thread
pytestmark = pytest.mark.filterwarnings("ignore:A worker stopped while some jobs:UserWarning")


@pytest.fixture(scope="module")
def frame():
    return load_dataset("cleveland")


@pytest.fixture
def no_helper(monkeypatch):
    monkeypatch.setenv(helper_process.HELPER_PROCESSES_ENV, "0")


@pytest.fixture
def helper(monkeypatch):
    """The helper process started and ready (so that the work really is shared)."""
    monkeypatch.setenv(helper_process.HELPER_PROCESSES_ENV, "1")
    helper_process.warm_up()
    for _ in range(READY_WAIT_POLLS):
        if helper_process.ready_pool() is not None:
            return
        time.sleep(0.1)
    pytest.fail("the helper process did not start")


def test_each_model_is_announced_cheapest_first_with_the_final_results_rows(frame, no_helper):
    events = []
    report = run_comparison(
        frame, MODELS, SMALL_ANN, Protocol(3, 2, 0), with_learning_curve=False, with_importance=False,
        on_model=events.append,
    )  # fmt: skip
    assert [e.name for e in events] == cheapest_first(report.models, len(frame), SMALL_ANN, 3, 2)
    assert [e.finished for e in events] == [1, 2, 3, 4, 5] and {e.total for e in events} == {5}
    assert events[-1].name == "Random forest"  # the slowest by far, whatever the machine's calibration
    for event in events:
        final_folds = report.result.folds[report.result.folds["model"] == event.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(event.folds, final_folds)
        final_summary = report.result.summary[report.result.summary["model"] == event.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(event.summary, final_summary)
    # The result keeps the models in the page's order, whatever order they ran in.
    assert report.result.models == report.models == [
        "Logistic regression", "Random forest", "Gradient boosting", "Naive Bayes", ANN_NAME
    ]  # fmt: skip


def test_the_run_order_changes_no_number(frame, no_helper):
    X, y = checked_features_and_target(frame)
    models = {name: classical_models()[name] for name in ("Decision tree", "Naive Bayes", "k-nearest neighbours")}
    plain = cross_validate_models(models, X, y, n_splits=3, n_repeats=2)
    reordered = cross_validate_models(
        models, X, y, n_splits=3, n_repeats=2, run_order=["k-nearest neighbours", "Naive Bayes", "Decision tree"]
    )
    timeless = [c for c in plain.folds.columns if not c.endswith("seconds")]
    pd.testing.assert_frame_equal(plain.folds[timeless], reordered.folds[timeless])
    assert plain.models == reordered.models and plain.best == reordered.best
    with pytest.raises(ValueError, match="name each model once"):
        cross_validate_models(models, X, y, n_splits=3, n_repeats=1, run_order=["Naive Bayes"])


def test_cheapest_first_follows_the_estimate():
    names = ["Random forest", "SVM", "Naive Bayes", "Gradient boosting"]
    parts = estimate_comparison(303, names, SMALL_ANN, 5, 10, speed=REFERENCE_SPEED).parts
    assert cheapest_first(names, 303, SMALL_ANN, 5, 10) == sorted(names, key=parts.get)


def test_shared_work_comes_back_in_task_order_from_both_processes(helper):
    arrived = []
    results = helper_process.share_work(
        tasks.pid_and_square, [(v,) for v in range(12)], on_result=lambda i, r: arrived.append(i)
    )
    assert [square for _, square in results] == [v * v for v in range(12)]
    assert sorted(arrived) == list(range(12))
    assert {pid for pid, _ in results} - {os.getpid()}  # the helper did some of it


@pytest.mark.parametrize(("setting", "expected"), [("0", 0), ("1", 1), ("2", None), ("-1", None), ("one", None)])
def test_the_helper_setting_is_bounded(monkeypatch, caplog, setting, expected):
    monkeypatch.setenv(helper_process.HELPER_PROCESSES_ENV, setting)
    helper_process._helper_count_for.cache_clear()  # a bad setting is logged once per value and process
    default = 1 if (os.cpu_count() or 1) >= 2 else 0
    assert helper_process.helper_count() == (default if expected is None else expected)
    assert (helper_process.HELPER_PROCESSES_ENV in caplog.text) == (expected is None)


def test_without_the_helper_everything_runs_here(no_helper):
    helper_process.warm_up()
    assert helper_process.ready_pool() is None
    results = helper_process.share_work(tasks.pid_and_square, [(v,) for v in range(4)])
    assert {pid for pid, _ in results} == {os.getpid()}


def test_a_comparison_has_the_same_fold_metrics_with_and_without_the_helper(frame, helper, monkeypatch):
    """Every model's every fold metric, and each model's size fitted on all rows, whichever process computed it."""
    names = [*classical_models(), ANN_NAME]

    def compare():  # 3 folds: two tasks per model, so the helper takes one of them
        return run_comparison(
            frame, names, SMALL_ANN, Protocol(3, 1, 0), with_learning_curve=False, with_importance=False
        )

    shared = compare()
    monkeypatch.setenv(helper_process.HELPER_PROCESSES_ENV, "0")
    local = compare()
    timeless = [c for c in shared.result.folds.columns if not c.endswith("seconds")]
    pd.testing.assert_frame_equal(shared.result.folds[timeless], local.result.folds[timeless])
    summary = [not metric.endswith("seconds") for metric in shared.result.summary["metric"]]
    pd.testing.assert_frame_equal(shared.result.summary[summary], local.result.summary[summary])
    facts = ["model", "size", "size_unit", "input_columns"]
    pd.testing.assert_frame_equal(shared.model_facts[facts], local.model_facts[facts])


def test_fold_tasks_match_the_whole_pipeline_fitted_fold_by_fold(frame, no_helper):
    """The obvious reference: clone the whole pipeline (preprocessing + model) and fit it on each fold."""
    X, y = checked_features_and_target(frame)
    splits = make_splits(y, 3, 1, 0)
    folds = preprocess_folds(X, splits)
    pipeline = with_preprocessing(GaussianNB())
    out = fold_tasks.fit_folds(pipeline.steps[-1][1], folds.X, y, splits)
    for (train, test), (proba, *_) in zip(splits, out, strict=True):
        reference = pipeline.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])[:, 1]
        np.testing.assert_allclose(proba, reference, rtol=1e-12, atol=1e-12)
    assert [list(piece) for piece in fold_tasks.chunks(5, 2)] == [[0, 1], [2, 3], [4]]


# Near the end of this module: the helper is left busy with a 5 s task.
class _Stopped(Exception):
    pass


def test_a_stop_is_heard_while_waiting_for_the_helper(helper):
    """check() is asked while this process waits for the helper, not only between the tasks it runs itself: with
    only the latter, the two 5 s tasks in the helper would be waited for and the results returned."""
    calls = []

    def check() -> None:
        calls.append(None)
        if len(calls) > 10:
            raise _Stopped

    with pytest.raises(_Stopped):
        helper_process.share_work(tasks.slow_in_the_helper, [(v, os.getpid()) for v in range(3)], check=check)


# Last in this module: the helper is restarted after it has died, which takes seconds.
def test_a_helper_that_dies_costs_only_time(helper):
    results = helper_process.share_work(tasks.dies_in_the_helper, [(v, os.getpid()) for v in range(6)])
    assert results == [v + 1 for v in range(6)]
