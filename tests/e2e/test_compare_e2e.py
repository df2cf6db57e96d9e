"""The comparison page in Chromium: run a small comparison, see the leaderboard and every chart; a longer one
runs on while the user visits another page, and one whose browser closes is cancelled and frees its slot."""

from __future__ import annotations

import re
import time

import pytest

from model.evaluation.comparison import ANN_NAME, DEFAULT_MODELS

from .conftest import APP_IDLE_TIMEOUT_MS, new_app_context, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

KEPT = ("Logistic regression", "Random forest", ANN_NAME)  # tens of seconds on 5 x n folds: a long comparison
SMALL = ("Logistic regression", "Decision tree", ANN_NAME)  # seconds: a linear model, a tree and the network
FORM = "[data-testid='stForm']"
TAG = "[data-tag]"


def _remove_models(page, names) -> None:
    for name in names:
        page.locator(FORM).get_by_role("button", name=f"Remove {name}", exact=True).click()
    page.wait_for_timeout(200)


def _set_number(page, label: str, value: int) -> None:
    box = page.locator(FORM).get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")


def _open(page, app_server) -> None:
    page.goto(f"{app_server}/compare")
    wait_for_app(page)
    page.get_by_role("heading", name="Classical ML vs deep learning").wait_for()


PHONE = {"width": 390, "height": 1600}


def test_a_small_comparison_shows_the_leaderboard_and_its_charts(page, app_server):
    _open(page, app_server)
    _remove_models(page, [n for n in DEFAULT_MODELS if n not in SMALL])
    assert page.locator(FORM).locator(TAG).count() == len(SMALL)
    _set_number(page, "Folds", 3)
    _set_number(page, "Repeats", 1)
    page.get_by_role("button", name="Run comparison").click()
    wait_for_app(page)

    board = page.locator("[data-testid='stDataFrame']").first
    board.wait_for(state="visible")
    page.get_by_text("has the highest mean ROC AUC").wait_for()
    # The result streams in element by element: wait for the button, then check there is one.
    page.get_by_text("Download the leaderboard (CSV)").wait_for()
    assert page.get_by_text("Download the leaderboard (CSV)").count() == 1
    screenshot(page, "compare-leaderboard")

    for tab, name in (
        ("ROC & calibration", "roc"),
        ("Learning curves", "learning"),
        ("Permutation importance", "importance"),
    ):
        page.get_by_role("tab", name=tab).click()
        panel = page.locator("[role='tabpanel']:visible")
        panel.locator("[data-testid='stPlotlyChart']").first.wait_for(state="visible")
        screenshot(page, f"compare-{name}")
    assert page.locator("[role='tabpanel']:visible [data-testid='stPlotlyChart']").count() >= 2

    for tab, name, text in (
        ("Decision curves", "decision-curves", "Treat all"),
        ("Subgroups", "subgroups", "All patients"),
    ):
        page.get_by_role("tab", name=tab).click()
        panel = page.locator("[role='tabpanel']:visible")
        chart = panel.locator("[data-testid='stPlotlyChart']").first
        chart.wait_for(state="visible")
        # In the chart (the legend, the forest plot's rows): a table's cells are drawn on a canvas, and its
        # text sits in hidden accessibility elements.
        chart.get_by_text(text).first.wait_for()
        screenshot(page, f"compare-{name}")

    # A clinician reading on a phone: both decision tabs fit its width (charts, tables and their labels).
    desktop = page.viewport_size
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    for tab, name in (("Decision curves", "decision-curves"), ("Subgroups", "subgroups")):
        page.get_by_role("tab", name=tab).click()
        panel = page.locator("[role='tabpanel']:visible")
        chart = panel.locator("[data-testid='stPlotlyChart']").first
        chart.wait_for(state="visible")
        page.wait_for_timeout(300)
        box = chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, box
        for title in chart.locator(".gtitle, .xtitle").all():  # Plotly's chart and x-axis titles: not cut off
            text = title.bounding_box()
            assert text is not None and text["x"] >= 0 and text["x"] + text["width"] <= PHONE["width"], text
        screenshot(page, f"compare-{name}-phone")
    page.set_viewport_size(desktop)
    page.wait_for_timeout(300)

    page.get_by_role("tab", name="Classical ML vs deep learning").click()
    page.locator("[role='tabpanel']:visible").get_by_text("Data size").first.wait_for()
    screenshot(page, "compare-evidence")

    page.get_by_role("tab", name="External validation").click()
    page.get_by_text("Load the four UCI sites").wait_for()

    # Leaving the page and coming back (same browser session) shows the same result at once.
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.get_by_text("Data exploration").click()
    wait_for_app(page)
    nav.get_by_text("Classical ML vs deep learning").click()
    wait_for_app(page)
    page.get_by_text("has the highest mean ROC AUC").wait_for()
    assert page.locator("[data-testid='stException']").count() == 0


def test_no_model_selected_gets_a_clear_message(page, app_server):
    _open(page, app_server)
    _remove_models(page, list(DEFAULT_MODELS))
    page.get_by_role("button", name="Run comparison").click()
    wait_for_app(page)
    page.get_by_text("Choose at least one model to compare.").wait_for()
    screenshot(page, "compare-no-model")


