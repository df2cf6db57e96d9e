"""Cross-validation with every fold model trained at once, and with per-fold preprocessing shared.

Fitting K = n_splits x n_repeats small networks one after another spends most of its time
in per-step overhead (Python, small kernels), not in arithmetic. Here the K fold networks
are *stacked*: layer l of all folds is one tensor W_l of shape (K, out, in), and a forward
pass is one batched matrix product per layer, h ← f(h W_lᵀ + b_l) on (K, rows, units).
The update rules of model/optimizers.py are elementwise, so one optimizer on the stacked
parameters updates every fold exactly as if it were alone.

No leakage: every fold gets its own preprocessor, fitted on that fold's training rows only,
and the data become K transformed copies X[k] of shape (n, d) (the one-hot width is fixed
by the schema, so every fold has the same d). A fold trains only on its own training rows:
mini-batches are drawn per fold from those rows, and the full-batch loss is masked to them.

What matches fold-by-fold training (ANNClassifier in a Pipeline):
- initial weights (the same MLP initialisation, seeded by config.seed, for every fold);
- the early-stopping hold-out (the same stratified split of each fold's training rows);
- class weights (from each fold's training rows); the loss (mean of weighted BCE per batch);
- the mini-batch order (one seeded permutation per epoch, as in model/training.py);
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
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from model.config import ANNConfig
from model.device import resolve_device
from model.estimator import ANNClassifier
from model.evaluation import FoldPredictions, Split, take_rows
from model.exploration import frame_fingerprint
from model.network import ACTIVATION_DERIVATIVES, ACTIVATION_FUNCTIONS, MLP, layer_sizes
from model.optimizers import FlatParameters, make_optimizer
from model.preprocessing import make_preprocessor
from model.threads import threads_for
from model.training import class_weights, split_validation

EpochCallback = Callable[[int, int], None]  # (epoch done, epochs)


# ------------------------------------------------------------------ per-fold preprocessing
@dataclass
class PreprocessedFolds:
    """Every row transformed by each fold's own preprocessor (fitted on that fold's training rows)."""

    X: np.ndarray            # (K, n, d) float64, as the pipelines would see it
    preprocessors: list      # K fitted ColumnTransformers
    seconds: np.ndarray      # (K,) fit + transform time of each fold's preprocessor
    splits: list[Split]


def preprocess_folds(X: pd.DataFrame, splits: Sequence[Split], make=make_preprocessor) -> PreprocessedFolds:
    """Fit one preprocessor per split on its training rows; transform all rows with it."""
    stacked, fitted, seconds = [], [], []
    for train, _ in splits:
        start = time.perf_counter()
        preprocessor = make().fit(take_rows(X, train))
        stacked.append(np.asarray(preprocessor.transform(X), dtype=np.float64))
        seconds.append(time.perf_counter() - start)
        fitted.append(preprocessor)
    widths = {part.shape[1] for part in stacked}
    if len(widths) != 1:
        raise ValueError(f"the folds' preprocessors produced different numbers of columns {sorted(widths)}; "
                         "the one-hot categories must be fixed by the schema")
    return PreprocessedFolds(np.stack(stacked), fitted, np.asarray(seconds), list(splits))


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
    model.evaluation.cross_validate_models' batched hook.
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
        PreprocessedFolds.seconds has it)."""
        folds = self.cache.get(X, splits)
        y = np.asarray(y)
        probas, fit_s, predict_s, fitted = [], [], [], []
        for k, (train, test) in enumerate(splits):
            estimator = clone(self.pipeline.steps[-1][1])
            start = time.perf_counter()
            estimator.fit(folds.X[k][train], y[train])
            done = time.perf_counter()
            proba = estimator.predict_proba(folds.X[k][test])[:, list(estimator.classes_).index(1)]
            predict_s.append(time.perf_counter() - done)
            fit_s.append(done - start)
            probas.append(proba)
            fitted.append(estimator)
            if self.on_fold is not None:
                self.on_fold(k)
        self.estimators_ = fitted
        return FoldPredictions(probas, fit_s, predict_s)

    def fold_pipelines(self, X, y, splits: Sequence[Split]) -> list[Pipeline]:
        """The fitted pipeline of each split (the preprocessor of that fold + its classifier)."""
        self.cross_val_predict_batched(X, y, splits)
        folds = self.cache.get(X, splits)
        return [_fitted_pipeline(self.pipeline, pre, est) for pre, est in zip(folds.preprocessors, self.estimators_)]


