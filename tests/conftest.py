from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "uci-heart-disease"



def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only UCI reference files beside the checkout (tests only; never the product)."""
    if not (SHARED_DATA / "processed.cleveland.data").exists():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA
