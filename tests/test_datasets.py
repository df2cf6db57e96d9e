"""Loaders: the built-in Cleveland file, its derivation, the four UCI site files, download and cache."""

import importlib.util
import io
import shutil
from collections import Counter
from pathlib import Path
from urllib.error import URLError

import pandas as pd
import pytest

import model.data.datasets as datasets
from model.data.datasets import (
    UCI_SITES,
    DatasetDownloadError,
    DatasetError,
    combine_sites,
    download_uci_sites,
    load_dataset,
    load_uci_sites_from_files,
    read_uci_processed,
    site_of_filename,
)
from model.data.schema import COLUMNS, FEATURE_NAMES

REPO = Path(__file__).resolve().parents[1]
COMMITTED_CSV = REPO / "model" / "resources" / "heart_cleveland.csv"
# rows and num > 0 per site, as published (shared README table)
SITE_COUNTS = {"cleveland": (303, 139), "hungarian": (294, 106), "switzerland": (123, 115), "va": (200, 149)}
# 1-based rows of processed.cleveland.data that the Kaggle-derived copy lacks / repeats
UCI_ROW_MISSING_HERE, UCI_ROW_REPEATED_HERE = 185, 303


def reference_cleveland(shared_data_dir) -> pd.DataFrame:
    return read_uci_processed(shared_data_dir / "processed.cleveland.data", site="cleveland")


def row_counts(frame: pd.DataFrame) -> Counter:
    """Rows as hashable tuples (NaN as a marker) so two frames compare as multisets."""
    return Counter(frame[list(COLUMNS)].astype(float).fillna(-999).round(1).itertuples(index=False, name=None))


def assert_is_reference_but_one_patient(frame, reference):
    """frame == UCI Cleveland without patient 185 and with patient 303 twice."""
    expected = row_counts(reference.drop(index=UCI_ROW_MISSING_HERE - 1))
    expected.update(row_counts(reference.iloc[[UCI_ROW_REPEATED_HERE - 1]]))
    assert row_counts(frame) == expected


# ----------------------------------------------------------------------------- built-in data


def test_load_dataset_returns_the_cleveland_patients_in_uci_coding():
    frame = load_dataset()
    assert list(frame.columns) == list(COLUMNS)
    assert frame.shape == (303, 14)
    assert (frame[list(FEATURE_NAMES)].dtypes == "float64").all() and frame["target"].dtype == "int64"
    assert frame["target"].sum() == 138
    assert frame.isna().sum()[lambda s: s > 0].to_dict() == {"ca": 5, "thal": 2}
    assert set(frame["cp"]) == {1, 2, 3, 4} and set(frame["thal"].dropna()) == {3, 6, 7}
    assert frame.duplicated().sum() == 1
    # first row of both the Kaggle copy and the UCI file: hand-checked against data/README.md
    assert frame.iloc[0].tolist() == [63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6, 0]


def test_unknown_built_in_data_set_is_named():
    with pytest.raises(DatasetError, match="unknown built-in data set 'framingham'; available: cleveland"):
        load_dataset("framingham")


def test_committed_csv_is_the_uci_file_but_for_the_documented_patient(shared_data_dir):
    assert_is_reference_but_one_patient(load_dataset(), reference_cleveland(shared_data_dir))


def test_committed_csv_uses_empty_cells_for_missing_values():
    text = COMMITTED_CSV.read_text()
    assert "?" not in text and "nan" not in text.lower()
    assert text.splitlines()[0] == ",".join(COLUMNS)


