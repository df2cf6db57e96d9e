"""The comparison logic (model/evaluation/comparison.py, verdicts.py): identical folds, the paired test, importance,
curves, sites, and the words for them."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pandas as pd
import pytest
from _kaggle_copy import kaggle_1025_frame, total_seen
from sklearn.dummy import DummyClassifier
from sklearn.inspection import permutation_importance

from model.data.datasets import SITE_LABELS, combine_sites, load_dataset, load_uci_sites_from_files
from model.data.preprocessing import feature_groups
from model.data.schema import FEATURE_NAMES
from model.data.splits import patient_groups
from model.evaluation import comparison, verdicts
from model.evaluation.batched_cv import FoldCache, SharedPreprocessingModel
from model.evaluation.classical import classical_models, with_preprocessing
from model.evaluation.comparison import (
    ANN_NAME,
    DEFAULT_MODELS,
    PERCEPTRON_NAME,
    Protocol,
    external_validation,
    grouped_permutation_importance,
    nested_training_subsets,
    protocol_problems,
    run_comparison,
    selection_problems,
    workload_problems,
)
from model.evaluation.cross_validation import cross_validate_models, make_splits
from model.nn.config import ANNConfig, LayerConfig
from model.runtime import compute_slots
from model.runtime.compute_slots import ServerBusyError

FAST_ANN = ANNConfig(
    hidden_layers=[LayerConfig(8, "relu", 0.2)],
    optimizer="adam",
    learning_rate=0.01,
    batch_size=None,
    epochs=40,
    weight_decay=1e-3,
    seed=0,
    device="cpu",
)


@pytest.fixture(scope="module")
def frame():
    return load_dataset("cleveland")


@pytest.fixture(scope="module")
def report(frame):
    # Three learning-curve points (smallest, middle, all rows) fill every cell the tests read; the six of the
    # product would refit the per-fold preprocessing twice as often for the same checks.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(comparison, "LEARNING_FRACTIONS", (0.1, 0.5, 1.0))
        return run_comparison(
            frame,
            ["Logistic regression", "Decision tree", ANN_NAME, PERCEPTRON_NAME],
            FAST_ANN,
            Protocol(n_splits=3, n_repeats=2, seed=7),
        )


def test_every_model_is_scored_on_the_same_splits(report, frame):
    result = report.result
    # The built-in copy repeats one patient (data/README.md), so its folds keep that patient's two rows together.
    y = frame["target"].to_numpy()
    expected = make_splits(y, 3, 2, 7, groups=patient_groups(frame, y).ids)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(result.splits, expected, strict=True))
    per_model = result.folds.pivot(index="split", columns="model", values="n_test")
    assert (per_model.nunique(axis=1) == 1).all()
    for model in report.models:  # every patient predicted once per repeat, by a model that never saw them
        assert np.isfinite(result.oof[model]).all()


def test_the_paired_test_separates_a_useless_model_from_a_twin_of_the_best(frame):
    X, y = frame[list(FEATURE_NAMES)], frame["target"].to_numpy()
    cache = FoldCache()
    logistic = classical_models()["Logistic regression"]
    models = {
        "A": SharedPreprocessingModel(logistic, cache),
        "A twin": SharedPreprocessingModel(logistic, cache),
        "coin": SharedPreprocessingModel(with_preprocessing(DummyClassifier(strategy="uniform")), cache),
    }
    result = cross_validate_models(models, X, y, n_splits=5, n_repeats=2, seed=0)
    tests = result.paired_tests.set_index("model")
    best = result.best
    twin = "A twin" if best == "A" else "A"
    assert tests.loc[twin, "p_value"] == pytest.approx(1.0)
    assert tests.loc[twin, "verdict"].startswith("not distinguishable from the best")
    assert tests.loc["coin", "p_value"] < 0.001
    assert tests.loc["coin", "verdict"].startswith("worse than the best")


def test_grouped_importance_equals_sklearn_on_the_raw_column_pipeline(frame):
    X, y = frame[list(FEATURE_NAMES)], frame["target"].to_numpy()
    train, test = make_splits(y, 5, 1, 0)[0]
    pipeline = classical_models()["Logistic regression"].fit(X.iloc[train], y[train])
    preprocessor, estimator = pipeline.steps[0][1], pipeline.steps[-1][1]
    ours = grouped_permutation_importance(
        lambda A: estimator.predict_proba(A)[:, 1],
        preprocessor.transform(X.iloc[test]),
        y[test],
        feature_groups(preprocessor),
        n_repeats=2,
        random_state=3,
    )
    theirs = permutation_importance(pipeline, X.iloc[test], y[test], scoring="roc_auc", n_repeats=2, random_state=3)
    for i, name in enumerate(FEATURE_NAMES):
        np.testing.assert_allclose(ours[name], theirs.importances[i], atol=1e-12)


def test_learning_curve_subsets_are_nested_and_stratified(frame):
    y = frame["target"].to_numpy()
    train, _ = make_splits(y, 5, 1, 0)[0]
    subsets = nested_training_subsets(train, y, (0.1, 0.5, 1.0), seed=1)
    assert [len(s) for s in subsets] == [24, 121, len(train)]
    assert set(subsets[0]) <= set(subsets[1]) <= set(subsets[2]) == set(train)
    for subset in subsets:
        assert abs(y[subset].mean() - y[train].mean()) < 0.05


def test_learning_curves_in_groups_of_training_sets_equal_all_at_once(frame, monkeypatch):
    """On a large cohort the training sets' preprocessing is done a few at a time: same curves."""
    from model.evaluation import batched_cv
    from model.evaluation.comparison import build_models, learning_curve

    X, y = comparison.checked_features_and_target(frame)
    splits = make_splits(y, 3, 1, 0)
    no_dropout = FAST_ANN.replace(hidden_layers=[LayerConfig(8, "relu", 0.0)])

    def curve():
        models = build_models(["Logistic regression", ANN_NAME], no_dropout, FoldCache())
        return learning_curve(models, X, y, splits, (0.2, 0.6, 1.0), seed=3)

    at_once = curve()
    monkeypatch.setattr(comparison, "MAX_STACKED_ROWS", 4 * len(y))  # 9 training sets in groups of 4, 4, 1
    monkeypatch.setattr(batched_cv, "MAX_STACKED_ROWS", 4 * len(y))
    cleared = []
    monkeypatch.setattr(FoldCache, "clear", lambda self: cleared.append(len(self)))
    grouped = curve()
    assert len(cleared) == 2 * 3  # both models' cache, after each of the three groups
    pd.testing.assert_frame_equal(grouped, at_once, atol=1e-6)


