"""What watching costs: a 300-epoch training with the live view against the same training headless.

    python benchmarks/bench_live_training.py [--epochs 300] [--repeats 3] [--preset recommended]

Both arms are model.serving.runs.TrainingRun on the built-in Cleveland data with the same config and
seed (same split, preprocessing and weights), timed from start() to the end of the thread:
  headless   TrainingRun(live=False): no callback at all
  live       TrainingRun(live=True): the recording callback (every epoch) + a snapshot every 5
             epochs (P(disease) on the 60x60 boundary grid, weight samples per layer) + the 2-D
             PCA set-up, AND a reader thread playing the training page: once a second it copies
             the history and builds the page's four live figures (curves, gradient norms, weight
             histograms, decision boundary), competing with the loop for the GIL as the
             Streamlit fragment does.
The arms alternate (headless, live, headless, ...) and the median of --repeats is reported.
Target (issue 4): live / headless <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.train_panels import REFRESH_SECONDS
from dashboard.training_views import (
    gradient_norms_figure,
    learning_curves_figure,
    run_boundary_figure,
    weight_histograms_figure,
)
from model.data.datasets import load_dataset
from model.nn.presets import PRESETS
from model.serving.runs import TrainingRun

TARGET_RATIO = 1.5


def watch(run: TrainingRun, figures_built: list[int]) -> None:
    """What the page's fragment does, without a browser: redraw from the history once a second."""
    while run.is_active:
        events = run.events()
        learning_curves_figure(events)
        gradient_norms_figure(events)
        weight_histograms_figure(run.latest_snapshot)
        run_boundary_figure(run)
        figures_built[0] += 4
        run.stop_event.wait(REFRESH_SECONDS)  # returns early only if the run is stopped


def timed_run(frame, config, live: bool) -> tuple[float, int]:
    run = TrainingRun(frame, config, live=live)
    figures_built = [0]
    run.start()
    reader = threading.Thread(target=watch, args=(run, figures_built)) if live else None
    if reader:
        reader.start()
    run.join()
    if reader:
        reader.join()
    if run.error:
        raise SystemExit(f"training failed: {run.error}")
    return run.elapsed, figures_built[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="recommended", choices=sorted(PRESETS))
    args = parser.parse_args()

    frame = load_dataset("cleveland")
    config = PRESETS[args.preset].replace(epochs=args.epochs, early_stopping=False)
    timed_run(frame, config.replace(epochs=5), live=True)  # warm-up: imports, first-call costs

    headless, live, figures = [], [], []
    for _ in range(args.repeats):
        headless.append(timed_run(frame, config, live=False)[0])
        seconds, built = timed_run(frame, config, live=True)
        live.append(seconds)
        figures.append(built)
    ratio = statistics.median(live) / statistics.median(headless)
    print(
        f"preset {args.preset}, {args.epochs} epochs, batch "
        f"{config.effective_batch_size or 'full'}, {len(frame)} patients, {args.repeats} repeats"
    )
    print(f"headless  median {statistics.median(headless):.2f} s  runs {', '.join(f'{s:.2f}' for s in headless)}")
    print(
        f"live      median {statistics.median(live):.2f} s  runs {', '.join(f'{s:.2f}' for s in live)}"
        f"  (figures built per run: {', '.join(map(str, figures))})"
    )
    print(f"ratio live / headless = {ratio:.2f}  (target <= {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
