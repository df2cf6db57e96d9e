"""The patient-risk page in Streamlit's AppTest: fill the form, read the risk."""

import base64
import re

import numpy as np
import pytest
from _predict_models import ann_with_dropout, ann_with_nameless_preprocessing, cleveland, logistic
from streamlit.testing.v1 import AppTest

from dashboard import predict_form
from dashboard.state import KEY_ACTIVE_MODEL, KEY_DATASET, SOURCE_UPLOAD, ActiveModel, DatasetChoice
from model.clinic.risk import check_patient, mmol_to_mgdl, predict_risk, typical_patient, what_if
from model.data.schema import feature
from model.serving.bundle import DEFAULT_BUNDLE

APP = "../app.py"
PAGE = "app_pages/predict.py"
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
    return ActiveModel("Test network", ann_with_dropout(), {"metrics": {"roc_auc": 0.9}}, training_data=cleveland())


@pytest.fixture
def at(test_model):
    return open_page(test_model)


@pytest.fixture(scope="module")
def untouched_page(test_model):
    """The page as it opens, shared by the tests that only read it (none sets a widget or runs it again)."""
    return open_page(test_model)


def shown_risk(at: AppTest) -> str | None:
    values = [m.value for m in at.metric if m.label == RISK_LABEL]
    return values[0] if values else None


def expected_risk(values) -> str:
    return f"{predict_risk(ann_with_dropout(), values).percent:.0f} %"


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_typical_patient_gets_a_risk_at_once(untouched_page):
    at = untouched_page
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


def test_categories_show_clinical_labels(untouched_page):
    at = untouched_page
    box = at.selectbox(key="predict.field.cp")
    assert "Asymptomatic" in box.options and "4" not in box.options
    assert predict_form.UNKNOWN_OPTION in at.selectbox(key="predict.field.thal").options
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
    box.set_value(1e307).run()  # beyond the box: Streamlit resets it to the box's default, empty = Unknown
    assert not at.exception and at.number_input(key="predict.field.chol.mmol/L").value is None
    assert "Serum cholesterol" in texts(at.info)  # scored as unknown, and the page says so
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

    def undecodable(data, **options):
        raise UnicodeDecodeError("utf-8", data, 0, 1, "invalid start byte")

    monkeypatch.setattr(predict_views, "read_batch_csv", undecodable)
    message, report = predict_views._score_upload(ann_with_dropout(), b"\xff\xfe\x00garbage")
    assert "could not be read as a CSV of patients" in message and "invalid start byte" in message
    assert report == ""


def test_a_batch_file_that_fits_two_codings_waits_for_the_users_choice():
    """Kaggle rows whose codes are all valid UCI codes: nothing is scored until the user picks a reading,
    and the chosen reading is the one scored (the form's and the importer's rules, issue 11)."""
    from dashboard import predict_views
    from model.data.codings import uci_to_kaggle

    kaggle = uci_to_kaggle(cleveland())
    fits_both = (kaggle["cp"] != 0) & (kaggle["slope"] != 0) & (kaggle["ca"] != 4) & ~kaggle["thal"].isin([0, 1, 2])
    data = kaggle[fits_both].head(8).drop(columns="target").to_csv(index=False).encode()
    pipeline = ann_with_dropout()
    waiting, report = predict_views._score_upload(pipeline, data)
    assert waiting == ["uci", "kaggle"] and "coding='kaggle'" in report
    scored, _ = predict_views._score_upload(pipeline, data, coding="kaggle")
    expected = cleveland()[fits_both].head(8)
    assert isinstance(scored, predict_views.BatchResult) and len(scored.scored) == 8
    np.testing.assert_array_equal(scored.scored["cp"].to_numpy(), expected["cp"].to_numpy())


def test_unknown_vessels_are_averaged_and_the_result_shows_the_range(at):
    box = at.selectbox(key="predict.field.ca")
    box.select_index(box.options.index(predict_form.UNKNOWN_OPTION)).run()
    values = dict(typical_patient(cleveland()), ca=None)
    result = predict_risk(ann_with_dropout(), values)
    assert "Major vessels coloured" in texts(at.info) and "plausible values" in texts(at.info)
    low, high = result.unknown_range.low, result.unknown_range.high
    assert f"the risk lies between {low:.0%} and {high:.0%}" in texts(at.info)
    assert shown_risk(at) == expected_risk(values)
    assert "The grey row is what the values not given (Major vessels coloured)" in texts(at.caption)


def test_clearing_a_number_means_unknown_never_zero(at):
    at.number_input(key="predict.field.thalach").set_value(None).run()
    assert not at.exception and not at.error
    values = dict(typical_patient(cleveland()), thalach=None)
    assert shown_risk(at) == expected_risk(values)
    assert "Maximum heart rate" in texts(at.info) and "the risk lies between" in texts(at.info)
    at.number_input(key="predict.field.age").set_value(None).run()  # required: a message, no risk
    assert "Age is required" in texts(at.error) and shown_risk(at) is None


