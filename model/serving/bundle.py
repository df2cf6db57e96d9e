"""Saved models: a fitted ANN pipeline as a directory of plain files, no pickle anywhere.

    <bundle>/
      config.json         the ANNConfig (model/nn/config.py's JSON form)
      weights.pt          torch state_dict of the network; read back with torch.load(weights_only=True)
      preprocessing.json  imputer statistics, scaler mean/scale/var, one-hot categories, column order,
                          features that had no training value (optional: absent in older bundles)
      metadata.json       bundle format, date, package versions, feature names, classes, network input
                          count, integrity record (format 2: SHA-256 of the three other files and the
                          model's P(disease) for a few fixed synthetic patients), plus the caller's
                          metadata (metrics, data description, data fingerprint, ...)

``load_bundle(path)`` returns a LoadedModel: ``.pipeline``, a fitted Pipeline equal in behaviour to
the one saved (same probabilities), ``.metadata`` (the metadata dict) and ``.integrity_warning``
(None when verified, else why not); predict_proba, predict and indexing pass through to the
pipeline. ``load_default_model()`` does the same for the shipped model/resources/default_bundle/.
``load_bundle_archive(zip)`` reads the same files from a zip (e.g. a downloaded run, an upload).
The preprocessing comes back as a SavedPreprocessor (model/serving/saved_preprocessor.py), which
applies the saved statistics with the same output as the original make_preprocessor().

A directory rather than a zip so that a person can read what is inside. It is written
into a temporary sibling directory first, read back (same probabilities, or a BundleError
before anything is replaced) and moved into place with os.replace, so a reader never sees a
half-written bundle and a saved model always loads. Only ANN pipelines are saved (a scikit-learn
model could only be stored with pickle, which bundles never use).

Nothing is served that differs from what was saved. On load every metadata field the package
writes is checked (format, features, target, classes [0, 1], input count, types); the weights'
names, dtypes and shapes are checked against config.json before any value is touched (a small
file can claim a tensor of terabytes); then the SHA-256 of each file and the probe predictions
are compared with the record. An edited file, or a library version that computes different
probabilities, is refused. Format-1 bundles (written before the record existed) still load, with
a logged warning in ``integrity_warning``. The record is not a signature: whoever can
edit the files can also rewrite metadata.json; it catches damage, careless edits and silent
changes of behaviour, not a determined forger.
Every problem on load is a BundleError (a ValueError) saying which file and what is wrong; the
bundle is named as the caller says (``load_bundle(path, name=...)``; by default "the bundle at
<path>", "the zip" for an archive).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import itertools
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import as_file
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.pipeline import Pipeline

from model.data.preprocessing import output_feature_names, schema_categories
from model.data.schema import (
    BINARY,
    CATEGORICAL,
    FEATURE_NAMES,
    FEATURES,
    MOMENTS_OF_CARE,
    NUMERIC,
    TARGET,
    WITH_IMAGING,
    feature,
    short_repr,
)
from model.evaluation.pipelines import ANN_STEP, PREPROCESS_STEP
from model.nn.config import ANNConfig, ConfigError
from model.nn.estimator import ANNClassifier
from model.nn.network import layer_sizes
from model.serving import bundle_files
from model.serving.bundle_files import (  # noqa: F401  (re-exported: the bundle's public names)
    BEFORE_IMAGING_BUNDLE,
    BUNDLE_FILES,
    CONFIG_FILE,
    DEFAULT_BUNDLE,
    HASHED_FILES,
    MAX_JSON_BYTES,
    MAX_WEIGHTS_BYTES,
    METADATA_FILE,
    PREPROCESSING_FILE,
    WEIGHTS_FILE,
    BundleError,
    changed_file_error,
    parse_json,
    read_file,
)
from model.serving.bundle_files import sha256 as _sha256
from model.serving.saved_preprocessor import SavedPreprocessor

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = 2  # 2: metadata.json carries the integrity record; 1: written before it existed
KNOWN_FORMATS = (1, 2)


def default_bundle(moment: str = WITH_IMAGING):
    """The shipped bundle folder of a moment of care (a package resource); ValueError for another moment."""
    return bundle_files.default_bundle(moment)


# Bounds what a (possibly hostile) bundle can make us read into memory (the file sizes: bundle_files).
MAX_PROBES = 32
# Probe predictions must be reproduced to within this absolute difference in P(disease). The
# network computes in float32 (about 7 significant digits): a different CPU instruction set, BLAS
# build or GPU sums in another order and moves a probability by about 1e-7, at most a few 1e-6 for
# the largest networks the limits allow, so 1e-5 never refuses an intact model on another machine.
# Any change that matters for a patient (a percentage shown with one decimal is 1e-3) is 100 times
# larger; smaller edits of the files are caught by their SHA-256 anyway.
PROBE_TOLERANCE = 1e-5
UNVERIFIED_WARNING = (
    "This model was saved by an older version of the software (bundle format 1), which recorded "
    "no checksums or reference predictions: its integrity could not be verified. If you trust "
    "where it came from, save it again (model.save_bundle) to record them."
)
# Facts save_bundle itself writes; a caller's metadata cannot set them.
RESERVED_KEYS = (
    "bundle_format",
    "created",
    "package_versions",
    "features",
    "target",
    "classes",
    "n_inputs",
    "integrity",
    "moment_of_care",
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class LoadedModel:
    """A model read from a bundle: the fitted pipeline, the bundle's metadata, and None as
    ``integrity_warning`` when the files and predictions matched the integrity record (else why
    they could not be checked).

    predict_proba, predict, classes_ and indexing (``model[-1]`` the network, ``model[:-1]`` the
    preprocessing) are the pipeline's, so it is used like a fitted Pipeline in a notebook.
    """

    pipeline: Pipeline
    metadata: dict[str, Any]
    integrity_warning: str | None = None

    def predict_proba(self, X) -> np.ndarray:
        return self.pipeline.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.pipeline.predict(X)

    @property
    def classes_(self) -> np.ndarray:
        return self.pipeline.classes_

    def __getitem__(self, index):
        return self.pipeline[index]


# ---------------------------------------------------------------- helpers
def data_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the training frame's feature (and target) columns written as CSV: same data, same hash."""
    columns = [c for c in (*FEATURE_NAMES, TARGET.name) if c in frame.columns]
    text = frame[columns].to_csv(index=False, lineterminator="\n", float_format="%.10g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def probe_patients() -> list[dict[str, float | None]]:
    """Six fixed synthetic patients built from the schema whose P(disease) a bundle records: both
    ends of every typical range and code list, the middle, the hard limits, everyone unknown (all
    imputers) and half unknown. Stored in metadata.json with the predictions, so later versions
    may change this list without invalidating bundles already saved."""

    def value(f, where: str) -> float | None:
        if f.codes:
            return float(
                {
                    "low": f.codes[0],
                    "high": f.codes[-1],
                    "middle": f.codes[len(f.codes) // 2],
                    "hard_low": f.codes[0],
                    "hard_high": f.codes[-1],
                }[where]
            )
        low, high = float(f.typical_min), float(f.typical_max)
        middle = float(round((low + high) / 2)) if f.integer else (low + high) / 2
        return {
            "low": low,
            "high": high,
            "middle": middle,
            "hard_low": float(f.hard_min),
            "hard_high": float(f.hard_max),
        }[where]

    rows = [{f.name: value(f, where) for f in FEATURES} for where in ("low", "middle", "high", "hard_low")]
    rows.append({f.name: None for f in FEATURES})
    rows.append({f.name: (value(f, "hard_high") if i % 2 else None) for i, f in enumerate(FEATURES)})
    return rows


def _probe_frame(patients: Sequence[Mapping[str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [[np.nan if p[name] is None else p[name] for name in FEATURE_NAMES] for p in patients],
        columns=list(FEATURE_NAMES),
        dtype="float64",
    )


def _ann_step(pipeline) -> ANNClassifier:
    """The fitted ANN of a project pipeline, or a BundleError saying why it cannot be saved."""
    if not isinstance(pipeline, Pipeline) or PREPROCESS_STEP not in pipeline.named_steps:
        raise BundleError(
            f"save_bundle saves pipelines made by ann_pipeline() (steps '{PREPROCESS_STEP}' and "
            f"'{ANN_STEP}'); got {type(pipeline).__name__}"
        )
    final = pipeline.steps[-1][1]
    if not isinstance(final, ANNClassifier):
        raise BundleError(
            f"only ANN pipelines can be saved as bundles; this pipeline ends with "
            f"{type(final).__name__}, which could only be stored with pickle (never used here)"
        )
    if not hasattr(final, "network_"):
        raise BundleError("the pipeline is not fitted yet: call fit(X, y) before save_bundle")
    classes = np.asarray(final.classes_)
    if classes.dtype.kind not in "biuf" or classes.shape != (2,) or not np.array_equal(classes, [0, 1]):
        raise BundleError(
            f"a bundle stores P({TARGET.name} = 1): train on the target coded 0/1 (without/with "
            f"disease); this model's classes are {short_repr(classes.tolist(), 80)}"
        )
    return final


def preprocessing_state(preprocessor) -> dict[str, Any]:
    """The learned state of a fitted make_preprocessor() (or of a loaded model's SavedPreprocessor)
    as JSON-ready lists."""
    try:
        return SavedPreprocessor.from_fitted(preprocessor).to_state()
    except (AttributeError, KeyError, ValueError) as exc:
        raise BundleError(f"the preprocessing step is not a fitted make_preprocessor() ({exc})") from None


def moment_of_care_record(unused_features: Sequence[str]) -> dict[str, Any]:
    """What a bundle's metadata says of the features its model was designed to use: {"name": the moment of care
    whose features they are (None for another subset), "features": [names, schema order]}."""
    features = [name for name in FEATURE_NAMES if name not in unused_features]
    moment = next((m.name for m in MOMENTS_OF_CARE if list(m.features) == features), None)
    return {"name": moment, "features": features}


def _check_moment_of_care(source: str, metadata: Mapping, preprocessor: SavedPreprocessor) -> None:
    """A recorded moment of care must be the one the preprocessing enforces (metadata.json is not checksummed)."""
    if "moment_of_care" not in metadata:  # saved before moments of care: nothing is claimed
        return
    expected = moment_of_care_record(preprocessor.unused_features)
    if metadata["moment_of_care"] != expected:
        raise BundleError(
            f"{METADATA_FILE} in {source}: 'moment_of_care' says {short_repr(metadata['moment_of_care'], 120)}, "
            f"but the preprocessing uses {short_repr(expected, 120)}: the file was edited"
        )


def _check_json_safe(metadata: Mapping) -> dict:
    try:
        return json.loads(json.dumps(dict(metadata), allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise BundleError(f"metadata must be JSON-serialisable (numbers, strings, lists, dicts): {exc}") from None


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=True) + "\n"


# ---------------------------------------------------------------- save
def save_bundle(
    pipeline: Pipeline | LoadedModel, path, metadata: Mapping | None = None, training_data: pd.DataFrame | None = None
) -> Path:
    """Write a fitted ANN pipeline (or a LoadedModel's) to the directory `path` atomically; return the path.

    metadata       extra JSON-ready facts (e.g. {"metrics": ..., "cv": ..., "data": ...}) stored as given,
                   except the keys in RESERVED_KEYS, which save_bundle writes itself; for a LoadedModel,
                   its own metadata when not given (re-saving keeps the description)
    training_data  the frame the pipeline was fitted on: adds its sha256 fingerprint and row count

    An existing bundle at `path` is replaced; any other existing file or non-empty directory is
    left alone and a BundleError raised (nothing the user made is overwritten).
    """
    if isinstance(pipeline, LoadedModel):
        metadata = pipeline.metadata if metadata is None else metadata
        pipeline = pipeline.pipeline
    ann = _ann_step(pipeline)
    target = Path(path)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / METADATA_FILE).exists())):
        raise BundleError(f"{target} exists and is not a model bundle; choose a new or empty directory")
    config_dict, state_dict = ann.get_state()
    user = _check_json_safe(metadata or {})
    if training_data is not None:
        user.setdefault("data_fingerprint", data_fingerprint(training_data))
        user.setdefault("n_training_rows", int(len(training_data)))
    preprocessing = preprocessing_state(pipeline.named_steps[PREPROCESS_STEP])
    if preprocessing["feature_names_in"] != list(FEATURE_NAMES):
        raise BundleError(
            f"the pipeline was fitted on columns in another order "
            f"({short_repr(preprocessing['feature_names_in'], 200)}); fit it on "
            f"X[model.data.schema.FEATURE_NAMES] (the order every part of the program uses) "
            f"before saving"
        )
    patients = probe_patients()
    probe_p = pipeline.predict_proba(_probe_frame(patients))[:, 1]

    info = {
        "bundle_format": BUNDLE_FORMAT,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_versions": package_versions(),
        "features": list(FEATURE_NAMES),
        "target": TARGET.name,
        "classes": [0, 1],
        "n_inputs": int(ann.n_features_in_),
        "moment_of_care": moment_of_care_record(preprocessing["unused_features"]),
    }
    full_metadata = {**{k: v for k, v in user.items() if k not in RESERVED_KEYS}, **info}
    _check_user_metadata("the new bundle", full_metadata)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared and read
    try:
        (staging / CONFIG_FILE).write_text(_json_text(config_dict), encoding="utf-8")
        torch.save(state_dict, staging / WEIGHTS_FILE)
        (staging / PREPROCESSING_FILE).write_text(_json_text(preprocessing), encoding="utf-8")
        full_metadata["integrity"] = {
            "sha256": {name: _sha256((staging / name).read_bytes()) for name in HASHED_FILES},
            "probes": {"patients": patients, "p_disease": [float(p) for p in probe_p]},
        }
        (staging / METADATA_FILE).write_text(_json_text(full_metadata), encoding="utf-8")
        _check_reads_back(pipeline, staging, training_data)
        if target.exists():
            # os.replace cannot overwrite a non-empty directory: move the old one aside first.
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, retired / "bundle")
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _probe_rows(training_data: pd.DataFrame | None) -> pd.DataFrame:
    """Rows to compare the saved model with the original beyond the recorded probes: a few
    training rows when given."""
    if training_data is not None and all(name in training_data for name in FEATURE_NAMES):
        return training_data[list(FEATURE_NAMES)].head(5).astype("float64")
    return _probe_frame(probe_patients())


def _check_reads_back(pipeline, folder: Path, training_data: pd.DataFrame | None) -> None:
    """Load the just-written bundle (which verifies the recorded probes) and compare its
    probabilities with the pipeline's on training rows too: a model that would not load, or would
    predict differently, is refused before anything is replaced."""
    try:
        # Named so: `folder` is a temporary staging folder the user never sees.
        loaded = load_bundle(folder, name="the files just written")
    except BundleError as exc:
        raise BundleError(f"the model was not saved: it could not be loaded back ({exc})") from None
    rows = _probe_rows(training_data)
    expected = pipeline.predict_proba(rows)
    got = loaded.predict_proba(rows)
    if not np.allclose(expected, got, atol=PROBE_TOLERANCE, rtol=0):
        worst = float(np.max(np.abs(np.asarray(expected, dtype=float) - got)))
        raise BundleError(
            f"the model was not saved: read back, it predicts differently (probabilities differ by up to {worst:.3g})"
        )


# ---------------------------------------------------------------- load: files
# Reads one bundle file by name, at most a given number of bytes (a folder's or a zip's).
FileReader = Callable[[str, int], bytes]


def _folder_reader(folder: Path, source: str) -> FileReader:
    def read(name: str, max_bytes: int) -> bytes:
        return read_file(folder, source, name, max_bytes)

    return read


def expected_weight_shapes(config: ANNConfig, n_inputs: int) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the network's state_dict (nn.Linear layers `layers.{i}`)."""
    sizes = layer_sizes(config, n_inputs)
    shapes: dict[str, tuple[int, ...]] = {}
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        shapes[f"layers.{index}.weight"] = (fan_out, fan_in)
        shapes[f"layers.{index}.bias"] = (fan_out,)
    return shapes


def _read_weights(source: str, data: bytes, expected: Mapping[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The state_dict in `data`, after checking names, dtypes, shapes and storage of every tensor
    against `expected` before any value is read: torch.load only maps what the file holds, but a
    tensor can claim a huge shape over a tiny storage (stride 0), and the first operation on its
    values would then try to allocate terabytes."""
    buffer = io.BytesIO(data)
    try:
        state = torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated, foreign or unsafe files
        logger.warning("%s: %s could not be read by torch.load", source, WEIGHTS_FILE, exc_info=True)
        raise BundleError(
            f"{WEIGHTS_FILE} in {source} is corrupt or not a torch state_dict "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError(f"{WEIGHTS_FILE} in {source} does not hold a state_dict of tensors")
    mismatch = f"{WEIGHTS_FILE} in {source} does not match {CONFIG_FILE}"
    names = [str(k) for k in state]
    if set(names) != set(expected) or len(names) != len(expected):
        missing, unexpected = sorted(set(expected) - set(names)), sorted(set(names) - set(expected))
        raise BundleError(
            f"{mismatch}: missing tensors {short_repr(missing, 120)}, unexpected tensors {short_repr(unexpected, 120)}"
        )
    for name, tensor in state.items():
        shape = tuple(int(n) for n in tensor.shape)
        if shape != expected[name]:
            raise BundleError(
                f"{mismatch}: {name} has shape {short_repr(shape, 60)}, the configuration needs {expected[name]}"
            )
        if tensor.dtype != torch.float32 or tensor.layout != torch.strided:
            raise BundleError(f"{mismatch}: {name} is {tensor.dtype} ({tensor.layout}); weights are dense float32")
        needed = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
        if not tensor.is_contiguous() or tensor.untyped_storage().nbytes() < needed:
            raise BundleError(
                f"{WEIGHTS_FILE} in {source}: {name} is not stored as a plain array of its "
                f"{tensor.numel()} values (corrupt or crafted file)"
            )
    if not all(bool(torch.isfinite(v).all()) for v in state.values()):
        raise BundleError(f"{WEIGHTS_FILE} in {source} contains NaN or infinite weights")
    return dict(state)


# ---------------------------------------------------------------- load: metadata
def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field_error(source: str, key: str, expected: str, value: Any) -> BundleError:
    return BundleError(f"{METADATA_FILE} in {source}: '{key}' must be {expected}; got {short_repr(value, 80)}")


def _check_metadata(source: str, metadata: Any) -> dict:
    """Every field save_bundle writes, checked against what it writes; a BundleError names the field."""
    if not isinstance(metadata, dict):
        raise BundleError(f"{METADATA_FILE} in {source} must be a JSON object")
    version = metadata.get("bundle_format")
    if not _is_int(version):
        raise BundleError(f"{METADATA_FILE} in {source} does not say which bundle format it is (bundle_format)")
    if version > BUNDLE_FORMAT:
        raise BundleError(
            f"{source} has format {version}, newer than this program reads ({BUNDLE_FORMAT}); update the software"
        )
    if version not in KNOWN_FORMATS:
        raise BundleError(f"{source} has an unknown format {version}")
    features = metadata.get("features")
    if not isinstance(features, list):
        raise BundleError(
            f"{METADATA_FILE} in {source}: 'features' must be the list of feature names; got {short_repr(features)}"
        )
    if features != list(FEATURE_NAMES):
        raise BundleError(
            f"{source} was made for other features ({short_repr(features, 200)}); "
            f"this program uses {list(FEATURE_NAMES)} in this order"
        )
    if metadata.get("target") != TARGET.name:
        raise _field_error(
            source, "target", f"'{TARGET.name}' (the model gives P({TARGET.name} = 1))", metadata.get("target")
        )
    classes = metadata.get("classes")
    if not (isinstance(classes, list) and len(classes) == 2 and all(map(_is_int, classes)) and classes == [0, 1]):
        raise _field_error(
            source, "classes", "[0, 1] (without, with disease: the network's output is P(class 1))", classes
        )
    if not _is_int(metadata.get("n_inputs")):
        raise _field_error(source, "n_inputs", "a whole number", metadata.get("n_inputs"))
    created = metadata.get("created")
    try:
        if not isinstance(created, str):
            raise TypeError("not text")
        _dt.datetime.fromisoformat(created)
    except (TypeError, ValueError):
        raise _field_error(source, "created", "an ISO date and time", created) from None
    versions = metadata.get("package_versions")
    if not (isinstance(versions, dict) and all(isinstance(v, str) and len(v) <= 100 for v in versions.values())):
        raise _field_error(source, "package_versions", "an object of version strings", versions)
    if version >= 2:
        _check_integrity_record(source, metadata.get("integrity"))
    elif "integrity" in metadata:
        raise _field_error(source, "integrity", "absent in a format-1 bundle", metadata["integrity"])
    _check_user_metadata(source, metadata)
    return metadata


def _check_integrity_record(source: str, record: Any) -> None:
    if not isinstance(record, dict) or set(record) != {"sha256", "probes"}:
        raise _field_error(source, "integrity", "an object with 'sha256' and 'probes'", record)
    hashes = record["sha256"]
    if not (
        isinstance(hashes, dict)
        and set(hashes) == set(HASHED_FILES)
        and all(isinstance(h, str) and _SHA256.fullmatch(h) for h in hashes.values())
    ):
        raise _field_error(
            source, "integrity.sha256", f"a SHA-256 (64 hex digits) for each of {list(HASHED_FILES)}", hashes
        )
    probes = record["probes"]
    if not isinstance(probes, dict) or set(probes) != {"patients", "p_disease"}:
        raise _field_error(source, "integrity.probes", "an object with 'patients' and 'p_disease'", probes)
    patients, p_disease = probes["patients"], probes["p_disease"]
    if not (isinstance(patients, list) and 1 <= len(patients) <= MAX_PROBES):
        raise _field_error(source, "integrity.probes.patients", f"a list of 1 to {MAX_PROBES} patients", patients)
    for index, patient in enumerate(patients):
        if not (
            isinstance(patient, dict)
            and list(patient) == list(FEATURE_NAMES)
            and all(v is None or (_is_number(v) and feature(k).check(v) is None) for k, v in patient.items())
        ):
            raise _field_error(
                source,
                f"integrity.probes.patients[{index}]",
                "an object giving each of the 13 features a valid value or null",
                patient,
            )
    if not (
        isinstance(p_disease, list)
        and len(p_disease) == len(patients)
        and all(_is_number(p) and 0.0 <= p <= 1.0 for p in p_disease)
    ):
        raise _field_error(
            source,
            "integrity.probes.p_disease",
            f"{len(patients)} probabilities between 0 and 1 (one per probe patient)",
            p_disease,
        )


def _check_user_metadata(source: str, metadata: Mapping) -> None:
    """Types of the descriptive fields the package writes (the model card and sidebar read them)."""
    for key in ("name", "trained_on", "source", "run", "dataset", "status", "device"):
        if key in metadata and not isinstance(metadata[key], str):
            raise _field_error(source, key, "text", metadata[key])
    for key in ("data", "cv", "training", "config", "validation_metrics", "metrics"):
        if key in metadata and not isinstance(metadata[key], dict):
            raise _field_error(source, key, "an object", metadata[key])
    metrics = metadata.get("metrics", {})
    for name, summary in metrics.items():
        values = list(summary.values()) if isinstance(summary, dict) else [summary]
        values = [item for v in values for item in (v if isinstance(v, list) else [v])]
        if not all(v is None or _is_number(v) for v in values):
            raise _field_error(source, f"metrics.{name}", "a number or an object of numbers", summary)
    if not all(_is_number(v) for v in metadata.get("validation_metrics", {}).values()):
        raise _field_error(source, "validation_metrics", "an object of numbers", metadata["validation_metrics"])
    fingerprint = metadata.get("data_fingerprint")
    if fingerprint is not None and not (isinstance(fingerprint, str) and _SHA256.fullmatch(fingerprint)):
        raise _field_error(source, "data_fingerprint", "a SHA-256 (64 hex digits)", fingerprint)
    for key in ("n_training_rows", "epochs_trained", "n_validation"):
        if key in metadata and not (_is_int(metadata[key]) and metadata[key] >= 0):
            raise _field_error(source, key, "a whole number", metadata[key])
    if "limits" in metadata and not (
        isinstance(metadata["limits"], list) and all(isinstance(item, str) for item in metadata["limits"])
    ):
        raise _field_error(source, "limits", "a list of texts", metadata["limits"])


def _verify_integrity(source: str, metadata: Mapping, raw: Mapping[str, bytes], pipeline: Pipeline) -> str | None:
    """None when every hash and probe matches the record; the warning for a format-1 bundle;
    otherwise a BundleError saying what changed."""
    if metadata["bundle_format"] < 2:
        logger.warning("%s not verified: %s", source, UNVERIFIED_WARNING)
        return UNVERIFIED_WARNING
    record = metadata["integrity"]
    for name in HASHED_FILES:
        if _sha256(raw[name]) != record["sha256"][name]:
            raise changed_file_error(name, source)
    probes = record["probes"]
    try:
        got = pipeline.predict_proba(_probe_frame(probes["patients"]))[:, 1]
    except (ValueError, TypeError, RuntimeError, AttributeError, KeyError, IndexError) as exc:
        # e.g. a scikit-learn whose estimators expect fitted attributes this restore does not set
        raise BundleError(
            f"{source} cannot predict with the installed libraries (torch "
            f"{torch.__version__}, scikit-learn {sklearn.__version__}): {type(exc).__name__}: "
            f"{exc}"
        ) from exc
    differences = np.abs(got - np.asarray(probes["p_disease"], dtype=float))
    if not differences.max() <= PROBE_TOLERANCE:
        worst = int(np.argmax(differences))
        saved_with = metadata.get("package_versions", {})
        raise BundleError(
            f"{source} predicts differently from when it was saved: P(disease) of probe patient "
            f"{worst} is {got[worst]:.6f} here, {probes['p_disease'][worst]:.6f} in the record (tolerance "
            f"{PROBE_TOLERANCE:g}). Its files are unchanged, so the installed libraries (torch {torch.__version__}, "
            f"scikit-learn {sklearn.__version__}) compute differently from those that saved it (torch "
            f"{saved_with.get('torch', '?')}, scikit-learn {saved_with.get('scikit-learn', '?')}), or the record "
            f"was edited; a model that changed its answers is not used"
        )
    return None


# ---------------------------------------------------------------- load: preprocessing and network
def _vector(source: str, block: Mapping, key: str, length: int, positive: bool = False) -> np.ndarray:
    values = block.get(key) if isinstance(block, Mapping) else None
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError):
        array = np.asarray([])
    if array.shape != (length,) or not np.isfinite(array).all() or (positive and (array <= 0).any()):
        raise BundleError(
            f"{PREPROCESSING_FILE} in {source}: '{key}' must be {length} finite"
            f"{' positive' if positive else ''} numbers; got {short_repr(values, 200)}"
        )
    return array


def restore_preprocessor(state: Any, source: str = "the preprocessing state") -> SavedPreprocessor:
    """The fitted preprocessing whose learned state is `state` (from preprocessing_state), checked
    field by field; a BundleError names `source` and the field."""
    if not isinstance(state, dict):
        raise BundleError(f"{PREPROCESSING_FILE} in {source} must be a JSON object")
    for group, columns in (("numeric", NUMERIC), ("binary", BINARY), ("categorical", CATEGORICAL)):
        block = state.get(group)
        if not isinstance(block, dict) or block.get("columns") != list(columns):
            raise BundleError(
                f"{PREPROCESSING_FILE} in {source}: the {group} columns do not match this program's "
                f"feature schema ({list(columns)})"
            )
    if state["categorical"].get("categories") != schema_categories():
        raise BundleError(
            f"{PREPROCESSING_FILE} in {source}: the category codes differ from this program's "
            f"schema ({schema_categories()})"
        )
    names_in = state.get("feature_names_in")
    if names_in != list(FEATURE_NAMES):
        raise BundleError(
            f"{PREPROCESSING_FILE} in {source}: 'feature_names_in' must list the 13 features in "
            f"schema order {list(FEATURE_NAMES)}; got {short_repr(names_in, 200)}"
        )

    numeric, binary, categorical = state["numeric"], state["binary"], state["categorical"]
    n_seen = numeric.get("n_samples_seen")
    if not (_is_int(n_seen) and 1 <= n_seen <= 2**62):
        raise BundleError(f"{PREPROCESSING_FILE} in {source}: n_samples_seen must be a positive whole number")
    empty = state.get("empty_features", [])
    if (
        not isinstance(empty, list)
        or not all(isinstance(n, str) for n in empty)
        or not set(empty) <= set(FEATURE_NAMES)
    ):
        raise BundleError(
            f"{PREPROCESSING_FILE} in {source}: 'empty_features' must list feature names; got {short_repr(empty)}"
        )
    unused = state.get("unused_features", [])  # absent in bundles saved before moments of care
    if not isinstance(unused, list) or not all(isinstance(n, str) for n in unused) or not set(unused) <= set(empty):
        raise BundleError(
            f"{PREPROCESSING_FILE} in {source}: 'unused_features' must list features among 'empty_features'; "
            f"got {short_repr(unused)}"
        )
    return SavedPreprocessor.from_statistics(
        numeric_median=_vector(source, numeric, "impute_median", len(NUMERIC)),
        numeric_mean=_vector(source, numeric, "scale_mean", len(NUMERIC)),
        numeric_scale=_vector(source, numeric, "scale_scale", len(NUMERIC), positive=True),
        numeric_var=_vector(source, numeric, "scale_var", len(NUMERIC)),
        n_samples_seen=n_seen,
        binary_fill=_vector(source, binary, "impute_most_frequent", len(BINARY)),
        categorical_fill=_vector(source, categorical, "impute_most_frequent", len(CATEGORICAL)),
        empty_features=empty,
        unused_features=unused,
    )


def _config(source: str, config_dict: Any) -> ANNConfig:
    try:
        return ANNConfig.from_dict(config_dict)
    except ConfigError as exc:
        raise BundleError(f"{CONFIG_FILE} in {source} is not a valid network configuration: {exc}") from None
    except (ArithmeticError, RecursionError, TypeError, ValueError) as exc:  # e.g. a number beyond float range
        raise BundleError(
            f"{CONFIG_FILE} in {source} is not a valid network configuration ({type(exc).__name__}: {exc})"
        ) from None


def load_bundle(path, device: str = "cpu", *, name: str | None = None) -> LoadedModel:
    """The model saved at `path` (a bundle directory, or a zip of one) as a LoadedModel: the fitted
    pipeline, its metadata and its integrity_warning (None: verified; else why it could not be, also
    logged).

    `name` is how error messages name the bundle (default "the bundle at <path>"). Raises BundleError
    for a missing directory or file, corrupt JSON or weights, metadata that is not what save_bundle
    writes (another feature schema, classes other than [0, 1], a newer format, ...), weights that do
    not fit config.json, a file changed since saving, or different predictions.
    """
    folder = Path(path)
    if not folder.exists():
        raise BundleError(f"no model bundle at {folder}")
    if folder.is_file() and zipfile.is_zipfile(folder):
        return load_bundle_archive(folder, device=device, name=name or f"the zip {folder}")
    if not folder.is_dir():
        raise BundleError(
            f"{folder} is a file; a model bundle is a directory (or a zip of one) holding {', '.join(BUNDLE_FILES)}"
        )
    source = name or f"the bundle at {folder}"
    return _load(_folder_reader(folder, source), source, device)


def _load(read: FileReader, source: str, device: str) -> LoadedModel:
    """The checked model from the four files `read` returns; errors name `source`."""
    raw = {METADATA_FILE: read(METADATA_FILE, MAX_JSON_BYTES)}
    metadata = _check_metadata(source, parse_json(source, METADATA_FILE, raw[METADATA_FILE]))
    for file_name in (CONFIG_FILE, PREPROCESSING_FILE, WEIGHTS_FILE):
        raw[file_name] = read(file_name, MAX_WEIGHTS_BYTES if file_name == WEIGHTS_FILE else MAX_JSON_BYTES)
    config = _config(source, parse_json(source, CONFIG_FILE, raw[CONFIG_FILE]))
    preprocessing = parse_json(source, PREPROCESSING_FILE, raw[PREPROCESSING_FILE])
    preprocessor = restore_preprocessor(preprocessing, source)
    _check_moment_of_care(source, metadata, preprocessor)

    n_inputs = metadata["n_inputs"]
    inputs = output_feature_names()
    if preprocessing.get("output_columns") != inputs:
        raise BundleError(
            f"{PREPROCESSING_FILE} in {source}: 'output_columns' must be the network's inputs "
            f"{short_repr(inputs, 60)} in this order; got "
            f"{short_repr(preprocessing.get('output_columns'), 200)}"
        )
    if n_inputs != len(inputs):
        raise BundleError(
            f"{METADATA_FILE} in {source}: 'n_inputs' is {n_inputs} but the preprocessing "
            f"produces {len(inputs)} network inputs"
        )
    state_dict = _read_weights(source, raw[WEIGHTS_FILE], expected_weight_shapes(config, n_inputs))
    try:
        ann = ANNClassifier.from_state(
            config.to_dict(), state_dict, n_inputs, classes=metadata["classes"], device=device
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"{WEIGHTS_FILE} in {source} does not match {CONFIG_FILE}: {exc}") from None
    pipeline = Pipeline([(PREPROCESS_STEP, preprocessor), (ANN_STEP, ann)])
    warning = _verify_integrity(source, metadata, raw, pipeline)
    return LoadedModel(pipeline, metadata, warning)


ZIP_LIMITS = bundle_files.FILE_LIMITS


def load_bundle_archive(archive, device: str = "cpu", *, name: str = "the zip") -> LoadedModel:
    """load_bundle for a zip (path, bytes or file object) holding the bundle files, at its root or
    in one folder. Only those four names are read, each size-bounded, into memory: nothing is
    extracted. `name` is how error messages name the zip."""
    if isinstance(archive, (bytes, bytearray, memoryview)):
        archive = io.BytesIO(bytes(archive))
    try:
        with zipfile.ZipFile(archive) as opened:
            members: dict[str, zipfile.ZipInfo] = {}
            for info in opened.infolist():
                parts = PurePosixPath(info.filename).parts
                if not info.is_dir() and parts and parts[-1] in ZIP_LIMITS and len(parts) <= 2:
                    members.setdefault(parts[-1], info)

            def read(file_name: str, max_bytes: int) -> bytes:
                info = members.get(file_name)
                if info is None:
                    raise BundleError(f"{name} is missing {file_name}")
                too_large = f"{file_name} in {name} is larger than {max_bytes // 1024 // 1024} MB"
                if info.file_size > max_bytes:
                    raise BundleError(too_large)
                with opened.open(info) as packed:
                    data = packed.read(max_bytes + 1)
                if len(data) > max_bytes:  # the header understated the size
                    raise BundleError(too_large)
                return data

            return _load(read, name, device)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise BundleError(f"the model file is not a readable zip of a bundle ({exc})") from None


def load_default_model(moment: str = WITH_IMAGING, device: str = "cpu") -> LoadedModel:
    """The shipped default network for a moment of care, fitted on the built-in Cleveland data; its metadata
    carries its 5x10 cross-validated metrics.

    "with-imaging" (the default: model/resources/default_bundle/) uses all 13 features; "before-imaging"
    (model/resources/before_imaging_bundle/) leaves out the imaging results (vessels coloured by fluoroscopy,
    thallium scan), for a pre-test estimate. ValueError for another moment.
    """
    with as_file(default_bundle(moment)) as folder:  # a real folder even when the package is zipped
        return load_bundle(folder, device=device, name=f"the shipped {moment} model")
