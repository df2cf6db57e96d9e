"""Search time: this process against a Dask LocalCluster of one and of two workers (one thread per worker process).

    python benchmarks/bench_search.py [--trials 16] [--wave 4]

Same seed, same trials on both (checked here too); prints the seconds of each and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import distributed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data.datasets import load_dataset
from model.evaluation.search import SearchSpace, search_ann
from model.runtime.backends import DaskBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--wave", type=int, default=4)
    args = parser.parse_args()
    frame = load_dataset("cleveland")
    X, y = frame.drop(columns="target"), frame["target"]
    settings = dict(n_trials=args.trials, wave_size=args.wave, space=SearchSpace(epochs=(20, 120)), seed=0)

    start = time.perf_counter()
    local = search_ann(X, y, backend="local", **settings)
    local_s = time.perf_counter() - start

    remote_s, same = {}, True
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.run(lambda: __import__("model.evaluation.search"))  # warm the workers' imports, not timed
            start = time.perf_counter()
            remote = search_ann(X, y, backend=DaskBackend(client), **settings)
            remote_s[workers] = time.perf_counter() - start
        same = same and local.trials["value"].equals(remote.trials["value"])

    print(f"{args.trials} trials, 5-fold CV, waves of {args.wave}; identical scores everywhere: {same}")
    print(f"local (this process):           {local_s:7.1f} s")
    for workers, seconds in remote_s.items():
        print(f"Dask LocalCluster, {workers} worker(s): {seconds:7.1f} s   local / cluster {local_s / seconds:5.2f}x")
    print(f"scaling 1 -> 2 workers:         {remote_s[1] / remote_s[2]:7.2f}x")


if __name__ == "__main__":
    main()
