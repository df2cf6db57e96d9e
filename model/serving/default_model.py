"""The shipped default model, with recovery when its files are damaged.

    model, notice = load_default_model_or_recover()                  # with imaging: all 13 features
    model, notice = load_default_model_or_recover(moment="before-imaging")

`model` is a bundle.LoadedModel (pipeline, metadata, integrity_warning). It tries the shipped bundle
of that moment of care (model/resources/default_bundle/ or before_imaging_bundle/). When that raises
BundleError (a file missing, truncated, edited...), it uses a recovered copy from a writable cache
folder if a valid one is there, else it retrains presets.RECOMMENDED with that moment's features on
the built-in Cleveland data (well under a second on a CPU), saves that bundle into the cache folder
with bundle.save_bundle (atomic, read back before it replaces anything) and uses it. The
repository's own files are never written: a damaged shipped bundle stays as it is for a person to
see and restore (`python -m model train --cv [--moment before-imaging] --out
model/resources/<its folder>`). `notice` is None when the shipped model loaded, else a
plain-language explanation for the user.

Cache folder: $HEART_ANN_CACHE_DIR, else ~/.cache/heart-ann, else the system temp folder
(e.g. on a read-only home). Plain Python: no Streamlit here; the dashboard shows the notice.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from model.data.schema import BEFORE_IMAGING, WITH_IMAGING, moment_of_care
from model.evaluation.cross_validation import FractionProgress
from model.nn.training import Callback, EpochEvent
from model.serving import bundle
from model.serving.bundle import BundleError, LoadedModel

logger = logging.getLogger(__name__)

CACHE_ENV = "HEART_ANN_CACHE_DIR"
RECOVERED_FOLDER = "default_bundle"  # the with-imaging model's; each moment of care has its own folder
RECOVERED_FOLDERS = {WITH_IMAGING: RECOVERED_FOLDER, BEFORE_IMAGING: "before_imaging_bundle"}
RECOVERY_KEY = "recovered_default"  # metadata marker: this bundle was retrained to replace the shipped one

# Two sessions starting on a damaged install retrain once: the second waits, then loads the copy.
_RECOVERY_LOCK = threading.Lock()
# Cache folder -> the private folder this process saved its recovered copy to when that cache folder
# refused it; looked at first, so later starts in this process load it instead of retraining.
_SAVED_ELSEWHERE: dict[Path, Path] = {}


class DefaultModelDamaged(BundleError):
    """The shipped bundle does not load and no valid recovered copy exists yet (retraining needed)."""

    def __init__(self, shipped_error: BundleError):
        super().__init__(str(shipped_error))
        self.shipped_error = shipped_error


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def cache_root() -> Path:
    """The first writable of $HEART_ANN_CACHE_DIR, ~/.cache/heart-ann, <temp>/heart-ann."""
    candidates = []
    if os.environ.get(CACHE_ENV):
        candidates.append(Path(os.environ[CACHE_ENV]).expanduser())
    candidates.append(Path.home() / ".cache" / "heart-ann")
    candidates.append(Path(tempfile.gettempdir()) / "heart-ann")
    for folder in candidates:
        if _writable(folder):
            return folder
    raise BundleError("no writable folder for a recovered model (tried " + ", ".join(map(str, candidates)) + ")")


def recovered_bundle_path(cache_dir: Path | str | None = None, moment: str = WITH_IMAGING) -> Path:
    moment_of_care(moment)  # ValueError naming the known moments
    return Path(cache_dir or cache_root()) / RECOVERED_FOLDERS[moment]


def _recommended_config():
    from model.nn.presets import RECOMMENDED

    return RECOMMENDED


def _is_valid_recovery(loaded: LoadedModel, moment: str) -> bool:
    """A recovered bundle counts only if it says so, holds today's recommended configuration (a stale copy
    from an older release is retrained rather than trusted) and is for this moment of care."""
    marker = loaded.metadata.get(RECOVERY_KEY)
    return (
        isinstance(marker, dict)
        and marker.get("config") == _recommended_config().to_dict()
        and marker.get("moment", WITH_IMAGING) == moment
        and (loaded.metadata.get("moment_of_care") or {}).get("name", WITH_IMAGING) == moment
    )


def _load_recovered(path: Path, moment: str) -> LoadedModel | None:
    """The recovered model at `path`, or None when there is none or it is unusable. A copy that
    cannot be verified (saved before bundles recorded checksums) is retrained rather than trusted:
    retraining takes about a second, and this copy stands in for the shipped model."""
    if not (path / bundle.METADATA_FILE).exists():
        return None
    try:
        loaded = bundle.load_bundle(path)
    except BundleError:
        logger.warning("recovered default model at %s is unusable, retraining it", path, exc_info=True)
        return None
    if loaded.integrity_warning is not None:
        logger.warning(
            "recovered default model at %s cannot be verified, retraining it: %s", path, loaded.integrity_warning
        )
        return None
    return loaded if _is_valid_recovery(loaded, moment) else None


def _load_recovered_for(cache_dir: Path | str | None, moment: str) -> tuple[LoadedModel | None, Path]:
    """(model, path) of a valid recovered copy for this cache folder and moment, or (None, the cache path)."""
    path = recovered_bundle_path(cache_dir, moment)
    elsewhere = _SAVED_ELSEWHERE.get(path)
    for candidate in (elsewhere, path) if elsewhere is not None else (path,):
        loaded = _load_recovered(candidate, moment)
        if loaded is not None:
            return loaded, candidate
    return None, path


def _short(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _notice(shipped_error: BaseException, path: Path, retrained_seconds: float | None, moment: str) -> str:
    when = f" just now ({retrained_seconds:.1f} s)" if retrained_seconds is not None else ""
    which = "" if moment == WITH_IMAGING else f" {moment_of_care(moment).label.lower()}"
    option = "" if moment == WITH_IMAGING else f" --moment {moment}"
    return (
        f"The shipped{which} model files are damaged ({_short(shipped_error)}). "
        f"The app therefore uses the recommended network retrained{when} on the built-in Cleveland data, saved "
        f"in {path}: same configuration, features and training data as the shipped model, but its "
        "cross-validated metrics are not recorded. To restore the shipped model, reinstall the app or run "
        f"`python -m model train --cv{option} --out {shipped_folder(moment)}`."
    )


def shipped_folder(moment: str) -> str:
    """Where the shipped bundle of a moment of care lives in the source tree."""
    return f"model/resources/{RECOVERED_FOLDERS[moment]}"


def load_shipped_or_recovered(
    cache_dir: Path | str | None = None, moment: str = WITH_IMAGING
) -> tuple[LoadedModel, str | None]:
    """(model, notice) without training: the shipped bundle of this moment of care, else a valid recovered copy.

    Raises DefaultModelDamaged when neither loads (then `recover_default_model` retrains).
    """
    try:
        shipped = bundle.load_default_model(moment)
        if shipped.integrity_warning is not None:
            # The shipped bundle is always saved with its integrity record: one without it was replaced.
            raise BundleError(f"the shipped bundle cannot be verified: {shipped.integrity_warning}")
        return shipped, None
    except BundleError as shipped_error:
        logger.warning("the shipped default model does not load; looking for a recovered copy", exc_info=True)
        recovered, path = _load_recovered_for(cache_dir, moment)
        if recovered is None:
            raise DefaultModelDamaged(shipped_error) from None
        return recovered, _notice(shipped_error, path, None, moment)


class _EpochProgress(Callback):
    def __init__(self, progress: FractionProgress):
        self.progress = progress

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.progress(
            event.epoch / event.epochs, f"Retraining the default network: epoch {event.epoch} of {event.epochs}"
        )


def retrain_default_model(
    progress: FractionProgress | None = None, moment: str = WITH_IMAGING
) -> tuple[Pipeline, dict, float, pd.DataFrame]:
    """presets.RECOMMENDED fitted on the built-in Cleveland data with the features of a moment of care:
    (pipeline, metadata, seconds, data)."""
    from model.data.datasets import load_dataset
    from model.data.schema import FEATURE_NAMES, TARGET
    from model.evaluation.pipelines import pipeline_from_config

    config = _recommended_config()
    frame = load_dataset("cleveland")
    X, y = frame[list(FEATURE_NAMES)], frame[TARGET.name].astype(int).to_numpy()
    callbacks = [_EpochProgress(progress)] if progress is not None else []
    pipeline = pipeline_from_config(config, moment_of_care(moment).features, callbacks=callbacks)
    start = time.perf_counter()
    pipeline.fit(X, y)
    seconds = time.perf_counter() - start
    ann = pipeline[-1]
    ann.set_params(callbacks=None)  # the progress hook is not part of the model
    metadata = {
        "name": f"Recommended ANN, {moment_of_care(moment).label.lower()} (retrained: the shipped files were damaged)",
        "trained_on": f"built-in cleveland: {len(frame)} patients ({y.mean():.0%} with disease)",
        "data": {"name": "built-in cleveland", "n_rows": int(len(frame)), "prevalence": float(y.mean())},
        "training": {
            "seconds": round(seconds, 3),
            "epochs_run": len(ann.history_),
            "best_epoch": ann.history_.best_epoch,
            "stopped_early": ann.history_.stopped_early,
            "device": str(ann.device_),
        },
        RECOVERY_KEY: {"config": config.to_dict(), "moment": moment},
    }
    return pipeline, metadata, seconds, frame


def recover_default_model(
    shipped_error: BaseException,
    progress: FractionProgress | None = None,
    cache_dir: Path | str | None = None,
    moment: str = WITH_IMAGING,
) -> tuple[LoadedModel, str]:
    """Retrain and save the default model into the cache folder; (model, notice).

    Under a lock, and re-checking the cache first, so concurrent callers retrain once.
    """
    with _RECOVERY_LOCK:
        recovered, path = _load_recovered_for(cache_dir, moment)
        if recovered is not None:
            return recovered, _notice(shipped_error, path, None, moment)
        if progress is not None:
            progress(0.0, "Retraining the default network on the built-in data")
        pipeline, metadata, seconds, frame = retrain_default_model(progress, moment)
        try:
            bundle.save_bundle(pipeline, path, metadata=metadata, training_data=frame)
        except (BundleError, OSError):
            # e.g. a non-bundle folder in the way: use a fresh private folder rather than fail,
            # and remember it so this process does not retrain on every start.
            logger.warning(
                "could not save the recovered default model to %s; saving it to a private folder", path, exc_info=True
            )
            cache_path = path
            path = Path(tempfile.mkdtemp(prefix="heart-ann-")) / RECOVERED_FOLDERS[moment]
            bundle.save_bundle(pipeline, path, metadata=metadata, training_data=frame)
            _SAVED_ELSEWHERE[cache_path] = path
        saved = bundle.load_bundle(path)  # what every later start will load
        if progress is not None:
            progress(1.0, f"Saved the retrained default network to {path}")
        return saved, _notice(shipped_error, path, seconds, moment)


def load_default_model_or_recover(
    progress: FractionProgress | None = None, cache_dir: Path | str | None = None, moment: str = WITH_IMAGING
) -> tuple[LoadedModel, str | None]:
    """(model, notice): the shipped model of this moment of care (notice None), else a recovered one and why
    (see module doc)."""
    try:
        return load_shipped_or_recovered(cache_dir, moment)
    except DefaultModelDamaged as damaged:
        return recover_default_model(damaged.shipped_error, progress, cache_dir, moment)
