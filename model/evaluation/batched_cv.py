"""Cross-validation with every fold model trained at once, and with per-fold preprocessing shared.

Fitting K = n_splits x n_repeats small networks one after another spends most of its time
in per-step overhead (Python, small kernels), not in arithmetic. Here the K fold networks
are *stacked* in the training engine (model.nn.engine.StackedMLP, the one single fits use with
K = 1): layer l of all folds is one tensor W_l of shape (K, out, in), and a forward pass is one
batched matrix product per layer, h ← f(h W_lᵀ + b_l) on (K, rows, units). The optimizers of
model/nn/optimizers.py keep their state per fold (moments and step count), and a fold with no
rows in a mini-batch takes no step at all, so every fold is updated exactly as if it were alone.

No leakage: every fold gets its own preprocessor, fitted on that fold's training rows only,
and the data become K transformed copies X[k] of shape (n, d) (the one-hot width is fixed
by the schema, so every fold has the same d). A fold trains only on its own training rows:
mini-batches are drawn per fold from those rows, and the full-batch loss is masked to them.

What matches fold-by-fold training (ANNClassifier in a Pipeline):
- initial weights (the same MLP initialisation, seeded by config.seed, for every fold);
- the early-stopping hold-out (the same stratified split of each fold's training rows);
- class weights (from each fold's training rows); the loss (mean of weighted BCE per batch);
- the mini-batch order (one seeded permutation per epoch, drawn on the CPU as model/nn/training.py
  draws it, whatever the device);
- the optimizer's state: its step count and moments advance only on the fold's own batches;
- early stopping per fold: a fold whose validation loss has not improved for `patience`
  epochs is done, and ends with its best weights (later epochs never count for it).
What differs: dropout masks come from another random stream, so with dropout the fold
models differ from the sequential ones within the noise of training.

The same per-fold preprocessing serves every model of a comparison (FoldCache), so the
classical pipelines are not refitting identical imputers and scalers eight times over.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.pipeline import Pipeline

from model.data.exploration import frame_fingerprint
from model.data.preprocessing import make_preprocessor
from model.evaluation import fold_tasks
from model.evaluation.cross_validation import FoldPredictions, Split
from model.nn.config import ANNConfig
from model.nn.engine import StackedMLP
from model.nn.estimator import ANNClassifier
from model.nn.network import MLP, layer_sizes
from model.nn.optimizers import make_optimizer
from model.nn.training import class_weights, identical_row_groups, split_validation
from model.runtime.device import resolve_device
from model.runtime.helper_process import share_work
from model.runtime.limits import MAX_STACKED_ROWS
from model.runtime.threads import threads_for

EpochCallback = Callable[[int, int], None]  # (epoch done, epochs)


# ------------------------------------------------------------------ per-fold preprocessing
@dataclass
class PreprocessedFolds:
    """Every row transformed by each fold's own preprocessor (fitted on that fold's training rows)."""

    X: np.ndarray  # (K, n, d) float64, as the pipelines would see it
    preprocessors: list  # K fitted ColumnTransformers
    seconds: np.ndarray  # (K,) fit + transform time of each fold's preprocessor
    splits: list[Split]


def preprocess_folds(X: pd.DataFrame, splits: Sequence[Split], make=make_preprocessor) -> PreprocessedFolds:
    """Fit one preprocessor per split on its training rows; transform all rows with it. The splits are shared
    with the helper process (model.runtime.helper_process) when it has started and `make` can be sent there.
    Each fold's rows are copied into one (K, n, d) array as they arrive (never a list of them and a stacked copy:
    on a 200,000-row cohort that is 350 MB less at the peak)."""
    pieces = fold_tasks.chunks(len(splits))
    tasks = [(make, X, [splits[k][0] for k in piece]) for piece in pieces]
    stacked: np.ndarray | None = None
    fitted: list = [None] * len(splits)
    seconds = np.zeros(len(splits))

    def keep(index: int, part: list) -> None:
        nonlocal stacked
        for i, (transformed, preprocessor, took) in enumerate(part):
            if stacked is None:
                stacked = np.empty((len(splits), *transformed.shape), dtype=np.float64)
            if transformed.shape != stacked.shape[1:]:
                raise ValueError(
                    f"the folds' preprocessors produced different numbers of columns ({transformed.shape[1]} and "
                    f"{stacked.shape[2]}); the one-hot categories must be fixed by the schema"
                )
            k = pieces[index][i]
            stacked[k], fitted[k], seconds[k] = transformed, preprocessor, took
            part[i] = (None, preprocessor, took)  # the copy above is kept: the task's own array can go now

    if make is make_preprocessor:
        share_work(fold_tasks.preprocess_splits, tasks, on_result=keep)
    else:  # e.g. a lambda in a test: it cannot be pickled for the helper
        for index, task in enumerate(tasks):
            keep(index, fold_tasks.preprocess_splits(*task))
    if stacked is None:
        raise ValueError("there are no splits to preprocess")
    return PreprocessedFolds(stacked, fitted, seconds, list(splits))


def _folds_key(X, splits: Sequence[Split]) -> str:
    """The data's content hash and the exact splits: same key, same per-fold preprocessing."""
    digest = hashlib.sha1(frame_fingerprint(X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)).encode())
    for train, test in splits:
        digest.update(np.asarray(train, dtype=np.int64).tobytes() + b"|")
        digest.update(np.asarray(test, dtype=np.int64).tobytes() + b";")
    return digest.hexdigest()


