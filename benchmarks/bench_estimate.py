"""How close the comparison page's time estimate comes to the measured time, on this machine.

model.estimates calibrates itself with tiny timed runs (printed: how long the calibration took), then
estimates several comparisons of different shapes; each is run and timed. Printed per case: estimate,
measured, their ratio, and the stages' estimated vs measured seconds. Goal: every ratio within about
3× either way (the page uses it to say "about 3 min" and to ask before a long run, not as a promise).

    python benchmarks/bench_estimate.py [--quick]

The machine is shared: the load average at the start is printed with the timings; calibration on a
busy machine measures it busy, so the estimates grow with the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data.datasets import load_dataset
from model.evaluation.comparison import ANN_NAME, DEFAULT_MODELS, Protocol, run_comparison
from model.evaluation.estimates import estimate_comparison, machine_speed
from model.nn.config import ANNConfig, LayerConfig
from model.nn.presets import RECOMMENDED

MINI_BATCH = ANNConfig(hidden_layers=[LayerConfig(16, "relu", 0.0)], optimizer="adam", batch_size=16, epochs=100)
WIDE = ANNConfig(
    hidden_layers=[LayerConfig(64, "tanh", 0.0), LayerConfig(64, "tanh", 0.0)],
    optimizer="adam",
    batch_size=None,
    epochs=300,
)
CASES = [
    ("default models, recommended ANN, 5x10", list(DEFAULT_MODELS), RECOMMENDED, Protocol(5, 10, 0)),
    ("default models, recommended ANN, 5x2", list(DEFAULT_MODELS), RECOMMENDED, Protocol(5, 2, 0)),
    ("logistic regression + mini-batch ANN, 5x2", ["Logistic regression", ANN_NAME], MINI_BATCH, Protocol(5, 2, 0)),
    ("naive Bayes + wide ANN, 5x2", ["Naive Bayes", ANN_NAME], WIDE, Protocol(5, 2, 0)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 5x10 default comparison")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    start = time.perf_counter()
    speed = machine_speed()
    print(
        f"calibration: {time.perf_counter() - start:.1f} s; step {speed.step_seconds * 1e3:.2f} ms, "
        f"{speed.unit_seconds * 1e9:.2f} ns per row x parameter"
    )
    frame = load_dataset("cleveland")
    ratios = []
    for label, names, config, protocol in CASES[1:] if args.quick else CASES:
        guess = estimate_comparison(len(frame), names, config, protocol.n_splits, protocol.n_repeats, speed=speed)
        start = time.perf_counter()
        report = run_comparison(frame, names, config, protocol)
        measured = time.perf_counter() - start
        ratios.append(guess.seconds / measured)
        print(
            f"\n{label}: estimate {guess.seconds:.1f} s, measured {measured:.1f} s, "
            f"ratio {guess.seconds / measured:.2f}"
        )
        print("  estimated: " + ", ".join(f"{k} {v:.1f}" for k, v in guess.parts.items()))
        print("  measured:  " + ", ".join(f"{k} {v:.1f}" for k, v in report.stage_seconds.items()))
    worst = max(max(ratios), 1 / min(ratios))
    print(
        f"\nratios estimate/measured: {', '.join(f'{r:.2f}' for r in ratios)}; worst factor {worst:.1f} "
        f"({'within' if worst <= 3 else 'OUTSIDE'} the goal of 3)"
    )


if __name__ == "__main__":
    main()
