"""The multi-layer perceptron, built from an ANNConfig.

Each hidden neuron computes f(Σ wᵢxᵢ + b); the output layer is one linear neuron whose
value is the logit of P(disease). With no hidden layers the network *is* the single
perceptron. Weights start from N(0, σ²) (or Xavier / Kaiming), biases at zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.nn.config import ACTIVATIONS, ANNConfig
from model.runtime.limits import MAX_TRAINING_WORK

ActivationFn = Callable[[torch.Tensor], torch.Tensor]

ACTIVATION_FUNCTIONS: dict[str, ActivationFn] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
    "leaky_relu": F.leaky_relu,  # negative slope 0.01
    "gelu": F.gelu,
}
assert set(ACTIVATION_FUNCTIONS) == set(ACTIVATIONS)

_SQRT_2, _SQRT_2PI = math.sqrt(2.0), math.sqrt(2.0 * math.pi)
# f'(z), given the pre-activation z and the output a = f(z) (whichever is cheaper);
# None means f' = 1. Used by the training engine's backprop (model/nn/engine.py); tests check them
# against autograd.
ACTIVATION_DERIVATIVES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor | None]] = {
    "relu": lambda z, a: torch.sign(a),  # a = max(z, 0): 1 where z > 0, else 0; faster than a bool mask
    "tanh": lambda z, a: 1.0 - a * a,
    "sigmoid": lambda z, a: a * (1.0 - a),
    "linear": lambda z, a: None,
    "leaky_relu": lambda z, a: torch.full_like(z, 0.01).masked_fill_(z > 0, 1.0),
    "gelu": lambda z, a: 0.5 * (1.0 + torch.erf(z / _SQRT_2)) + z * torch.exp(-0.5 * z * z) / _SQRT_2PI,
}

# torch.nn.init's names for the gain each activation needs (Xavier / Kaiming scaling); the Literal
# lets a type checker match them against the names torch.nn.init accepts.
GainName = Literal["linear", "sigmoid", "tanh", "relu", "leaky_relu"]
_GAIN_NAME: dict[str, GainName] = {
    "relu": "relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "linear": "linear",
    "leaky_relu": "leaky_relu",
    "gelu": "relu",
}


def activation_curve(name: str, x) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f'(x) as numpy arrays, for plotting. f' comes from autograd: the same
    derivative backpropagation uses."""
    if name not in ACTIVATION_FUNCTIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    z = torch.as_tensor(np.asarray(x, dtype=np.float64)).requires_grad_(True)
    y = ACTIVATION_FUNCTIONS[name](z)
    (dy,) = torch.autograd.grad(y.sum(), z)
    return y.detach().numpy(), dy.numpy()


def layer_sizes(config: ANNConfig, n_inputs: int) -> list[int]:
    """[n_inputs, hidden units..., 1]."""
    return [n_inputs] + [layer.units for layer in config.hidden_layers] + [1]


def parameter_count(config: ANNConfig, n_inputs: int) -> int:
    """Weights plus biases: Σ (fan_in + 1) · fan_out over the layers."""
    sizes = layer_sizes(config, n_inputs)
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True))


