"""The hyper-parameter search on the Configure page in Chromium: a tiny search runs to its result, and
"Use the best configuration" puts it in the form; screenshots at desktop width and at a phone's 390 px."""

from __future__ import annotations

import pytest

from .conftest import APP_IDLE_TIMEOUT_MS, open_page, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

SECTION = "…or let a search find good settings (Optuna)"
FORM = "[data-testid='stForm']"
PHONE = {"width": 390, "height": 844}


def _set_number(page, label: str, value: int) -> None:
    box = page.locator(FORM).get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab")  # not Enter: in a form, Enter submits it


def test_a_tiny_search_finishes_and_its_best_configuration_fills_the_form(page):
    open_page(page, "Configure a network")
    page.get_by_text(SECTION).click()
    _set_number(page, "Trials (1–300)", 3)
    _set_number(page, "Folds per trial (2–10)", 2)
    _set_number(page, "Longest training (epochs, 2–1,000)", 5)
    page.get_by_role("button", name="Start the search").click()

    use = page.get_by_role("button", name="Use the best configuration")
    use.wait_for(timeout=APP_IDLE_TIMEOUT_MS)
    wait_for_app(page)
    page.get_by_text("Best ROC AUC:").wait_for()
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 3  # trials, importances, the form's own
    best_line = page.locator("[data-testid='stMarkdown']", has_text="Best configuration:").inner_text()

    use.click()
    wait_for_app(page)
    page.get_by_text("The form now shows the best configuration").wait_for()
    page.get_by_text("In use: the form below shows it").wait_for()
    epochs = page.get_by_label("Epochs (1–5,000)", exact=True).input_value()
    assert f", {epochs} epochs" in best_line  # the form shows the search's winner
    screenshot(page, "search-result-desktop")

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)  # let Plotly re-layout
    screenshot(page, "search-result-390px")
