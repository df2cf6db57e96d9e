"""Per-browser-session state: every key is an explicit constant, every value has a getter.

Streamlit's `st.session_state` belongs to one browser session, so the dataset chosen on
one page is the one every page uses for that session only. Shared, read-only objects
(the built-in data, the shipped default model) are cached across sessions; anything a
user makes (uploads, trained models, configs, runs) lives in session state.

Model modules are imported inside functions so this module imports even when a
teammate's module is missing or broken.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

# Session-state keys (one place, so pages never spell them twice).
KEY_DATASET = "heart.dataset"            # DatasetChoice in use on every page
KEY_UCI_SITES = "heart.uci_sites"        # four-site frame with a "site" column, or absent
KEY_ACTIVE_MODEL = "heart.active_model"  # ActiveModel promoted by the user, or absent (= shipped default)
KEY_ANN_CONFIG = "heart.ann_config"      # ANNConfig being edited / used for training
KEY_TRAINING_RUNS = "heart.training_runs"  # list of this session's runs (training page defines a run)

SOURCE_BUILTIN = "builtin"
SOURCE_UCI_SITES = "uci_sites"
SOURCE_UPLOAD = "upload"

BUILTIN_NAME = "Cleveland (built-in)"
DEFAULT_MODEL_NAME = "Shipped default model"


@dataclass(frozen=True)
class DatasetChoice:
    """The data every page works on: 13 features in UCI coding + `target` (0/1)."""

    name: str
    frame: pd.DataFrame
    source: str  # SOURCE_BUILTIN | SOURCE_UCI_SITES | SOURCE_UPLOAD

    @property
    def n_rows(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class ActiveModel:
    """The model the prediction page uses. `pipeline` is None only when loading failed (`error` says why)."""

    name: str
    pipeline: Any
    metadata: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_MODEL_NAME


@st.cache_data(show_spinner=False)
def builtin_dataset() -> pd.DataFrame:
    """The built-in Cleveland data (cached for all sessions; st.cache_data hands out copies)."""
    from model.datasets import load_dataset

    return load_dataset("cleveland")


def current_dataset() -> DatasetChoice:
    """The dataset chosen in this browser session; the built-in Cleveland data until one is chosen."""
    choice = st.session_state.get(KEY_DATASET)
    if choice is None:
        choice = DatasetChoice(BUILTIN_NAME, builtin_dataset(), SOURCE_BUILTIN)
        st.session_state[KEY_DATASET] = choice
    return choice


def set_dataset(name: str, frame: pd.DataFrame, source: str) -> DatasetChoice:
    choice = DatasetChoice(name, frame, source)
    st.session_state[KEY_DATASET] = choice
    return choice


def reset_dataset() -> DatasetChoice:
    """Go back to the built-in Cleveland data."""
    st.session_state.pop(KEY_DATASET, None)
    return current_dataset()


def uci_sites() -> pd.DataFrame | None:
    """The four UCI sites (one frame, "site" column) once downloaded or uploaded this session."""
    return st.session_state.get(KEY_UCI_SITES)


def set_uci_sites(frame: pd.DataFrame) -> None:
    st.session_state[KEY_UCI_SITES] = frame


@st.cache_resource(show_spinner="Loading the shipped model…")
def _default_pipeline():
    """Shared by every session and used read-only; a user's own models live in session state.

    A failure raises, and st.cache_resource does not cache exceptions, so a later rerun retries.
    """
    from model.bundle import load_default_model

    return load_default_model()


def active_model() -> ActiveModel:
    """The model promoted in this session, else the shipped default (pipeline None and `error` set if it fails)."""
    promoted = st.session_state.get(KEY_ACTIVE_MODEL)
    if promoted is not None:
        return promoted
    try:
        pipeline = _default_pipeline()
    except Exception as error:  # noqa: BLE001 - the app must keep working without a model
        return ActiveModel(DEFAULT_MODEL_NAME, None, {}, error=f"The shipped model could not be loaded: {error}")
    return ActiveModel(DEFAULT_MODEL_NAME, pipeline, dict(getattr(pipeline, "metadata", {}) or {}))


def set_active_model(name: str, pipeline: Any, metadata: dict | None = None) -> ActiveModel:
    model = ActiveModel(name, pipeline, dict(metadata or {}))
    st.session_state[KEY_ACTIVE_MODEL] = model
    return model


def reset_active_model() -> ActiveModel:
    st.session_state.pop(KEY_ACTIVE_MODEL, None)
    return active_model()


def ann_config():
    """The network configuration of this session (a private copy of the recommended preset at first)."""
    config = st.session_state.get(KEY_ANN_CONFIG)
    if config is None:
        from model.presets import RECOMMENDED

        config = copy.deepcopy(RECOMMENDED)
        st.session_state[KEY_ANN_CONFIG] = config
    return config


def set_ann_config(config) -> None:
    st.session_state[KEY_ANN_CONFIG] = config


def training_runs() -> list:
    """This session's training runs (the list itself: append to it)."""
    return st.session_state.setdefault(KEY_TRAINING_RUNS, [])
