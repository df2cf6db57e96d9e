"""Time switching the Patient risk page between the two shipped models (before / with imaging), in one run.

Ours: the page's rerun after the moment-of-care radio changes (the other model answers: its risk, interval,
explanation, population and report). Peer: the page's rerun after one field changes (age), same model.
Both models are loaded and warmed first (the app caches them for every session), then each rerun is timed
through Streamlit's AppTest, which runs the whole page script server-side. Goal: the switch ≤ 200 ms.
Medians over repeats: the two cores of this machine are shared.

    python benchmarks/bench_moment_switch.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from model.data.schema import BEFORE_IMAGING, WITH_IMAGING  # noqa: E402

PAGE = "app_pages/predict.py"
GOAL_MS = 200


def timed_rerun(at: AppTest, change) -> float:
    change(at)
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page(PAGE).run()
    moment = at.radio(key="predict.moment")
    for warm in (BEFORE_IMAGING, WITH_IMAGING):  # load both models and their explainers once
        moment.set_value(warm)
        at.run()
        moment = at.radio(key="predict.moment")

    switches, edits = [], []
    for repeat in range(args.repeats):
        target = BEFORE_IMAGING if repeat % 2 == 0 else WITH_IMAGING
        switches.append(timed_rerun(at, lambda page, target=target: page.radio(key="predict.moment").set_value(target)))
        edits.append(
            timed_rerun(at, lambda page, age=50 + repeat: page.number_input(key="predict.field.age").set_value(age))
        )
    switch_ms, edit_ms = 1000 * statistics.median(switches), 1000 * statistics.median(edits)
    print(f"switch the moment of care (other model answers): {switch_ms:7.1f} ms   (goal ≤ {GOAL_MS} ms)")
    print(f"change one field (same model, peer):             {edit_ms:7.1f} ms")
    print(f"ratio switch / field change:                     {switch_ms / edit_ms:7.2f}×")


if __name__ == "__main__":
    main()
