"""Quality of the default network: 5x10 repeated stratified CV on the built-in data.

Targets (issue 2, section 10): ROC AUC >= 0.91, accuracy >= 0.84, Brier score <= 0.12.
Peers on the very same splits: logistic regression, and scikit-learn's MLPClassifier
(32-16 ReLU, Adam, batch 64, 300 epochs, its default L2 of 1e-4) behind the same
preprocessing. Also prints each model's fit+predict seconds summed over the 50 folds,
and the ANN / MLPClassifier ratio: each model as configured here (the settings differ), so
it is the cost of the quality shown, not a same-settings speed test of the training loop.

    python benchmarks/bench_cv_quality.py [--repeats 10] [--folds 5] [--seed 0]

Exit status 1 when the default network misses a target.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from model.data.datasets import load_dataset
from model.data.preprocessing import features_and_target
from model.evaluation.classical import with_preprocessing
from model.evaluation.cross_validation import cross_validate_models, make_splits
from model.evaluation.pipelines import ann_pipeline

TARGETS = {"roc_auc": (">=", 0.91), "accuracy": (">=", 0.84), "brier": ("<=", 0.12)}
ANN = "ANN (recommended)"
MLP = "sklearn MLPClassifier 32-16"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frame = load_dataset("cleveland")
    X, y = features_and_target(frame)
    splits = make_splits(y, args.folds, args.repeats, args.seed)
    models = {
        ANN: ann_pipeline(),
        "Logistic regression": with_preprocessing(LogisticRegression(max_iter=2000)),
        MLP: with_preprocessing(
            MLPClassifier(
                hidden_layer_sizes=(32, 16), solver="adam", batch_size=64, max_iter=300, random_state=args.seed
            )
        ),
    }
    warnings.simplefilter("ignore", ConvergenceWarning)
    result = cross_validate_models(models, X, y, n_splits=args.folds, splits=splits, seed=args.seed)
    # Time spent fitting and predicting, summed over the folds (metric computation excluded).
    seconds = result.folds.groupby("model")[["fit_seconds", "predict_seconds"]].sum().sum(axis=1)

    mean, low, high = result.wide(), result.wide("ci_low"), result.wide("ci_high")
    verdicts = result.paired_tests.set_index("model")["verdict"]
    rows = []
    for name in models:
        rows.append(
            {
                "model": name,
                **{
                    m: f"{mean.loc[name, m]:.3f} ({low.loc[name, m]:.3f}-{high.loc[name, m]:.3f})"
                    for m in ("roc_auc", "accuracy", "brier", "calibration_slope")
                },
                "CV seconds": f"{seconds[name]:.1f}",
                "vs best (ROC AUC)": verdicts[name],
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    print(
        f"{args.folds}x{args.repeats} repeated stratified CV, built-in Cleveland data ({len(y)} patients), "
        f"identical splits (seed {args.seed}); mean (95% corrected-t interval)"
    )
    with pd.option_context("display.width", 250, "display.max_columns", 10, "display.max_colwidth", 60):
        print(table.to_string())
    print(f"ANN CV seconds / MLPClassifier CV seconds = {seconds[ANN] / seconds[MLP]:.2f}")

    ann = mean.loc[ANN]
    failed = False
    for metric, (op, bound) in TARGETS.items():
        ok = ann[metric] >= bound if op == ">=" else ann[metric] <= bound
        failed |= not ok
        print(f"  {'PASS' if ok else 'FAIL'}  {metric} {ann[metric]:.4f} {op} {bound}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
