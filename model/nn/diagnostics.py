"""Plain-language findings about a training: what went wrong, and what usually helps.

Pure functions over what a training leaves behind: its History (per-epoch losses and per-layer
gradient norms), the fitted network and some inputs. Each returns Finding values (kind, severity,
message) that a page can show as they are; an empty list means nothing worth saying was found.

    divergence           the loss became NaN or infinite, or ended worse than predicting 50 % for everyone
    unstable_loss        the loss jumped far above its starting level before recovering
    vanishing_gradients  the first layer's gradients are orders of magnitude smaller than the last's
    dead_units           ReLU units that output 0 for every input row: they no longer learn
    saturated_units      sigmoid/tanh units pushed to their flat ends on most rows: they barely learn
    chance_level         the scores rank the classes no better than a coin (ROC AUC ≈ 0.5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from model.nn.estimator import ANNClassifier
from model.nn.network import MLP, layer_names
from model.nn.plane import forward_layers
from model.nn.training import History

Severity = Literal["info", "warning", "error"]
FindingKind = Literal[
    "divergence", "unstable_loss", "vanishing_gradients", "dead_units", "saturated_units", "chance_level"
]
_SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

# ln 2: the loss of predicting 50 % for every row. A training that ends at twice that has made the
# network worse than knowing nothing.
COIN_FLIP_LOSS = math.log(2.0)
DIVERGED_LOSS = 2.0 * COIN_FLIP_LOSS
UNSTABLE_LOSS = 10.0 * COIN_FLIP_LOSS  # a spike this high means steps far too large, even if it recovered
# First-layer gradient norm / output-layer gradient norm (median over epochs) below this: "vanishing".
VANISHING_GRADIENT_RATIO = 1e-3
# |pre-activation| beyond which the unit's slope is under 1 % of its largest (tanh' < 0.01, σ' < 0.0025).
SATURATION_THRESHOLD = {"tanh": 3.0, "sigmoid": 6.0}
SATURATED_ROW_FRACTION = 0.9  # "most rows"
CHANCE_AUC_MARGIN = 0.05  # ROC AUC within 0.5 ± this counts as chance level


@dataclass(frozen=True)
class Finding:
    """One thing worth telling the user. layer names the layer concerned ("hidden 1", ...), if one is."""

    kind: FindingKind
    severity: Severity
    message: str
    layer: str | None = None


def history_findings(history: History) -> list[Finding]:
    """Divergence, an unstable loss and vanishing gradients, read from a training's History."""
    losses = np.asarray(history.column("train_loss"), dtype=np.float64)
    if len(losses) == 0:
        return []
    findings: list[Finding] = []
    bad = ~np.isfinite(losses)
    if bad.any():
        first = history.epochs[int(np.argmax(bad))].epoch
        findings.append(
            Finding(
                "divergence",
                "error",
                f"training diverged: the loss became {'NaN' if np.isnan(losses[bad][0]) else 'infinite'} at epoch "
                f"{first}, so the weights are no longer numbers. The steps were too large: lower the learning rate "
                "(for example by a factor of 10) or use Adam.",
            )
        )
    elif losses[-1] > DIVERGED_LOSS:
        findings.append(
            Finding(
                "divergence",
                "error",
                f"training diverged: the loss ended at {losses[-1]:.3g}, worse than predicting 50 % for everyone "
                f"({COIN_FLIP_LOSS:.3f}). The steps were too large: lower the learning rate.",
            )
        )
    elif losses.max() > UNSTABLE_LOSS:
        worst = history.epochs[int(np.argmax(losses))].epoch
        findings.append(
            Finding(
                "unstable_loss",
                "warning",
                f"the loss jumped to {losses.max():.3g} at epoch {worst} (a network that knows nothing scores "
                f"{COIN_FLIP_LOSS:.3f}) before coming back down: the learning rate is on the high side.",
            )
        )
    vanishing = _vanishing_gradients(history)
    if vanishing is not None:
        findings.append(vanishing)
    return findings