def _load_four_sites(page, app_server, folder) -> None:
    """Upload the four reference files on the exploration page (they become the session's sites)."""
    page.goto(f"{app_server}/explore")
    wait_for_app(page)
    page.get_by_text("Change the data").click()
    page.get_by_role("tab", name="Four UCI sites").click()
    uploads = [
        dict(name=p.name, mimeType="text/plain", buffer=p.read_bytes()) for p in sorted(folder.glob("processed.*.data"))
    ]
    site_uploader = page.locator("[data-testid='stFileUploader']").nth(1)
    site_uploader.locator("input[type=file]").set_input_files(uploads)
    wait_for_app(page)
    page.get_by_text("920 patients").first.wait_for()


def test_external_validation_after_loading_the_four_sites(page, app_server, shared_data_dir):
    _load_four_sites(page, app_server, shared_data_dir)
    page.locator("[data-testid='stSidebarNav']").get_by_text("Classical ML vs deep learning").click()
    wait_for_app(page)
    _remove_models(page, [n for n in DEFAULT_MODELS if n not in ("Logistic regression", ANN_NAME)])
    _set_number(page, "Folds", 3)
    _set_number(page, "Repeats", 1)
    page.get_by_role("button", name="Run comparison").click()
    wait_for_app(page)
    page.get_by_role("tab", name="External validation").click()
    panel = page.locator("[role='tabpanel']:visible")
    panel.get_by_text("mostly missing").first.wait_for()
    assert panel.get_by_text("Serum cholesterol (100% missing").count() == 1
    panel.locator("[data-testid='stPlotlyChart']").nth(1).wait_for(state="visible")
    screenshot(page, "compare-external")


# ---- the life cycle of a comparison: in the background, across pages, ended with its session ------
SERVER_LOAD = re.compile(r"This server is running (\d+) of its \d+ trainings and comparisons")
LONG_RUN_MS = 600_000  # a comparison of three models on 5 × 2 folds, on a shared two-core machine


def _start_long_comparison(page, repeats: int) -> None:
    """Random forest, logistic regression and the ANN on 5 × `repeats` folds: tens of seconds of work.
    A long estimate asks first: confirm it."""
    _remove_models(page, [n for n in DEFAULT_MODELS if n not in KEPT])
    _set_number(page, "Repeats", repeats)
    page.get_by_role("button", name="Run comparison").click()
    # Either it starts (Stop) or, when the estimate is long on this machine, it asks first: wait for one.
    confirm = page.get_by_role("button", name="Start the comparison")
    confirm.or_(page.get_by_role("button", name="Stop")).first.wait_for()
    if confirm.count():
        assert page.get_by_text("Start it?").count() == 1
        screenshot(page, "compare-confirm-estimate")
        confirm.click()
        wait_for_app(page)


def _server_load(page) -> int:
    text = page.get_by_text(SERVER_LOAD).first.inner_text()
    return int(SERVER_LOAD.search(text).group(1))


def test_a_comparison_keeps_running_while_the_user_visits_another_page(page, app_server):
    _open(page, app_server)
    _start_long_comparison(page, repeats=2)  # long enough to be running when the user leaves
    page.get_by_role("button", name="Stop").wait_for()
    page.get_by_text(re.compile(r"Running · .* elapsed")).first.wait_for()
    screenshot(page, "compare-running")

    nav = page.locator("[data-testid='stSidebarNav']")
    nav.get_by_text("Data exploration").click()
    wait_for_app(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("Comparison:").first.wait_for()
    screenshot(page, "compare-running-seen-from-explore")
    assert re.search(r"Comparison: (running|finished)", sidebar.inner_text()), sidebar.inner_text()

    nav.get_by_text("Classical ML vs deep learning").click()
    wait_for_app(page)
    # Back on the page: its progress (or, on a fast machine, already its result), never the empty form's invitation.
    assert page.get_by_text("Choose the models and the protocol").count() == 0
    page.get_by_text("has the highest mean ROC AUC").wait_for(timeout=LONG_RUN_MS)
    page.get_by_text(re.compile(r"Comparison finished in")).wait_for()
    assert page.get_by_text("The comparison was cancelled").count() == 0
    screenshot(page, "compare-result-after-coming-back")


def test_closing_the_browser_cancels_the_comparison_and_frees_its_slot(browser, app_server):
    watcher = new_app_context(browser)
    leaver = new_app_context(browser)
    try:
        observer = watcher.new_page()
        observer.set_default_timeout(APP_IDLE_TIMEOUT_MS)
        _open(observer, app_server)
        before = _server_load(observer)

        user = leaver.new_page()
        user.set_default_timeout(APP_IDLE_TIMEOUT_MS)
        _open(user, app_server)
        _start_long_comparison(user, repeats=20)
        user.get_by_role("button", name="Stop").wait_for()
        observer.reload()
        wait_for_app(observer)
        assert _server_load(observer) == before + 1  # the running comparison holds a slot

        leaver.close()  # every tab of that browser session closes: its heartbeats stop
        deadline = time.monotonic() + 180  # the watchdog gives up on a silent session after 15 s here
        while _server_load(observer) != before:
            assert time.monotonic() < deadline, "the closed session's comparison still holds its slot"
            observer.wait_for_timeout(2_000)
            observer.reload()
            wait_for_app(observer)
        screenshot(observer, "compare-slot-freed-after-close")
    finally:
        leaver.close()
        watcher.close()
