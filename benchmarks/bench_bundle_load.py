"""Time loading a model bundle with its integrity checks against loading it as before them, in one run.

Ours:  model.serving.bundle.load_bundle on the shipped default bundle: strict metadata checks, weight
       names/dtypes/shapes checked before their values, SHA-256 of the three files, and the
       probe patients' P(disease) recomputed and compared with the record.
Peer:  the load path without these checks, kept below as `load_without_checks`: read the JSON
       files, torch.load(weights_only=True), NaN check, rebuild the preprocessor from the saved
       statistics (SavedPreprocessor, as load_bundle does) and the network.
Goal:  ours ≤ 1.2× the peer. Also printed: the cost of the checks alone (hashes, probes).

Both are timed alternately, one call each per round, median over rounds: the two cores of this
machine are shared, and alternating exposes both to the same load. --cold N also times the first
load in N fresh processes each (after the imports), alternating ours and the peer.

    python benchmarks/bench_bundle_load.py [--rounds 40] [--cold 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data.schema import FEATURE_NAMES
from model.evaluation.pipelines import ANN_STEP, PREPROCESS_STEP
from model.nn.estimator import ANNClassifier
from model.serving import bundle
from model.serving.saved_preprocessor import SavedPreprocessor

GOAL_RATIO = 1.2
BENCHMARKS = Path(__file__).resolve().parent
COLD_SCRIPT = """
import sys, time
sys.path[:0] = [{benchmarks!r}, {root!r}]
import bench_bundle_load
from model.serving import bundle
load = bundle.load_bundle if sys.argv[1] == "ours" else bench_bundle_load.load_without_checks
start = time.perf_counter()
load(bundle.DEFAULT_BUNDLE)
print(time.perf_counter() - start)
"""


def first_load_seconds(which: str) -> float:
    code = COLD_SCRIPT.format(benchmarks=str(BENCHMARKS), root=str(BENCHMARKS.parent))
    done = subprocess.run([sys.executable, "-c", code, which], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def load_without_checks(folder: Path) -> Pipeline:
    """The bundle load as it was before the integrity checks (the peer): same files, same result."""
    metadata = json.loads((folder / bundle.METADATA_FILE).read_text(encoding="utf-8"))
    config_dict = json.loads((folder / bundle.CONFIG_FILE).read_text(encoding="utf-8"))
    state = json.loads((folder / bundle.PREPROCESSING_FILE).read_text(encoding="utf-8"))
    weights = torch.load(folder / bundle.WEIGHTS_FILE, map_location="cpu", weights_only=True)
    assert all(bool(torch.isfinite(v).all()) for v in weights.values())
    numeric, binary, categorical = state["numeric"], state["binary"], state["categorical"]
    preprocessor = SavedPreprocessor.from_statistics(
        numeric_median=numeric["impute_median"],
        numeric_mean=numeric["scale_mean"],
        numeric_scale=numeric["scale_scale"],
        numeric_var=numeric["scale_var"],
        n_samples_seen=numeric["n_samples_seen"],
        binary_fill=binary["impute_most_frequent"],
        categorical_fill=categorical["impute_most_frequent"],
        empty_features=state.get("empty_features", []),
    )
    ann = ANNClassifier.from_state(config_dict, weights, metadata["n_inputs"], classes=metadata["classes"])
    return Pipeline([(PREPROCESS_STEP, preprocessor), (ANN_STEP, ann)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--cold", type=int, default=0, help="also time the first load in this many fresh processes")
    args = parser.parse_args()
    folder = bundle.DEFAULT_BUNDLE

    ours, peer = bundle.load_bundle(folder), load_without_checks(folder)
    assert ours.integrity_warning is None, ours.integrity_warning
    X = pd.DataFrame(
        [[np.nan if v is None else v for v in p.values()] for p in bundle.probe_patients()], columns=list(FEATURE_NAMES)
    )
    np.testing.assert_array_equal(ours.predict_proba(X), peer.predict_proba(X))  # the same model either way

    record = ours.metadata["integrity"]
    files = {name: (folder / name).read_bytes() for name in bundle.HASHED_FILES}
    probe_frame = bundle._probe_frame(record["probes"]["patients"])

    def hashes() -> None:
        for name, data in files.items():
            assert hashlib.sha256(data).hexdigest() == record["sha256"][name]

    work = {
        "ours (with checks)": lambda: bundle.load_bundle(folder),
        "peer (before the checks)": lambda: load_without_checks(folder),
        "  of which hashes": hashes,
        "  of which probe predictions": lambda: ours.predict_proba(probe_frame),
    }
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(args.rounds):
        for name, call in work.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}

    print(
        f"Bundle load, shipped default ({folder.name}), median of {args.rounds} alternating rounds; "
        f"torch {torch.__version__}"
    )
    for name, seconds in median.items():
        print(f"  {name:32s} {seconds * 1000:7.1f} ms")
    ratio = median["ours (with checks)"] / median["peer (before the checks)"]
    print(f"  ratio ours / peer: {ratio:.2f}x (goal <= {GOAL_RATIO}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'})")
    if args.cold:
        cold = {"ours": [], "peer": []}
        for _ in range(args.cold):
            for which in cold:
                cold[which].append(first_load_seconds(which))
        ours_s, peer_s = statistics.median(cold["ours"]), statistics.median(cold["peer"])
        print(
            f"First load in a fresh process, median of {args.cold}: ours {ours_s * 1000:.0f} ms, peer "
            f"{peer_s * 1000:.0f} ms, ratio {ours_s / peer_s:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
