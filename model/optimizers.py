"""Gradient-descent variants as a few tensor operations on one flat parameter vector.

Why not torch.optim: for networks of a few thousand weights, torch.optim's per-step
Python bookkeeping (param groups, state dicts, device/dtype grouping) costs ~150 µs,
ten times the arithmetic. Here every parameter tensor of the network is a *view* into
one vector θ and every gradient a view into one vector g, so each update rule below is
its textbook formula applied once to the whole network. The formulas follow
torch.optim's conventions (tests/test_training.py checks them against it).

L2 weight decay adds λ·w to the gradient of weights only (biases are not decayed).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from model.config import ANNConfig


class FlatParameters:
    """Make `params` views into one vector θ and their .grad views into one vector g.

    Backpropagation then writes each layer's gradient straight into g, and one update
    on (θ, g) updates the whole network. `release()` gives each parameter its own memory back.
    """

    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        # θ and g are the two rows of one buffer, so per-layer norms of both are one matmul.
        self.buffer = torch.zeros(2, sum(p.numel() for p in params), dtype=params[0].dtype,
                                  device=params[0].device)
        self.theta, self.grad = self.buffer[0], self.buffer[1]
        torch.cat([p.detach().reshape(-1) for p in params], out=self.theta)
        self.slices = []
        offset = 0
        for p in params:
            n = p.numel()
            self.slices.append(slice(offset, offset + n))
            p.data = self.theta[offset:offset + n].view_as(p)
            p.grad = self.grad[offset:offset + n].view_as(p)
            offset += n

    def release(self) -> None:
        for p in self.params:
            p.data = p.data.clone()
            p.grad = p.grad.clone()


class FlatOptimizer:
    """Base: holds θ, g, the weight-decay mask and the learning rate.

    Constants enter as `alpha=`/`value=`/`weight=` arguments where possible: a Python
    float given as a tensor operand is wrapped into a new tensor on every call.
    """

    def __init__(self, flat: FlatParameters, config: ANNConfig, decayed: list[bool]):
        self.theta, self.grad = flat.theta, flat.grad
        self.lr = float(config.learning_rate)
        self.decay = None
        if config.weight_decay > 0:
            mask = torch.cat([torch.full((p.numel(),), float(d)) for p, d in zip(flat.params, decayed)])
            self.decay = (mask * config.weight_decay).to(self.theta.device)
        self.t = 0

    def step(self) -> None:
        self.t += 1
        g = self.grad
        if self.decay is not None:
            g.addcmul_(self.decay, self.theta)  # ∇(½λ‖w‖²) = λw
        self.update(g)

    def update(self, g: torch.Tensor) -> None:
        raise NotImplementedError


class GradientDescent(FlatOptimizer):
    """θ ← θ − η g   (full-batch GD or mini-batch SGD: the batch size is the difference)."""

    def update(self, g):
        self.theta.add_(g, alpha=-self.lr)


class Momentum(FlatOptimizer):
    """v ← μ v + g;  θ ← θ − η v   (Nesterov: θ ← θ − η (g + μ v))."""

    def __init__(self, flat, config, decayed, nesterov: bool = False):
        super().__init__(flat, config, decayed)
        self.mu, self.nesterov = float(config.momentum), nesterov
        self.velocity = torch.zeros_like(self.theta)

    def update(self, g):
        v = self.velocity
        if self.t == 1:
            v.copy_(g)
        else:
            torch.add(g, v, alpha=self.mu, out=v)
        if self.nesterov:
            self.theta.add_(g.add(v, alpha=self.mu), alpha=-self.lr)
        else:
            self.theta.add_(v, alpha=-self.lr)


class Adam(FlatOptimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η m̂ / (√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

    Computed as θ ← θ − (η √(1−β₂ᵗ)/(1−β₁ᵗ)) m / (√v + ε √(1−β₂ᵗ)): the same number, fewer passes."""

    def __init__(self, flat, config, decayed):
        super().__init__(flat, config, decayed)
        self.beta1, self.beta2 = (float(b) for b in config.betas)
        self.eps = float(config.eps)
        self.m = torch.zeros_like(self.theta)
        self.v = torch.zeros_like(self.theta)
        self.scratch = torch.empty_like(self.theta)
        self.one = torch.ones((), dtype=self.theta.dtype, device=self.theta.device)

    def update(self, g):
        self.m.lerp_(g, 1.0 - self.beta1)
        self.v.lerp_(torch.mul(g, g, out=self.scratch), 1.0 - self.beta2)
        root_bias2 = math.sqrt(1.0 - self.beta2 ** self.t)
        denominator = torch.sqrt(self.v, out=self.scratch)
        torch.add(denominator, self.one, alpha=self.eps * root_bias2, out=denominator)
        self.theta.addcdiv_(self.m, denominator, value=-self.lr * root_bias2 / (1.0 - self.beta1 ** self.t))


class AdaGrad(FlatOptimizer):
    """s ← s + g²;  θ ← θ − η g / (√s + ε)."""

    def __init__(self, flat, config, decayed):
        super().__init__(flat, config, decayed)
        self.eps = float(config.eps)
        self.sum_sq = torch.zeros_like(self.theta)
        self.denominator = torch.empty_like(self.theta)

    def update(self, g):
        self.sum_sq.addcmul_(g, g)
        torch.sqrt(self.sum_sq, out=self.denominator).add_(self.eps)
        self.theta.addcdiv_(g, self.denominator, value=-self.lr)


class RMSProp(FlatOptimizer):
    """v ← αv + (1−α)g²;  θ ← θ − η g / (√v + ε)   (with momentum μ: b ← μb + g/(√v+ε); θ ← θ − η b)."""

    def __init__(self, flat, config, decayed):
        super().__init__(flat, config, decayed)
        self.alpha, self.eps, self.mu = float(config.alpha), float(config.eps), float(config.momentum)
        self.square_avg = torch.zeros_like(self.theta)
        self.denominator = torch.empty_like(self.theta)
        self.buffer = torch.zeros_like(self.theta) if self.mu > 0 else None

    def update(self, g):
        self.square_avg.mul_(self.alpha).addcmul_(g, g, value=1.0 - self.alpha)
        torch.sqrt(self.square_avg, out=self.denominator).add_(self.eps)
        if self.buffer is None:
            self.theta.addcdiv_(g, self.denominator, value=-self.lr)
        else:
            self.buffer.mul_(self.mu).addcdiv_(g, self.denominator)
            self.theta.add_(self.buffer, alpha=-self.lr)


def make_optimizer(flat: FlatParameters, config: ANNConfig, decayed: list[bool]) -> FlatOptimizer:
    """The update rule named by config.optimizer; `decayed[i]` says whether parameter i gets L2."""
    name = config.optimizer
    if name in ("gd", "sgd"):
        return GradientDescent(flat, config, decayed)
    if name in ("momentum", "nesterov"):
        return Momentum(flat, config, decayed, nesterov=name == "nesterov")
    if name == "adam":
        return Adam(flat, config, decayed)
    if name == "adagrad":
        return AdaGrad(flat, config, decayed)
    if name == "rmsprop":
        return RMSProp(flat, config, decayed)
    raise ValueError(f"unknown optimizer {name!r}")
