"""Honest comparison of classifiers: repeated stratified k-fold on identical splits.

Every model sees exactly the same (train, test) index pairs, built once from the
seed. Each fold refits the whole pipeline, so imputation, scaling and one-hot
coding are learned from the training fold only.

Metrics per fold (positive class = disease, threshold 0.5 where one is needed):
accuracy, ROC AUC, PR AUC (average precision), sensitivity, specificity, F1,
Brier score, calibration slope and calibration intercept, fit and predict seconds.

Calibration (Van Calster et al. 2016, "weak calibration"), from a logistic
recalibration of the predicted log-odds L = logit(p) on the test fold:
  slope      b in  logit P(y=1) = a + b*L            (1 = ideal; < 1: too extreme)
  intercept  a in  logit P(y=1) = a + 1*L  (offset)  (0 = ideal; > 0: underestimates risk)

Interval: the summary reports the mean over all k*r folds with a 95% interval
from the Nadeau-Bengio corrected t distribution: mean +/- t(0.975, J-1) *
sqrt((1/J + n_test/n_train) * s^2), J = k*r. Fold scores share training rows,
so the naive t-interval (1/J alone) is far too narrow; the correction accounts
for that overlap. The same correction drives the paired test against the best
model (corrected resampled t-test, Nadeau & Bengio 2003; Bouckaert & Frank 2004).

Fast path: a model object that has ``cross_val_predict_batched(X, y, splits)``
is given the whole list of splits at once and returns FoldPredictions: one 1-D
array of P(disease) per split (that split's test rows, in order) with each
split's fit and predict seconds as the hook measured them. A hook may return
just the list of arrays; its wall time is then spread evenly over the folds as
fit_seconds (predict_seconds NaN), as nothing finer is known.

Backends: by default every model runs here, one after another. Given a model.runtime.backends.Backend
(e.g. a Dask cluster), each model's whole cross-validation is one task on a worker — a batched hook keeps
its folds together, a plain estimator is refitted fold by fold there — and the results are put back in
model order, so the folds and every metric are those of the local run (the seconds are the worker's).

Threads: the folds' models are small, so BLAS runs on one thread while they are
fitted (model.runtime.threads.one_thread); torch work sizes its own threads (threads_for).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold

from model.data.splits import (
    PatientGroups,
    patient_groups,
    patients_per_class,
    straddling_patients,
    stratified_group_splits,
)
from model.evaluation.fold_metrics import (  # noqa: F401 - defined there (torch-free, for the helper); public here
    calibration_slope_intercept,
    classification_metrics,
    fit_logistic,
    metrics_of_folds,
)
from model.runtime.backends import Backend, LocalBackend, TaskFailed
from model.runtime.helper_process import share_work
from model.runtime.limits import MAX_CV_FOLDS, MAX_CV_REPEATS
from model.runtime.threads import one_thread

FoldProgress = Callable[[int, int, str], None]  # (folds done, folds in all, message)
FractionProgress = Callable[[float, str], None]  # (fraction done 0..1, message)
Split = tuple[np.ndarray, np.ndarray]  # (train rows, test rows)

METRICS: dict[str, str] = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "f1": "F1",
    "brier": "Brier score",
    "calibration_slope": "Calibration slope",
    "calibration_intercept": "Calibration intercept",
    "fit_seconds": "Fit seconds",
    "predict_seconds": "Predict seconds",
}
HIGHER, LOWER = "higher", "lower"
# What "better" means for each metric: HIGHER, LOWER, or a number to be close to (the ideal value).
METRIC_DIRECTIONS: dict[str, str | float] = {
    "accuracy": HIGHER,
    "roc_auc": HIGHER,
    "pr_auc": HIGHER,
    "sensitivity": HIGHER,
    "specificity": HIGHER,
    "f1": HIGHER,
    "brier": LOWER,
    "calibration_slope": 1.0,
    "calibration_intercept": 0.0,
    "fit_seconds": LOWER,
    "predict_seconds": LOWER,
}
SIGNIFICANCE_LEVEL = 0.05
METRIC_FOLDS_PER_TASK = 10  # the metrics of this many folds: one task for the helper process
KEPT_TOGETHER = "identical patients were kept in the same fold, so no patient is scored by a model that saw them"

logger = logging.getLogger(__name__)


def distance_from_best(metric: str, values):
    """Values (array or Series) turned so that lower is better: -x, x, or |x - ideal| by METRIC_DIRECTIONS."""
    direction = METRIC_DIRECTIONS[metric]
    if direction == HIGHER:
        return -values
    if direction == LOWER:
        return values
    return abs(values - direction)


def best_first(metric: str, means: pd.Series) -> list:
    """The index of `means` (one mean of `metric` per model) ordered best first; undefined means last."""
    distances = distance_from_best(metric, means.astype(float))
    return list(distances.sort_values(kind="stable", na_position="last").index)


class ModelFitError(RuntimeError):
    """A model failed during cross-validation; the message names the model (and the fold when known)."""


@dataclass
class FoldPredictions:
    """What a batched hook returns: per split, P(disease) on its test rows and the seconds it took."""

    probas: list[np.ndarray]
    fit_seconds: list[float]
    predict_seconds: list[float]


@dataclass
class ModelFinished:
    """One model's cross-validation has finished (cross_validate_models' on_model_done), before the others.

    folds    its rows of ComparisonResult.folds (every metric of every split)
    summary  its rows of ComparisonResult.summary (mean, std, 95% interval of each metric)
    The final result holds exactly these rows; only the ranking and the paired tests need every model.
    """

    name: str
    folds: pd.DataFrame
    summary: pd.DataFrame
    finished: int  # models finished so far, this one included
    total: int


# ---------------------------------------------------------------- splits and checks
def check_target(y) -> np.ndarray:
    """y as an int array of 0/1, or a ValueError saying what is wrong."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"the target must be one column; got shape {y.shape}")
    if pd.isna(y).any():
        raise ValueError(f"the target has {int(pd.isna(y).sum())} missing values; remove those rows first")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"the target must be 0 (no disease) or 1 (disease); found {sorted(values)}")
    if len(values) < 2:
        raise ValueError("the target has only one class; cross-validation needs patients with and without disease")
    return y.astype(int)


