"""What a network fitted on two inputs does everywhere in the input plane.

For a classifier with exactly two inputs the whole input space can be drawn. `decision_plane`
evaluates the network on a regular grid over the data's range, in one forward pass, and returns
the predicted probability (its 0.5 contour is the exact decision boundary, not a projection) and
every hidden neuron's output, layer by layer, as grids of the same shape.

Grids follow the image convention of plotting libraries: `grid[i, j]` is the value at
(x1[j], x2[i]), so rows run along the second input (the vertical axis).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted

from model.nn.estimator import ANNClassifier
from model.nn.network import ACTIVATION_FUNCTIONS, MLP, layer_names
from model.runtime.threads import threads_for

MAX_PLANE_RESOLUTION = 200  # points per axis: 40,000 grid points, a fraction of a second on a CPU
MIN_PLANE_RESOLUTION = 2
# Grid points × hidden units held at once (float64: 80 MB); e.g. 200 × 200 points × 250 units.
MAX_PLANE_VALUES = 10_000_000


@dataclass(frozen=True)
class ForwardPass:
    """Every layer's values for a set of input rows (evaluation mode: no dropout).

    pre_activations[k] and activations[k] are (rows, units) for hidden layer k (input side first);
    pre_activations is empty when not asked for. logits has shape (rows,).
    """

    pre_activations: list[np.ndarray]
    activations: list[np.ndarray]
    logits: np.ndarray


@dataclass(frozen=True)
class UnitGrids:
    """One hidden layer's outputs over the grid: `values[u]` is unit u's output, shape (resolution, resolution)."""

    name: str  # "hidden 1", "hidden 2", ...
    activation: str
    values: np.ndarray  # (units, resolution, resolution)


@dataclass(frozen=True)
class DecisionPlane:
    """A fitted two-input network evaluated on a resolution × resolution grid (see the module docstring
    for the orientation). probability is P(classes[1]); the decision boundary is where it crosses 0.5,
    i.e. where logit crosses 0."""

    x1: np.ndarray  # (resolution,) grid coordinates along the first input
    x2: np.ndarray  # (resolution,) along the second input
    logit: np.ndarray  # (resolution, resolution)
    probability: np.ndarray  # (resolution, resolution)
    layers: list[UnitGrids]  # hidden layers, input side first; empty for a perceptron or include_units=False
    classes: np.ndarray  # the estimator's classes_: probability is that of classes[1]


def forward_layers(network: MLP, X, keep_pre_activations: bool = True) -> ForwardPass:
    """One forward pass of `network` over the rows of X (array-like, (rows, inputs)), keeping every
    hidden layer's output (and its input to the activation function, when asked). Evaluation mode
    (no dropout) and no autograd, whatever mode the network is in."""
    device = next(network.parameters()).device
    x = torch.as_tensor(np.asarray(X, dtype=np.float32)).to(device)
    pre_activations: list[np.ndarray] = []
    activations: list[np.ndarray] = []
    *hidden, output = network.linears
    with torch.no_grad():
        for linear, name in zip(hidden, network.activations, strict=True):
            z = F.linear(x, linear.weight, linear.bias)
            x = ACTIVATION_FUNCTIONS[name](z)
            if keep_pre_activations:
                pre_activations.append(_to_numpy(z))
            activations.append(_to_numpy(x))
        logits = _to_numpy(F.linear(x, output.weight, output.bias).squeeze(-1))
    return ForwardPass(pre_activations, activations, logits)


def plane_bounds(X, padding: float = 0.1) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x1 low, x1 high), (x2 low, x2 high)): the range of X's two columns, widened on each side
    by `padding` × its width (a column with a single value gets a width of 1)."""
    X = _two_columns(X)
    if not np.isfinite(padding) or not 0.0 <= padding <= 1.0:
        raise ValueError(f"padding must be a number from 0 to 1 (a fraction of the data's range); got {padding!r}")
    low, high = X.min(axis=0), X.max(axis=0)
    width = np.where(high > low, high - low, 1.0)
    low, high = low - padding * width, high + padding * width
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def decision_plane(
    estimator: ANNClassifier,
    X,
    resolution: int = 100,
    padding: float = 0.1,
    include_units: bool = True,
) -> DecisionPlane:
    """The fitted estimator's probability and (with include_units) every hidden unit's output on a
    resolution × resolution grid covering X's range (see plane_bounds). X is the data the grid should
    cover, usually the training inputs; the estimator must have been fitted on exactly two inputs.

    Raises ValueError when the estimator does not have two inputs, the resolution is outside
    [MIN_PLANE_RESOLUTION, MAX_PLANE_RESOLUTION], or the unit grids would exceed MAX_PLANE_VALUES.
    """
    if not isinstance(estimator, ANNClassifier):
        raise TypeError(f"decision_plane needs a fitted ANNClassifier; got {type(estimator).__name__}")
    check_is_fitted(estimator)
    if estimator.n_features_in_ != 2:
        raise ValueError(
            "the decision plane can be drawn only for a network with two inputs; "
            f"this one has {estimator.n_features_in_}"
        )
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise ValueError(f"resolution must be a whole number of grid points per axis; got {resolution!r}")
    if not MIN_PLANE_RESOLUTION <= resolution <= MAX_PLANE_RESOLUTION:
        raise ValueError(
            f"resolution must be from {MIN_PLANE_RESOLUTION} to {MAX_PLANE_RESOLUTION} points per axis; "
            f"got {resolution}"
        )
    network = estimator.network_
    hidden_units = sum(linear.out_features for linear in network.linears[:-1])
    if include_units and resolution * resolution * hidden_units > MAX_PLANE_VALUES:
        raise ValueError(
            f"{resolution} × {resolution} grid points × {hidden_units} hidden units is more than "
            f"{MAX_PLANE_VALUES:,} values to keep; lower the resolution or leave out the hidden units"
        )
    (x1_low, x1_high), (x2_low, x2_high) = plane_bounds(X, padding)
    x1 = np.linspace(x1_low, x1_high, int(resolution))
    x2 = np.linspace(x2_low, x2_high, int(resolution))
    grid_x1, grid_x2 = np.meshgrid(x1, x2)  # (resolution, resolution), rows along x2
    points = np.column_stack([grid_x1.ravel(), grid_x2.ravel()])
    device = next(network.parameters()).device
    with threads_for(device, len(points) * max(linear.out_features for linear in network.linears)):
        # A small grid on many torch threads spends more time handing work out than doing it.
        values = forward_layers(network, points, keep_pre_activations=False)
    shape = (len(x2), len(x1))
    logit = values.logits.reshape(shape)
    layers = []
    if include_units:
        for name, activation, outputs in zip(
            layer_names(network)[:-1], network.activations, values.activations, strict=True
        ):
            layers.append(UnitGrids(name, activation, outputs.T.reshape(-1, *shape)))
    probability = expit(logit)  # σ without overflow warnings for large logits
    return DecisionPlane(x1, x2, logit, probability, layers, np.asarray(estimator.classes_))


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    # float64 only on the host: Apple's MPS has no float64
    return tensor.cpu().numpy().astype(np.float64)


def _two_columns(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) == 0:
        raise ValueError(f"the data must have two columns (x1, x2) and at least one row; got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("the data must not contain missing or infinite values")
    return X
