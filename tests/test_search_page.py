"""The hyper-parameter search section of the Configure page under Streamlit's AppTest: bounded controls with
clear messages, a tiny search in the background to its result, "Use the best configuration", nested CV's honest
estimate, Stop that keeps what finished, leaving and coming back, and a Dask cluster that cannot be reached.

Tiny searches: 2-fold CV and at most 5 epochs per trial (the form's own controls), so a trial takes a second.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from _apptest import open_page, page_text
from streamlit.testing.v1 import AppTest

from dashboard import search_panels as panels
from dashboard import search_views as views
from dashboard.state import KEY_ANN_CONFIG, KEY_SEARCH_JOB
from model.runtime import backends, compute_slots
from model.runtime.jobs import JobStatus
from model.runtime.limits import (
    MAX_CV_FOLDS,
    MAX_NESTED_OUTER_FOLDS,
    MAX_SEARCH_EPOCHS,
    MAX_SEARCH_MINUTES,
    MAX_SEARCH_TRIALS,
)

TIMEOUT = 240
CONFIGURE = "app_pages/configure.py"
TINY = {panels.KEY_FORM_FOLDS: 2, panels.KEY_FORM_EPOCHS: 5}


@pytest.fixture(autouse=True)
def no_job_left_running(monkeypatch):
    """No job left running after a test, and every compute slot given back."""
    monkeypatch.delenv(backends.DASK_SCHEDULER_ENV, raising=False)
    before = compute_slots.slots_in_use()
    jobs = []
    start = panels.SearchJob.start

    def recorded(self):
        jobs.append(self)
        return start(self)

    monkeypatch.setattr(panels.SearchJob, "start", recorded)
    yield monkeypatch
    for job in jobs:
        job.cancel("the test ended")
        assert job.join(TIMEOUT)
    assert compute_slots.slots_in_use() == before


def _open(session_state: dict | None = None) -> AppTest:
    return open_page(CONFIGURE, session_state, TIMEOUT)


def _start(at: AppTest, **values) -> AppTest:
    for key, value in {**TINY, **values}.items():
        if key == panels.KEY_FORM_NESTED:
            at.checkbox(key=key).set_value(value)
        elif key == panels.KEY_FORM_OBJECTIVE:
            at.selectbox(key=key).set_value(value)
        else:
            at.number_input(key=key).set_value(value)
    at.button(key=panels.KEY_START).click().run()
    assert not at.exception
    return at


def _job(at: AppTest) -> panels.SearchJob:
    return at.session_state[KEY_SEARCH_JOB]


def _wait(job, until=None) -> None:
    """Wait for the job to end (or for `until()`), sending the heartbeats an open browser's timers would."""
    for _ in range(TIMEOUT):
        if (until() if until else False) or job.join(1.0 if until is None else 0.2):
            return
        job.heartbeat()
    raise AssertionError("the search job did not get there")


def _finish(at: AppTest) -> AppTest:
    _wait(_job(at))
    at.run()
    assert not at.exception
    return at


def _plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


# ------------------------------------------------------------------ bounds and messages
def test_the_controls_are_bounded_by_the_caps_and_the_objectives_are_the_searchs():
    from model.evaluation.search import OBJECTIVES

    at = _open()
    bounds = {
        panels.KEY_FORM_TRIALS: (1, MAX_SEARCH_TRIALS),
        panels.KEY_FORM_MINUTES: (0.5, MAX_SEARCH_MINUTES),
        panels.KEY_FORM_FOLDS: (2, MAX_CV_FOLDS),
        panels.KEY_FORM_EPOCHS: (panels.MIN_MAX_EPOCHS, MAX_SEARCH_EPOCHS),
        panels.KEY_FORM_OUTER: (2, MAX_NESTED_OUTER_FOLDS),
    }
    for key, (low, high) in bounds.items():
        proto = at.number_input(key=key).proto
        assert (proto.min, proto.max) == (low, high), key
    assert set(views.OBJECTIVE_CHOICES) == set(OBJECTIVES) == set(views.OBJECTIVE_NAMES) == set(views.MAXIMIZED)
    assert at.selectbox(key=panels.KEY_FORM_OBJECTIVE).options == list(views.OBJECTIVE_CHOICES.values())
    assert "Trials run in this server's process" in page_text(at)
    assert not at.warning and not at.error  # an idle section says nothing alarming


