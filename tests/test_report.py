"""model/clinic/report.py and model/clinic/model_card.py: a self-contained HTML report and a card from metadata."""

import re

import pytest
from _predict_models import ann_with_dropout, ann_with_nameless_preprocessing, cleveland, logistic

from model.clinic.explain import explain_patient
from model.clinic.model_card import DISCLAIMER, NOT_RECORDED, build_model_card
from model.clinic.report import NEUTRAL_COLOR, patient_report_html
from model.clinic.risk import check_patient, predict_risk, typical_patient, what_if

METADATA = {
    "metrics": {
        "roc_auc": {"mean": 0.905, "std": 0.03, "ci_low": 0.874, "ci_high": 0.936},
        "brier": {"mean": 0.124, "ci_low": 0.11, "ci_high": 0.14},
        "calibration_slope": 0.93,
        "calibration_intercept": -0.02,
        "accuracy": 0.83,
    },
    "cv": {"n_splits": 5, "n_repeats": 10},
    "data": {"name": "Cleveland (UCI)"},
    "n_training_rows": 303,
}


@pytest.fixture(scope="module")
def report_parts():
    pipeline = ann_with_dropout()
    checked = check_patient(dict(typical_patient(cleveland()), ca=None, age=80))
    risk = predict_risk(pipeline, checked)
    explanation = explain_patient(pipeline, checked.frame(), cleveland(), "Cleveland")
    card = build_model_card("Shipped <default> model", pipeline, METADATA)
    return checked, risk, explanation, card


def test_model_card_from_metadata():
    card = build_model_card("Shipped default model", ann_with_dropout(), METADATA)
    assert "dropout 0.5" in card.model and "16 relu units" in card.model
    assert card.trained_on == "Cleveland (UCI); 303 training rows"
    assert card.validation.startswith("5-fold cross-validation repeated 10 times")
    metrics = dict(card.metrics)
    assert metrics["ROC AUC (discrimination)"] == "0.905 (95 % CI 0.874 – 0.936)"
    assert "slope 0.930" in card.calibration and "Brier score 0.124" in card.calibration
    assert any("angiograph" in limit for limit in card.limits)
    assert DISCLAIMER in card.as_markdown()


def test_model_card_says_what_is_not_recorded():
    card = build_model_card("Your model", logistic(), {})
    assert "LogisticRegression" in card.model
    assert card.trained_on == NOT_RECORDED and card.validation == NOT_RECORDED and card.calibration == NOT_RECORDED
    assert ("Metrics", NOT_RECORDED) in card.sections()[3][1]


def test_report_holds_inputs_risk_explanation_card_and_disclaimer(report_parts):
    checked, risk, explanation, card = report_parts
    html = patient_report_html(
        checked,
        risk,
        explanation,
        card,
        percentile=61.0,
        population_name="Cleveland",
        what_if=what_if(ann_with_dropout(), checked.values, "cp", 1),
    )
    assert html.startswith("<!DOCTYPE html>")
    assert f"{risk.percent:.0f} %" in html and risk.band.name in html
    assert f"About {risk.natural_frequency} of 100" in html
    assert "Monte Carlo dropout" in html
    assert "Resting blood pressure (mm Hg)" in html and "<td>Unknown</td>" in html
    assert "the risk lies between" in html and "Not given (Major vessels coloured)" in html
    assert NEUTRAL_COLOR in html  # the not-given row is grey, neither red nor green
    assert "Asymptomatic" in html  # category labels, never raw codes
    assert "outside the range the model was trained on" in html
    assert "<svg" in html and html.count("<rect") == 13
    assert "Higher than 61 %" in html and "Typical angina" in html
    assert "ROC AUC" in html and "0.905" in html
    assert html.count(DISCLAIMER) >= 2


def test_report_is_self_contained_and_escaped(report_parts):
    html = patient_report_html(*report_parts)
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "Shipped &lt;default&gt; model" in html and "<default>" not in html


