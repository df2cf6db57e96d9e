"""Backends (model/runtime/backends.py): the same search and comparison on this process and on a Dask cluster.

One two-worker LocalCluster (worker processes, as a real cluster has) is started by this module and
stopped at its end. Same seeds, same results: every trial's score and every fold metric must be equal
on the cluster and locally; a worker killed in the middle of a search loses at most its running trial.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import types

import numpy as np
import pandas as pd
import pytest

from model.data.datasets import load_dataset
from model.evaluation.comparison import ANN_NAME, Protocol, run_comparison
from model.evaluation.cross_validation import METRICS, cross_validate_models
from model.evaluation.search import SearchSpace, search_ann
from model.nn.config import ANNConfig, LayerConfig
from model.runtime.backends import (
    DASK_SCHEDULER_ENV,
    BackendError,
    DaskBackend,
    LocalBackend,
    TaskFailed,
    backend_from_choice,
    backend_from_environment,
)

distributed = pytest.importorskip("distributed")

TINY_SPACE = SearchSpace(max_layers=2, max_units=8, epochs=(2, 5))
SCORES = [m for m in METRICS if not m.endswith("_seconds")]
# Comparison on a few seconds of work: the ANN and a classical model, importance on (fitted models come back).
SMALL_ANN = ANNConfig(hidden_layers=[LayerConfig(4, "relu", 0.1)], batch_size=None, epochs=10, seed=0)


@pytest.fixture(scope="module")
def data():
    frame = load_dataset("cleveland")
    return frame, frame.drop(columns="target"), frame["target"].to_numpy()


# Two waves (the second gets the first's completed trials); a first wave of 4 on 2 workers, so that when its first
# trial comes back others are surely still running (the killed-worker test kills one of their workers).
SEARCH = dict(n_trials=6, n_splits=2, space=TINY_SPACE, wave_size=4, seed=3)


@pytest.fixture(scope="module")
def local_search(data):
    _, X, y = data
    return search_ann(X, y, backend="local", **SEARCH)


@pytest.fixture(scope="module")
def cluster():
    # Worker processes with one thread each: two machines in miniature; dashboard on any free port.
    # They are started with multiprocessing's "spawn", which re-runs the parent's __main__ in each worker;
    # in a test process that may be a page script an AppTest ran (app.py), so the workers get a bare one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
            ) as local_cluster,
            distributed.Client(local_cluster) as client,
        ):
            yield local_cluster, client


def _square(x):
    return x * x


def _fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def test_the_local_backend_runs_in_order_and_keeps_a_failure_to_its_task():
    outcomes = list(LocalBackend().run(_fail_on_three, [(1,), (3,), (5,)]))
    assert [i for i, _ in outcomes] == [0, 1, 2]
    assert outcomes[0][1] == 1 and outcomes[2][1] == 5
    assert isinstance(outcomes[1][1], TaskFailed) and str(outcomes[1][1].cause) == "three"


def test_the_local_backend_starts_nothing_once_stopped():
    stop = threading.Event()
    seen = []
    for _index, outcome in LocalBackend().run(_square, [(1,), (2,), (3,)], stop):
        seen.append(outcome)
        stop.set()
    assert seen == [1]


def test_backend_choices_are_checked_with_plain_messages(monkeypatch):
    monkeypatch.delenv(DASK_SCHEDULER_ENV, raising=False)
    assert isinstance(backend_from_choice("local"), LocalBackend)
    assert isinstance(backend_from_environment(), LocalBackend)
    with pytest.raises(BackendError, match="one of local, dask"):
        backend_from_choice("ray")
    with pytest.raises(BackendError, match="needs a scheduler address"):
        backend_from_choice("dask")
    with pytest.raises(BackendError, match="needs backend 'dask'"):
        backend_from_choice("local", "tcp://127.0.0.1:8786")


def test_an_unreachable_scheduler_is_reported(monkeypatch):
    monkeypatch.setattr("model.runtime.backends.CONNECT_TIMEOUT_S", 1)
    with pytest.raises(BackendError, match="cannot reach the Dask scheduler"):
        backend_from_choice("dask", "tcp://127.0.0.1:9")


def test_the_dask_backend_returns_every_task_and_each_failure(cluster):
    _, client = cluster
    outcomes = dict(DaskBackend(client).run(_fail_on_three, [(1,), (3,), (5,)]))
    assert outcomes[0] == 1 and outcomes[2] == 5
    assert isinstance(outcomes[1], TaskFailed) and str(outcomes[1].cause) == "three"


def test_the_environment_variable_points_the_dashboard_at_the_cluster(cluster, monkeypatch):
    local_cluster, _ = cluster
    monkeypatch.setenv(DASK_SCHEDULER_ENV, local_cluster.scheduler_address)
    with backend_from_environment() as backend:
        assert isinstance(backend, DaskBackend) and backend.workers == 2
        assert dict(backend.run(_square, [(2,), (3,)])) == {0: 4, 1: 9}


def _trial_scores(result) -> pd.DataFrame:
    return result.trials[["number", "state", "value", "folds_run"]]


def test_a_search_gives_the_same_trials_and_scores_on_the_cluster(cluster, data, local_search):
    _, client = cluster
    _, X, y = data
    local = local_search
    remote = search_ann(X, y, backend=DaskBackend(client), **SEARCH)
    pd.testing.assert_frame_equal(_trial_scores(local), _trial_scores(remote))
    params = [c for c in local.trials.columns if c not in ("seconds",)]
    pd.testing.assert_frame_equal(local.trials[params], remote.trials[params])
    assert local.best_config == remote.best_config


def test_a_comparison_gives_the_same_fold_metrics_on_the_cluster(cluster, data):
    _, client = cluster
    frame, _, _ = data
    names = ["Logistic regression", ANN_NAME]
    settings = dict(protocol=Protocol(2, 2, 0), with_learning_curve=False, hold_slot=False)
    local = run_comparison(frame, names, SMALL_ANN, **settings)
    fractions = []
    remote = run_comparison(
        frame, names, SMALL_ANN, backend=DaskBackend(client), progress=lambda f, _m: fractions.append(f), **settings
    )
    pd.testing.assert_frame_equal(local.result.folds[SCORES], remote.result.folds[SCORES])
    np.testing.assert_array_equal(local.result.oof[ANN_NAME], remote.result.oof[ANN_NAME])
    # The importance stage reads the fitted models that came back from the workers.
    pd.testing.assert_frame_equal(local.importance, remote.importance)
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_plain_estimator_is_cross_validated_on_the_cluster_as_here(cluster, data):
    _, client = cluster
    _, X, y = data
    from model.evaluation.classical import classical_models

    models = {"Naive Bayes": classical_models()["Naive Bayes"]}
    local = cross_validate_models(models, X, y, n_splits=2, n_repeats=1)
    remote = cross_validate_models(models, X, y, n_splits=2, n_repeats=1, backend=DaskBackend(client))
    pd.testing.assert_frame_equal(local.folds[SCORES], remote.folds[SCORES])


def test_a_worker_killed_mid_search_loses_at_most_its_running_trial(cluster, data, local_search):
    _, client = cluster
    _, X, y = data
    local = local_search
    killed: list[str] = []

    def kill_a_busy_worker(event):
        if killed or event.kind != "trial":
            return
        busy = [worker for worker, keys in client.processing().items() if keys]
        if busy:  # the first trial is back and the others of its wave are running: kill one of their workers
            killed.append(busy[0])
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)  # a crash, not a polite shutdown

    remote = search_ann(X, y, backend=DaskBackend(client), on_event=kill_a_busy_worker, **SEARCH)
    assert killed, "no worker was busy when the first trial came back"
    assert len(remote.trials) == SEARCH["n_trials"] and (remote.trials["state"] == "FAIL").sum() <= 1
    # Dask reruns a lost task on the other worker; a rerun trial scores what it scored locally.
    finished = remote.trials["state"] != "FAIL"
    pd.testing.assert_frame_equal(_trial_scores(local)[finished], _trial_scores(remote)[finished])