@pytest.mark.parametrize(
    "change, words",
    [
        ({"n_trials": 0}, f"Trials must be a whole number from 1 to {MAX_SEARCH_TRIALS}; got 0."),
        ({"n_trials": MAX_SEARCH_TRIALS + 1}, f"from 1 to {MAX_SEARCH_TRIALS}; got {MAX_SEARCH_TRIALS + 1}"),
        ({"n_trials": 2.5}, "Trials must be a whole number"),
        ({"minutes": 0.0}, f"Minutes must be more than 0 and at most {MAX_SEARCH_MINUTES}; got 0.0."),
        ({"minutes": MAX_SEARCH_MINUTES + 1}, "Minutes must be more than 0"),
        ({"minutes": math.nan}, "Minutes must be"),
        ({"objective": "accuracy"}, "The objective must be one of ROC AUC, Brier score."),
        ({"n_splits": 1}, f"Folds per trial must be a whole number from 2 to {MAX_CV_FOLDS}; got 1."),
        ({"max_epochs": MAX_SEARCH_EPOCHS + 1}, f"from {panels.MIN_MAX_EPOCHS} to {MAX_SEARCH_EPOCHS:,}"),
        ({"seed": -1}, "The seed must be a whole number from 0"),
        ({"nested": True, "outer_folds": 1}, f"Outer folds must be a whole number from 2 to {MAX_NESTED_OUTER_FOLDS}"),
    ],
)
def test_each_setting_out_of_bounds_gets_a_clear_message(change, words):
    good = panels.SearchSettings(3, 1.0, "roc_auc", 2, 5, 0, False, 1)  # outer folds unused: not nested
    assert panels.settings_problems(good) == []
    problems = panels.settings_problems(panels.SearchSettings(**{**good.__dict__, **change}))
    assert len(problems) == 1 and words in problems[0], problems


def test_data_without_the_target_cannot_be_searched():
    from dashboard.state import DatasetChoice
    from model.data.datasets import load_dataset

    frame = load_dataset("cleveland").drop(columns="target")
    dataset = DatasetChoice("no outcome.csv", frame, "upload")
    assert panels.data_problems(dataset) == ["no outcome.csv cannot be searched on: it lacks the column(s) target."]


def test_a_busy_server_says_so_and_starts_nothing():
    at = _open()
    taken = 0
    try:
        while compute_slots.free_slots():  # other users' trainings and comparisons hold every slot
            compute_slots.take_slot("taken by the test")
            taken += 1
        _start(at, **{panels.KEY_FORM_TRIALS: 2})
    finally:
        for _ in range(taken):
            compute_slots.release_slot()
    assert KEY_SEARCH_JOB not in at.session_state
    assert any(panels.BUSY_MESSAGE in w.value for w in at.warning)


