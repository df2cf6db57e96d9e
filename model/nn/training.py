"""The training loop: generic, headless, and observable through callbacks.

`train` knows nothing about Streamlit or any UI. It emits events, in the style of
skorch: `on_train_begin(info)`, `on_batch_end(event)` (only to callbacks that override
it, so nobody pays for it otherwise), `on_epoch_end(EpochEvent)` and
`on_train_end(History)`. A live chart is just a Callback.

Per epoch it measures, on the whole training (and validation) set, the loss, accuracy
and ROC AUC, plus per-layer gradient norms (of the epoch's last batch) and weight
norms. Everything is computed in torch on tensors already on the device and fetched
with a single transfer per epoch, so the metrics cost little next to the steps.
A threading.Event (`stop_event`) checked between batches cancels training; the
History gathered so far is returned. A model.nn.control.TrainingControl (`control`) lets another
thread pause the loop at epoch boundaries, run it one epoch (or a few) at a time, change the
learning rate between epochs, or stop it; callbacks get on_train_begin before the first pause,
so a live view can draw the initial weights while the training waits.

Two held-out sets can take part, with different roles. The *stopping* set (X_val, y_val,
or with early stopping and none given, a stratified `validation_fraction` of X held out)
chooses the best epoch and ends training: it influences the weights. A *monitor* set
(`monitor=(X, y)`) is only watched: the events' val_* metrics come from it, and nothing
about it reaches the weights, so metrics measured on it afterwards stay honest.

All randomness comes from generators seeded with config.seed and owned by the run (the
shuffles on the CPU, the dropout masks on the device), never from torch's process-wide
generator: a seed gives the same network however many trainings run at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model.nn.config import ANNConfig
from model.nn.control import TrainingControl
from model.nn.engine import StackedMLP
from model.nn.network import MLP, layer_names, layer_sizes
from model.nn.optimizers import make_optimizer
from model.runtime.device import resolve_device
from model.runtime.threads import threads_for

logger = logging.getLogger(__name__)


@dataclass
class TrainInfo:
    """Sent once to on_train_begin."""

    epochs: int
    n_train: int
    n_val: int
    n_batches: int
    batch_size: int
    device: str
    layer_names: list[str]


@dataclass
class BatchEvent:
    """Sent to on_batch_end. `loss` is a 0-d tensor: reading it (float(ev.loss)) costs a sync."""

    epoch: int
    batch: int
    n_batches: int
    loss: torch.Tensor


@dataclass
class EpochEvent:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    val_loss: float | None
    train_acc: float
    val_acc: float | None
    train_auc: float | None  # None when a set holds only one class
    val_auc: float | None
    grad_norms: dict[str, float]
    weight_norms: dict[str, float]
    lr: float
    seconds: float
    elapsed: float
    stop_loss: float | None = None  # loss on the stopping set (= val_loss unless a monitor set is shown)


@dataclass
class History:
    epochs: list[EpochEvent] = field(default_factory=list)
    best_epoch: int | None = None  # lowest stopping-set loss (early stopping); else the last epoch
    stopped_early: bool = False
    cancelled: bool = False
    device: str = "cpu"
    inner_holdout: int = 0  # training rows held out (not fitted on) to decide early stopping

    def __len__(self) -> int:
        return len(self.epochs)

    def column(self, name: str) -> list:
        """One metric across epochs, e.g. history.column("val_loss")."""
        return [getattr(event, name) for event in self.epochs]

    def as_records(self) -> list[dict]:
        """Flat rows (norms as "grad_norm hidden 1" ...), ready for pandas.DataFrame."""
        rows = []
        for event in self.epochs:
            row = {k: v for k, v in vars(event).items() if k not in ("grad_norms", "weight_norms")}
            row.update({f"grad_norm {k}": v for k, v in event.grad_norms.items()})
            row.update({f"weight_norm {k}": v for k, v in event.weight_norms.items()})
            rows.append(row)
        return rows


class Callback:
    """Subclass and override what you need; every hook is optional."""

    def on_train_begin(self, info: TrainInfo) -> None:
        pass

    def on_batch_end(self, event: BatchEvent) -> None:
        pass

    def on_epoch_end(self, event: EpochEvent) -> None:
        pass

    def on_train_end(self, history: History) -> None:
        pass


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


# ---- metrics, in torch -------------------------------------------------------------
def roc_auc(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ROC AUC as the Mann-Whitney statistic: P(score_pos > score_neg) + ½ P(tie).
    O(n log n) with a sort and two searchsorted; NaN when only one class is present."""
    positive = y > 0.5
    return _auc_from_split(scores[positive], scores[~positive])


