"""The patient-risk page in Chromium: fill the form, read the risk, download the report, score a batch."""

from __future__ import annotations

import re

import pytest

from dashboard.predict_form import UNKNOWN_OPTION
from model.clinic.cholesterol_units import mgdl_to_mmol
from model.data.datasets import load_dataset
from model.data.schema import feature

from .conftest import screenshot, set_number, wait_for_app

pytestmark = pytest.mark.e2e

TALL = {"width": 1400, "height": 3800}  # Streamlit scrolls inside the app: a tall window shows the whole page
RISK = "[data-testid='stMetricValue']"


def open_predict(page, app_server):
    page.goto(f"{app_server}/predict")
    wait_for_app(page)
    page.locator(RISK).first.wait_for()


def shown_risk(page) -> int:
    text = page.locator(RISK).first.inner_text()
    match = re.fullmatch(r"(\d+) %", text.strip())
    assert match, f"risk shown as {text!r}"
    return int(match.group(1))


def choose(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page)


def test_fill_the_form_and_read_the_risk(page, app_server):
    open_predict(page, app_server)
    typical = shown_risk(page)
    assert 0 <= typical <= 100
    assert page.get_by_text("patients like this one").count() >= 1
    assert page.get_by_text("Monte Carlo dropout").count() >= 1
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(2).wait_for(state="visible")  # Plotly's script loads lazily on a fresh browser
    assert charts.count() >= 3

    choose(page, "Chest pain type", "Typical angina")
    choose(page, "Thallium stress test", "Normal")
    set_number(page, "Maximum heart rate (bpm)", 175)
    lower = shown_risk(page)
    choose(page, "Chest pain type", "Asymptomatic")
    choose(page, "Thallium stress test", "Reversible defect")
    set_number(page, "ST depression (mm)", 3.0)
    set_number(page, "Maximum heart rate (bpm)", 105)
    higher = shown_risk(page)
    assert higher > lower, (lower, higher)
    page.set_viewport_size(TALL)
    screenshot(page, "predict-high-risk")

    set_number(page, "Resting blood pressure (mm Hg)", 400)
    page.get_by_text(feature("trestbps").check(400)).first.wait_for()
    assert page.locator(RISK).count() == 0
    screenshot(page, "predict-impossible-value")


def clear_number(page, label: str) -> None:
    """Empty a number box (an empty box is Unknown) and confirm with Enter."""
    field = page.get_by_label(label, exact=True)
    field.fill("")
    field.press("Enter")
    wait_for_app(page)


PHONE = {"width": 400, "height": 900}


def screenshots(page, name: str) -> None:
    """The page at desktop width and at a phone's width (~400 px)."""
    screenshot(page, f"{name}-desktop")
    desktop = page.viewport_size
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(desktop)
    page.wait_for_timeout(300)


def test_unknown_values_show_a_range_and_a_neutral_row_and_atypical_patients_are_flagged(page, app_server):
    """Issue 11: the 58-year-old man with vessels and thallium unknown, then a 95-year-old with cholesterol 550,
    then the same patient in mmol/L."""
    open_predict(page, app_server)
    set_number(page, "Age (years)", 58)
    choose(page, "Chest pain type", "Typical angina")
    set_number(page, "Resting blood pressure (mm Hg)", 150)
    set_number(page, "Serum cholesterol (mg/dL)", 240)
    set_number(page, "Maximum heart rate (bpm)", 140)
    choose(page, "Exercise-induced angina", "Yes")
    set_number(page, "ST depression (mm)", 1.5)
    choose(page, "ST slope", "Flat")
    choose(page, "Major vessels coloured (vessels)", UNKNOWN_OPTION)
    choose(page, "Thallium stress test", UNKNOWN_OPTION)
    page.get_by_text("the risk lies between").first.wait_for()
    shown_range = page.get_by_text("the risk lies between").first.inner_text()
    assert re.search(r"the risk lies between \d+% and \d+%", shown_range)
    page.get_by_text("The grey row is what the values not given").first.wait_for()
    chart = page.locator("[data-testid='stPlotlyChart']").nth(1)
    chart.wait_for(state="visible")
    assert chart.get_by_text("Not given (2 values), averaged").count() >= 1  # the neutral row's label
    clear_number(page, "Maximum heart rate (bpm)")  # an emptied box is Unknown, never 0
    assert page.locator(RISK).count() == 1
    note = page.locator("[data-testid='stAlert']", has_text="the risk lies between").first.inner_text()
    assert "Maximum heart rate" in note and "Major vessels coloured" in note
    screenshots(page, "predict-unknown-range")

    set_number(page, "Age (years)", 95)
    set_number(page, "Serum cholesterol (mg/dL)", 550)
    page.get_by_text("This patient is unlike the patients the model learned from").first.wait_for()
    flag = page.get_by_text("This patient is unlike the patients the model learned from").first.inner_text()
    assert "Age 95 years" in flag and "Serum cholesterol 550 mg/dL" in flag
    screenshots(page, "predict-atypical")

    # The unit toggle converts the value entered (550 mg/dL = 14.22 mmol/L); the unknowns stay unknown.
    page.get_by_text("mmol/L", exact=True).click()
    wait_for_app(page)
    box = page.get_by_label("Serum cholesterol (mmol/L)", exact=True)
    assert re.fullmatch(r"\d+\.\d\d", box.input_value()) and float(box.input_value()) == round(mgdl_to_mmol(550), 2)
    page.get_by_text("the risk lies between").first.wait_for()
    page.set_viewport_size(TALL)
    screenshot(page, "predict-unknown-mmol")


