"""Per-browser-session state: every key is an explicit constant, every value has a getter.

Streamlit's `st.session_state` belongs to one browser session, so the dataset chosen on
one page is the one every page uses for that session only. Shared, read-only objects
(the built-in data, the shipped default model) are cached across sessions; anything a
user makes (uploads, trained models, configs, runs) lives in session state.

Model modules are imported inside functions so this module imports even when a
teammate's module is missing or broken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

logger = logging.getLogger(__name__)

# What loading or retraining the default model can raise: BundleError and ConfigError are ValueErrors,
# torch raises RuntimeError, the files OSError. The app then works on without a model and says why.
MODEL_LOAD_ERRORS = (ValueError, OSError, RuntimeError)

# Session-state keys (one place, so pages never spell them twice).
KEY_DATASET = "heart.dataset"  # DatasetChoice in use on every page
KEY_UCI_SITES = "heart.uci_sites"  # four-site frame with a "site" column, or absent
KEY_ACTIVE_MODEL = "heart.active_model"  # ActiveModel promoted by the user, or absent (= shipped default)
KEY_ANN_CONFIG = "heart.ann_config"  # ANNConfig the Configure form shows (errors included); Train/Compare use it
KEY_TRAINING_RUNS = "heart.training_runs"  # list of this session's runs (training page defines a run)
KEY_DEDUPLICATION = "heart.deduplication"  # DeduplicatedDataset: undo for the Explore page's "remove duplicates"
KEY_MOMENT = "predict.moment"  # the moment of care chosen on the Patient risk page: which shipped model answers
KEY_COMPARE_JOB = "heart.compare_job"  # the comparison running (or last run) in the background, or absent

SOURCE_BUILTIN = "builtin"
SOURCE_UCI_SITES = "uci_sites"
SOURCE_UPLOAD = "upload"

BUILTIN_NAME = "Cleveland (built-in)"
DEFAULT_MODEL_NAME = "Shipped default model"
RECOVERED_DEFAULT_NAME = "Default model (retrained copy)"  # shown when the shipped files were damaged


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
    notice: str | None = None  # the default model is a recovered copy: why (shown to the user)
    # The rows it was trained on (a session-trained model), or None: model.reference then finds them from the
    # metadata's data_fingerprint (the shipped model: the built-in data) or says plainly that they are not available.
    training_data: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def display_name(self) -> str:
        """The name to show: a recovered default is not the shipped model and must not be called that."""
        return RECOVERED_DEFAULT_NAME if self.notice else self.name


@st.cache_data(show_spinner=False)
def builtin_dataset() -> pd.DataFrame:
    """The built-in Cleveland data (cached for all sessions; st.cache_data hands out copies)."""
    from model.data.datasets import load_dataset

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


@dataclass(frozen=True)
class DeduplicatedDataset:
    """The dataset before its repeated patients were removed, kept so the removal can be undone."""

    original: DatasetChoice
    deduplicated: DatasetChoice
    n_removed: int
    summary: str  # what was removed, in plain words


def set_deduplicated(frame: pd.DataFrame, n_removed: int, summary: str) -> DatasetChoice:
    """Use `frame` (the current dataset without its repeats) and keep the current one for `restore_duplicates`."""
    original = current_dataset()
    choice = set_dataset(f"{original.name} (repeats removed)", frame, original.source)
    st.session_state[KEY_DEDUPLICATION] = DeduplicatedDataset(original, choice, n_removed, summary)
    return choice


def deduplication() -> DeduplicatedDataset | None:
    """The undo record while the deduplicated dataset is still the one in use (None once another is chosen)."""
    record = st.session_state.get(KEY_DEDUPLICATION)
    if record is not None and st.session_state.get(KEY_DATASET) is not record.deduplicated:
        st.session_state.pop(KEY_DEDUPLICATION, None)  # another dataset was chosen since: nothing to undo
        return None
    return record


def restore_duplicates() -> DatasetChoice | None:
    """Go back to the dataset as it was before its repeats were removed (None when there is nothing to undo)."""
    record = deduplication()
    if record is None:
        return None
    st.session_state.pop(KEY_DEDUPLICATION, None)
    st.session_state[KEY_DATASET] = record.original
    return record.original


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
def _default_model(moment: str = "with-imaging") -> tuple:
    """(model.serving.bundle.LoadedModel, notice): shared by every session and used read-only; a user's own
    models live in session state. The shipped bundle, else a valid recovered copy (notice says why).

    Raises DefaultModelDamaged when the default must be retrained; st.cache_resource does not
    cache exceptions, so the call after `_recover_default_model` loads the saved copy. Nothing
    here calls st.*: elements drawn inside a cached function would be replayed on every hit.
    """
    from model.serving.default_model import load_shipped_or_recovered

    return load_shipped_or_recovered(moment=moment)


def _recover_default_model(damaged, moment: str = "with-imaging") -> None:
    """Retrain the default network with visible progress, then let the cache load the saved copy."""
    from model.serving.default_model import recover_default_model

    with st.status(
        "The shipped model files are damaged: retraining the default network on the built-in data…", expanded=True
    ) as status:
        bar = st.progress(0.0)
        recover_default_model(
            damaged.shipped_error,
            progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message),
            moment=moment,
        )
        status.update(label="The default network was retrained and saved.", state="complete", expanded=False)
    _default_model.clear()


def prepare_default_model() -> None:
    """Load (or, when its files are damaged, retrain) the default model where the caller draws.

    app.py calls it in the main area before the sidebar, so retraining shows its progress there.
    """
    from model.serving.default_model import DefaultModelDamaged

    try:
        _default_model()
    except DefaultModelDamaged as damaged:
        _recover_default_model(damaged)
    except MODEL_LOAD_ERRORS:  # active_model() shows it as the model's error on every page
        logger.exception("the default model could not be loaded")


def default_model_notice() -> str | None:
    """Why the default model is not the shipped one (damaged files), or None."""
    try:
        return _default_model()[1]
    except MODEL_LOAD_ERRORS:  # active_model() shows it as the model's error
        logger.warning("no default model notice: the default model could not be loaded", exc_info=True)
        return None


def promoted_model() -> ActiveModel | None:
    """The model the user promoted in this session, or None (the shipped defaults answer)."""
    return st.session_state.get(KEY_ACTIVE_MODEL)


def default_model(moment: str = "with-imaging") -> ActiveModel:
    """The shipped model of a moment of care (model.data.schema.MOMENTS_OF_CARE), retrained with visible progress
    when its files are damaged; pipeline None and `error` set if even that fails."""
    from model.data.schema import WITH_IMAGING, moment_of_care
    from model.serving.default_model import DefaultModelDamaged

    name = (
        DEFAULT_MODEL_NAME
        if moment == WITH_IMAGING
        else f"{DEFAULT_MODEL_NAME} ({moment_of_care(moment).label.lower()})"
    )
    try:
        try:
            loaded, notice = _default_model(moment)
        except DefaultModelDamaged as damaged:
            _recover_default_model(damaged, moment)
            loaded, notice = _default_model(moment)
    except MODEL_LOAD_ERRORS as error:  # the app keeps working without a model and shows why
        logger.exception("the default %s model could not be loaded", moment)
        return ActiveModel(name, None, {}, error=f"The shipped model could not be loaded: {error}")
    return ActiveModel(name, loaded.pipeline, dict(loaded.metadata), notice=notice)


def chosen_moment() -> str:
    """The moment of care chosen on the Patient risk page (with imaging until one is chosen)."""
    from model.data.schema import MOMENTS_OF_CARE, WITH_IMAGING

    chosen = st.session_state.get(KEY_MOMENT)
    return chosen if chosen in {m.name for m in MOMENTS_OF_CARE} else WITH_IMAGING


def active_model() -> ActiveModel:
    """The model promoted in this session, else the shipped model of the moment of care chosen (pipeline None and
    `error` set if it fails)."""
    return promoted_model() or default_model(chosen_moment())


def set_active_model(
    name: str, pipeline: Any, metadata: dict | None = None, training_data: pd.DataFrame | None = None
) -> ActiveModel:
    model = ActiveModel(name, pipeline, dict(metadata or {}), training_data=training_data)
    st.session_state[KEY_ACTIVE_MODEL] = model
    return model


def ann_config():
    """The network configuration of this session, exactly as the Configure form shows it (the recommended
    preset at first: configurations are frozen, so sharing it is safe). It may have errors (ANNConfig.errors()):
    pages refuse to train it then."""
    config = st.session_state.get(KEY_ANN_CONFIG)
    if config is None:
        from model.nn.presets import RECOMMENDED

        config = RECOMMENDED
        st.session_state[KEY_ANN_CONFIG] = config
    return config


def set_ann_config(config) -> None:
    st.session_state[KEY_ANN_CONFIG] = config


def training_runs() -> list:
    """This session's training runs (the list itself: append to it)."""
    return st.session_state.setdefault(KEY_TRAINING_RUNS, [])


def compare_job():
    """This session's latest comparison job (a model.runtime.jobs.Job), running or ended; None before the first."""
    return st.session_state.get(KEY_COMPARE_JOB)


def set_compare_job(job) -> None:
    st.session_state[KEY_COMPARE_JOB] = job
