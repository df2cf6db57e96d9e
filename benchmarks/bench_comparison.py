"""Speed of the comparison page's work, timed side by side in one run.

1. The ANN's 5x10 cross-validation, three ways on the same 50 splits:
   - batched:    model.evaluation.batched_cv.BatchedANN (all 50 fold networks trained together);
   - sequential: the ANN pipeline fitted fold by fold (what cross-validation did before);
   - peer:       scikit-learn's MLPClassifier with the same hidden layer, epochs and L2, behind the
                 same preprocessing, fitted 50 times.
   Target (issue 5): batched <= 5 s, several times faster than the peer; same ROC AUC as sequential.
   Done for the recommended network (full batch) and for a mini-batch network.
2. The full default comparison (7 classical models + the ANN, 5x10, learning curves and
   permutation importance), with the seconds of every stage, the time to the first leaderboard row (the first
   model finished: they run cheapest first) and the total. Goals (issue 15): first row <= 3 s, total <= 12 s.
   --compare-single-process runs it a second time with the helper process off
   (HEART_ANN_HELPER_PROCESSES=0: one core, as before) and prints the ratios.

    python benchmarks/bench_comparison.py [--repeats 10] [--folds 5] [--skip-full] [--only-full]
                                          [--compare-single-process]

The machine is shared: the load average at the start is printed with the timings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from model.data.datasets import load_dataset
from model.data.preprocessing import features_and_target
from model.evaluation.batched_cv import BatchedANN
from model.evaluation.classical import with_preprocessing
from model.evaluation.comparison import DEFAULT_MODELS, Protocol, run_comparison
from model.evaluation.cross_validation import cross_validate_models, make_splits
from model.evaluation.pipelines import pipeline_from_config
from model.nn.config import LayerConfig
from model.nn.estimator import ANNClassifier
from model.nn.presets import RECOMMENDED
from model.runtime.helper_process import HELPER_PROCESSES_ENV
from model.runtime.threads import one_thread

MINI_BATCH = RECOMMENDED.replace(
    hidden_layers=[LayerConfig(16, "relu", 0.2)], batch_size=32, epochs=100, learning_rate=0.005
)


def peer_for(config) -> MLPClassifier:
    """MLPClassifier with the config's layers, optimizer (Adam), epochs, batch and L2."""
    return MLPClassifier(
        hidden_layer_sizes=[layer.units for layer in config.hidden_layers],
        activation=config.hidden_layers[0].activation,
        solver="adam",
        learning_rate_init=config.learning_rate,
        alpha=config.weight_decay,
        batch_size=config.batch_size or 1_000_000,
        max_iter=config.epochs,
        shuffle=True,
        random_state=config.seed,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=10**6,
    )


def timed_cv(model, X, y, splits, n_splits: int) -> tuple[float, float]:
    start = time.perf_counter()
    result = cross_validate_models({"m": model}, X, y, splits=splits, n_splits=n_splits)
    seconds = time.perf_counter() - start
    return seconds, float(result.summary.query("metric == 'roc_auc'")["mean"].iloc[0])


def training_only(estimator_for, folds, y, splits) -> float:
    """Seconds to fit one estimator per split on that split's preprocessed training rows."""
    start = time.perf_counter()
    for k, (train, _) in enumerate(splits):
        estimator_for().fit(folds.X[k][train], y[train])
    return time.perf_counter() - start