def make_splits(y, n_splits: int = 5, n_repeats: int = 10, seed: int = 0, groups=None) -> list[Split]:
    """The repeated stratified k-fold (train, test) index pairs, repeat by repeat.

    groups  a patient id per row (model.data.splits.patient_groups(X, y).ids): rows of one patient always
            share a fold (repeated StratifiedGroupKFold). With no repeated id, or groups=None, the splits
            are exactly RepeatedStratifiedKFold's.

    Split number s belongs to repeat s // n_splits. Raises ValueError with a plain
    message when the folds cannot be stratified.
    """
    y = check_target(y)
    for name, value, low, high in (
        ("n_splits", n_splits, 2, MAX_CV_FOLDS),
        ("n_repeats", n_repeats, 1, MAX_CV_REPEATS),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}; got {value!r}")
    grouped = groups is not None and len(np.unique(groups)) < len(y)
    if groups is not None and len(groups) != len(y):
        raise ValueError(f"groups has {len(groups)} entries but y has {len(y)}")
    counts = patients_per_class(y, np.asarray(groups)) if grouped else np.bincount(y, minlength=2)
    smallest = int(counts.min())
    if n_splits > smallest:
        label = "disease" if counts.argmin() == 1 else "no disease"
        who = "distinct patients" if grouped else "patients"
        raise ValueError(
            f"{n_splits} folds need at least {n_splits} {who} in each class, but the smallest class "
            f"({label}) has only {smallest}; choose at most {smallest} folds or add data"
        )
    if grouped:
        return stratified_group_splits(y, np.asarray(groups), n_splits, n_repeats, seed)
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    return [(train, test) for train, test in cv.split(np.zeros(len(y)), y)]


# ---------------------------------------------------------------- metrics
def positive_proba(estimator, X) -> np.ndarray:
    """P(class 1) from a fitted classifier."""
    proba = np.asarray(estimator.predict_proba(X))
    classes = list(getattr(estimator, "classes_", [0, 1]))
    return proba[:, classes.index(1)] if proba.ndim == 2 else proba


# ---------------------------------------------------------------- statistics
def corrected_variance_factor(n_train: int, n_test: int, n_folds: int) -> float:
    """Nadeau-Bengio factor that replaces 1/J in the variance of a resampled mean."""
    return 1.0 / n_folds + n_test / n_train


