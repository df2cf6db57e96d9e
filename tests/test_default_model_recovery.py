"""A damaged shipped model is detected at start, reported, and replaced by a retrained copy
kept in a cache folder; the repository's files are never written. Plus the no-pickle rule."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES
from model.serving import bundle, bundle_files, default_model

REPO = Path(__file__).resolve().parents[1]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def damaged_default(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped bundle with truncated weights, installed as the default; caches under tmp_path."""
    copy = tmp_path / "default_bundle"
    shutil.copytree(bundle.DEFAULT_BUNDLE, copy)
    weights = copy / bundle.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    monkeypatch.setattr(bundle_files, "DEFAULT_BUNDLE", copy)
    monkeypatch.setenv(default_model.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return copy


def test_intact_shipped_model_loads_without_notice(tmp_path, monkeypatch):
    monkeypatch.setenv(default_model.CACHE_ENV, str(tmp_path / "cache"))
    pipeline, notice = default_model.load_default_model_or_recover()
    assert notice is None
    assert pipeline.metadata["metrics"]["roc_auc"]["mean"] > 0.5
    assert not (tmp_path / "cache" / default_model.RECOVERED_FOLDER).exists()


def test_damaged_bundle_is_retrained_saved_to_the_cache_and_explained(damaged_default, tmp_path):
    shipped_before = _digest(REPO / "model" / "resources" / "default_bundle")
    damaged_before = _digest(damaged_default)
    steps = []
    pipeline, notice = default_model.load_default_model_or_recover(progress=lambda f, m: steps.append((f, m)))

    assert "shipped model files are damaged" in notice and "retrained just now" in notice
    assert bundle.WEIGHTS_FILE in notice  # says which file is wrong
    cache = tmp_path / "cache" / default_model.RECOVERED_FOLDER
    assert str(cache) in notice
    assert (cache / bundle.METADATA_FILE).exists()
    assert steps[0][0] == 0.0 and steps[-1][0] == 1.0 and any("epoch" in m for _, m in steps)
    # Nothing in the repository (or the damaged copy, left for a person to inspect) was written.
    assert _digest(REPO / "model" / "resources" / "default_bundle") == shipped_before
    assert _digest(damaged_default) == damaged_before

    frame = load_dataset("cleveland")
    proba = pipeline.predict_proba(frame[list(FEATURE_NAMES)])[:, 1]
    assert np.all((proba >= 0) & (proba <= 1))
    assert ((proba > 0.5) == frame["target"].to_numpy()).mean() > 0.75  # it learned: not a placeholder model
    shipped = bundle.load_bundle(REPO / "model" / "resources" / "default_bundle")
    assert pipeline.metadata[default_model.RECOVERY_KEY]["config"] == shipped.pipeline[-1].config().to_dict()


def test_next_start_loads_the_recovered_copy_without_retraining(damaged_default, tmp_path):
    first, _ = default_model.load_default_model_or_recover()
    steps = []
    second, notice = default_model.load_default_model_or_recover(progress=lambda f, m: steps.append(m))
    assert steps == []  # loaded, not retrained
    assert "retrained on the built-in" in notice and "just now" not in notice
    frame = load_dataset("cleveland")[list(FEATURE_NAMES)].head(20)
    np.testing.assert_allclose(first.predict_proba(frame), second.predict_proba(frame), atol=1e-6)


def test_a_damaged_recovered_copy_is_itself_retrained(damaged_default, tmp_path):
    default_model.load_default_model_or_recover()
    cache = tmp_path / "cache" / default_model.RECOVERED_FOLDER
    (cache / bundle.CONFIG_FILE).write_text("{ not json")
    with pytest.raises(default_model.DefaultModelDamaged):
        default_model.load_shipped_or_recovered()
    pipeline, notice = default_model.load_default_model_or_recover()
    assert "retrained just now" in notice
    bundle.load_bundle(cache)  # valid again


def test_a_foreign_bundle_in_the_cache_is_not_trusted(damaged_default, tmp_path):
    """Any valid bundle is not enough: it must be a recovery of today's recommended network."""
    from model.evaluation.pipelines import ann_pipeline

    frame = load_dataset("cleveland")
    other = ann_pipeline(hidden_units=[3], epochs=5).fit(frame[list(FEATURE_NAMES)], frame["target"])
    bundle.save_bundle(other, tmp_path / "cache" / default_model.RECOVERED_FOLDER, metadata={"name": "someone's"})
    with pytest.raises(default_model.DefaultModelDamaged):
        default_model.load_shipped_or_recovered()
    pipeline, _ = default_model.load_default_model_or_recover()
    assert default_model.RECOVERY_KEY in pipeline.metadata


def test_a_tampered_shipped_bundle_is_recovered_like_a_damaged_one(tmp_path, monkeypatch):
    """An edit that leaves the files readable (inverted classes, a changed weight) is caught by the
    integrity checks and handled by the same recovery path, with the reason in the notice."""
    import json

    import torch

    copy = tmp_path / "default_bundle"
    shutil.copytree(bundle.DEFAULT_BUNDLE, copy)
    state = torch.load(copy / bundle.WEIGHTS_FILE, weights_only=True)
    state["layers.0.weight"][0, 0] += 0.5
    torch.save(state, copy / bundle.WEIGHTS_FILE)
    monkeypatch.setattr(bundle_files, "DEFAULT_BUNDLE", copy)
    monkeypatch.setenv(default_model.CACHE_ENV, str(tmp_path / "cache"))
    pipeline, notice = default_model.load_default_model_or_recover()
    assert "shipped model files are damaged" in notice and "changed after the model was saved" in notice
    assert pipeline.integrity_warning is None

    shutil.copy(REPO / "model" / "resources" / "default_bundle" / bundle.WEIGHTS_FILE, copy / bundle.WEIGHTS_FILE)
    bundle.load_default_model()  # intact again
    metadata = json.loads((copy / bundle.METADATA_FILE).read_text())
    metadata["classes"] = [1, 0]
    (copy / bundle.METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(bundle.BundleError, match="'classes'"):
        bundle.load_default_model()


def test_an_unverifiable_shipped_bundle_is_treated_as_damaged(tmp_path, monkeypatch):
    """The shipped default always carries its integrity record; a format-1 copy in its place is not served."""
    monkeypatch.setattr(bundle_files, "DEFAULT_BUNDLE", REPO / "tests" / "data" / "bundle_format1")
    monkeypatch.setenv(default_model.CACHE_ENV, str(tmp_path / "cache"))
    pipeline, notice = default_model.load_default_model_or_recover()
    assert "cannot be verified" in notice and "retrained just now" in notice
    assert pipeline.integrity_warning is None


def test_an_unverifiable_recovered_copy_is_retrained_not_trusted(damaged_default, tmp_path):
    """A recovered copy saved by an older version (format 1, no checksums) stands in for the shipped
    model: it is retrained (about a second) rather than served unverified."""
    import json

    cache = tmp_path / "cache" / default_model.RECOVERED_FOLDER
    default_model.load_default_model_or_recover()
    metadata = json.loads((cache / bundle.METADATA_FILE).read_text())
    metadata["bundle_format"] = 1
    del metadata["integrity"]
    (cache / bundle.METADATA_FILE).write_text(json.dumps(metadata))
    assert bundle.load_bundle(cache).integrity_warning is not None
    with pytest.raises(default_model.DefaultModelDamaged):
        default_model.load_shipped_or_recovered()
    pipeline, notice = default_model.load_default_model_or_recover()
    assert "retrained just now" in notice and pipeline.integrity_warning is None
    assert json.loads((cache / bundle.METADATA_FILE).read_text())["bundle_format"] == bundle.BUNDLE_FORMAT


def test_unwritable_cache_setting_falls_back_to_a_writable_folder(damaged_default, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(default_model.CACHE_ENV, str(blocker / "cache"))
    pipeline, notice = default_model.load_default_model_or_recover()
    assert str(tmp_path / "home" / ".cache" / "heart-ann") in notice
    assert pipeline.predict_proba(load_dataset("cleveland")[list(FEATURE_NAMES)].head(3)).shape == (3, 2)


def test_a_copy_saved_outside_a_blocked_cache_is_found_again_without_retraining(damaged_default, tmp_path, monkeypatch):
    """A non-bundle folder where the copy belongs: it is saved elsewhere once, and found there next time."""
    import tempfile

    monkeypatch.setattr(default_model, "_SAVED_ELSEWHERE", {})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "private"))
    (tmp_path / "private").mkdir()
    in_the_way = tmp_path / "cache" / default_model.RECOVERED_FOLDER
    in_the_way.mkdir(parents=True)
    (in_the_way / "notes.txt").write_text("the user's own file")
    first, notice = default_model.load_default_model_or_recover()
    assert "retrained just now" in notice and str(tmp_path / "private") in notice
    assert (in_the_way / "notes.txt").read_text() == "the user's own file"  # nothing of theirs overwritten

    def no_retraining(*args, **kwargs):
        raise AssertionError("retrained although a recovered copy was saved in this process")

    monkeypatch.setattr(default_model, "retrain_default_model", no_retraining)
    second, notice = default_model.load_default_model_or_recover()
    assert "just now" not in notice and str(tmp_path / "private") in notice
    frame = load_dataset("cleveland")[list(FEATURE_NAMES)].head(20)
    np.testing.assert_allclose(first.predict_proba(frame), second.predict_proba(frame), atol=1e-6)


def test_the_app_starts_says_so_and_predicts_with_a_damaged_default(damaged_default):
    from dashboard import state

    state._default_model.clear()  # the cache is per process: other tests may have filled it
    try:
        at = AppTest.from_file("../app.py", default_timeout=120).run()
        assert not at.exception
        warnings = " ".join(w.value for w in at.warning)
        assert "shipped model files are damaged" in warnings  # home page: the full notice
        assert "retrained copy of the default network is in use" in " ".join(w.value for w in at.sidebar.warning)
        at.switch_page("app_pages/predict.py").run()
        assert not at.exception
        assert not any("No model is available" in e.value for e in at.error)
        # The risk page names the model that answers (not the shipped one) and says why.
        assert "shipped model files are damaged" in " ".join(w.value for w in at.main.warning)
        captions = " ".join(c.value for c in at.caption)
        assert f"Model: **{state.RECOVERED_DEFAULT_NAME}**" in captions
        assert state.DEFAULT_MODEL_NAME not in captions
    finally:
        state._default_model.clear()


def test_no_pickle_and_every_torch_load_is_weights_only():
    """Model files are read without unpickling anything (a user's file could run code)."""
    sources = [p for folder in ("model", "dashboard", "app_pages") for p in (REPO / folder).rglob("*.py")]
    sources.append(REPO / "app.py")
    # One exception: the comparison's helper process is loky's process pool (vendored in joblib). It exchanges the
    # server's own objects with a child process it started; it reads no file.
    process_pool = "from joblib.externals.loky import get_reusable_executor"
    for path in sources:
        code = path.read_text()
        if path == REPO / "model" / "runtime" / "helper_process.py":
            code = code.replace(process_pool, "")
        assert not re.search(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|cloudpickle)\b", code, re.M), path
        assert not re.search(r"\b(pickle|joblib|dill|cloudpickle)\.loads?\(", code), path
        assert "pd.read_pickle" not in code and "np.load(" not in code.replace("allow_pickle=False", ""), path
        for call in re.findall(r"torch\.load\([^)]*\)", code):
            assert "weights_only=True" in call, f"{path}: {call}"


def test_home_page_lists_every_resource_limit_from_limits_py():
    """The caps are shown to the user, with the values model/runtime/limits.py enforces."""
    from model.runtime import limits

    at = AppTest.from_file("../app.py", default_timeout=120).run()
    assert not at.exception
    table = at.table[0].value
    shown = dict(zip(table["What"], table["At most"], strict=True))
    assert shown["Hidden layers"] == str(limits.MAX_HIDDEN_LAYERS)
    assert shown["Units per hidden layer"] == f"{limits.MAX_UNITS_PER_LAYER:,}"
    assert shown["Epochs"] == f"{limits.MAX_EPOCHS:,}"
    assert shown["Batch size"] == f"{limits.MAX_BATCH_SIZE:,}"
    assert shown["Rows of an uploaded CSV"] == f"{limits.MAX_ROWS:,}"
    assert shown["Uploaded file size"] == f"{limits.MAX_UPLOAD_MB} MB"
    assert shown["Networks training at once"].startswith(f"{limits.MAX_CONCURRENT_TRAININGS} ")
    assert shown["Cross-validation folds × repeats"].startswith(f"{limits.MAX_CV_FOLDS} × {limits.MAX_CV_REPEATS}")
