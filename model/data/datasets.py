"""Loaders for the heart-disease data: the built-in Cleveland file and the four UCI sites.

Every loader returns the 13 features of model/data/schema.py in UCI coding as floats (NaN where
a value is missing) plus ``target`` as int 0/1 (UCI ``num > 0``).
"""

from __future__ import annotations

import io
import os
import tempfile
from importlib.resources import files
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pandas as pd

from model.data.codings import UCI_NUM
from model.data.csv_validation import validated_frame
from model.data.import_report import ValidationReport
from model.data.schema import COLUMNS, FEATURE_NAMES, TARGET

# Package data (model/resources/), found through importlib.resources so an installed package works too.
BUILT_IN = {"cleveland": files("model") / "resources" / "heart_cleveland.csv"}


class DatasetError(ValueError):
    """A data set could not be loaded; the message says why in plain language."""


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The package-wide dtypes: features float64 (NaN = missing), target int64."""
    out = frame[list(FEATURE_NAMES)].astype("float64")
    if TARGET.name in frame:
        out[TARGET.name] = frame[TARGET.name].astype("int64")
    return out


def load_dataset(name: str = "cleveland") -> pd.DataFrame:
    """The built-in data set `name`: 13 features in UCI coding plus ``target`` (0/1).

    "cleveland": the 303 Cleveland Clinic patients (see data/README.md for provenance,
    and for the one patient that this copy repeats).
    """
    try:
        path = BUILT_IN[name]
    except KeyError:
        raise DatasetError(f"unknown built-in data set {name!r}; available: {', '.join(BUILT_IN)}") from None
    with path.open("rb") as handle:
        frame = pd.read_csv(handle)
    return _typed(frame[list(COLUMNS)])


# ----------------------------------------------------------------------------- the four UCI sites

UCI_BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/"
UCI_SITES: dict[str, str] = {
    "cleveland": "processed.cleveland.data",
    "hungarian": "processed.hungarian.data",
    "switzerland": "processed.switzerland.data",
    "va": "processed.va.data",
}
SITE_LABELS: dict[str, str] = {
    "cleveland": "Cleveland Clinic Foundation",
    "hungarian": "Hungarian Institute of Cardiology, Budapest",
    "switzerland": "University Hospitals Zurich and Basel",
    "va": "V.A. Medical Center, Long Beach",
}
UCI_PROCESSED_COLUMNS = FEATURE_NAMES + (UCI_NUM,)
# The real files are 4-19 kB; anything far larger is not one of them.
MAX_SITE_FILE_BYTES = 1_000_000
DOWNLOAD_TIMEOUT_S = 30


class DatasetDownloadError(DatasetError):
    """The UCI files could not be downloaded (offline, server down, unexpected content)."""


def read_uci_processed(path_or_buffer, site: str | None = None) -> pd.DataFrame:
    """One UCI ``processed.<site>.data`` file: 13 features in UCI coding plus ``target``.

    ``?`` is a missing value, a cholesterol or blood pressure of 0 means "not measured"
    (NaN), and target = 1 where ``num > 0``. `site` only names the file in messages.
    Raises DatasetError naming the rows and the problem when the content is not such a file.
    """
    name = f"the {site} file" if site else "the UCI processed file"
    data = _bytes_of(path_or_buffer, name)
    text = data.decode("utf-8-sig", errors="replace")
    try:
        raw = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError) as exc:
        raise DatasetError(f"{name} is not a UCI processed file: {exc}") from None
    if raw.shape[1] != len(UCI_PROCESSED_COLUMNS):
        raise DatasetError(
            f"{name} is not a UCI processed file: it has {raw.shape[1]} columns, expected "
            f"{len(UCI_PROCESSED_COLUMNS)} ({', '.join(UCI_PROCESSED_COLUMNS)})"
        )
    raw.columns = list(UCI_PROCESSED_COLUMNS)
    report = ValidationReport(coding="uci-processed")
    frame = validated_frame(raw, report)
    if frame is None:
        raise DatasetError(f"{name} was refused.\n{report.as_text()}")
    return _typed(frame)


def _bytes_of(path_or_buffer, name: str) -> bytes:
    """Bounded read of a path, bytes or file object."""
    if isinstance(path_or_buffer, (bytes, bytearray)):
        data = bytes(path_or_buffer)
    elif isinstance(path_or_buffer, (str, os.PathLike)):
        try:
            with open(path_or_buffer, "rb") as handle:
                data = handle.read(MAX_SITE_FILE_BYTES + 1)
        except OSError as exc:
            raise DatasetError(f"{name} could not be opened: {exc.strerror or exc}") from None
    else:
        if hasattr(path_or_buffer, "seek"):
            path_or_buffer.seek(0)
        data = path_or_buffer.read(MAX_SITE_FILE_BYTES + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
    if len(data) > MAX_SITE_FILE_BYTES:
        raise DatasetError(f"{name} is larger than {MAX_SITE_FILE_BYTES:,} bytes: not a UCI processed file")
    return data


def _check_sites(sites) -> list[str]:
    sites = list(UCI_SITES) if sites is None else [s.lower() for s in sites]
    unknown = [s for s in sites if s not in UCI_SITES]
    if unknown:
        raise DatasetError(f"unknown site(s) {', '.join(unknown)}; the sites are {', '.join(UCI_SITES)}")
    return sites


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "heart-ann"


def download_uci_sites(cache_dir=None, sites=None, progress=None) -> dict[str, pd.DataFrame]:
    """Download the UCI processed files of `sites` (default: all four), once.

    Files are kept in `cache_dir` (default ``~/.cache/heart-ann``) and read from there
    on later calls; nothing is downloaded unless this function is called.
    ``progress(fraction, message)`` is called before each site and at the end.
    Raises DatasetDownloadError with a plain message when a file cannot be fetched.
    """
    sites = _check_sites(sites)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    frames = {}
    for done, site in enumerate(sites):
        if progress is not None:
            progress(done / len(sites), f"{SITE_LABELS[site]} ({done + 1} of {len(sites)})")
        path = cache / UCI_SITES[site]
        if not path.exists():
            _download(site, path)
        frames[site] = read_uci_processed(path, site=site)
    if progress is not None:
        progress(1.0, "done")
    return frames


def _download(site: str, path: Path) -> None:
    """Fetch one site file into `path` atomically, after checking that it parses."""
    url = UCI_BASE_URL + UCI_SITES[site]
    advice = (
        "Check the internet connection and try again, or upload the four processed.*.data "
        "files instead (see data/README.md)."
    )
    try:
        with urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read(MAX_SITE_FILE_BYTES + 1)
    except (URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DatasetDownloadError(
            f"Could not download the {SITE_LABELS[site]} data from {url} ({reason}). {advice}"
        ) from None
    try:
        read_uci_processed(data, site=site)
    except DatasetError as exc:
        raise DatasetDownloadError(f"The file downloaded from {url} is not the expected data: {exc}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as handle:
            handle.write(data)
        os.replace(handle.name, path)
    except OSError as exc:
        raise DatasetDownloadError(f"Could not store the downloaded file in {path.parent}: {exc}") from None


def combine_sites(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One frame of all sites, with a ``site`` column (sites in UCI order)."""
    if not frames:
        raise DatasetError("no sites to combine")
    order = sorted(frames, key=lambda s: list(UCI_SITES).index(s) if s in UCI_SITES else len(UCI_SITES))
    parts = [frames[site].assign(site=site) for site in order]
    return pd.concat(parts, ignore_index=True)


def site_of_filename(filename: str) -> str:
    """'processed.hungarian.data' -> 'hungarian'; DatasetError when no site is named."""
    base = Path(str(filename)).name.lower()
    matches = [site for site, expected in UCI_SITES.items() if base == expected]
    matches = matches or [site for site in UCI_SITES if site in base.replace("processed.", "").split(".")]
    if len(matches) != 1:
        raise DatasetError(
            f"cannot tell the site of {Path(str(filename)).name!r}: name the file as UCI does "
            f"({', '.join(UCI_SITES.values())})"
        )
    return matches[0]


def load_uci_sites_from_files(files) -> dict[str, pd.DataFrame]:
    """Read uploaded UCI processed files (paths or file objects with a ``name``), site from the name."""
    frames = {}
    for item in files:
        filename = getattr(item, "name", item)
        site = site_of_filename(filename)
        if site in frames:
            raise DatasetError(f"two files for the {site} site; give each site once")
        frames[site] = read_uci_processed(item, site=site)
    if not frames:
        raise DatasetError("no files given")
    return frames
