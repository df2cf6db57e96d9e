"""Unknown values averaged over their plausible values, never given the training median.

The plausible values of a patient's unknowns are those of the most similar training
patients (model/clinic/imputation.py, via the model's ``TrainingReference``): the risk is
the average over those fillings, and their lowest and highest risk are shown as the
range the unknowns could make.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.clinic.probabilities import probability_and_inputs
from model.clinic.reference import TrainingReference, reference_for_model
from model.data.schema import FEATURE_NAMES


@dataclass(frozen=True)
class UnknownRange:
    """The risk with the unknown values filled in every plausible way (the training neighbours' values)."""

    low: float
    high: float
    n_fillings: int
    reference: str  # whose values: e.g. "the 303 Cleveland patients the model was trained on"

    def text(self) -> str:
        return (
            f"With the missing values filled in every plausible way ({self.n_fillings} fillings, from the most "
            f"similar of {self.reference}), the risk lies between {self.low:.0%} and {self.high:.0%}."
        )


def resolve_reference(pipeline, reference: TrainingReference | None = None) -> TrainingReference:
    """The given TrainingReference, else the model's own (model/clinic/reference.py; a stand-in is logged there)."""
    return reference if reference is not None else reference_for_model(pipeline)


def plausible_fillings(reference: TrainingReference, frame: pd.DataFrame) -> pd.DataFrame:
    """The first row of `frame` with its unknown values filled in every plausible way (one row per filling;
    the row itself when nothing is unknown)."""
    values = frame[list(FEATURE_NAMES)].iloc[:1].to_numpy(dtype=float)
    return pd.DataFrame(reference.imputer.complete(values).values, columns=list(FEATURE_NAMES))


@dataclass(frozen=True)
class AveragedRisks:
    """Each row's risk averaged over its plausible fillings, with what the Monte Carlo passes need."""

    mean: np.ndarray  # per row
    low: np.ndarray  # per row: the lowest risk over its fillings
    high: np.ndarray  # per row: the highest
    fillings: pd.DataFrame  # every row's fillings, consecutive
    counts: np.ndarray  # fillings per row (1 for a row with nothing unknown)
    matrix: np.ndarray | None  # the network's preprocessed fillings; None for a model that is not our network


def averaged_risks(pipeline, frame: pd.DataFrame, reference: TrainingReference) -> AveragedRisks:
    """Every row's risk averaged over its plausible fillings.

    A row with nothing unknown has one filling (itself): its mean, lowest and highest are its risk.
    """
    completions = reference.imputer.complete(frame[list(FEATURE_NAMES)].to_numpy(dtype=float))
    fillings = pd.DataFrame(completions.values, columns=list(FEATURE_NAMES))
    counts = completions.counts
    if not len(counts):
        return AveragedRisks(np.empty(0), np.empty(0), np.empty(0), fillings, counts, None)
    risks, matrix = probability_and_inputs(pipeline, fillings)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.add.reduceat(risks, starts) / counts
    low, high = np.minimum.reduceat(risks, starts), np.maximum.reduceat(risks, starts)
    return AveragedRisks(mean, low, high, fillings, counts, matrix)
