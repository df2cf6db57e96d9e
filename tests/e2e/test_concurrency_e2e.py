"""Many users at once, in Chromium: five browser contexts (five Streamlit sessions) configure
different networks and train them concurrently on one server. Four runs take every training
slot (limits.MAX_CONCURRENT_TRAININGS); the fifth session meets the cap with a polite message,
and its retry succeeds as soon as one of the four is stopped, finishing while the other three
still train. No session sees another's data, runs or model.

The four long runs are ended with Stop rather than waited for, so nothing here races the
machine's speed: a slow CI runner only makes the fifth run take longer.

Also: a page opened by its own URL on a fresh server runs inside the app (router, navigation,
sidebar), not as a bare script of the legacy pages/ folder."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest

from model.data.datasets import load_dataset
from model.runtime.limits import MAX_BATCH_SIZE, MAX_CONCURRENT_TRAININGS, MAX_EPOCHS

from .conftest import APP_IDLE_TIMEOUT_MS, NAV, new_app_context, open_page, screenshot, set_number, wait_for_app
from .server import REPO, start_server, stop_server

pytestmark = pytest.mark.e2e

SIDEBAR = "[data-testid='stSidebar']"
CHART = "[data-testid='stPlotlyChart']"
RUN_TIMEOUT_MS = 300_000  # the fifth run shares two cores with three trainings and five live pages
SESSIONS = 5
BATCH = 4  # ~60 gradient steps per epoch
LONG_EPOCHS = MAX_EPOCHS - 1_000  # sessions 0-3: minutes of work each, ended by Stop
SHORT_EPOCHS = 5  # the fifth session: runs to the end beside the other three
UPLOADED_ROWS = 250  # session 0 trains on its own upload: the first rows of the built-in file
EPOCHS_LABEL = f"Epochs (1–{MAX_EPOCHS:,})"
BATCH_LABEL = f"Batch size (1–{MAX_BATCH_SIZE:,})"
BUSY = f"The server is already training {MAX_CONCURRENT_TRAININGS} networks (its limit)"
FIFTH = MAX_CONCURRENT_TRAININGS


def _units(i: int) -> int:
    return 8 + 4 * i


def _epochs(i: int) -> int:
    return SHORT_EPOCHS if i == FIFTH else LONG_EPOCHS + 100 * i


def _summary(i: int) -> str:
    """The one-line configuration model.serving.runs.config_summary gives session i's network."""
    return f"{_units(i)} relu, adam lr 0.01, batch {BATCH}, {_epochs(i)} epochs"


def _configure(page, i: int) -> None:
    open_page(page, "Configure a network")
    page.get_by_role("button", name="One hidden layer").click()
    wait_for_app(page)
    page.get_by_text("Preset loaded: One hidden layer.").wait_for()
    set_number(page, "Units", _units(i))
    set_number(page, BATCH_LABEL, BATCH)
    set_number(page, EPOCHS_LABEL, _epochs(i))
    open_page(page, "Train and watch")
    page.get_by_text(_summary(i)).first.wait_for()


def _upload_subset(page) -> None:
    open_page(page, "Data exploration")
    page.get_by_text("Change the data").click()
    data = load_dataset("cleveland").head(UPLOADED_ROWS).to_csv(index=False).encode()
    uploader = page.locator("[data-testid='stFileUploader']").first
    uploader.locator("input[type=file]").set_input_files(
        {"name": "session0.csv", "mimeType": "text/csv", "buffer": data}
    )
    wait_for_app(page)
    page.get_by_text("session0.csv is now the dataset for every page").wait_for()


def _sidebar_text(page) -> str:
    return page.locator(SIDEBAR).inner_text()


def _legend(page) -> list[str]:
    """Legend entries of the "Runs of this session" chart (one per run of this session)."""
    chart = page.locator(CHART).filter(has_text="Runs of this session")
    chart.first.wait_for()
    return [t.strip() for t in chart.first.locator("text.legendtext").all_text_contents()]


@pytest.fixture
def sessions(browser, app_server):
    contexts, pages = [], []
    for _ in range(SESSIONS):
        context = new_app_context(browser)
        page = context.new_page()
        page.set_default_timeout(APP_IDLE_TIMEOUT_MS)
        page.goto(app_server)
        contexts.append(context)
        pages.append(page)
    for page in pages:
        wait_for_app(page)
    yield pages
    for context in contexts:
        context.close()


