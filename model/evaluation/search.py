"""Hyper-parameter search for the ANN with Optuna, locally or on a Dask cluster, and its honest estimate.

    result = search_ann(X, y, n_trials=40, objective="roc_auc", backend="local", nested=True)
    result.best_config          # an ANNConfig: python -m model train --config best.json reads its JSON
    result.nested.text()        # the winner's score on outer folds the search never saw

What is searched (SearchSpace, bounded by model.runtime.limits): hidden layers (count, and units per
layer), one activation and one dropout for all layers, optimizer, learning rate, weight decay, batch
size and epochs. Every other field comes from `base_config` (seed, device, init, ...).

Each trial is scored by the mean over the cross-validation folds of ROC AUC (maximised) or Brier score
(minimised). The folds are those of the comparison: model.evaluation.cross_validation.make_splits with
model.data.splits.patient_groups, so the rows of one patient never straddle a training and a test fold.
Inside a fold the whole pipeline (pipeline_from_config: preprocessing + network) is fitted on the
training rows only.

Engines: Optuna's TPESampler proposes the configurations, its MedianPruner stops a trial whose running
mean after a fold is worse than the median of completed trials at that fold; trials run through a
model.runtime.backends.Backend (this process, or futures on a Dask cluster).

Determinism (same seed ⇒ the same trials and scores on any backend, whatever finishes first). Optuna's
own parallel mode (workers sharing a storage, each asking when it is free) lets TPE's proposals depend
on which trials happened to finish before each ask, so two runs differ. Here the study lives in the
calling process and is driven by ask-and-tell in *waves*: `wave_size` trials are asked together from
the seeded sampler, evaluated in parallel, and told back in trial order once the whole wave is in.
A wave is a fixed number (not the number of workers), so the sequence of asks and tells — hence every
proposal — is the same on one process and on a cluster. Pruning decisions are made where the trial
runs, by the same MedianPruner on a copy of the trials completed before the wave (MedianPruner only
looks at completed trials, and the trials of a running wave are not complete yet), so they too do not
depend on timing. The price: within a wave TPE learns nothing from its siblings; a wave of 4–8 costs
little, and more workers than `wave_size` stay idle. (Optuna 5 has no Dask storage of its own — it moved
to the separate optuna-integration package — and a shared journal file would need a shared disk.)

A worker that dies: Dask runs its task again on another worker (the trial's seed makes the rerun give the
same score); if the task is lost for good (KilledWorker) only that trial is marked failed and the search
goes on.

Nested cross-validation (nested=True): the data is split into `outer_folds` grouped stratified folds;
on each outer training part a whole search runs on its own inner folds, its winner is refitted on that
training part and scored on the outer test part it never saw. The mean of these outer scores is the
honest estimate; the mean of the inner best scores beside it shows the optimism of picking the best of
many trials on the same folds.

Progress and Stop for a background thread (e.g. a dashboard page): `on_event(SearchEvent)` after every
trial and stage, `stop_event` (a threading.Event) ends the search after the running trials (cluster
tasks not started are cancelled); the result then holds what finished, with `stopped=True`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.metrics import brier_score_loss, roc_auc_score

from model.data.splits import patient_groups
from model.evaluation.cross_validation import Split, check_target, make_splits, positive_proba, take_rows
from model.evaluation.pipelines import pipeline_from_config
from model.nn.config import ACTIVATIONS, OPTIMIZERS, ANNConfig, LayerConfig
from model.nn.presets import RECOMMENDED
from model.runtime.backends import Backend, StopSignal, TaskFailed, backend_from_choice
from model.runtime.limits import (
    MAX_BATCH_SIZE,
    MAX_CV_FOLDS,
    MAX_NESTED_OUTER_FOLDS,
    MAX_SEARCH_EPOCHS,
    MAX_SEARCH_LAYERS,
    MAX_SEARCH_MINUTES,
    MAX_SEARCH_TRIALS,
    MAX_SEARCH_UNITS,
    MAX_SEARCH_WAVE,
)
from model.runtime.threads import one_thread

logger = logging.getLogger(__name__)

OBJECTIVES: dict[str, Literal["maximize", "minimize"]] = {"roc_auc": "maximize", "brier": "minimize"}
OBJECTIVE_LABELS = {"roc_auc": "ROC AUC", "brier": "Brier score"}
DEFAULT_WAVE = 4
# MedianPruner: no pruning before 5 trials have completed, nor on the first fold (one fold is too noisy).
PRUNER_STARTUP_TRIALS = 5
PRUNER_WARMUP_FOLDS = 1


# ---------------------------------------------------------------- the space
DROPOUT_STEP = 0.05


@dataclass(frozen=True)
class SearchSpace:
    """The ranges searched. Units and epochs are drawn on a log scale, as are learning rate and weight decay."""

    min_layers: int = 1
    max_layers: int = 3
    min_units: int = 4
    max_units: int = 64
    activations: tuple[str, ...] = ("relu", "tanh", "leaky_relu", "gelu")
    max_dropout: float = 0.5
    optimizers: tuple[str, ...] = ("adam", "sgd", "momentum", "rmsprop")
    learning_rate: tuple[float, float] = (1e-4, 0.1)
    weight_decay: tuple[float, float] = (1e-6, 0.1)
    batch_sizes: tuple[int | None, ...] = (16, 32, 64, None)  # None: the whole training part in one batch
    epochs: tuple[int, int] = (20, 300)

    def problems(self) -> list[str]:
        """Plain words for every range out of bounds (empty when the space can be searched)."""
        found = []

        def whole(name, low, high, floor, cap):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not (
                floor <= low <= high <= cap
            ):
                found.append(f"{name} must be whole numbers with {floor} ≤ low ≤ high ≤ {cap}; got {low!r}–{high!r}")

        def positive(name, pair, cap):
            low, high = pair
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in pair) or not 0 < low <= high <= cap:
                found.append(f"{name} must be numbers with 0 < low ≤ high ≤ {cap:g}; got {low!r}–{high!r}")

        whole("layers", self.min_layers, self.max_layers, 0, MAX_SEARCH_LAYERS)
        whole("units", self.min_units, self.max_units, 1, MAX_SEARCH_UNITS)
        whole("epochs", *self.epochs, 1, MAX_SEARCH_EPOCHS)
        positive("learning rate", self.learning_rate, 10.0)
        positive("weight decay", self.weight_decay, 10.0)
        if not isinstance(self.max_dropout, (int, float)) or not 0 <= self.max_dropout < 1:
            found.append(f"max_dropout must be in [0, 1); got {self.max_dropout!r}")
        for name, chosen, allowed in (
            ("activations", self.activations, ACTIVATIONS),
            ("optimizers", self.optimizers, OPTIMIZERS),
        ):
            wrong = [c for c in chosen if c not in allowed]
            if not chosen or wrong:
                found.append(f"{name} must be a non-empty choice from {', '.join(allowed)}; got {list(chosen)}")
        if "nesterov" in self.optimizers:
            found.append("nesterov is not searched: its momentum must stay above 0, which the base config may not give")
        bad_batches = [
            b for b in self.batch_sizes if b is not None and not (isinstance(b, int) and 1 <= b <= MAX_BATCH_SIZE)
        ]
        if not self.batch_sizes or bad_batches:
            found.append(f"batch_sizes must be whole numbers from 1 to {MAX_BATCH_SIZE} or None; got {bad_batches}")
        return found

    def validate(self) -> SearchSpace:
        problems = self.problems()
        if problems:
            raise ValueError("search space: " + "; ".join(problems))
        return self

    def suggest(self, trial: optuna.Trial, base: ANNConfig) -> ANNConfig:
        """The trial's configuration: `base` with the searched fields drawn by the trial's sampler."""
        n_layers = trial.suggest_int("n_layers", self.min_layers, self.max_layers)
        units = [trial.suggest_int(f"units_{i}", self.min_units, self.max_units, log=True) for i in range(n_layers)]
        activation = trial.suggest_categorical("activation", self.activations)
        # Steps of 0.05: a readable setting in the form (0.35, not 0.3333834), and no finer than it matters.
        dropout = round(trial.suggest_float("dropout", 0.0, self.max_dropout, step=DROPOUT_STEP), 2)
        config = base.replace(
            hidden_layers=tuple(LayerConfig(u, str(activation), float(dropout)) for u in units),
            optimizer=str(trial.suggest_categorical("optimizer", self.optimizers)),
            learning_rate=trial.suggest_float("learning_rate", *self.learning_rate, log=True),
            weight_decay=trial.suggest_float("weight_decay", *self.weight_decay, log=True),
            batch_size=trial.suggest_categorical("batch_size", self.batch_sizes),
            epochs=trial.suggest_int("epochs", *self.epochs, log=True),
        )
        return config.validate()


# ---------------------------------------------------------------- events and results
@dataclass(frozen=True)
class SearchEvent:
    """What a progress hook receives: after each trial ("trial"), at each stage ("stage"), at the end ("done").

    trials_done/trials_total count every trial of the run (with nested CV: the final search and each
    outer fold's search). best_value is the best completed score of the current stage so far."""

    kind: str
    stage: str
    trials_done: int
    trials_total: int
    message: str
    trial: int | None = None
    state: str | None = None
    value: float | None = None
    best_value: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


EventHook = Callable[[SearchEvent], None]


@dataclass
class NestedEstimate:
    """Per outer fold: the inner best score, the winner's outer-test score (objective, ROC AUC, Brier)."""

    folds: pd.DataFrame
    objective: str
    complete: bool = True

    @property
    def outer_mean(self) -> float:
        return float(self.folds["outer_score"].mean())

    @property
    def outer_std(self) -> float:
        return float(self.folds["outer_score"].std(ddof=1)) if len(self.folds) > 1 else float("nan")

    @property
    def inner_mean(self) -> float:
        return float(self.folds["inner_best"].mean())

    @property
    def optimism(self) -> float:
        """How much better the inner best looks than the honest outer score (positive = optimistic)."""
        gap = self.inner_mean - self.outer_mean
        return gap if OBJECTIVES[self.objective] == "maximize" else -gap

    def text(self) -> str:
        label = OBJECTIVE_LABELS[self.objective]
        done = "" if self.complete else f" (stopped after {len(self.folds)} outer folds)"
        return (
            f"Nested cross-validation{done}: {label} of each fold's winner on its unseen outer fold "
            f"{self.outer_mean:.3f} ± {self.outer_std:.3f} (mean ± SD over {len(self.folds)} folds); the inner "
            f"best score was {self.inner_mean:.3f}, so picking the best trial looks {self.optimism:+.3f} better "
            "than it is."
        )


@dataclass
class SearchResult:
    """What search_ann found. `study` is the Optuna study of the search on all the data."""

    objective: str
    best_config: ANNConfig
    best_value: float
    best_trial: int
    trials: pd.DataFrame
    importances: dict[str, float]
    study: optuna.Study
    n_splits: int
    n_repeats: int
    seed: int
    backend: str
    seconds: float
    stopped: bool = False
    nested: NestedEstimate | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    def summary(self) -> str:
        counts = self.trials["state"].value_counts()
        parts = ", ".join(f"{int(counts[s])} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL") if s in counts)
        lines = [
            f"{len(self.trials)} trials ({parts}) on {self.backend} in {self.seconds:.1f} s"
            + (" — stopped early" if self.stopped else ""),
            f"best {OBJECTIVE_LABELS[self.objective]}: {self.best_value:.4f} (trial {self.best_trial}; "
            f"{self.n_splits}-fold CV × {self.n_repeats}, seed {self.seed})",
        ]
        if self.nested is not None:
            lines.append(self.nested.text())
        lines += self.notes
        return "\n".join(lines)