def corrected_interval(scores, n_train: int, n_test: int, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): mean of fold scores with the corrected-t interval."""
    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(scores.mean())
    if len(scores) < 2:
        return mean, float("nan"), float("nan")
    se = np.sqrt(corrected_variance_factor(n_train, n_test, len(scores)) * scores.var(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(scores) - 1) * se)
    return mean, mean - half, mean + half


def corrected_paired_ttest(scores_a, scores_b, n_train: int, n_test: int) -> tuple[float, float]:
    """(t, two-sided p) of the corrected resampled t-test on paired fold scores (a - b)."""
    diff = np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float)
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return float("nan"), float("nan")
    variance = diff.var(ddof=1)
    if variance == 0:
        return (0.0, 1.0) if diff.mean() == 0 else (float(np.sign(diff.mean()) * np.inf), 0.0)
    t = diff.mean() / np.sqrt(corrected_variance_factor(n_train, n_test, len(diff)) * variance)
    return float(t), float(2 * stats.t.sf(abs(t), len(diff) - 1))


def p_value_text(p_value: float) -> str:
    """A p-value as reports write it: "p = 0.041" (two significant digits), or "p < 0.001"."""
    return f"p = {p_value:.2g}" if p_value >= 0.001 else "p < 0.001"


def verdict(p_value: float, is_best: bool = False, metric: str = "roc_auc") -> str:
    """Plain words for a paired comparison against the best model."""
    if is_best:
        return f"best by {METRICS[metric]}"
    if not np.isfinite(p_value):
        return "not enough folds to compare"
    shown = p_value_text(p_value)
    if p_value >= SIGNIFICANCE_LEVEL:
        return f"not distinguishable from the best ({shown})"
    return f"worse than the best ({shown})"


# ---------------------------------------------------------------- results
@dataclass
class ComparisonResult:
    """Everything a cross-validated comparison produced.

    folds         one row per (model, split): model, repeat, fold, split, n_train, n_test, every metric
    summary       one row per (model, metric): mean, std, ci_low, ci_high (95%, corrected t)
    oof           model -> array (n_repeats, n_rows) of out-of-fold P(disease)
    paired_tests  one row per model: difference to the best in `compare_metric`, t, p_value, verdict
    best          name of the model with the best mean `compare_metric` (METRIC_DIRECTIONS: highest,
                  lowest, or closest to the ideal value, e.g. calibration slope nearest 1)
    splits, y     the exact splits and the target, to draw ROC / calibration curves
    patients      which rows are the same patient (model.data.splits.PatientGroups)
    straddling    (split, patient) pairs with copies on both sides: 0 unless splits that mix them were given
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    oof: dict[str, np.ndarray]
    paired_tests: pd.DataFrame
    best: str
    splits: list[Split]
    y: np.ndarray
    n_splits: int
    n_repeats: int
    seed: int
    compare_metric: str = "roc_auc"
    models: list[str] = field(default_factory=list)
    patients: PatientGroups | None = None
    straddling: int = 0

    @property
    def n_repeated_rows(self) -> int:
        return self.patients.n_repeated_rows if self.patients is not None else 0

    def repeats_note(self) -> str | None:
        """How many rows repeat an earlier patient and how the folds handled them; None without repeats."""
        if self.patients is None:
            return None
        if self.straddling:
            return self.patients.describe(
                f"these folds put copies of one patient on both sides {self.straddling:,} times, so those scores "
                "come from models that had seen the patient and are too optimistic"
            )
        return self.patients.describe(KEPT_TOGETHER)

    def wide(self, stat: str = "mean") -> pd.DataFrame:
        """Model x metric table of one statistic (mean, std, ci_low or ci_high), best model first."""
        table = self.summary.pivot(index="model", columns="metric", values=stat)
        table = table.reindex(columns=[m for m in METRICS if m in table.columns])
        return table.reindex(self.ranked_models())

    def table(
        self,
        metrics: Sequence[str] = (
            "roc_auc",
            "accuracy",
            "brier",
            "sensitivity",
            "specificity",
            "calibration_slope",
            "fit_seconds",
        ),
        digits: int = 3,
    ) -> pd.DataFrame:
        """Display table: "mean (low-high)" per metric plus the verdict, best model first."""
        rows = {}
        for model in self.ranked_models():
            part = self.summary[self.summary["model"] == model].set_index("metric")
            row = {}
            for metric in metrics:
                m, lo, hi = part.loc[metric, ["mean", "ci_low", "ci_high"]]
                d = digits
                row[METRICS[metric]] = f"{m:.{d}f} ({lo:.{d}f}–{hi:.{d}f})" if np.isfinite(lo) else f"{m:.{d}f}"
            row["vs best"] = self.paired_tests.set_index("model").loc[model, "verdict"]
            rows[model] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def metric_summary(self, model: str) -> dict[str, dict[str, float]]:
        """{metric: {mean, std, ci_low, ci_high}} for one model (JSON friendly, e.g. for bundle metadata)."""
        part = self.summary[self.summary["model"] == model].set_index("metric")
        return {
            metric: {k: float(part.loc[metric, k]) for k in ("mean", "std", "ci_low", "ci_high")}
            for metric in part.index
        }

    def ranked_models(self) -> list[str]:
        """Model names best first by `compare_metric` (METRIC_DIRECTIONS); models whose mean is undefined last.

        The order of every table and chart of a comparison (wide, table, leaderboards, curves).
        """
        means = self.summary[self.summary["metric"] == self.compare_metric].set_index("model")["mean"]
        return best_first(self.compare_metric, means)


