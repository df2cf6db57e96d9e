"""The layout of the code is a rule, not a habit: these tests read the source and fail on a broken layer.

model/ is a stack of subpackages. Each may import only the ones below it:

    clinic      risk for one patient, explanations, reports, model card
    serving     saved bundles, the default model, live training runs
    evaluation  cross-validation, the comparison, classical peers, other hospitals
    nn          the network, its engine, optimizers, training loop, estimator
    data        schema, codings, CSV import, datasets, exploration, preprocessing, splits
    runtime     limits, device, threads, compute slots, background jobs

model/cli.py and model/__init__.py sit on top and may import anything in model/. Nothing in model/
imports Streamlit, Plotly or the dashboard; dashboard/ never imports a page script.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "model"
LAYERS = ("runtime", "data", "nn", "evaluation", "serving", "clinic")  # bottom first
TOP_LEVEL = {"__init__", "__main__", "cli"}
FORBIDDEN_IN_MODEL = ("streamlit", "plotly", "dashboard", "app_pages")


def _imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path` (or in `source`, as if it were that file)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from model import data` imports the subpackage `model.data`
            if module in ("model", *(f"model.{layer}" for layer in LAYERS)):
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "model" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _model_files() -> list[Path]:
    return sorted(MODEL.rglob("*.py"))


def test_every_model_module_lives_in_a_layer_or_is_the_package_entry_point():
    stray = [
        str(p.relative_to(REPO))
        for p in _model_files()
        if p.parent == MODEL and p.stem not in TOP_LEVEL or p.parent != MODEL and p.parent.name not in LAYERS
    ]
    assert stray == [], f"put these modules in one of model/{{{','.join(LAYERS)}}}/: {stray}"


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    offences = []
    for path in sorted((MODEL / layer).glob("*.py")):
        for line, module in _imported_modules(path):
            target = _layer_of(module)
            if module.startswith("model") and (target is None and module != "model.resources" or target not in allowed):
                offences.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert offences == [], f"model/{layer} may import only {sorted(allowed)}:\n" + "\n".join(offences)


def test_model_never_imports_the_dashboard_or_a_ui_library():
    offences = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in _model_files()
        for line, module in _imported_modules(path)
        if module.split(".")[0] in FORBIDDEN_IN_MODEL
    ]
    assert offences == []


def test_the_dashboard_never_imports_a_page_script():
    offences = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / "dashboard").glob("*.py"))
        for line, module in _imported_modules(path)
        if module.split(".")[0] == "app_pages"
    ]
    assert offences == []


def test_the_scan_sees_a_forbidden_import():
    """The rule above would pass vacuously if the scanner missed imports: check it on a known offender."""
    offender = MODEL / "nn" / "__scan_probe__.py"
    source = "from model.serving.bundle import load_bundle\nfrom ..clinic import risk\nimport streamlit\n"
    found = _imported_modules(offender, source)
    assert [m for _, m in found] == ["model.serving.bundle", "model.clinic", "model.clinic.risk", "streamlit"]
    assert {_layer_of(m) for _, m in found} == {"serving", "clinic", None}


def test_the_package_data_is_read_through_importlib_resources():
    """An installed package has no ../data beside it: the built-in CSV and the bundle ship inside model/."""
    from importlib.resources import files

    resources = files("model") / "resources"
    assert (resources / "heart_cleveland.csv").is_file()
    assert (resources / "default_bundle" / "metadata.json").is_file()
    offenders = [str(p.relative_to(REPO)) for p in _model_files() if "parents[" in p.read_text(encoding="utf-8")]
    assert offenders == [], f"these modules reach outside the package by path: {offenders}"
