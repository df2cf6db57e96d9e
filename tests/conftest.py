import os
from pathlib import Path

import pytest

# The comparison's helper process (model.runtime.helper_process) is off in the tests, browser servers included:
# the suite already runs on both cores, so each worker's helper would only compete for them. The helper's own
# tests (tests/test_comparison_streaming.py) turn it on, and check it changes no number.
os.environ.setdefault("HEART_ANN_HELPER_PROCESSES", "0")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "uci-heart-disease"
# Browser modules run after the unit tests by whichever worker is free, so both workers end together
# (measured: the browser tests take about twice as long as the unit and page tests).
LATE_BROWSER_MODULES = {"test_compare_e2e.py"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks added here
def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    # With pytest-xdist (-n 2), the browser tests run on one worker, with one server and one browser,
    # while the other worker runs the unit and page tests. The browser tests take longer than the rest,
    # so some browser modules form a second group queued after the unit tests: the other worker runs
    # them when it has finished its own work. (Two browser groups from the start
    # were measured slower on two cores: two servers and two browsers starve each other.)
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)
        if "e2e" in item.keywords:
            late = Path(str(item.fspath)).name in LATE_BROWSER_MODULES
            item.add_marker(pytest.mark.xdist_group("browser-late" if late else "browser"))

    def rank(item) -> int:
        if "runs_last" in item.keywords:  # saturates the cores: after the rest, when the other worker is done
            return 2
        return 1 if Path(str(item.fspath)).name in LATE_BROWSER_MODULES else 0

    items.sort(key=rank)  # stable: collection order within each rank


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only UCI reference files beside the checkout (tests only; never the product)."""
    if not (SHARED_DATA / "processed.cleveland.data").exists():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA
