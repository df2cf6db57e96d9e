"""What one live redraw of the playground costs: the decision plane and both of its pictures.

    python benchmarks/bench_playground_redraw.py [--repeats 30] [--resolution 100]

A 3 x 8 tanh network fitted for a few epochs on the toy spiral, then, repeated (median reported):
  plane        model.nn.plane.decision_plane(resolution=100): probability + every hidden unit on the grid,
               as called (torch's thread policy) and inside model.runtime.threads.one_thread()
  figure       dashboard.playground_views.input_plane_figure (heatmap, P = 0.5 contour, points)
  image        dashboard.playground_views.network_view_image (all tiles and connections)
  png          the image encoded as PNG: Pillow's default (what st.image(img, output_format="PNG") does)
               and playground_views.png_bytes (low compression, handed to st.image as bytes)
  to_json      input_plane_figure(...).to_json(): what st.plotly_chart sends to the browser
  redraw       plane (one thread) + figure + image + png_bytes (the goal: <= 100 ms), and the same
               with the figure's to_json
Peer, measured in the same run: go.Figure(go.Heatmap(z=the same 100 x 100 grid)) + fig.to_json(),
the least any Plotly picture of this grid costs.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly.graph_objects as go

from dashboard.playground_views import input_plane_figure, network_view_image, png_bytes
from model.data.toy_datasets import toy_dataset
from model.nn.estimator import ANNClassifier
from model.nn.plane import decision_plane
from model.runtime.threads import one_thread

GOAL_MS = 100.0


def measure(actions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) of each action. The actions take turns, one round per repeat, so a busy
    host slows them all alike and the ratios stay fair; CPU time (this process, all its threads) shows
    the cost without the waits for a core."""
    for action in actions.values():
        action()  # warm-up: imports, font loading, first-call allocations
    wall: dict[str, list[float]] = {name: [] for name in actions}
    cpu: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            action()
            wall[name].append((time.perf_counter() - start_wall) * 1000.0)
            cpu[name].append((time.process_time() - start_cpu) * 1000.0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in actions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    if args.repeats < 20:
        parser.error("--repeats must be at least 20 for a stable median")

    X, y = toy_dataset("spiral", n_samples=400, noise=0.1, seed=0)
    X_train, y_train, X_val, y_val = X[:300], y[:300], X[300:], y[300:]
    estimator = ANNClassifier(
        hidden_units=(8, 8, 8),
        activation="tanh",
        learning_rate=0.03,
        epochs=args.epochs,
        batch_size=None,
        device="cpu",
    ).fit(X_train, y_train)
    network = estimator.network_
    resolution = args.resolution

    def plane():
        return decision_plane(estimator, X_train, resolution=resolution)

    def plane_one_thread():
        with one_thread():
            return decision_plane(estimator, X_train, resolution=resolution)

    fixed_plane = plane()

    def figure():
        return input_plane_figure(fixed_plane, X_train, y_train, X_val, y_val, epoch=args.epochs)

    def image():
        return network_view_image(fixed_plane, network)

    fixed_image = image()
    fixed_figure = figure()

    def png_default():
        buffer = io.BytesIO()
        fixed_image.save(buffer, format="PNG")
        return buffer.getvalue()

    def redraw():
        p = plane_one_thread()
        input_plane_figure(p, X_train, y_train, X_val, y_val, epoch=args.epochs)
        png_bytes(network_view_image(p, network))

    def redraw_with_json():
        p = plane_one_thread()
        input_plane_figure(p, X_train, y_train, X_val, y_val, epoch=args.epochs).to_json()
        png_bytes(network_view_image(p, network))

    def peer():
        return go.Figure(go.Heatmap(z=fixed_plane.probability)).to_json()

    results = measure(
        {
            "decision_plane": plane,
            "decision_plane, one_thread()": plane_one_thread,
            "input_plane_figure": figure,
            "network_view_image": image,
            "PNG, Pillow default": png_default,
            "PNG, png_bytes": lambda: png_bytes(fixed_image),
            "input_plane_figure.to_json": fixed_figure.to_json,
            "REDRAW": redraw,
            "REDRAW + to_json": redraw_with_json,
            "PEER: Heatmap + to_json": peer,
        },
        args.repeats,
    )
    print(
        f"3 x 8 tanh network on the spiral ({len(X_train)} training points, {len(X_val)} validation), "
        f"{resolution} x {resolution} grid; network image {fixed_image.size[0]} x {fixed_image.size[1]} px, "
        f"PNG {len(png_bytes(fixed_image)) / 1024:.0f} KiB, figure JSON {len(fixed_figure.to_json()) / 1024:.0f} KiB"
    )
    print(f"median of {args.repeats} interleaved repeats      wall ms    CPU ms")
    for name, (wall_ms, cpu_ms) in results.items():
        print(f"  {name:<30} {wall_ms:9.2f} {cpu_ms:9.2f}")
    redraw_ms, redraw_cpu = results["REDRAW"]
    json_ms, json_cpu = results["REDRAW + to_json"]
    peer_ms, peer_cpu = results["PEER: Heatmap + to_json"]
    verdict = "meets" if redraw_ms <= GOAL_MS else "MISSES"
    print(
        f"redraw (plane + figure + image + PNG): {redraw_ms:.1f} ms wall ({redraw_cpu:.1f} ms CPU); "
        f"goal <= {GOAL_MS:.0f} ms: {verdict}; {redraw_ms / peer_ms:.1f}x the peer (CPU {redraw_cpu / peer_cpu:.1f}x)"
    )
    print(
        f"with the figure's to_json:             {json_ms:.1f} ms wall ({json_cpu:.1f} ms CPU); "
        f"{json_ms / peer_ms:.1f}x the peer (CPU {json_cpu / peer_cpu:.1f}x)"
    )
    return 0 if redraw_ms <= GOAL_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