def test_report_fills_the_course_table_with_this_runs_numbers(report):
    evidence = verdicts.evidence_table(report)
    assert list(evidence["Aspect"]) == [
        "Accuracy on these data (ROC AUC)",
        "Data size",
        "Feature engineering",
        "Computation",
        "Interpretability",
    ]
    cells = " | ".join(evidence.astype(str).to_numpy().ravel())
    assert not re.search(r"\bnan\b", cells, re.IGNORECASE) and "—" not in cells, cells
    assert report.best_classical in evidence.columns[1] and ANN_NAME in evidence.columns[2]
    curve = report.learning_summary()
    assert set(curve["model"]) == {ANN_NAME, report.best_classical}
    assert curve["n_train"].max() > 5 * curve["n_train"].min()
    facts = report.model_facts.set_index("model")
    assert facts.loc[PERCEPTRON_NAME, "size"] == facts.loc["Logistic regression", "size"]  # both: w·x + b
    importance = report.importance_summary()
    assert set(importance["feature"]) == set(FEATURE_NAMES)
    assert importance.groupby("model")["needed"].sum().min() >= 1


def test_evidence_says_what_was_not_run_without_inventing_numbers(report):
    classical_only = dataclasses.replace(
        report, models=["Logistic regression", "Decision tree"], learning_curve=None, importance=None
    )
    evidence = verdicts.evidence_table(classical_only).set_index("Aspect")
    assert classical_only.deep_model is None and classical_only.best_classical in {
        "Logistic regression",
        "Decision tree",
    }
    assert list(evidence.columns) == [
        f"Classical ML (best: {classical_only.best_classical})",
        "Deep learning (not run)",
        "What this run shows",
    ]
    deep, shows = evidence["Deep learning (not run)"], evidence["What this run shows"]
    assert (deep == "—").all()
    assert shows["Accuracy on these data (ROC AUC)"] == "Run at least one classical model and the ANN to compare them."
    assert shows["Data size"] == "Learning curves need one classical model and the ANN (or perceptron)."
    assert shows["Feature engineering"] == "Permutation importance was not computed."
    assert [verdicts.seconds_text(s) for s in (0.0123, 1.5, float("nan"))] == ["12.3 ms", "1.50 s", "—"]