def test_exercise_test_values_can_be_unknown(at):
    for name in ("slope", "exang"):
        box = at.selectbox(key=f"predict.field.{name}")
        box.select_index(box.options.index(predict_form.UNKNOWN_OPTION))
    at.number_input(key="predict.field.oldpeak").set_value(None).run()
    assert not at.exception and shown_risk(at) == expected_risk(
        dict(typical_patient(cleveland()), slope=None, exang=None, oldpeak=None)
    )


def test_an_atypical_patient_is_flagged_beside_the_risk(at):
    at.number_input(key="predict.field.age").set_value(95)
    at.number_input(key="predict.field.chol.mg/dL").set_value(550).run()
    flag = texts(at.error)
    assert "This patient is unlike the patients the model learned from" in flag
    assert "Age 95 years" in flag and "Serum cholesterol 550 mg/dL" in flag
    assert shown_risk(at) is not None


def test_a_model_without_its_training_data_says_so_on_the_page():
    at = open_page(ActiveModel("Uploaded model", ann_with_dropout(), {}))
    assert "are not available" in texts(at.warning) and "built-in Cleveland data instead" in texts(at.warning)
    assert shown_risk(at) is not None


def test_a_network_explained_by_the_fallback_method_says_so_on_the_page():
    at = open_page(ActiveModel("Wrapped network", ann_with_nameless_preprocessing(), {}, training_data=cleveland()))
    assert "Integrated Gradients, the usual method for a neural network, could not be used" in texts(at.warning)
    assert "Method: Shapley value sampling" in texts(at.caption)
    assert "Monte Carlo dropout" in texts(at.markdown)  # the interval does not depend on the grouping


def test_a_model_without_an_interval_says_why_on_the_page():
    at = open_page(ActiveModel("Logistic regression", logistic(), {}, training_data=cleveland()))
    assert "No uncertainty interval: this model is not a neural network" in texts(at.markdown)
    assert "could not be used" not in texts(at.warning)  # Shapley sampling is its method, not a fallback
    assert shown_risk(at) is not None


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


def test_the_risk_is_drawn_as_100_people_with_words(untouched_page):
    at = untouched_page
    from dashboard.icon_array import icon_array_for, icon_array_text

    result = predict_risk(ann_with_dropout(), typical_patient(cleveland()))
    array = icon_array_for(result)
    drawn = texts(at.html)
    # st.html's sanitiser removes inline SVG, so the people are an SVG image whose alt text is the words.
    encoded = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', drawn).group(1)
    svg = base64.b64decode(encoded).decode()
    assert svg.count("<g transform=") == 100 + array.uncertain  # each hatched person is drawn twice
    assert f'alt="{icon_array_text(array)}"' in drawn
    assert f"would have heart disease ({array.count})" in drawn
    assert icon_array_text(array) in texts(at.caption)
    assert f"{array.count} of 100 people like this patient would have heart disease" in icon_array_text(array)


def test_method_names_are_only_under_how_is_this_computed(untouched_page):
    """The main text says what the numbers mean; the methods are in the expanders."""
    at = untouched_page
    methods = ("Monte Carlo dropout", "Integrated Gradients", "Shapley", "one-hot", "Captum")
    how = [e for e in at.expander if e.label == "How is this computed?"]
    assert len(how) == 2
    inside = "\n".join(texts(e.markdown) + texts(e.caption) for e in how)
    assert "Monte Carlo dropout" in inside and "Integrated Gradients" in inside
    visible = "\n".join(str(e.value) for e in (*at.markdown, *at.caption) if str(e.value) not in inside)
    assert not [m for m in methods if m in visible], visible
    assert "**How sure:** the model's risk for this patient could plausibly lie anywhere from" in texts(at.markdown)


def test_category_labels_are_explained_where_the_patient_has_them(at):
    at.selectbox(key="predict.field.thal").set_value(7)
    at.selectbox(key="predict.field.cp").set_value(4).run()
    page = texts(at.markdown)
    assert "**What these values mean**" in page
    assert f"**Thallium stress test: Reversible defect** — {feature('thal').category_help[7]}" in page
    assert f"**Chest pain type: Asymptomatic** — {feature('cp').category_help[4]}" in page


def test_every_category_help_explains_a_category_of_its_feature():
    from model.data.schema import FEATURES

    explained = {f.name: set(f.category_help) for f in FEATURES if f.category_help}
    assert {"cp", "restecg", "slope", "thal"} <= set(explained)
    for f in FEATURES:
        assert set(f.category_help) <= set(f.categories), f.name
        assert all(text.endswith(".") and "\n" not in text for text in f.category_help.values()), f.name


