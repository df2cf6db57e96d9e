"""A race of gradient-descent variants: several optimizer settings trained together, on equal terms.

Every contestant is an ANNConfig. They share everything but how they descend: the architecture,
the initialisation (and so the very same initial weights: the MLP built from the shared config and
seed), the data, the epochs, the per-epoch shuffles, dropout and weight decay. They may differ in
optimizer, learning rate, batch size and the optimizer's own constants (momentum, betas, eps, alpha).

The K contestants are the K networks of one model.nn.engine.StackedMLP, so one forward/backward
pass per step serves them all. Their batch schedules differ (full-batch GD: one step per epoch;
SGD with batch 1: n steps; mini-batch 32: ⌈n/32⌉ steps), so at step t of an epoch network k takes
its t-th batch of the shared shuffled order when it has one and no step otherwise: its rows carry
scale 1/(rows in its batch) (times the class weight) and padding rows scale 0, and only the
optimizers of networks with a batch at t step. Each contestant has an optimizer of its own on its
own row of the buffer (a (1, P) view), so its update runs exactly as in a single fit.

Without dropout each contestant ends as model.nn.training.train would leave it trained alone with
the same config, up to float rounding (tests/test_race.py). With dropout, the masks come from one
stream shared by the race, so they differ from a single fit's within the noise of training.
Early stopping is refused: a race runs every contestant for all its epochs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from model.nn.config import ANNConfig
from model.nn.control import TrainingControl
from model.nn.engine import StackedMLP
from model.nn.network import MLP, check_training_work, layer_names, layer_sizes
from model.nn.optimizers import FlatOptimizer, make_optimizer
from model.nn.training import EpochEvent, History, class_weights, epoch_event_from, held_out_set
from model.runtime.device import resolve_device
from model.runtime.threads import threads_for

logger = logging.getLogger(__name__)

# Each contestant is a network in one stacked engine: K times the memory and arithmetic of one fit.
MAX_RACE_CONTESTANTS = 8
# What contestants may differ in: how they descend. Everything else must be equal.
RACE_VARIABLE_FIELDS = frozenset({"optimizer", "learning_rate", "batch_size", "momentum", "betas", "eps", "alpha"})

RaceEpochCallback = Callable[[int, dict[str, EpochEvent]], None]


@dataclass
class RaceResult:
    histories: dict[str, History]  # per contestant, in the order given
    networks: dict[str, MLP]  # each contestant's final weights: a plain MLP on the CPU, evaluation mode
    cancelled: bool = False  # stopped (or a pause timed out) before the last epoch
    device: str = "cpu"


def check_contestants(contestants: Mapping[str, ANNConfig]) -> list[ANNConfig]:
    """The contestants' configs, validated; ValueError naming what is wrong (too many, a bad config,
    or two contestants that differ in more than how they descend)."""
    if not isinstance(contestants, Mapping):
        raise ValueError("contestants must be a mapping of names to ANNConfigs")
    if not 1 <= len(contestants) <= MAX_RACE_CONTESTANTS:
        raise ValueError(f"a race takes 1 to {MAX_RACE_CONTESTANTS} contestants; got {len(contestants)}")
    configs: list[ANNConfig] = []
    for name, config in contestants.items():
        if not isinstance(config, ANNConfig):
            raise ValueError(f"contestant {name!r} must be an ANNConfig; got {type(config).__name__}")
        try:
            configs.append(config.validate())
        except ValueError as error:
            raise ValueError(f"contestant {name!r}: {error}") from error
    names = list(contestants)
    first = configs[0]
    for name, config in zip(names[1:], configs[1:], strict=True):
        difference = _shared_difference(first, config)
        if difference is not None:
            raise ValueError(
                f"contestants {names[0]!r} and {name!r} differ in {difference}; a race compares "
                f"how networks descend, so only {', '.join(sorted(RACE_VARIABLE_FIELDS))} may differ"
            )
    if first.early_stopping:
        raise ValueError("a race runs every contestant for all its epochs: turn early stopping off")
    return configs


def _shared_difference(a: ANNConfig, b: ANNConfig) -> str | None:
    """How two configs differ in a field a race needs shared, in words; None when they agree."""
    for field in dataclasses.fields(ANNConfig):
        name = field.name
        if name in RACE_VARIABLE_FIELDS or getattr(a, name) == getattr(b, name):
            continue
        if name == "hidden_layers":
            if _architecture(a) != _architecture(b):
                return f"architecture (hidden layers {_architecture(a)} vs {_architecture(b)})"
            return f"dropout ({_dropouts(a)} vs {_dropouts(b)})"
        return f"{name} ({getattr(a, name)!r} vs {getattr(b, name)!r})"
    return None


def _architecture(config: ANNConfig) -> list[tuple[int, str]]:
    return [(layer.units, layer.activation) for layer in config.hidden_layers]


def _dropouts(config: ANNConfig) -> list[float]:
    return [layer.dropout for layer in config.hidden_layers]


def race_optimizers(
    X,
    y,
    contestants: Mapping[str, ANNConfig],
    X_val=None,
    y_val=None,
    on_epoch_end: RaceEpochCallback | None = None,
    control: TrainingControl | None = None,
    device: torch.device | str | None = None,
) -> RaceResult:
    """Train every contestant on (X, y) (y 0/1) together; see the module docstring.

    (X_val, y_val), optional, is a validation set: the events' val_* metrics, and each History's
    best_epoch (lowest validation loss; the networks keep their last weights, as train() without
    early stopping). `on_epoch_end(epoch, {name: EpochEvent})` is called after every epoch. `control`
    pauses, steps or stops the race; a learning-rate change through it is ignored (logged), since each
    contestant keeps its own rate. `device` defaults to the contestants' config.device.
    """
    try:
        configs = check_contestants(contestants)
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32).ravel()
        if X.ndim != 2 or len(X) == 0 or len(X) != len(y):
            raise ValueError(f"X must be (rows, features) with one label per row; got X {X.shape} and y {y.shape}")
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        for name, config in zip(contestants, configs, strict=True):
            try:
                check_training_work(config, len(X), X.shape[1])
            except ValueError as error:
                raise type(error)(f"contestant {name!r}: {error}") from error
        shared = configs[0]
        device = resolve_device(device if device is not None else shared.device)
        work = len(configs) * len(X) * max(layer_sizes(shared, X.shape[1]))
        with threads_for(device, work):
            return _race(list(contestants), configs, X, y, X_val, y_val, on_epoch_end, control, device)
    finally:
        if control is not None:  # also after an error: a page waiting on the control must not hang
            control.finish()


@dataclass
class _Step:
    """Step t of every epoch: which positions of the shuffled order each network's batch takes."""

    positions: torch.Tensor  # (K, m) positions into the epoch's order (padding: position 0)
    shares: torch.Tensor  # (K, m, 1) each row's share of its network's batch mean; 0 for padding
    active: list[int]  # networks with a batch at this step
    finishing: torch.Tensor | None  # networks whose epoch ends with this step (their last batch), if any