def test_significance_sentences_name_every_model_best_first_with_its_test(report):
    sentences = verdicts.significance_sentences(report)
    tests = report.result.paired_tests.set_index("model")
    assert sentences[0].startswith("**Repeated patients.** ")  # the built-in copy repeats one patient
    assert sentences[1].startswith(f"**{report.best}** has the highest mean ROC AUC")
    others = [m for m in report.result.ranked_models() if m != report.best]
    assert len(sentences) == 2 + len(others)
    for model, sentence in zip(others, sentences[2:], strict=True):
        assert sentence.startswith(f"{model} (ROC AUC ")
        worse = tests.loc[model, "p_value"] < 0.05
        assert ("**worse than the best**" in sentence) == worse
        assert sentence.endswith(f"over the {report.protocol.n_fits} paired folds).")


def test_leaderboard_csv_has_one_row_per_model_and_the_tests(report):
    text = report.leaderboard_csv()
    table = pd.read_csv(io.StringIO(text), comment="#")
    assert list(table["model"]) == report.result.ranked_models()
    for column in ("roc_auc_mean", "roc_auc_ci_low", "brier_ci_high", "fit_seconds_mean", "verdict"):
        assert column in table.columns
    assert table.loc[0, "verdict"].startswith("best by")
    best = report.best_per_metric()
    assert best["roc_auc"] == report.best
    assert set(best) >= {"accuracy", "brier", "fit_seconds"}
    means = report.result.wide("mean")
    assert best["accuracy"] == means["accuracy"].idxmax()
    assert best["brier"] == means["brier"].idxmin() and best["fit_seconds"] == means["fit_seconds"].idxmin()


def test_fit_times_come_from_inside_each_fold(report):
    folds = report.result.folds
    assert (folds["fit_seconds"] > 0).all() and folds["predict_seconds"].notna().all()
    ann = folds[folds["model"] == ANN_NAME]["fit_seconds"]
    assert ann.nunique() == 1  # all fold networks trained together: the batched time shared equally


def test_bad_choices_get_plain_messages(frame):
    assert selection_problems([]) == ["Choose at least one model to compare."]
    assert "Unknown model" in selection_problems(["Deep forest"])[0]
    tiny = pd.concat([frame[frame["target"] == 1].head(3), frame[frame["target"] == 0].head(20)])
    message = protocol_problems(tiny["target"].to_numpy(), Protocol(5, 1))[0]
    assert "smallest class" in message and "only 3" in message
    assert workload_problems(303, Protocol(5, 10)) == []
    assert "choose at most" in workload_problems(200_000, Protocol(10, 20))[0]
    assert workload_problems(200_000, Protocol(5, 2)) == []  # the 5 x 2 comparison of a cohort at the row cap
    assert "choose at most 10 folds" in workload_problems(200_000, Protocol(5, 3))[0]
    with pytest.raises(ValueError, match="Choose at least one model"):
        run_comparison(frame, [], FAST_ANN, Protocol(3, 1))
    assert set(DEFAULT_MODELS) == set(classical_models()) | {ANN_NAME}


QUICK = dict(with_learning_curve=False, with_importance=False)


@pytest.fixture
def every_slot_taken():
    """Other users' trainings and comparisons hold every compute slot of the server."""
    taken = 0
    try:
        while compute_slots.free_slots():
            compute_slots.take_slot("taken by the test")
            taken += 1
        yield
    finally:
        for _ in range(taken):
            compute_slots.release_slot()


