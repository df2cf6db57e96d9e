"""How long a comparison will take, from the work it implies, calibrated on this machine.

The comparison page shows this before a run starts and asks for confirmation when it is long.
The model of the time, stage by stage (model.evaluation.comparison.run_comparison):

- an ANN training of K stacked fold networks, E epochs, n rows per fold, P parameters and
  s optimizer steps per epoch takes  E · (s · step_seconds + K · n · P · unit_seconds):
  a fixed cost per step (kernel launches, Python) plus the arithmetic (rows × parameters);
- a classical model's fold takes what one fold took in a timed run on the built-in data,
  scaled by the number of training rows as measured (ROW_EXPONENTS);
- preprocessing, the learning curves, permutation importance and the one fit on all rows
  are counted the same way from the work each does.

`machine_speed()` measures the constants once per process with tiny timed runs (about a
second) and caches them. The estimate assumes every epoch runs (early stopping only makes
a run shorter) and that the machine is as busy as it was during calibration; it is meant to
be right within a factor of about 3 (benchmarks/bench_estimate.py measures it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from model.data.preprocessing import output_feature_names
from model.nn.config import ANNConfig
from model.nn.network import parameter_count

logger = logging.getLogger(__name__)

# How a classical model's fold time (fit + predict) grows with the training rows: time ∝ rows ** exponent (1 when
# not listed). Measured on the 2-core machine between the built-in data's folds (240 training rows) and 100,000
# training rows of the resampled cohort of benchmarks/bench_big_cohort.py (10,000 for the SVM: its sample cap).
# Small fits are mostly fixed costs (scikit-learn's checks, per-tree bookkeeping), so the time grows more slowly
# than each algorithm's asymptotic cost; the quadratic guesses used before put a 15,000-patient comparison at
# 34 min where it took 3.6.
ROW_EXPONENTS = {
    "Random forest": 0.6,
    "Gradient boosting": 0.85,
    "Logistic regression": 0.7,
    "SVM": 1.2,
    "k-nearest neighbours": 1.3,
}
# Measured the same way: 0.056 s per fold on the built-in data, about 1 s per fold at 200,000 rows.
PREPROCESSING_EXPONENT = 0.5
IMPORTANCE_SHUFFLES_PER_FEATURE = 5  # model.evaluation.comparison.IMPORTANCE_REPEATS
N_RAW_FEATURES = 13
LEARNING_FRACTION_SUM = 0.1 + 0.2 + 0.3 + 0.5 + 0.75 + 1.0  # model.evaluation.comparison.LEARNING_FRACTIONS
LEARNING_SIZES = 6
MIN_NETWORK_SECONDS = 1.0  # cheapest_first: the least a network's cross-validation is counted as


@dataclass(frozen=True)
class MachineSpeed:
    """Seconds per unit of work on this machine (see the module docstring)."""

    step_seconds: float  # one optimizer step of a stacked network
    unit_seconds: float  # one row × parameter of a stacked step (forward + backward)
    preprocess_seconds_per_row: float  # fitting one fold's preprocessing, per row
    classical_fold_seconds: dict[str, float] = field(default_factory=dict)  # fit + predict of one fold
    shuffled_predict_seconds: dict[str, float] = field(default_factory=dict)  # one fold's permutation importance
    reference_rows: int = 1  # training rows of the calibration folds
    reference_test_rows: int = 1  # test rows of the calibration folds


@dataclass(frozen=True)
class ComparisonEstimate:
    seconds: float
    parts: dict[str, float]  # stage -> seconds

    def describe(self) -> str:
        return describe_seconds(self.seconds)


def describe_seconds(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1.5 h' (estimates: rounded)."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min" if seconds >= 90 else "about 1 min"
    return f"about {seconds / 3600:.1f} h"


def ann_training_seconds(
    config: ANNConfig, n_models: int, fit_rows: float, all_rows: float, speed: MachineSpeed
) -> float:
    """K = n_models networks trained together for config.epochs epochs, each on at most `fit_rows` of the
    data's `all_rows` rows. Stacked folds are padded to the largest fold, and a full-batch step runs
    over every row (masked to each fold's own), so that is the arithmetic counted."""
    if config.early_stopping:  # the loop holds out part of the rows to decide when to stop
        fit_rows *= 1.0 - config.validation_fraction
    # No batch size (full-batch gradient descent) is one batch of every training row.
    batch = fit_rows if config.effective_batch_size is None else config.effective_batch_size
    full_batch = batch >= fit_rows
    steps = 1 if full_batch else math.ceil(fit_rows / batch)
    rows = all_rows if full_batch else fit_rows
    parameters = parameter_count(config, len(output_feature_names()))
    return config.epochs * (steps * speed.step_seconds + n_models * rows * parameters * speed.unit_seconds)


def preprocessing_seconds(n_rows: float, speed: MachineSpeed) -> float:
    """One fold's preprocessing (fit on its training rows, transform every row): per-row time as calibrated on
    the built-in data, growing as rows ** PREPROCESSING_EXPONENT beyond them (fixed costs dominate small data)."""
    reference = speed.reference_rows + speed.reference_test_rows
    per_fold = reference * speed.preprocess_seconds_per_row
    return per_fold * (n_rows / reference) ** (PREPROCESSING_EXPONENT if n_rows > reference else 1.0)


def learning_rows(name: str, train_rows: float) -> float:
    """The training rows a classical model really learns from: the SVM samples a large training set."""
    from model.evaluation.classical import SVM_MAX_TRAINING_ROWS

    return min(train_rows, SVM_MAX_TRAINING_ROWS) if name == "SVM" else train_rows


def classical_fold_seconds(name: str, train_rows: float, speed: MachineSpeed) -> float:
    reference = speed.classical_fold_seconds.get(name, max(speed.classical_fold_seconds.values(), default=0.01))
    return reference * (learning_rows(name, train_rows) / speed.reference_rows) ** ROW_EXPONENTS.get(name, 1.0)


def estimate_comparison(
    n_rows: int,
    names: Sequence[str],
    ann_config: ANNConfig,
    n_splits: int,
    n_repeats: int,
    with_learning_curve: bool = True,
    with_importance: bool = True,
    external_rows: int = 0,
    speed: MachineSpeed | None = None,
) -> ComparisonEstimate:
    """Seconds a comparison of `names` on `n_rows` patients will take here (stage -> seconds in .parts)."""
    from model.evaluation.comparison import ANN_NAME, CLASSICAL_NAMES, DEEP_LEARNING_NAMES, IMPORTANCE_MAX_ROWS
    from model.nn.presets import PRESETS

    speed = speed or machine_speed()
    n_fits = n_splits * n_repeats
    train = n_rows * (n_splits - 1) / n_splits
    test = n_rows / n_splits
    configs = {ANN_NAME: ann_config, **{n: PRESETS["perceptron"] for n in DEEP_LEARNING_NAMES if n != ANN_NAME}}
    classical = [n for n in names if n in CLASSICAL_NAMES]
    deep = [n for n in names if n in DEEP_LEARNING_NAMES]
    parts: dict[str, float] = {"preprocessing": n_fits * preprocessing_seconds(n_rows, speed)}

    for name in classical:
        parts[name] = n_fits * classical_fold_seconds(name, train, speed)
    for name in deep:
        parts[name] = ann_training_seconds(configs[name], n_fits, train, n_rows, speed)
    # One fit of each model on all rows (its fit time and size), and again on the external site if asked.
    for rows, label in ((n_rows, "one fit on all rows"), (external_rows, "external validation")):
        if rows:
            parts[label] = sum(classical_fold_seconds(n, rows, speed) for n in classical) + sum(
                ann_training_seconds(configs[n], 1, rows, rows, speed) for n in deep
            )
    if with_learning_curve and classical and deep:
        # The best classical model is not known yet: a typical one of those chosen.
        typical = float(np.mean([classical_fold_seconds(n, train, speed) for n in classical]))
        # Their own preprocessing for every training subset, then the two models on those subsets.
        parts["learning curves"] = (
            n_splits * LEARNING_SIZES * preprocessing_seconds(n_rows, speed)
            + n_splits * LEARNING_FRACTION_SUM * typical
            + ann_training_seconds(configs[deep[0]], n_splits * LEARNING_SIZES, train, n_rows, speed)
        )
    if with_importance:
        shuffled = min(test, IMPORTANCE_MAX_ROWS)  # held-out rows per fold: a sample of a large fold
        shuffled_rows = n_splits * N_RAW_FEATURES * IMPORTANCE_SHUFFLES_PER_FEATURE * shuffled
        scale = shuffled / speed.reference_test_rows
        seconds = sum(
            n_splits
            * speed.shuffled_predict_seconds.get(n, 0.0)
            * scale
            # predicting grows with the rows learned from only where fitting grows faster than them (k-NN)
            * (learning_rows(n, train) / speed.reference_rows) ** max(ROW_EXPONENTS.get(n, 1.0) - 1.0, 0.0)
            for n in classical
        )
        seconds += sum(
            shuffled_rows * parameter_count(configs[n], len(output_feature_names())) * speed.unit_seconds for n in deep
        )
        parts["permutation importance"] = seconds
    return ComparisonEstimate(float(sum(parts.values())), parts)


# This machine's speed as calibrate() measured it (2026-11-30, load average 0.4): enough to put models in
# order of cost before this process has calibrated itself (the order, not the seconds, is what matters).
REFERENCE_SPEED = MachineSpeed(
    step_seconds=3.7e-4,
    unit_seconds=2.2e-10,
    preprocess_seconds_per_row=3.1e-4,
    classical_fold_seconds={
        "Logistic regression": 0.012,
        "Random forest": 0.45,
        "Gradient boosting": 0.15,
        "SVM": 0.047,
        "k-nearest neighbours": 0.0077,
        "Naive Bayes": 0.0027,
        "Decision tree": 0.0026,
    },
    reference_rows=242,
    reference_test_rows=61,
)


def cheapest_first(names: Sequence[str], n_rows: int, ann_config: ANNConfig, n_splits: int, n_repeats: int) -> list:
    """`names` ordered by the estimated seconds of their cross-validation, cheapest first (ties: as given),
    with this process's calibration when it has one, else REFERENCE_SPEED; never waits for a calibration."""
    from model.evaluation.comparison import DEEP_LEARNING_NAMES

    speed = _speeds.get("auto", REFERENCE_SPEED)
    parts = estimate_comparison(
        n_rows, names, ann_config, n_splits, n_repeats, with_learning_curve=False, with_importance=False, speed=speed
    ).parts
    # A stacked training also costs what the calibration does not see (torch's first use in a process, each
    # epoch's bookkeeping: about a second for the recommended network here): counted for the order only.
    return sorted(
        names, key=lambda name: max(parts[name], MIN_NETWORK_SECONDS) if name in DEEP_LEARNING_NAMES else parts[name]
    )


# ------------------------------------------------------------------ calibration
_lock = threading.Lock()
_speeds: dict[str, MachineSpeed] = {}


def calibrate_in_background(device: str = "auto") -> None:
    """Start measuring this machine's speed now (e.g. when the comparison page opens), so that the first
    estimate does not wait for it; a no-op once measured or while being measured."""
    if device in _speeds or _lock.locked():
        return
    threading.Thread(target=_calibrate_logged, args=(device,), name="calibrate estimates", daemon=True).start()


def _calibrate_logged(device: str) -> None:
    try:
        machine_speed(device)
    except Exception:  # the estimate is then measured on first use, where its error shows
        logger.exception("calibrating the time estimates in the background failed")


def machine_speed(device: str = "auto") -> MachineSpeed:
    """This machine's speed, measured on first use (about a second) and kept for the process."""
    with _lock:
        if device not in _speeds:
            _speeds[device] = calibrate(device)
            logger.info("calibrated the time estimates on %s: %s", device, _speeds[device])
        return _speeds[device]


def calibrate(device: str = "auto") -> MachineSpeed:
    """Tiny timed runs on the built-in data (each the fastest of two, so a hiccup does not count): two
    stacked trainings, one dominated by the cost per step and one by the arithmetic, the per-fold
    preprocessing, and one fold of each classical model with its permutation-importance predictions."""
    from model.data.datasets import load_dataset
    from model.evaluation.batched_cv import BatchedANN, FoldCache
    from model.evaluation.classical import classical_models
    from model.evaluation.comparison import checked_features_and_target
    from model.evaluation.cross_validation import make_splits
    from model.nn.config import LayerConfig

    X, y = checked_features_and_target(load_dataset("cleveland"))
    splits = make_splits(y, 5, 1, 0)
    cache = FoldCache()
    start = time.perf_counter()
    folds = cache.get(X, splits[:2])
    preprocess = (time.perf_counter() - start) / (2 * len(y))
    folds = cache.get(X, splits)
    train, test = splits[0]
    n_train, n_test = len(train), len(test)

    def fastest(run, times: int = 2, long_enough: float = 1.0) -> float:
        """The fastest of `times` runs; one run when it takes long_enough to be measured reliably."""
        seconds = []
        for _ in range(times):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
            if seconds[-1] >= long_enough:
                break
        return min(seconds)

    def timed_ann(config: ANNConfig) -> tuple[float, float, float]:
        """(seconds, steps, row-parameter units) of one stacked training of the five folds."""
        model = BatchedANN(config.replace(device=device), cache)
        seconds = fastest(lambda: model.cross_val_predict_batched(X, y, splits))
        steps = ann_training_seconds(config, len(splits), n_train, len(y), MachineSpeed(1.0, 0.0, 0.0))
        work = ann_training_seconds(config, len(splits), n_train, len(y), MachineSpeed(0.0, 1.0, 0.0))
        return seconds, steps, work

    stepping = ANNConfig(hidden_layers=(LayerConfig(4, "relu", 0.0),), optimizer="adam", batch_size=8, epochs=4)
    arithmetic = ANNConfig(
        hidden_layers=(LayerConfig(128, "relu", 0.0), LayerConfig(128, "relu", 0.0)),
        optimizer="adam",
        batch_size=None,
        epochs=10,
    )
    t1, s1, u1 = timed_ann(stepping)
    t2, s2, u2 = timed_ann(arithmetic)
    # Solve t = s·step + u·unit for the two runs (each constant at least a small positive floor).
    determinant = s1 * u2 - s2 * u1
    step = max((t1 * u2 - t2 * u1) / determinant, 0.2 * t1 / s1)
    unit = max((s1 * t2 - s2 * t1) / determinant, 0.2 * t2 / u2)

    fold_seconds, shuffled_seconds = {}, {}
    shuffled = np.tile(folds.X[0][test], (N_RAW_FEATURES * IMPORTANCE_SHUFFLES_PER_FEATURE, 1))
    for name, pipeline in classical_models(0).items():
        estimator = pipeline.steps[-1][1]
        # `fastest` runs each lambda at once, in this iteration; the default binds this iteration's estimator.
        fold_seconds[name] = fastest(
            lambda estimator=estimator: (
                estimator.fit(folds.X[0][train], y[train]),
                estimator.predict_proba(folds.X[0][test]),
            )
        )
        shuffled_seconds[name] = fastest(lambda estimator=estimator: estimator.predict_proba(shuffled), times=1)
    return MachineSpeed(step, unit, preprocess, fold_seconds, shuffled_seconds, n_train, n_test)