def _fitted_pipeline(template: Pipeline, preprocessor, estimator) -> Pipeline:
    (pre_name, _), (est_name, _) = template.steps
    return Pipeline([(pre_name, preprocessor), (est_name, estimator)])


# ------------------------------------------------------------------ the stacked network
class StackedMLP:
    """K copies of model.network.MLP with separate weights: W_l (K, out, in), b_l (K, out)."""

    def __init__(self, config: ANNConfig, n_inputs: int, n_models: int, device: torch.device):
        template = MLP(config, n_inputs)  # every fold starts where a fold-by-fold fit would
        self.config, self.n_inputs, self.n_models = config, n_inputs, n_models
        self.weights = [layer.weight.detach().to(device).expand(n_models, -1, -1).clone()
                        for layer in template.layers]
        self.biases = [layer.bias.detach().to(device).expand(n_models, -1).clone() for layer in template.layers]
        for p in self.parameters:
            p.grad = torch.zeros_like(p)
        self.activations = [layer.activation for layer in config.hidden_layers]
        self.functions = [ACTIVATION_FUNCTIONS[name] for name in self.activations]
        self.dropouts = [float(layer.dropout) for layer in config.hidden_layers]

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    @property
    def decayed(self) -> list[bool]:
        """L2 applies to weights only, as in fold-by-fold training."""
        return [True, False] * len(self.weights)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Evaluation-mode logits (K, rows) for inputs (K, rows, d)."""
        with torch.no_grad():
            h = X
            for W, b, f in zip(self.weights, self.biases, self.functions):
                h = f(torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2)))
            return torch.baddbmm(self.biases[-1].unsqueeze(1), h, self.weights[-1].transpose(1, 2)).squeeze(-1)

    def backprop(self, X: torch.Tensor, y: torch.Tensor, scale: torch.Tensor, generator: torch.Generator) -> None:
        """Gradients of Σ_k Σ_i scale[k,i]·BCE(σ(z[k,i]), y[k,i]) written into each parameter's .grad.

        MLP.backprop, with one more (fold) dimension: δ = ∂L/∂z gives ∂L/∂W = δᵀ a_prev and
        ∂L/∂b = Σ δ per fold, and δ_prev = (δ W) ⊙ f'(z_prev). scale = weight / batch size of the
        row's fold (0 for padding), so each fold's gradient is that of its own mean loss.
        """
        inputs, pre_activations, outputs, masks = [], [], [], []
        with torch.no_grad():
            a = X
            for W, b, f, p in zip(self.weights, self.biases, self.functions, self.dropouts):
                inputs.append(a)
                z = torch.baddbmm(b.unsqueeze(1), a, W.transpose(1, 2))
                a = f(z)
                pre_activations.append(z)
                outputs.append(a)
                mask = None
                if p > 0.0:
                    mask = torch.empty_like(a).bernoulli_(1.0 - p, generator=generator).div_(1.0 - p)
                    a = a * mask
                masks.append(mask)
            W_out, b_out = self.weights[-1], self.biases[-1]
            logits = torch.baddbmm(b_out.unsqueeze(1), a, W_out.transpose(1, 2)).squeeze(-1)
            delta = torch.sigmoid(logits).sub_(y).mul_(scale).unsqueeze(-1)  # (K, rows, 1)
            torch.bmm(delta.transpose(1, 2), a, out=W_out.grad)
            torch.sum(delta, 1, out=b_out.grad)
            next_weight = W_out
            for i in range(len(self.activations) - 1, -1, -1):
                delta = torch.bmm(delta, next_weight)
                if masks[i] is not None:
                    delta.mul_(masks[i])
                derivative = ACTIVATION_DERIVATIVES[self.activations[i]](pre_activations[i], outputs[i])
                if derivative is not None:
                    delta.mul_(derivative)
                torch.bmm(delta.transpose(1, 2), inputs[i], out=self.weights[i].grad)
                torch.sum(delta, 1, out=self.biases[i].grad)
                next_weight = self.weights[i]

    def network(self, k: int) -> MLP:
        """Fold k as a plain MLP on the CPU, in evaluation mode."""
        net = MLP(self.config, self.n_inputs)
        with torch.no_grad():
            for layer, W, b in zip(net.layers, self.weights, self.biases):
                layer.weight.copy_(W[k].cpu())
                layer.bias.copy_(b[k].cpu())
        return net.eval()


@dataclass
class StackedFit:
    model: StackedMLP
    best_epoch: np.ndarray     # (K,) epoch whose weights each fold ended with
    stopped_early: np.ndarray  # (K,) bool
    epochs_run: int
    seconds: float


def _padded(rows: Sequence[np.ndarray], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-index lists of unequal length as (K, m) indices plus a (K, m) validity mask."""
    width = max(len(r) for r in rows)
    index = np.zeros((len(rows), width), dtype=np.int64)
    valid = np.zeros((len(rows), width), dtype=bool)
    for k, r in enumerate(rows):
        index[k, :len(r)] = r
        valid[k, :len(r)] = True
    return torch.as_tensor(index, device=device), torch.as_tensor(valid, device=device)


