"""model/clinic/risk.py and the modules it was split into: limits, units, unknowns, bands, uncertainty,
what-if, population, batch scoring."""

import logging
import math
import threading
import time
from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from _predict_models import ann_with_dropout, ann_without_dropout, cleveland, logistic
from sklearn.datasets import make_classification
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from model.clinic import batch_scoring, risk
from model.clinic.interval import NoIntervalReason
from model.clinic.risk import (
    CHOLESTEROL_MGDL_PER_MMOL,
    RISK_BANDS,
    BatchError,
    PatientError,
    band_for,
    band_names,
    check_patient,
    mc_dropout_interval,
    mgdl_to_mmol,
    mmol_to_mgdl,
    natural_frequency,
    percentile_of,
    positive_probability,
    predict_risk,
    read_batch_csv,
    score_batch,
    typical_patient,
    what_if,
)
from model.data.csv_import import read_user_csv
from model.data.import_report import ImportResult
from model.data.schema import FEATURES, feature
from model.nn.config import ANNConfig, LayerConfig
from model.nn.network import MLP
from model.nn.training import train


@pytest.fixture(scope="module")
def patient():
    return typical_patient(cleveland())


# ---- units ----------------------------------------------------------------------------


def test_cholesterol_factor_is_the_exact_one():
    assert CHOLESTEROL_MGDL_PER_MMOL == 38.67
    assert mmol_to_mgdl(1.0) == pytest.approx(38.67)
    assert mmol_to_mgdl(5.0) == pytest.approx(193.35)
    assert mgdl_to_mmol(193.35) == pytest.approx(5.0)


@pytest.mark.parametrize("mg", [70, 126, 200, 241, 564, 700])
def test_cholesterol_round_trip_through_the_form_precision(mg):
    # The form shows mmol/L with 2 decimals and mg/dL as whole numbers: the toggle must not drift.
    assert round(mmol_to_mgdl(round(mgdl_to_mmol(mg), 2))) == mg


# ---- bands and frequencies ------------------------------------------------------------


def test_bands_tile_zero_to_one_without_gaps():
    assert RISK_BANDS[0].lower == 0.0 and RISK_BANDS[-1].upper == 1.0
    for below, above in pairwise(RISK_BANDS):
        assert below.upper == above.lower


@pytest.mark.parametrize(
    "p, name",
    [
        (0.0, "Low"),
        (0.1499, "Low"),
        (0.15, "Intermediate"),
        (0.4999, "Intermediate"),
        (0.5, "Elevated"),
        (0.8499, "Elevated"),
        (0.85, "High"),
        (1.0, "High"),
    ],
)
def test_band_edges(p, name):
    assert band_for(p).name == name
    assert band_names([p])[0] == name


def test_band_rejects_impossible_probabilities():
    with pytest.raises(ValueError):
        band_for(1.2)


def test_vectorised_bands_agree_with_band_for():
    p = np.random.default_rng(0).uniform(0, 1, 500)
    assert list(band_names(p)) == [band_for(x).name for x in p]


@pytest.mark.parametrize("p, count", [(0.0, 0), (0.234, 23), (0.236, 24), (0.5, 50), (1.0, 100)])
def test_natural_frequency(p, count):
    assert natural_frequency(p) == count
    assert f"About {count} of 100" in risk.natural_frequency_text(p)


# ---- the patient form's checks --------------------------------------------------------


def test_typical_patient_is_valid_and_uses_codes(patient):
    checked = check_patient(patient)
    assert checked.ok and not checked.warnings and not checked.imputed
    for feat in FEATURES:
        if feat.categories:
            assert patient[feat.name] in feat.codes


def test_hard_limit_rejected_with_the_schema_message(patient):
    checked = check_patient(dict(patient, age=150))
    assert not checked.ok
    assert checked.errors["age"] == feature("age").check(150)
    assert "110" in checked.errors["age"]


def test_unknown_code_rejected(patient):
    checked = check_patient(dict(patient, cp=9))
    assert "cp" in checked.errors and "Typical angina" in checked.errors["cp"]


