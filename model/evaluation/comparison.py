"""Classical machine learning vs deep learning, measured on identical folds.

`run_comparison` cross-validates the chosen models (the seven classical pipelines, the ANN
as configured, the single perceptron) on one set of repeated stratified splits, then adds
what the course's comparison table asks about, measured on this data:

- data size       learning curves: ROC AUC against the number of training patients, for the
                  deep-learning model and the best classical model, on the same folds;
- feature use     permutation importance per model on each held-out fold of the first repeat,
                  one value per raw clinical feature;
- computation     fit and predict seconds per fold, and the size of each fitted model;
- interpretability  what one would have to read to understand the fitted model.

`external_validation` trains on one UCI site and evaluates on the others, with the features
that are mostly missing at a site (and the value that replaced them) spelled out.

Plain Python (no Streamlit): the comparison page only draws what these functions return. This module
measures; model.evaluation.verdicts words the measurements (the evidence table, the paired tests in sentences).
Every fold shares its preprocessing between models (model.evaluation.batched_cv.FoldCache), and the
ANN's fold models train together (model.evaluation.batched_cv.BatchedANN).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from sklearn.calibration import calibration_curve
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from model.data.datasets import SITE_LABELS
from model.data.preprocessing import feature_groups, features_and_target, make_preprocessor
from model.data.schema import FEATURE_NAMES, TARGET, feature
from model.data.splits import patient_groups, seen_patients
from model.evaluation import fold_tasks
from model.evaluation.batched_cv import BatchedANN, BatchedModel, FoldCache, SharedPreprocessingModel
from model.evaluation.classical import classical_models
from model.evaluation.cross_validation import (
    METRICS,
    ComparisonResult,
    FractionProgress,
    ModelFinished,
    best_first,
    classification_metrics,
    cross_validate_models,
    make_splits,
)
from model.evaluation.estimates import REFERENCE_SPEED, cheapest_first
from model.evaluation.pipelines import pipeline_from_config
from model.nn.config import ANNConfig
from model.nn.presets import PRESETS
from model.nn.training import predict_logits
from model.runtime.backends import Backend, LocalBackend
from model.runtime.compute_slots import compute_slot
from model.runtime.helper_process import share_work, warm_up
from model.runtime.jobs import raise_if_cancelled
from model.runtime.limits import MAX_COMPARISON_FOLD_ROWS, MAX_CONCURRENT_TRAININGS, MAX_STACKED_ROWS
from model.runtime.threads import one_thread

logger = logging.getLogger(__name__)

ANN_NAME = "ANN (as configured)"
PERCEPTRON_NAME = "Single perceptron"
CLASSICAL_NAMES: tuple[str, ...] = tuple(classical_models())
DEEP_LEARNING_NAMES: tuple[str, ...] = (ANN_NAME, PERCEPTRON_NAME)
MODEL_NAMES: tuple[str, ...] = CLASSICAL_NAMES + DEEP_LEARNING_NAMES
DEFAULT_MODELS: tuple[str, ...] = CLASSICAL_NAMES + (ANN_NAME,)
CLASSICAL_FAMILY, DEEP_FAMILY = "Classical ML", "Deep learning"

LEADERBOARD_METRICS = (
    "accuracy",
    "roc_auc",
    "pr_auc",
    "sensitivity",
    "specificity",
    "f1",
    "brier",
    "fit_seconds",
    "predict_seconds",
)
LEARNING_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
MIN_TRAINING_ROWS = 12
IMPORTANCE_REPEATS = 5
# Permutation importance predicts every held-out row once per feature and shuffle (65 copies of the fold): on a
# large cohort it uses a stratified random sample of this many held-out rows per fold, and says so.
IMPORTANCE_MAX_ROWS = 2_000
NEEDED_IMPORTANCE = 0.005  # mean ROC AUC lost when the feature is shuffled
MOSTLY_MISSING = 0.5
BUSY_MESSAGE = (
    f"The server is already running {MAX_CONCURRENT_TRAININGS} trainings or comparisons (its limit). "
    "Wait a moment and press Run comparison again; your settings are kept."
)


def family_of(name: str) -> str:
    return DEEP_FAMILY if name in DEEP_LEARNING_NAMES else CLASSICAL_FAMILY


# ------------------------------------------------------------------ choices and their checks
@dataclass(frozen=True)
class Protocol:
    """Repeated stratified k-fold: n_splits folds, n_repeats times, shuffled by seed."""

    n_splits: int = 5
    n_repeats: int = 10
    seed: int = 0

    @property
    def n_fits(self) -> int:
        return self.n_splits * self.n_repeats

    def describe(self) -> str:
        return f"{self.n_splits}-fold cross-validation repeated {self.n_repeats}× (seed {self.seed})"


def selection_problems(names: Sequence[str]) -> list[str]:
    """Plain-language problems with a model selection (empty when fine)."""
    if not names:
        return ["Choose at least one model to compare."]
    unknown = [n for n in names if n not in MODEL_NAMES]
    return [f"Unknown model {n!r}; choose from: {', '.join(MODEL_NAMES)}." for n in unknown]


def protocol_problems(y, protocol: Protocol, X=None) -> list[str]:
    """Why these folds cannot be made on this target (empty when they can); with X, as run_comparison groups them."""
    try:
        groups = patient_groups(X, y).ids if X is not None else None
        make_splits(y, protocol.n_splits, protocol.n_repeats, protocol.seed, groups=groups)
    except ValueError as error:
        return [str(error)]
    return []


def workload_problems(n_rows: int, protocol: Protocol) -> list[str]:
    """The stacked fold data (folds x rows) must stay within MAX_COMPARISON_FOLD_ROWS."""
    stacked = n_rows * protocol.n_fits
    if stacked <= MAX_COMPARISON_FOLD_ROWS:
        return []
    most = max(MAX_COMPARISON_FOLD_ROWS // max(n_rows, 1), 0)
    return [
        f"{protocol.n_splits} folds × {protocol.n_repeats} repeats on {n_rows:,} patients means "
        f"{stacked:,} patient-fold rows, more than this server handles ({MAX_COMPARISON_FOLD_ROWS:,}); choose at "
        f"most {most} folds × repeats in all, or a smaller dataset."
    ]


def checked_features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The 13 raw feature columns and the 0/1 target, or a ValueError naming what is missing."""
    missing = [c for c in (*FEATURE_NAMES, TARGET.name) if c not in frame.columns]
    if missing:
        raise ValueError(f"the data lack the column(s) {', '.join(missing)}")
    X, y = features_and_target(frame)
    return X.reset_index(drop=True).astype("float64"), y.to_numpy()