def test_download_the_patient_report(page, app_server, tmp_path):
    open_predict(page, app_server)
    risk = shown_risk(page)
    hostile = '<script>alert("x")</script>'
    for label, text in (("Patient identifier", hostile), ("Clinician", "Dr O'Neil & team")):
        page.get_by_label(label, exact=True).fill(text)
        page.get_by_label(label, exact=True).press("Enter")
        wait_for_app(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download the patient report")).click()
    path = tmp_path / "report.html"
    download.value.save_as(path)
    html = path.read_text(encoding="utf-8")
    assert f"{risk} %" in html and "<svg" in html and "Model card" in html
    assert "not a medical device" in html.lower()
    assert hostile not in html and "&lt;script&gt;" in html and "O&#x27;Neil &amp; team" in html
    assert "@media print" in html

    page.get_by_role("tab", name="Model card").click()
    page.get_by_role("cell", name="ROC AUC (discrimination)").wait_for()
    assert page.get_by_text("Validated how.").count() == 1
    page.get_by_text("Decision analysis").first.wait_for()
    assert page.get_by_text("TRIPOD+AI checklist", exact=False).count() >= 1
    card = page.locator("[role='tabpanel']:visible")
    card.locator("[data-testid='stPlotlyChart']").first.wait_for(state="visible")  # the decision curve
    page.set_viewport_size(TALL)
    screenshot(page, "predict-model-card")
    page.set_viewport_size({"width": 390, "height": 3800})
    page.wait_for_timeout(500)
    for chart in card.locator("[data-testid='stPlotlyChart']").all():
        box = chart.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 391, box
    screenshot(page, "predict-model-card-phone")


def test_before_imaging_hides_the_imaging_fields_and_keeps_them_for_later(page, app_server):
    """Issue 14: the moment of care chooses the model; the imaging fields go, then come back as they were."""
    open_predict(page, app_server)
    choose(page, "Thallium stress test", "Reversible defect")
    with_imaging = shown_risk(page)
    page.get_by_text("Before imaging", exact=True).click()
    wait_for_app(page)
    page.get_by_text("known only from imaging").first.wait_for()
    assert page.get_by_label("Thallium stress test", exact=True).count() == 0
    assert page.get_by_label("Major vessels coloured (vessels)", exact=True).count() == 0
    assert page.get_by_text("Shipped default model (before imaging)").count() >= 1
    before = shown_risk(page)
    assert 0 <= before <= 100
    screenshots(page, "predict-before-imaging")

    page.get_by_text("With imaging results", exact=True).click()
    wait_for_app(page)
    field = page.get_by_label("Thallium stress test", exact=True)
    field.wait_for()
    assert field.input_value() == "Reversible defect"
    assert shown_risk(page) == with_imaging


def test_upload_a_batch_with_a_bad_row(page, app_server, tmp_path):
    data = load_dataset("cleveland").head(20).drop(columns="target")
    data["chol"] = data["chol"].astype(object)
    data.loc[4, "chol"] = 5000  # data row 5: impossible
    data["age"] = data["age"].astype(object)
    data.loc[9, "age"] = "old"  # data row 10: not a number
    open_predict(page, app_server)
    page.get_by_role("tab", name="Batch of patients (CSV)").click()
    uploader = page.locator("[data-testid='stFileUploader']").first
    uploader.locator("input[type=file]").set_input_files(
        {"name": "patients.csv", "mimeType": "text/csv", "buffer": data.to_csv(index=False).encode()}
    )
    wait_for_app(page)
    page.get_by_text("18 of 20 rows scored").wait_for()
    assert page.get_by_text("Rows not scored (2)").count() == 1
    page.set_viewport_size(TALL)
    screenshot(page, "predict-batch")
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download the results")).click()
    path = tmp_path / "results.csv"
    download.value.save_as(path)
    import pandas as pd

    results = pd.read_csv(path, keep_default_na=False)
    assert list(results["row"]) == list(range(1, 21))
    assert results.loc[results["row"] == 5, "problem"].item().startswith("Serum cholesterol")
    assert "not a number" in results.loc[results["row"] == 10, "problem"].item()
    assert (results.loc[~results["row"].isin([5, 10]), "risk_percent"] != "").all()
