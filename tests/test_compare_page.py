"""The comparison page under Streamlit's AppTest: form, messages, a small run in the background, the estimate
and its confirmation, Stop, leaving and coming back, kept results, external validation.

The machine's speed is injected (model.estimates' calibration is a benchmark matter): FAST makes every small
run start at once, SLOW makes the same run ask for confirmation.
"""

from __future__ import annotations

import pytest
from _apptest import open_page, page_text
from streamlit.testing.v1 import AppTest

from dashboard import compare_panels as panels
from dashboard.state import KEY_ANN_CONFIG, KEY_COMPARE_JOB, KEY_UCI_SITES
from model.data.datasets import combine_sites, load_uci_sites_from_files
from model.evaluation import comparison, estimates
from model.evaluation.comparison import ANN_NAME, CLASSICAL_NAMES, PERCEPTRON_NAME
from model.evaluation.estimates import MachineSpeed
from model.nn.config import ANNConfig, LayerConfig
from model.runtime import compute_slots
from model.runtime.jobs import JobStatus

TIMEOUT = 240
SMALL_ANN = ANNConfig(
    hidden_layers=[LayerConfig(8, "relu", 0.2)],
    optimizer="adam",
    learning_rate=0.01,
    batch_size=None,
    epochs=30,
    weight_decay=1e-3,
    seed=0,
)
LONG_ANN = SMALL_ANN.replace(epochs=5_000, batch_size=8)  # minutes of work: ended by Stop in the tests
ELSEWHERE = "app_pages/home.py"  # the page left for: the landing page, the cheapest to render
FAST = MachineSpeed(1e-6, 1e-13, 1e-9, {name: 1e-4 for name in CLASSICAL_NAMES}, {}, 240, 60)
SLOW = MachineSpeed(1.0, 1e-6, 1e-3, {name: 10.0 for name in CLASSICAL_NAMES}, {}, 240, 60)


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    """A known machine speed, nothing kept from other tests, and no job left running afterwards.

    Learning curves at two training-set sizes instead of six: the page shows them the same way, and each size
    refits every fold's preprocessing and models.
    """
    monkeypatch.setattr(estimates, "_speeds", {"auto": FAST})
    monkeypatch.setattr(comparison, "LEARNING_FRACTIONS", (0.1, 1.0))
    panels.forget_results()
    before = compute_slots.slots_in_use()
    jobs = []
    monkeypatch.setattr(panels.ComparisonJob, "start", _recording(panels.ComparisonJob.start, jobs))
    yield monkeypatch
    for job in jobs:
        job.cancel("the test ended")
        assert job.join(TIMEOUT)
    assert compute_slots.slots_in_use() == before


def _recording(start, jobs):
    def recorded(self):
        jobs.append(self)
        return start(self)

    return recorded


def _open(session_state: dict | None = None) -> AppTest:
    return open_page("app_pages/compare.py", session_state, TIMEOUT)


def _submit_small(at: AppTest, models: list[str]) -> AppTest:
    at.multiselect(key=panels.KEY_FORM_MODELS).set_value(models)
    at.number_input(key=panels.KEY_FORM_FOLDS).set_value(3)
    at.number_input(key=panels.KEY_FORM_REPEATS).set_value(1)
    at.button(key=panels.KEY_RUN).click().run()
    assert not at.exception
    return at


def _without_curves_and_importance(at: AppTest) -> AppTest:
    """Untick the two optional stages (most of a small run's work) where a test is about the run's life cycle."""
    at.checkbox(key=panels.KEY_FORM_CURVES).uncheck()
    at.checkbox(key=panels.KEY_FORM_IMPORTANCE).uncheck()
    return at


def _job(at: AppTest):
    return at.session_state.get(KEY_COMPARE_JOB)


def _wait(job) -> None:
    """Wait for the job, sending the heartbeats an open browser's fragment timer would (AppTest runs no timers)."""
    for _ in range(TIMEOUT):
        if job.join(1.0):
            return
        job.heartbeat()
    raise AssertionError("the comparison job did not end")


def _finish(at: AppTest) -> AppTest:
    """Wait for the background job, then rerun the page (as the live fragment does when the job ends)."""
    job = _job(at)
    if job is not None:
        _wait(job)
    at.run()
    assert not at.exception
    return at


def _run_small(at: AppTest, models: list[str]) -> AppTest:
    return _finish(_submit_small(at, models))


def test_page_opens_with_the_form_and_the_defaults():
    at = _open()
    assert at.title[0].value == "Classical ML vs deep learning"
    assert len(at.multiselect(key=panels.KEY_FORM_MODELS).value) == 8
    assert at.number_input(key=panels.KEY_FORM_FOLDS).value == 5
    assert at.number_input(key=panels.KEY_FORM_REPEATS).value == 10
    assert "press **Run comparison**" in page_text(at)
    assert at.checkbox(key=panels.KEY_FORM_EXTERNAL).disabled  # no four-site data yet


