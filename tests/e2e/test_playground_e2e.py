"""Drive the playground in Chromium as a demo would: build a network with the knobs beside the charts,
step one epoch, continue, read the neuron view, run a lesson, and open the shared link in a second
browser (a fresh session) to find the same setup."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from .browser import APP_IDLE_TIMEOUT_MS, choose, new_app_context, wait_for_app
from .conftest import open_page, screenshot

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_MS = 180_000
NEURON_VIEW = "[data-testid='stImage'] img"


def _type(page, label: str, text: str) -> float:
    """Type into a text or number field and press Enter; the seconds until the page settled."""
    field = page.get_by_label(label, exact=True)
    field.fill(text)
    started = time.monotonic()
    field.press("Enter")
    wait_for_app(page)
    return time.monotonic() - started


def test_step_continue_and_the_neuron_view_on_a_spiral(page):
    open_page(page, "Train and watch")
    choose(page, "Data", "Spiral")
    seconds = _type(page, "Hidden layers: units per layer", "8, 8, 8")
    page.get_by_text(re.compile(r"8 relu[^→]*→ 8 relu[^→]*→ 8 relu")).first.wait_for()
    page.locator(NEURON_VIEW).first.wait_for()  # the network before training, redrawn with the knobs
    page.get_by_text("in the input plane · epoch 0").first.wait_for()
    # Measured, not asserted: from Enter to the page (summary and network diagram) redrawn.
    print(f"three hidden layers typed -> diagram updated in {seconds:.2f} s")
    _type(page, "Epochs", "150")
    choose(page, "Activation", "tanh")
    page.get_by_text(re.compile(r"8 tanh[^→]*→ 8 tanh[^→]*→ 8 tanh")).first.wait_for()

    page.get_by_role("button", name="One epoch").click()
    page.get_by_text(re.compile(r"Run 1 paused after epoch 1 of 150")).wait_for(timeout=RUN_TIMEOUT_MS)
    page.locator(NEURON_VIEW).first.wait_for()
    page.get_by_text("in the input plane · epoch 1").first.wait_for()
    screenshot(page, "playground-paused-epoch-1")

    page.get_by_role("button", name="One epoch").click()
    page.get_by_text(re.compile(r"Run 1 paused after epoch 2 of 150")).wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_role("button", name="Continue").click()
    page.get_by_text(re.compile(r"Run 1 finished 150 epochs")).wait_for(timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    assert page.locator(NEURON_VIEW).count() == 1
    page.get_by_text("Validation accuracy").first.wait_for()
    screenshot(page, "playground-finished")


def test_a_lesson_runs_in_one_click_and_its_link_opens_the_same_setup_elsewhere(page, browser, app_server):
    open_page(page, "Train and watch")
    # The lessons' expander is open on a first visit.
    page.get_by_role("button", name="One hidden layer learns XOR").click()
    wait_for_app(page)
    page.get_by_text("One hidden layer learns XOR.").wait_for()
    page.get_by_text(re.compile(r"Run 1 finished 300 epochs")).wait_for(timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    screenshot(page, "playground-lesson-xor")

    link = page.locator("[data-testid='stCode'] code").first.inner_text().strip()
    assert link.startswith("http") and "data=xor" in link and "layers=8tanh" in link
    other = new_app_context(browser)
    try:
        second = other.new_page()
        second.set_default_timeout(APP_IDLE_TIMEOUT_MS)
        second.goto(link)
        wait_for_app(second)
        second.get_by_text("Setup restored from the shared link").wait_for()
        wait_for_app(second)
        expect(second.get_by_label("Hidden layers: units per layer", exact=True)).to_have_value(
            "8", timeout=APP_IDLE_TIMEOUT_MS
        )
        second.get_by_text("8 tanh, adam lr 0.03, full batch, 300 epochs").first.wait_for()
        screenshot(second, "playground-shared-link")

        second.goto(app_server.rstrip("/") + "/train?data=moons&lr=banana&epochs=-4")
        wait_for_app(second)
        second.get_by_text("part of it could not be used").wait_for()
        assert second.locator("[data-testid='stException']").count() == 0
        screenshot(second, "playground-bad-link")
    finally:
        other.close()