def test_atypical_value_warns_but_is_accepted(patient):
    checked = check_patient(dict(patient, age=80))
    assert checked.ok
    assert "outside the range the model was trained on" in checked.warnings["age"]


def test_unknown_allowed_only_where_the_schema_says(patient):
    checked = check_patient(dict(patient, ca=None, thal=float("nan")))
    assert checked.ok and checked.imputed == ("ca", "thal")
    assert math.isnan(checked.frame().loc[0, "ca"])
    missing_age = check_patient(dict(patient, age=None))
    assert "age" in missing_age.errors and "required" in missing_age.errors["age"]


def test_unknowns_are_averaged_over_plausible_values_and_the_result_says_so(patient):
    pipeline = logistic()
    result = predict_risk(pipeline, dict(patient, ca=None))
    assert result.imputed == ("ca",)
    assert "Major vessels coloured" in result.imputation_note() and "plausible values" in result.imputation_note()
    # Not the pipeline's median: the average over the plausible fillings (tests/test_unknowns_atypical.py).
    assert result.probability == pytest.approx(positive_probability(pipeline, result.fillings).mean())
    assert predict_risk(pipeline, patient).imputation_note() is None


def test_invalid_patient_is_not_scored(patient):
    with pytest.raises(PatientError) as caught:
        predict_risk(logistic(), dict(patient, trestbps=400))
    assert "trestbps" in caught.value.errors


# ---- uncertainty ----------------------------------------------------------------------


def test_mc_dropout_interval_for_a_network_with_dropout(patient):
    pipeline = ann_with_dropout()
    network = pipeline[-1].network_
    result = predict_risk(pipeline, patient)
    interval = result.interval
    assert interval.available and "Monte Carlo dropout" in interval.method
    assert 0.0 <= interval.lower < interval.upper <= 1.0
    assert interval.upper - interval.lower > 0.005  # dropout really was on
    assert not network.training  # the shared model was never switched to training mode
    again = predict_risk(pipeline, patient).interval
    assert (again.lower, again.upper) == (interval.lower, interval.upper)  # seeded: stable for the same patient
    # The deterministic estimate does not depend on the stochastic passes.
    assert result.probability == pytest.approx(positive_probability(pipeline, check_patient(patient).frame())[0])


@pytest.mark.parametrize(
    "make, reason, words",
    [
        (ann_without_dropout, NoIntervalReason.NO_DROPOUT, "without dropout"),
        (logistic, NoIntervalReason.NOT_A_NETWORK, "not a neural network"),
    ],
)
def test_no_interval_says_why_and_logs_it(patient, make, reason, words, caplog):
    with caplog.at_level(logging.INFO, logger="model.clinic.interval"):
        interval = predict_risk(make(), patient).interval
    assert not interval.available and interval.no_interval_reason is reason and words in interval.detail
    assert "No uncertainty interval" in interval.text()
    assert [r.getMessage() for r in caplog.records if r.name == "model.clinic.interval"] == [
        f"no uncertainty interval for {'MLP' if make is ann_without_dropout else 'Pipeline'}: {reason}"
    ]


def test_an_interval_that_is_there_has_no_reason_for_being_missing(patient):
    interval = predict_risk(ann_with_dropout(), patient).interval
    assert interval.available and interval.no_interval_reason is None


class _ForeignNetwork(torch.nn.Module):
    """A torch network this app did not build: it has a probability but no dropout pass of ours."""

    def predict_proba(self, x):
        return torch.sigmoid(x.sum(dim=1))


def test_a_network_that_cannot_be_sampled_is_a_logged_warning_not_a_silent_gap(patient, caplog):
    pipeline = Pipeline([("scale", StandardScaler()), ("net", SimpleNamespace(network_=_ForeignNetwork()))])
    with caplog.at_level(logging.WARNING, logger="model.clinic.interval"):
        interval = mc_dropout_interval(pipeline, check_patient(patient).frame())
    assert not interval.available and interval.no_interval_reason is NoIntervalReason.UNSUPPORTED_NETWORK
    assert "not one this app built" in interval.detail
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "model.clinic.interval"]
    assert len(warnings) == 1 and "_ForeignNetwork" in warnings[0].getMessage()


