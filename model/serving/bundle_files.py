"""A bundle's files without torch or scikit-learn: their names, the shipped folders, the metadata and a cheap check.

The dashboard's landing page names the shipped model and its cross-validated AUC from metadata.json, and says
whether its files are damaged, before any page has imported torch (about 2 s and 200 MB): this module reads
what it needs with json and hashlib only. model.serving.bundle (which imports torch) builds on it and still
checks everything on a real load.

    summary = shipped_summary("with-imaging")   # .metadata (dict, {} when unreadable), .problem (None or why)

`problem` is None when metadata.json parses and the SHA-256 of config.json, weights.pt and preprocessing.json
match its integrity record. That catches a missing, truncated or edited file, the usual damage, in a few
milliseconds; it cannot catch what only a load sees (weights that no longer fit the configuration after a
consistent rewrite of the record, libraries that now compute different probabilities): load_bundle does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from model.data.schema import BEFORE_IMAGING, WITH_IMAGING, moment_of_care

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
PREPROCESSING_FILE = "preprocessing.json"
METADATA_FILE = "metadata.json"
BUNDLE_FILES = (CONFIG_FILE, WEIGHTS_FILE, PREPROCESSING_FILE, METADATA_FILE)
HASHED_FILES = (CONFIG_FILE, WEIGHTS_FILE, PREPROCESSING_FILE)  # metadata.json cannot hold its own hash
# Package data (model/resources/), found through importlib.resources so an installed package works too.
DEFAULT_BUNDLE = files("model") / "resources" / "default_bundle"
# The shipped before-imaging model; DEFAULT_BUNDLE is the with-imaging one (model.data.schema.MOMENTS_OF_CARE).
BEFORE_IMAGING_BUNDLE = files("model") / "resources" / "before_imaging_bundle"

# Bounds what a (possibly hostile) bundle can make us read into memory.
MAX_JSON_BYTES = 5 * 1024 * 1024
MAX_WEIGHTS_BYTES = 50 * 1024 * 1024
FILE_LIMITS = {
    CONFIG_FILE: MAX_JSON_BYTES,
    PREPROCESSING_FILE: MAX_JSON_BYTES,
    METADATA_FILE: MAX_JSON_BYTES,
    WEIGHTS_FILE: MAX_WEIGHTS_BYTES,
}


class BundleError(ValueError):
    """A model bundle cannot be saved or loaded; the message names the file and the problem."""


def default_bundle(moment: str = WITH_IMAGING):
    """The shipped bundle folder of a moment of care (a package resource); ValueError for another moment."""
    moment_of_care(moment)  # ValueError naming the known moments
    return BEFORE_IMAGING_BUNDLE if moment == BEFORE_IMAGING else DEFAULT_BUNDLE


def read_file(folder: Path, source: str, name: str, max_bytes: int) -> bytes:
    """The bytes of one bundle file after checking that it exists and is not absurdly large. Each
    file is read once: what is hashed is exactly what is parsed."""
    path = folder / name
    if not path.is_file():
        raise BundleError(f"{source} is missing {name}")
    if path.stat().st_size > max_bytes:
        raise BundleError(f"{name} in {source} is larger than {max_bytes // 1024 // 1024} MB; not a bundle file")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew since stat
        raise BundleError(f"{name} in {source} is larger than {max_bytes // 1024 // 1024} MB; not a bundle file")
    return data


def parse_json(source: str, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{name} in {source} is not text (corrupt file)") from None
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{name} in {source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise BundleError(f"{name} in {source} is not a bundle file (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise BundleError(f"{name} in {source} is not valid JSON ({exc})") from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def changed_file_error(name: str, source: str) -> BundleError:
    """The error for a file whose SHA-256 differs from its record (the same words here and on a full load)."""
    return BundleError(
        f"{name} in {source} was changed after the model was saved: its SHA-256 differs from "
        f"the one recorded in {METADATA_FILE}. A modified model is not used; restore the "
        f"original file or save the model again"
    )


def read_metadata(folder: Path, source: str) -> dict:
    """metadata.json of the bundle in `folder`, parsed (a JSON object) but not otherwise checked."""
    metadata = parse_json(source, METADATA_FILE, read_file(folder, source, METADATA_FILE, MAX_JSON_BYTES))
    if not isinstance(metadata, dict):
        raise BundleError(f"{METADATA_FILE} in {source} must be a JSON object")
    return metadata


def check_file_hashes(folder: Path, source: str, metadata: dict) -> None:
    """BundleError unless each hashed file matches the SHA-256 in the metadata's integrity record."""
    record = metadata.get("integrity")
    hashes = record.get("sha256") if isinstance(record, dict) else None
    if not isinstance(hashes, dict):
        raise BundleError(f"{source} cannot be verified: {METADATA_FILE} holds no checksums (integrity.sha256)")
    for name in HASHED_FILES:
        if sha256(read_file(folder, source, name, FILE_LIMITS[name])) != hashes.get(name):
            raise changed_file_error(name, source)


@dataclass(frozen=True)
class ShippedSummary:
    """What the landing page shows of a shipped model: its metadata ({} when unreadable) and why its files are
    damaged (None when the cheap check passed)."""

    moment: str
    metadata: dict = field(default_factory=dict)
    problem: str | None = None


def shipped_summary(moment: str = WITH_IMAGING) -> ShippedSummary:
    """The shipped model's metadata and the cheap check of its files (module doc), without torch."""
    source = f"the shipped {moment} model"
    with as_file(default_bundle(moment)) as folder:  # a real folder even when the package is zipped
        try:
            metadata = read_metadata(Path(folder), source)
        except BundleError as error:
            logger.warning("%s: metadata unreadable", source, exc_info=True)
            return ShippedSummary(moment, {}, str(error))
        try:
            check_file_hashes(Path(folder), source, metadata)
        except BundleError as error:
            logger.warning("%s: files damaged", source, exc_info=True)
            return ShippedSummary(moment, metadata, str(error))
    return ShippedSummary(moment, metadata, None)