def dropout_mask(like: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted-dropout mask shaped like `like`: 0 with probability p, else 1 / (1 − p).
    An explicit generator keeps the draws independent of torch's process-wide one."""
    return torch.empty_like(like).bernoulli_(1.0 - p, generator=generator).div_(1.0 - p)


class TrainingTooLargeError(ValueError):
    """rows × parameters × epochs exceeds limits.MAX_TRAINING_WORK; the message says how to reduce it."""


def training_work(config: ANNConfig, n_rows: int, n_inputs: int) -> int:
    """Training rows × network parameters × epochs: what limits.MAX_TRAINING_WORK bounds."""
    return int(n_rows) * parameter_count(config, n_inputs) * int(config.epochs)


def check_training_work(config: ANNConfig, n_rows: int, n_inputs: int) -> None:
    """Raise TrainingTooLargeError unless the training stays within limits.MAX_TRAINING_WORK."""
    parameters, work = parameter_count(config, n_inputs), training_work(config, n_rows, n_inputs)
    if work > MAX_TRAINING_WORK:
        raise TrainingTooLargeError(
            f"this training is too large for the server: {int(n_rows):,} training rows × {parameters:,} network "
            f"parameters × {int(config.epochs):,} epochs = {work:.2g}, above the limit of {MAX_TRAINING_WORK:.0e} "
            f"(about {work / MAX_TRAINING_WORK:.3g}× too much). Reduce one of the three: fewer epochs (early "
            "stopping helps), fewer or narrower hidden layers, or fewer rows (a sample of the data set)."
        )


def _uninitialised_linear(fan_in: int, fan_out: int) -> nn.Linear:
    """An nn.Linear whose parameters are left for MLP.reset_parameters to set. Built on the meta device so that
    nn.Linear's own initialisation does not draw from (and move) the global RNG; its parameters are then
    replaced by empty CPU tensors. (nn.utils.skip_init does the same through Module.to_empty, whose meta-tensor
    path imports sympy and torch.fx: about 33 MB of a server's resident memory, for nothing.)"""
    linear = nn.Linear(fan_in, fan_out, device="meta")
    linear.weight = nn.Parameter(torch.empty(fan_out, fan_in))
    linear.bias = nn.Parameter(torch.empty(fan_out))
    return linear


class MLP(nn.Module):
    """Hidden layers (linear → activation → dropout) and one output logit.

    The module for inference (forward, evaluate, stochastic_logits, attributions, saved bundles).
    Training runs in model.nn.engine.StackedMLP, whose one hand-written backprop serves single fits
    (the module's parameters then are views of the engine's buffer) and cross-validation alike.
    """

    def __init__(self, config: ANNConfig, n_inputs: int):
        super().__init__()
        if not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"n_inputs must be a positive whole number; got {n_inputs!r}")
        sizes = layer_sizes(config, n_inputs)
        self.n_inputs = n_inputs
        self.layers = nn.ModuleList(
            _uninitialised_linear(fan_in, fan_out) for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.activations = [layer.activation for layer in config.hidden_layers]
        self.dropouts = [float(layer.dropout) for layer in config.hidden_layers]
        self._functions = [ACTIVATION_FUNCTIONS[name] for name in self.activations]
        self.reset_parameters(config)

    @property
    def linears(self) -> list[nn.Linear]:
        """The linear layers, input side first, typed as such (a ModuleList yields plain Modules)."""
        return [layer for layer in self.layers if isinstance(layer, nn.Linear)]

    def reset_parameters(self, config: ANNConfig) -> None:
        generator = torch.Generator().manual_seed(config.seed)
        gains: list[GainName] = [_GAIN_NAME[name] for name in self.activations] + ["linear"]
        with torch.no_grad():
            for linear, gain in zip(self.linears, gains, strict=True):
                if config.init == "normal":
                    nn.init.normal_(linear.weight, 0.0, config.init_sigma, generator=generator)
                elif config.init == "xavier":
                    nn.init.xavier_normal_(linear.weight, nn.init.calculate_gain(gain), generator=generator)
                else:  # kaiming (He): variance 2/fan_in for ReLU-like units
                    nn.init.kaiming_normal_(
                        linear.weight, a=0.01 if gain == "leaky_relu" else 0.0, nonlinearity=gain, generator=generator
                    )
                nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (n,); dropout acts in training mode only."""
        return self._logits(x, self.training)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluation-mode logits without autograd, whatever mode the module is in (the
        training loop measures each epoch this way without toggling train()/eval())."""
        with torch.no_grad():
            return self._logits(x, False)

    def stochastic_logits(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Logits with dropout on (masks drawn from `generator`), without autograd and without
        switching the module's mode: Monte Carlo dropout on a model other threads share."""
        with torch.no_grad():
            return self._logits(x, True, generator)

    def _logits(self, x: torch.Tensor, training: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        # F.linear instead of module calls: these layers are tiny and per-call overhead
        # dominates their cost.
        *hidden, output = self.linears
        for linear, f, p in zip(hidden, self._functions, self.dropouts, strict=True):
            x = f(F.linear(x, linear.weight, linear.bias))
            if p > 0.0 and training:
                x = x * dropout_mask(x, p, generator)
        return F.linear(x, output.weight, output.bias).squeeze(-1)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward(x))

    def extra_repr(self) -> str:
        parts = [f"{a}, dropout={p:g}" if p else a for a, p in zip(self.activations, self.dropouts, strict=True)]
        return "hidden: " + ("; ".join(parts) if parts else "none (single perceptron)")


def layer_names(network: MLP) -> list[str]:
    """ "hidden 1", "hidden 2", ..., "output": keys of the per-layer norm dictionaries."""
    count = len(network.layers)
    return [f"hidden {i + 1}" for i in range(count - 1)] + ["output"]


def linear_layers(network: MLP) -> dict[str, nn.Linear]:
    """Named linear layers, input side first."""
    return dict(zip(layer_names(network), network.linears, strict=True))
