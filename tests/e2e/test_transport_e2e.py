"""The "Other hospitals" page in Chromium: load the sites, compare full and reduced models, recalibrate to a
site, use the recalibrated network, and see the Patient risk page answer with it."""

from __future__ import annotations

import pytest

from .conftest import open_page, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

UPLOADER = "[data-testid='stFileUploader']"


def test_compare_recalibrate_and_use_the_recalibrated_model(page, app_server, shared_data_dir):
    page.goto(f"{app_server}/transport")
    wait_for_app(page)
    page.get_by_role("heading", name="Other hospitals").wait_for()
    page.get_by_text("Load the UCI sites").wait_for()
    screenshot(page, "transport-start")

    uploads = [
        dict(name=p.name, mimeType="text/plain", buffer=p.read_bytes())
        for p in sorted(shared_data_dir.glob("processed.*.data"))
    ]
    page.locator(UPLOADER).filter(has_text="upload processed").locator("input[type=file]").set_input_files(uploads)
    wait_for_app(page)
    page.get_by_role("button", name="Compare full and reduced models").click()
    wait_for_app(page)
    page.get_by_role("heading", name="Full vs reduced models at each site").wait_for()
    page.get_by_text("the reduced models are trained without").first.wait_for()
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for(state="visible")
    screenshot(page, "transport-full-vs-reduced")

    page.get_by_role("button", name="Recalibrate", exact=True).click()
    wait_for_app(page)
    page.get_by_text("After (cross-validated)").first.wait_for(state="attached")  # a cell of the table (canvas)
    page.get_by_text("logit p′ =").first.wait_for()
    page.get_by_text("How many local patients").first.wait_for()
    screenshot(page, "transport-recalibrated")

    page.get_by_role("button", name="Use the recalibrated model").click()
    wait_for_app(page)
    page.get_by_text("will replace").wait_for()
    page.get_by_role("button", name="Yes, use it").click()
    wait_for_app(page)
    page.get_by_text("is now this session's active model").wait_for()
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_by_text("recalibrated to Hungarian Institute of Cardiology").count() >= 1

    open_page(page, "Patient risk")
    page.get_by_role("heading", name="Patient risk").wait_for()
    main = page.locator("[data-testid='stMain']")
    main.get_by_text("recalibrated to Hungarian Institute of Cardiology").first.wait_for()
    page.get_by_role("tab", name="Model card").click()
    page.get_by_text("Recalibrated to Hungarian Institute of Cardiology").first.wait_for()
    screenshot(page, "transport-patient-risk")