def _schedule(batch_sizes: list[int], n: int, device: torch.device) -> list[_Step]:
    """The steps of one epoch, the same every epoch (only the order they index changes)."""
    sizes = np.asarray(batch_sizes)
    n_steps = max(math.ceil(n / b) for b in batch_sizes)
    steps = []
    for t in range(n_steps):
        rows = np.clip(n - t * sizes, 0, sizes)  # rows in each network's t-th batch (0: none)
        width = int(rows.max())
        column = np.arange(width)
        valid = column[None, :] < rows[:, None]
        positions = np.where(valid, t * sizes[:, None] + column[None, :], 0)
        # 1 / rows in float32, as train() computes each row's share of its batch's mean
        inverse = 1.0 / torch.as_tensor(np.maximum(rows, 1), dtype=torch.float32)
        shares = torch.where(torch.as_tensor(valid), inverse[:, None], torch.zeros(()))
        last = np.flatnonzero((rows > 0) & (n - (t + 1) * sizes <= 0))
        steps.append(
            _Step(
                torch.as_tensor(positions, device=device),
                shares.to(device).unsqueeze(-1),
                np.flatnonzero(rows > 0).tolist(),
                torch.as_tensor(last, device=device) if len(last) else None,
            )
        )
    return steps


def _race(names, configs, X, y, X_val, y_val, on_epoch_end, control, device) -> RaceResult:
    shared = configs[0]
    K, (n, d) = len(configs), X.shape
    X_t = torch.as_tensor(X).to(device)
    y_t = torch.as_tensor(y).to(device)
    per_class = class_weights(y_t, shared.class_weight)
    sample_w = per_class[y_t.long()] if per_class is not None else None
    train_set = held_out_set(X, y, per_class, device)
    val_set = held_out_set(X_val, y_val, per_class, device) if X_val is not None else None

    # Every contestant starts from the weights a single fit of the shared config starts from.
    template = MLP(shared, d)
    engine = StackedMLP(template, K, device)
    # One optimizer per contestant on its own row (a view of θ and g): its update is a single fit's.
    optimizers: list[FlatOptimizer] = [
        make_optimizer(config, engine.theta[k : k + 1], engine.grad[k : k + 1], engine.decayed)
        for k, config in enumerate(configs)
    ]
    schedule = _schedule([min(config.effective_batch_size or n, n) for config in configs], n, device)
    layers = layer_names(template)
    # Per-layer gradient norms of each network's own last batch of the epoch (its g is overwritten
    # by later steps it takes no part in), kept on the device until the epoch's one transfer.
    grad_norms = torch.zeros(K, len(layers), dtype=engine.grad.dtype, device=device)
    histories = [History(device=str(device)) for _ in configs]
    best_loss = [math.inf] * K
    # The shuffles as train() draws them (on the CPU, from the seed), shared by every contestant.
    generator = torch.Generator().manual_seed(shared.seed)
    dropout_generator = torch.Generator(device=device).manual_seed(shared.seed)
    cancelled, warned_lr = False, False
    start = time.perf_counter()  # moved on by the time spent paused, so `elapsed` is training time
    for epoch in range(1, shared.epochs + 1):
        if control is not None:
            wait_start = time.perf_counter()
            proceed = control.before_epoch(epoch)
            start += time.perf_counter() - wait_start
            if not proceed:
                cancelled = True
                break
            if control.take_learning_rate() is not None and not warned_lr:
                logger.warning("a race keeps each contestant's own learning rate; the change was ignored")
                warned_lr = True
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        steps, last_taken = 0, schedule[0]
        for step in schedule:
            if control is not None and control.stop_requested():
                cancelled = True
                break
            rows = order[step.positions]  # (K, m) data rows of each network's batch
            scale = step.shares if sample_w is None else sample_w[rows].unsqueeze(-1) * step.shares
            engine.backprop(X_t[rows], y_t[rows].unsqueeze(-1), scale, dropout_generator, training=True)
            for k in step.active:
                optimizers[k].step()
            if step.finishing is not None:
                _record_grad_norms(engine, grad_norms, step.finishing, len(layers))
            steps, last_taken = steps + 1, step
        if steps:  # an epoch stopped before its first step left nothing to report
            if cancelled:  # those still in their epoch: their last batch is the last step taken
                taken = torch.as_tensor(last_taken.active, device=device)
                _record_grad_norms(engine, grad_norms, taken, len(layers))
            events = _epoch_events(
                engine, layers, train_set, val_set, grad_norms, optimizers, epoch, shared.epochs, epoch_start, start
            )
            for k, event in enumerate(events):
                histories[k].epochs.append(event)
                if event.stop_loss is not None and event.stop_loss < best_loss[k]:
                    best_loss[k], histories[k].best_epoch = event.stop_loss, epoch
            if on_epoch_end is not None:
                on_epoch_end(epoch, dict(zip(names, events, strict=True)))
        if cancelled:
            break

    for history in histories:
        history.cancelled = cancelled
        if history.epochs and val_set is None:
            history.best_epoch = history.epochs[-1].epoch
    return RaceResult(
        histories=dict(zip(names, histories, strict=True)),
        networks={name: engine.network(k) for k, name in enumerate(names)},
        cancelled=cancelled,
        device=str(device),
    )


