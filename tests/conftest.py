from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "uci-heart-disease"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks added here
def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    # With pytest-xdist (-n 2), every browser test runs on one worker: they share one server and
    # browser, and the other worker runs the unit and page tests beside them.
    one_browser_worker = pytest.mark.xdist_group("browser")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)
        if "e2e" in item.keywords:
            item.add_marker(one_browser_worker)
    # A test that saturates the cores runs after the rest, when the other worker has usually finished.
    items[:] = [i for i in items if "runs_last" not in i.keywords] + [i for i in items if "runs_last" in i.keywords]


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only UCI reference files beside the checkout (tests only; never the product)."""
    if not (SHARED_DATA / "processed.cleveland.data").exists():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA
