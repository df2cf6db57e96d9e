"""The comparison page under Streamlit's AppTest: form, messages, a small run, caching, external validation."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from dashboard import compare_panels as panels
from dashboard.state import KEY_ANN_CONFIG, KEY_UCI_SITES
from model import compute_slots
from model.comparison import ANN_NAME, PERCEPTRON_NAME
from model.config import ANNConfig, LayerConfig
from model.datasets import combine_sites, load_uci_sites_from_files

TIMEOUT = 240
SMALL_ANN = ANNConfig(hidden_layers=[LayerConfig(8, "relu", 0.2)], optimizer="adam", learning_rate=0.01,
                      batch_size=None, epochs=30, weight_decay=1e-3, seed=0)


def _texts(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "warning", "error", "info", "success"):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def _open(session_state: dict | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    return at


def _run_small(at: AppTest, models: list[str]) -> AppTest:
    at.multiselect(key=panels.KEY_FORM_MODELS).set_value(models)
    at.number_input(key=panels.KEY_FORM_FOLDS).set_value(3)
    at.number_input(key=panels.KEY_FORM_REPEATS).set_value(1)
    at.button(key=panels.KEY_RUN).click().run()
    assert not at.exception
    return at


def test_page_opens_with_the_form_and_the_defaults():
    at = _open()
    assert at.title[0].value == "Classical ML vs deep learning"
    assert len(at.multiselect(key=panels.KEY_FORM_MODELS).value) == 8
    assert at.number_input(key=panels.KEY_FORM_FOLDS).value == 5
    assert at.number_input(key=panels.KEY_FORM_REPEATS).value == 10
    assert "press **Run comparison**" in _texts(at)
    assert at.checkbox(key=panels.KEY_FORM_EXTERNAL).disabled  # no four-site data yet


def test_a_busy_server_says_so_politely_and_keeps_the_form():
    at = _open()
    panels.cached_comparison.clear()  # a cached result needs no slot: make this run compute
    taken = 0
    try:
        while compute_slots.free_slots():  # other users' trainings and comparisons hold every slot
            compute_slots.take_slot("taken by the test")
            taken += 1
        _run_small(at, ["Naive Bayes"])
    finally:
        for _ in range(taken):
            compute_slots.release_slot()
    assert any("already running" in w.value and "again" in w.value for w in at.warning)
    assert not at.error and panels.KEY_LAST not in at.session_state
    assert at.multiselect(key=panels.KEY_FORM_MODELS).value == ["Naive Bayes"]


def test_a_model_that_fails_is_named_and_the_form_is_kept(monkeypatch):
    from sklearn.dummy import DummyClassifier

    from model import comparison
    from model.classical import with_preprocessing

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
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Naive Bayes failed" in errors and "cannot fit on these columns" in errors and "settings are kept" in errors
    assert at.multiselect(key=panels.KEY_FORM_MODELS).value == ["Logistic regression", "Naive Bayes"]
    assert panels.KEY_LAST not in at.session_state


def test_no_model_selected_gets_a_clear_message_and_runs_nothing():
    at = _open()
    _run_small(at, [])
    assert [e.value for e in at.error] == ["Choose at least one model to compare."]
    assert panels.KEY_LAST not in at.session_state


def test_a_small_run_shows_the_leaderboard_and_is_kept_for_the_session():
    at = _open({KEY_ANN_CONFIG: SMALL_ANN})
    _run_small(at, ["Logistic regression", ANN_NAME, PERCEPTRON_NAME])
    assert not at.error
    last = at.session_state[panels.KEY_LAST]
    assert last.report.models == ["Logistic regression", ANN_NAME, PERCEPTRON_NAME]
    assert last.report.protocol.n_fits == 3
    text = _texts(at)
    assert "has the highest mean ROC AUC" in text
    assert "not distinguishable from the best" in text or "worse than the best" in text
    assert len(at.dataframe) >= 2 and len(at.table) == 1  # leaderboard, facts; the evidence table
    assert "Load the four UCI sites" in text  # external validation explains how to get the data

    # Back on the page: the session's result is shown at once; a changed network is flagged.
    at.switch_page("pages/explore.py").run()
    at.session_state[KEY_ANN_CONFIG] = SMALL_ANN.replace(epochs=31)
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert "has the highest mean ROC AUC" in _texts(at)
    assert any("the ANN configuration" in w.value for w in at.warning)


def test_external_validation_runs_when_the_four_sites_are_loaded(shared_data_dir):
    sites = combine_sites(load_uci_sites_from_files(sorted(shared_data_dir.glob("processed.*.data"))))
    at = _open({KEY_UCI_SITES: sites, KEY_ANN_CONFIG: SMALL_ANN})
    assert not at.checkbox(key=panels.KEY_FORM_EXTERNAL).disabled
    at.checkbox(key=panels.KEY_FORM_CURVES).uncheck()
    at.checkbox(key=panels.KEY_FORM_IMPORTANCE).uncheck()
    _run_small(at, ["Logistic regression", PERCEPTRON_NAME])
    last = at.session_state[panels.KEY_LAST]
    assert last.external is not None and last.external_error is None
    assert set(last.external.metrics["site"]) == {"hungarian", "switzerland", "va"}
    warnings = " ".join(w.value for w in at.warning)
    assert "mostly missing" in warnings and "Serum cholesterol" in warnings