class _FoldFreezer:
    """Undo one optimizer step for some folds (a fold with no rows in a batch takes no step)."""

    def __init__(self, flat: FlatParameters, optimizer, n_models: int):
        owner = [torch.arange(n_models, device=flat.theta.device).repeat_interleave(p[0].numel())
                 for p in flat.params]
        self.fold_of_entry = torch.cat(owner)
        self.tensors = [flat.theta] + [v for v in vars(optimizer).values()
                                       if torch.is_tensor(v) and v.shape == flat.theta.shape
                                       and v is not flat.theta and v is not flat.grad]

    def step(self, optimizer, frozen_folds: torch.Tensor) -> None:
        mask = frozen_folds[self.fold_of_entry]
        saved = [t[mask].clone() for t in self.tensors]
        optimizer.step()
        for t, s in zip(self.tensors, saved):
            t[mask] = s


class _EarlyStopping:
    """Per-fold early stopping on each fold's own hold-out, remembering each fold's best weights."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, row_weights: torch.Tensor, val_rows, patience: int,
                 flat: FlatParameters, fold_of_entry: torch.Tensor):
        index, valid = _padded(val_rows, X.device)
        K, d = X.shape[0], X.shape[2]
        self.X = torch.gather(X, 1, index.unsqueeze(-1).expand(-1, -1, d))
        self.y = y[index]
        self.scale = torch.gather(row_weights, 1, index) * valid / valid.sum(1, keepdim=True).clamp(min=1)
        self.patience, self.flat, self.fold_of_entry = patience, flat, fold_of_entry
        self.best_loss = torch.full((K,), float("inf"), device=X.device)
        self.best_theta = flat.theta.clone()
        self.best_epoch = torch.zeros(K, dtype=torch.long, device=X.device)
        self.since_best = torch.zeros(K, dtype=torch.long, device=X.device)
        self.active = torch.ones(K, dtype=torch.bool, device=X.device)

    def update(self, model: StackedMLP, epoch: int) -> bool:
        """Record this epoch; False once every fold has stopped."""
        losses = F.binary_cross_entropy_with_logits(model.forward(self.X), self.y, reduction="none")
        val_loss = (losses * self.scale).sum(1)
        improved = self.active & (val_loss < self.best_loss)
        self.best_loss = torch.where(improved, val_loss, self.best_loss)
        self.best_epoch = torch.where(improved, epoch, self.best_epoch)
        self.since_best = torch.where(improved, 0, self.since_best + self.active.long())
        copy = improved[self.fold_of_entry]
        self.best_theta[copy] = self.flat.theta[copy]
        self.active &= self.since_best < self.patience
        return bool(self.active.any())

    def restore(self) -> None:
        self.flat.theta.copy_(self.best_theta)


def train_stacked(config: ANNConfig, X: np.ndarray, y: np.ndarray, train_rows: Sequence[np.ndarray],
                  on_epoch: EpochCallback | None = None) -> StackedFit:
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
    for rows in train_rows:
        rows = np.asarray(rows)
        if config.early_stopping:
            kept, held_out, _, _ = split_validation(rows, y_np[rows].astype(int), config.validation_fraction,
                                                    config.seed)
            fit_rows.append(np.asarray(kept))
            val_rows.append(np.asarray(held_out))
        else:
            fit_rows.append(rows)

    X_t = torch.as_tensor(X, dtype=torch.float32, device=device)
    y_t = torch.as_tensor(y_np, device=device)
    row_weights = torch.ones(K, n, device=device)
    if config.class_weight is not None:  # from each fold's own training rows
        per_class = [class_weights(y_t[torch.as_tensor(r, device=device)], config.class_weight) for r in fit_rows]
        row_weights = torch.stack([w[y_t.long()] for w in per_class])

    model = StackedMLP(config, d, K, device)
    flat = FlatParameters(model.parameters)
    optimizer = make_optimizer(flat, config, model.decayed)
    freezer = _FoldFreezer(flat, optimizer, K)
    dropout_rng = torch.Generator(device=device).manual_seed(config.seed)
    stopper = (_EarlyStopping(X_t, y_t, row_weights, val_rows, config.patience, flat, freezer.fold_of_entry)
               if config.early_stopping else None)

    fit_index, fit_valid = _padded(fit_rows, device)
    sizes = [len(r) for r in fit_rows]
    batch_size = config.effective_batch_size
    full_batch = batch_size is None or batch_size >= max(sizes)
    if full_batch:
        mask = np.zeros((K, n), dtype=np.float32)
        for k, rows in enumerate(fit_rows):
            mask[k, rows] = 1.0 / len(rows)
        full_scale = row_weights * torch.as_tensor(mask, device=device)
        y_full = y_t.expand(K, n)
    else:
        # One generator per training-set size draws the permutations fold-by-fold training draws.
        shufflers = {m: torch.Generator(device=device).manual_seed(config.seed) for m in set(sizes)}
        n_batches = -(-max(sizes) // batch_size)
        y_rows, w_rows = y_t[fit_index], torch.gather(row_weights, 1, fit_index)

    epochs_run = 0
    for epoch in range(1, config.epochs + 1):
        if full_batch:
            model.backprop(X_t, y_full, full_scale, dropout_rng)
            optimizer.step()
        else:
            # Folds of equal size share a permutation, as their fold-by-fold fits would.
            perms = {m: _permutation(shufflers[m], m, fit_index.shape[1]) for m in shufflers}
            order = torch.stack([perms[m] for m in sizes])
            rows, valid = torch.gather(fit_index, 1, order), torch.gather(fit_valid, 1, order)
            targets, weights = torch.gather(y_rows, 1, order), torch.gather(w_rows, 1, order)
            for lo in range(0, n_batches * batch_size, batch_size):
                hi = lo + batch_size
                batch_valid = valid[:, lo:hi]
                counts = batch_valid.sum(1, keepdim=True)
                scale = weights[:, lo:hi] * batch_valid / counts.clamp(min=1)
                xb = torch.gather(X_t, 1, rows[:, lo:hi].unsqueeze(-1).expand(-1, -1, d))
                model.backprop(xb, targets[:, lo:hi], scale, dropout_rng)
                empty = counts.squeeze(1) == 0
                if bool(empty.any()):
                    freezer.step(optimizer, empty)
                else:
                    optimizer.step()
        epochs_run = epoch
        if on_epoch is not None:
            on_epoch(epoch, config.epochs)
        if stopper is not None and not stopper.update(model, epoch):
            break

    if stopper is not None:
        stopper.restore()
        best, stopped = stopper.best_epoch.cpu().numpy(), (~stopper.active).cpu().numpy()
    else:
        best, stopped = np.full(K, epochs_run), np.zeros(K, dtype=bool)
    flat.release()
    return StackedFit(model, best, stopped, epochs_run, time.perf_counter() - start)


def _permutation(generator: torch.Generator, size: int, width: int) -> torch.Tensor:
    """Positions 0..width-1: a fresh permutation of the first `size` (the fold's rows), then the padding."""
    perm = torch.randperm(size, generator=generator, device=generator.device)
    if size == width:
        return perm
    return torch.cat([perm, torch.arange(size, width, device=generator.device)])


def predict_stacked(model: StackedMLP, X: np.ndarray | torch.Tensor) -> np.ndarray:
    """P(disease) of every fold model on its own copy of the rows: (K, n)."""
    logits = model.forward(torch.as_tensor(X, dtype=torch.float32, device=model.weights[0].device))
    return torch.sigmoid(logits.double()).cpu().numpy()


# ------------------------------------------------------------------ the hook for evaluation
class BatchedANN:
    """The ANN of `config` (behind the shared preprocessing), cross-validated with all folds at once.

    Pass it to model.evaluation.cross_validate_models in place of pipeline_from_config(config):
    it has the batched hook `cross_val_predict_batched(X, y, splits)`.
    """

    def __init__(self, config: ANNConfig, cache: FoldCache | None = None, on_epoch: EpochCallback | None = None):
        self.config = config.validate()
        self.cache = cache or FoldCache()
        self.on_epoch = on_epoch
        self.fit_: StackedFit | None = None

    def cross_val_predict_batched(self, X, y, splits: Sequence[Split]) -> FoldPredictions:
        """Each split's P(disease); the folds train and predict together, so each split's seconds
        are an equal share of the whole (the shared preprocessing not included)."""
        folds = self.cache.get(X, splits)
        self.fit_ = train_stacked(self.config, folds.X, y, [train for train, _ in splits], self.on_epoch)
        start = time.perf_counter()
        proba = predict_stacked(self.fit_.model, folds.X)
        probas = [proba[k, test] for k, (_, test) in enumerate(splits)]
        predict_share = (time.perf_counter() - start) / len(splits)
        fit_share = self.fit_.seconds / len(splits)
        return FoldPredictions(probas, [fit_share] * len(splits), [predict_share] * len(splits))

    def fold_pipelines(self, X, y, splits: Sequence[Split]) -> list[Pipeline]:
        """Each split's fitted Pipeline(preprocess, ann), e.g. for permutation importance."""
        self.cross_val_predict_batched(X, y, splits)
        folds = self.cache.get(X, splits)
        config_dict = self.config.replace(device="cpu").to_dict()
        pipelines = []
        for k, preprocessor in enumerate(folds.preprocessors):
            state = {key: value.clone() for key, value in self.fit_.model.network(k).state_dict().items()}
            ann = ANNClassifier.from_state(config_dict, state, n_features_in=folds.X.shape[2], device="cpu")
            pipelines.append(Pipeline([("preprocess", preprocessor), ("ann", ann)]))
        return pipelines