def ann_cv(name: str, config, X, y, splits, n_splits: int) -> None:
    print(f"\n== ANN cross-validation, {len(splits)} folds: {name}")
    batched = BatchedANN(config)
    peer = with_preprocessing(peer_for(config))
    for model in (BatchedANN(config.replace(epochs=2)), pipeline_from_config(config.replace(epochs=2)), peer):
        timed_cv(model, X, y, splits[:n_splits], n_splits)  # warm-up: first calls pay lazy initialisation
    whole = [
        ("batched (all folds together)", *timed_cv(batched, X, y, splits, n_splits)),
        ("sequential (fold by fold)", *timed_cv(pipeline_from_config(config), X, y, splits, n_splits)),
        (f"sklearn MLPClassifier x{len(splits)}", *timed_cv(peer, X, y, splits, n_splits)),
    ]
    folds = batched.cache.get(X, splits)
    training = [
        batched.seconds,
        training_only(lambda: ANNClassifier.from_config(config), folds, y, splits),
        training_only(lambda: peer_for(config), folds, y, splits),
    ]
    print(f"  {'':32s} {'whole CV':>9s} {'training only':>14s}   mean ROC AUC")
    for (label, seconds, auc), train_s in zip(whole, training, strict=True):
        print(f"  {label:32s} {seconds:7.2f} s {train_s:11.2f} s   {auc:.3f}")
    print(
        "  (whole CV = per-fold preprocessing + training + prediction + metrics, the same work for all three;"
        "\n   training only = the fits on the already preprocessed folds)"
    )
    for index, peer_name in ((1, "sequential"), (2, "MLPClassifier")):
        print(
            f"  {peer_name} / batched: whole CV {whole[index][1] / whole[0][1]:.1f}x, "
            f"training {training[index] / training[0]:.1f}x"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-full", action="store_true", help="only the ANN cross-validation timings")
    parser.add_argument("--only-full", action="store_true", help="only the full comparison")
    parser.add_argument(
        "--compare-single-process", action="store_true", help="also run the full comparison without the helper"
    )
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch {torch.__version__}")
    frame = load_dataset("cleveland")
    X, y = features_and_target(frame)
    y = y.to_numpy()
    splits = make_splits(y, args.folds, args.repeats, 0)
    if not args.only_full:
        with one_thread(torch_ops=False), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # MLPClassifier: a full batch is "clipped" to n
            ann_cv("recommended network (full batch)", RECOMMENDED, X, y, splits, args.folds)
            ann_cv("16 ReLU, dropout 0.2, mini-batch 32, 100 epochs", MINI_BATCH, X, y, splits, args.folds)

    if args.skip_full:
        return 0
    print(
        f"\n== Full default comparison: {len(DEFAULT_MODELS)} models, {args.folds}x{args.repeats}, "
        "learning curves, permutation importance"
    )
    protocol = Protocol(args.folds, args.repeats, 0)
    report, first_row, total = full_comparison(frame, protocol)
    for stage, seconds in sorted(report.stage_seconds.items(), key=lambda item: -item[1]):
        print(f"  {stage:55s} {seconds:7.2f} s")
    label = "first leaderboard row (first model finished)"
    print(f"  {label:55s} {first_row:7.2f} s   (goal <= 3 s: {_met(first_row, 3)})")
    print(f"  {'TOTAL':55s} {total:7.2f} s   (goal <= 12 s: {_met(total, 12)})")
    if args.compare_single_process:
        os.environ[HELPER_PROCESSES_ENV] = "0"
        try:
            _, first_single, total_single = full_comparison(frame, protocol)
        finally:
            del os.environ[HELPER_PROCESSES_ENV]
        print(
            f"  one process (helper off): first row {first_single:.2f} s, total {total_single:.2f} s; "
            f"with the helper: {first_single / first_row:.2f}x / {total_single / total:.2f}x faster "
            f"(load average now {os.getloadavg()[0]:.1f})"
        )
    print("\n" + report.result.table().to_string())
    decision_analyses(frame, report.result, total)
    return 0


def _met(seconds: float, goal: float) -> str:
    return "met" if seconds <= goal else "MISSED"


def full_comparison(frame, protocol: Protocol):
    """(report, seconds to the first model's results, total seconds) of the default comparison."""
    finished: list[float] = []
    start = time.perf_counter()
    report = run_comparison(
        frame,
        list(DEFAULT_MODELS),
        RECOMMENDED,
        protocol,
        on_model=lambda event: finished.append(time.perf_counter() - start),
    )
    return report, finished[0], time.perf_counter() - start


def decision_analyses(frame, result, comparison_seconds: float) -> None:
    """What the Compare page adds once a comparison has finished (issue 14): every model's decision curves over
    the repeats, the default harm-to-benefit point, and the subgroup table (with its bootstrap intervals) of the
    best model. Goal: at most 10 % of the comparison's own time."""
    from dashboard import compare_decision_views as views
    from model.evaluation.decision_curves import threshold_from_harm_ratio
    from model.evaluation.subgroups import subgroup_performance

    start = time.perf_counter()
    models = list(result.ranked_models())
    views.comparison_decision_curves(result.y, result.oof, models)
    threshold = threshold_from_harm_ratio(views.DEFAULT_HARM_RATIO)
    views.repeated_decision_point(result.y, result.oof[models[0]], threshold)
    curves = time.perf_counter() - start
    groups = views.comparison_groups(frame, result.y)
    subgroup_performance(result.y, views.mean_out_of_fold(result.oof[models[0]]), groups)
    analyses = time.perf_counter() - start
    print(
        f"\n== Decision curves ({len(models)} models) {curves:.2f} s + subgroups (best model) {analyses - curves:.2f} s"
        f" = {analyses:.2f} s: {100 * analyses / comparison_seconds:.1f} % of the comparison "
        f"(goal <= 10 %: {'met' if analyses <= 0.1 * comparison_seconds else 'MISSED'})"
    )


if __name__ == "__main__":
    sys.exit(main())
