"""Browser tests: a real `streamlit run app.py` driven by Debian's Chromium through Playwright.

Fixtures: `app_server` (URL of a server started for the test session), `browser`, `page`.
Helpers: `wait_for_app(page)`, `screenshot(page, name)` (PNG under tests/e2e/artifacts/, git-ignored).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_TIMEOUT_S = 120   # first start imports torch
APP_IDLE_TIMEOUT_MS = 120_000  # a page may train or cross-validate before it settles
APP_READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
SCREENSHOT_MAX_HEIGHT = 6000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def app_server():
    """Start the dashboard on a free localhost port; yield its URL; stop it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = ARTIFACTS / "streamlit-server.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _healthy(url):
                if process.poll() is not None:
                    pytest.fail(f"streamlit exited with {process.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not answer /_stcore/health within {SERVER_START_TIMEOUT_S} s")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
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


def wait_for_app(page) -> None:
    """Wait until the script has finished running, then check no exception block is shown."""
    # After an interaction the state goes running -> notRunning; give the rerun a moment to start.
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_READY, timeout=APP_IDLE_TIMEOUT_MS)
    exceptions = page.locator(EXCEPTION)
    if exceptions.count():
        raise AssertionError(f"the page shows an exception: {exceptions.first.inner_text()[:2000]}")


def screenshot(page, name: str) -> Path:
    """Save the whole page. Streamlit scrolls inside its main block, so the viewport is stretched to fit it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    viewport = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll(\"[data-testid='stMain'], [data-testid='stSidebarContent']\")]"
        ".map(e => e.scrollHeight), window.innerHeight)")
    page.set_viewport_size({"width": viewport["width"], "height": min(int(height), SCREENSHOT_MAX_HEIGHT)})
    page.wait_for_timeout(500)  # let Plotly re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    return path
