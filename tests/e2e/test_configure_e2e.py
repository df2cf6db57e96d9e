"""Drive the Configure page in Chromium: fields hidden by one optimizer and shown by another come back
with their own values, and the Train and Compare pages show (and train) exactly what the form shows."""

from __future__ import annotations

import pytest

from .browser import choose
from .conftest import open_page, screenshot, set_number, wait_for_app

pytestmark = pytest.mark.e2e

BETA1, BETA2, EPS = "β₁ (0 ≤ β₁ < 1)", "β₂ (0 ≤ β₂ < 1)", "Epsilon ε ∈ (0, 1]"
BATCH, EPOCHS = "Batch size (1–100,000)", "Epochs (1–5,000)"
FULL_BATCH = "Full batch (the whole training part per step)"
ALERT = "[data-testid='stAlert']"


def shown(page, label: str) -> str:
    return page.get_by_label(label, exact=True).input_value()


def alerts(page) -> list[str]:
    return [alert.inner_text() for alert in page.locator(ALERT).all()]


def test_sgd_then_momentum_then_adam_trains_what_the_form_shows(page):
    open_page(page, "Configure a network")
    for optimizer in ("Mini-batch SGD", "SGD with momentum", "Adam"):
        choose(page, "Optimizer", optimizer)
    assert (shown(page, BETA1), shown(page, BETA2), shown(page, EPS)) == ("0.9", "0.999", "1.0e-8")
    assert alerts(page) == []

    page.get_by_text(FULL_BATCH).click()
    wait_for_app(page)
    set_number(page, BATCH, 16)
    set_number(page, EPOCHS, 3000)
    assert alerts(page) == []  # every edit taken, none refused
    assert (shown(page, BETA1), shown(page, BATCH), shown(page, EPOCHS)) == ("0.9", "16", "3000")
    page.get_by_text("equals none of the presets").wait_for()
    assert page.locator("[data-testid='stBaseButton-primary']").count() == 0  # no preset highlighted
    screenshot(page, "configure-adam-after-sgd-and-momentum")

    open_page(page, "Train and watch")
    page.get_by_text("adam lr 0.01, batch 16, 3000 epochs").wait_for()
    assert page.get_by_role("button", name="Play").count() == 1
    screenshot(page, "configure-train-header")

    open_page(page, "Classical ML vs deep learning")
    page.get_by_text("adam lr 0.01, batch 16, 3000 epochs").first.wait_for()

    open_page(page, "Configure a network")  # going away and back keeps the form
    assert (shown(page, BETA1), shown(page, BETA2), shown(page, EPS)) == ("0.9", "0.999", "1.0e-8")
    assert (shown(page, BATCH), shown(page, EPOCHS)) == ("16", "3000")
    assert page.get_by_label("Optimizer", exact=True).input_value() == "Adam"
    assert alerts(page) == []


def test_a_configuration_with_errors_is_refused_by_the_train_page(page):
    open_page(page, "Configure a network")
    set_number(page, EPS, 0)
    page.get_by_text("must be in (0, 1]; got 0.0").wait_for()
    set_number(page, EPOCHS, 120)  # a later edit is taken, not silently ignored
    assert shown(page, EPOCHS) == "120"

    open_page(page, "Train and watch")
    page.get_by_text("This configuration cannot be trained").wait_for()
    page.get_by_text("120 epochs").first.wait_for()
    assert page.get_by_role("button", name="Play").count() == 0
    screenshot(page, "configure-train-refused")
    page.get_by_role("link", name="Fix it on the Configure page").click()
    wait_for_app(page)
    assert shown(page, EPS) == "0.0e+0"  # the bad value is still there to fix
    set_number(page, EPS, 1e-8)
    assert alerts(page) == []

    open_page(page, "Train and watch")
    page.get_by_role("button", name="Play").wait_for()
    page.get_by_text("120 epochs").first.wait_for()
