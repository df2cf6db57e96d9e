"""Driving the app in Chromium: the selectors and waits every browser test and benchmark uses.

A plain module (no pytest), shared by conftest.py and the benchmarks that drive a browser
(benchmarks/bench_server_memory.py, benchmarks/bench_concurrent_training.py).
"""
from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
APP_IDLE_TIMEOUT_MS = 120_000  # a page may train or cross-validate before it settles
APP_READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
NAV = "[data-testid='stSidebarNav'] a"


def wait_for_app(page) -> None:
    """Wait until the script has finished running, then check no exception block is shown."""
    # After an interaction the state goes running -> notRunning; give the rerun a moment to start.
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_READY, timeout=APP_IDLE_TIMEOUT_MS)
    exceptions = page.locator(EXCEPTION)
    if exceptions.count():
        raise AssertionError(f"the page shows an exception: {exceptions.first.inner_text()[:2000]}")


def open_page(page, title: str) -> None:
    """Navigate inside the same Streamlit session (a page.goto would start a new session)."""
    page.locator(NAV, has_text=title).first.click()
    wait_for_app(page)


def set_number(page, label: str, value) -> None:
    """Type a value into the number input labelled `label` and confirm it with Enter."""
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    wait_for_app(page)