# ---------------------------------------------------------------- one trial (runs on a worker)
@dataclass(frozen=True)
class TrialOutcome:
    number: int
    fold_scores: tuple[float, ...]
    pruned: bool
    seconds: float


def objective_score(objective: str, y_true: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC or Brier score of one fold."""
    if objective == "roc_auc":
        return float(roc_auc_score(y_true, proba))
    return float(brier_score_loss(y_true, proba, pos_label=1))


def fit_and_score(config: ANNConfig, X, y: np.ndarray, train: np.ndarray, test: np.ndarray, objective: str) -> float:
    """Fit the pipeline on `train` and score it on `test`."""
    pipeline = pipeline_from_config(config).fit(take_rows(X, train), y[train])
    return objective_score(objective, y[test], positive_proba(pipeline, take_rows(X, test)))


def evaluate_trial(
    number: int,
    config: ANNConfig,
    data: tuple,
    splits: Sequence[Split],
    objective: str,
    completed: Sequence[FrozenTrial],
    pruner: optuna.pruners.BasePruner,
) -> TrialOutcome:
    """Cross-validate one configuration fold by fold, pruned by `pruner` against the `completed` trials.

    A top-level function of plain picklable arguments, so that a Dask worker can run it."""
    X, y = data
    start = time.perf_counter()
    # A private in-memory study holding the trials completed before this wave: the pruner's view.
    with optuna_quiet():
        study = optuna.create_study(
            direction=OBJECTIVES[objective], pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0)
        )
        study.add_trials(completed)
        trial = study.ask()
    scores: list[float] = []
    with one_thread(torch_ops=False):  # small fold models: BLAS threads only contend (as in the comparison)
        for step, (train, test) in enumerate(splits):
            scores.append(fit_and_score(config, X, y, train, test, objective))
            trial.report(float(np.mean(scores)), step)
            if step + 1 < len(splits) and trial.should_prune():
                return TrialOutcome(number, tuple(scores), True, time.perf_counter() - start)
    return TrialOutcome(number, tuple(scores), False, time.perf_counter() - start)


@contextmanager
def optuna_quiet() -> Iterator[None]:
    """Optuna logs every study and trial at INFO; the search reports through its own events instead."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


# ---------------------------------------------------------------- one search
class _Stop:
    """Stop signal: the user's event, or the time budget running out."""

    def __init__(self, event: threading.Event | None, deadline: float | None):
        self.event, self.deadline = event, deadline

    def is_set(self) -> bool:
        if self.event is not None and self.event.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline


@dataclass
class _Run:
    """What one call of search_ann shares between its searches: the settings, the counter, the hook."""

    space: SearchSpace
    base: ANNConfig
    objective: str
    n_trials: int
    wave_size: int
    seed: int
    prune: bool
    backend: Backend
    stop: StopSignal
    on_event: EventHook | None
    trials_total: int
    trials_done: int = 0

    def emit(self, **fields) -> None:
        if self.on_event is not None:
            self.on_event(SearchEvent(trials_done=self.trials_done, trials_total=self.trials_total, **fields))


def _pruner(run: _Run) -> optuna.pruners.BasePruner:
    if not run.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_FOLDS)