def load_derivation_script():
    spec = importlib.util.spec_from_file_location("derive_cleveland", REPO / "data" / "derive_cleveland.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derivation_from_pingouin_reproduces_the_committed_file(tmp_path, shared_data_dir):
    if importlib.util.find_spec("pingouin") is None:
        pytest.skip("pingouin is not installed")
    derive = load_derivation_script()
    out = tmp_path / "heart_cleveland.csv"
    assert derive.main(["--out", str(out)]) == 0
    assert out.read_bytes() == COMMITTED_CSV.read_bytes()
    assert_is_reference_but_one_patient(derive.derive(), reference_cleveland(shared_data_dir))


# ----------------------------------------------------------------------------- UCI processed files


@pytest.mark.parametrize("site", list(UCI_SITES))
def test_read_uci_processed_reads_each_reference_file(shared_data_dir, site):
    frame = read_uci_processed(shared_data_dir / UCI_SITES[site], site=site)
    assert list(frame.columns) == list(COLUMNS)
    assert (len(frame), int(frame["target"].sum())) == SITE_COUNTS[site]
    assert set(frame["target"]) <= {0, 1}
    assert not (frame["chol"] == 0).any() and not (frame["trestbps"] == 0).any()


def test_zero_cholesterol_and_blood_pressure_mean_not_measured(shared_data_dir):
    raw = {site: pd.read_csv(shared_data_dir / name, header=None, na_values="?") for site, name in UCI_SITES.items()}
    switzerland = read_uci_processed(shared_data_dir / UCI_SITES["switzerland"])
    assert switzerland["chol"].isna().all()
    va = read_uci_processed(shared_data_dir / UCI_SITES["va"])
    assert va["chol"].isna().sum() == (raw["va"][4] == 0).sum() + raw["va"][4].isna().sum() == 56
    assert va["trestbps"].isna().sum() == raw["va"][3].isna().sum() + 1
    cleveland = read_uci_processed(shared_data_dir / UCI_SITES["cleveland"])
    assert cleveland.isna().sum()[lambda s: s > 0].to_dict() == {"ca": 4, "thal": 2}


def test_num_above_zero_is_disease():
    line = "63,1,4,140,260,0,1,112,1,3,2,?,?,{num}\n"
    data = "".join(line.format(num=n) for n in range(5)).encode()
    assert read_uci_processed(data)["target"].tolist() == [0, 1, 1, 1, 1]


def test_read_uci_processed_accepts_buffers():
    data = b"28,1,2,130,132,0,2,185,0,0,?,?,?,0\n"
    assert len(read_uci_processed(io.BytesIO(data))) == len(read_uci_processed(data)) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        (b"1,2,3\n", "it has 3 columns, expected 14"),
        (b"", "not a UCI processed file"),
        (
            b"63,1,4,140,260,0,1,112,1,3,2,?,?,0\n63,1,4,140,abc,0,1,112,1,3,2,?,?,0\n",
            r"Column 'chol': Serum cholesterol: not a number \(for example 'abc'\) — data row 2",
        ),
        (
            b"63,1,4,140,260,0,1,112,1,3,2,?,?,0\n63,1,9,140,260,0,1,112,1,3,2,?,?,0\n",
            r"Column 'cp': Chest pain type: 9.0 is not one of the codes .* — data row 2",
        ),
        (b"63,1,4,140,260,0,1,112,1,3,2,?,?,7\n", r"Column 'num': UCI 'num' must be one of 0, 1, 2, 3, 4"),
    ],
)
def test_read_uci_processed_refuses_what_is_not_such_a_file(content, message):
    with pytest.raises(DatasetError, match=message):
        read_uci_processed(content, site="va")


def test_read_uci_processed_names_a_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="the hungarian file could not be opened"):
        read_uci_processed(tmp_path / "nothing.data", site="hungarian")


# ----------------------------------------------------------------------------- download and cache


def fail_urlopen(*args, **kwargs):
    raise URLError("no network in tests")


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_offline_download_fails_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "urlopen", fail_urlopen)
    with pytest.raises(DatasetDownloadError) as caught:
        download_uci_sites(cache_dir=tmp_path, sites=["hungarian"])
    message = str(caught.value)
    assert "Could not download the Hungarian Institute of Cardiology, Budapest data" in message
    assert UCI_SITES["hungarian"] in message and "no network in tests" in message
    assert "Check the internet connection" in message and "upload" in message
    assert list(tmp_path.iterdir()) == []


