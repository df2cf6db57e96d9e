"""Issue 11 §1–2: unknown values averaged over their plausible values; atypical patients flagged.

Every number is checked against a slow, obvious reference written here with plain loops.
"""

import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _predict_models import ann_with_dropout, cleveland, logistic

from model.clinic.explain import NOT_GIVEN, Explainer, contributions_are_complete
from model.clinic.imputation import IMPUTATION_DRAWS
from model.clinic.reference import reference_for_model, training_reference
from model.clinic.risk import check_patient, mmol_to_mgdl, positive_probability, predict_risk, score_batch, what_if
from model.clinic.typicality import TYPICALITY_NEIGHBOURS
from model.data.schema import FEATURE_NAMES, FEATURES, feature
from model.serving.bundle import data_fingerprint, load_default_model

ROOT = Path(__file__).resolve().parents[1]

# The issue's patient: 58-year-old man, typical angina, BP 150, cholesterol 6.2 mmol/L, max HR 140,
# exercise angina, ST depression 1.5, flat slope; vessels and thallium left Unknown.
ISSUE_PATIENT = dict(
    age=58,
    sex=1,
    cp=1,
    trestbps=150,
    chol=round(mmol_to_mgdl(6.2)),
    fbs=0,
    restecg=0,
    thalach=140,
    exang=1,
    oldpeak=1.5,
    slope=2,
    ca=None,
    thal=None,
)
OLD_PATIENT = dict(ISSUE_PATIENT, age=95, chol=550, ca=0, thal=3)  # the issue's atypical patient


@pytest.fixture(scope="module")
def reference():
    return training_reference(cleveland(), "the Cleveland training patients")


# ---- a slow, obvious reference for the distance and the neighbours --------------------------------


def slow_squared_distance(patient: dict, train_row: pd.Series, data: pd.DataFrame) -> float:
    """Numbers in training SDs; codes 0 if equal else 1; a training patient's own gap counts as the
    training mean (numbers) or the code frequencies (codes); only the patient's known features."""
    total = 0.0
    for feat in FEATURES:
        mine = patient.get(feat.name)
        if mine is None or (isinstance(mine, float) and math.isnan(mine)):
            continue
        column = data[feat.name].dropna().astype(float)
        theirs = train_row[feat.name]
        if feat.categories:
            shares = {code: float((column == code).mean()) for code in feat.codes}
            if pd.isna(theirs):  # half the squared distance between one-hot vectors: one-hot vs frequencies
                total += 0.5 * sum(((1.0 if code == mine else 0.0) - share) ** 2 for code, share in shares.items())
            else:
                total += 0.0 if float(theirs) == float(mine) else 1.0
        else:
            sd = float(column.std(ddof=0))
            value = column.mean() if pd.isna(theirs) else float(theirs)
            total += ((float(mine) - value) / sd) ** 2
    return total


def slow_neighbours(patient: dict, data: pd.DataFrame, must_have: list[str], k: int) -> list[int]:
    """Positions of the k nearest training patients who have every feature in `must_have` (ties: row order)."""
    scored = []
    for position in range(len(data)):
        row = data.iloc[position]
        if any(pd.isna(row[name]) for name in must_have):
            continue
        scored.append((slow_squared_distance(patient, row, data), position))
    scored.sort()  # by distance, then by row position: the same tie rule as a stable sort
    return [position for _, position in scored[:k]]


# ---- §1 unknown is not the healthiest value -------------------------------------------------------


def test_the_issue_patient_is_no_longer_scored_as_vessels_0_and_thallium_normal():
    pipeline = load_default_model()
    unknown = predict_risk(pipeline, ISSUE_PATIENT)
    healthiest = predict_risk(pipeline, dict(ISSUE_PATIENT, ca=0, thal=3))
    assert abs(unknown.probability - healthiest.probability) > 0.10  # was exactly equal (35 %)
    assert unknown.unknown_range is not None
    assert unknown.unknown_range.low <= healthiest.probability + 1e-9 < unknown.unknown_range.high
    assert unknown.unknown_range.low <= unknown.probability <= unknown.unknown_range.high
    assert "the risk lies between" in unknown.unknown_range.text()
    assert "plausible fillings" in unknown.interval.method
    assert unknown.reference_note is None  # the shipped model's own training data were found