def _is_better(objective: str, value: float, best: float | None) -> bool:
    return best is None or (value > best if OBJECTIVES[objective] == "maximize" else value < best)


def _search(run: _Run, X, y: np.ndarray, splits: list[Split], stage: str) -> optuna.Study:
    """One study on (X, y) and `splits`, driven in waves of asks and tells (see the module's docstring)."""
    pruner = _pruner(run)
    with optuna_quiet():
        study = optuna.create_study(
            direction=OBJECTIVES[run.objective], sampler=optuna.samplers.TPESampler(seed=run.seed), pruner=pruner
        )
    data = run.backend.share((X, y))
    best: float | None = None
    asked_in_all = 0
    while asked_in_all < run.n_trials and not run.stop.is_set():
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        trials = [study.ask() for _ in range(min(run.wave_size, run.n_trials - asked_in_all))]
        asked_in_all += len(trials)
        configs = [run.space.suggest(trial, run.base) for trial in trials]
        tasks = [
            (t.number, c, data, splits, run.objective, completed, pruner) for t, c in zip(trials, configs, strict=True)
        ]
        outcomes: dict[int, TrialOutcome | TaskFailed] = {}
        for index, outcome in run.backend.run(evaluate_trial, tasks, run.stop):
            outcomes[index] = outcome
            run.trials_done += 1
            trial = trials[index]
            if isinstance(outcome, TaskFailed):
                state, value = "FAIL", None
            else:
                state, value = ("PRUNED" if outcome.pruned else "COMPLETE"), float(np.mean(outcome.fold_scores))
                if not outcome.pruned and _is_better(run.objective, value, best):
                    best = value
            run.emit(
                kind="trial",
                stage=stage,
                message=f"{stage}: trial {trial.number} {state.lower()}",
                trial=trial.number,
                state=state,
                value=value,
                best_value=best,
                params=dict(trial.params),
            )
        # Told in trial order whatever the order of finishing: the sampler's history is the same on any backend.
        with optuna_quiet():
            for index, trial in enumerate(trials):
                _tell(study, trial, configs[index], outcomes.get(index))
    return study


def _tell(study: optuna.Study, trial: optuna.Trial, config: ANNConfig, outcome: TrialOutcome | TaskFailed | None):
    trial.set_user_attr("config", config.to_dict())
    if outcome is None:
        trial.set_user_attr("error", "stopped before it finished")
        study.tell(trial, state=TrialState.FAIL)
        return
    if isinstance(outcome, TaskFailed):
        trial.set_user_attr("error", str(outcome.cause))
        study.tell(trial, state=TrialState.FAIL)
        return
    running = np.cumsum(outcome.fold_scores) / np.arange(1, len(outcome.fold_scores) + 1)
    for step, value in enumerate(running):
        trial.report(float(value), step)
    trial.set_user_attr("fold_scores", list(outcome.fold_scores))
    trial.set_user_attr("seconds", outcome.seconds)
    if outcome.pruned:
        study.tell(trial, state=TrialState.PRUNED)  # its value: the last running mean reported
    else:
        study.tell(trial, float(running[-1]))


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value (mean over the folds it ran), folds run, seconds, parameters."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        scores = trial.user_attrs.get("fold_scores", [])
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.value if trial.value is not None else float("nan"),
                "folds_run": len(scores),
                "seconds": trial.user_attrs.get("seconds", float("nan")),
                **trial.params,
            }
        )
    return pd.DataFrame(rows)