def test_report_says_when_the_explanation_fell_back_to_another_method(report_parts):
    checked, risk, explanation, card = report_parts
    assert "could not be used" not in patient_report_html(checked, risk, explanation, card)
    fallen_back = explain_patient(ann_with_nameless_preprocessing(), checked.frame(), cleveland(), "Cleveland")
    html = patient_report_html(checked, risk, fallen_back, card)
    assert "Integrated Gradients, the usual method for a neural network, could not be used" in html
    assert "Method: Shapley value sampling" in html


def test_model_card_of_a_model_read_from_a_bundle_describes_its_network():
    from model.serving.bundle import LoadedModel

    card = build_model_card("Loaded", LoadedModel(ann_with_dropout(), {}), {})
    assert "dropout 0.5" in card.model and "16 relu units" in card.model


# ---- header fields, cholesterol unit, print layout, raw rates (issue 14) ------------------------------------------


def test_hostile_header_fields_are_escaped(report_parts):
    from model.clinic.report import clean_report_field

    hostile = "<script>alert('x')</script>"
    clinician = 'Dr "Quote" O\'Brien & <b>co</b>'
    html = patient_report_html(*report_parts, patient_id=hostile, clinician=clinician)
    assert "<script" not in html.lower() and "<b>co</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "Dr &quot;Quote&quot; O&#x27;Brien &amp; &lt;b&gt;co&lt;/b&gt;" in html
    assert clean_report_field("Clinician", "  Dr Who  ") == "Dr Who" and clean_report_field("Clinician", None) == ""


def test_header_fields_are_bounded_with_a_clear_message(report_parts):
    from model.clinic.report import MAX_FIELD_LENGTH, ReportFieldError, clean_report_field

    assert MAX_FIELD_LENGTH == 80
    assert clean_report_field("The patient identifier", "x" * 80) == "x" * 80
    with pytest.raises(ReportFieldError, match="The patient identifier is 81 characters long; at most 80"):
        clean_report_field("The patient identifier", "x" * 81)
    with pytest.raises(ReportFieldError, match="line break"):
        clean_report_field("Clinician", "Dr A\nDr B")
    with pytest.raises(ReportFieldError, match="at most 80"):
        patient_report_html(*report_parts, clinician="y" * 500)  # the report checks too, whoever calls it


def test_header_shows_patient_clinician_and_date_or_lines_to_write_on(report_parts):
    import datetime as dt

    created = dt.datetime(2025, 3, 4, 9, 30)
    html = patient_report_html(*report_parts, patient_id="MRN 0042", clinician="Dr Ada", created=created)
    header = html[html.index("<table class='header'>") : html.index("</table>")]
    assert "<th>Patient</th><td>MRN 0042</td>" in header and "<th>Clinician</th><td>Dr Ada</td>" in header
    assert "<th>Date</th><td>2025-03-04</td>" in header
    assert html.index("class='header'") < html.index("<h1>")  # at the top of the first page
    blank = patient_report_html(*report_parts, created=created)
    assert blank.count("<span class='blank'>") == 2  # nothing given: a line to write on once printed


def test_cholesterol_is_shown_in_the_unit_it_was_entered_in(report_parts):
    from model.clinic.report import cholesterol_shown

    checked, risk, explanation, card = report_parts
    mgdl = checked.values["chol"]
    html = patient_report_html(*report_parts, cholesterol_unit="mmol/L", cholesterol_entered=6.2)
    assert f"<th>Serum cholesterol (mmol/L)</th><td>6.20 mmol/L ({mgdl:.0f} mg/dL for the model)</td>" in html
    assert "<th>Serum cholesterol (mg/dL)</th>" not in html
    assert "Serum cholesterol: 6.20 mmol/L" in html  # the bar's label too
    converted = patient_report_html(*report_parts, cholesterol_unit="mmol/L")  # no typed value: converted exactly
    assert f"{mgdl / 38.67:.2f} mmol/L" in converted
    plain = patient_report_html(*report_parts)
    assert f"<th>Serum cholesterol (mg/dL)</th><td>{mgdl:.0f} mg/dL</td>" in plain and "mmol/L" not in plain
    assert cholesterol_shown(float("nan"), "mmol/L") == "Unknown"
    with pytest.raises(ValueError, match="not one of mg/dL, mmol/L"):
        cholesterol_shown(200, "g/L")