def _record_grad_norms(engine: StackedMLP, grad_norms: torch.Tensor, networks: torch.Tensor, n_layers: int) -> None:
    """‖(∂W, ∂b)‖ per layer of the given networks' current gradients, into their rows of grad_norms."""
    squares = engine.grad.index_select(0, networks).square()  # (r, P)
    norms = torch.zeros(len(networks), n_layers, dtype=squares.dtype, device=squares.device)
    grad_norms.index_copy_(0, networks, norms.index_add_(1, engine.layer_of_entry, squares).sqrt_())


def _epoch_events(
    engine: StackedMLP, layers, train_set, val_set, grad_norms, optimizers, epoch, epochs, epoch_start, start
):
    """Every contestant's EpochEvent, measured on the whole training (and validation) set, with one
    device→host transfer for all of them."""
    K = engine.n_models
    with torch.no_grad():
        parts = [train_set.stacked_scalars(engine.forward(train_set.X.expand(K, -1, -1)))]
        if val_set is not None:
            parts.append(val_set.stacked_scalars(engine.forward(val_set.X.expand(K, -1, -1))))
        scalars = torch.cat(parts, dim=1)  # (K, 3 or 6)
        # ‖(W, b)‖ per layer of every network: squares summed per layer
        squares = engine.theta.square()  # (K, P)
        weight_norms = torch.zeros(K, len(layers), dtype=squares.dtype, device=squares.device)
        weight_norms = weight_norms.index_add_(1, engine.layer_of_entry, squares).sqrt_()
        values = torch.cat([scalars, weight_norms, grad_norms], dim=1).tolist()  # one transfer
    width = scalars.shape[1]
    return [
        epoch_event_from(
            row[:width],
            row[width : width + len(layers)],
            row[width + len(layers) :],
            layers,
            has_val=val_set is not None,
            has_stop=val_set is not None,
            separate_stop=False,
            epoch=epoch,
            epochs=epochs,
            lr=optimizers[k].lr,
            epoch_start=epoch_start,
            start=start,
        )
        for k, row in enumerate(values)
    ]