def _auc_from_split(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """AUC from the positives' and negatives' scores; on (K, ·) rows, one AUC per row (K,)."""
    neg = torch.sort(neg, dim=-1).values
    below = torch.searchsorted(neg, pos, right=False)
    at_or_below = torch.searchsorted(neg, pos, right=True)
    return (below + at_or_below).sum(-1).to(pos.dtype) / (2.0 * pos.shape[-1] * neg.shape[-1])


class _MetricSet:
    """A data set on the device plus what its metrics need that never changes (class
    indices, sample weights), so each epoch's loss, accuracy and AUC are a few tensor ops."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None):
        self.X, self.y, self.weight = X, y, weight
        self.positive = y > 0.5
        self.pos_index = torch.nonzero(self.positive).squeeze(1)
        self.neg_index = torch.nonzero(~self.positive).squeeze(1)

    def loss(self, network: MLP, logits: torch.Tensor | None = None) -> torch.Tensor:
        logits = network.evaluate(self.X) if logits is None else logits
        return F.binary_cross_entropy_with_logits(logits, self.y, weight=self.weight)

    def scalars(self, network: MLP) -> list[torch.Tensor]:
        logits = network.evaluate(self.X)
        loss = self.loss(network, logits)
        accuracy = ((logits > 0) == self.positive).float().mean()
        auc = _auc_from_split(logits[self.pos_index], logits[self.neg_index])
        return [loss, accuracy, auc]

    def stacked_scalars(self, logits: torch.Tensor) -> torch.Tensor:
        """Loss, accuracy and AUC of K networks at once from their logits (K, n): a (K, 3) tensor."""
        losses = F.binary_cross_entropy_with_logits(
            logits, self.y.expand_as(logits), weight=self.weight, reduction="none"
        ).mean(1)
        accuracy = ((logits > 0) == self.positive).float().mean(1)
        auc = _auc_from_split(logits[:, self.pos_index], logits[:, self.neg_index])
        return torch.stack([losses, accuracy, auc], dim=1)


def held_out_set(X, y, per_class: torch.Tensor | None, device: torch.device) -> _MetricSet:
    """A validation or monitor set on the device, weighted with the training rows' class weights."""
    X_held, y_held = _as_tensor(X, device), _as_tensor(np.ravel(y), device)
    return _MetricSet(X_held, y_held, per_class[y_held.long()] if per_class is not None else None)


def class_weights(y: torch.Tensor, mode: str | None) -> torch.Tensor | None:
    """Per-class weights [w0, w1]; "balanced" = n / (2 n_c) as in scikit-learn."""
    if mode is None:
        return None
    n = y.numel()
    n_pos = float(y.sum())
    counts = torch.tensor([n - n_pos, n_pos], dtype=y.dtype, device=y.device)
    return n / (2.0 * counts.clamp(min=1.0))


# ---- the loop ----------------------------------------------------------------------
def identical_row_groups(X: np.ndarray) -> np.ndarray | None:
    """A group id per distinct row of X (identical inputs = the same patient), or None when no row repeats."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) == 0:
        return None
    _, ids = np.unique(X, axis=0, return_inverse=True)
    ids = ids.ravel()
    return ids if ids.max() + 1 < len(X) else None


def split_validation(X: np.ndarray, y: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None):
    """Stratified hold-out for early stopping (plain random split if a class is too rare).

    With `groups` (see identical_row_groups), a repeated patient's rows stay on one side, so early
    stopping never watches copies of rows it fits on; without repeats it is train_test_split as before.
    """
    from sklearn.model_selection import train_test_split

    if groups is not None:
        from model.data.splits import grouped_holdout

        try:
            train, held_out = grouped_holdout(y, groups, fraction, seed)
            return X[train], X[held_out], y[train], y[held_out]
        except ValueError as error:  # too few patients of one outcome to keep repeats together
            logger.warning("early-stopping hold-out not grouped by patient: %s", error)
    stratify = y if np.bincount(y.astype(int), minlength=2).min() >= 2 else None
    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:
        return train_test_split(X, y, test_size=fraction, random_state=seed)


def _as_tensor(a, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32)).to(device)


def train(
    network: MLP,
    X,
    y,
    config: ANNConfig,
    callbacks: Iterable[Callback] = (),
    X_val=None,
    y_val=None,
    stop_event: threading.Event | None = None,
    device: torch.device | str | None = None,
    monitor: tuple | None = None,
    control: TrainingControl | None = None,
) -> History:
    """Fit `network` in place; return the History.

    y holds 0/1. (X_val, y_val) is the stopping set; with early stopping and none given,
    a stratified `validation_fraction` of X is held out as one (History.inner_holdout
    rows). The network ends with the best weights (lowest stopping-set loss) when early
    stopping is on, else with its last weights — also when cancelled. `monitor=(X, y)`
    is a set that is only reported (the events' val_* metrics), never used to decide.
    `control` (model.nn.control.TrainingControl) pauses, steps, re-rates or stops the loop from
    another thread; a stop or a pause that outlasts its limit returns the History so far, cancelled.
    """
    try:
        return _train(network, X, y, config, callbacks, X_val, y_val, stop_event, device, monitor, control)
    finally:
        if control is not None:  # also after an error: a page waiting on the control must not hang
            control.finish()


def _train(network, X, y, config, callbacks, X_val, y_val, stop_event, device, monitor, control) -> History:
    config.validate()
    device = resolve_device(device if device is not None else config.device)
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32).ravel()
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    inner_holdout = 0
    if X_val is None and config.early_stopping:
        X, X_val, y, y_val = split_validation(
            X, y, config.validation_fraction, config.seed, groups=identical_row_groups(X)
        )
        inner_holdout = len(X_val)
    network.to(device)
    work = len(X) * max(layer_sizes(config, X.shape[1]))
    with threads_for(device, work):
        return _train_loop(
            network,
            X,
            y,
            X_val,
            y_val,
            monitor,
            config,
            list(callbacks or []),
            stop_event,
            device,
            inner_holdout,
            control,
        )


def _train_loop(
    network, X, y, X_val, y_val, monitor, config, callbacks, stop_event, device, inner_holdout, control
) -> History:
    # Data moves to the device once; each epoch permutes it there and splits it into batch views.
    X_t, y_t = _as_tensor(X, device), _as_tensor(y, device)
    n = X_t.shape[0]
    batch_size = min(config.effective_batch_size or n, n)
    n_batches = math.ceil(n / batch_size)
    per_class = class_weights(y_t, config.class_weight)
    sample_w = per_class[y_t.long()] if per_class is not None else None
    train_set = _MetricSet(X_t, y_t, sample_w)
    # The engine works on (networks, rows, ·) tensors; a single fit is one network.
    X_rows, y_rows = X_t.unsqueeze(0), y_t.view(1, n, 1)
    # Each row's share of its batch's mean loss: 1 / rows in its batch (the last batch may be short).
    batch_rows = torch.tensor([min(batch_size, n - lo) for lo in range(0, n, batch_size)], dtype=X_t.dtype)
    inverse_rows = (1.0 / batch_rows).repeat_interleave(batch_rows.long()).to(device).view(1, n, 1)
    unweighted_scales = inverse_rows.split(batch_size, dim=1)
    w_rows = sample_w.view(1, n, 1) if sample_w is not None else None

    stop_set = held_out_set(X_val, y_val, per_class, device) if X_val is not None else None
    monitor_set = held_out_set(monitor[0], monitor[1], per_class, device) if monitor is not None else None
    shown_set = monitor_set if monitor_set is not None else stop_set  # the events' val_* metrics
    has_val = stop_set is not None

    # The network's parameters become views of the engine's θ: whoever reads the module between
    # epochs (live charts, the metrics below) sees the current weights.
    engine = StackedMLP.bound_to(network)
    optimizer = make_optimizer(config, engine.theta, engine.grad, engine.decayed)
    batch_listeners = [cb for cb in callbacks if _overrides(cb, "on_batch_end")]
    names = layer_names(network)
    history = History(device=str(device), inner_holdout=inner_holdout)
    info = TrainInfo(
        config.epochs, n, len(shown_set.y) if shown_set is not None else 0, n_batches, batch_size, str(device), names
    )
    for cb in callbacks:
        cb.on_train_begin(info)

    # Shuffles are drawn on the CPU so that a seed gives the same batches on every device;
    # dropout masks on the device. Both generators belong to this run alone.
    generator = torch.Generator().manual_seed(config.seed)
    dropout_generator = torch.Generator(device=device).manual_seed(config.seed)
    best_loss, best_theta, since_best = math.inf, None, 0
    start = time.perf_counter()  # moved on by the time spent paused, so `elapsed` is training time
    network.train()
    try:
        for epoch in range(1, config.epochs + 1):
            if control is not None:
                wait_start = time.perf_counter()
                proceed = control.before_epoch(epoch)  # blocks while paused
                start += time.perf_counter() - wait_start
                if not proceed:
                    history.cancelled = True
                    break
                new_lr = control.take_learning_rate()
                if new_lr is not None:
                    optimizer.lr = new_lr
            epoch_start = time.perf_counter()
            order = torch.randperm(n, generator=generator).to(device)
            X_batches = X_rows.index_select(1, order).split(batch_size, dim=1)
            y_batches = y_rows.index_select(1, order).split(batch_size, dim=1)
            w_epoch = w_rows.index_select(1, order) if w_rows is not None else None
            scales = unweighted_scales if w_epoch is None else (w_epoch * inverse_rows).split(batch_size, dim=1)
            w_batches = w_epoch.split(batch_size, dim=1) if w_epoch is not None else [None] * n_batches
            steps = 0
            for xb, yb, scale, wb in zip(X_batches, y_batches, scales, w_batches, strict=True):
                if stop_event is not None and stop_event.is_set():
                    history.cancelled = True
                    break
                if control is not None and control.stop_requested():
                    history.cancelled = True
                    break
                logits = engine.backprop(xb, yb, scale, dropout_generator, training=network.training)
                optimizer.step()
                steps += 1
                if batch_listeners:  # the loss is only computed for someone who reads it
                    loss = F.binary_cross_entropy_with_logits(
                        logits.view(-1), yb.view(-1), weight=None if wb is None else wb.view(-1)
                    )
                    for cb in batch_listeners:
                        cb.on_batch_end(BatchEvent(epoch, steps, n_batches, loss))
            if steps:  # an epoch cancelled before its first step left nothing to report
                event = _epoch_event(
                    network,
                    engine,
                    names,
                    train_set,
                    shown_set,
                    stop_set,
                    epoch,
                    config.epochs,
                    optimizer.lr,
                    epoch_start,
                    start,
                )
                history.epochs.append(event)
                for cb in callbacks:
                    cb.on_epoch_end(event)
                if event.stop_loss is not None:  # there is a stopping set
                    if event.stop_loss < best_loss:
                        best_loss, since_best, history.best_epoch = event.stop_loss, 0, epoch
                        if config.early_stopping:
                            best_theta = engine.theta.clone()
                    else:
                        since_best += 1
            if history.cancelled:
                break
            if config.early_stopping and since_best >= config.patience:
                history.stopped_early = True
                break

        if best_theta is not None:
            engine.theta.copy_(best_theta)
        elif history.epochs and not has_val:
            history.best_epoch = history.epochs[-1].epoch
    finally:
        engine.unbind(network)  # the module keeps the final weights in its own memory
    network.eval()
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def _epoch_event(
    network, engine: StackedMLP, names, train_set, val, stop_set, epoch, epochs, lr, epoch_start, start
) -> EpochEvent:
    with torch.no_grad():
        scalars = train_set.scalars(network)
        if val is not None:
            scalars += val.scalars(network)
        separate_stop = stop_set is not None and stop_set is not val
        if separate_stop:
            scalars.append(stop_set.loss(network))
        # ‖(W, b)‖ per layer for θ and g at once: squares summed per layer
        squares = engine.buffer.view(2, -1).square()  # θ and g of the one network
        layer_norms = torch.zeros(2, len(names), dtype=squares.dtype, device=squares.device)
        layer_norms = layer_norms.index_add_(1, engine.layer_of_entry, squares).sqrt_()
        flat = torch.cat([torch.stack(scalars), layer_norms.flatten()]).tolist()  # one device→host transfer
    k = len(scalars)
    n_layers = len(names)
    return epoch_event_from(
        flat[:k],
        flat[k : k + n_layers],
        flat[k + n_layers :],
        names,
        has_val=val is not None,
        has_stop=stop_set is not None,
        separate_stop=separate_stop,
        epoch=epoch,
        epochs=epochs,
        lr=lr,
        epoch_start=epoch_start,
        start=start,
    )


def epoch_event_from(
    metrics: list[float],
    weight_norms: list[float],
    grad_norms: list[float],
    names: list[str],
    *,
    has_val: bool,
    has_stop: bool,
    separate_stop: bool,
    epoch: int,
    epochs: int,
    lr: float,
    epoch_start: float,
    start: float,
) -> EpochEvent:
    """An EpochEvent from host values: metrics = train loss, accuracy, AUC, then the same three on the
    shown validation set (has_val), then the stopping-set loss when it is a separate set."""
    now = time.perf_counter()
    nan_to_none = lambda v: None if v is None or math.isnan(v) else v  # noqa: E731
    return EpochEvent(
        epoch=epoch,
        epochs=epochs,
        train_loss=metrics[0],
        train_acc=metrics[1],
        train_auc=nan_to_none(metrics[2]),
        val_loss=metrics[3] if has_val else None,
        val_acc=metrics[4] if has_val else None,
        val_auc=nan_to_none(metrics[5]) if has_val else None,
        stop_loss=metrics[-1] if separate_stop else metrics[3] if has_stop else None,
        grad_norms=dict(zip(names, grad_norms, strict=True)),
        weight_norms=dict(zip(names, weight_norms, strict=True)),
        lr=lr,
        seconds=now - epoch_start,
        elapsed=now - start,
    )


def predict_logits(network: MLP, X, device: torch.device | None = None, chunk: int = 65_536) -> np.ndarray:
    """Evaluation-mode logits as float64 numpy, in chunks to bound memory."""
    device = device or next(network.parameters()).device
    X = np.asarray(X, dtype=np.float32)
    # float64 only on the host: Apple's MPS has no float64
    parts = [
        network.evaluate(torch.as_tensor(X[lo : lo + chunk]).to(device)).cpu().numpy().astype(np.float64)
        for lo in range(0, len(X), chunk)
    ]
    return np.concatenate(parts) if parts else np.empty(0)
