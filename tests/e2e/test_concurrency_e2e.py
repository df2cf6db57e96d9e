"""Many users at once, in Chromium: browser contexts (one Streamlit session each) configure different
networks and train them concurrently on one server whose operator capped it at CAP trainings
(HEART_ANN_MAX_CONCURRENT_TRAININGS; 4 by default: the cap's logic is the same, and two trainings already
take both cores of a CI runner). CAP runs take every training slot; one more session meets the cap with
a polite message, and its retry succeeds as soon as one run is stopped, finishing while the others still
train. No session sees another's data, runs or model.

The long runs are ended with Stop rather than waited for, so nothing here races the machine's speed:
a slow CI runner only makes the last run take longer. Each session opens its network as a shared link
(the Configure page's own form is driven in test_configure_e2e.py).

Also: a page opened by its own URL on a fresh server runs inside the app (router, navigation,
sidebar), not as a bare script of the legacy pages/ folder."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode, urlsplit

import pytest

from model.data.datasets import load_dataset
from model.nn.config import ANNConfig, LayerConfig
from model.nn.presets import PRESETS
from model.runtime.limits import CONCURRENT_TRAININGS_ENV, MAX_EPOCHS
from model.serving.runs import config_summary
from model.serving.share_link import DataChoice, PlaygroundSetup, encode

from .conftest import APP_IDLE_TIMEOUT_MS, NAV, new_app_context, open_page, screenshot, wait_for_app
from .server import REPO, start_server, stop_server

pytestmark = pytest.mark.e2e

SIDEBAR = "[data-testid='stSidebar']"
CHART = "[data-testid='stPlotlyChart']"
RUN_TIMEOUT_MS = 300_000  # the last run shares two cores with the other trainings and live pages
CAP = 2  # the capped server's training slots
LAST = CAP  # the session that meets the cap
SESSIONS = CAP + 1
BATCH = 4  # ~60 gradient steps per epoch
LONG_EPOCHS = MAX_EPOCHS - 1_000  # the first CAP sessions: minutes of work each, ended by Stop
SHORT_EPOCHS = 5  # the last session: full batch, runs to the end beside the others
UPLOADED_ROWS = 250  # session 0 trains on its own upload: the first rows of the built-in file
BUSY = f"The server is already training {CAP} networks (its limit)"


def _epochs(i: int) -> int:
    return SHORT_EPOCHS if i == LAST else LONG_EPOCHS + 100 * i


def _config(i: int) -> ANNConfig:
    """Session i's network: the "One hidden layer" preset with its own width, batch and epochs."""
    preset = PRESETS["one_hidden"]
    layer = preset.hidden_layers[0]
    return preset.replace(
        hidden_layers=(LayerConfig(8 + 4 * i, layer.activation, layer.dropout),),
        batch_size=None if i == LAST else BATCH,
        epochs=_epochs(i),
    )


def _summary(i: int) -> str:
    return config_summary(_config(i))


def _open_link(page, app_server: str, i: int) -> None:
    """Session i opens its network as a shared link: the Train page, configured, in a new session."""
    query = urlencode(encode(PlaygroundSetup(config=_config(i), data=DataChoice.heart())))
    page.goto(f"{app_server}/train?{query}")
    wait_for_app(page)
    page.get_by_text("Setup restored from the shared link").wait_for()


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
def capped_server():
    """A server of its own (no other test's run holds a slot) with the operator's cap at CAP trainings."""
    server = start_server("app.py", REPO, env={CONCURRENT_TRAININGS_ENV: str(CAP)})
    try:
        yield server.url
    finally:
        stop_server(server)


@pytest.fixture
def sessions(browser, capped_server):
    contexts, pages = [], []
    for _ in range(SESSIONS):
        context = new_app_context(browser)
        page = context.new_page()
        page.set_default_timeout(APP_IDLE_TIMEOUT_MS)
        contexts.append(context)
        pages.append(page)
    yield pages
    for context in contexts:
        context.close()


def _live(i: int) -> re.Pattern:
    return re.compile(rf"Run 1 · epoch \d+ of {_epochs(i)}")


def _wait_stopped(page, i: int) -> None:
    page.get_by_text(re.compile(rf"Run 1 was stopped after epoch \d+ of {_epochs(i)}")).wait_for(timeout=RUN_TIMEOUT_MS)


@pytest.mark.runs_last  # the trainings and live pages take every core
def test_sessions_beyond_the_cap_wait_politely_and_none_sees_another(sessions, capped_server):
    started = time.monotonic()
    for i, page in enumerate(sessions):
        _open_link(page, capped_server, i)
    _upload_subset(sessions[0])  # after its link: opening a link starts a new session
    for i, page in enumerate(sessions):
        if i == 0:
            open_page(page, "Train and watch")
        page.get_by_text(_summary(i)).first.wait_for()
    assert f"{UPLOADED_ROWS} patients" in _sidebar_text(sessions[0])
    for page in sessions[1:]:
        assert "Cleveland (built-in)" in _sidebar_text(page) and "session0.csv" not in _sidebar_text(page)
    print(f"{SESSIONS} sessions configured after {time.monotonic() - started:.0f} s")

    # The first CAP sessions take every training slot of the server...
    for page in sessions[:LAST]:
        page.get_by_role("button", name="Play").click()
    for i, page in enumerate(sessions[:LAST]):
        page.get_by_text(_live(i)).first.wait_for(timeout=RUN_TIMEOUT_MS)
    # ...so the last is told politely that the server is busy, and nothing of its own is lost.
    last = sessions[LAST]
    last.get_by_role("button", name="Play").click()
    last.get_by_text(BUSY).wait_for()
    assert last.get_by_text("Wait for one to finish and press Play again").count() == 1
    assert last.get_by_text(_summary(LAST)).count() >= 1  # its configuration is kept
    screenshot(last, "concurrency-server-busy")

    # Stopping one run frees its slot: the last one's retry trains to the end beside the others.
    sessions[0].get_by_role("button", name="Stop").click()
    _wait_stopped(sessions[0], 0)
    last.get_by_role("button", name="Play").click()
    last.get_by_text(f"Run 1 finished all {SHORT_EPOCHS} epochs").wait_for(timeout=RUN_TIMEOUT_MS)
    print(f"the last run finished beside {CAP - 1} other(s) after {time.monotonic() - started:.0f} s")
    for i, page in enumerate(sessions[1:LAST], start=1):
        assert page.get_by_text(_live(i)).count() >= 1, i  # still training
    for page in sessions[1:LAST]:  # their users press Stop at once
        page.get_by_role("button", name="Stop").click()
    for i, page in enumerate(sessions[1:LAST], start=1):
        _wait_stopped(page, i)

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
    chooser = 1
    sessions[chooser].get_by_role("button", name="Use this model").click()
    wait_for_app(sessions[chooser])
    for i, page in enumerate(sessions):
        open_page(page, "Start here")  # the lightest page: every page's sidebar names the session's model
        sidebar = _sidebar_text(page)
        if i == chooser:
            assert "Run 1 (Cleveland (built-in))" in sidebar
        else:
            assert "Shipped default model" in sidebar and "Run 1" not in sidebar, i
        if i == 0:  # the landing page states the operator's cap
            page.get_by_text("Limits of this server").click()
            page.get_by_text(f"{CAP} on this server").first.wait_for()
    screenshot(sessions[LAST], "concurrency-other-session-keeps-default")


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
