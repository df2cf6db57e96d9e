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


VIEWPORT = {"width": 1400, "height": 1000}
# Grace for an interaction that starts no script run (opening a select box, typing without Enter).
NO_RERUN_GRACE_MS = 1500

# Runs in every page of a context made by new_app_context, before the app's own scripts. It records when
# the user last acted (pointer, key, change) and when a script run last started, by watching stApp's
# data-test-script-state attribute. wait_for_app then waits for a run that started after the last action
# to finish: the signal itself, rather than a fixed sleep hoping the rerun has begun by then.
RUN_TRACKER_JS = """
(() => {
  const runs = window.__appRuns = {input: 0, started: 0};
  for (const type of ["pointerdown", "keydown", "change"]) {
    addEventListener(type, () => { runs.input = performance.now(); }, true);
  }
  const watch = () => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app) return false;
    const note = () => {
      if (app.getAttribute("data-test-script-state") === "running") runs.started = performance.now();
    };
    note();
    new MutationObserver(note).observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
    return true;
  };
  const whenMounted = new MutationObserver(() => { if (watch()) whenMounted.disconnect(); });
  addEventListener("DOMContentLoaded", () => {
    if (!watch()) whenMounted.observe(document.body, {childList: true, subtree: true});
  });
})();
"""
SETTLED_JS = """
(grace) => {
  const runs = window.__appRuns;
  if (!runs) throw new Error("no run tracker in this page: make its context with new_app_context()");
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
  // Idle, and either a run began after the last action, or none did within the grace period.
  return runs.started >= runs.input || performance.now() - runs.input > grace;
}
"""


def new_app_context(browser, viewport: dict | None = None):
    """A browser context (one Streamlit session per page) whose pages report their script runs."""
    context = browser.new_context(viewport=viewport or VIEWPORT)
    context.add_init_script(RUN_TRACKER_JS)
    return context


def wait_for_app(page) -> None:
    """Wait until the script run caused by the last action has finished; check no exception block is shown."""
    page.wait_for_function(SETTLED_JS, arg=NO_RERUN_GRACE_MS, timeout=APP_IDLE_TIMEOUT_MS, polling=100)
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


def choose(page, label: str, option: str) -> None:
    """Open the select box labelled `label` and pick `option` (a click on its text field opens the list;
    its arrow button, when the list did not open, as a person would try next)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_label(label, exact=True))
    wanted = page.get_by_role("option", name=option, exact=True)
    for opener in (box.get_by_role("combobox"), box.get_by_role("button", name="Open")):
        opener.click()
        try:
            wanted.wait_for(timeout=5_000)
            break
        except PlaywrightTimeoutError:
            continue
    wanted.click()
    wait_for_app(page)
