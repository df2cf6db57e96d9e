"""model.transport: reduced models at other sites, logistic recalibration, the recalibrated network.

Every number is checked against an obvious reference: scikit-learn's LogisticRegression on the remaining
columns, LogisticRegression(C=huge) on the logits, sigmoid(a + b·logit) of the original network.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from model.data.datasets import load_dataset, load_uci_sites_from_files
from model.data.preprocessing import feature_groups, make_preprocessor
from model.data.schema import FEATURE_NAMES
from model.evaluation import transport as T
from model.evaluation.classical import classical_models
from model.evaluation.cross_validation import calibration_slope_intercept, make_splits
from model.evaluation.pipelines import ann_pipeline
from model.serving.bundle import load_bundle, save_bundle

LR = "Logistic regression"


@pytest.fixture(scope="module")
def cleveland() -> pd.DataFrame:
    return load_dataset("cleveland")


@pytest.fixture(scope="module")
def sites(shared_data_dir) -> dict[str, pd.DataFrame]:
    frames = load_uci_sites_from_files(sorted(shared_data_dir.glob("processed.*.data")))
    frames.pop("cleveland")
    return frames


@pytest.fixture(scope="module")
def transport(cleveland, sites) -> T.TransportResult:
    models = [T.TransportModel(LR, lambda: classical_models()[LR]), T.TransportModel("ANN", ann_pipeline)]
    return T.evaluate_transport(models, cleveland, sites, "built-in Cleveland")


def _xy(frame: pd.DataFrame):
    return frame[list(FEATURE_NAMES)], frame["target"].to_numpy()


# ------------------------------------------------------------------ which features are left out
def test_mostly_missing_features_of_each_site(sites):
    assert T.mostly_missing(_xy(sites["hungarian"])[0]) == ["slope", "ca", "thal"]
    assert T.mostly_missing(_xy(sites["va"])[0]) == ["slope", "ca", "thal"]
    assert T.mostly_missing(_xy(sites["switzerland"])[0]) == ["chol", "fbs", "ca"]
    assert T.mostly_missing(_xy(sites["va"])[0], threshold=0.9) == ["ca"]


def test_blank_features_refuses_an_unknown_name(cleveland):
    with pytest.raises(ValueError, match="unknown feature"):
        T.blank_features(cleveland, ["vessels"])


# ------------------------------------------------------------------ blanking = training without the feature
def test_blanked_logistic_regression_equals_logistic_regression_on_the_remaining_columns(cleveland, sites):
    X, y = _xy(cleveland)
    dropped = ["slope", "ca", "thal"]
    ours = T.fit_without(classical_models()[LR], X, y, dropped)

    # Reference: the same preprocessing fitted on all columns, then only the remaining columns' outputs.
    pre = make_preprocessor().fit(X)
    keep = [i for name, idx in feature_groups(pre).items() if name not in dropped for i in idx]
    reference = LogisticRegression(max_iter=2000).fit(pre.transform(X)[:, keep], y)
    X_test = _xy(sites["va"])[0]
    expected = reference.predict_proba(pre.transform(X_test)[:, keep])[:, 1]
    np.testing.assert_allclose(ours.predict_proba(X_test)[:, 1], expected, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: classical_models()[LR], ann_pipeline], ids=["logistic", "ann"])
def test_predictions_do_not_depend_on_a_blanked_feature(cleveland, make):
    X, y = _xy(cleveland)
    fitted = T.fit_without(make(), X, y, ["chol", "ca", "thal"])
    changed = X.head(40).copy()
    changed["chol"], changed["ca"], changed["thal"] = 564.0, 3.0, 7.0
    np.testing.assert_array_equal(fitted.predict_proba(X.head(40)), fitted.predict_proba(changed))
    missing = X.head(40).copy()
    missing[["chol", "ca", "thal"]] = np.nan
    np.testing.assert_array_equal(fitted.predict_proba(X.head(40)), fitted.predict_proba(missing))


# ------------------------------------------------------------------ full vs reduced at the three sites
def test_reduced_models_transport_better_to_hungary_va_and_switzerland(transport):
    m = transport.metrics.set_index(["model", "site", "variant"])
    assert transport.left_out == {
        "hungarian": ["slope", "ca", "thal"],
        "switzerland": ["chol", "fbs", "ca"],
        "va": ["slope", "ca", "thal"],
    }
    for model in (LR, "ANN"):
        va_full, va_reduced = m.loc[(model, "va", T.FULL)], m.loc[(model, "va", T.REDUCED)]
        assert va_full["accuracy"] < 0.6 and va_reduced["accuracy"] > 0.72  # measured: 0.55-0.57 -> 0.75
        assert va_full["mean_predicted"] < 0.45 < 0.65 < va_reduced["mean_predicted"]  # observed 0.745
        assert m.loc[(model, "switzerland", T.REDUCED), "brier"] < m.loc[(model, "switzerland", T.FULL), "brier"]
        assert m.loc[(model, "hungarian", T.REDUCED), "accuracy"] > 0.75
    assert set(transport.metrics["n"]) == {294, 123, 200}
    assert {"roc_auc", "accuracy", "brier", "calibration_intercept", "prevalence", "mean_predicted"} <= set(m.columns)
    assert transport.pipeline(LR, "va", T.REDUCED) is transport.pipeline(LR, "hungarian", T.REDUCED)


def test_a_fitted_model_is_used_as_it_is_for_the_full_variant(cleveland, sites):
    X, y = _xy(cleveland)
    fitted = classical_models()[LR].fit(X, y)
    result = T.evaluate_transport(
        [T.TransportModel(LR, lambda: classical_models()[LR], fitted)], cleveland, {"va": sites["va"]}
    )
    assert result.pipeline(LR, "va", T.FULL) is fitted
    assert result.pipeline(LR, "va", T.REDUCED) is not fitted


def test_site_patients_that_are_training_patients_are_not_scored(cleveland):
    site = pd.concat([cleveland.head(5), cleveland.tail(60)], ignore_index=True)
    result = T.evaluate_transport(
        [T.TransportModel(LR, lambda: classical_models()[LR])], cleveland.iloc[:200], {"local": site}
    )
    assert result.metrics["n"].iloc[0] == 60
    assert any("also in the training data" in w for w in result.warnings)


# ------------------------------------------------------------------ logistic recalibration
def _logits_and_outcomes(seed: int = 0, n: int = 300):
    rng = np.random.RandomState(seed)
    z = rng.normal(0.0, 1.5, n)
    y = (rng.uniform(size=n) < T.sigmoid(0.8 + 0.6 * z)).astype(int)
    return y, z


def test_recalibration_equals_scikit_learn_logistic_regression_on_the_logits():
    y, z = _logits_and_outcomes()
    ours = T.fit_recalibration(y, z)
    reference = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(z[:, None], y)
    assert ours.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)
    assert ours.slope == pytest.approx(reference.coef_[0, 0], abs=1e-5)
    slope, _ = calibration_slope_intercept(y, T.sigmoid(z))
    assert ours.slope == pytest.approx(slope, abs=1e-6)
    np.testing.assert_allclose(ours.apply(z), reference.predict_proba(z[:, None])[:, 1], atol=1e-6)


def test_recalibration_without_a_finite_answer_is_refused_with_a_reason():
    with pytest.raises(T.RecalibrationError, match="with and without disease"):
        T.fit_recalibration([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(T.RecalibrationError, match="separated"):
        T.fit_recalibration([0, 0, 1, 1], [-2.0, -1.0, 1.0, 2.0])


def test_cross_validated_recalibration_measures_on_patients_not_used_to_fit_it():
    y, z = _logits_and_outcomes(1)
    local = T.cross_validated_recalibration(y, z, "somewhere", n_splits=5, seed=3)
    splits = make_splits(y, n_splits=5, n_repeats=1, seed=3)
    expected = np.empty(len(y))
    for (train, test), fold in zip(splits, local.folds, strict=True):
        reference = T.fit_recalibration(y[train], z[train])
        assert (fold.intercept, fold.slope) == pytest.approx((reference.intercept, reference.slope))
        expected[test] = reference.apply(z[test])
    np.testing.assert_allclose(local.proba_after, expected)
    assert (local.recalibration.intercept, local.recalibration.slope) == pytest.approx(
        (T.fit_recalibration(y, z).intercept, T.fit_recalibration(y, z).slope)
    )
    assert local.after.brier == pytest.approx(np.mean((expected - y) ** 2))
    assert abs(local.after.intercept) < 0.2 < abs(local.before.intercept)


def test_recalibration_to_va_fixes_the_underestimated_risk(transport):
    X, y = transport.site_data["va"]
    z = T.predicted_logits(transport.pipeline("ANN", "va", T.FULL), X)
    local = T.cross_validated_recalibration(y, z, "VA", X=X)
    assert local.before.mean_predicted < 0.45 and abs(local.after.mean_predicted - y.mean()) < 0.03
    assert local.after.brier < local.before.brier - 0.1  # measured: 0.315 -> 0.172


def test_sample_size_curve_fits_on_draws_and_measures_on_the_rest(transport):
    X, y = transport.site_data["switzerland"]
    z = T.predicted_logits(transport.pipeline(LR, "switzerland", T.FULL), X)
    draws = T.recalibration_sample_size(y, z, n_draws=10, seed=0)
    assert sorted(draws["n"].unique()) == [25, 50, 100]  # 123 patients: at least 20 kept to measure on
    assert len(draws) == 30
    summary = T.sample_size_summary(draws)
    ok = summary[summary["failed"] < summary["draws"]]
    assert (ok["brier_after_median"] < ok["brier_before_median"]).all()
    with pytest.raises(ValueError, match="too few"):
        T.recalibration_sample_size(y[:30], z[:30])
    with pytest.raises(ValueError, match="draws"):
        T.recalibration_sample_size(y, z, n_draws=T.MAX_DRAWS + 1)


# ------------------------------------------------------------------ the recalibrated network
@pytest.fixture(scope="module")
def ann(cleveland):
    X, y = _xy(cleveland)
    return ann_pipeline(epochs=60).fit(X, y)


def test_recalibrated_network_gives_sigmoid_of_a_plus_b_times_the_original_logit(ann, cleveland):
    X = _xy(cleveland)[0]
    before_weights = [p.detach().clone() for p in ann[-1].network_.parameters()]
    recalibration = T.Recalibration(1.3, 0.6)
    copy = T.recalibrated_pipeline(ann, recalibration)
    original_logits = ann.decision_function(X)
    np.testing.assert_allclose(copy.predict_proba(X)[:, 1], T.sigmoid(1.3 + 0.6 * original_logits), atol=1e-5)
    # The original is untouched.
    for before, after in zip(before_weights, ann[-1].network_.parameters(), strict=True):
        assert torch.equal(before, after)
    # With dropout on (the Monte Carlo interval) too: same masks, same transformation.
    inputs = torch.as_tensor(ann[0].transform(X.head(20)), dtype=torch.float32)
    plain = ann[-1].network_.stochastic_logits(inputs, torch.Generator().manual_seed(5))
    recal = copy[-1].network_.stochastic_logits(inputs, torch.Generator().manual_seed(5))
    torch.testing.assert_close(recal, 1.3 + 0.6 * plain, atol=1e-5, rtol=1e-5)


def test_recalibrated_network_survives_a_bundle_round_trip(ann, cleveland, tmp_path):
    X = _xy(cleveland)[0]
    local = T.cross_validated_recalibration(*_logits_and_outcomes(2), "V.A. Medical Center, Long Beach")
    meta = T.recalibrated_metadata(
        "Shipped default model",
        {"name": "Recommended ANN", "trained_on": "Cleveland"},
        local,
        ["slope", "ca"],
        when=datetime(2026, 11, 29, tzinfo=UTC),
    )
    copy = T.recalibrated_pipeline(ann, local.recalibration)
    loaded = load_bundle(save_bundle(copy, tmp_path / "recal", metadata=meta))
    np.testing.assert_allclose(loaded.predict_proba(X)[:, 1], copy.predict_proba(X)[:, 1], atol=1e-6)
    assert loaded.metadata["recalibration"]["site"] == "V.A. Medical Center, Long Beach"


def test_recalibrated_metadata_says_where_when_and_how_well(ann):
    local = T.cross_validated_recalibration(*_logits_and_outcomes(2), "V.A. Medical Center, Long Beach")
    base = {
        "name": "Recommended ANN",
        "trained_on": "built-in cleveland: 303 patients",
        "integrity": {"x": 1},
        "limits": ["old limit"],
    }
    meta = T.recalibrated_metadata(
        "Shipped default model", base, local, ["slope", "ca", "thal"], when=datetime(2026, 11, 29, tzinfo=UTC)
    )
    rec = meta["recalibration"]
    assert rec["site"] == "V.A. Medical Center, Long Beach" and rec["n_patients"] == 300 and rec["date"] == "2026-11-29"
    assert rec["intercept"] == local.recalibration.intercept and rec["slope"] == local.recalibration.slope
    assert "integrity" not in meta  # the original's file checks do not describe the copy
    assert meta["trained_on"].startswith("built-in cleveland: 303 patients; recalibrated to V.A. Medical Center")
    assert meta["name"] == "Shipped default model, recalibrated to V.A. Medical Center, Long Beach"
    assert meta["limits"][0].startswith("Recalibrated to V.A. Medical Center, Long Beach (300 local patients")
    assert "Major vessels" in meta["limits"][1] or "vessels" in meta["limits"][1].lower()
    assert meta["limits"][-1] == "old limit"


def test_only_a_network_with_a_positive_slope_is_recalibrated(ann, cleveland):
    X, y = _xy(cleveland)
    with pytest.raises(T.RecalibrationError, match="right way round"):
        T.recalibrated_pipeline(ann, T.Recalibration(0.2, -0.5))
    with pytest.raises(ValueError, match="only a fitted neural network"):
        T.recalibrated_pipeline(classical_models()[LR].fit(X, y), T.Recalibration(0.2, 0.5))