def test_one_unknown_code_is_the_frequency_weighted_average_over_the_codes(reference):
    """The obvious reference: find the 50 most similar training patients who have a thallium result,
    count their codes, and average the model's risk over the codes with those counts as weights."""
    data, pipeline = cleveland(), logistic()
    patient = dict(ISSUE_PATIENT, ca=1, thal=None)
    neighbours = slow_neighbours(patient, data, ["thal"], IMPUTATION_DRAWS)
    codes = data.iloc[neighbours]["thal"].astype(float).value_counts()
    assert len(codes) > 1  # the check below means something only if the neighbours disagree
    expected = sum(
        count
        / IMPUTATION_DRAWS
        * positive_probability(pipeline, pd.DataFrame([dict(patient, thal=code)])[list(FEATURE_NAMES)].astype(float))[0]
        for code, count in codes.items()
    )
    result = predict_risk(pipeline, patient, reference=reference)
    assert result.probability == pytest.approx(expected, abs=1e-12)
    fillings = result.fillings
    assert len(fillings) == IMPUTATION_DRAWS and set(fillings["thal"]) <= set(feature("thal").codes)
    assert (
        fillings.drop(columns="thal").to_numpy() == check_patient(patient).frame().drop(columns="thal").to_numpy()
    ).all()  # known values untouched


def test_two_unknowns_come_from_the_same_neighbour_and_are_valid_codes(reference):
    data = cleveland()
    patient = dict(ISSUE_PATIENT)
    neighbours = slow_neighbours(patient, data, ["ca", "thal"], IMPUTATION_DRAWS)
    result = predict_risk(logistic(), patient, reference=reference)
    expected = data.iloc[neighbours][["ca", "thal"]].to_numpy(dtype=float)
    assert np.array_equal(result.fillings[["ca", "thal"]].to_numpy(), expected)


def test_an_unknown_number_can_be_left_out_and_the_exercise_test_is_optional(reference):
    patient = dict(ISSUE_PATIENT, ca=0, thal=3, thalach=None, oldpeak=None, slope=None, exang=None)
    checked = check_patient(patient)
    assert checked.ok and set(checked.imputed) == {"thalach", "exang", "oldpeak", "slope"}
    result = predict_risk(ann_with_dropout(), checked, reference=reference)
    risks = positive_probability(ann_with_dropout(), result.fillings)
    assert result.probability == pytest.approx(risks.mean())
    assert (result.unknown_range.low, result.unknown_range.high) == pytest.approx((risks.min(), risks.max()))
    for name in ("age", "sex", "cp", "trestbps"):
        assert not feature(name).unknown_allowed
    for name in ("thalach", "exang", "oldpeak", "slope", "ca", "thal"):
        assert feature(name).unknown_allowed


def test_the_interval_spreads_the_dropout_passes_over_the_fillings(reference):
    pipeline = ann_with_dropout()
    result = predict_risk(pipeline, ISSUE_PATIENT, reference=reference)
    assert result.interval.available and "plausible fillings" in result.interval.detail
    complete = predict_risk(pipeline, dict(ISSUE_PATIENT, ca=0, thal=3), reference=reference)
    # The unknown values widen the interval: it must hold most of the range over the fillings.
    assert result.interval.upper - result.interval.lower > complete.interval.upper - complete.interval.lower
    assert result.interval.lower <= result.unknown_range.low + 0.05
    assert result.interval.upper >= result.unknown_range.high - 0.05


def test_what_if_uses_the_averaged_risk(reference):
    pipeline = logistic()
    change = what_if(pipeline, ISSUE_PATIENT, "age", 60, reference)
    before = predict_risk(pipeline, ISSUE_PATIENT, reference=reference).probability
    assert change.old_probability == pytest.approx(before)
    assert change.new_probability == pytest.approx(
        predict_risk(pipeline, dict(ISSUE_PATIENT, age=60), reference=reference).probability
    )


@pytest.mark.parametrize("make", [ann_with_dropout, logistic])
def test_unknown_features_get_one_neutral_row_and_no_credit(make, reference):
    pipeline = make()
    result = predict_risk(pipeline, ISSUE_PATIENT, reference=reference)
    explanation = Explainer(pipeline, cleveland(), "Cleveland", reference).explain(
        check_patient(ISSUE_PATIENT).frame(), result.fillings
    )
    table = explanation.table()
    assert "ca" not in set(table["feature"]) and "thal" not in set(table["feature"])
    neutral = table[table["neutral"]]
    assert list(neutral["feature"]) == [NOT_GIVEN] and table.iloc[-1]["neutral"]
    assert "Major vessels coloured" in neutral["label"].item() and "Thallium" in neutral["label"].item()
    assert neutral["value"].item() == "averaged over plausible values"
    assert explanation.probability == pytest.approx(result.probability)
    assert contributions_are_complete(explanation, tolerance=0.005)
    # Without the fillings the explainer finds the same ones itself.
    again = Explainer(pipeline, cleveland(), "Cleveland", reference).explain(check_patient(ISSUE_PATIENT).frame())
    assert again.total == pytest.approx(explanation.total)


