"""Several sessions training at once on one server, each watching its live charts.

    python benchmarks/bench_concurrent_training.py [--sessions 4] [--epochs 200] [--batch 8]

Starts `streamlit run app.py` and opens --sessions browser contexts (one Streamlit session each)
in headless Chromium. Each loads the "One hidden layer" preset with the given epochs and batch
size, then all press Start together; the clock runs from the first Start until every page shows
"finished". Two servers are timed:
  shipped            .streamlit/config.toml as committed (runner.postScriptGC = false)
  Streamlit default  the same with postScriptGC = true: a full gc.collect() after every script
                     run, i.e. after every one-second redraw of every session's live panel
Peer: the same trainings as model.serving.runs.TrainingRun(live=False) in threads of one plain Python
process (no Streamlit, no browser). The ratios dashboard / peer are printed.

On this 2-core machine the browser shares the cores with the server, so the dashboard arms
also pay for Chromium drawing the charts; on a real deployment the browsers are elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from model.data.datasets import load_dataset  # noqa: E402
from model.nn.presets import PRESETS  # noqa: E402
from model.runtime.limits import MAX_BATCH_SIZE, MAX_CONCURRENT_TRAININGS, MAX_EPOCHS  # noqa: E402
from model.serving.runs import TrainingRun  # noqa: E402
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, new_app_context, open_page, set_number, wait_for_app  # noqa: E402
from tests.e2e.server import start_server, stop_server  # noqa: E402

TIMEOUT_MS = 300_000  # a run of several minutes on a slow machine
POST_SCRIPT_GC = "STREAMLIT_RUNNER_POST_SCRIPT_GC"  # Streamlit reads config options from the environment


def dashboard_seconds(browser, sessions: int, epochs: int, batch: int, post_script_gc: bool | None) -> float:
    """Wall time of `sessions` trainings started together in as many browser sessions."""
    saved = os.environ.get(POST_SCRIPT_GC)
    if post_script_gc is not None:
        os.environ[POST_SCRIPT_GC] = str(post_script_gc).lower()
    try:
        server = start_server("app.py", REPO, timeout_s=180)
    finally:
        if saved is None:
            os.environ.pop(POST_SCRIPT_GC, None)
        else:
            os.environ[POST_SCRIPT_GC] = saved
    contexts = []
    try:
        pages = []
        for _ in range(sessions):
            context = new_app_context(browser)
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server.url)
            wait_for_app(page)
            open_page(page, "Configure a network")
            page.get_by_role("button", name="One hidden layer").click()
            wait_for_app(page)
            set_number(page, f"Batch size (1–{MAX_BATCH_SIZE:,})", batch)
            set_number(page, f"Epochs (1–{MAX_EPOCHS:,})", epochs)
            open_page(page, "Train and watch")
            pages.append(page)
        started = time.perf_counter()
        for page in pages:
            page.get_by_role("button", name="Start training").click()
        for page in pages:
            page.get_by_text(f"Run 1 finished all {epochs} epochs").wait_for(timeout=TIMEOUT_MS)
        return time.perf_counter() - started
    finally:
        for context in contexts:
            context.close()
        stop_server(server)


def headless_seconds(sessions: int, epochs: int, batch: int) -> float:
    frame = load_dataset("cleveland")
    config = PRESETS["one_hidden"].replace(epochs=epochs, batch_size=batch)
    started = time.perf_counter()
    runs = [TrainingRun(frame, config, live=False).start() for _ in range(sessions)]
    for run in runs:
        run.join()
    if any(run.error for run in runs):
        raise SystemExit(f"training failed: {next(run.error for run in runs if run.error)}")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sessions",
        type=int,
        default=MAX_CONCURRENT_TRAININGS,
        help=f"1-{MAX_CONCURRENT_TRAININGS} (the server's training cap)",
    )
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_CONCURRENT_TRAININGS:
        parser.error(f"--sessions must be 1-{MAX_CONCURRENT_TRAININGS}")
    from playwright.sync_api import sync_playwright

    headless_seconds(1, 5, args.batch)  # warm-up: imports, first-call costs
    peer = headless_seconds(args.sessions, args.epochs, args.batch)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            shipped = dashboard_seconds(browser, args.sessions, args.epochs, args.batch, post_script_gc=None)
            default = dashboard_seconds(browser, args.sessions, args.epochs, args.batch, post_script_gc=True)
        finally:
            browser.close()

    print(
        f"{args.sessions} trainings at once: one hidden layer of 16 ReLU, batch {args.batch}, "
        f"{args.epochs} epochs, 303 patients"
    )
    print(f"peer: headless threads, one process      {peer:6.1f} s")
    print(f"dashboard, shipped config                {shipped:6.1f} s   {shipped / peer:4.1f}x the peer")
    print(f"dashboard, Streamlit's post-script GC    {default:6.1f} s   {default / peer:4.1f}x the peer")
    print(f"shipped config is {default / shipped:.1f}x faster than Streamlit's default")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
