"""The training patients behind a model: what unknown values are filled from and typicality is judged against.

The shipped default model was trained on the built-in Cleveland data (its metadata's
``data_fingerprint`` says so and is checked here); a model trained in a session knows its
own training rows. When the data a model was trained on are not available (a bundle
loaded from elsewhere, an old bundle without a fingerprint), the built-in Cleveland
data stand in, and the reference says so in ``note`` (shown on the page, logged here):
never silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd

from model.clinic.imputation import NeighbourImputer
from model.clinic.typicality import FeatureSpace, TypicalityCheck
from model.data.schema import FEATURE_NAMES
from model.serving.bundle import LoadedModel

logger = logging.getLogger(__name__)

BUILTIN_NAME = "built-in Cleveland data"


@dataclass(frozen=True)
class TrainingReference:
    """Training patients with the imputer and the typicality check built on them."""

    name: str  # e.g. "the 303 Cleveland patients the model was trained on"
    frame: pd.DataFrame
    is_training_data: bool  # False: a stand-in for training data that are not available
    note: str | None = None  # why a stand-in is used (None when these are the training data)
    space: FeatureSpace = field(init=False, repr=False)
    imputer: NeighbourImputer = field(init=False, repr=False)
    typicality: TypicalityCheck = field(init=False, repr=False)

    def __post_init__(self):
        space = FeatureSpace(self.frame[list(FEATURE_NAMES)])
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "imputer", NeighbourImputer(space))
        object.__setattr__(self, "typicality", TypicalityCheck(space, "training patients"))

    @property
    def n_patients(self) -> int:
        return len(self.frame)


def training_reference(frame: pd.DataFrame, name: str) -> TrainingReference:
    """A model's own training data."""
    return TrainingReference(name, frame, True)


@lru_cache(maxsize=1)
def _builtin() -> tuple[pd.DataFrame, str]:
    from model.data.datasets import load_dataset
    from model.serving.bundle import data_fingerprint

    frame = load_dataset("cleveland")
    return frame, data_fingerprint(frame)


@lru_cache(maxsize=4)
def _builtin_reference(is_training_data: bool, note: str | None) -> TrainingReference:
    frame, _ = _builtin()
    name = (
        f"the {len(frame)} Cleveland patients the model was trained on"
        if is_training_data
        else f"the {len(frame)} patients of the {BUILTIN_NAME} (a stand-in)"
    )
    return TrainingReference(name, frame, is_training_data, note)


def reference_for_model(
    pipeline, metadata: Mapping | None = None, training_data: pd.DataFrame | None = None, model_name: str = "this model"
) -> TrainingReference:
    """The reference for a model: its own training rows when given, the built-in data when its
    fingerprint says it was trained on them, else the built-in data as a stand-in (note set, logged)."""
    if training_data is not None and len(training_data):
        return training_reference(training_data, f"the {len(training_data):,} patients {model_name} was trained on")
    if metadata is None:  # a model loaded from a bundle carries its metadata; a bare pipeline has none
        metadata = pipeline.metadata if isinstance(pipeline, LoadedModel) else {}
    metadata = dict(metadata)
    fingerprint = metadata.get("data_fingerprint")
    _, builtin_fingerprint = _builtin()
    if fingerprint == builtin_fingerprint:
        return _builtin_reference(True, None)
    why = (
        "its training data are not recorded with it"
        if not fingerprint
        else "it was trained on data that are not available here (its data fingerprint does not match the "
        "built-in data)"
    )
    note = (
        f"The patients {model_name} was trained on are not available ({why}). Unknown values are filled in, "
        f"and typicality is judged, from the {BUILTIN_NAME} instead, which may differ from its training data."
    )
    logger.warning("training data of %s unavailable (%s); using the %s as a stand-in", model_name, why, BUILTIN_NAME)
    return _builtin_reference(False, note)