# ------------------------------------------------------------------ the models
def build_models(
    names: Sequence[str],
    ann_config: ANNConfig,
    cache: FoldCache,
    seed: int = 0,
    on_fold: Callable[[str, int], None] | None = None,
    on_epoch: Callable[[str, int, int], None] | None = None,
) -> dict[str, BatchedModel]:
    """Name -> an object with the cross_val_predict_batched hook, all sharing `cache`."""
    classical = classical_models(seed)
    models: dict[str, BatchedModel] = {}
    for name in names:
        if name in classical:
            fold_report = (lambda k, name=name: on_fold(name, k)) if on_fold else None
            models[name] = SharedPreprocessingModel(classical[name], cache, on_fold=fold_report)
        elif name in DEEP_LEARNING_NAMES:
            config = ann_config if name == ANN_NAME else PRESETS["perceptron"]
            epoch_report = (lambda e, total, name=name: on_epoch(name, e, total)) if on_epoch else None
            models[name] = BatchedANN(config, cache, on_epoch=epoch_report)
        else:
            raise ValueError(selection_problems([name])[0])
    return models


def _single_pipeline(name: str, ann_config: ANNConfig, seed: int = 0, stop_event: threading.Event | None = None):
    """An unfitted Pipeline (preprocess + model) for one name: for training on a whole data set.
    A network's training loop stops early once `stop_event` is set (check it after fitting)."""
    if name == ANN_NAME:
        return pipeline_from_config(ann_config, stop_event=stop_event)
    if name == PERCEPTRON_NAME:
        return pipeline_from_config(PRESETS["perceptron"], stop_event=stop_event)
    return classical_models(seed)[name]


def model_size(estimator) -> tuple[int, str]:
    """How much a reader would have to inspect to understand a fitted model: (count, what)."""
    network = getattr(estimator, "network_", None)
    if network is not None:
        return sum(p.numel() for p in network.parameters()), "weights and biases"
    if hasattr(estimator, "coef_"):
        return int(np.size(estimator.coef_) + np.size(getattr(estimator, "intercept_", 0))), "coefficients"
    if hasattr(estimator, "tree_"):
        return int(estimator.tree_.node_count), "tree nodes"
    trees = getattr(estimator, "estimators_", None)
    if trees is not None:
        flat = np.ravel(trees)
        return int(sum(t.tree_.node_count for t in flat)), f"nodes in {len(flat)} trees"
    if hasattr(estimator, "support_vectors_"):
        return int(estimator.support_vectors_.size), "support-vector values"
    if hasattr(estimator, "n_samples_fit_"):
        return int(estimator.n_samples_fit_ * estimator.n_features_in_), "stored patient values"
    if hasattr(estimator, "theta_"):
        return int(estimator.theta_.size + estimator.var_.size), "class means and variances"
    return 0, "parameters"


