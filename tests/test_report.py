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
