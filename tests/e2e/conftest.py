"""Browser tests: a real `streamlit run app.py` driven by Debian's Chromium through Playwright.

Fixtures: `app_server` (URL of a server started for the test session), `browser`, `page`.
Helpers: `wait_for_app(page)`, `open_page(page, title)` (sidebar navigation, same session) and
`set_number(page, label, value)` from browser.py (shared with the benchmarks), and
`screenshot(page, name)` (PNG under tests/e2e/artifacts/, git-ignored).
Starting and stopping a server: tests/e2e/server.py (shared with benchmarks/bench_server_memory.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from model.runtime.jobs import HEARTBEAT_TIMEOUT_ENV

from .browser import (  # noqa: F401  (re-exported for the test modules)
    APP_IDLE_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    NAV,
    new_app_context,
    open_page,
    set_number,
    wait_for_app,
)
from .server import REPO, ServerStartError, start_server, stop_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# A comparison whose browser closed is cancelled after this much silence (45 s by default): the test of it
# then waits 15 s, not 45 s, with a comparison taking both cores.
SILENT_SESSION_TIMEOUT_S = "15"
SCREENSHOT_MAX_HEIGHT = 6000


@pytest.fixture(scope="session")
def app_server():
    """Start the dashboard on a free localhost port; yield its URL; stop it afterwards."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        server = start_server(
            "app.py",
            REPO,
            log_path=ARTIFACTS / "streamlit-server.log",
            env={HEARTBEAT_TIMEOUT_ENV: SILENT_SESSION_TIMEOUT_S},
        )
    except ServerStartError as error:
        pytest.fail(str(error))
    try:
        yield server.url
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        # On a developer's machine the browser tests are optional; in CI a missing browser is a failure.
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run must install it")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, app_server):
    """A fresh browser context (= a fresh Streamlit session) on the app's landing page."""
    context = new_app_context(browser)
    tab = context.new_page()
    tab.set_default_timeout(APP_IDLE_TIMEOUT_MS)
    tab.goto(app_server)
    wait_for_app(tab)
    yield tab
    context.close()


@pytest.fixture
def browser_page(page):
    """The contract's name for `page`."""
    return page


def screenshot(page, name: str) -> Path:
    """Save the whole page. Streamlit scrolls inside its main block, so the viewport is stretched to fit it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    viewport = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll(\"[data-testid='stMain'], [data-testid='stSidebarContent']\")]"
        ".map(e => e.scrollHeight), window.innerHeight)"
    )
    page.set_viewport_size({"width": viewport["width"], "height": min(int(height), SCREENSHOT_MAX_HEIGHT)})
    page.wait_for_timeout(500)  # let Plotly re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    return path