# ------------------------------------------------------------------ progress over stages
class _Progress:
    """Maps the work of several stages onto one 0..1 bar; every report is also a cancellation point
    (model.runtime.jobs.Cancelled once `stop_event` is set)."""

    def __init__(
        self, callback: FractionProgress | None, units: Mapping[str, float], stop_event: threading.Event | None = None
    ):
        self.callback, self.units, self.stop_event = callback, dict(units), stop_event
        self.total = max(sum(self.units.values()), 1e-9)
        self.done: dict[str, float] = {k: 0.0 for k in self.units}

    def report(self, stage: str, fraction: float, message: str) -> None:
        raise_if_cancelled(self.stop_event)
        self.done[stage] = self.units.get(stage, 0.0) * min(max(fraction, 0.0), 1.0)
        if self.callback is not None:
            self.callback(min(sum(self.done.values()) / self.total, 1.0), message)


# ------------------------------------------------------------------ the report
@dataclass
class ComparisonReport:
    """Everything the comparison page shows (plain data: picklable and cacheable); model.evaluation.verdicts
    turns it into the page's sentences."""

    result: ComparisonResult
    protocol: Protocol
    models: list[str]
    ann_config: dict
    n_rows: int
    model_facts: pd.DataFrame  # model, family, size, size_unit, input_columns
    learning_curve: pd.DataFrame | None  # model, fraction, n_train, split, roc_auc, accuracy
    importance: pd.DataFrame | None  # model, feature, split, importance
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # What was done differently from what was asked because of the data's size (also logged): shown first.
    fallbacks: list[str] = field(default_factory=list)

    @property
    def best(self) -> str:
        return self.result.best

    @property
    def best_classical(self) -> str | None:
        return _best_of(self.result, [m for m in self.models if m in CLASSICAL_NAMES])

    @property
    def deep_model(self) -> str | None:
        """The deep-learning side of the argument: the ANN, else the perceptron."""
        return next((m for m in DEEP_LEARNING_NAMES if m in self.models), None)

    def leaderboard(self) -> pd.DataFrame:
        """One row per model (best first): mean, ci_low, ci_high of each metric, the paired test."""
        summary = self.result.summary
        rows = []
        tests = self.result.paired_tests.set_index("model")
        for model in self.result.ranked_models():
            part = summary[summary["model"] == model].set_index("metric")
            row: dict[str, str | float] = {"model": model, "family": family_of(model)}
            for metric in LEADERBOARD_METRICS:
                for stat in ("mean", "ci_low", "ci_high"):
                    row[f"{metric}_{stat}"] = float(part.loc[metric, stat])
            row["p_value_vs_best"] = float(tests.loc[model, "p_value"])
            row["verdict"] = str(tests.loc[model, "verdict"])
            rows.append(row)
        return pd.DataFrame(rows)

    def best_per_metric(self) -> dict[str, str]:
        """metric -> model with the best mean (evaluation.METRIC_DIRECTIONS: e.g. lowest for Brier and times)."""
        wide = self.result.wide("mean")
        return {
            metric: str(best_first(metric, wide[metric].dropna())[0])
            for metric in LEADERBOARD_METRICS
            if wide[metric].notna().any()
        }

    def leaderboard_csv(self) -> str:
        table = self.leaderboard()
        header = (
            f"# {self.protocol.describe()}; {self.n_rows} patients; "
            f"paired test: corrected resampled t-test on {METRICS[self.result.compare_metric]} "
            f"vs {self.best}\n"
        )
        repeats = self.result.repeats_note()
        if repeats:
            header += f"# {repeats}\n"
        header += "".join(f"# {fallback}\n" for fallback in self.fallbacks)
        return header + table.to_csv(index=False, float_format="%.6g")

    def importance_summary(self) -> pd.DataFrame | None:
        """model, feature, mean, std, needed (mean loss of ROC AUC ≥ NEEDED_IMPORTANCE)."""
        if self.importance is None or self.importance.empty:
            return None
        grouped = self.importance.groupby(["model", "feature"], sort=False)["importance"]
        table = grouped.agg(["mean", "std"]).reset_index()
        table["needed"] = table["mean"] >= NEEDED_IMPORTANCE
        return table

    def learning_summary(self) -> pd.DataFrame | None:
        """model, fraction, n_train, mean and std ROC AUC over the folds."""
        if self.learning_curve is None or self.learning_curve.empty:
            return None
        grouped = self.learning_curve.groupby(["model", "fraction"], sort=True)
        table = grouped.agg(
            n_train=("n_train", "mean"),
            roc_auc=("roc_auc", "mean"),
            roc_auc_std=("roc_auc", "std"),
            accuracy=("accuracy", "mean"),
        ).reset_index()
        return table


def _best_of(result: ComparisonResult, names: Sequence[str]) -> str | None:
    if not names:
        return None
    return str(best_first(result.compare_metric, result.wide("mean").loc[list(names), result.compare_metric])[0])


