"""The "Other hospitals" page under AppTest (router mode through app.py): sites, full vs reduced, recalibration,
and the recalibrated network made the session's active model (seen by the Patient risk page)."""

from __future__ import annotations

import pandas as pd
import pytest
from _apptest import open_page, page_text
from streamlit.testing.v1 import AppTest

from dashboard import transport_views as views
from dashboard.state import KEY_ACTIVE_MODEL, KEY_ANN_CONFIG, KEY_UCI_SITES
from model.data.datasets import combine_sites, load_uci_sites_from_files
from model.evaluation.transport import FULL, REDUCED
from model.nn.config import ANNConfig, LayerConfig
from model.runtime import compute_slots

TIMEOUT = 240
SMALL_ANN = ANNConfig(
    hidden_layers=[LayerConfig(8, "relu", 0.2)],
    optimizer="adam",
    learning_rate=0.01,
    batch_size=None,
    epochs=40,
    weight_decay=1e-2,
    seed=0,
)


@pytest.fixture(scope="module")
def sites(shared_data_dir) -> pd.DataFrame:
    return combine_sites(load_uci_sites_from_files(sorted(shared_data_dir.glob("processed.*.data"))))


def _open(session_state: dict | None = None) -> AppTest:
    return open_page("app_pages/transport.py", session_state, TIMEOUT)


def _run(at: AppTest, models: list[str], sites: list[str]) -> AppTest:
    at.multiselect(key=views.W_MODELS).set_value(models)
    at.multiselect(key=views.W_SITES).set_value(sites)
    at.button(key=views.W_RUN).click().run()
    assert not at.exception, at.exception
    return at


def test_without_sites_the_page_says_how_to_get_them():
    at = _open()
    text = page_text(at)
    assert "Load the UCI sites" in text
    assert at.button(key=views.W_DOWNLOAD) is not None
    assert views.KEY_RESULT not in at.session_state


def test_full_and_reduced_side_by_side_then_recalibration_of_logistic_regression(sites):
    at = _open({KEY_UCI_SITES: sites})
    assert set(at.multiselect(key=views.W_SITES).options) == {
        "V.A. Medical Center, Long Beach",
        "Hungarian Institute of Cardiology, Budapest",
        "University Hospitals Zurich and Basel",
    }
    _run(at, [views.LOGISTIC_NAME], ["va", "switzerland"])
    outcome = at.session_state[views.KEY_RESULT]
    m = outcome.result.metrics.set_index(["site", "variant"])
    assert m.loc[("va", REDUCED), "accuracy"] > m.loc[("va", FULL), "accuracy"] + 0.1
    text = page_text(at)
    assert "trained without Slope of the peak exercise ST segment" in text or "trained without" in text
    table = at.dataframe[0].value
    assert {
        "Accuracy (full)",
        "Accuracy (reduced)",
        "Brier score (full)",
        "Brier score (reduced)",
        "Calibration-in-the-large (full)",
        "Mean predicted risk (reduced)",
    } <= set(table.columns)
    assert compute_slots.slots_in_use() == 0

    at.selectbox(key=views.W_RECAL_SITE).set_value("va")
    at.number_input(key=views.W_DRAWS).set_value(5)
    at.button(key=views.W_RECALIBRATE).click().run()
    assert not at.exception
    recal = at.session_state[views.KEY_RECAL]
    assert recal.model == views.LOGISTIC_NAME and recal.site == "va" and recal.variant == REDUCED
    assert abs(recal.local.after.intercept) < abs(recal.local.before.intercept)
    assert set(recal.draws["n"]) == {25, 50, 100, 150}
    assert "Only a neural network can become the active model" in page_text(at)


def test_recalibrated_ann_becomes_the_active_model_after_confirmation(sites):
    at = _open({KEY_UCI_SITES: sites, KEY_ANN_CONFIG: SMALL_ANN})
    _run(at, [views.CONFIGURED_NAME], ["va"])
    at.radio(key=views.W_RECAL_VARIANT).set_value(FULL)
    at.number_input(key=views.W_DRAWS).set_value(3)
    at.button(key=views.W_RECALIBRATE).click().run()
    assert not at.exception
    at.button(key=views.W_USE).click().run()
    assert "will replace" in page_text(at)
    assert KEY_ACTIVE_MODEL not in at.session_state  # nothing changes before the confirmation
    at.button(key=views.W_CANCEL).click().run()
    assert KEY_ACTIVE_MODEL not in at.session_state and "will replace" not in page_text(at)

    at.button(key=views.W_USE).click().run()
    at.button(key=views.W_CONFIRM).click().run()
    assert not at.exception
    active = at.session_state[KEY_ACTIVE_MODEL]
    assert active.name == "ANN as configured, recalibrated to V.A. Medical Center, Long Beach"
    recal = at.session_state[views.KEY_RECAL]
    assert active.metadata["recalibration"]["n_patients"] == 200
    assert active.metadata["recalibration"]["slope"] == recal.local.recalibration.slope
    assert "is now this session's active model" in page_text(at)
    X, _ = at.session_state[views.KEY_RESULT].result.site_data["va"]
    original = at.session_state[views.KEY_RESULT].result.pipeline(views.CONFIGURED_NAME, "va", FULL)
    expected = recal.local.recalibration.apply(original.decision_function(X))
    assert active.pipeline.predict_proba(X)[:, 1] == pytest.approx(expected, abs=1e-5)

    at.switch_page("app_pages/predict.py").run()
    assert not at.exception
    assert any("recalibrated to V.A. Medical Center" in str(c.value) for c in at.caption)


def test_uploaded_local_patients_are_one_more_site(sites):
    local = sites[sites["site"] == "hungarian"].drop(columns="site").head(150)
    at = _open({views.KEY_LOCAL: ("my_hospital.csv", local)})
    _run(at, [views.LOGISTIC_NAME], [views.LOCAL_SITE])
    outcome = at.session_state[views.KEY_RESULT]
    assert list(outcome.result.site_data) == [views.LOCAL_SITE]
    assert outcome.site_names[views.LOCAL_SITE] == "Your local patients (my_hospital.csv)"


def test_a_site_with_one_outcome_gets_a_clear_message_not_a_traceback(sites):
    only_sick = sites[(sites["site"] == "switzerland") & (sites["target"] == 1)].drop(columns="site")
    at = _open({views.KEY_LOCAL: ("all_sick.csv", only_sick)})
    _run(at, [views.LOGISTIC_NAME], [views.LOCAL_SITE])
    at.number_input(key=views.W_DRAWS).set_value(2)
    at.button(key=views.W_RECALIBRATE).click().run()
    assert not at.exception
    assert any("with and without disease" in str(e.value) or "class" in str(e.value) for e in at.error)
