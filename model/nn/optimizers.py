"""Gradient-descent variants as a few tensor operations on one parameter buffer, with state per network.

Why not torch.optim: for networks of a few thousand weights, torch.optim's per-step Python
bookkeeping (param groups, state dicts, device/dtype grouping) costs ~150 µs, ten times the
arithmetic. Here θ and g are the (K, P) buffers of model.nn.engine.StackedMLP (row k = network k),
so each update rule below is its textbook formula applied once to every network. The formulas
follow torch.optim's conventions (tests/test_training.py checks them against it).

Per-network state: every row has its own moment buffers (rows of (K, P) tensors) and its own
step count (`steps`, shape (K,)). `step(active)` updates only the rows of `active`: a network
with no rows in a mini-batch (a smaller cross-validation fold) takes no step at all — its θ,
its moments and its step count stay as they are — exactly as if it were trained alone. When
every network steps and all step counts agree (always, for a single fit), the update runs on
the whole buffer with scalar bias corrections; otherwise bias corrections are a (K, 1) column.

L2 weight decay adds λ·w to the gradient of weights only (biases are not decayed).
"""

from __future__ import annotations

import numpy as np
import torch

from model.nn.config import ANNConfig

StepCount = int | np.ndarray  # one count for all rows being updated, or one per row


class FlatOptimizer:
    """Base: holds θ, g (both (K, P)), the weight-decay vector, the learning rate and the per-row state.

    Subclasses list their state tensors (shaped like θ) in `self.state` and implement `update`
    on whichever rows they are given. Constants enter as `alpha=`/`value=` arguments where
    possible: a Python float given as a tensor operand is wrapped into a new tensor on every call.
    """

    def __init__(self, config: ANNConfig, theta: torch.Tensor, grad: torch.Tensor, decayed: torch.Tensor | None = None):
        if theta.dim() != 2 or theta.shape != grad.shape:
            raise ValueError(
                f"θ and g must be (networks, parameters) buffers of one shape; got "
                f"{tuple(theta.shape)} and {tuple(grad.shape)}"
            )
        self.theta, self.grad = theta, grad
        self.lr = float(config.learning_rate)
        self.decay = None
        if config.weight_decay > 0:
            mask = decayed if decayed is not None else torch.ones(theta.shape[1], dtype=torch.bool)
            self.decay = mask.to(device=theta.device, dtype=theta.dtype) * config.weight_decay  # (P,)
        self.steps = np.zeros(theta.shape[0], dtype=np.int64)
        self._uniform = True  # every row has taken the same number of steps
        self._rows_cache: dict[bytes, torch.Tensor] = {}
        self.state: list[torch.Tensor] = []

    def step(self, active: np.ndarray | None = None) -> None:
        """One update of the rows (networks) where `active` (host-side bool (K,)) is True; None = all rows."""
        if active is None or active.all():
            self.steps += 1
            self._apply(self.theta, self.grad, self.state, int(self.steps[0]) if self._uniform else self.steps)
            return
        active = np.asarray(active, dtype=bool)
        if not active.any():
            return
        rows = self._rows(active)
        self.steps[active] += 1
        self._uniform = bool((self.steps == self.steps[0]).all())
        counts = self.steps[active]
        theta, grad = self.theta.index_select(0, rows), self.grad.index_select(0, rows)
        state = [s.index_select(0, rows) for s in self.state]
        self._apply(theta, grad, state, int(counts[0]) if (counts == counts[0]).all() else counts)
        self.theta.index_copy_(0, rows, theta)
        for full, part in zip(self.state, state, strict=True):
            full.index_copy_(0, rows, part)

    def _rows(self, active: np.ndarray) -> torch.Tensor:
        key = active.tobytes()
        if key not in self._rows_cache:  # a training has only a few distinct masks (one per short batch)
            self._rows_cache[key] = torch.as_tensor(np.flatnonzero(active), device=self.theta.device)
        return self._rows_cache[key]

    def _apply(self, theta: torch.Tensor, g: torch.Tensor, state: list[torch.Tensor], t: StepCount) -> None:
        if self.decay is not None:
            g.addcmul_(self.decay, theta)  # ∇(½λ‖w‖²) = λw
        self.update(theta, g, state, t)

    def _column(self, values: np.ndarray) -> torch.Tensor:
        """Per-row constants as a (rows, 1) column on θ's device."""
        return torch.as_tensor(values, dtype=self.theta.dtype).to(self.theta.device).unsqueeze(1)

    def update(self, theta: torch.Tensor, g: torch.Tensor, state: list[torch.Tensor], t: StepCount) -> None:
        raise NotImplementedError