# ---------------------------------------------------------------- the loop
def summarize_folds(folds: pd.DataFrame, n_train: int, n_test: int) -> pd.DataFrame:
    """One row per (model, metric) of fold scores: mean, std, ci_low, ci_high (95%, corrected t)."""
    rows = []
    for name, part in folds.groupby("model", sort=False):
        for metric in METRICS:
            mean, low, high = corrected_interval(part[metric], n_train, n_test)
            rows.append(
                {
                    "model": name,
                    "metric": metric,
                    "mean": mean,
                    "std": float(part[metric].std(ddof=1)),
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows, columns=["model", "metric", "mean", "std", "ci_low", "ci_high"])


def _run_order(models: Mapping[str, object], run_order: Sequence[str] | None) -> list[str]:
    """run_order checked to name every model once; the models' own order without one."""
    if run_order is None:
        return list(models)
    order = list(run_order)
    if sorted(order) != sorted(models):
        raise ValueError(f"run_order must name each model once: got {order}, models {list(models)}")
    return order


def take_rows(X, index: np.ndarray):
    """Rows `index` of a DataFrame (by position) or an array."""
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _as_frame_or_array(X):
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    return np.asarray(X)


def _fold_predictions(
    name: str, model, X, y: np.ndarray, splits: list[Split], repeat_of, on_fold: Callable[[str, int], None]
) -> tuple[list[np.ndarray], list[float], list[float]]:
    """P(disease) on every test fold plus fit/predict seconds, by the batched hook or fold by fold."""
    batched = getattr(model, "cross_val_predict_batched", None)
    if callable(batched):
        start = time.perf_counter()
        try:
            out = batched(X, y, splits)
        except Exception as exc:  # name the model, keep the cause
            raise ModelFitError(f"{name} failed while cross-validating on {len(splits)} splits: {exc}") from exc
        elapsed = time.perf_counter() - start
        if not isinstance(out, FoldPredictions):  # probabilities alone: only the total time is known
            out = FoldPredictions(list(out), [elapsed / len(splits)] * len(splits), [float("nan")] * len(splits))
        probas = [np.asarray(p, dtype=float).ravel() for p in out.probas]
        if len(probas) != len(splits) or any(len(p) != len(test) for p, (_, test) in zip(probas, splits, strict=True)):
            raise ModelFitError(
                f"{name}: cross_val_predict_batched must return one probability per test row "
                f"for each of the {len(splits)} splits"
            )
        if not len(out.fit_seconds) == len(out.predict_seconds) == len(splits):
            raise ModelFitError(f"{name}: cross_val_predict_batched must time each of the {len(splits)} splits")
        for index in range(len(splits)):
            on_fold(name, index)
        return probas, list(out.fit_seconds), list(out.predict_seconds)

    probas, fit_seconds, predict_seconds = [], [], []
    for index, (train, test) in enumerate(splits):
        estimator = clone(model)
        try:
            start = time.perf_counter()
            estimator.fit(take_rows(X, train), y[train])
            fitted = time.perf_counter()
            proba = positive_proba(estimator, take_rows(X, test))
            predicted = time.perf_counter()
        except Exception as exc:  # name the model and fold, keep the cause
            raise ModelFitError(
                f"{name} failed on split {index + 1} of {len(splits)} (repeat {repeat_of(index) + 1}): {exc}"
            ) from exc
        probas.append(np.asarray(proba, dtype=float))
        fit_seconds.append(fitted - start)
        predict_seconds.append(predicted - fitted)
        on_fold(name, index)
    return probas, fit_seconds, predict_seconds


def model_fold_predictions(name: str, model, X, y: np.ndarray, splits: list[Split], n_splits: int):
    """One model's cross-validation as a task for a backend's worker: (its fold outputs, the fitted model)."""

    def repeat_of(split_index: int) -> int:
        return split_index // n_splits

    with one_thread(torch_ops=False):
        outputs = _fold_predictions(name, model, X, y, splits, repeat_of, lambda _name, _index: None)
    return outputs, model


def _remote_fold_predictions(models, X, y, splits, n_splits, backend: Backend, on_fold, fitted_models):
    """Each model's cross-validation as one task on `backend`; on_fold is called here as each model comes back."""
    names = list(models)
    shared = backend.share((X, y, splits))
    tasks = [(name, models[name], shared, n_splits) for name in names]
    outputs = {}
    for index, outcome in backend.run(_unpack_task, tasks):
        name = names[index]
        if isinstance(outcome, TaskFailed):
            cause = outcome.cause
            if isinstance(cause, ModelFitError):
                raise cause
            raise ModelFitError(f"{name} failed on the cluster: {cause}") from cause
        outputs[name], fitted = outcome
        if fitted_models is not None:
            fitted_models[name] = fitted
        for split_index in range(len(splits)):
            on_fold(name, split_index)
    return outputs


def _unpack_task(name: str, model, shared: tuple, n_splits: int):
    X, y, splits = shared
    return model_fold_predictions(name, model, X, y, splits, n_splits)


def cross_validate_models(
    models: Mapping[str, object],
    X,
    y,
    n_splits: int = 5,
    n_repeats: int = 10,
    seed: int = 0,
    progress: FoldProgress | None = None,
    compare_metric: str = "roc_auc",
    splits: list[Split] | None = None,
    keep_patients_together: bool = True,
    backend: Backend | None = None,
    fitted_models: dict | None = None,
    run_order: Sequence[str] | None = None,
    on_model_done: Callable[[ModelFinished], None] | None = None,
) -> ComparisonResult:
    """Cross-validate every model on the same repeated stratified splits.

    models          name -> unfitted estimator (cloned per fold, never modified)
    X, y            features (DataFrame of raw columns for the project's pipelines) and 0/1 target
    progress        called as progress(done, total, message) after each fold
    splits          reuse exactly these (train, test) pairs instead of building them from the seed
    keep_patients_together  rows with identical features (one patient recorded twice) share a fold
                    (make_splits with groups); False only to measure how much mixing them inflates scores
    backend         where the models run (None: here); results are the same on every backend
    fitted_models   a dict that receives, per name, the model object as it came back from a remote backend
                    (its batched hook's fitted state; locally the given objects are fitted in place)
    run_order       the order to run the models in (e.g. fastest first, so that results come early); the
                    result still lists them in the order of `models`
    on_model_done   called with a ModelFinished as each model's folds are in (in run order locally; with a
                    remote backend, once all are back), with exactly the rows the final result will hold
    """
    if not models:
        raise ValueError("no models to evaluate")
    if compare_metric not in METRICS:
        raise ValueError(f"compare_metric must be one of {', '.join(METRICS)}; got {compare_metric!r}")
    X = _as_frame_or_array(X)
    y = check_target(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    patients = patient_groups(X, y)
    if splits is None:
        splits = make_splits(y, n_splits, n_repeats, seed, groups=patients.ids if keep_patients_together else None)
    elif not splits or len(splits) % n_splits:
        raise ValueError(f"splits must hold n_repeats x n_splits pairs; got {len(splits)} for n_splits={n_splits}")
    else:
        n_repeats = len(splits) // n_splits
    straddling = straddling_patients(splits, patients.ids) if patients.has_repeats else 0
    if straddling:
        logger.warning(
            "%d (split, patient) pairs have copies of one patient in training and test; their scores are optimistic",
            straddling,
        )
    total = len(models) * len(splits)
    done = 0

    def on_fold(name: str, split_index: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(
                done,
                total,
                f"{name}: repeat {repeat_of(split_index) + 1}/{n_repeats}, "
                f"fold {split_index % n_splits + 1}/{n_splits}",
            )

    def repeat_of(split_index: int) -> int:
        return split_index // n_splits

    n_train = int(np.mean([len(tr) for tr, _ in splits]))
    n_test = int(np.mean([len(te) for _, te in splits]))
    oof: dict[str, np.ndarray] = {}
    model_folds: dict[str, pd.DataFrame] = {}
    model_summaries: dict[str, pd.DataFrame] = {}

    def finish(name: str, output) -> None:
        """Fold metrics and summary of one model as soon as its folds are in; tell on_model_done."""
        probas, fit_s, predict_s = output
        oof[name] = np.full((n_repeats, len(y)), np.nan)
        rows = []
        # Shared with the helper process when it runs (model.runtime.helper_process): the same numbers.
        step = METRIC_FOLDS_PER_TASK
        pieces = [range(i, min(i + step, len(splits))) for i in range(0, len(splits), step)]
        tasks = [(y, [splits[k][1] for k in piece], [probas[k] for k in piece]) for piece in pieces]
        metrics = [m for part in share_work(metrics_of_folds, tasks) for m in part]
        for index, ((train, test), proba) in enumerate(zip(splits, probas, strict=True)):
            oof[name][repeat_of(index), test] = proba
            rows.append(
                {
                    "model": name,
                    "repeat": repeat_of(index),
                    "fold": index % n_splits,
                    "split": index,
                    "n_train": len(train),
                    "n_test": len(test),
                    **metrics[index],
                    "fit_seconds": fit_s[index],
                    "predict_seconds": predict_s[index],
                }
            )
        model_folds[name] = pd.DataFrame(rows)
        model_summaries[name] = summarize_folds(model_folds[name], n_train, n_test)
        if on_model_done is not None:
            on_model_done(ModelFinished(name, model_folds[name], model_summaries[name], len(model_folds), len(models)))

    order = _run_order(models, run_order)
    if backend is None or isinstance(backend, LocalBackend):
        for name in order:
            with one_thread(torch_ops=False):  # small fold models: BLAS threads only contend
                output = _fold_predictions(name, models[name], X, y, splits, repeat_of, on_fold)
            finish(name, output)
    else:
        outputs = _remote_fold_predictions(models, X, y, splits, n_splits, backend, on_fold, fitted_models)
        for name in order:
            finish(name, outputs[name])
    # The result lists the models in the order given, whichever order they ran in.
    folds = pd.concat([model_folds[name] for name in models], ignore_index=True)
    summary = pd.concat([model_summaries[name] for name in models], ignore_index=True)

    means = summary[summary["metric"] == compare_metric].set_index("model")["mean"]
    best = str(best_first(compare_metric, means)[0])
    best_scores = folds[folds["model"] == best].sort_values("split")[compare_metric].to_numpy()
    test_rows = []
    for name in models:
        scores = folds[folds["model"] == name].sort_values("split")[compare_metric].to_numpy()
        t, p = corrected_paired_ttest(best_scores, scores, n_train, n_test) if name != best else (0.0, 1.0)
        test_rows.append(
            {
                "model": name,
                "metric": compare_metric,
                "difference_to_best": float(np.nanmean(scores - best_scores)),
                "t": t,
                "p_value": p,
                "verdict": verdict(p, name == best, compare_metric),
            }
        )
    paired = pd.DataFrame(test_rows)
    return ComparisonResult(
        folds=folds,
        summary=summary,
        oof=oof,
        paired_tests=paired,
        best=best,
        splits=splits,
        y=y,
        n_splits=n_splits,
        n_repeats=n_repeats,
        seed=seed,
        compare_metric=compare_metric,
        models=list(models),
        patients=patients,
        straddling=straddling,
    )
