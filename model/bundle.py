"""Saved models: a fitted ANN pipeline as a directory of plain files, no pickle anywhere.

    <bundle>/
      config.json         the ANNConfig (model/config.py's JSON form)
      weights.pt          torch state_dict of the network; read back with torch.load(weights_only=True)
      preprocessing.json  imputer statistics, scaler mean/scale/var, one-hot categories, column order,
                          features that had no training value (optional: absent in older bundles)
      metadata.json       bundle format, date, package versions, feature names, classes, plus the
                          caller's metadata (metrics, data description, data fingerprint, ...)

``load_bundle(path)`` returns a fitted Pipeline equal in behaviour to the one saved (same
probabilities) with the metadata dict attached as ``pipeline.metadata``;
``load_default_model()`` does the same for the shipped model/default_bundle/.
``load_bundle_archive(zip)`` reads the same files from a zip (e.g. a downloaded run, an upload).

A directory rather than a zip so that a person can read what is inside. It is written
into a temporary sibling directory first, read back (same probabilities, or a BundleError
before anything is replaced) and moved into place with os.replace, so a reader never sees a
half-written bundle and a saved model always loads. Only ANN pipelines are saved (a scikit-learn
model could only be stored with pickle, which bundles never use).
Every problem on load is a BundleError (a ValueError) saying which file and what is wrong.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.pipeline import Pipeline

from .config import ConfigError
from .estimator import ANNClassifier
from .pipelines import ANN_STEP, PREPROCESS_STEP
from .preprocessing import make_preprocessor, output_feature_names, schema_categories
from .schema import BINARY, CATEGORICAL, FEATURE_NAMES, FEATURES, NUMERIC, TARGET, feature, short_repr

BUNDLE_FORMAT = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
PREPROCESSING_FILE = "preprocessing.json"
METADATA_FILE = "metadata.json"
BUNDLE_FILES = (CONFIG_FILE, WEIGHTS_FILE, PREPROCESSING_FILE, METADATA_FILE)
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "default_bundle"
# Bounds what a (possibly hostile) bundle can make us read into memory.
MAX_JSON_BYTES = 5 * 1024 * 1024
MAX_WEIGHTS_BYTES = 50 * 1024 * 1024


class BundleError(ValueError):
    """A model bundle cannot be saved or loaded; the message names the file and the problem."""


# ---------------------------------------------------------------- helpers
def data_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the training frame's feature (and target) columns written as CSV: same data, same hash."""
    columns = [c for c in (*FEATURE_NAMES, TARGET.name) if c in frame.columns]
    text = frame[columns].to_csv(index=False, lineterminator="\n", float_format="%.10g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__}


def _floats(values) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


def _ann_step(pipeline) -> ANNClassifier:
    """The fitted ANN of a project pipeline, or a BundleError saying why it cannot be saved."""
    if not isinstance(pipeline, Pipeline) or PREPROCESS_STEP not in pipeline.named_steps:
        raise BundleError(f"save_bundle saves pipelines made by ann_pipeline() (steps '{PREPROCESS_STEP}' and "
                          f"'{ANN_STEP}'); got {type(pipeline).__name__}")
    final = pipeline.steps[-1][1]
    if not isinstance(final, ANNClassifier):
        raise BundleError(f"only ANN pipelines can be saved as bundles; this pipeline ends with "
                          f"{type(final).__name__}, which could only be stored with pickle (never used here)")
    if not hasattr(final, "network_"):
        raise BundleError("the pipeline is not fitted yet: call fit(X, y) before save_bundle")
    return final


def preprocessing_state(preprocessor) -> dict[str, Any]:
    """The learned state of a fitted make_preprocessor() as JSON-ready lists."""
    try:
        numeric = preprocessor.named_transformers_["numeric"]
        binary = preprocessor.named_transformers_["binary"]
        categorical = preprocessor.named_transformers_["categorical"]
        imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
        cat_imputer, onehot = categorical.named_steps["impute"], categorical.named_steps["onehot"]
        return {
            "feature_names_in": [str(c) for c in preprocessor.feature_names_in_],
            "numeric": {"columns": list(NUMERIC), "impute_median": _floats(imputer.statistics_),
                        "scale_mean": _floats(scaler.mean_), "scale_scale": _floats(scaler.scale_),
                        "scale_var": _floats(scaler.var_), "n_samples_seen": int(np.max(scaler.n_samples_seen_))},
            "binary": {"columns": list(BINARY), "impute_most_frequent": _floats(binary.statistics_)},
            "categorical": {"columns": list(CATEGORICAL), "impute_most_frequent": _floats(cat_imputer.statistics_),
                            "categories": [_floats(c) for c in onehot.categories_]},
            "output_columns": output_feature_names(preprocessor),
            "empty_features": [name for step in (imputer, binary, cat_imputer)
                               for name, empty in zip(step.feature_names_in_, step.empty_features_) if empty],
        }
    except (AttributeError, KeyError) as exc:
        raise BundleError(f"the preprocessing step is not a fitted make_preprocessor() ({exc})") from None


def _check_json_safe(metadata: Mapping) -> dict:
    try:
        return json.loads(json.dumps(dict(metadata), allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise BundleError(f"metadata must be JSON-serialisable (numbers, strings, lists, dicts): {exc}") from None


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- save
def save_bundle(pipeline, path, metadata: Mapping | None = None, training_data: pd.DataFrame | None = None) -> Path:
    """Write a fitted ANN pipeline to the directory `path` atomically; return the path.

    metadata       extra JSON-ready facts (e.g. {"metrics": ..., "cv": ..., "data": ...}) stored as given
    training_data  the frame the pipeline was fitted on: adds its sha256 fingerprint and row count

    An existing bundle at `path` is replaced; any other existing file or non-empty directory is
    left alone and a BundleError raised (nothing the user made is overwritten).
    """
    ann = _ann_step(pipeline)
    target = Path(path)
    if target.exists() and (not target.is_dir() or
                            (any(target.iterdir()) and not (target / METADATA_FILE).exists())):
        raise BundleError(f"{target} exists and is not a model bundle; choose a new or empty directory")
    config_dict, state_dict = ann.get_state()
    info = {
        "bundle_format": BUNDLE_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "package_versions": package_versions(),
        "features": list(FEATURE_NAMES),
        "target": TARGET.name,
        "classes": [int(c) if isinstance(c, (int, np.integer)) else str(c) for c in ann.classes_],
        "n_inputs": int(ann.n_features_in_),
    }
    user = _check_json_safe(metadata or {})
    if training_data is not None:
        user.setdefault("data_fingerprint", data_fingerprint(training_data))
        user.setdefault("n_training_rows", int(len(training_data)))
    full_metadata = {**user, **info}
    preprocessing = preprocessing_state(pipeline.named_steps[PREPROCESS_STEP])

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared and read
    try:
        _write_json(staging / CONFIG_FILE, config_dict)
        torch.save(state_dict, staging / WEIGHTS_FILE)
        _write_json(staging / PREPROCESSING_FILE, preprocessing)
        _write_json(staging / METADATA_FILE, full_metadata)
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
    """Rows to compare the saved model with the original: a few training rows when given, the
    schema's extremes, and a patient with every value missing (exercises all imputers)."""
    low = {f.name: float(f.codes[0]) if f.codes else float(f.hard_min) for f in FEATURES}
    high = {f.name: float(f.codes[-1]) if f.codes else float(f.hard_max) for f in FEATURES}
    rows = [pd.DataFrame([low, high, {name: np.nan for name in FEATURE_NAMES}], dtype="float64")]
    if training_data is not None and all(name in training_data for name in FEATURE_NAMES):
        rows.insert(0, training_data[list(FEATURE_NAMES)].head(5).astype("float64"))
    return pd.concat(rows, ignore_index=True)


def _check_reads_back(pipeline, folder: Path, training_data: pd.DataFrame | None) -> None:
    """Load the just-written bundle and compare its probabilities with the pipeline's: a model
    that would not load, or would predict differently, is refused before anything is replaced."""
    try:
        loaded = load_bundle(folder)
    except BundleError as exc:
        message = str(exc).replace(f"the bundle at {folder}", "the bundle").replace(f" in {folder}", "")
        raise BundleError(f"the model was not saved: it could not be loaded back ({message})") from None
    rows = _probe_rows(training_data)
    expected = pipeline.predict_proba(rows)
    got = loaded.predict_proba(rows)
    if not np.allclose(expected, got, atol=1e-5):
        worst = float(np.max(np.abs(np.asarray(expected, dtype=float) - got)))
        raise BundleError(f"the model was not saved: read back, it predicts differently (probabilities differ "
                          f"by up to {worst:.3g})")


# ---------------------------------------------------------------- load
def _bundle_file(folder: Path, name: str, max_bytes: int) -> Path:
    """The path of one bundle file after checking that it exists and is not absurdly large."""
    path = folder / name
    if not path.is_file():
        raise BundleError(f"the bundle at {folder} is missing {name}")
    if path.stat().st_size > max_bytes:
        raise BundleError(f"{name} in {folder} is larger than {max_bytes // 1024 // 1024} MB; not a bundle file")
    return path


def _read_json(folder: Path, name: str) -> Any:
    path = _bundle_file(folder, name, MAX_JSON_BYTES)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{name} in {folder} is not text (corrupt file)") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name} in {folder} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})") from None
    except RecursionError:
        raise BundleError(f"{name} in {folder} is not a bundle file (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise BundleError(f"{name} in {folder} is not valid JSON ({exc})") from None


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = _bundle_file(folder, WEIGHTS_FILE, MAX_WEIGHTS_BYTES)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated, foreign or unsafe files
        raise BundleError(f"{WEIGHTS_FILE} in {folder} is corrupt or not a torch state_dict "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleError(f"{WEIGHTS_FILE} in {folder} does not hold a state_dict of tensors")
    if not all(bool(torch.isfinite(v).all()) for v in state.values()):
        raise BundleError(f"{WEIGHTS_FILE} in {folder} contains NaN or infinite weights")
    return dict(state)


def _check_metadata(folder: Path, metadata: Any) -> dict:
    if not isinstance(metadata, dict):
        raise BundleError(f"{METADATA_FILE} in {folder} must be a JSON object")
    version = metadata.get("bundle_format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(f"{METADATA_FILE} in {folder} does not say which bundle format it is (bundle_format)")
    if version > BUNDLE_FORMAT:
        raise BundleError(f"the bundle at {folder} has format {version}, newer than this program reads "
                          f"({BUNDLE_FORMAT}); update the software")
    if version < 1:
        raise BundleError(f"the bundle at {folder} has an unknown format {version}")
    features = metadata.get("features")
    if not isinstance(features, list):
        raise BundleError(f"{METADATA_FILE} in {folder}: 'features' must be the list of feature names; "
                          f"got {short_repr(features)}")
    if features != list(FEATURE_NAMES):
        raise BundleError(f"the bundle at {folder} was made for other features ({short_repr(features, 200)}); "
                          f"this program uses {list(FEATURE_NAMES)}")
    return metadata


def _vector(folder: Path, block: Mapping, key: str, length: int, positive: bool = False) -> np.ndarray:
    values = block.get(key) if isinstance(block, Mapping) else None
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError):
        array = np.asarray([])
    if array.shape != (length,) or not np.isfinite(array).all() or (positive and (array <= 0).any()):
        raise BundleError(f"{PREPROCESSING_FILE} in {folder}: '{key}' must be {length} finite"
                          f"{' positive' if positive else ''} numbers; got {short_repr(values, 200)}")
    return array


def restore_preprocessor(state: Any, folder: Path | str = "<memory>"):
    """A fitted make_preprocessor() whose learned state is `state` (from preprocessing_state)."""
    folder = Path(folder)
    if not isinstance(state, dict):
        raise BundleError(f"{PREPROCESSING_FILE} in {folder} must be a JSON object")
    for group, columns in (("numeric", NUMERIC), ("binary", BINARY), ("categorical", CATEGORICAL)):
        block = state.get(group)
        if not isinstance(block, dict) or block.get("columns") != list(columns):
            raise BundleError(f"{PREPROCESSING_FILE} in {folder}: the {group} columns do not match this program's "
                              f"feature schema ({list(columns)})")
    if state["categorical"].get("categories") != schema_categories():
        raise BundleError(f"{PREPROCESSING_FILE} in {folder}: the category codes differ from this program's "
                          f"schema ({schema_categories()})")
    names_in = state.get("feature_names_in")
    if not isinstance(names_in, list) or sorted(map(str, names_in)) != sorted(FEATURE_NAMES):
        raise BundleError(f"{PREPROCESSING_FILE} in {folder}: feature_names_in must list the 13 features")

    numeric, binary, categorical = state["numeric"], state["binary"], state["categorical"]
    medians = _vector(folder, numeric, "impute_median", len(NUMERIC))
    mean = _vector(folder, numeric, "scale_mean", len(NUMERIC))
    scale = _vector(folder, numeric, "scale_scale", len(NUMERIC), positive=True)
    var = _vector(folder, numeric, "scale_var", len(NUMERIC))
    binary_mode = _vector(folder, binary, "impute_most_frequent", len(BINARY))
    categorical_mode = _vector(folder, categorical, "impute_most_frequent", len(CATEGORICAL))
    n_seen = numeric.get("n_samples_seen")
    if not isinstance(n_seen, int) or isinstance(n_seen, bool) or not 1 <= n_seen <= 2**62:
        raise BundleError(f"{PREPROCESSING_FILE} in {folder}: n_samples_seen must be a positive whole number")
    empty = state.get("empty_features", [])
    if not isinstance(empty, list) or not set(map(str, empty)) <= set(FEATURE_NAMES):
        raise BundleError(f"{PREPROCESSING_FILE} in {folder}: 'empty_features' must list feature names; "
                          f"got {short_repr(empty)}")

    # Fit on a two-row stand-in to build the ColumnTransformer's structure, then put the
    # saved statistics in place of what that stand-in taught it.
    stand_in = pd.DataFrame({name: [float(feature(name).codes[0]) if feature(name).codes else 0.0,
                                    float(feature(name).codes[-1]) if feature(name).codes else 1.0]
                             for name in names_in})
    preprocessor = make_preprocessor().fit(stand_in)
    num_pipe = preprocessor.named_transformers_["numeric"]
    num_pipe.named_steps["impute"].statistics_ = medians
    scaler = num_pipe.named_steps["scale"]
    scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, var
    scaler.n_samples_seen_ = np.int64(n_seen)
    preprocessor.named_transformers_["binary"].statistics_ = binary_mode
    preprocessor.named_transformers_["categorical"].named_steps["impute"].statistics_ = categorical_mode
    for imputer in (num_pipe.named_steps["impute"], preprocessor.named_transformers_["binary"],
                    preprocessor.named_transformers_["categorical"].named_steps["impute"]):
        imputer.empty_features_ = np.isin(imputer.feature_names_in_, empty)
    return preprocessor


def load_bundle(path, device: str = "cpu") -> Pipeline:
    """The fitted pipeline saved at `path`, with the metadata dict as ``pipeline.metadata``.

    Raises BundleError for a missing directory or file, corrupt JSON or weights, a bundle made
    for another feature schema, or one written by a newer format version.
    """
    folder = Path(path)
    if not folder.exists():
        raise BundleError(f"no model bundle at {folder}")
    if folder.is_file() and zipfile.is_zipfile(folder):
        return load_bundle_archive(folder, device=device)
    if not folder.is_dir():
        raise BundleError(f"{folder} is a file; a model bundle is a directory (or a zip of one) holding "
                          f"{', '.join(BUNDLE_FILES)}")
    metadata = _check_metadata(folder, _read_json(folder, METADATA_FILE))
    config_dict = _read_json(folder, CONFIG_FILE)
    preprocessing = _read_json(folder, PREPROCESSING_FILE)
    state_dict = _read_weights(folder)

    preprocessor = restore_preprocessor(preprocessing, folder)
    n_inputs = metadata.get("n_inputs")
    output_columns = preprocessing.get("output_columns")
    if not isinstance(output_columns, list):
        raise BundleError(f"{PREPROCESSING_FILE} in {folder}: 'output_columns' must be the list of network "
                          f"input names; got {short_repr(output_columns)}")
    if n_inputs != len(output_columns) or n_inputs != len(output_feature_names()):
        raise BundleError(f"the bundle at {folder} expects {n_inputs} network inputs but the preprocessing "
                          f"produces {len(output_feature_names())}")
    try:
        ann = ANNClassifier.from_state(config_dict, state_dict, n_inputs,
                                       classes=metadata.get("classes", [0, 1]), device=device)
    except ConfigError as exc:
        raise BundleError(f"{CONFIG_FILE} in {folder} is not a valid network configuration: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"{WEIGHTS_FILE} in {folder} does not match {CONFIG_FILE}: {exc}") from None
    except (ArithmeticError, RecursionError) as exc:  # e.g. a number beyond float range in config.json
        raise BundleError(f"{CONFIG_FILE} in {folder} is not a valid network configuration "
                          f"({type(exc).__name__}: {exc})") from None
    pipeline = Pipeline([(PREPROCESS_STEP, preprocessor), (ANN_STEP, ann)])
    pipeline.metadata = metadata
    return pipeline


def load_bundle_archive(source, device: str = "cpu") -> Pipeline:
    """load_bundle for a zip (path, bytes or file object) holding the bundle files, at its root or
    in one folder. Only those four names are read, each size-bounded; nothing else is extracted."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    limits = {CONFIG_FILE: MAX_JSON_BYTES, PREPROCESSING_FILE: MAX_JSON_BYTES, METADATA_FILE: MAX_JSON_BYTES,
              WEIGHTS_FILE: MAX_WEIGHTS_BYTES}
    try:
        with zipfile.ZipFile(source) as archive, tempfile.TemporaryDirectory() as folder:
            members = {}
            for info in archive.infolist():
                parts = PurePosixPath(info.filename).parts
                if not info.is_dir() and parts and parts[-1] in limits and len(parts) <= 2:
                    members.setdefault(parts[-1], info)
            for name, info in members.items():
                if info.file_size > limits[name]:
                    raise BundleError(f"{name} in the zip is larger than {limits[name] // 1024 // 1024} MB")
                with archive.open(info) as packed:
                    data = packed.read(limits[name] + 1)
                if len(data) > limits[name]:
                    raise BundleError(f"{name} in the zip is larger than {limits[name] // 1024 // 1024} MB")
                (Path(folder) / name).write_bytes(data)
            try:
                return load_bundle(folder, device=device)
            except BundleError as exc:  # speak of the zip, not of our temporary folder
                message = str(exc).replace(f"the bundle at {folder}", "the zip").replace(folder, "the zip")
                raise BundleError(message) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise BundleError(f"the model file is not a readable zip of a bundle ({exc})") from None


def load_default_model(device: str = "cpu") -> Pipeline:
    """The shipped default network (model/default_bundle/), fitted on the built-in Cleveland data;
    its metadata (``pipeline.metadata``) carries its 5x10 cross-validated metrics."""
    return load_bundle(DEFAULT_BUNDLE, device=device)

