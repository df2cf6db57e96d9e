"""model/evaluation/validation_summary.py: the stored decision curve and subgroups equal a direct computation from
the fold predictions, survive strict JSON, and a hand-edited summary is refused with a reason, never an exception."""

from __future__ import annotations

import copy
import json
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from model.data.datasets import load_dataset
from model.data.preprocessing import features_and_target
from model.evaluation.classical import with_preprocessing
from model.evaluation.cross_validation import cross_validate_models
from model.evaluation.subgroups import ALL_PATIENTS, COLUMNS, OK, TOO_SMALL
from model.evaluation.validation_summary import (
    MAX_SUBGROUPS,
    SUMMARY_VERSION,
    read_validation_summary,
    validation_summary,
)

MODEL = "Logistic"
ROUNDED = 0.5e-4 + 1e-12  # stored values are rounded to 4 decimals


@cache
def cv():
    """A small real cross-validation (5 folds x 2 repeats) of a logistic model on the Cleveland data."""
    frame = load_dataset("cleveland")
    X, y = features_and_target(frame)
    result = cross_validate_models(
        {MODEL: with_preprocessing(LogisticRegression(max_iter=2000))}, X, y, n_splits=5, n_repeats=2, seed=3
    )
    return result, frame


@cache
def stored() -> dict:
    result, frame = cv()
    return validation_summary(result, MODEL, frame, n_bootstrap=200)


def fresh() -> dict:
    return copy.deepcopy(stored())


# ------------------------------------------------------------------ the numbers, against a slow reference
def slow_net_benefit(y, proba, threshold: float) -> float:
    """Count patient by patient: tested when the risk reaches the threshold."""
    tp = fp = 0
    for outcome, risk in zip(y, proba, strict=True):
        if risk >= threshold:
            tp += outcome == 1
            fp += outcome == 0
    n = len(y)
    return tp / n - fp / n * threshold / (1 - threshold)


def test_decision_curve_equals_a_patient_by_patient_count_over_the_repeats():
    result, _ = cv()
    curve = stored()["decision_curve"]
    y = [int(v) for v in result.y]
    prevalence = sum(y) / len(y)
    for index in range(0, len(curve["thresholds"]), 7):  # every 7th threshold keeps the slow loop short
        t = curve["thresholds"][index]
        per_repeat = [slow_net_benefit(y, list(row), t) for row in result.oof[MODEL]]
        assert curve["net_benefit"][index] == pytest.approx(sum(per_repeat) / len(per_repeat), abs=ROUNDED)
        assert curve["net_benefit_low"][index] == pytest.approx(min(per_repeat), abs=ROUNDED)
        assert curve["net_benefit_high"][index] == pytest.approx(max(per_repeat), abs=ROUNDED)
        assert curve["treat_all"][index] == pytest.approx(prevalence - (1 - prevalence) * t / (1 - t), abs=ROUNDED)
    assert curve["thresholds"] == [round(0.01 * k, 2) for k in range(1, 100)]


def test_subgroups_equal_a_direct_computation_on_the_mean_out_of_fold_risk():
    result, frame = cv()
    mean_risk = np.mean(result.oof[MODEL], axis=0)
    rows = {(row["grouping"], row["subgroup"]): row for row in stored()["subgroups"]["rows"]}
    women = (frame["sex"] == 0).to_numpy()
    for key, members in (((ALL_PATIENTS, ALL_PATIENTS), np.ones(len(frame), bool)), (("Sex", "Female"), women)):
        row = rows[key]
        y, p = result.y[members], mean_risk[members]
        assert row["n"] == int(members.sum()) and row["events"] == int(y.sum())
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=ROUNDED)
        assert row["observed_expected"] == pytest.approx(y.sum() / p.sum(), abs=ROUNDED)
        assert row["auc_low"] <= row["roc_auc"] <= row["auc_high"]
        assert row["verdict"] == OK
    ages = [key[1] for key in rows if key[0] == "Age"]
    assert ages == ["< 45", "45–54", "55–64", "≥ 65"]
    assert sum(rows[("Age", band)]["n"] for band in ages) == len(frame)


