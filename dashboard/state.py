"""Per-browser-session state: every key is an explicit constant, every value has a getter.

Streamlit's `st.session_state` belongs to one browser session, so the dataset chosen on
one page is the one every page uses for that session only. Shared, read-only objects
(the built-in data, the shipped default model) are cached across sessions; anything a
user makes (uploads, trained models, configs, runs) lives in session state.

Model modules are imported inside functions so this module imports even when a
teammate's module is missing or broken, and so that the landing page starts without torch or
scikit-learn (about 2 s and 200 MB): app.py loads them, with a spinner, only for the pages that
need them (`load_model_libraries`), and loads the shipped model only for the pages that answer with
it (`active_model`: Patient risk, Other hospitals), where a damaged bundle is retrained with its
progress in view. Every other page shows `model_summary()`: the model's name and cross-validated
metrics read from the shipped metadata.json, and a cheap check of its files (their SHA-256 against
the integrity record: model.serving.bundle_files). A bundle that passes that check but fails the
full load (libraries that now predict differently) is named "shipped" there until a model page
loads it; that page then names the retrained copy and says why.
"""

from __future__ import annotations

import logging
import sys
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
KEY_SEARCH_JOB = "heart.search_job"  # the hyper-parameter search running (or last run) in the background, or absent

MAX_SESSION_RUNS = 10  # training runs kept per session: older finished runs are dropped (memory is bounded per session)
# The libraries the model pages need, loaded once per process before the first of them runs (module doc).
MODEL_LIBRARIES = ("torch", "sklearn")

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


def model_libraries_loaded() -> bool:
    """Whether this process has imported torch and scikit-learn (any session, any page)."""
    return all(name in sys.modules for name in MODEL_LIBRARIES)


def load_model_libraries() -> None:
    """Import torch, scikit-learn and the model package's core once per process, saying so with a spinner
    (a few seconds on a small server); instant once loaded. app.py calls it before a page that needs them."""
    if model_libraries_loaded():
        return
    with st.spinner("Loading the modelling libraries (PyTorch, scikit-learn): the first page that needs them…"):
        import model.evaluation.pipelines  # noqa: F401  (torch, scikit-learn and the network: what every model page uses)


@dataclass(frozen=True)
class ModelSummary:
    """What the sidebar and the landing page show of the model in use before it is loaded: same fields as
    ActiveModel, without the pipeline. `notice` says the shipped files are damaged (cheap check, module doc)."""

    name: str
    metadata: dict = field(default_factory=dict)
    error: str | None = None
    notice: str | None = None

    @property
    def display_name(self) -> str:
        return RECOVERED_DEFAULT_NAME if self.notice else self.name


def shipped_model_name(moment: str) -> str:
    from model.data.schema import WITH_IMAGING, moment_of_care

    if moment == WITH_IMAGING:
        return DEFAULT_MODEL_NAME
    return f"{DEFAULT_MODEL_NAME} ({moment_of_care(moment).label.lower()})"


def shipped_damage_notice(moment: str) -> str | None:
    """Why the shipped model of this moment of care will not be used (its files fail the cheap check), in
    words for the user, or None. Without torch: the landing page shows it."""
    from model.data.schema import WITH_IMAGING
    from model.serving.bundle_files import default_bundle, shipped_summary

    problem = shipped_summary(moment).problem
    if problem is None:
        return None
    option = "" if moment == WITH_IMAGING else f" --moment {moment}"
    return (
        f"The shipped model files are damaged ({problem}). The pages that answer with a model (Patient risk, "
        "Other hospitals) use the recommended network retrained on the built-in Cleveland data instead, with the "
        "same features: the first of them to need it retrains it with its progress shown (a few seconds) unless "
        "a copy was kept from before. Its cross-validated metrics are not recorded. To restore the shipped model, "
        f"reinstall the app or run `python -m model train --cv{option} --out "
        f"model/resources/{default_bundle(moment).name}`."
    )


def model_summary() -> ActiveModel | ModelSummary:
    """The model in use, without loading it: the promoted model (already loaded), else the shipped model of the
    moment chosen, described from its metadata.json and the cheap check of its files (module doc)."""
    from model.serving.bundle_files import shipped_summary

    promoted = promoted_model()
    if promoted is not None:
        return promoted
    moment = chosen_moment()
    summary = shipped_summary(moment)
    if summary.problem is not None:
        # The shipped metrics describe the damaged model, not the retrained copy that will answer.
        return ModelSummary(shipped_model_name(moment), {}, notice=summary.problem)
    return ModelSummary(shipped_model_name(moment), summary.metadata)


def promoted_model() -> ActiveModel | None:
    """The model the user promoted in this session, or None (the shipped defaults answer)."""
    return st.session_state.get(KEY_ACTIVE_MODEL)


def default_model(moment: str = "with-imaging") -> ActiveModel:
    """The shipped model of a moment of care (model.data.schema.MOMENTS_OF_CARE), retrained with visible progress
    when its files are damaged; pipeline None and `error` set if even that fails."""
    from model.serving.default_model import DefaultModelDamaged

    name = shipped_model_name(moment)
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


def search_job():
    """This session's latest hyper-parameter search job (dashboard.search_panels.SearchJob), running or ended;
    None before the first."""
    return st.session_state.get(KEY_SEARCH_JOB)


def set_search_job(job) -> None:
    st.session_state[KEY_SEARCH_JOB] = job