def test_a_complete_patient_has_no_neutral_row(reference):
    explanation = Explainer(ann_with_dropout(), cleveland(), "Cleveland", reference).explain(
        check_patient(dict(ISSUE_PATIENT, ca=0, thal=3)).frame()
    )
    assert not explanation.table()["neutral"].any() and not explanation.unknown


def test_batch_rows_match_one_by_one(reference):
    data = cleveland().drop(columns="target").head(40).reset_index(drop=True)
    data.loc[::3, "thal"] = np.nan
    data.loc[1::4, ["ca", "slope"]] = np.nan
    data.loc[7, ["age", "chol"]] = [95, 550]
    pipeline = ann_with_dropout()
    result = score_batch(pipeline, data, reference=reference)
    assert len(result.scored) == len(data)
    for _, row in result.scored.iterrows():
        values = {name: (None if pd.isna(row[name]) else row[name]) for name in FEATURE_NAMES}
        single = predict_risk(pipeline, values, reference=reference)
        assert row["risk_percent"] == pytest.approx(round(100 * single.probability, 1), abs=0.051)
        if single.unknown_range is not None:
            assert row["unknown_low_percent"] == pytest.approx(100 * single.unknown_range.low, abs=0.051)
            assert row["unknown_high_percent"] == pytest.approx(100 * single.unknown_range.high, abs=0.051)
        assert row["atypical"] == single.atypical
        assert row["atypical_reasons"] == "; ".join(single.atypical_reasons)
        assert row["interval_low_percent"] <= row["interval_high_percent"]
    assert result.scored.loc[7, "atypical"] and "Age 95 years" in result.scored.loc[7, "atypical_reasons"]


# ---- §1 which training data --------------------------------------------------------------------------


def test_the_shipped_model_finds_its_training_data_by_fingerprint():
    pipeline = load_default_model()
    assert pipeline.metadata["data_fingerprint"] == data_fingerprint(cleveland())
    found = reference_for_model(pipeline)
    assert found.is_training_data and found.note is None and found.n_patients == len(cleveland())


def test_a_model_without_its_training_data_says_so_and_logs_it(caplog):
    with caplog.at_level(logging.WARNING, logger="model.clinic.reference"):
        found = reference_for_model(logistic(), {}, model_name="Uploaded model")
    assert not found.is_training_data and "are not available" in found.note and "Uploaded model" in found.note
    assert any("stand-in" in record.message for record in caplog.records)
    result = predict_risk(logistic(), ISSUE_PATIENT, reference=found)
    assert result.reference_note == found.note


def test_a_session_model_uses_its_own_training_rows():
    rows = cleveland().iloc[:150]
    found = reference_for_model(logistic(), {}, rows, "Run 1")
    assert found.is_training_data and found.n_patients == 150 and "Run 1" in found.name


# ---- §2 atypical patients ----------------------------------------------------------------------------


def test_typicality_flags_one_to_two_percent_of_the_training_patients(reference):
    check = reference.typicality
    share = float((check.training_scores > check.threshold).mean())
    assert 0.01 <= share <= 0.02


def test_typicality_score_matches_a_slow_reference(reference):
    data = cleveland()
    for patient in (OLD_PATIENT, dict(ISSUE_PATIENT, ca=0, thal=3), ISSUE_PATIENT):
        distances = sorted(slow_squared_distance(patient, data.iloc[i], data) for i in range(len(data)))
        n_known = sum(patient[name] is not None for name in FEATURE_NAMES)
        expected = math.sqrt(np.mean(distances[:TYPICALITY_NEIGHBOURS]) / n_known)
        values = check_patient(patient).frame().to_numpy(dtype=float)
        assert reference.typicality.check(values).scores[0] == pytest.approx(expected, rel=1e-9)


def test_the_old_patient_with_high_cholesterol_is_flagged_with_reasons(reference):
    result = predict_risk(ann_with_dropout(), OLD_PATIENT, reference=reference)
    assert result.atypical
    reasons = " ".join(result.atypical_reasons)
    assert "Age 95 years" in reasons and "higher than any" in reasons and "Serum cholesterol 550 mg/dL" in reasons
    assert result.atypical_text().startswith("This patient is unlike the patients the model learned from: ")
    typical = predict_risk(ann_with_dropout(), dict(ISSUE_PATIENT, ca=0, thal=3), reference=reference)
    assert not typical.atypical and typical.atypical_reasons == () and typical.atypical_text() is None


# ---- MPS has no float64: .cpu() before .double() ---------------------------------------------------


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "model" / "clinic").glob("*.py")))
def test_nothing_calls_double_before_cpu(path):
    for number, line in enumerate((ROOT / path).read_text().splitlines(), start=1):
        for match in re.finditer(r"\.double\(\)", line):
            assert line[: match.start()].endswith(".cpu()"), f"{path}:{number}: .double() before .cpu(): {line}"