def _stop(page, i: int) -> None:
    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(rf"Run 1 was stopped after epoch \d+ of {_epochs(i)}")).wait_for(timeout=RUN_TIMEOUT_MS)


@pytest.mark.runs_last  # four trainings and five live pages take every core
def test_five_sessions_train_at_once_and_never_see_each_other(sessions):
    started = time.monotonic()
    _upload_subset(sessions[0])
    for i, page in enumerate(sessions):
        _configure(page, i)
    assert f"{UPLOADED_ROWS} patients" in _sidebar_text(sessions[0])
    for page in sessions[1:]:
        assert "Cleveland (built-in)" in _sidebar_text(page) and "session0.csv" not in _sidebar_text(page)
    print(f"five sessions configured after {time.monotonic() - started:.0f} s")

    # Sessions 0-3 take every training slot of the server...
    for page in sessions[:FIFTH]:
        page.get_by_role("button", name="Play").click()
    for i, page in enumerate(sessions[:FIFTH]):
        page.get_by_text(re.compile(rf"Run 1 · epoch \d+ of {_epochs(i)}")).first.wait_for(timeout=RUN_TIMEOUT_MS)
    # ...so the fifth is told politely that the server is busy, and nothing of its own is lost.
    fifth = sessions[FIFTH]
    fifth.get_by_role("button", name="Play").click()
    fifth.get_by_text(BUSY).wait_for()
    assert fifth.get_by_text("Wait for one to finish and press Play again").count() == 1
    assert fifth.get_by_text(_summary(FIFTH)).count() >= 1  # its configuration is kept
    screenshot(fifth, "concurrency-server-busy")

    # Stopping one run frees its slot: the fifth's retry trains to the end beside the other three.
    _stop(sessions[0], 0)
    fifth.get_by_role("button", name="Play").click()
    fifth.get_by_text(f"Run 1 finished all {SHORT_EPOCHS} epochs").wait_for(timeout=RUN_TIMEOUT_MS)
    print(f"fifth run finished beside three others after {time.monotonic() - started:.0f} s")
    for i, page in enumerate(sessions[1:FIFTH], start=1):
        assert page.get_by_text(re.compile(rf"Run 1 · epoch \d+ of {_epochs(i)}")).count() >= 1, i  # still live
        _stop(page, i)

    # Each session's history holds exactly its own single run, with its own configuration and data.
    for i, page in enumerate(sessions):
        wait_for_app(page)
        assert _legend(page) == ["Run 1"], i  # settings are in the table under the chart
        assert page.get_by_text("Run 2").count() == 0
        assert page.get_by_text("Run to inspect").count() == 0  # shown only with two runs or more
        patients = UPLOADED_ROWS if i == 0 else 303
        assert page.get_by_text(f"({patients} patients, 20% held out").count() == 1, i
    screenshot(sessions[0], "concurrency-session0-stopped")

    # "Use this model" in one session changes the active model of that session only.
    sessions[2].get_by_role("button", name="Use this model").click()
    wait_for_app(sessions[2])
    for i, page in enumerate(sessions):
        open_page(page, "Start here")  # the lightest page: every page's sidebar names the session's model
        sidebar = _sidebar_text(page)
        if i == 2:
            assert "Run 1 (Cleveland (built-in))" in sidebar
        else:
            assert "Shipped default model" in sidebar and "Run 1" not in sidebar, i
    screenshot(sessions[3], "concurrency-other-session-keeps-default")


# ---- a page opened by its own URL ------------------------------------------------------------
@pytest.fixture
def fresh_server():
    """A server no session has visited yet (the session-wide app_server has already run app.py)."""
    server = start_server("app.py", REPO)
    try:
        yield server.url
    finally:
        stop_server(server)


def test_a_page_url_opened_first_on_a_fresh_server_shows_the_app(browser, fresh_server):
    context = new_app_context(browser)
    try:
        page = context.new_page()
        page.set_default_timeout(APP_IDLE_TIMEOUT_MS)
        page.goto(f"{fresh_server}/train")
        wait_for_app(page)
        page.get_by_role("heading", name="Train and watch it learn").wait_for()
        links = page.locator(NAV).all_inner_texts()
        # The router's titles, not the legacy file names (train, app, home ...).
        assert any("Train and watch" in link for link in links), links
        assert not any(link.strip() in ("app", "train", "home") for link in links), links
        assert "In use this session" in _sidebar_text(page)
        assert urlsplit(page.url).path.rstrip("/").endswith("/train")  # the query holds the shared setup
        screenshot(page, "direct-url-train")
    finally:
        context.close()
