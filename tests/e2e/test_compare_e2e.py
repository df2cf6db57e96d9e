"""The comparison page in Chromium: run a small comparison, see the leaderboard and every chart."""
from __future__ import annotations

import pytest

from model.comparison import ANN_NAME, DEFAULT_MODELS

from .conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e

KEPT = ("Logistic regression", "Random forest", ANN_NAME)
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


def test_a_small_comparison_shows_the_leaderboard_and_its_charts(page, app_server):
    _open(page, app_server)
    _remove_models(page, [n for n in DEFAULT_MODELS if n not in KEPT])
    assert page.locator(FORM).locator(TAG).count() == len(KEPT)
    _set_number(page, "Folds", 3)
    _set_number(page, "Repeats", 1)
    page.get_by_role("button", name="Run comparison").click()
    wait_for_app(page)

    board = page.locator("[data-testid='stDataFrame']").first
    board.wait_for(state="visible")
    page.get_by_text("has the highest mean ROC AUC").wait_for()
    assert page.get_by_text("Download the leaderboard (CSV)").count() == 1
    screenshot(page, "compare-leaderboard")

    for tab, name in (("ROC & calibration", "roc"), ("Learning curves", "learning"),
                      ("Permutation importance", "importance")):
        page.get_by_role("tab", name=tab).click()
        panel = page.locator("[role='tabpanel']:visible")
        panel.locator("[data-testid='stPlotlyChart']").first.wait_for(state="visible")
        screenshot(page, f"compare-{name}")
    assert page.locator("[role='tabpanel']:visible [data-testid='stPlotlyChart']").count() >= 2

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
    uploads = [dict(name=p.name, mimeType="text/plain", buffer=p.read_bytes()) for p in
               sorted(folder.glob("processed.*.data"))]
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