def test_print_layout(report_parts):
    html = patient_report_html(*report_parts)
    style = html[html.index("<style>") : html.index("</style>")]
    assert "@page{size:A4;margin:" in style and "@media print{" in style
    printed = style[style.index("@media print{") :]
    assert "color:#000" in printed and "background:#fff" in printed
    assert re.search(r"table,tr,svg[^{]*\{break-inside:avoid;page-break-inside:avoid\}", printed)


def test_report_shows_the_raw_rate_beside_each_contribution(report_parts):
    from model.clinic.crude_association import CrudeAssociation, crude_associations

    checked, risk, explanation, card = report_parts
    associations = crude_associations(cleveland(), explanation.patient, list(explanation.contributions.index))
    assert "ca" not in associations  # not given: no raw rate, as no bar
    html = patient_report_html(*report_parts, associations=associations)
    assert "Raw disease rate among reference patients" in html
    cp = checked.values["cp"]
    by_cp = cleveland().groupby("cp")["target"].agg(["size", "sum"]).loc[cp]  # a plain pandas reference
    label = f"{int(by_cp['sum'])} of {int(by_cp['size'])} reference patients with Chest pain type: "
    assert label in html
    assert html.count("<rect") == 13  # the table adds no bars
    if "Opposite directions." in html:
        assert "Why the model and the raw rate point different ways" in html
    # An association pointing against its contribution gets the note.
    age = explanation.contributions["age"]
    against = CrudeAssociation(
        "age", "63 years or more", n=60, n_disease=45 if age < 0 else 5, n_known=303, n_known_disease=138
    )
    clash = patient_report_html(*report_parts, associations={**associations, "age": against})
    assert "Opposite directions." in clash and "referred for angiography" in clash
    assert "Why the model and the raw rate point different ways for Age." in clash
    assert "Raw disease rate" not in patient_report_html(*report_parts)  # nothing given: no column


def test_report_raw_rates_for_cholesterol_entered_in_mmol(report_parts):
    from model.clinic.crude_association import crude_associations

    _, _, explanation, _ = report_parts
    associations = crude_associations(cleveland(), explanation.patient, list(explanation.contributions.index))
    html = patient_report_html(*report_parts, associations=associations, cholesterol_unit="mmol/L")
    chol = associations["chol"]
    assert chol.banded
    assert re.search(
        r"reference patients with Serum cholesterol: (over|up to) \d+\.\d\d( up to \d+\.\d\d)? mmol/L", html
    )


def test_report_without_some_features_in_the_explanation(report_parts):
    """A model for the moment before imaging explains no vessels and no thallium: the report still works."""
    import dataclasses

    from model.clinic.crude_association import crude_associations

    checked, risk, explanation, card = report_parts
    fewer = dataclasses.replace(
        explanation, contributions=explanation.contributions.drop(["thal"]), unknown=(), unknown_contribution=0.0
    )
    associations = crude_associations(cleveland(), fewer.patient, list(fewer.contributions.index))
    html = patient_report_html(checked, risk, fewer, card, associations=associations)
    assert "Thallium stress test:" not in html[html.index("<svg") :].split("<h2>Model card")[0]
    assert "<th>Thallium stress test</th><td>Not used by this model</td>" in html
    assert "<th>Major vessels coloured (vessels)</th><td>Unknown</td>" in patient_report_html(*report_parts)