def test_a_comparison_on_a_busy_server_is_refused_politely(frame, every_slot_taken):
    with pytest.raises(ServerBusyError, match="already running .* trainings or comparisons.*again"):
        run_comparison(frame, ["Logistic regression"], FAST_ANN, Protocol(3, 1), **QUICK)


def test_a_comparison_holds_one_slot_and_gives_it_back_also_after_an_error(frame, monkeypatch):
    before = compute_slots.free_slots()
    free_while_running = []
    run_comparison(
        frame,
        ["Logistic regression"],
        FAST_ANN,
        Protocol(3, 1),
        **QUICK,
        progress=lambda fraction, message: free_while_running.append(compute_slots.free_slots()),
    )
    assert min(free_while_running) == before - 1
    assert compute_slots.free_slots() == before

    def broken(*args, **kwargs):
        raise RuntimeError("a model blew up")

    monkeypatch.setattr(comparison, "cross_validate_models", broken)
    with pytest.raises(RuntimeError, match="blew up"):
        run_comparison(frame, ["Logistic regression"], FAST_ANN, Protocol(3, 1), **QUICK)
    assert compute_slots.free_slots() == before


@pytest.fixture(scope="module")
def sites(shared_data_dir):
    files = sorted(shared_data_dir.glob("processed.*.data"))
    return combine_sites(load_uci_sites_from_files(files))


def test_external_validation_reports_each_site_and_the_missing_features(sites):
    validation = external_validation(sites, ["Logistic regression", PERCEPTRON_NAME], FAST_ANN)
    metrics = validation.metrics
    assert set(metrics["site"]) == {"hungarian", "switzerland", "va"}
    assert set(metrics["model"]) == {"Logistic regression", PERCEPTRON_NAME}
    swiss = metrics[(metrics["site"] == "switzerland")].iloc[0]
    assert swiss["prevalence"] == pytest.approx(115 / 123)
    assert metrics["roc_auc"].between(0.5, 1.0).all()
    # cholesterol is never measured in Switzerland: it must be named, with the Cleveland median used instead
    cleveland_median = sites.loc[sites["site"] == "cleveland", "chol"].median()
    by_site = {w.split(":")[0]: w for w in validation.warnings}
    assert set(by_site) == {SITE_LABELS[s] for s in ("hungarian", "switzerland", "va")}
    swiss_warning = by_site[SITE_LABELS["switzerland"]]
    assert f"Serum cholesterol (100% missing, replaced by the median {cleveland_median:g} mg/dL)" in swiss_warning
    assert "Major vessels coloured" in by_site[SITE_LABELS["hungarian"]]
    missing = validation.missing.set_index(["site", "feature"])
    assert missing.loc[("switzerland", "chol"), "missing_fraction"] == 1.0


# ------------------------------------------------------------------ repeated patients (the 1,025-row public copy)
@pytest.fixture(scope="module")
def kaggle():
    return kaggle_1025_frame()


def test_repeats_of_the_public_copy_stay_in_one_fold_and_do_not_inflate_the_leaderboard(kaggle, monkeypatch):
    X = kaggle[list(FEATURE_NAMES)]
    seen = {}

    def recording(function, name):
        def wrapper(*args, **kwargs):
            seen[name] = args[3]  # learning_curve(models, X, y, splits, ..), _importance(models, folds, y, splits, ..)
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(comparison, "learning_curve", recording(comparison.learning_curve, "learning"))
    monkeypatch.setattr(comparison, "_importance", recording(comparison._importance, "importance"))
    # Each fit of this forest costs most of a second, so as few as still prove the point: one learning-curve
    # point below all rows (the all-rows point trains on the training folds checked below), and 3 folds once
    # (test_every_model_is_scored_on_the_same_splits checks a second repeat). Ungrouped, these 3 folds give
    # the forest a mean ROC AUC of 0.99, so the bound below still catches leaking repeats.
    monkeypatch.setattr(comparison, "LEARNING_FRACTIONS", (0.3,))
    report = run_comparison(kaggle, ["Random forest"], FAST_ANN, Protocol(3, 1, 0))
    assert report.n_rows == 1025
    assert total_seen(X, report.result.splits) == 0  # no test row has its patient in the training fold
    assert set(seen) == {"learning", "importance"}
    assert total_seen(X, seen["learning"]) == 0 and total_seen(X, seen["importance"]) == 0
    subsets = [
        (subset, test)
        for k, (train, test) in enumerate(seen["learning"])
        for subset in nested_training_subsets(train, kaggle["target"].to_numpy(), (0.3,), k)
    ]
    assert total_seen(X, subsets) == 0  # the learning curve trains on parts of those training folds
    # Today's public leaderboard shows 0.997 for random forest on this file; without the repeats it is ~0.9.
    assert report.result.wide("mean").loc["Random forest", "roc_auc"] <= 0.95
    note = report.result.repeats_note()
    assert "723 rows that repeat an earlier patient" in note and "kept in the same fold" in note
    assert f"# {note}" in report.leaderboard_csv()