# ------------------------------------------------------------------ permutation importance
def grouped_permutation_importance(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y,
    groups: Mapping[str, Sequence[int]],
    n_repeats: int = IMPORTANCE_REPEATS,
    random_state: int = 0,
) -> dict[str, np.ndarray]:
    """Drop in ROC AUC when one raw feature is shuffled, for each of `n_repeats` shuffles.

    X is the preprocessed matrix; `groups` maps each raw feature to its output columns.
    Preprocessing acts on each raw column alone and row by row, so shuffling a raw column
    equals shuffling the rows of its output columns: this gives what
    sklearn.inspection.permutation_importance gives on the raw-column pipeline (same
    random_state, same shuffles; tested), with one predict call per fold instead of one
    preprocessing and predict call per shuffle.
    """
    y = np.asarray(y)
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    baseline = roc_auc_score(y, predict_proba(X))
    copies = []
    for columns in groups.values():
        rng = np.random.RandomState(seed)
        permuted, order = X.copy(), np.arange(len(X))
        for _ in range(n_repeats):
            rng.shuffle(order)
            permuted[:, columns] = permuted[order][:, columns]
            copies.append(permuted.copy())
    proba = predict_proba(np.concatenate(copies)).reshape(len(groups) * n_repeats, len(X))
    drops = (baseline - _roc_auc_rows(y, proba)).reshape(len(groups), n_repeats)
    return dict(zip(groups, drops, strict=True))


def _roc_auc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of `scores` against y (Mann-Whitney U from mid-ranks, as roc_auc_score)."""
    positive = np.asarray(y) == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    ranks = rankdata(scores, axis=1)
    return (ranks[:, positive].sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _fold_predictors(model: BatchedModel, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """P(disease) of fold k's fitted model on preprocessed rows."""
    if isinstance(model, BatchedANN):
        network = model.fold_network(k)
        return lambda A: 1.0 / (1.0 + np.exp(-predict_logits(network, A, torch.device("cpu"))))
    estimator = model.estimators_[k]
    positive = list(estimator.classes_).index(1)
    return lambda A: estimator.predict_proba(A)[:, positive]