def _scratch(buffer: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The preallocated scratch buffer when the update runs on every row, else a fresh one (a masked step)."""
    return buffer if buffer.shape == like.shape else torch.empty_like(like)


class GradientDescent(FlatOptimizer):
    """θ ← θ − η g   (full-batch GD or mini-batch SGD: the batch size is the difference)."""

    def update(self, theta, g, state, t):
        theta.add_(g, alpha=-self.lr)


class Momentum(FlatOptimizer):
    """v ← μ v + g;  θ ← θ − η v   (Nesterov: θ ← θ − η (g + μ v)). v starts at 0, so the first step
    sets v = g, as torch.optim does."""

    def __init__(self, config, theta, grad, decayed=None, nesterov: bool = False):
        super().__init__(config, theta, grad, decayed)
        self.mu, self.nesterov = float(config.momentum), nesterov
        self.state = [torch.zeros_like(theta)]

    def update(self, theta, g, state, t):
        (v,) = state
        torch.add(g, v, alpha=self.mu, out=v)
        if self.nesterov:
            theta.add_(g.add(v, alpha=self.mu), alpha=-self.lr)
        else:
            theta.add_(v, alpha=-self.lr)


class Adam(FlatOptimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

    Computed as θ ← θ − (η √(1−β₂ᵗ)/(1−β₁ᵗ)) m / (√v + ε √(1−β₂ᵗ)): the same number, fewer passes.
    t is each row's own step count."""

    def __init__(self, config, theta, grad, decayed=None):
        super().__init__(config, theta, grad, decayed)
        self.beta1, self.beta2 = (float(b) for b in config.betas)
        self.eps = float(config.eps)
        self.state = [torch.zeros_like(theta), torch.zeros_like(theta)]
        self.scratch = torch.empty_like(theta)
        self.one = torch.ones((), dtype=theta.dtype, device=theta.device)

    def update(self, theta, g, state, t):
        m, v = state
        scratch = _scratch(self.scratch, theta)
        m.lerp_(g, 1.0 - self.beta1)
        v.lerp_(torch.mul(g, g, out=scratch), 1.0 - self.beta2)
        denominator = torch.sqrt(v, out=scratch)
        if isinstance(t, int):  # one step count for every row: scalar corrections
            root_bias2 = (1.0 - self.beta2**t) ** 0.5
            torch.add(denominator, self.one, alpha=self.eps * root_bias2, out=denominator)
            theta.addcdiv_(m, denominator, value=-self.lr * root_bias2 / (1.0 - self.beta1**t))
        else:
            root_bias2 = np.sqrt(1.0 - self.beta2 ** t.astype(np.float64))
            denominator.add_(self._column(self.eps * root_bias2))
            step_size = self._column(self.lr * root_bias2 / (1.0 - self.beta1 ** t.astype(np.float64)))
            theta.sub_(torch.div(m, denominator, out=denominator).mul_(step_size))


class AdaGrad(FlatOptimizer):
    """s ← s + g²;  θ ← θ − η g / (√s + ε)."""

    def __init__(self, config, theta, grad, decayed=None):
        super().__init__(config, theta, grad, decayed)
        self.eps = float(config.eps)
        self.state = [torch.zeros_like(theta)]
        self.denominator = torch.empty_like(theta)

    def update(self, theta, g, state, t):
        (sum_sq,) = state
        denominator = _scratch(self.denominator, theta)
        sum_sq.addcmul_(g, g)
        torch.sqrt(sum_sq, out=denominator).add_(self.eps)
        theta.addcdiv_(g, denominator, value=-self.lr)


class RMSProp(FlatOptimizer):
    """v ← αv + (1−α)g²;  θ ← θ − η g / (√v + ε)   (with momentum μ: b ← μb + g/(√v+ε); θ ← θ − η b)."""

    def __init__(self, config, theta, grad, decayed=None):
        super().__init__(config, theta, grad, decayed)
        self.alpha, self.eps, self.mu = float(config.alpha), float(config.eps), float(config.momentum)
        self.state = [torch.zeros_like(theta)] + ([torch.zeros_like(theta)] if self.mu > 0 else [])
        self.denominator = torch.empty_like(theta)

    def update(self, theta, g, state, t):
        square_avg = state[0]
        denominator = _scratch(self.denominator, theta)
        square_avg.mul_(self.alpha).addcmul_(g, g, value=1.0 - self.alpha)
        torch.sqrt(square_avg, out=denominator).add_(self.eps)
        if len(state) == 1:
            theta.addcdiv_(g, denominator, value=-self.lr)
        else:
            buffer = state[1]
            buffer.mul_(self.mu).addcdiv_(g, denominator)
            theta.add_(buffer, alpha=-self.lr)


def make_optimizer(
    config: ANNConfig, theta: torch.Tensor, grad: torch.Tensor, decayed: torch.Tensor | None = None
) -> FlatOptimizer:
    """The update rule named by config.optimizer on the (K, P) buffers θ and g; `decayed` ((P,) bool)
    says which entries get L2 weight decay (model.nn.engine.StackedMLP.decayed: the weights)."""
    name = config.optimizer
    if name in ("gd", "sgd"):
        return GradientDescent(config, theta, grad, decayed)
    if name in ("momentum", "nesterov"):
        return Momentum(config, theta, grad, decayed, nesterov=name == "nesterov")
    if name == "adam":
        return Adam(config, theta, grad, decayed)
    if name == "adagrad":
        return AdaGrad(config, theta, grad, decayed)
    if name == "rmsprop":
        return RMSProp(config, theta, grad, decayed)
    raise ValueError(f"unknown optimizer {name!r}")
