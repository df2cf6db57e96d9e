"""Discrimination and calibration by subgroup: the numbers, their intervals, and the groupings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from model.data.datasets import SITE_LABELS, load_dataset
from model.evaluation.subgroups import (
    COLUMNS,
    NOT_RECORDED,
    OK,
    TOO_SMALL,
    age_bands,
    bootstrap_auc_interval,
    observed_expected,
    sex_groups,
    site_groups,
    standard_groups,
    subgroup_performance,
)


def _calibrated(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from the predicted risks themselves: calibrated by construction."""
    rng = np.random.default_rng(seed)
    proba = rng.uniform(0.05, 0.95, n)
    return (rng.random(n) < proba).astype(int), proba


def test_a_subgroup_of_one_class_is_too_small_to_say():
    y, proba = _calibrated(400)
    y[:100] = 0  # the first 100 patients: all healthy
    groups = {"block": np.where(np.arange(400) < 100, "healthy only", "mixed")}
    table = subgroup_performance(y, proba, groups, n_bootstrap=200).set_index("subgroup")
    assert table.loc["healthy only", "verdict"] == TOO_SMALL
    assert np.isnan(table.loc["healthy only", "roc_auc"])
    assert np.isnan(table.loc["healthy only", "auc_low"])
    assert "without disease" in table.loc["healthy only", "reason"]
    assert table.loc["mixed", "verdict"] == OK
    assert table.loc["mixed", "reason"] == ""


def test_a_small_subgroup_is_too_small_to_say():
    y, proba = _calibrated(200)
    table = subgroup_performance(y, proba, {"g": ["few"] * 20 + ["many"] * 180}, n_bootstrap=100)
    assert table.set_index("subgroup").loc["few", "verdict"] == TOO_SMALL
    assert table.set_index("subgroup").loc["few", "reason"] == "20 patients; at least 30 needed"


def test_auc_per_subgroup_equals_sklearn_and_intervals_cover_the_estimates():
    y, proba = _calibrated(1200)
    labels = np.random.default_rng(1).choice(["a", "b", "c"], len(y))
    table = subgroup_performance(y, proba, {"letter": labels}, n_bootstrap=300)
    assert list(table.columns) == list(COLUMNS)
    assert list(table["subgroup"]) == list(pd.unique(labels))  # as first seen
    for row in table.itertuples():
        members = labels == row.subgroup
        assert row.roc_auc == roc_auc_score(y[members], proba[members])
        assert row.n == members.sum() and row.events == y[members].sum()
        assert row.auc_low <= row.roc_auc <= row.auc_high
        assert row.oe_low <= row.observed_expected <= row.oe_high
        assert row.verdict == OK


def test_perfectly_calibrated_data_have_observed_over_expected_near_one():
    y, proba = _calibrated(3000)
    row = subgroup_performance(y, proba, {"all": ["everyone"] * len(y)}, n_bootstrap=100).iloc[0]
    assert abs(row.observed_expected - 1) < 0.08
    assert row.oe_low < 1 < row.oe_high
    assert abs(row.calibration_in_the_large) < 0.15


def test_a_model_that_halves_the_risk_is_caught():
    y, proba = _calibrated(3000)
    row = subgroup_performance(y, proba / 2, {"all": ["everyone"] * len(y)}, n_bootstrap=100).iloc[0]
    assert row.oe_low > 1.5  # twice the events the model expects
    assert row.calibration_in_the_large > 0.5  # positive: the model underestimates risk


def test_observed_expected_interval_is_the_exact_poisson_one():
    # Garwood's 95% interval for 10 observed events is 4.795 to 18.390.
    ratio, low, high = observed_expected(np.ones(10), np.ones(10))
    assert ratio == 1.0
    assert low == pytest.approx(0.4795, abs=1e-4)
    assert high == pytest.approx(1.8390, abs=1e-4)
    _, low_none, high_none = observed_expected(np.zeros(10), np.full(10, 0.2))
    assert low_none == 0.0 and high_none == pytest.approx(3.689 / 2, abs=1e-3)


def test_bootstrap_auc_handles_separation_and_ties():
    assert bootstrap_auc_interval([1, 1, 1, 0, 0, 0], [0.7, 0.8, 0.9, 0.1, 0.2, 0.3], 200) == (1.0, 1.0)
    assert bootstrap_auc_interval([1, 1, 0, 0], [0.5, 0.5, 0.5, 0.5], 200) == (0.5, 0.5)
    assert all(np.isnan(bootstrap_auc_interval([1, 1], [0.5, 0.6], 200)))