def test_contribution_labels_sit_above_their_bars_not_in_the_margin():
    """At 390 px a y-axis margin of long labels left no room for the bars: the labels are annotations above them."""
    from dashboard.predict_views import contributions_figure
    from model.clinic.explain import explain_patient

    values = dict(typical_patient(cleveland()), ca=None, thalach=None)
    explanation = explain_patient(ann_with_dropout(), check_patient(values).frame(), cleveland())
    fig = contributions_figure(explanation)
    table = explanation.table()
    assert len(fig.data) == 1 and fig.layout.yaxis.visible is False
    labels = [a.text for a in fig.layout.annotations]
    assert len(labels) == len(table)
    assert labels[0] == f"{table['label'][0]}: {table['value'][0]}"
    assert labels[-1] == "Not given (2 values), averaged"
    assert all(a.xref == "paper" and a.x == 0 and a.xanchor == "left" for a in fig.layout.annotations)


# ---- the raw rate beside each bar, and the report's header fields (issue 14) --------------------------------------


def _explanation_script(values: dict):
    """Draw the explanation of one patient with the model's training patients as the reference."""
    from _predict_models import ann_with_dropout, cleveland

    from dashboard.predict_views import render_explanation
    from model.clinic.explain import explain_patient
    from model.clinic.reference import training_reference
    from model.clinic.risk import check_patient

    explanation = explain_patient(ann_with_dropout(), check_patient(values).frame(), cleveland())
    render_explanation(explanation, training_reference(cleveland(), "the 303 Cleveland patients"))


def test_each_bar_has_its_raw_rate_beside_it_and_opposite_directions_are_explained():
    from model.clinic.crude_association import ASSOCIATION_NOTE

    values = dict(typical_patient(cleveland()), age=60, ca=None)  # 60 years: the model lowers, the raw rate is high
    at = AppTest.from_function(_explanation_script, args=(values,), default_timeout=180).run()
    assert not at.exception, at.exception
    lines = [line for line in texts(at.markdown).splitlines() if "— model **" in line]
    assert len(lines) == 12  # every given value, in the bars' order; vessels were not given: no line
    data = cleveland()
    by_value = data.groupby("cp")["target"].agg(["size", "sum"]).loc[4]  # asymptomatic, by a plain groupby
    cp_line = next(line for line in lines if line.startswith("- **Chest pain type: Asymptomatic**"))
    assert f"({int(by_value['sum'])} of {int(by_value['size'])} patients with this value; all: 46%)" in cp_line
    age_line = next(line for line in lines if line.startswith("- **Age: 60 years**"))
    in_band = data[(data["age"] > 58) & (data["age"] <= 62)]  # the quintile (58, 62] of pd.qcut
    assert f"({int(in_band['target'].sum())} of {len(in_band)} patients with Age: 59–62 years" in age_line
    assert age_line.endswith("· **opposite directions**")
    note = texts(at.info)
    assert "Why the model and the raw rate point different ways for Age." in note and ASSOCIATION_NOTE in note
    assert "referred for angiography" in note


def test_no_opposite_note_where_they_agree():
    values = dict(typical_patient(cleveland()))
    at = AppTest.from_function(_explanation_script, args=(values,), default_timeout=180).run()
    assert not at.exception, at.exception
    assert "opposite directions" not in texts(at.markdown)
    assert "point different ways" not in texts(at.info)


def _download_disabled(at: AppTest) -> bool:
    buttons = [e for e in at.get("download_button") if e.proto.label.startswith("Download the patient report")]
    return buttons[0].proto.disabled


def test_report_fields_are_bounded_and_never_persisted(at):
    patient, clinician = at.text_input(key="predict.report.patient_id"), at.text_input(key="predict.report.clinician")
    assert patient.label == "Patient identifier" and clinician.label == "Clinician"
    assert patient.proto.max_chars == 80 and not _download_disabled(at)
    patient.set_value("x" * 81).run()  # Streamlit keeps the first 80 (the report checks the length again)
    assert at.text_input(key="predict.report.patient_id").value == "x" * 80 and not _download_disabled(at)
    at.text_input(key="predict.report.patient_id").set_value("MRN 1\tMRN 2").run()
    assert "Patient identifier holds a line break, tab or other control character; use one plain line." in texts(
        at.error
    )
    assert _download_disabled(at)
    at.text_input(key="predict.report.patient_id").set_value("<script>alert('x')</script>")
    at.text_input(key="predict.report.clinician").set_value('Dr "Q"').run()  # both fields in one run
    assert not at.exception and not texts(at.error) and not _download_disabled(at)
    import inspect

    from dashboard import predict_views

    source = inspect.getsource(predict_views.report_field)
    assert "persist_state" not in source.split('"""')[-1] and "bind" not in source.split('"""')[-1]