# ------------------------------------------------------------------ a tiny search, end to end
def test_a_tiny_search_runs_in_the_background_and_its_best_configuration_can_be_used():
    at = _open()
    before = at.session_state[KEY_ANN_CONFIG]
    _start(at, **{panels.KEY_FORM_TRIALS: 3})
    job = _job(at)
    assert job.is_active or job.status is JobStatus.DONE
    at.switch_page("app_pages/explore.py").run()  # leave while it runs: the sidebar shows it, nothing stops it
    assert not at.exception
    assert any(m.value.startswith("**Search:**") for m in at.sidebar.markdown)
    _wait(job)
    at.switch_page(CONFIGURE).run()  # come back: the result is there
    assert not at.exception and job.status is JobStatus.DONE
    result = job.result
    assert len(result.trials) == 3 and not result.stopped

    # The numbers shown are the study's: the best is the best completed trial, the live records are the trials.
    complete = result.trials[result.trials["state"] == "COMPLETE"]
    assert result.best_value == complete["value"].max()
    shown = [(r["number"], r["state"]) for r in job.records]
    assert shown == list(zip(result.trials["number"], result.trials["state"], strict=True))
    for record, value in zip(job.records, result.trials["value"], strict=True):
        assert record["value"] == pytest.approx(value, abs=1e-12)
    text = page_text(at)
    assert f"**Best ROC AUC: {result.best_value:.3f}**" in text and "3 trials" in text
    assert "Ran in this server's process." in text
    assert "optimistic: it is the best of 3 tries" in text  # not nested: the optimism said in words
    assert _plotly_count(at) >= 2  # trial scores and parameter importances (fANOVA, 3 complete trials)
    assert at.number_input(key=panels.KEY_FORM_TRIALS).value == 3  # the form keeps the latest settings

    assert at.session_state[KEY_ANN_CONFIG] == before != result.best_config
    at.button(key=panels.KEY_USE).click().run()
    assert not at.exception
    config = at.session_state[KEY_ANN_CONFIG]
    assert config == result.best_config
    assert at.number_input(key="configure.epochs").value == config.epochs  # the form shows it
    assert at.number_input(key="configure.learning_rate").value == pytest.approx(config.learning_rate)
    assert any("The form now shows the best configuration" in s.value for s in at.success)
    at.switch_page("app_pages/train.py").run()  # the Train page trains the session's configuration
    assert not at.exception and at.session_state[KEY_ANN_CONFIG] == result.best_config


def test_nested_cv_reports_the_honest_estimate_beside_the_inner_best():
    at = _open()
    # One trial per search: the winner of each outer fold's search is still scored on a fold it never saw.
    _start(at, **{panels.KEY_FORM_TRIALS: 1, panels.KEY_FORM_NESTED: True, panels.KEY_FORM_OUTER: 2})
    _finish(at)
    nested = _job(at).result.nested
    assert nested is not None and nested.complete and len(nested.folds) == 2
    assert nested.outer_mean == pytest.approx(np.mean(nested.folds["outer_score"]))
    assert nested.inner_mean == pytest.approx(np.mean(nested.folds["inner_best"]))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Honest estimate (ROC AUC, nested CV)"].startswith(f"{nested.outer_mean:.3f} ± ")
    assert metrics["Inner best (ROC AUC)"] == f"{nested.inner_mean:.3f}"
    text = page_text(at)
    if nested.optimism > 0:
        assert f"the inner best is {nested.optimism:.3f} higher than the honest estimate" in text
    else:
        assert "the search did not flatter its winner" in text
    assert f"Expect about {nested.outer_mean:.3f} on new patients" in text


def test_brier_score_is_minimised_and_named():
    at = _open()
    _start(at, **{panels.KEY_FORM_TRIALS: 2, panels.KEY_FORM_OBJECTIVE: "brier"})
    _finish(at)
    result = _job(at).result
    complete = result.trials[result.trials["state"] == "COMPLETE"]
    assert result.objective == "brier" and result.best_value == complete["value"].min()
    assert f"**Best Brier score: {result.best_value:.3f}**" in page_text(at)


# ------------------------------------------------------------------ Stop, a gone session, the cluster
def test_stop_ends_the_search_and_keeps_the_trials_that_finished():
    at = _open()
    _start(at, **{panels.KEY_FORM_TRIALS: MAX_SEARCH_TRIALS})
    job = _job(at)
    _wait(job, until=lambda: len(job.records) >= 1)
    at.run()
    assert at.button(key=panels.KEY_STOP)  # the live panel with its Stop button
    assert any(m.label == "Trials done" for m in at.metric)
    at.button(key=panels.KEY_STOP).click().run()
    _finish(at)
    assert job.status is JobStatus.DONE and job.stopped_by_user
    result = job.result
    assert result.stopped and 1 <= len(result.trials) < MAX_SEARCH_TRIALS
    assert "stopped by you; the trials that finished are kept" in page_text(at)
    assert at.button(key=panels.KEY_USE)  # what finished can still be used


