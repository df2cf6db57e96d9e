"""The uncertainty interval of a risk, by Monte Carlo dropout, or why a model has none.

The network is run ``N`` times with its dropout switched on (Gal & Ghahramani, 2016) and
the central 95 % of those stochastic probabilities is the interval. With unknown values
the passes are spread over their plausible fillings (model/clinic/unknown_averaging.py), so
the interval includes what the unknowns could change. A model without dropout (e.g. a
logistic regression) gets no interval, and the result says why in words (``detail``) and
as a ``NoIntervalReason``; each such case is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from model.clinic.probabilities import dropout_rates, network_inputs, split_network

logger = logging.getLogger(__name__)

MC_DROPOUT_PASSES = 200
MC_PASSES_PER_FILLING = 20  # one patient with unknowns: passes per plausible filling (50 fillings: 1,000 passes)
MC_LEVEL = 0.95
MC_BATCH_PASSES = 100  # a batch: passes per row (the 2.5 % and 97.5 % quantiles still interpolate between draws)
MC_BATCH_DRAWS = 400_000  # stochastic rows per chunk of a batch (bounds memory)
MC_MIN_PASSES, MC_MAX_PASSES = 10, 5000
MC_DROPOUT = "Monte Carlo dropout"


class NoIntervalReason(StrEnum):
    """Why a risk comes without an uncertainty interval."""

    NOT_A_NETWORK = "not a neural network"
    NO_DROPOUT = "trained without dropout"
    UNSUPPORTED_NETWORK = "network cannot run with its dropout on"


NO_INTERVAL_DETAIL = {
    NoIntervalReason.NOT_A_NETWORK: "this model is not a neural network, so Monte Carlo dropout does not apply.",
    NoIntervalReason.NO_DROPOUT: "this network was trained without dropout, so Monte Carlo dropout cannot "
    "estimate its uncertainty.",
    NoIntervalReason.UNSUPPORTED_NETWORK: "this network is not one this app built (it has no stochastic forward "
    "pass with dropout on), so Monte Carlo dropout cannot estimate its uncertainty.",
}


@dataclass(frozen=True)
class UncertaintyInterval:
    lower: float | None
    upper: float | None
    level: float
    method: str
    detail: str  # how the interval was computed, or why there is none
    no_interval_reason: NoIntervalReason | None = None  # set exactly when there is no interval

    @property
    def available(self) -> bool:
        return self.lower is not None

    def text(self) -> str:
        if not self.available:
            return f"No uncertainty interval: {self.detail}"
        return f"{self.level:.0%} interval {self.lower:.0%} – {self.upper:.0%} ({self.method})"


def no_interval_reason(pipeline) -> NoIntervalReason | None:
    """Why Monte Carlo dropout does not apply to this pipeline (logged), or None when it does."""
    _, network = split_network(pipeline)
    if network is None:
        reason = NoIntervalReason.NOT_A_NETWORK
        logger.info("no uncertainty interval for %s: %s", type(pipeline).__name__, reason)
    elif not callable(getattr(network, "stochastic_logits", None)):
        # A torch network from elsewhere: its dropout layers, if any, cannot be sampled without switching the
        # shared module to training mode, which other threads would see.
        reason = NoIntervalReason.UNSUPPORTED_NETWORK
        logger.warning("no uncertainty interval for %s: %s", type(network).__name__, reason)
    elif not dropout_rates(network):
        reason = NoIntervalReason.NO_DROPOUT
        logger.info("no uncertainty interval for %s: %s", type(network).__name__, reason)
    else:
        return None
    return reason


def no_interval(reason: NoIntervalReason, level: float = MC_LEVEL) -> UncertaintyInterval:
    return UncertaintyInterval(None, None, level, MC_DROPOUT, NO_INTERVAL_DETAIL[reason], reason)


def clipped_passes(n_passes: int) -> int:
    return int(min(max(n_passes, MC_MIN_PASSES), MC_MAX_PASSES))


def mc_dropout_bounds(
    pipeline,
    completions: pd.DataFrame,
    counts: np.ndarray,
    n_passes: int,
    level: float = MC_LEVEL,
    seed: int = 0,
    matrix: np.ndarray | None = None,
) -> np.ndarray:
    """(n_rows, 2) central `level` interval of P(disease) per row over `n_passes` dropout passes.

    `completions` holds each row's plausible fillings, consecutive (``counts[i]`` of them for
    row i; one for a row with nothing unknown). Pass j of a row runs its filling j mod count,
    so the passes are spread evenly over the fillings and the interval covers both the
    model's wobble and what the unknown values could be. Every row of a chunk runs as one
    batch, each copy with its own dropout mask from a generator seeded with `seed` (never
    torch's process-wide one, which trainings in other threads draw from); the shared model
    is never switched to training mode. `matrix`: the fillings already preprocessed.
    """
    import torch

    preprocess, network = split_network(pipeline)
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    inputs = network_inputs(preprocess, network, completions, matrix)
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    tail = (1.0 - level) / 2.0
    bounds = np.empty((len(counts), 2))
    chunk = max(1, MC_BATCH_DRAWS // n_passes)
    passes = np.arange(n_passes)
    for first in range(0, len(counts), chunk):
        rows = slice(first, first + chunk)
        index = starts[rows, None] + passes[None, :] % counts[rows, None]
        picked = inputs[torch.as_tensor(index.reshape(-1), device=inputs.device)]
        probabilities = torch.sigmoid(network.stochastic_logits(picked, generator)).reshape(-1, n_passes)
        ordered = torch.sort(probabilities, dim=1).values.cpu().double().numpy()
        bounds[rows] = sorted_quantiles(ordered, (tail, 1.0 - tail))
    return bounds


def sorted_quantiles(ordered: np.ndarray, levels) -> np.ndarray:
    """Quantiles of each row of an already sorted array, linear interpolation (numpy's and torch's default)."""
    n = ordered.shape[1]
    out = np.empty((len(ordered), len(levels)))
    for column, level in enumerate(levels):
        position = level * (n - 1)
        below = int(np.floor(position))
        above = min(below + 1, n - 1)
        fraction = position - below
        out[:, column] = ordered[:, below] * (1.0 - fraction) + ordered[:, above] * fraction
    return out


def mc_dropout_interval(
    pipeline,
    frame: pd.DataFrame,
    n_passes: int = MC_DROPOUT_PASSES,
    level: float = MC_LEVEL,
    seed: int = 0,
    matrix: np.ndarray | None = None,
) -> UncertaintyInterval:
    """Central `level` interval of P(disease) over `n_passes` forward passes with dropout on.

    `frame` is one patient (its first row), or several rows that are the plausible fillings
    of one patient's unknown values: the passes are then spread evenly over them.
    """
    reason = no_interval_reason(pipeline)
    if reason is not None:
        return no_interval(reason, level)
    n_fillings = len(frame)
    n_passes = clipped_passes(n_passes)
    lower, upper = mc_dropout_bounds(pipeline, frame, np.array([n_fillings]), n_passes, level, seed, matrix)[0]
    method, detail = interval_words(pipeline, n_passes, level, n_fillings)
    return UncertaintyInterval(float(lower), float(upper), level, method, detail)


def interval_words(pipeline, n_passes: int, level: float, n_fillings: int) -> tuple[str, str]:
    """(method, detail) of a Monte Carlo dropout interval."""
    rate = max(dropout_rates(split_network(pipeline)[1]))
    if n_fillings > 1:
        method = f"{MC_DROPOUT} over {n_fillings} plausible fillings of the unknown values, {n_passes} passes"
        how = (
            f"the network was run {n_passes} times with its dropout (rate {rate:g}) left on, as during training, "
            f"spread evenly over {n_fillings} plausible fillings of the unknown values; the interval holds the "
            f"central {level:.0%} of those {n_passes} probabilities, so it includes what the unknown values "
            "could change."
        )
    else:
        method = f"{MC_DROPOUT}, {n_passes} stochastic passes"
        how = (
            f"the network was run {n_passes} times with its dropout (rate {rate:g}) left on, as during "
            f"training; the interval holds the central {level:.0%} of those {n_passes} probabilities."
        )
    return method, how + (
        " It shows how much the model's own estimate wobbles, not the uncertainty of the "
        "diagnosis itself, and it does not widen for patients unlike the training patients "
        "(those are flagged separately)."
    )