class FoldCache:
    """Per-fold preprocessing computed once per (data, splits) and shared by every model."""

    def __init__(self, make=make_preprocessor, max_entries: int = 4):
        self.make = make
        self.max_entries = max_entries
        self._entries: dict[str, PreprocessedFolds] = {}

    def __len__(self) -> int:
        """How many (data, splits) entries are kept now (at most max_entries)."""
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry (their memory is freed once no model holds them)."""
        self._entries.clear()

    def get(self, X, splits: Sequence[Split]) -> PreprocessedFolds:
        key = _folds_key(X, splits)
        if key not in self._entries:
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = preprocess_folds(X, splits, self.make)
        return self._entries[key]


class SharedPreprocessingModel:
    """A Pipeline(preprocess, classifier) cross-validated on the FoldCache's per-fold preprocessing.

    Equivalent to cloning and fitting the whole pipeline per fold (the preprocessing is the
    same, fitted on the same rows), without refitting it for every model. For
    model.evaluation.cross_validation.cross_validate_models' batched hook.
    """

    def __init__(self, pipeline: Pipeline, cache: FoldCache, on_fold: Callable[[int], None] | None = None):
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            raise TypeError("expected Pipeline([(preprocess, ...), (classifier, ...)])")
        self.pipeline = pipeline
        self.cache = cache
        self.on_fold = on_fold
        self.estimators_: list = []

    def cross_val_predict_batched(self, X, y, splits: Sequence[Split]) -> FoldPredictions:
        """Each split's P(disease) and fit/predict seconds (the shared preprocessing not included:
        PreprocessedFolds.seconds has it). The folds are shared with the helper process when it has started
        (model.runtime.helper_process): the same fits, on two cores. on_fold(i) says i + 1 folds are done."""
        folds = self.cache.get(X, splits)
        y = np.asarray(y)
        estimator = self.pipeline.steps[-1][1]
        pieces = fold_tasks.chunks(len(splits))
        tasks = [(estimator, folds.X[list(piece)], y, [splits[k] for k in piece]) for piece in pieces]
        folds_done = 0

        def report(_index: int, part: list) -> None:
            nonlocal folds_done
            for _ in part:
                folds_done += 1
                if self.on_fold is not None:
                    self.on_fold(folds_done - 1)

        parts = share_work(fold_tasks.fit_folds, tasks, on_result=report)
        results = [fold for part in parts for fold in part]
        self.estimators_ = [fitted for *_, fitted in results]
        return FoldPredictions(
            [proba for proba, *_ in results], [fit for _, fit, *_ in results], [pred for _, _, pred, _ in results]
        )

    def fold_pipelines(self, X, y, splits: Sequence[Split]) -> list[Pipeline]:
        """The fitted pipeline of each split (the preprocessor of that fold + its classifier)."""
        self.cross_val_predict_batched(X, y, splits)
        folds = self.cache.get(X, splits)
        return [
            _fitted_pipeline(self.pipeline, pre, est)
            for pre, est in zip(folds.preprocessors, self.estimators_, strict=True)
        ]


def _fitted_pipeline(template: Pipeline, preprocessor, estimator) -> Pipeline:
    (pre_name, _), (est_name, _) = template.steps
    return Pipeline([(pre_name, preprocessor), (est_name, estimator)])


# ------------------------------------------------------------------ stacked training
@dataclass
class StackedFit:
    model: StackedMLP
    best_epoch: np.ndarray  # (K,) epoch whose weights each fold ended with
    stopped_early: np.ndarray  # (K,) bool
    epochs_run: int
    seconds: float


def _padded(rows: Sequence[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-index lists of unequal length as (K, m) indices plus a (K, m) validity mask."""
    width = max(len(r) for r in rows)
    index = np.zeros((len(rows), width), dtype=np.int64)
    valid = np.zeros((len(rows), width), dtype=bool)
    for k, r in enumerate(rows):
        index[k, : len(r)] = r
        valid[k, : len(r)] = True
    return torch.as_tensor(index, device=device), torch.as_tensor(valid, device=device)