def test_cached_files_are_read_without_the_network(tmp_path, monkeypatch, shared_data_dir):
    for name in UCI_SITES.values():
        shutil.copy(shared_data_dir / name, tmp_path / name)
    monkeypatch.setattr(datasets, "urlopen", fail_urlopen)
    calls = []
    frames = download_uci_sites(cache_dir=tmp_path, progress=lambda fraction, text: calls.append(fraction))
    assert {site: (len(f), int(f["target"].sum())) for site, f in frames.items()} == SITE_COUNTS
    assert calls == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_download_stores_the_file_once(tmp_path, monkeypatch, shared_data_dir):
    content = (shared_data_dir / UCI_SITES["switzerland"]).read_bytes()
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return FakeResponse(content)

    monkeypatch.setattr(datasets, "urlopen", fake_urlopen)
    first = download_uci_sites(cache_dir=tmp_path / "cache", sites=["switzerland"])["switzerland"]
    again = download_uci_sites(cache_dir=tmp_path / "cache", sites=["switzerland"])["switzerland"]
    assert urls == [
        "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/processed.switzerland.data"
    ]
    assert (tmp_path / "cache" / UCI_SITES["switzerland"]).read_bytes() == content
    pd.testing.assert_frame_equal(first, again)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [UCI_SITES["switzerland"]]


def test_unexpected_download_content_is_refused_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "urlopen", lambda url, timeout: FakeResponse(b"<html><body>Moved</body></html>"))
    with pytest.raises(DatasetDownloadError, match="is not the expected data"):
        download_uci_sites(cache_dir=tmp_path, sites=["va"])
    assert not (tmp_path / UCI_SITES["va"]).exists()


def test_unknown_site_is_named(tmp_path):
    with pytest.raises(DatasetError, match="unknown site.*mars.*cleveland, hungarian, switzerland, va"):
        download_uci_sites(cache_dir=tmp_path, sites=["mars"])


def test_default_cache_is_in_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.default_cache_dir() == tmp_path / "heart-ann"


# ----------------------------------------------------------------------------- combining and uploads


def test_combine_sites_adds_a_site_column(shared_data_dir):
    frames = load_uci_sites_from_files(sorted(shared_data_dir.glob("processed.*.data"), reverse=True))
    combined = combine_sites(frames)
    assert list(combined.columns) == list(COLUMNS) + ["site"]
    assert len(combined) == 920 and combined["target"].sum() == 509
    assert list(combined["site"].unique()) == list(UCI_SITES)
    assert combined.groupby("site")["target"].agg(["size", "sum"]).apply(tuple, axis=1).to_dict() == SITE_COUNTS


def test_uploaded_files_are_named_by_their_site(shared_data_dir):
    upload = io.BytesIO((shared_data_dir / UCI_SITES["va"]).read_bytes())
    upload.name = "processed.va.data"
    assert len(load_uci_sites_from_files([upload])["va"]) == 200


@pytest.mark.parametrize(
    "filename, site",
    [
        ("processed.va.data", "va"),
        ("/tmp/x/processed.hungarian.data", "hungarian"),
        ("Processed.Switzerland.data", "switzerland"),
        ("cleveland.data", "cleveland"),
    ],
)
def test_site_of_filename(filename, site):
    assert site_of_filename(filename) == site


def test_upload_problems_are_explained(shared_data_dir):
    with pytest.raises(DatasetError, match="cannot tell the site of 'heart.csv'"):
        load_uci_sites_from_files(["heart.csv"])
    path = shared_data_dir / UCI_SITES["va"]
    with pytest.raises(DatasetError, match="two files for the va site"):
        load_uci_sites_from_files([path, path])
    with pytest.raises(DatasetError, match="no files given"):
        load_uci_sites_from_files([])