def test_the_same_seed_gives_the_same_numbers():
    y, proba = _calibrated(500)
    groups = {"half": np.repeat(["first", "second"], 250)}
    first = subgroup_performance(y, proba, groups, n_bootstrap=200, seed=3)
    again = subgroup_performance(y, proba, groups, n_bootstrap=200, seed=3)
    other = subgroup_performance(y, proba, groups, n_bootstrap=200, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["auc_low"], other["auc_low"])
    np.testing.assert_array_equal(first["roc_auc"], other["roc_auc"])


def test_missing_labels_form_their_own_subgroup():
    y, proba = _calibrated(100)
    labels = pd.Series(["x"] * 60 + [None] * 40)
    table = subgroup_performance(y, proba, {"g": labels}, n_bootstrap=50)
    assert list(table["subgroup"]) == ["x", NOT_RECORDED]
    assert list(table["n"]) == [60, 40]


def test_labels_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="3 labels for 4 patients"):
        subgroup_performance([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], {"g": ["a", "b", "a"]})


@pytest.mark.parametrize(
    ("y", "proba", "message"),
    [
        ([0, 1], [0.1], "2 outcomes but 1"),
        ([0, 2], [0.1, 0.9], "0 .no disease. or 1"),
        ([0, 1], [0.1, np.nan], "none missing"),
        ([0, 1], [0.1, 1.5], "from 0 to 1"),
    ],
)
def test_bad_outcomes_or_risks_are_refused_in_words(y, proba, message):
    with pytest.raises(ValueError, match=message):
        subgroup_performance(y, proba, {"g": ["a"] * len(y)})


def test_age_bands_cover_every_row_exactly_once():
    frame = load_dataset()
    bands = age_bands(frame)
    assert list(bands.cat.categories) == ["< 45", "45–54", "55–64", "≥ 65"]
    assert bands.notna().all() and len(bands) == len(frame)
    age = frame["age"]
    limits = {"< 45": (0, 45), "45–54": (45, 55), "55–64": (55, 65), "≥ 65": (65, 200)}
    inside = np.column_stack([(age >= low) & (age < high) for low, high in limits.values()])
    assert (inside.sum(axis=1) == 1).all()
    for label, (low, high) in limits.items():
        assert ((age[bands == label] >= low) & (age[bands == label] < high)).all()


def test_age_bands_refuse_ages_outside_and_bad_edges():
    frame = pd.DataFrame({"age": [30.0, 70.0, np.nan]})
    assert age_bands(frame).isna().tolist() == [False, False, True]
    with pytest.raises(ValueError, match="outside the bands"):
        age_bands(frame, edges=(40, 50, 60))
    with pytest.raises(ValueError, match="increasing"):
        age_bands(frame, edges=(0, 50, 50, 200))


def test_sex_groups_use_the_schema_labels():
    frame = pd.DataFrame({"sex": [1.0, 0.0, np.nan, 1.0]})
    groups = sex_groups(frame)
    assert groups.tolist()[:2] == ["Male", "Female"] and pd.isna(groups.iloc[2])
    assert list(groups.cat.categories) == ["Female", "Male"]


def test_site_groups_and_the_standard_set():
    frame = load_dataset()
    assert site_groups(frame) is None
    assert list(standard_groups(frame)) == ["Sex", "Age"]
    with_site = frame.assign(site=["cleveland"] * 150 + ["va"] * (len(frame) - 150))
    groups = standard_groups(with_site)
    assert list(groups) == ["Sex", "Age", "Site"]
    assert set(groups["Site"]) == {SITE_LABELS["cleveland"], SITE_LABELS["va"]}


def test_the_standard_groups_on_cleveland_give_one_row_per_subgroup():
    frame = load_dataset()
    y = frame["target"].to_numpy()
    proba = np.clip(0.2 + 0.6 * y + np.random.default_rng(0).normal(0, 0.2, len(y)), 0.01, 0.99)
    table = subgroup_performance(y, proba, standard_groups(frame), n_bootstrap=100)
    assert list(table["grouping"]) == ["Sex"] * 2 + ["Age"] * 4
    assert list(table["subgroup"]) == ["Female", "Male", "< 45", "45–54", "55–64", "≥ 65"]
    assert table.groupby("grouping")["n"].sum().to_dict() == {"Age": len(frame), "Sex": len(frame)}