def test_a_busy_server_says_so_politely_and_keeps_the_form():
    at = _open()
    taken = 0
    try:
        while compute_slots.free_slots():  # other users' trainings and comparisons hold every slot
            compute_slots.take_slot("taken by the test")
            taken += 1
        _submit_small(at, ["Naive Bayes"])
    finally:
        for _ in range(taken):
            compute_slots.release_slot()
    assert any("already running" in w.value and "again" in w.value for w in at.warning)
    assert not at.error and panels.KEY_LAST not in at.session_state and _job(at) is None
    assert at.multiselect(key=panels.KEY_FORM_MODELS).value == ["Naive Bayes"]


def test_a_model_that_fails_is_named_and_the_form_is_kept(monkeypatch):
    from sklearn.dummy import DummyClassifier

    from model.evaluation import comparison
    from model.evaluation.classical import with_preprocessing

    class FailingNaiveBayes(DummyClassifier):
        def fit(self, X, y, sample_weight=None):
            raise ValueError("cannot fit on these columns")

    pipelines = comparison.classical_models()
    pipelines["Naive Bayes"] = with_preprocessing(FailingNaiveBayes())
    monkeypatch.setattr(comparison, "classical_models", lambda seed=0: pipelines)
    at = _open()
    at.multiselect(key=panels.KEY_FORM_MODELS).set_value(["Logistic regression", "Naive Bayes"])
    at.number_input(key=panels.KEY_FORM_FOLDS).set_value(2)
    at.number_input(key=panels.KEY_FORM_REPEATS).set_value(2)
    at.button(key=panels.KEY_RUN).click().run()
    _finish(at)
    assert _job(at).status is JobStatus.FAILED
    errors = " ".join(e.value for e in at.error)
    assert "Naive Bayes failed" in errors and "cannot fit on these columns" in errors and "settings are kept" in errors
    assert at.multiselect(key=panels.KEY_FORM_MODELS).value == ["Logistic regression", "Naive Bayes"]
    assert panels.KEY_LAST not in at.session_state


def test_no_model_selected_gets_a_clear_message_and_runs_nothing():
    at = _open()
    _submit_small(at, [])
    assert [e.value for e in at.error] == ["Choose at least one model to compare."]
    assert panels.KEY_LAST not in at.session_state


def test_a_small_run_shows_the_leaderboard_and_is_kept_for_the_session():
    at = _open({KEY_ANN_CONFIG: SMALL_ANN})
    _run_small(at, ["Logistic regression", ANN_NAME, PERCEPTRON_NAME])
    assert not at.error
    last = at.session_state[panels.KEY_LAST]
    assert last.report.models == ["Logistic regression", ANN_NAME, PERCEPTRON_NAME]
    assert last.report.protocol.n_fits == 3
    assert _job(at).status is JobStatus.DONE and "Comparison finished in" in page_text(at)
    text = page_text(at)
    assert "has the highest mean ROC AUC" in text
    assert "not distinguishable from the best" in text or "worse than the best" in text
    assert len(at.dataframe) >= 2 and len(at.table) == 1  # leaderboard, facts; the evidence table
    assert "Load the four UCI sites" in text  # external validation explains how to get the data

    # Back on the page: the session's result is shown at once; a changed network is flagged.
    at.switch_page(ELSEWHERE).run()
    at.session_state[KEY_ANN_CONFIG] = SMALL_ANN.replace(epochs=31)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert "has the highest mean ROC AUC" in page_text(at)
    assert any("the ANN configuration" in w.value for w in at.warning)


def test_what_a_large_cohort_changed_is_said_above_the_leaderboard(monkeypatch):
    """On a large cohort the SVM learns from a sample of each training fold: the page says so first (here on the
    built-in data with a small threshold)."""
    from model.evaluation import classical

    monkeypatch.setattr(classical, "SVM_MAX_TRAINING_ROWS", 150)
    at = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))
    _run_small(at, ["SVM", "Naive Bayes"])
    said = [w.value for w in at.warning if "stratified random sample of 150" in w.value]
    assert len(said) == 1 and said[0].startswith("SVM:")
    assert at.session_state[panels.KEY_LAST].report.fallbacks == said


def test_external_validation_runs_when_the_four_sites_are_loaded(shared_data_dir):
    sites = combine_sites(load_uci_sites_from_files(sorted(shared_data_dir.glob("processed.*.data"))))
    at = _open({KEY_UCI_SITES: sites, KEY_ANN_CONFIG: SMALL_ANN})
    assert not at.checkbox(key=panels.KEY_FORM_EXTERNAL).disabled
    _without_curves_and_importance(at)
    _run_small(at, ["Logistic regression", PERCEPTRON_NAME])
    last = at.session_state[panels.KEY_LAST]
    assert last.external is not None and last.external_error is None
    assert set(last.external.metrics["site"]) == {"hungarian", "switzerland", "va"}
    warnings = " ".join(w.value for w in at.warning)
    assert "mostly missing" in warnings and "Serum cholesterol" in warnings