def test_a_model_read_from_a_bundle_is_split_like_its_pipeline(patient):
    from model.serving.bundle import LoadedModel

    pipeline = ann_with_dropout()
    preprocess, network = risk.split_network(LoadedModel(pipeline, {}))
    assert network is pipeline[-1].network_ and preprocess.steps == pipeline[:-1].steps
    loaded = mc_dropout_interval(LoadedModel(pipeline, {}), check_patient(patient).frame())
    assert loaded == mc_dropout_interval(pipeline, check_patient(patient).frame())


def test_a_model_that_is_not_a_pipeline_gets_no_interval_and_no_error(patient):
    # A bare estimator is scored through its own predict_proba; nothing is indexed, nothing swallowed.
    bare = logistic()[-1]
    assert risk.split_network(bare) == (None, None)
    assert (
        mc_dropout_interval(bare, check_patient(patient).frame()).no_interval_reason is NoIntervalReason.NOT_A_NETWORK
    )


# ---- what-if and population -----------------------------------------------------------


def test_what_if_scores_both_versions(patient):
    pipeline = ann_with_dropout()
    change = what_if(pipeline, patient, "cp", 1)
    before = predict_risk(pipeline, patient).probability
    after = predict_risk(pipeline, dict(patient, cp=1)).probability
    assert change.old_probability == pytest.approx(before)
    assert change.new_probability == pytest.approx(after)
    assert change.change == pytest.approx(after - before)
    assert "Typical angina" in change.text()


def test_what_if_rejects_an_impossible_value(patient):
    with pytest.raises(PatientError) as caught:
        what_if(logistic(), patient, "thalach", 400)
    assert list(caught.value.errors) == ["thalach"]


def test_percentile_counts_lower_risks_and_half_the_ties():
    risks = np.array([0.1, 0.2, 0.3, 0.4])
    assert percentile_of(0.25, risks) == 50.0
    assert percentile_of(0.05, risks) == 0.0
    assert percentile_of(0.3, risks) == pytest.approx(62.5)
    with pytest.raises(ValueError):
        percentile_of(0.5, np.array([]))


def test_population_risks_cover_every_patient():
    data = cleveland()
    risks = risk.population_risks(logistic(), data)
    assert risks.shape == (len(data),) and np.all((risks >= 0) & (risks <= 1))


# ---- batch scoring --------------------------------------------------------------------