class _EarlyStopping:
    """Per-fold early stopping on each fold's own hold-out, remembering each fold's best weights."""

    def __init__(
        self, X: torch.Tensor, y: torch.Tensor, row_weights: torch.Tensor, val_rows, patience: int, engine: StackedMLP
    ):
        index, valid = _padded(val_rows, X.device)
        K, d = X.shape[0], X.shape[2]
        self.X = torch.gather(X, 1, index.unsqueeze(-1).expand(-1, -1, d))
        self.y = y[index]
        self.scale = torch.gather(row_weights, 1, index) * valid / valid.sum(1, keepdim=True).clamp(min=1)
        self.patience, self.engine = patience, engine
        self.best_loss = torch.full((K,), float("inf"), device=X.device)
        self.best_theta = engine.theta.clone()
        self.best_epoch = torch.zeros(K, dtype=torch.long, device=X.device)
        self.since_best = torch.zeros(K, dtype=torch.long, device=X.device)
        self.active = torch.ones(K, dtype=torch.bool, device=X.device)

    def update(self, epoch: int) -> bool:
        """Record this epoch; False once every fold has stopped."""
        losses = F.binary_cross_entropy_with_logits(self.engine.forward(self.X), self.y, reduction="none")
        val_loss = (losses * self.scale).sum(1)
        improved = self.active & (val_loss < self.best_loss)
        self.best_loss = torch.where(improved, val_loss, self.best_loss)
        self.best_epoch = torch.where(improved, epoch, self.best_epoch)
        self.since_best = torch.where(improved, 0, self.since_best + self.active.long())
        self.best_theta.copy_(torch.where(improved.unsqueeze(1), self.engine.theta, self.best_theta))
        self.active &= self.since_best < self.patience
        return bool(self.active.any())

    def restore(self) -> None:
        self.engine.theta.copy_(self.best_theta)


def train_stacked(
    config: ANNConfig,
    X: np.ndarray,
    y: np.ndarray,
    train_rows: Sequence[np.ndarray],
    on_epoch: EpochCallback | None = None,
) -> StackedFit:
    """Train K networks together: network k on rows train_rows[k] of X[k] (X: (K, n, d))."""
    config.validate()
    device = resolve_device(config.device)
    K, n, d = X.shape
    with threads_for(device, K * n * max(layer_sizes(config, d))):
        return _train_stacked(config, X, y, train_rows, on_epoch, device)


