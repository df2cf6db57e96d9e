"""How much memory the dashboard's server needs (Streamlit Community Cloud gives an app ~0.7-2.7 GB).

    python benchmarks/bench_server_memory.py [--epochs 100]

Starts `streamlit run app.py` on a free port and drives headless Chromium (one browser session)
through every page: home, data exploration, configuration, one short training (the "One hidden
layer" preset) that runs to the end, one small comparison (3 folds x 1 repeat of the page's
default models) and the patient-risk page. The resident memory of the server process (VmRSS in
/proc/<pid>/status) is read after start-up (before any browser connects), after each step, and
its high-water mark (VmHWM) at the end.

Printed, against the goals of issue 15: the landing page alone (the server right after one visit of
"Start here", before any other page: goal <= 200 MB resident), and the full tour against the floor
peer, a bare Streamlit app that imports torch, scikit-learn, pandas, Plotly and Streamlit (what the
libraries cost before any work: goal <= 1.2x). Also a bare Streamlit app (a title and a sentence):
what Streamlit itself costs. Each peer is started the same way and visited once.
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, new_app_context, open_page, set_number, wait_for_app  # noqa: E402
from tests.e2e.server import start_server, stop_server  # noqa: E402  (no pytest: a plain module)

TIMEOUT_MS = 300_000
SERVER_START_TIMEOUT_S = 180
PEER_APP = (
    'import streamlit as st\n\nst.title("Hello")\nst.write("A bare Streamlit app: the peer of the memory benchmark.")\n'
)
# The floor: the libraries the dashboard's pages use, imported and nothing done with them.
FLOOR_APP = (
    "import pandas\nimport plotly.express\nimport plotly.graph_objects\nimport sklearn.ensemble\n"
    "import sklearn.linear_model\nimport sklearn.pipeline\nimport streamlit as st\nimport torch\n\n"
    'st.title("Hello")\nst.write("The libraries imported, nothing else: the floor of the memory benchmark.")\n'
)
LANDING_GOAL_MB = 200
TOUR_GOAL_RATIO = 1.2


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now), VmHWM (peak so far), and VmRSS's parts of a process, in MB: RssAnon (heap, the objects'
    memory) and RssFile (pages of the libraries' files: code the process has run, shared with the page cache)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return values


class Server:
    """`streamlit run script` in `cwd` on a free port (tests/e2e/server.py), with its memory readings."""

    def __init__(self, script: str, cwd: Path):
        self._server = start_server(script, cwd, timeout_s=SERVER_START_TIMEOUT_S)
        self.url = self._server.url

    def memory(self) -> dict[str, float]:
        return memory_mb(self._server.pid)

    def stop(self) -> None:
        stop_server(self._server)


def visit_everything(page, server: Server, epochs: int, record) -> None:
    """The tour: every page, one training to the end, one small comparison."""
    from model.runtime.limits import MAX_EPOCHS

    page.goto(server.url)
    page.get_by_role("heading", level=1).first.wait_for(state="visible")
    wait_for_app(page)
    record("home page")

    open_page(page, "Data exploration")
    for tab in page.get_by_role("tab").all():  # each tab draws its own charts
        tab.click()
        page.wait_for_timeout(500)
    wait_for_app(page)
    record("data exploration (every tab)")

    open_page(page, "Configure a network")
    page.get_by_role("button", name="One hidden layer").click()
    wait_for_app(page)
    set_number(page, f"Epochs (1–{MAX_EPOCHS:,})", epochs)
    record("configure")

    open_page(page, "Train and watch")
    page.get_by_role("button", name="Play").click()
    page.get_by_text(f"Run 1 finished all {epochs} epochs").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    record(f"one training ({epochs} epochs) and its results")

    open_page(page, "Classical ML vs deep learning")
    form = page.locator("[data-testid='stForm']")
    for label, value in (("Folds", 3), ("Repeats", 1)):
        box = form.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Tab")
    page.get_by_role("button", name="Run comparison").click()
    wait_for_app(page)
    page.get_by_text("has the highest mean ROC AUC").wait_for(timeout=TIMEOUT_MS)
    record("one comparison (3 folds x 1 repeat)")

    open_page(page, "Patient risk")
    record("patient risk")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="epochs of the one training (default 100)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app.py is measured (default: here)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            peer_start, peer_memory = visit_peer(browser, PEER_APP)
            floor_start, floor_memory = visit_peer(browser, FLOOR_APP)

            ours = Server("app.py", args.repo)
            try:
                start = ours.memory()["VmRSS"]
                print(f"{'step':<46} {'RSS MB':>8} {'anon':>6} {'file':>6}")
                print(f"{'server started, no session yet':<46} {start:8.0f}")

                steps: dict[str, float] = {}

                def record(step: str) -> None:
                    now = ours.memory()
                    steps[step] = now["VmRSS"]
                    print(f"{step:<46} {now['VmRSS']:8.0f} {now['RssAnon']:6.0f} {now['RssFile']:6.0f}", flush=True)

                page = new_app_context(browser).new_page()
                page.set_default_timeout(TIMEOUT_MS)
                visit_everything(page, ours, args.epochs, record)
                page.context.close()
                time.sleep(2)
                end = ours.memory()
            finally:
                ours.stop()
        finally:
            browser.close()

    print()
    print(
        f"bare Streamlit (peer): {peer_start:.0f} MB at start, {peer_memory['VmRSS']:.0f} MB after one visit, "
        f"peak {peer_memory['VmHWM']:.0f} MB"
    )
    print(
        f"Heart-ANN:             {start:.0f} MB at start, {end['VmRSS']:.0f} MB after the tour, "
        f"peak {end['VmHWM']:.0f} MB"
    )
    print(
        f"floor (libraries imported): {floor_start:.0f} MB at start, {floor_memory['VmRSS']:.0f} MB after one visit "
        f"(anon {floor_memory['RssAnon']:.0f}, file {floor_memory['RssFile']:.0f}); ours after the tour: "
        f"anon {end['RssAnon']:.0f}, file {end['RssFile']:.0f}"
    )
    print(
        f"ratio ours / bare Streamlit (after the visit): {end['VmRSS'] / peer_memory['VmRSS']:.1f}x; "
        f"peak: {end['VmHWM'] / peer_memory['VmHWM']:.1f}x"
    )
    landing = steps["home page"]
    ratio = end["VmRSS"] / floor_memory["VmRSS"]
    print(f"landing page only: {landing:.0f} MB (goal <= {LANDING_GOAL_MB} MB: {_met(landing <= LANDING_GOAL_MB)})")
    print(
        f"after the full tour / floor: {end['VmRSS']:.0f} / {floor_memory['VmRSS']:.0f} MB = {ratio:.2f}x "
        f"(goal <= {TOUR_GOAL_RATIO}x: {_met(ratio <= TOUR_GOAL_RATIO)})"
    )
    return 0


def _met(done: bool) -> str:
    return "met" if done else "NOT met"


def visit_peer(browser, app: str) -> tuple[float, dict[str, float]]:
    """(RSS at start, memory after one visit) of a one-file app started like ours."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "peer.py").write_text(app)
        peer = Server("peer.py", Path(folder))
        try:
            start = peer.memory()["VmRSS"]
            page = new_app_context(browser).new_page()
            page.goto(peer.url)
            page.get_by_role("heading", level=1).first.wait_for(state="visible")
            wait_for_app(page)
            page.context.close()
            time.sleep(2)
            return start, peer.memory()
        finally:
            peer.stop()


if __name__ == "__main__":
    raise SystemExit(main())
