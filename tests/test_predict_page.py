"""The patient-risk page in Streamlit's AppTest: fill the form, read the risk."""
import pytest
from _predict_models import ann_with_dropout, cleveland
from streamlit.testing.v1 import AppTest

from dashboard import predict_form
from dashboard.state import KEY_ACTIVE_MODEL, KEY_DATASET, SOURCE_UPLOAD, ActiveModel, DatasetChoice
from model.bundle import DEFAULT_BUNDLE
from model.risk import check_patient, mmol_to_mgdl, predict_risk, typical_patient, what_if
from model.schema import feature

APP = "../app.py"
PAGE = "pages/predict.py"
RISK_LABEL = "Estimated probability of heart disease"


def open_page(model: ActiveModel | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if model is not None:
        at.session_state[KEY_ACTIVE_MODEL] = model
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def test_model():
    return ActiveModel("Test network", ann_with_dropout(), {"metrics": {"roc_auc": 0.9}})


@pytest.fixture
def at(test_model):
    return open_page(test_model)


def shown_risk(at: AppTest) -> str | None:
    values = [m.value for m in at.metric if m.label == RISK_LABEL]
    return values[0] if values else None


def expected_risk(values) -> str:
    return f"{predict_risk(ann_with_dropout(), values).percent:.0f} %"


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_typical_patient_gets_a_risk_at_once(at):
    typical = typical_patient(cleveland())
    assert shown_risk(at) == expected_risk(typical)
    page = texts(at.markdown)
    assert "Risk band:" in page and "patients like this one" in page
    assert "Monte Carlo dropout, 200 stochastic passes" in page
    assert "not a medical device" in texts(at.warning).lower()


def test_filling_the_form_changes_the_risk(at):
    at.number_input(key="predict.field.age").set_value(67)
    at.selectbox(key="predict.field.sex").set_value(0)
    at.selectbox(key="predict.field.cp").set_value(1)
    at.number_input(key="predict.field.thalach").set_value(110)
    at.number_input(key="predict.field.oldpeak").set_value(2.6)
    at.selectbox(key="predict.field.thal").set_value(7).run()
    assert not at.exception
    values = dict(typical_patient(cleveland()), age=67, sex=0, cp=1, thalach=110, oldpeak=2.6, thal=7)
    assert shown_risk(at) == expected_risk(values)


def test_categories_show_clinical_labels(at):
    box = at.selectbox(key="predict.field.cp")
    assert "Asymptomatic" in box.options and "4" not in box.options
    assert "Unknown (will be imputed)" in at.selectbox(key="predict.field.thal").options
    assert not any("Unknown" in option for option in box.options)


def test_impossible_value_is_rejected_at_the_field(at):
    at.number_input(key="predict.field.trestbps").set_value(400).run()
    assert not at.exception
    assert feature("trestbps").check(400) in texts(at.error)
    assert shown_risk(at) is None


def test_value_outside_training_range_warns_and_still_scores(at):
    at.number_input(key="predict.field.age").set_value(85).run()
    assert "outside the range the model was trained on" in texts(at.warning)
    assert shown_risk(at) == expected_risk(dict(typical_patient(cleveland()), age=85))


def test_cholesterol_unit_toggle_converts_exactly(at):
    at.number_input(key="predict.field.chol.mg/dL").set_value(240).run()
    at.radio(key="predict.chol_unit").set_value("mmol/L").run()
    assert at.number_input(key="predict.field.chol.mmol/L").value == pytest.approx(6.21)
    at.number_input(key="predict.field.chol.mmol/L").set_value(5.2).run()
    assert shown_risk(at) == expected_risk(dict(typical_patient(cleveland()), chol=round(mmol_to_mgdl(5.2))))
    at.number_input(key="predict.field.chol.mmol/L").set_value(25.0).run()
    assert "mmol/L" in texts(at.error) and shown_risk(at) is None
    at.radio(key="predict.chol_unit").set_value("mg/dL").run()
    assert at.number_input(key="predict.field.chol.mg/dL").value == round(25.0 * 38.67)


def test_an_absurd_mmol_value_gets_a_message_not_an_overflow(at):
    at.radio(key="predict.chol_unit").set_value("mmol/L").run()
    box = at.number_input(key="predict.field.chol.mmol/L")
    low, high = predict_form.mmol_box_range()
    assert (box.min, box.max) == (low, high) and high == pytest.approx(10 * 700 / 38.67, abs=1)
    box.set_value(1e307).run()  # beyond the box: refused like the browser refuses it, no traceback
    assert not at.exception and shown_risk(at) is None and "cholesterol" in texts(at.error)
    at.number_input(key="predict.field.chol.mmol/L").set_value(150.0).run()  # inside the box, impossible
    assert not at.exception and "mmol/L" in texts(at.error) and shown_risk(at) is None
    at.radio(key="predict.chol_unit").set_value("mg/dL").run()
    assert at.number_input(key="predict.field.chol.mg/dL").value == round(150.0 * 38.67)


def test_a_mgdl_value_the_mmol_box_cannot_hold_keeps_its_unit_and_says_why(at):
    at.number_input(key="predict.field.chol.mg/dL").set_value(123456).run()
    at.radio(key="predict.chol_unit").set_value("mmol/L").run()
    assert not at.exception
    assert at.radio(key="predict.chol_unit").value == "mg/dL"
    assert at.number_input(key="predict.field.chol.mg/dL").value == 123456  # the entered value is kept
    assert "cannot be shown in mmol/L" in texts(at.warning) and "above the possible maximum" in texts(at.error)


def test_non_finite_cholesterol_is_left_for_the_schema_check():
    assert predict_form.whole_mgdl(5.2) == round(5.2 * 38.67)
    assert predict_form.whole_mgdl(float("inf")) == float("inf")  # no OverflowError from int(round(inf))
    assert "not a finite number" in check_patient(dict(typical_patient(cleveland()), chol=float("inf"))).errors["chol"]


def test_an_unreadable_upload_gets_a_message_not_a_traceback(monkeypatch):
    from dashboard import predict_views

    def undecodable(data):
        raise UnicodeDecodeError("utf-8", data, 0, 1, "invalid start byte")

    monkeypatch.setattr(predict_views, "read_batch_csv", undecodable)
    message, report = predict_views._score_upload(ann_with_dropout(), b"\xff\xfe\x00garbage")
    assert "could not be read as a CSV of patients" in message and "invalid start byte" in message
    assert report == ""


def test_unknown_vessels_are_imputed_and_the_result_says_so(at):
    box = at.selectbox(key="predict.field.ca")
    box.select_index(box.options.index("Unknown (will be imputed)")).run()
    assert "Major vessels coloured" in texts(at.info) and "filled this value in" in texts(at.info)
    assert shown_risk(at) == expected_risk(dict(typical_patient(cleveland()), ca=None))


def test_what_if_shows_old_and_new_risk(at):
    at.selectbox(key="predict.whatif.feature").set_value("cp").run()
    at.selectbox(key="predict.whatif.cp").set_value(1).run()
    change = what_if(ann_with_dropout(), check_patient(typical_patient(cleveland())).values, "cp", 1)
    assert change.text() in texts(at.markdown)


def test_population_is_the_dataset_in_use(test_model):
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[KEY_ACTIVE_MODEL] = test_model
    # An uploaded dataset that never records cholesterol (as at the Swiss site).
    at.session_state[KEY_DATASET] = DatasetChoice("my_clinic.csv", cleveland().assign(chol=float("nan")), SOURCE_UPLOAD)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert "patients in **my_clinic.csv**" in texts(at.markdown)
    assert shown_risk(at) == expected_risk(typical_patient(cleveland()))  # the form's defaults stay clinical


def test_missing_model_is_a_message_not_a_traceback():
    at = open_page(ActiveModel("Broken model", None, {}, error="the bundle is corrupt"))
    assert "the bundle is corrupt" in texts(at.error)
    assert shown_risk(at) is None


@pytest.mark.skipif(not (DEFAULT_BUNDLE / "metadata.json").exists(), reason="the shipped bundle is not built yet")
def test_shipped_model_gives_a_risk_without_training():
    at = open_page()
    assert shown_risk(at) is not None and shown_risk(at).endswith("%")
    assert "Model card" in [tab.label for tab in at.tabs]