def _vanishing_gradients(history: History) -> Finding | None:
    if not history.epochs:
        return None
    names = list(history.epochs[0].grad_norms)
    if len(names) < 2:  # a perceptron has a single layer: nothing to compare
        return None
    first, last = names[0], names[-1]
    ratios = [
        event.grad_norms[first] / event.grad_norms[last]
        for event in history.epochs
        if math.isfinite(event.grad_norms[first])
        and math.isfinite(event.grad_norms[last])
        and event.grad_norms[last] > 0.0
    ]
    if not ratios:
        return None
    ratio = float(np.median(ratios))
    if ratio >= VANISHING_GRADIENT_RATIO:
        return None
    orders = math.log10(1.0 / ratio) if ratio > 0 else math.inf
    size = (
        f"zero, while the {last} layer's is not"
        if ratio == 0
        else f"about 1/{1.0 / ratio:,.0f} of the {last} layer's ({orders:.0f} orders of magnitude smaller)"
    )
    return Finding(
        "vanishing_gradients",
        "warning",
        f"vanishing gradients: the gradient reaching {first} is {size}, so the layers near the input barely "
        "learn. Each sigmoid or tanh layer shrinks the gradient on its way back; use ReLU, "
        "fewer layers, or Xavier/Kaiming initialisation.",
        layer=first,
    )


def unit_findings(network: MLP, X) -> list[Finding]:
    """Dead ReLU units and saturated sigmoid/tanh units, judged on the rows of X (the inputs the
    network was trained on, preprocessed as it saw them)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"the inputs must be a table with at least one row; got shape {X.shape}")
    values = forward_layers(network, X)
    findings: list[Finding] = []
    for name, activation, z in zip(layer_names(network)[:-1], network.activations, values.pre_activations, strict=True):
        units = z.shape[1]
        if activation == "relu":
            dead = int((z <= 0.0).all(axis=0).sum())
            if dead:
                everything = dead == units
                findings.append(
                    Finding(
                        "dead_units",
                        _dead_severity(dead, units),
                        f"{dead} of {units} ReLU units in {name} are dead: they output 0 for every one of the "
                        f"{len(X):,} rows, so no gradient reaches them and they never learn again"
                        + (
                            " (the whole layer is dead: the network predicts the same for everyone)"
                            if everything
                            else ""
                        )
                        + ". A lower learning rate, Kaiming initialisation or leaky ReLU prevents this.",
                        layer=name,
                    )
                )
        elif activation in SATURATION_THRESHOLD:
            threshold = SATURATION_THRESHOLD[activation]
            saturated = int(((np.abs(z) > threshold).mean(axis=0) >= SATURATED_ROW_FRACTION).sum())
            if saturated:
                findings.append(
                    Finding(
                        "saturated_units",
                        "warning",
                        f"{saturated} of {units} {activation} units in {name} are saturated: on at least "
                        f"{SATURATED_ROW_FRACTION:.0%} of the rows their input is beyond ±{threshold:g}, where the "
                        "curve is flat and its slope under 1 % of its peak, so they barely learn. Smaller initial "
                        "weights (Xavier), standardised inputs or a lower learning rate help.",
                        layer=name,
                    )
                )
    return findings


def _dead_severity(dead: int, units: int) -> Severity:
    # A few dead units in a wide layer are common and cost little; a whole dead layer stops the network.
    if dead == units:
        return "error"
    return "warning" if 2 * dead >= units else "info"


def chance_finding(scores, y) -> Finding | None:
    """A finding when the scores (logits or probabilities) rank the two classes of y no better than
    chance; None when they do better, or when y holds a single class (no AUC then)."""
    y = np.asarray(y).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if len(y) != len(scores):
        raise ValueError(f"scores and labels differ in length: {len(scores)} and {len(y)}")
    if len(np.unique(y)) != 2 or not np.isfinite(scores).all():
        return None
    auc = float(roc_auc_score(y, scores))
    if abs(auc - 0.5) >= CHANCE_AUC_MARGIN:
        return None
    return Finding(
        "chance_level",
        "warning",
        f"no better than chance: the ROC AUC is {auc:.2f}, and a coin flip scores 0.50. The network has not "
        "found how the inputs relate to the classes; it may need hidden layers (a straight line cannot separate "
        "every shape), more epochs or a different learning rate.",
    )


def diagnose(estimator: ANNClassifier, X, y) -> list[Finding]:
    """Every finding for a fitted ANNClassifier on (X, y), most severe first. X as passed to fit (already
    preprocessed); the history's findings are left out for a classifier rebuilt without one."""
    check_is_fitted(estimator)
    findings = history_findings(estimator.history_) if estimator.history_ is not None else []
    X = np.asarray(X, dtype=np.float64)
    findings += unit_findings(estimator.network_, X)
    labels = np.asarray(y).ravel()
    chance = chance_finding(estimator.decision_function(X), labels == estimator.classes_[1])
    if chance is not None:
        findings.append(chance)
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])
