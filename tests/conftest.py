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


@pytest.fixture(autouse=True)
def router_mode_kept(monkeypatch):
    """Keep AppTest in st.navigation mode between runs, as the real server is.

    AppTest resets PagesManager.uses_pages_directory before every run, so with a pages/ folder
    beside app.py each run after the first starts in legacy multipage mode; the page's first
    state getter (dashboard.state.require_router) then reruns the script, and that rerun drops
    the click being tested. A real server keeps the flag off once app.py's st.navigation ran
    (the browser tests check the direct-URL case on a fresh server).
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