def parameter_importances(study: optuna.Study, seed: int = 0) -> tuple[dict[str, float], str | None]:
    """(parameter -> importance summing to 1, by Optuna's fANOVA; a note when they cannot be computed)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, "Parameter importances need at least two completed trials."
    try:
        with optuna_quiet():
            importances = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)
            )
    except (ValueError, RuntimeError) as exc:  # e.g. every completed trial scored the same
        logger.warning("parameter importances could not be computed", exc_info=True)
        return {}, f"Parameter importances could not be computed: {exc}"
    return {name: float(value) for name, value in importances.items()}, None


def _best(study: optuna.Study) -> FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return study.best_trial if complete else None


# ---------------------------------------------------------------- checks and the entry point
def _check_whole(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}; got {value!r}")


def _grouped_splits(X, y: np.ndarray, n_splits: int, n_repeats: int, seed: int) -> list[Split]:
    """The comparison's folds: repeated stratified k-fold keeping each patient's rows together."""
    return make_splits(y, n_splits, n_repeats, seed, groups=patient_groups(X, y).ids)


def search_ann(
    X,
    y,
    n_trials: int = 30,
    objective: str = "roc_auc",
    backend: str | Backend | None = "local",
    scheduler: str | None = None,
    n_splits: int = 5,
    n_repeats: int = 1,
    seed: int = 0,
    space: SearchSpace | None = None,
    base_config: ANNConfig | None = None,
    wave_size: int = DEFAULT_WAVE,
    timeout_minutes: float | None = None,
    nested: bool = False,
    outer_folds: int = 5,
    prune: bool = True,
    on_event: EventHook | None = None,
    stop_event: threading.Event | None = None,
) -> SearchResult:
    """Search network settings by cross-validated `objective` ("roc_auc": maximise; "brier": minimise).

    X, y            the 13 raw feature columns (a DataFrame; NaN allowed) and the 0/1 target
    n_trials        configurations tried (1 to limits.MAX_SEARCH_TRIALS); timeout_minutes ends it sooner
    backend         "local" (this process), "dask" (with `scheduler`, or HEART_ANN_DASK_SCHEDULER), or a
                    model.runtime.backends.Backend; results are identical on each
    n_splits, n_repeats, seed   the folds (grouped stratified, as in the comparison) and the sampler's seed
    space           the ranges searched (SearchSpace()); base_config gives every other field (RECOMMENDED)
    wave_size       trials asked together and run in parallel (see the module's docstring)
    nested          also estimate the winner honestly by nested CV over `outer_folds` outer folds
    on_event        called with a SearchEvent after each trial and stage (in the calling thread)
    stop_event      set it to stop: the running trials finish (local) or are cancelled (cluster)

    Raises ValueError with a plain message for a bad argument, data or space, before any training.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
    _check_whole("n_trials", n_trials, 1, MAX_SEARCH_TRIALS)
    _check_whole("wave_size", wave_size, 1, MAX_SEARCH_WAVE)
    _check_whole("n_splits", n_splits, 2, MAX_CV_FOLDS)
    if nested:
        _check_whole("outer_folds", outer_folds, 2, MAX_NESTED_OUTER_FOLDS)
    if timeout_minutes is not None and (
        isinstance(timeout_minutes, bool)
        or not isinstance(timeout_minutes, (int, float))
        or not 0 < timeout_minutes <= MAX_SEARCH_MINUTES
    ):
        raise ValueError(
            f"timeout_minutes must be more than 0 and at most {MAX_SEARCH_MINUTES}; got {timeout_minutes!r}"
        )
    space = (space or SearchSpace()).validate()
    base = (base_config or RECOMMENDED).validate()
    X = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else np.asarray(X)
    y = check_target(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    splits = _grouped_splits(X, y, n_splits, n_repeats, seed)
    outer = make_splits(y, outer_folds, 1, seed, groups=patient_groups(X, y).ids) if nested else []

    start = time.perf_counter()
    deadline = time.monotonic() + 60 * timeout_minutes if timeout_minutes is not None else None
    owned = not isinstance(backend, Backend)
    engine = backend_from_choice(backend, scheduler)
    run = _Run(
        space=space,
        base=base,
        objective=objective,
        n_trials=n_trials,
        wave_size=wave_size,
        seed=seed,
        prune=prune,
        backend=engine,
        stop=_Stop(stop_event, deadline),
        on_event=on_event,
        trials_total=n_trials * (1 + len(outer)),
    )
    try:
        run.emit(kind="stage", stage="search", message=f"Searching on all {len(y)} rows ({engine.describe()})")
        study = _search(run, X, y, splits, "search")
        nested_estimate = _nested(run, X, y, outer, n_splits, n_repeats) if nested else None
    finally:
        if owned:
            engine.close()
    best = _best(study)
    if best is None:
        raise RuntimeError(
            "no trial completed"
            + (" before the search was stopped" if run.stop.is_set() else "; see the trials' errors in the log")
        )
    importances, note = parameter_importances(study, seed)
    result = SearchResult(
        objective=objective,
        best_config=ANNConfig.from_dict(best.user_attrs["config"]),
        best_value=float(best.value) if best.value is not None else float("nan"),
        best_trial=best.number,
        trials=trials_table(study),
        importances=importances,
        study=study,
        n_splits=n_splits,
        n_repeats=len(splits) // n_splits,
        seed=seed,
        backend=engine.describe() if not owned else engine.name,
        seconds=time.perf_counter() - start,
        stopped=run.stop.is_set(),
        nested=nested_estimate,
        notes=[note] if note else [],
    )
    run.emit(kind="done", stage="done", message=result.summary().splitlines()[0], best_value=result.best_value)
    return result


def _nested(run: _Run, X, y: np.ndarray, outer: list[Split], n_splits: int, n_repeats: int) -> NestedEstimate:
    """Per outer fold: a whole search on its training part, its winner scored on its test part."""
    rows = []
    for index, (train, test) in enumerate(outer):
        if run.stop.is_set():
            break
        stage = f"outer fold {index + 1} of {len(outer)}"
        run.emit(kind="stage", stage=stage, message=f"Nested CV, {stage}: searching on {len(train)} rows")
        X_train, y_train = take_rows(X, train), y[train]
        X_train = X_train.reset_index(drop=True) if isinstance(X_train, pd.DataFrame) else X_train
        inner_splits = _grouped_splits(X_train, y_train, n_splits, n_repeats, run.seed)
        study = _search(run, X_train, y_train, inner_splits, stage)
        winner = _best(study)
        if winner is None:
            break  # stopped before any trial of this fold completed
        config = ANNConfig.from_dict(winner.user_attrs["config"])
        with one_thread(torch_ops=False):
            pipeline = pipeline_from_config(config).fit(X_train, y_train)
            proba = positive_proba(pipeline, take_rows(X, test))
        rows.append(
            {
                "outer_fold": index,
                "n_train": len(train),
                "n_test": len(test),
                "inner_best": float(winner.value) if winner.value is not None else float("nan"),
                "outer_score": objective_score(run.objective, y[test], proba),
                "roc_auc": objective_score("roc_auc", y[test], proba),
                "brier": objective_score("brier", y[test], proba),
                "best_trial": winner.number,
                "config": config.to_json(indent=None),
            }
        )
    return NestedEstimate(pd.DataFrame(rows), run.objective, complete=len(rows) == len(outer))