# ---- the life cycle: estimate and confirmation, Stop, leaving and coming back -------------------
def test_a_long_estimate_asks_first_and_starts_only_on_the_second_button(machine):
    machine.setattr(estimates, "_speeds", {"auto": SLOW})
    at = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))
    _submit_small(at, ["Logistic regression", ANN_NAME])
    assert _job(at) is None  # nothing runs yet
    warning = " ".join(w.value for w in at.warning)
    assert "This comparison will take **about" in warning and "Start it?" in warning
    assert "Largest parts:" in page_text(at)

    at.button(key=panels.KEY_DISCARD).click().run()  # "Don't start"
    assert _job(at) is None and panels.KEY_PENDING not in at.session_state
    assert not any("Start it?" in w.value for w in at.warning)

    _submit_small(at, ["Logistic regression", ANN_NAME])
    at.button(key=panels.KEY_CONFIRM).click().run()  # "Start the comparison"
    assert not at.exception and _job(at) is not None
    _finish(at)
    assert _job(at).status is JobStatus.DONE and _job(at).estimate_seconds > panels.CONFIRM_ABOVE_SECONDS
    assert "has the highest mean ROC AUC" in page_text(at)


def test_a_short_estimate_starts_at_once():
    at = _open({KEY_ANN_CONFIG: SMALL_ANN})
    _submit_small(at, ["Logistic regression"])
    assert _job(at) is not None and panels.KEY_PENDING not in at.session_state
    assert not any("Start it?" in w.value for w in at.warning)


def test_a_partial_leaderboard_shows_the_finished_models_while_the_others_run(monkeypatch):
    """Naive Bayes (the cheapest) finishes; logistic regression is held at its first fit until released."""
    import dataclasses
    import threading

    from sklearn.linear_model import LogisticRegression

    from model.evaluation import comparison
    from model.evaluation.classical import with_preprocessing
    from model.runtime import helper_process

    release = threading.Event()

    class HeldLogisticRegression(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            release.wait(TIMEOUT)
            return super().fit(X, y, sample_weight)

    monkeypatch.setenv(helper_process.HELPER_PROCESSES_ENV, "0")  # the held model must run in this process
    fold_seconds = {**FAST.classical_fold_seconds, "Logistic regression": 1e-3}  # runs after Naive Bayes
    monkeypatch.setattr(estimates, "_speeds", {"auto": dataclasses.replace(FAST, classical_fold_seconds=fold_seconds)})
    pipelines = comparison.classical_models()
    pipelines["Logistic regression"] = with_preprocessing(HeldLogisticRegression(max_iter=2000))
    monkeypatch.setattr(comparison, "classical_models", lambda seed=0: pipelines)
    at = _without_curves_and_importance(_open())
    try:
        _submit_small(at, ["Logistic regression", "Naive Bayes"])
        job = _job(at)
        for _ in range(TIMEOUT):
            if job.finished_models or not job.is_active:
                break
            job.join(1.0)
            job.heartbeat()
        assert [event.name for event in job.finished_models] == ["Naive Bayes"] and job.is_active
        at.run()
        assert not at.exception
        assert "Partial leaderboard — 1 of 2 models finished" in page_text(at)
        partial = at.dataframe[0].value
        assert list(partial.index) == ["Naive Bayes", "Logistic regression"]
        assert list(partial["Status"]) == ["finished", "running…"]
        nb = job.finished_models[0].summary.set_index("metric")
        assert partial.loc["Naive Bayes", "ROC AUC"].startswith(f"{nb.loc['roc_auc', 'mean']:.3f} (")
        assert panels.KEY_LAST not in at.session_state  # nothing final yet
    finally:
        release.set()
    _finish(at)
    assert _job(at).status is JobStatus.DONE
    text = page_text(at)
    assert "Partial leaderboard" not in text and "has the highest mean ROC AUC" in text
    assert at.session_state[panels.KEY_LAST].report.models == ["Logistic regression", "Naive Bayes"]


def test_stop_cancels_the_running_comparison_and_the_page_says_so():
    at = _open({KEY_ANN_CONFIG: LONG_ANN})
    _submit_small(at, [ANN_NAME])
    job = _job(at)
    assert job.is_active and compute_slots.slots_in_use() >= 1
    assert at.button(key=panels.KEY_STOP)  # the live panel with its Stop button
    at.button(key=panels.KEY_STOP).click().run()
    assert job.join(TIMEOUT)
    at.run()
    assert not at.exception
    assert job.status is JobStatus.CANCELLED and job.cancel_reason == "stopped by you"
    info = " ".join(i.value for i in at.info)
    assert "The comparison was cancelled (stopped by you)" in info and "Nothing of it was kept" in info
    assert panels.KEY_LAST not in at.session_state
    assert at.multiselect(key=panels.KEY_FORM_MODELS).value == [ANN_NAME]  # the settings are kept


def test_leaving_the_page_keeps_the_run_going_and_coming_back_shows_it():
    at = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))
    _submit_small(at, ["Logistic regression", ANN_NAME])
    job = _job(at)
    at.switch_page(ELSEWHERE).run()
    assert not at.exception
    assert job.status is not JobStatus.CANCELLED and _job(at) is job  # not discarded by leaving
    assert any(m.value.startswith("**Comparison:**") for m in at.sidebar.markdown)  # visible from any page
    _wait(job)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert job.status is JobStatus.DONE
    assert "has the highest mean ROC AUC" in page_text(at)
    assert at.session_state[panels.KEY_LAST].report.models == ["Logistic regression", ANN_NAME]


