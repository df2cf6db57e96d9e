"""In Chromium: a CSV that fits both the UCI and the Kaggle coding is shown in both readings, and the choice is read."""

from __future__ import annotations

import pytest

from model.data.codings import uci_to_kaggle
from model.data.datasets import load_dataset

from .conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e

SIDEBAR = "[data-testid='stSidebar']"


def ambiguous_kaggle_rows(n_rows: int = 12):
    """Rows of the Kaggle copy whose every code is also a valid UCI code: too few for the target to decide."""
    kaggle = uci_to_kaggle(load_dataset("cleveland"))
    fits_both = (kaggle["cp"] != 0) & (kaggle["slope"] != 0) & (kaggle["ca"] != 4) & ~kaggle["thal"].isin([0, 1, 2])
    # a third with Kaggle target 0 (disease): the two readings imply different prevalences
    with_disease = kaggle[fits_both & (kaggle["target"] == 0)].index[: n_rows // 3]
    without = kaggle[fits_both & (kaggle["target"] == 1)].index[: n_rows - n_rows // 3]
    return kaggle.loc[with_disease.union(without)]


def test_an_ambiguous_file_is_previewed_in_both_codings_and_read_as_chosen(page, app_server):
    rows = ambiguous_kaggle_rows()
    n_rows, n_one = len(rows), int(rows["target"].sum())
    uci_share, kaggle_share = n_one / n_rows, (n_rows - n_one) / n_rows
    page.goto(f"{app_server}/explore")
    wait_for_app(page)
    page.get_by_text("Change the data").click()
    uploader = page.locator("[data-testid='stFileUploader']").first
    uploader.locator("input[type=file]").set_input_files(
        {"name": "heart_subset.csv", "mimeType": "text/csv", "buffer": rows.to_csv(index=False).encode()}
    )
    wait_for_app(page)

    page.get_by_text("heart_subset.csv fits two codings").wait_for()
    page.get_by_text("Read as UCI coding").wait_for()
    page.get_by_text("Read as Kaggle coding").wait_for()
    uci_text = f"disease in {n_one} of {n_rows} patients ({100 * uci_share:.1f} %)"
    kaggle_text = f"disease in {n_rows - n_one} of {n_rows} patients ({100 * kaggle_share:.1f} %)"
    assert page.get_by_text(uci_text).count() == 1 and page.get_by_text(kaggle_text).count() == 1
    assert page.locator("[data-testid='stDataFrame']").count() >= 2
    assert page.locator(SIDEBAR).get_by_text("Cleveland (built-in)").count() == 1  # nothing changed yet
    screenshot(page, "import-coding-choice")

    page.get_by_role("button", name="Use the Kaggle reading").click()
    wait_for_app(page)
    page.get_by_text("heart_subset.csv is now the dataset for every page").wait_for()
    assert page.get_by_text("read in the Kaggle coding as you chose").count() == 1
    assert page.locator(SIDEBAR).get_by_text("Uploaded: heart_subset.csv").count() == 1
    metric = page.locator("[data-testid='stMetric']").filter(has_text="With disease")
    assert f"{kaggle_share:.0%}" in metric.first.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "import-coding-chosen")