def test_a_session_that_went_silent_is_cancelled_and_the_page_says_why():
    at = _open()
    _start(at, **{panels.KEY_FORM_TRIALS: MAX_SEARCH_TRIALS})
    job = _job(at)
    job.heartbeat_timeout = 0.0  # as if the last heartbeat were long ago: the watchdog acts within a second
    assert job.join(TIMEOUT)
    at.run()
    assert job.status is JobStatus.CANCELLED and "no sign of life" in job.cancel_reason
    assert "The search was cancelled (its browser session sent no sign of life" in " ".join(i.value for i in at.info)


def test_an_unreachable_cluster_is_said_logged_and_the_search_runs_here(monkeypatch, caplog):
    monkeypatch.setenv(backends.DASK_SCHEDULER_ENV, "tcp://192.0.2.1:8786")

    def unreachable():
        raise backends.BackendError("cannot reach the Dask scheduler at tcp://192.0.2.1:8786 (timed out)")

    monkeypatch.setattr(backends, "backend_from_environment", unreachable)
    at = _open()
    assert "Trials run on the Dask cluster at `tcp://192.0.2.1:8786`" in page_text(at)
    with caplog.at_level(logging.WARNING, logger=panels.__name__):
        _start(at, **{panels.KEY_FORM_TRIALS: 1})
        _finish(at)
    job = _job(at)
    assert job.status is JobStatus.DONE and job.result.backend == "this process"
    warnings = " ".join(w.value for w in at.warning)
    assert "The Dask cluster at tcp://192.0.2.1:8786 could not be used" in warnings
    assert "runs in this server's process instead" in warnings
    assert any("cannot be used; searching locally" in r.getMessage() for r in caplog.records)


def test_a_reachable_cluster_runs_the_trials_and_the_page_names_it(monkeypatch):
    """The backend the environment names is the one the search uses (a stand-in that records its tasks)."""
    ran = []

    class Recording(backends.LocalBackend):
        def describe(self) -> str:
            return "Dask cluster at tcp://test:8786 (2 workers, 2 threads)"

        def run(self, fn, tasks, stop_event=None):
            ran.extend(tasks)
            return super().run(fn, tasks, stop_event)

    monkeypatch.setenv(backends.DASK_SCHEDULER_ENV, "tcp://test:8786")
    monkeypatch.setattr(backends, "backend_from_environment", Recording)
    at = _open()
    _start(at, **{panels.KEY_FORM_TRIALS: 1})
    _finish(at)
    assert len(ran) == 1 and "Ran on Dask cluster at tcp://test:8786 (2 workers, 2 threads)" in page_text(at)


# ------------------------------------------------------------------ the figures
def test_best_so_far_is_the_running_best_of_a_plain_loop():
    rng = np.random.default_rng(0)
    values = list(rng.random(40))
    values[3] = values[17] = math.nan  # trials without a score
    for maximize in (True, False):
        expected, best = [], None
        for value in values:
            if not math.isnan(value):
                best = value if best is None else (max(best, value) if maximize else min(best, value))
            expected.append(math.nan if best is None else best)
        assert views.best_so_far(values, maximize) == pytest.approx(expected, nan_ok=True)


def test_the_trials_figure_draws_complete_and_pruned_trials_and_the_best_line():
    records = [
        {"number": 0, "state": "COMPLETE", "value": 0.8},
        {"number": 1, "state": "PRUNED", "value": 0.7},
        {"number": 2, "state": "COMPLETE", "value": 0.85},
        {"number": 3, "state": "FAIL", "value": None},
    ]
    fig = views.trials_figure(records, "roc_auc")
    traces = {trace.name: trace for trace in fig.data}
    assert list(traces["Trial (all folds)"].x) == [0, 2] and list(traces["Pruned (stopped early)"].x) == [1]
    assert list(traces["Best so far"].x) == [0, 2, 3] and list(traces["Best so far"].y) == [0.8, 0.85, 0.85]
    bars = views.importance_figure({"learning_rate": 0.6, "units_0": 0.3, "n_layers": 0.1}).data[0]
    assert list(bars.y) == ["Hidden layers", "Units in layer 1", "Learning rate"]  # most important on top
