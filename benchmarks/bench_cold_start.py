"""Cold start: from `streamlit run` to the landing page usable in Chromium, against a bare one-line app.

    python benchmarks/bench_cold_start.py [--runs 5]

Each run starts a fresh server (tests/e2e/server.py start_server: `streamlit run`, waits for its health
check), opens its URL in a new headless Chromium context, and stops the clock once the page's title is
visible and the app is idle (tests/e2e/browser.py wait_for_app). The clock starts just before the server
process is launched; Chromium itself is started once, before any run. The two apps alternate, so both see
the same load on a shared machine. Prints each run, the medians and their ratio (goal: ours <= 1.5x the bare
app), and whether the server had imported torch or scikit-learn once the landing page was idle (read from
/proc/<pid>/maps: their compiled modules; the goal is neither). Captum, pure Python, cannot be seen that way;
it needs torch, so no torch means no Captum (tests/test_cold_start.py checks all three in sys.modules).
`--repo` measures another checkout of the app (e.g. an older commit unpacked with `git archive`).
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, new_app_context, wait_for_app  # noqa: E402
from tests.e2e.server import start_server, stop_server  # noqa: E402  (no pytest: a plain module)

GOAL_RATIO = 1.5
SERVER_START_TIMEOUT_S = 180
PAGE_TIMEOUT_MS = 120_000
BARE_APP = 'import streamlit as st\n\nst.title("Hello")\n'
# A library is loaded once one of its compiled modules is mapped into the process.
HEAVY_LIBRARIES = {"torch": "/torch/", "scikit-learn": "/sklearn/"}


def heavy_libraries_loaded(pid: int) -> list[str]:
    """Which of torch and scikit-learn the process has imported (their files mapped into its memory)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name, folder in HEAVY_LIBRARIES.items() if folder in maps]


def cold_start(browser, script: str, cwd: Path) -> tuple[float, float, list[str]]:
    """(seconds to the health check, seconds to the landing page usable, heavy libraries loaded) of one fresh
    server."""
    start = time.perf_counter()
    server = start_server(script, cwd, timeout_s=SERVER_START_TIMEOUT_S)
    try:
        healthy = time.perf_counter() - start
        context = new_app_context(browser)
        try:
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(server.url)
            page.get_by_role("heading", level=1).first.wait_for(state="visible")
            wait_for_app(page)
            usable = time.perf_counter() - start
        finally:
            context.close()
        return healthy, usable, heavy_libraries_loaded(server.pid)
    finally:
        stop_server(server)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh starts of each app (default 5)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app.py is measured (default: here)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"bare": [], "ours": []}
    loaded: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        Path(folder, "bare.py").write_text(BARE_APP)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            print(f"{'run':>3} {'app':<5} {'healthy s':>10} {'usable s':>9}")
            for run in range(1, args.runs + 1):
                for app, script, cwd in (("bare", "bare.py", Path(folder)), ("ours", "app.py", args.repo)):
                    healthy, usable, heavy = cold_start(browser, script, cwd)
                    times[app].append(usable)
                    if app == "ours":
                        loaded = sorted(set(loaded) | set(heavy))
                    print(f"{run:>3} {app:<5} {healthy:10.2f} {usable:9.2f}", flush=True)
        finally:
            browser.close()

    bare, ours = statistics.median(times["bare"]), statistics.median(times["ours"])
    ratio = ours / bare
    print()
    print(f"bare one-line app: median {bare:.2f} s to the first page usable ({args.runs} starts)")
    print(f"Heart-ANN landing: median {ours:.2f} s")
    print(f"ratio ours / bare: {ratio:.2f}x (goal <= {GOAL_RATIO}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'})")
    print(f"heavy libraries loaded by the landing page: {', '.join(loaded) or 'none'} (goal: none)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