def test_protocol_problems_count_distinct_patients_when_given_the_features(frame):
    rows = pd.concat([frame[frame["target"] == 1].head(3)] * 3 + [frame[frame["target"] == 0].head(20)])
    y = rows["target"].to_numpy()
    assert protocol_problems(y, Protocol(5, 1)) == []  # 9 rows with disease...
    message = protocol_problems(y, Protocol(5, 1), rows[list(FEATURE_NAMES)])[0]
    assert "distinct patients" in message and "only 3" in message  # ...but 3 patients


def test_external_validation_leaves_out_test_rows_that_repeat_a_training_patient(frame):
    two_sites = pd.concat(
        [frame.iloc[:200].assign(site="cleveland"), frame.iloc[150:].assign(site="hungarian")], ignore_index=True
    )
    validation = external_validation(two_sites, ["Logistic regression"], FAST_ANN)
    assert validation.metrics.set_index("site").loc["hungarian", "n"] == 153 - 50
    assert any("50 row(s) repeat a" in w and "left out" in w for w in validation.warnings)


def test_a_large_cohort_is_compared_with_every_shortcut_said(frame, monkeypatch, caplog):
    """What a 200,000-row cohort triggers, on small data with small thresholds: the SVM learns from a sample of
    each training fold, permutation importance uses a sample of each held-out fold, the ANN's folds train in
    chunks. The page, the CSV and the log say so; nothing is said when nothing was changed."""
    from model.evaluation import batched_cv, classical

    protocol = Protocol(3, 1, 0)
    quiet = run_comparison(frame, ["SVM"], FAST_ANN, protocol, with_learning_curve=False)
    assert quiet.fallbacks == [] and "random sample" not in quiet.leaderboard_csv()

    monkeypatch.setattr(classical, "SVM_MAX_TRAINING_ROWS", 150)
    monkeypatch.setattr(comparison, "IMPORTANCE_MAX_ROWS", 60)
    monkeypatch.setattr(batched_cv, "MAX_STACKED_ROWS", 2 * len(frame))
    with caplog.at_level("WARNING", logger="model.evaluation.comparison"):
        report = run_comparison(frame, ["SVM", ANN_NAME], FAST_ANN, protocol, with_learning_curve=False)
    svm, importance = report.fallbacks
    assert "SVM" in svm and "3 of 3 folds" in svm and "sample of 150 of the 202 training rows" in svm
    assert "sample of 60 of each held-out fold's (up to 101) rows" in importance
    assert all(sentence in caplog.text for sentence in report.fallbacks)
    assert all(f"# {sentence}" in report.leaderboard_csv() for sentence in report.fallbacks)
    assert set(report.importance["model"]) == {"SVM", ANN_NAME}
    # the ANN's numbers do not depend on the chunks
    np.testing.assert_allclose(
        report.result.folds.query("model == @ANN_NAME")["roc_auc"].to_numpy(),
        run_comparison(frame, [ANN_NAME], FAST_ANN, protocol, with_learning_curve=False, with_importance=False)
        .result.folds.query("model == @ANN_NAME")["roc_auc"]
        .to_numpy(),
        atol=1e-9,
    )
