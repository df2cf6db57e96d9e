"""A 200,000-row cohort (the upload cap) through each step an analyst takes, timed against a peer, with memory.

    python benchmarks/bench_big_cohort.py [--rows 200000]

Data: the built-in Cleveland rows resampled to --rows rows with small noise on the numeric features
(bench_explore_large.large_frame), written as a CSV file as an analyst would upload it.

Steps, each "ours" against a peer measured in the same run, and the process's peak resident memory after it:
  import    model.data.csv_import.read_user_csv (coding checks, validation report)  vs  pandas.read_csv
  explore   every statistic of the Data exploration page (bench_explore_large.page_statistics)
            vs  pandas describe() + Spearman correlation
  train     the recommended network (model.nn.presets.RECOMMENDED) through pipeline_from_config on 80 % of
            the rows  vs  scikit-learn's MLPClassifier of the same shape, optimizer, batch and epochs after
            the same preprocessing
  score     predict_proba of every row  vs  the MLPClassifier's
  batch     the Patient risk page's batch tab on every row with the shipped model: per-row checks, risk averaged
            over the plausible fillings of unknown values, Monte Carlo dropout interval, typicality, bands
            (model.clinic.risk.score_batch)  vs  a LogisticRegression pipeline's predict_proba
  compare   the default 5 x 2 comparison (7 classical models + the ANN, learning curves, permutation importance;
            model.evaluation.comparison.run_comparison), with the seconds of every stage and what the size
            changed  vs  the same models fitted once on one 50 % split (the least any 5 x 2 comparison does)

--skip-compare leaves out the comparison (minutes at 200,000 rows on 2 cores).
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_explore_large import large_frame, page_statistics  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from model.data.csv_import import read_user_csv  # noqa: E402
from model.data.preprocessing import features_and_target, make_preprocessor  # noqa: E402
from model.evaluation.comparison import Protocol, workload_problems  # noqa: E402
from model.evaluation.pipelines import pipeline_from_config  # noqa: E402
from model.nn.presets import RECOMMENDED  # noqa: E402
from model.serving.runs import config_summary  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def report(step: str, ours: float, peer: float, peer_name: str) -> None:
    times = f"ours {ours:7.2f} s   {peer_name:<28} {peer:7.2f} s   ratio {ours / peer:5.2f}"
    print(f"{step:<8} {times}   peak {peak_mb():6.0f} MB")


def peer_network(config, n_train: int):
    """MLPClassifier with the network's shape, optimizer, learning rate, batch and epochs (no dropout there)."""
    layers = tuple(layer.units for layer in config.hidden_layers)
    return MLPClassifier(
        hidden_layer_sizes=layers,
        activation=config.hidden_layers[0].activation,
        solver="adam",
        learning_rate_init=config.learning_rate,
        alpha=config.weight_decay,
        batch_size=config.batch_size or n_train,  # None: full batch
        max_iter=config.epochs,
        tol=0.0,
        n_iter_no_change=config.epochs + 1,
        random_state=config.seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()

    csv_bytes = large_frame(args.rows).to_csv(index=False).encode()
    print(f"{args.rows:,} rows, CSV {len(csv_bytes) / 1e6:.1f} MB; peak so far {peak_mb():.0f} MB")

    imported, ours = timed(lambda: read_user_csv(csv_bytes, coding="uci"))
    _, peer = timed(lambda: pd.read_csv(io.BytesIO(csv_bytes)))
    if imported.frame is None:
        raise SystemExit(f"the import refused the file: {imported.report}")
    frame = imported.frame
    report("import", ours, peer, "pandas.read_csv")

    _, ours = timed(lambda: page_statistics(frame))
    _, peer = timed(lambda: (frame.describe(), frame.corr(method="spearman")))
    report("explore", ours, peer, "describe + Spearman corr")

    X, y = features_and_target(frame)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    config = RECOMMENDED.replace(device="cpu")
    print(f"network: {config_summary(config)}")
    ours_model, ours = timed(lambda: pipeline_from_config(config).fit(X_train, y_train))
    peer_model = make_pipeline(make_preprocessor(), peer_network(config, len(X_train)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs, as ours
        _, peer = timed(lambda: peer_model.fit(X_train, y_train))
    report("train", ours, peer, "sklearn MLPClassifier")

    _, ours = timed(lambda: ours_model.predict_proba(X))
    _, peer = timed(lambda: peer_model.predict_proba(X))
    report("score", ours, peer, "sklearn MLPClassifier")

    batch_tab(frame)
    if not args.skip_compare:
        comparison(frame)


def batch_tab(frame) -> None:
    from bench_predict import the_model
    from sklearn.linear_model import LogisticRegression

    from model.clinic.reference import reference_for_model
    from model.clinic.risk import score_batch
    from model.data.datasets import load_dataset
    from model.data.schema import FEATURE_NAMES
    from model.evaluation.classical import with_preprocessing

    data = load_dataset("cleveland")
    pipeline, metadata, source = the_model(data)
    reference = reference_for_model(pipeline, metadata, data if not metadata else None)
    rows = frame[list(FEATURE_NAMES)].astype(object)
    rows.loc[3::10, "thal"] = None  # one row in ten with an unknown value, averaged over its plausible values
    result, ours = timed(lambda: score_batch(pipeline, rows, reference=reference))
    peer_model = with_preprocessing(LogisticRegression(max_iter=2000)).fit(data[list(FEATURE_NAMES)], data["target"])
    _, peer = timed(lambda: peer_model.predict_proba(frame[list(FEATURE_NAMES)]))
    print(f"batch    {len(result.scored):,} rows scored with every per-row extra ({source})")
    report("batch", ours, peer, "LogisticRegression predict")


def comparison(frame) -> None:
    from model.evaluation.classical import classical_models
    from model.evaluation.comparison import DEFAULT_MODELS, run_comparison

    protocol = Protocol(5, 2, 0)
    problems = workload_problems(len(frame), protocol)
    if problems:
        print("compare  5 x 2 refused: " + problems[0])
        return
    config = RECOMMENDED.replace(device="cpu")
    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.05:
            last[0] = fraction
            print(f"  {100 * fraction:3.0f} %  {message}", flush=True)

    result, ours = timed(lambda: run_comparison(frame, list(DEFAULT_MODELS), config, protocol, progress=progress))
    X, y = features_and_target(frame)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)

    def once_each():
        for pipeline in [pipeline_from_config(config), *classical_models().values()]:
            pipeline.fit(X_train, y_train).predict_proba(X_test)

    _, peer = timed(once_each)
    for stage, seconds in sorted(result.stage_seconds.items(), key=lambda item: -item[1]):
        print(f"  {stage:55s} {seconds:7.1f} s")
    for fallback in result.fallbacks:
        print(f"  said on the page: {fallback}")
    report("compare", ours, peer, "each model fitted once")


if __name__ == "__main__":
    main()
