"""Drive the running dashboard in Chromium: every page opens cleanly; CSV uploads give their messages."""

from __future__ import annotations

import re

import pytest

from model.data.codings import uci_to_kaggle
from model.data.datasets import load_dataset

from .conftest import NAV, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

SIDEBAR = "[data-testid='stSidebar']"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"


def test_every_page_in_the_navigation_opens_without_an_exception(page):
    links = page.locator(NAV)
    # A link's text also holds its icon's ligature name ("home\n\nStart here"); the last line is the title.
    titles = [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]
    assert len(titles) >= 2, f"expected the landing page and the exploration page at least; got {titles}"
    for index, title in enumerate(titles):
        links.nth(index).click()
        wait_for_app(page)  # raises if an exception block is shown
        assert page.locator(SIDEBAR).get_by_text("Dataset:").count() == 1, f"no sidebar status on {title}"
        screenshot(page, f"page-{_slug(title)}")


def test_exploration_tabs_draw_their_charts(page, app_server):
    page.goto(f"{app_server}/explore")
    wait_for_app(page)
    for tab in ["Overview", "Distributions", "Associations", "Correlations", "PCA", "Data quality"]:
        page.get_by_role("tab", name=tab).click()
        panel = page.locator("[role='tabpanel']:visible")
        if tab != "Data quality":
            panel.locator("[data-testid='stPlotlyChart']").first.wait_for(state="visible")
        screenshot(page, f"explore-{_slug(tab)}")
    assert page.locator("[data-testid='stException']").count() == 0


def _upload(page, name: str, data: bytes) -> None:
    uploader = page.locator("[data-testid='stFileUploader']").first
    uploader.locator("input[type=file]").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
    wait_for_app(page)


def test_a_valid_csv_becomes_the_dataset_and_an_invalid_one_changes_nothing(page, app_server):
    page.goto(f"{app_server}/explore")
    wait_for_app(page)
    page.get_by_text("Change the data").click()

    kaggle = uci_to_kaggle(load_dataset("cleveland")).to_csv(index=False).encode()
    _upload(page, "kaggle_heart.csv", kaggle)
    page.get_by_text("kaggle_heart.csv is now the dataset for every page").wait_for()
    assert page.get_by_text("Codings were converted to the UCI coding").count() == 1
    assert page.locator(SIDEBAR).get_by_text("Uploaded: kaggle_heart.csv").count() == 1
    screenshot(page, "upload-valid")

    _upload(page, "wrong_columns.csv", b"foo,bar\n1,2\n3,4\n")
    page.get_by_text("wrong_columns.csv was not used").wait_for()
    assert page.get_by_text("missing column(s)").count() >= 1
    assert page.get_by_text("Nothing changed: still using").count() == 1
    assert page.locator(SIDEBAR).get_by_text("Uploaded: kaggle_heart.csv").count() == 1
    screenshot(page, "upload-invalid")


def test_uploaded_uci_sites_are_explored_by_site(page, app_server, shared_data_dir):
    page.goto(f"{app_server}/explore")
    wait_for_app(page)
    page.get_by_text("Change the data").click()
    page.get_by_role("tab", name="Four UCI sites").click()
    files = [
        {"name": path.name, "mimeType": "application/octet-stream", "buffer": path.read_bytes()}
        for path in sorted(shared_data_dir.glob("processed.*.data"))
    ]
    page.locator("[data-testid='stFileUploader']").nth(1).locator("input[type=file]").set_input_files(files)
    wait_for_app(page)
    page.get_by_text("920 patients").first.wait_for()
    assert page.locator(SIDEBAR).get_by_text("four sites").count() == 1
    page.get_by_role("tab", name="Sites", exact=True).click()
    page.locator("[role='tabpanel']:visible [data-testid='stPlotlyChart']").first.wait_for(state="visible")
    screenshot(page, "explore-sites")


def test_the_public_1025_row_copy_is_deduplicated_with_one_button_and_restored(page, app_server):
    from _kaggle_copy import kaggle_1025_bytes

    page.goto(f"{app_server}/explore")
    wait_for_app(page)
    page.get_by_text("Change the data").click()
    _upload(page, "heart_1025.csv", kaggle_1025_bytes())
    page.get_by_text("heart_1025.csv is now the dataset for every page").wait_for()
    page.get_by_text("1,025 of 1,025 patients selected").wait_for()
    page.get_by_role("tab", name="Data quality").click()
    panel = page.locator("[role='tabpanel']:visible")
    panel.get_by_text("723 rows repeat an earlier patient").wait_for()
    screenshot(page, "dedup-before")

    panel.get_by_role("button", name="Remove 723 repeated rows").click()
    wait_for_app(page)
    page.get_by_text("302 of 302 patients selected").wait_for()
    assert page.get_by_text("Removed 723 rows that repeated an earlier patient").count() == 1
    assert page.locator(SIDEBAR).get_by_text("(repeats removed)").count() == 1
    screenshot(page, "dedup-after")

    page.get_by_role("tab", name="Data quality").click()
    page.locator("[role='tabpanel']:visible").get_by_role("button", name="Restore the 723 removed rows").click()
    wait_for_app(page)
    page.get_by_text("1,025 of 1,025 patients selected").wait_for()
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "dedup-restored")
