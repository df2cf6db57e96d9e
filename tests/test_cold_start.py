"""The landing page starts light: no torch, scikit-learn or Captum until a page needs them (issue 15, part 4).

Each landing-page check runs in a fresh Python process: in this one, other tests have long imported torch.
benchmarks/bench_cold_start.py measures the time it buys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from model.serving import bundle, bundle_files

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "captum")

# Runs app.py's landing page (router, sidebar, home) in AppTest, optionally with a damaged shipped bundle, then
# prints what it showed and which heavy libraries the process imported, as JSON.
LANDING_SCRIPT = """
import json, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest

damaged = sys.argv[1] if len(sys.argv) > 1 else None
if damaged:
    from model.serving import bundle_files
    bundle_files.DEFAULT_BUNDLE = Path(damaged)
at = AppTest.from_file(str(Path({repo!r}) / "app.py"), default_timeout=120).run()
main = [str(e.value) for kind in ("title", "warning", "markdown") for e in getattr(at.main, kind)]
sidebar = [str(getattr(e, "value", "")) for e in at.sidebar.children.values()]
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"exception": [str(e.value) for e in at.exception], "main": main, "sidebar": sidebar,
                  "heavy": heavy}}))
"""


def _landing(tmp_path: Path, damaged: Path | None = None) -> dict:
    script = tmp_path / "landing.py"
    script.write_text(textwrap.dedent(LANDING_SCRIPT.format(repo=str(REPO), heavy=HEAVY)))
    result = subprocess.run(
        [sys.executable, str(script), *([str(damaged)] if damaged else [])],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_landing_page_imports_neither_torch_nor_scikit_learn_nor_captum(tmp_path):
    shown = _landing(tmp_path)
    assert shown["exception"] == []
    assert shown["heavy"] == []
    assert any("Heart-ANN" in text for text in shown["main"])
    sidebar = "\n".join(shown["sidebar"])
    # The model and its cross-validated quality come from the shipped metadata.json, without torch.
    metrics = json.loads((Path(str(bundle.DEFAULT_BUNDLE)) / bundle.METADATA_FILE).read_text())["metrics"]
    assert "Shipped default model" in sidebar
    assert f"Cross-validated AUC {metrics['roc_auc']['mean']:.2f}" in sidebar
    assert "Device:" in sidebar and "resolved when a page that trains or predicts opens" in sidebar
    assert not any("damaged" in text for text in shown["main"])


def test_a_damaged_shipped_bundle_is_reported_on_the_landing_page_without_torch(tmp_path):
    copy = tmp_path / "default_bundle"
    shutil.copytree(bundle.DEFAULT_BUNDLE, copy)
    (copy / bundle.WEIGHTS_FILE).write_bytes((copy / bundle.WEIGHTS_FILE).read_bytes()[:100])
    shown = _landing(tmp_path, damaged=copy)
    assert shown["exception"] == [] and shown["heavy"] == []
    notice = next(text for text in shown["main"] if "shipped model files are damaged" in text)
    assert bundle.WEIGHTS_FILE in notice and "Patient risk" in notice  # which file, and where the copy answers
    sidebar = "\n".join(shown["sidebar"])
    assert "Default model (retrained copy)" in sidebar and "Cross-validated" not in sidebar


# ---- the cheap check of the shipped files (model.serving.bundle_files) ----------------------------------------


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch) -> Path:
    copy = tmp_path / "default_bundle"
    shutil.copytree(bundle.DEFAULT_BUNDLE, copy)
    monkeypatch.setattr(bundle_files, "DEFAULT_BUNDLE", copy)
    return copy


def test_an_intact_shipped_bundle_passes_the_cheap_check_with_its_metadata(shipped_copy):
    summary = bundle_files.shipped_summary()
    assert summary.problem is None
    assert summary.metadata == json.loads((shipped_copy / bundle.METADATA_FILE).read_text())


@pytest.mark.parametrize("name", bundle.HASHED_FILES)
def test_a_changed_or_missing_file_fails_the_cheap_check_like_a_full_load(shipped_copy, name):
    path = shipped_copy / name
    path.write_bytes(path.read_bytes() + b" ")
    problem = bundle_files.shipped_summary().problem
    assert problem is not None and name in problem and "changed after the model was saved" in problem
    with pytest.raises(bundle.BundleError, match="changed after the model was saved"):
        bundle.load_bundle(shipped_copy)
    path.unlink()
    assert "is missing " + name in bundle_files.shipped_summary().problem


def test_unreadable_or_unverifiable_metadata_fails_the_cheap_check(shipped_copy):
    metadata_path = shipped_copy / bundle.METADATA_FILE
    metadata = json.loads(metadata_path.read_text())
    del metadata["integrity"]  # as a format-1 bundle: nothing to verify against
    metadata_path.write_text(json.dumps(metadata))
    summary = bundle_files.shipped_summary()
    assert "cannot be verified" in summary.problem and summary.metadata["name"] == metadata["name"]
    metadata_path.write_text("{ not json")
    summary = bundle_files.shipped_summary()
    assert "not valid JSON" in summary.problem and summary.metadata == {}


def test_the_light_module_imports_neither_torch_nor_scikit_learn():
    code = f"import sys, model.serving.bundle_files; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