def test_a_subgroup_too_small_to_say_is_stored_as_null_and_read_back():
    result, frame = cv()
    summary = validation_summary(result, MODEL, frame, min_size=60, n_bootstrap=50)
    small = [row for row in summary["subgroups"]["rows"] if row["verdict"] == TOO_SMALL]
    assert small and all(row["roc_auc"] is None and row["reason"] for row in small)
    read = read_validation_summary(json.loads(json.dumps(summary, allow_nan=False)))
    assert read.problem == ""
    table = read.summary.subgroup_table()
    assert list(table.columns) == list(COLUMNS)
    assert table.loc[table["verdict"] == TOO_SMALL, "roc_auc"].isna().all()


def test_summary_is_strict_json_small_and_reads_back_equal():
    text = json.dumps(stored(), allow_nan=False)
    assert len(text) < 20_000
    summary, problem = read_validation_summary(json.loads(text))
    assert problem == "" and summary is not None
    assert summary.n_patients == 303 and summary.n_events == 138 and summary.n_repeats == 2 and summary.n_splits == 5
    curve = stored()["decision_curve"]
    np.testing.assert_array_equal(summary.curve.net_benefit[MODEL], curve["net_benefit"])
    np.testing.assert_array_equal(summary.curve.treat_all, curve["treat_all"])
    assert summary.prevalence == pytest.approx(138 / 303)


def test_useful_ranges_are_the_runs_where_the_model_beats_both_defaults():
    summary = read_validation_summary(stored()).summary
    curve = summary.curve
    better = [
        nb > max(all_, 0.0) for nb, all_ in zip(curve.net_benefit[MODEL], curve.treat_all, strict=True)
    ]  # the slow way: one threshold at a time
    covered = set()
    for low, high in summary.useful_ranges():
        covered |= {t for t in curve.thresholds if low <= t <= high}
    assert covered == {t for t, ok in zip(curve.thresholds, better, strict=True) if ok}


def test_the_data_must_be_the_cross_validated_data():
    result, frame = cv()
    with pytest.raises(ValueError, match="patients"):
        validation_summary(result, MODEL, frame.iloc[:-1])
    flipped = frame.assign(target=1 - frame["target"])
    with pytest.raises(ValueError, match="outcomes"):
        validation_summary(result, MODEL, flipped)
    with pytest.raises(ValueError, match="not one of the cross-validated models"):
        validation_summary(result, "ANN", frame)


def test_site_subgroups_appear_when_the_data_have_sites():
    result, frame = cv()
    with_sites = frame.assign(site=np.where(np.arange(len(frame)) % 3 == 0, "hungarian", "cleveland"))
    rows = validation_summary(result, MODEL, with_sites, n_bootstrap=20)["subgroups"]["rows"]
    sites = {row["subgroup"]: row["n"] for row in rows if row["grouping"] == "Site"}
    assert sites == {"Cleveland Clinic Foundation": 202, "Hungarian Institute of Cardiology, Budapest": 101}


# ------------------------------------------------------------------ hostile metadata
def _edit(path: tuple, value):
    data = fresh()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _drop(path: tuple):
    data = fresh()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