def _train_stacked(config: ANNConfig, X, y, train_rows, on_epoch, device) -> StackedFit:
    start = time.perf_counter()
    K, n, d = X.shape
    y_np = np.asarray(y, dtype=np.float32)
    # Each fold's early-stopping hold-out: the very split ANNClassifier.fit would make.
    fit_rows, val_rows = [], []
    for k, rows in enumerate(train_rows):
        rows = np.asarray(rows)
        if config.early_stopping:
            kept, held_out, _, _ = split_validation(
                rows,
                y_np[rows].astype(int),
                config.validation_fraction,
                config.seed,
                groups=identical_row_groups(X[k][rows]),
            )
            fit_rows.append(np.asarray(kept))
            val_rows.append(np.asarray(held_out))
        else:
            fit_rows.append(rows)

    X_t = torch.as_tensor(X, dtype=torch.float32, device=device)
    y_t = torch.as_tensor(y_np, device=device)
    row_weights = torch.ones(K, n, device=device)
    for k, fold_rows in enumerate(fit_rows):  # class weights from each fold's own training rows
        weights = class_weights(y_t[torch.as_tensor(fold_rows, device=device)], config.class_weight)
        if weights is not None:  # None: no class weighting, every row counts once
            row_weights[k] = weights[y_t.long()]

    # Every fold starts where its fold-by-fold fit would: the config's seeded initialisation.
    engine = StackedMLP(MLP(config, d), K, device)
    optimizer = make_optimizer(config, engine.theta, engine.grad, engine.decayed)
    dropout_rng = torch.Generator(device=device).manual_seed(config.seed)
    stopper = (
        _EarlyStopping(X_t, y_t, row_weights, val_rows, config.patience, engine) if config.early_stopping else None
    )

    fit_index, _ = _padded(fit_rows, device)
    sizes = np.asarray([len(r) for r in fit_rows])
    # No batch size (full-batch gradient descent) is one batch as large as the largest fold.
    effective_batch_size = config.effective_batch_size
    batch_size = int(sizes.max()) if effective_batch_size is None else effective_batch_size
    full_batch = batch_size >= sizes.max()
    if full_batch:
        mask = np.zeros((K, n), dtype=np.float32)
        for k, rows in enumerate(fit_rows):
            mask[k, rows] = 1.0 / len(rows)
        full_scale = (row_weights * torch.as_tensor(mask, device=device)).unsqueeze(-1)
        y_full = y_t.view(1, n, 1).expand(K, n, 1)
    else:
        # One CPU generator per training-set size draws the permutations fold-by-fold training
        # draws (model/nn/training.py shuffles on the CPU whatever the device), so folds of equal size
        # share a permutation as their fold-by-fold fits would.
        shufflers = {m: torch.Generator().manual_seed(config.seed) for m in sorted(set(sizes.tolist()))}
        starts = range(0, -(-int(sizes.max()) // batch_size) * batch_size, batch_size)
        # A fold takes part in the batch starting at `lo` iff it has more than lo rows (its rows come
        # first in its permuted order, the padding after): known here, so no device sync per batch.
        active = [None if (sizes > lo).all() else sizes > lo for lo in starts]
        # Each position's share of its fold's batch mean (0 for padding): the same every epoch.
        width = fit_index.shape[1]
        position = np.arange(width)
        rows_in_batch = np.clip(sizes[:, None] - (position // batch_size * batch_size)[None, :], 0, batch_size)
        share = np.where(position[None, :] < sizes[:, None], 1.0 / np.maximum(rows_in_batch, 1), 0.0)
        position_share = torch.as_tensor(share, dtype=torch.float32, device=device)
        y_rows, w_rows = y_t[fit_index], torch.gather(row_weights, 1, fit_index)

    epochs_run = 0
    for epoch in range(1, config.epochs + 1):
        if full_batch:
            engine.backprop(X_t, y_full, full_scale, dropout_rng)
            optimizer.step()
        else:
            perms = {m: _permutation(shufflers[m], m, width) for m in shufflers}
            order = torch.stack([perms[m] for m in sizes.tolist()]).to(device)
            rows = torch.gather(fit_index, 1, order)
            X_batches = torch.gather(X_t, 1, rows.unsqueeze(-1).expand(-1, -1, d)).split(batch_size, dim=1)
            y_batches = torch.gather(y_rows, 1, order).unsqueeze(-1).split(batch_size, dim=1)
            scales = (torch.gather(w_rows, 1, order) * position_share).unsqueeze(-1).split(batch_size, dim=1)
            for xb, yb, scale, folds in zip(X_batches, y_batches, scales, active, strict=True):
                engine.backprop(xb, yb, scale, dropout_rng)
                optimizer.step(folds)  # a fold without rows in this batch takes no step
        epochs_run = epoch
        if on_epoch is not None:
            on_epoch(epoch, config.epochs)
        if stopper is not None and not stopper.update(epoch):
            break

    if stopper is not None:
        stopper.restore()
        best, stopped = stopper.best_epoch.cpu().numpy(), (~stopper.active).cpu().numpy()
    else:
        best, stopped = np.full(K, epochs_run), np.zeros(K, dtype=bool)
    return StackedFit(engine, best, stopped, epochs_run, time.perf_counter() - start)


def _permutation(generator: torch.Generator, size: int, width: int) -> torch.Tensor:
    """Positions 0..width-1 (on the CPU): a fresh permutation of the first `size` (the fold's rows), then
    the padding."""
    perm = torch.randperm(size, generator=generator)
    if size == width:
        return perm
    return torch.cat([perm, torch.arange(size, width)])


def predict_stacked(model: StackedMLP, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """P(disease) of every fold model on its own copy of the rows: (K, n)."""
    logits = model.forward(torch.as_tensor(X, dtype=torch.float32, device=model.device))
    return torch.sigmoid(logits.cpu().double()).numpy()  # float64 only on the host: MPS has none


# ------------------------------------------------------------------ the hook for evaluation
class BatchedANN:
    """The ANN of `config` (behind the shared preprocessing), cross-validated with all folds at once.

    Pass it to model.evaluation.cross_validation.cross_validate_models in place of pipeline_from_config(config):
    it has the batched hook `cross_val_predict_batched(X, y, splits)`. Folds train together in chunks of at most
    MAX_STACKED_ROWS patient-fold rows (all of them at once on small data), so a large cohort's memory stays
    bounded; a fold's training is the same in any chunk (with dropout, its masks come from its chunk's stream).
    """

    def __init__(self, config: ANNConfig, cache: FoldCache | None = None, on_epoch: EpochCallback | None = None):
        self.config = config.validate()
        self.cache = cache or FoldCache()
        self.on_epoch = on_epoch
        self.fits_: list[StackedFit] = []  # one per chunk of folds, in fold order

    def fold_network(self, k: int) -> MLP:
        """Split k's fitted network (a plain MLP on the CPU) from the last cross_val_predict_batched call."""
        if not self.fits_:
            raise RuntimeError("BatchedANN has not been fitted; call cross_val_predict_batched first")
        for fit in self.fits_:
            folds_in_chunk = fit.best_epoch.shape[0]
            if k < folds_in_chunk:
                return fit.model.network(k)
            k -= folds_in_chunk
        raise IndexError("no such split in the last cross-validation")

    @property
    def seconds(self) -> float:
        """Training seconds of the last cross_val_predict_batched call, every chunk together."""
        return sum(fit.seconds for fit in self.fits_)

    def cross_val_predict_batched(self, X, y, splits: Sequence[Split]) -> FoldPredictions:
        """Each split's P(disease); the folds train and predict together, so each split's seconds
        are an equal share of the whole (the shared preprocessing not included)."""
        folds = self.cache.get(X, splits)
        n_rows = folds.X.shape[1]
        per_chunk = max(MAX_STACKED_ROWS // max(n_rows, 1), 1)
        starts = range(0, len(splits), per_chunk)
        self.fits_, probas, predict_seconds = [], [], 0.0
        for c, lo in enumerate(starts):
            chunk = range(lo, min(lo + per_chunk, len(splits)))
            on_epoch = None
            if self.on_epoch is not None:  # progress over every chunk's epochs: the last chunk's last is the end
                report, done_before = self.on_epoch, c * self.config.epochs
                total = len(starts) * self.config.epochs

                def on_epoch(epoch: int, _epochs: int, report=report, done_before=done_before, total=total) -> None:
                    report(done_before + epoch, total)

            fit = train_stacked(
                self.config, folds.X[chunk.start : chunk.stop], y, [splits[k][0] for k in chunk], on_epoch
            )
            self.fits_.append(fit)
            start = time.perf_counter()
            proba = predict_stacked(fit.model, folds.X[chunk.start : chunk.stop])
            probas += [proba[i, splits[k][1]] for i, k in enumerate(chunk)]
            predict_seconds += time.perf_counter() - start
        fit_share, predict_share = self.seconds / len(splits), predict_seconds / len(splits)
        return FoldPredictions(probas, [fit_share] * len(splits), [predict_share] * len(splits))

    def fold_pipelines(self, X, y, splits: Sequence[Split]) -> list[Pipeline]:
        """Each split's fitted Pipeline(preprocess, ann), e.g. for permutation importance."""
        self.cross_val_predict_batched(X, y, splits)
        folds = self.cache.get(X, splits)
        config_dict = self.config.replace(device="cpu").to_dict()
        pipelines = []
        for k, preprocessor in enumerate(folds.preprocessors):
            state = {key: value.clone() for key, value in self.fold_network(k).state_dict().items()}
            ann = ANNClassifier.from_state(config_dict, state, n_features_in=folds.X.shape[2], device="cpu")
            pipelines.append(Pipeline([("preprocess", preprocessor), ("ann", ann)]))
        return pipelines


# What build_models hands to cross-validation: both share the FoldCache and have the batched hook.
BatchedModel = SharedPreprocessingModel | BatchedANN
