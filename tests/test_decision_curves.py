"""Decision-curve analysis: hand-computed net benefit, the default strategies, dcurves' numbers, harm ratios."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES
from model.evaluation.cross_validation import cross_validate_models
from model.evaluation.decision_curves import (
    DEFAULT_THRESHOLDS,
    TREAT_ALL,
    TREAT_NONE,
    decision_curves,
    decision_curves_over_repeats,
    harm_ratio_from_threshold,
    net_benefit,
    operating_point_at,
    threshold_from_harm_ratio,
    treat_all,
)

# Ten patients, four with disease. Two healthy patients sit exactly at 0.3 to pin down ">=".
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
PROBA = np.array([0.9, 0.7, 0.4, 0.2, 0.8, 0.5, 0.3, 0.3, 0.1, 0.05])


def test_net_benefit_of_ten_patients_by_hand():
    # pt 0.2: TP 4, FP 4 -> 0.4 - 0.4 * 0.25; pt 0.3: TP 3, FP 4 (both 0.3s count) -> 0.3 - 0.4 * 3/7;
    # pt 0.5: TP 2, FP 2 -> 0.2 - 0.2 * 1; pt 0.95: no one tested -> 0.
    got = net_benefit(Y, PROBA, [0.2, 0.3, 0.5, 0.95])
    np.testing.assert_allclose(got, [0.3, 9 / 70, 0.0, 0.0], atol=1e-15)


def test_treat_all_is_prevalence_less_weighted_healthy():
    np.testing.assert_allclose(treat_all(Y, [0.2, 0.5]), [0.4 - 0.6 * 0.25, 0.4 - 0.6 * 1.0], atol=1e-15)
    thresholds = np.array([0.05, 0.3, 0.7])
    np.testing.assert_allclose(treat_all(Y, thresholds), 0.4 - 0.6 * thresholds / (1 - thresholds))


def test_testing_everyone_by_model_equals_treat_all():
    everyone = np.ones(len(Y))
    np.testing.assert_allclose(net_benefit(Y, everyone, DEFAULT_THRESHOLDS), treat_all(Y, DEFAULT_THRESHOLDS))


@pytest.mark.parametrize(
    ("y", "proba", "thresholds"),
    [
        ([0, 1], [0.2], [0.5]),
        ([0, 2], [0.2, 0.4], [0.5]),
        ([0, 1], [0.2, np.nan], [0.5]),
        ([0, 1], [0.2, 1.2], [0.5]),
        ([0, 1], [0.2, 0.4], [0.0]),
        ([0, 1], [0.2, 0.4], [1.0]),
        ([0, 1], [0.2, 0.4], []),
        ([], [], [0.5]),
    ],
)
def test_bad_inputs_are_refused(y, proba, thresholds):
    with pytest.raises(ValueError):
        net_benefit(y, proba, thresholds)


def _cleveland_probabilities() -> tuple[np.ndarray, np.ndarray]:
    frame = load_dataset()
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(model, frame[list(FEATURE_NAMES)], frame["target"], cv=folds, method="predict_proba")
    return frame["target"].to_numpy(), proba[:, 1]


def test_net_benefit_equals_dcurves_on_cleveland():
    dcurves = pytest.importorskip("dcurves")
    y, proba = _cleveland_probabilities()
    reference = dcurves.dca(
        data=pd.DataFrame({"target": y, "logistic": proba}),
        outcome="target",
        modelnames=["logistic"],
        thresholds=DEFAULT_THRESHOLDS,
    )
    curve = decision_curves(y, {"logistic": proba})
    expected = {
        name: reference[reference["model"] == name].sort_values("threshold")["net_benefit"].to_numpy()
        for name in ("logistic", "all", "none")
    }
    np.testing.assert_allclose(curve.net_benefit["logistic"], expected["logistic"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(curve.treat_all, expected["all"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(expected["none"], 0.0, atol=1e-9)
    # A real model beats testing everyone and no one over some range of thresholds.
    assert curve.beats_defaults("logistic").any()


REFERENCE = Path(__file__).resolve().parent / "data"


def test_net_benefit_equals_the_stored_dcurves_answer():
    """dcurves 1.1.5's net benefit on fixed inputs, kept as data (tests/data/make_dcurves_reference.py
    says how it was made): the check runs everywhere, dcurves installed or not."""
    inputs = pd.read_csv(REFERENCE / "dcurves_input.csv")
    reference = pd.read_csv(REFERENCE / "dcurves_reference.csv")
    y, proba = inputs["target"].to_numpy(), inputs["logistic"].to_numpy()
    curve = decision_curves(y, {"logistic": proba}, thresholds=reference["threshold"].to_numpy())
    np.testing.assert_allclose(curve.net_benefit["logistic"], reference["logistic"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(curve.treat_all, reference["treat_all"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(reference["treat_none"], 0.0, atol=1e-12)


def test_repeats_are_averaged_with_their_range():
    rng = np.random.default_rng(0)
    repeats = np.clip(PROBA + rng.normal(0, 0.1, (3, len(PROBA))), 0, 1)
    curve = decision_curves(Y, {"noisy": repeats, "fixed": PROBA})
    per_repeat = np.array([net_benefit(Y, row) for row in repeats])
    np.testing.assert_allclose(curve.net_benefit["noisy"], per_repeat.mean(axis=0))
    np.testing.assert_allclose(curve.net_benefit_min["noisy"], per_repeat.min(axis=0))
    np.testing.assert_allclose(curve.net_benefit_max["noisy"], per_repeat.max(axis=0))
    assert curve.n_repeats == {"noisy": 3, "fixed": 1}
    np.testing.assert_array_equal(curve.net_benefit_min["fixed"], curve.net_benefit_max["fixed"])
    assert (curve.net_benefit_max["noisy"] > curve.net_benefit_min["noisy"]).any()

    # The same repeats as (y, proba) pairs, each repeat's patients in its own order, give the same curve.
    order = rng.permutation(len(Y))
    pairs = [(Y, repeats[0]), (Y[order], repeats[1][order]), (Y, repeats[2])]
    np.testing.assert_allclose(decision_curves_over_repeats({"noisy": pairs}).net_benefit["noisy"], per_repeat.mean(0))


def test_curves_from_a_comparison_result_and_the_plotting_table():
    frame = load_dataset()
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
    result = cross_validate_models(
        {"logistic": model}, frame[list(FEATURE_NAMES)], frame["target"], n_splits=3, n_repeats=2
    )
    curve = decision_curves(result.y, result.oof)
    assert curve.n_repeats == {"logistic": 2}
    table = curve.to_frame()
    assert list(dict.fromkeys(table["strategy"])) == ["logistic", TREAT_ALL, TREAT_NONE]
    assert len(table) == 3 * len(DEFAULT_THRESHOLDS)
    assert (table["low"] <= table["net_benefit"] + 1e-15).all()
    assert (table["net_benefit"] <= table["high"] + 1e-15).all()
    assert (table.loc[table["strategy"] == TREAT_NONE, "net_benefit"] == 0).all()


@pytest.mark.parametrize(("ratio", "threshold"), [(1, 0.5), (4, 0.2), (9.0, 0.1), (100, 1 / 101)])
def test_harm_ratio_maps_to_a_threshold_and_back(ratio, threshold):
    assert threshold_from_harm_ratio(ratio) == pytest.approx(threshold, abs=1e-15)
    assert harm_ratio_from_threshold(threshold) == pytest.approx(ratio)


@pytest.mark.parametrize("ratio", [0.5, 0, -3, 100.5, math.inf, math.nan, True, "4", None])
def test_harm_ratio_out_of_bounds_is_refused_in_words(ratio):
    with pytest.raises(ValueError, match="harm ratio"):
        threshold_from_harm_ratio(ratio)


def test_operating_point_at_a_threshold():
    point = operating_point_at(Y, PROBA, 0.3)
    assert (point.tp, point.fp, point.fn, point.tn) == (3, 4, 1, 2)
    assert point.sensitivity == pytest.approx(0.75)
    assert point.specificity == pytest.approx(1 / 3)
    assert point.number_needed_to_test == pytest.approx(7 / 3)
    assert point.net_benefit == pytest.approx(9 / 70)
    assert point.treat_all == pytest.approx(0.4 - 0.6 * 3 / 7)
    assert point.harm_ratio == pytest.approx(7 / 3)


def test_number_needed_to_test_edge_cases():
    assert operating_point_at(Y, PROBA, 0.85).number_needed_to_test == 1.0  # one test, one case
    assert operating_point_at([0, 1], [0.9, 0.1], 0.5).number_needed_to_test == math.inf  # tests, no case
    nobody = operating_point_at(Y, PROBA, 0.95)
    assert nobody.number_needed_to_test is None
    assert nobody.net_benefit == 0.0
