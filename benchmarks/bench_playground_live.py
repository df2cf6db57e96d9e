"""Watching costs little: a playground training with the live view on, against the same training headless.

Goal (issue 13): on 2-D data with the neuron heatmaps on, training wall time ≤ 1.5× headless.

Both runs are model.serving.plane_runs.PlaneRun on the same data, configuration and seed, one after
the other, alternating, several times (median). The live run takes its snapshots (the decision plane
and every hidden unit over a 100 × 100 grid) and, as the page does, a reader thread redraws from the
latest snapshot every REFRESH_SECONDS: the input-plane figure, the network image, its PNG and the
figure's JSON. The headless run (live=False) has no watcher and no reader.

    python benchmarks/bench_playground_live.py [--epochs 1500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.playground import REFRESH_SECONDS
from dashboard.playground_views import input_plane_figure, network_view_image, png_bytes
from model.data.plane_data import toy_plane_data
from model.nn.config import ANNConfig, LayerConfig
from model.runtime.threads import SERVER_TORCH_THREADS, configure_threads
from model.serving.plane_runs import PlaneRun

GOAL = 1.5


def redraw(run: PlaneRun) -> None:
    snapshot = run.latest_snapshot
    if snapshot is None:
        return
    data = run.data
    figure = input_plane_figure(
        snapshot.plane, data.X_train, data.y_train, data.X_val, data.y_val, epoch=snapshot.epoch
    )
    figure.to_json()
    png_bytes(network_view_image(snapshot.plane, run.estimator.network_))


def timed_run(data, config: ANNConfig, live: bool) -> tuple[float, int]:
    run = PlaneRun(data, config, live=live)
    redraws = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal redraws
        while not stop.wait(REFRESH_SECONDS):
            redraw(run)
            redraws += 1

    started = time.perf_counter()
    run.start()
    watcher = threading.Thread(target=reader, daemon=True) if live else None
    if watcher is not None:
        watcher.start()
    run.join()
    seconds = time.perf_counter() - started
    stop.set()
    if watcher is not None:
        watcher.join()
    if run.error:
        raise RuntimeError(run.error)
    return seconds, redraws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    configure_threads(SERVER_TORCH_THREADS)  # as on the dashboard's server
    data = toy_plane_data("spiral", n_samples=400, noise=0.1, seed=0)
    config = ANNConfig(
        hidden_layers=(LayerConfig(8, "tanh", 0.0),) * 3,
        optimizer="adam",
        learning_rate=0.01,
        batch_size=32,
        epochs=args.epochs,
        init="xavier",
        seed=0,
        device="cpu",
    )
    timed_run(data, config.replace(epochs=5), live=True)  # warm-up: imports, first allocations
    live_times, headless_times, redraw_counts = [], [], []
    for _ in range(args.repeats):
        seconds, redraws = timed_run(data, config, live=True)
        live_times.append(seconds)
        redraw_counts.append(redraws)
        headless_times.append(timed_run(data, config, live=False)[0])
    live, headless = statistics.median(live_times), statistics.median(headless_times)
    ratio = live / headless
    print(f"3 × 8 tanh on the spiral ({len(data.y_train)} training points), batch 32, {args.epochs} epochs")
    print(f"headless: {headless:.2f} s (median of {args.repeats})")
    print(
        f"live view (snapshots of a 100 × 100 plane with every neuron, a redraw every {REFRESH_SECONDS} s, "
        f"{statistics.median(redraw_counts):.0f} redraws): {live:.2f} s"
    )
    print(f"ratio live / headless: {ratio:.2f}× (goal ≤ {GOAL}×) -> {'met' if ratio <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