def _importance_rows(test: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """The held-out rows permutation importance uses: all of them, or a stratified sample of IMPORTANCE_MAX_ROWS."""
    if len(test) <= IMPORTANCE_MAX_ROWS:
        return test
    kept, _ = train_test_split(test, train_size=IMPORTANCE_MAX_ROWS, stratify=y[test], random_state=seed)
    return np.sort(kept)


def _importance(
    models: Mapping[str, BatchedModel], folds, y: np.ndarray, splits, seed: int, progress: FractionProgress
) -> pd.DataFrame:
    groups = {name: cols for name, cols in feature_groups(folds.preprocessors[0]).items() if cols}
    rows = []
    total = len(models) * len(splits)
    for m, (name, model) in enumerate(models.items()):
        for k, (_, test) in enumerate(splits):
            test = _importance_rows(test, y, seed + k)
            drops = grouped_permutation_importance(
                _fold_predictors(model, k), folds.X[k][test], y[test], groups, random_state=seed
            )
            rows += [{"model": name, "feature": f, "split": k, "importance": float(d.mean())} for f, d in drops.items()]
            progress((m * len(splits) + k + 1) / total, f"Permutation importance: {name}, fold {k + 1}")
    return pd.DataFrame(rows)


def size_fallbacks(models: Mapping[str, BatchedModel], splits, with_importance: bool) -> list[str]:
    """Sentences for what a large cohort changed: a model that learned from a sample of its training rows,
    permutation importance on a sample of the held-out rows. Each is logged too."""
    fallbacks = []
    for name, model in models.items():
        sampled = [
            est
            for est in getattr(model, "estimators_", [])
            if getattr(est, "rows_used_", 0) < getattr(est, "rows_given_", 0)
        ]
        if sampled:
            fallbacks.append(
                f"{name}: its cost grows with the square of the training rows, so in {len(sampled)} of "
                f"{len(splits)} folds it learned from a stratified random sample of {sampled[0].rows_used_:,} of the "
                f"{max(est.rows_given_ for est in sampled):,} training rows (the other models used them all)."
            )
    largest_test = max(len(test) for _, test in splits)
    if with_importance and largest_test > IMPORTANCE_MAX_ROWS:
        fallbacks.append(
            f"Permutation importance: a stratified random sample of {IMPORTANCE_MAX_ROWS:,} of each held-out fold's "
            f"(up to {largest_test:,}) rows."
        )
    for sentence in fallbacks:
        logger.warning("Comparison on a large cohort: %s", sentence)
    return fallbacks


# ------------------------------------------------------------------ learning curves
def nested_training_subsets(
    train: np.ndarray, y: np.ndarray, fractions: Sequence[float], seed: int = 0
) -> list[np.ndarray]:
    """Stratified subsets of `train`, smallest inside the next: fraction f keeps ≈ f·len(train) rows.

    Rows are ordered so that every prefix holds both classes in their training proportion
    (class c's i-th shuffled row sits at (i + U)/n_c); a prefix of that order is the subset.
    """
    rng = np.random.default_rng(seed)
    labels = y[train]
    keys = np.empty(len(train))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        keys[rng.permutation(members)] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    ordered = train[np.argsort(keys, kind="stable")]
    sizes = [min(len(train), max(MIN_TRAINING_ROWS, int(round(f * len(train))))) for f in fractions]
    return [np.sort(ordered[:m]) for m in sizes]


def learning_curve(
    models: Mapping[str, BatchedModel],
    X: pd.DataFrame,
    y: np.ndarray,
    splits,
    fractions,
    seed: int = 0,
    progress: FractionProgress | None = None,
) -> pd.DataFrame:
    """ROC AUC and accuracy on each split's test rows for models trained on growing subsets of its training rows."""
    sub_splits, labels = [], []
    for k, (train, test) in enumerate(splits):
        for fraction, subset in zip(fractions, nested_training_subsets(train, y, fractions, seed + k), strict=True):
            sub_splits.append((subset, test))
            labels.append((fraction, k))
    # Every training set has its own preprocessing of all rows: on a large cohort they are done in groups of at
    # most MAX_STACKED_ROWS patient-training-set rows, each group's preprocessing forgotten before the next.
    per_group = max(MAX_STACKED_ROWS // max(len(y), 1), 1)
    groups = [range(lo, min(lo + per_group, len(sub_splits))) for lo in range(0, len(sub_splits), per_group)]
    probas: dict[str, list[np.ndarray]] = {name: [] for name in models}
    for g, group in enumerate(groups):
        for m, (name, model) in enumerate(models.items()):
            if progress:
                progress(
                    (g * len(models) + m) / (len(groups) * len(models)),
                    f"Learning curve: {name} on {len(sub_splits)} training sets",
                )
            probas[name] += model.cross_val_predict_batched(X, y, sub_splits[group.start : group.stop]).probas
        if len(groups) > 1:
            for model in models.values():
                model.cache.clear()
    rows = []
    for name in models:
        for (fraction, k), (train, test), p in zip(labels, sub_splits, probas[name], strict=True):
            scores = classification_metrics(y[test], p)
            rows.append(
                {
                    "model": name,
                    "fraction": fraction,
                    "n_train": len(train),
                    "split": k,
                    "roc_auc": scores["roc_auc"],
                    "accuracy": scores["accuracy"],
                }
            )
    if progress:
        progress(1.0, "Learning curves done")
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the whole comparison
def run_comparison(
    frame: pd.DataFrame,
    names: Sequence[str],
    ann_config: ANNConfig,
    protocol: Protocol = Protocol(),
    progress: FractionProgress | None = None,
    with_learning_curve: bool = True,
    with_importance: bool = True,
    stop_event: threading.Event | None = None,
    hold_slot: bool = True,
    backend: Backend | None = None,
    on_model: Callable[[ModelFinished], None] | None = None,
) -> ComparisonReport:
    """Cross-validate `names` on identical folds and gather the evidence for the comparison table.

    The models run cheapest first (model.evaluation.estimates.cheapest_first), and `on_model` hears of each
    as it finishes, with its fold metrics and summary (cross_validate_models' on_model_done): a page can show
    a partial leaderboard long before the slowest model is done. Then the fits on all rows, the learning
    curves and the permutation importance. Per-fold work of the classical models and the preprocessing is
    shared with a helper process (model.runtime.helper_process): two cores, the same numbers.

    Raises ValueError with a plain message for a bad selection, protocol or data, and
    model.runtime.compute_slots.ServerBusyError (BUSY_MESSAGE) when every compute slot of the server is taken
    (hold_slot=False: the caller holds one already, e.g. a model.runtime.jobs.Job). Once `stop_event` is set
    it raises model.runtime.jobs.Cancelled at the next fold, epoch or stage boundary.
    `backend` (a model.runtime.backends.Backend, e.g. a Dask cluster): where the models' cross-validation runs,
    one task per model; every result is the same as here (progress then moves as each model comes back).
    The learning curves, importance and the fits on all rows stay in this process.
    """
    problems = selection_problems(names)
    if problems:
        raise ValueError(" ".join(problems))
    ann_config.validate()
    X, y = checked_features_and_target(frame)
    warm_up(fold_tasks.HELPER_MODULES)  # the helper process starts (if it is not running) while work starts here
    # One patient's rows share a fold (they are often one record repeated); the learning curves and the
    # permutation importance below reuse these splits, so they inherit it.
    splits = make_splits(y, protocol.n_splits, protocol.n_repeats, protocol.seed, groups=patient_groups(X, y).ids)
    names = [n for n in MODEL_NAMES if n in names]  # a stable order
    n_classical = sum(n in CLASSICAL_NAMES for n in names)
    n_deep = len(names) - n_classical
    units = {
        "preprocess": 1.0,
        "cv": n_classical + 1.5 * n_deep,
        "learning": 2.0 if with_learning_curve else 0.0,
        "importance": 1.0 if with_importance else 0.0,
    }
    tracker = _Progress(progress, units, stop_event)
    done_models: list[str] = []

    def on_fold(name, k):
        tracker.report(
            "cv", (len(done_models) + (k + 1) / len(splits)) / len(names), f"{name}: fold {k + 1} of {len(splits)}"
        )
        if k + 1 == len(splits):
            done_models.append(name)

    def on_epoch(name, epoch, epochs):
        tracker.report(
            "cv",
            (len(done_models) + epoch / epochs) / len(names),
            f"{name}: {len(splits)} fold networks together, epoch {epoch} of {epochs}",
        )
        if epoch == epochs:
            done_models.append(name)

    stage_seconds: dict[str, float] = {}
    cache = FoldCache()
    run_order = cheapest_first(names, len(y), ann_config, protocol.n_splits, protocol.n_repeats)
    # Cross-validation limits BLAS threads itself; the other stages fit small models too.
    with compute_slot(BUSY_MESSAGE) if hold_slot else nullcontext(), one_thread(torch_ops=False):
        start = time.perf_counter()
        tracker.report("preprocess", 0.0, f"Fitting the preprocessing inside each of the {len(splits)} folds")
        folds = cache.get(X, splits)
        stage_seconds["preprocessing (shared by all models)"] = time.perf_counter() - start
        tracker.report("preprocess", 1.0, "Preprocessing done")

        model_seconds: dict[str, float] = {}
        on_these_folds = functools.partial(
            cross_validate_models,
            n_splits=protocol.n_splits,
            n_repeats=protocol.n_repeats,
            seed=protocol.seed,
            splits=splits,
            run_order=run_order,
            on_model_done=on_model,
        )
        if backend is None or isinstance(backend, LocalBackend):
            models = build_models(names, ann_config, cache, protocol.seed, on_fold, on_epoch)
            timed = {name: _Timed(model, model_seconds, name) for name, model in models.items()}
            result = on_these_folds(timed, X, y)
        else:
            # Sent to the workers: no callbacks (they would run there), the fitted models come back.
            fitted: dict = {}
            result = on_these_folds(
                build_models(names, ann_config, cache, protocol.seed),
                X,
                y,
                backend=backend,
                fitted_models=fitted,
                progress=lambda done, total, message: tracker.report("cv", done / total, message),
            )
            models = {name: fitted[name] for name in names}
            for name in names:  # the workers' own seconds: fit and predict of every fold
                part = result.folds[result.folds["model"] == name]
                model_seconds[name] = float(part["fit_seconds"].sum() + part["predict_seconds"].fillna(0).sum())
        stage_seconds.update({f"cross-validation: {n}": s for n, s in model_seconds.items()})

        start = time.perf_counter()
        facts = _model_facts(names, X, y, ann_config, protocol.seed, stop_event)
        stage_seconds["one fit of each model on all rows"] = time.perf_counter() - start
        first_repeat = splits[: protocol.n_splits]
        learning = importance = None
        notes = []
        if with_learning_curve:
            start = time.perf_counter()
            curve_models = _learning_models(result, names, ann_config, protocol.seed, stop_event)
            if len(curve_models):
                learning = learning_curve(
                    curve_models,
                    X,
                    y,
                    first_repeat,
                    LEARNING_FRACTIONS,
                    protocol.seed,
                    lambda f, msg: tracker.report("learning", f, msg),
                )
            stage_seconds["learning curves"] = time.perf_counter() - start
        if with_importance:
            start = time.perf_counter()
            importance = _importance(
                models, folds, y, first_repeat, protocol.seed, lambda f, msg: tracker.report("importance", f, msg)
            )
            stage_seconds["permutation importance"] = time.perf_counter() - start
            notes.append(
                f"Permutation importance: the {protocol.n_splits} held-out folds of the first repeat, "
                f"{IMPORTANCE_REPEATS} shuffles per feature, loss of ROC AUC."
            )
    tracker.report("importance", 1.0, "Done")
    fallbacks = size_fallbacks(models, splits, with_importance)
    return ComparisonReport(
        result=result,
        protocol=protocol,
        models=names,
        ann_config=ann_config.to_dict(),
        n_rows=len(y),
        model_facts=facts,
        learning_curve=learning,
        importance=importance,
        stage_seconds=stage_seconds,
        notes=notes,
        fallbacks=fallbacks,
    )


class _Timed:
    """Passes the batched hook through, recording its wall time."""

    def __init__(self, model, seconds: dict, name: str):
        self.model, self.seconds, self.name = model, seconds, name

    def cross_val_predict_batched(self, X, y, splits):
        start = time.perf_counter()
        out = self.model.cross_val_predict_batched(X, y, splits)
        self.seconds[self.name] = time.perf_counter() - start
        return out


def _model_facts(
    names: Sequence[str],
    X: pd.DataFrame,
    y: np.ndarray,
    ann_config: ANNConfig,
    seed: int,
    stop_event: threading.Event | None = None,
) -> pd.DataFrame:
    """Each model fitted once on all rows: its fit time and its size (what a reader must inspect). The classical
    pipelines are shared with the helper process (the costliest last, where the helper takes them); the networks
    train here."""
    fold_seconds = REFERENCE_SPEED.classical_fold_seconds
    classical = sorted((n for n in names if n in CLASSICAL_NAMES), key=lambda n: fold_seconds.get(n, 0.0))
    tasks = [(_single_pipeline(name, ann_config, seed), X, y) for name in classical]
    fitted_all = share_work(fold_tasks.fit_all, tasks, check=lambda: raise_if_cancelled(stop_event))
    fits = dict(zip(classical, fitted_all, strict=True))
    rows = []
    for name in names:
        raise_if_cancelled(stop_event)
        if name not in fits:  # a network, trained here; its loop returns early when stopped
            fits[name] = fold_tasks.fit_all(_single_pipeline(name, ann_config, seed, stop_event), X, y)
            raise_if_cancelled(stop_event)
        pipeline, fit_seconds, predict_seconds = fits[name]
        size, unit = model_size(pipeline.steps[-1][1])
        rows.append(
            {
                "model": name,
                "family": family_of(name),
                "size": size,
                "size_unit": unit,
                "input_columns": int(pipeline.steps[0][1].transform(X.iloc[:1]).shape[1]),
                "fit_all_seconds": fit_seconds,
                "predict_all_seconds": predict_seconds,
            }
        )
    return pd.DataFrame(rows)


def _learning_models(
    result: ComparisonResult, names, ann_config, seed, stop_event: threading.Event | None = None
) -> dict[str, BatchedModel]:
    """The deep-learning model and the best classical model, fresh (their own fold cache); each fold
    and epoch is a cancellation point."""

    def check_fold(name, k):
        raise_if_cancelled(stop_event)

    def check_epoch(name, epoch, epochs):
        raise_if_cancelled(stop_event)

    cache = FoldCache()
    chosen: dict[str, BatchedModel] = {}
    best_classical = _best_of(result, [n for n in names if n in CLASSICAL_NAMES])
    deep = next((n for n in DEEP_LEARNING_NAMES if n in names), None)
    for name in (best_classical, deep):
        if name is not None:
            chosen.update(build_models([name], ann_config, cache, seed, check_fold, check_epoch))
    return chosen


# ------------------------------------------------------------------ curves from out-of-fold predictions
def pooled_oof(result: ComparisonResult, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(y, P(disease)) over every repeat's out-of-fold predictions."""
    proba = result.oof[model]
    y = np.tile(result.y, proba.shape[0])
    flat = proba.ravel()
    keep = np.isfinite(flat)
    return y[keep], flat[keep]


def roc_points(result: ComparisonResult) -> pd.DataFrame:
    """model, fpr, tpr, auc: ROC curve of the pooled out-of-fold predictions of every model."""
    parts = []
    for model in result.ranked_models():
        y, p = pooled_oof(result, model)
        fpr, tpr, _ = roc_curve(y, p)
        parts.append(pd.DataFrame({"model": model, "fpr": fpr, "tpr": tpr, "auc": roc_auc_score(y, p)}))
    return pd.concat(parts, ignore_index=True)


def calibration_points(result: ComparisonResult, n_bins: int = 10) -> pd.DataFrame:
    """model, predicted, observed: reliability curve (quantile bins) of the pooled out-of-fold predictions."""
    parts = []
    for model in result.ranked_models():
        y, p = pooled_oof(result, model)
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        parts.append(pd.DataFrame({"model": model, "predicted": predicted, "observed": observed}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------ external validation
@dataclass
class ExternalValidation:
    """Models trained on one site, evaluated on each other site."""

    train_site: str
    metrics: pd.DataFrame  # model, site, n, prevalence, mean_predicted, roc_auc, accuracy, brier, calibration_*
    missing: pd.DataFrame  # site, feature, missing_fraction, replaced_by
    calibration: pd.DataFrame  # model, site, predicted, observed
    warnings: list[str]


def imputation_values(preprocessor) -> dict[str, float]:
    """Raw feature -> the value a fitted preprocessor puts in place of a missing one."""
    values: dict[str, float] = {}
    for _, transformer, columns in preprocessor.transformers_:
        steps = transformer.steps if hasattr(transformer, "steps") else [(None, transformer)]
        imputer = next((step for _, step in steps if isinstance(step, SimpleImputer)), None)
        if imputer is not None:
            values.update(zip(columns, map(float, imputer.statistics_), strict=True))
    return values


def _value_text(name: str, value: float) -> str:
    spec = feature(name)
    if spec.categories:
        return f"{spec.category_label(value)} (code {value:g})"
    return f"{value:g} {spec.unit}".strip()


def missing_report(sites: pd.DataFrame, train_site: str, preprocessor) -> tuple[pd.DataFrame, list[str]]:
    """Missing fraction of every feature at every site, and a warning for each mostly-missing one."""
    replaced = imputation_values(preprocessor)
    rows, warnings = [], []
    rule = {"numeric": "median", "binary": "most frequent value", "categorical": "most frequent value"}
    training = SITE_LABELS.get(train_site, train_site)
    for site, part in sites.groupby("site", sort=False):
        mostly = []
        for name in FEATURE_NAMES:
            fraction = float(part[name].isna().mean())
            text = _value_text(name, replaced[name])
            rows.append({"site": site, "feature": name, "missing_fraction": fraction, "replaced_by": text})
            if fraction >= MOSTLY_MISSING:
                mostly.append(
                    f"{feature(name).label} ({fraction:.0%} missing, replaced by the {rule[feature(name).kind]} {text})"
                )
        if mostly and site != train_site:
            warnings.append(
                f"{SITE_LABELS.get(site, site)}: mostly missing — "
                + "; ".join(mostly)
                + f". The values come from the {training} training patients, so the model sees "
                "all these patients as if they had those values."
            )
    return pd.DataFrame(rows), warnings


def _unseen_patients(
    part: pd.DataFrame, X_train: pd.DataFrame, site: str, train_site: str, warnings: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """A test site's features and target without the rows that repeat a training patient (said in `warnings`)."""
    X_site, y_site = checked_features_and_target(part)
    seen = seen_patients(X_site, X_train)
    if seen.any():
        warnings.append(
            f"{SITE_LABELS.get(site, site)}: {int(seen.sum())} row(s) repeat a "
            f"{SITE_LABELS.get(train_site, train_site)} training patient exactly; they are left out of "
            f"this site's scores, so no patient is scored by a model that saw them."
        )
        X_site, y_site = X_site[~seen].reset_index(drop=True), y_site[~seen]
    return X_site, y_site


def external_validation(
    sites: pd.DataFrame,
    names: Sequence[str],
    ann_config: ANNConfig,
    train_site: str = "cleveland",
    seed: int = 0,
    progress: FractionProgress | None = None,
    stop_event: threading.Event | None = None,
    hold_slot: bool = True,
) -> ExternalValidation:
    """Train each model on `train_site`, evaluate on every other site of the four-site frame.
    `stop_event` and `hold_slot` as in run_comparison (cancellation points: before and after each model)."""
    problems = selection_problems(names)
    if problems:
        raise ValueError(" ".join(problems))
    if "site" not in sites.columns:
        raise ValueError("the four-site data need a 'site' column")
    present = list(dict.fromkeys(sites["site"]))
    if train_site not in present:
        raise ValueError(f"no {train_site} patients in the four-site data (sites: {', '.join(present)})")
    others = [s for s in present if s != train_site]
    if not others:
        raise ValueError("external validation needs at least one site besides the training site")
    train = sites[sites["site"] == train_site]
    X_train, y_train = checked_features_and_target(train)
    preprocessor = make_preprocessor().fit(X_train)
    missing, warnings = missing_report(sites, train_site, preprocessor)
    test_data = {
        site: _unseen_patients(sites[sites["site"] == site], X_train, site, train_site, warnings) for site in others
    }

    rows, curves = [], []
    names = [n for n in MODEL_NAMES if n in names]
    with compute_slot(BUSY_MESSAGE) if hold_slot else nullcontext(), one_thread(torch_ops=False):
        for i, name in enumerate(names):
            raise_if_cancelled(stop_event)
            if progress:
                progress(i / len(names), f"Training {name} on all {len(y_train)} {train_site} patients")
            pipeline = _single_pipeline(name, ann_config, seed, stop_event).fit(X_train, y_train)
            raise_if_cancelled(stop_event)
            for site in others:
                X_site, y_site = test_data[site]
                proba = pipeline.predict_proba(X_site)[:, 1]
                scores = classification_metrics(y_site, proba)
                rows.append(
                    {
                        "model": name,
                        "site": site,
                        "n": len(y_site),
                        "prevalence": float(y_site.mean()),
                        "mean_predicted": float(proba.mean()),
                        **scores,
                    }
                )
                if len(np.unique(y_site)) == 2:
                    observed, predicted = calibration_curve(y_site, proba, n_bins=5, strategy="quantile")
                    curves.append(
                        pd.DataFrame({"model": name, "site": site, "predicted": predicted, "observed": observed})
                    )
    if progress:
        progress(1.0, "External validation done")
    calibration = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["model", "site", "predicted", "observed"])
    )
    return ExternalValidation(train_site, pd.DataFrame(rows), missing, calibration, warnings)