HOSTILE = {
    "not an object": lambda: [1, 2, 3],
    "none": lambda: None,
    "a later version": lambda: _edit(("version",), SUMMARY_VERSION + 1),
    "version true": lambda: _edit(("version",), True),
    "model not text": lambda: _edit(("model",), 7),
    "model very long": lambda: _edit(("model",), "x" * 10_000),
    "patients as text": lambda: _edit(("n_patients",), "303"),
    "patients true": lambda: _edit(("n_patients",), True),
    "patients negative": lambda: _edit(("n_patients",), -3),
    "patients enormous": lambda: _edit(("n_patients",), 10**400),
    "more events than patients": lambda: _edit(("n_events",), 304),
    "one fold": lambda: _edit(("n_splits",), 1),
    "no repeats": lambda: _edit(("n_repeats",), 0),
    "no curve": lambda: _drop(("decision_curve",)),
    "curve a list": lambda: _edit(("decision_curve",), [0.1]),
    "thresholds not increasing": lambda: _edit(("decision_curve", "thresholds"), [0.5] * 99),
    "threshold of 1": lambda: _edit(("decision_curve", "thresholds"), [round(0.01 * k, 2) for k in range(2, 101)]),
    "threshold NaN": lambda: _edit(("decision_curve", "thresholds"), [math.nan] * 99),
    "threshold infinite": lambda: _edit(("decision_curve", "thresholds"), [math.inf] * 99),
    "no thresholds": lambda: _edit(("decision_curve", "thresholds"), []),
    "too many thresholds": lambda: _edit(("decision_curve", "thresholds"), [0.5] * 100_000),
    "net benefit text": lambda: _edit(("decision_curve", "net_benefit"), ["0.1"] * 99),
    "net benefit too short": lambda: _edit(("decision_curve", "net_benefit"), [0.1] * 98),
    "net benefit above 1": lambda: _edit(("decision_curve", "net_benefit"), [2.0] * 99),
    "net benefit huge int": lambda: _edit(("decision_curve", "net_benefit"), [10**400] * 99),
    "mean below the lowest repeat": lambda: _edit(("decision_curve", "net_benefit_low"), [0.9] * 99),
    "treat all nested": lambda: _edit(("decision_curve", "treat_all"), [[0.1]] * 99),
    "no subgroups": lambda: _drop(("subgroups",)),
    "rows not a list": lambda: _edit(("subgroups", "rows"), {"a": 1}),
    "too many rows": lambda: _edit(("subgroups", "rows"), [fresh()["subgroups"]["rows"][0]] * (MAX_SUBGROUPS + 1)),
    "row not an object": lambda: _edit(("subgroups", "rows", 0), "All patients"),
    "row larger than the data": lambda: _edit(("subgroups", "rows", 0, "n"), 304),
    "row events above n": lambda: _edit(("subgroups", "rows", 1, "events"), 10_000),
    "row verdict unknown": lambda: _edit(("subgroups", "rows", 0, "verdict"), "great"),
    "row AUC above 1": lambda: _edit(("subgroups", "rows", 0, "roc_auc"), 1.5),
    "row judged without AUC": lambda: _edit(("subgroups", "rows", 0, "roc_auc"), None),
    "row O/E negative": lambda: _edit(("subgroups", "rows", 0, "observed_expected"), -1.0),
    "row label not text": lambda: _edit(("subgroups", "rows", 0, "subgroup"), {"x": 1}),
    "row reason very long": lambda: _edit(("subgroups", "rows", 0, "reason"), "y" * 5000),
    "bootstrap zero": lambda: _edit(("subgroups", "n_bootstrap"), 0),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_summary_is_refused_with_a_reason(case):
    summary, problem = read_validation_summary(HOSTILE[case]())
    assert summary is None
    assert isinstance(problem, str) and problem


def test_the_reason_names_the_field():
    assert "n_events" in read_validation_summary(_edit(("n_events",), 304)).problem
    assert "rows[1]" in read_validation_summary(_edit(("subgroups", "rows", 1, "events"), 10_000)).problem
    assert "version" in read_validation_summary(_edit(("version",), 2)).problem


JUNK = [None, True, -1, 0, 10**30, 10**400, 1e308, math.nan, -math.inf, "", "x" * 300, [], [None], {}, {"a": [1]}]


def _paths(data, prefix=()):
    """Every path to a leaf or a container in the summary (list items: the first two only)."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data[:2]):
            yield from _paths(value, (*prefix, index))


def test_any_field_replaced_by_junk_is_refused_or_read_never_raised():
    rng = np.random.default_rng(0)
    paths = [path for path in _paths(stored()) if path]
    for path in paths:
        for junk in rng.choice(np.array(JUNK, dtype=object), size=4, replace=False):
            reading = read_validation_summary(_edit(path, junk))  # an exception here fails the test
            assert (reading.summary is None) == bool(reading.problem)


def test_fields_the_reader_does_not_use_are_ignored():
    data = fresh()
    data["comment"] = "edited by hand"
    data["decision_curve"]["extra"] = [1, 2]
    assert read_validation_summary(data).problem == ""


def test_a_frame_index_need_not_start_at_zero():
    result, frame = cv()
    shifted = frame.set_index(pd.RangeIndex(1000, 1000 + len(frame)))
    rows = validation_summary(result, MODEL, shifted, n_bootstrap=20)["subgroups"]["rows"]
    assert {row["subgroup"]: row["n"] for row in rows if row["grouping"] == "Sex"} == {
        "Female": int((frame["sex"] == 0).sum()),
        "Male": int((frame["sex"] == 1).sum()),
    }