@pytest.fixture
def batch():
    frame = cleveland().head(8).astype(object).reset_index(drop=True)
    frame.loc[1, "age"] = "abc"  # not a number
    frame.loc[3, "chol"] = 5000  # impossible
    frame.loc[4, "ca"] = np.nan  # unknown: imputed
    frame.loc[5, ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg"]] = np.nan  # too little left
    return frame


def test_batch_scores_valid_rows_and_lists_invalid_ones(batch):
    pipeline = logistic()
    result = score_batch(pipeline, batch)
    assert list(result.invalid["row"]) == [2, 4, 6]  # 1-based, first patient below the header = 1
    reasons = dict(zip(result.invalid["row"], result.invalid["reasons"], strict=True))
    assert "'abc' is not a number" in reasons[2]
    assert reasons[4] == feature("chol").check(5000)
    assert "features given" in reasons[6]
    assert list(result.scored["row"]) == [1, 3, 5, 7, 8]
    assert result.scored.loc[result.scored["row"] == 5, "imputed"].item() == "Major vessels coloured"
    valid = batch.drop(index=[1, 3, 5]).apply(pd.to_numeric)
    expected = np.round(100 * positive_probability(pipeline, valid), 1)
    complete = (result.scored["row"] != 5).to_numpy()  # row 5's unknown is averaged (test_unknowns_atypical.py)
    assert np.allclose(result.scored["risk_percent"][complete], expected[complete])
    unknown = result.scored[~complete].iloc[0]
    assert unknown["unknown_low_percent"] <= unknown["risk_percent"] <= unknown["unknown_high_percent"]
    assert set(result.scored["risk_band"]) <= {b.name for b in RISK_BANDS}
    assert "5 of 8 rows scored" in result.summary()


def test_batch_table_keeps_file_order(batch):
    table = score_batch(logistic(), batch).as_table()
    assert list(table["row"]) == list(range(1, 9))
    assert table.loc[table["row"] == 2, "problem"].item() != ""
    assert table.loc[table["row"] == 1, "problem"].item() == ""


def test_batch_missing_column_is_a_clear_error(batch):
    with pytest.raises(BatchError, match="thalach"):
        score_batch(logistic(), batch.drop(columns=["thalach"]))
    with pytest.raises(BatchError, match="no patients"):
        score_batch(logistic(), batch.iloc[0:0])
    with pytest.raises(BatchError, match="at most 3"):
        score_batch(logistic(), batch, max_rows=3)


def test_batch_with_every_row_invalid_still_answers(batch):
    frame = batch.copy()
    frame["age"] = 500
    result = score_batch(logistic(), frame)
    assert result.scored.empty and len(result.invalid) == len(frame)


def test_a_large_batch_is_scored_in_chunks_as_it_would_be_at_once(batch, monkeypatch):
    """Chunks bound the memory of a 200,000-row file: every column is what one pass gives (each chunk's dropout
    passes have their own seed, so only the intervals differ), the row order is kept and progress is told."""
    pipeline = ann_with_dropout()
    frame = pd.concat([batch] * 3, ignore_index=True)  # 24 rows, 15 of them valid
    at_once = score_batch(pipeline, frame).scored
    monkeypatch.setattr(batch_scoring, "BATCH_CHUNK_ROWS", 4)
    heard = []
    in_chunks = score_batch(pipeline, frame, progress=lambda fraction, message: heard.append((fraction, message)))
    chunked = in_chunks.scored
    assert list(chunked.columns) == list(at_once.columns)
    same = [column for column in at_once.columns if not column.startswith("interval_")]
    pd.testing.assert_frame_equal(chunked[same], at_once[same])
    pd.testing.assert_frame_equal(chunked.iloc[:4], at_once.iloc[:4])  # the first chunk draws as one pass did
    assert chunked["interval_low_percent"].notna().all()
    assert [fraction for fraction, _ in heard] == [0.0, 4 / 15, 8 / 15, 12 / 15, 1.0]
    assert heard[1][1] == "Scoring patients 5 to 8 of 15" and heard[-1][1] == "Scored 15 patients"


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_read_batch_csv_keeps_a_file_with_bad_rows(batch):
    data = cleveland().head(6).copy()
    data["chol"] = data["chol"].astype(object)
    data.loc[2, "chol"] = 5000
    imported = read_batch_csv(_csv(data))
    assert not imported.report.ok  # the importer refuses it for training...
    result = score_batch(logistic(), imported)  # ...but the other rows are still scored
    assert list(result.invalid["row"]) == [3] and len(result.scored) == 5


def test_read_batch_csv_refuses_a_file_that_is_not_patients():
    imported = read_batch_csv(b"name,score\nann,3\nbob,4\n")
    assert imported.frame is None and not imported.report.ok
    assert "missing column" in imported.report.as_text()
    with pytest.raises(BatchError, match="missing column"):
        score_batch(logistic(), imported)


def test_the_set_aside_rows_come_from_the_import_result_not_from_the_frame(monkeypatch):
    """The importer's good rows are not checked again, and its set-aside rows are reported with its reasons:
    nothing travels in frame.attrs or is guessed from the index name."""
    data = cleveland().head(6).copy()
    data["chol"] = data["chol"].astype(object)
    data.loc[2, "chol"] = 5000
    imported = read_batch_csv(_csv(data))
    checked_again = []
    monkeypatch.setattr(batch_scoring, "set_aside_bad_rows", lambda frame: checked_again.append(frame))
    good = imported.frame.copy()
    good.attrs.clear()  # whatever the importer does with attrs, the result is what counts
    result = score_batch(logistic(), ImportResult(good, imported.report))
    assert checked_again == []
    assert list(result.invalid["row"]) == [3] and result.invalid["reasons"].item() == feature("chol").check(5000)
    assert list(result.scored["row"]) == [1, 2, 4, 5, 6]


def test_a_plain_frame_is_checked_as_the_importer_checks_a_file(batch):
    # A notebook's frame, even one whose index is named like the importer's, is checked and numbered from 1.
    named = batch.rename_axis("row")
    result = score_batch(logistic(), named)
    assert list(result.invalid["row"]) == [2, 4, 6] and list(result.scored["row"]) == [1, 3, 5, 7, 8]


def test_an_import_read_for_training_is_scored_with_rows_numbered_from_one():
    imported = read_user_csv(_csv(cleveland().head(4)))  # bad_rows="refuse": index 0..3
    result = score_batch(logistic(), imported)
    assert list(result.scored["row"]) == [1, 2, 3, 4] and result.invalid.empty


@pytest.mark.parametrize("make, reason", [(logistic, NoIntervalReason.NOT_A_NETWORK), (ann_with_dropout, None)])
def test_the_batch_says_why_its_interval_columns_are_empty(batch, make, reason):
    result = score_batch(make(), batch)
    assert result.no_interval_reason is reason
    if reason is None:
        assert result.interval_note is None and result.scored["interval_low_percent"].notna().all()
    else:
        assert "not a neural network" in result.interval_note and result.scored["interval_low_percent"].isna().all()


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_read_batch_csv_sets_bad_rows_aside_in_a_non_utf8_file(encoding):
    data = cleveland().head(6).copy()
    data["chol"] = data["chol"].astype(object)
    data.loc[2, "chol"] = 5000
    data.insert(len(data.columns), "note", ["café"] * len(data))  # a character UTF-8 and latin-1 spell apart
    imported = read_batch_csv(data.to_csv(index=False).encode(encoding))
    assert not imported.report.ok and imported.frame is not None
    result = score_batch(logistic(), imported)
    assert list(result.invalid["row"]) == [3] and len(result.scored) == 5


def test_read_batch_csv_scores_a_kaggle_coded_file_around_its_bad_row():
    from model.data.codings import uci_to_kaggle

    data = uci_to_kaggle(cleveland().head(6).dropna().reset_index(drop=True))
    data["cp"] = data["cp"].astype(object)
    data.loc[2, "cp"] = 9  # no Kaggle code
    data.loc[4, "chol"] = 5000  # impossible
    imported = read_batch_csv(_csv(data))
    assert imported.report.coding == "kaggle" and imported.frame is not None
    result = score_batch(logistic(), imported)
    reasons = dict(zip(result.invalid["row"], result.invalid["reasons"], strict=True))
    assert sorted(reasons) == [3, 5] and "not a code of the Kaggle coding" in reasons[3]
    assert reasons[5] == feature("chol").check(5000)
    assert list(result.scored["row"]) == [r for r in range(1, len(data) + 1) if r not in (3, 5)]


def test_mc_dropout_interval_ignores_trainings_running_in_other_threads(patient):
    pipeline = ann_with_dropout()
    frame = check_patient(patient).frame()
    expected = mc_dropout_interval(pipeline, frame)
    X, y = make_classification(300, 10, random_state=0)
    config = ANNConfig(hidden_layers=[LayerConfig(32, "relu", 0.5)], epochs=5_000, batch_size=8, device="cpu")
    stop = threading.Event()
    training = threading.Thread(target=train, args=(MLP(config, 10), X, y, config), kwargs=dict(stop_event=stop))

    def other_user():  # code elsewhere in the process that reseeds and draws from torch's global generator
        while not stop.is_set():
            torch.manual_seed(int(time.perf_counter_ns() % 1000))
            torch.rand(64)

    reseeding = threading.Thread(target=other_user)
    training.start()
    reseeding.start()
    try:
        seen = {(i.lower, i.upper) for i in (mc_dropout_interval(pipeline, frame) for _ in range(20))}
    finally:
        stop.set()
        training.join()
        reseeding.join()
    assert seen == {(expected.lower, expected.upper)}