def test_coming_back_while_it_runs_shows_its_progress_and_stop():
    at = _open({KEY_ANN_CONFIG: LONG_ANN})
    _submit_small(at, [ANN_NAME])
    at.switch_page(ELSEWHERE).run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and _job(at).is_active
    assert at.button(key=panels.KEY_STOP)
    assert "press **Run comparison**" not in page_text(at)  # not the empty form's invitation


def test_a_session_that_went_silent_is_cancelled_and_the_page_says_why():
    at = _open({KEY_ANN_CONFIG: LONG_ANN})
    _submit_small(at, [ANN_NAME])
    job = _job(at)
    job.heartbeat_timeout = 0.0  # as if the last heartbeat were long ago: the watchdog acts within a second
    assert job.join(TIMEOUT)
    at.run()
    assert job.status is JobStatus.CANCELLED and "no sign of life" in job.cancel_reason
    assert "The comparison was cancelled (its browser session sent no sign of life" in " ".join(
        i.value for i in at.info
    )


def test_an_identical_request_gets_the_kept_result_without_a_new_job():
    at = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))
    _run_small(at, ["Logistic regression"])
    first = _job(at)
    other = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))  # another session, same settings
    _submit_small(other, ["Logistic regression"])
    assert _job(other) is None and "has the highest mean ROC AUC" in page_text(other)
    assert other.session_state[panels.KEY_LAST].report is not at.session_state[panels.KEY_LAST].report
    assert first.status is JobStatus.DONE


def test_coming_back_shows_the_settings_of_the_latest_comparison_in_the_form():
    at = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))
    _run_small(at, ["Logistic regression", PERCEPTRON_NAME])
    at.switch_page(ELSEWHERE).run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert at.multiselect(key=panels.KEY_FORM_MODELS).value == ["Logistic regression", PERCEPTRON_NAME]
    assert at.number_input(key=panels.KEY_FORM_FOLDS).value == 3
    assert at.number_input(key=panels.KEY_FORM_REPEATS).value == 1
    assert not at.checkbox(key=panels.KEY_FORM_CURVES).value  # the defaults are ticked: these come from the run
    assert not at.checkbox(key=panels.KEY_FORM_IMPORTANCE).value


def test_decision_curves_and_subgroups_tabs_follow_the_harm_ratio():
    at = _without_curves_and_importance(_open({KEY_ANN_CONFIG: SMALL_ANN}))
    _run_small(at, ["Logistic regression", "Naive Bayes"])
    labels = [tab.label for tab in at.tabs]
    assert "Decision curves" in labels and "Subgroups" in labels
    ratio = at.number_input(key=panels.KEY_HARM_RATIO)
    assert (ratio.value, ratio.min, ratio.max) == (9, 1, 100)
    text = page_text(at)
    assert "at least **10%** (threshold 1 / (1 + 9))" in text
    assert "patients to find one with disease" in text
    assert any("Observed / expected" in c.value for c in at.caption)  # the subgroups tab's O/E caption
    table = next(d.value for d in at.dataframe if "ROC AUC [95% interval]" in d.value.columns)
    assert list(table["Subgroup"][:3]) == ["All patients", "Female", "Male"]

    def tests_per_case(text: str) -> str:
        return next(line for line in text.splitlines() if "find one with disease" in line or "No one is tested" in line)

    def sensitivity() -> str:
        return next(m.value for m in at.metric if m.label == "Sensitivity")

    before, sensitivity_before = tests_per_case(text), sensitivity()
    ratio.set_value(1).run()
    assert not at.exception
    text = page_text(at)
    assert "at least **50%** (threshold 1 / (1 + 1))" in text
    assert tests_per_case(text) != before  # testing from 50% instead of 10%: fewer tests per case found
    assert sensitivity() != sensitivity_before