# ---- the course's race -------------------------------------------------------------
# name -> (optimizer, batch size, learning rate): rates that each make clear progress on the toy
# sets of model.data.toy_datasets within a hundred epochs (checked on "moons" in tests/test_race.py).
_DEFAULT_CONTESTANTS: dict[str, tuple[str, int | None, float]] = {
    "Full-batch GD": ("gd", None, 0.5),
    "SGD (batch 1)": ("sgd", 1, 0.01),
    "Mini-batch SGD (32)": ("sgd", 32, 0.1),
    "Momentum (32)": ("momentum", 32, 0.02),
    "Adam (32)": ("adam", 32, 0.01),
    "AdaGrad (32)": ("adagrad", 32, 0.05),
    "RMSProp (32)": ("rmsprop", 32, 0.005),
}


def default_race(base: ANNConfig) -> dict[str, ANNConfig]:
    """The course's race on `base`'s network and training length: full-batch GD, SGD with batch 1,
    mini-batch SGD, momentum, Adam, AdaGrad and RMSProp, each with a learning rate that makes progress.
    The optimizers' own constants are the defaults (RMSProp without momentum); early stopping is off."""
    defaults = ANNConfig()
    return {
        name: base.replace(
            optimizer=optimizer,
            batch_size=batch_size,
            learning_rate=learning_rate,
            momentum=defaults.momentum if optimizer in ("momentum", "nesterov") else 0.0,
            betas=defaults.betas,
            eps=defaults.eps,
            alpha=defaults.alpha,
            early_stopping=False,
        )
        for name, (optimizer, batch_size, learning_rate) in _DEFAULT_CONTESTANTS.items()
    }
