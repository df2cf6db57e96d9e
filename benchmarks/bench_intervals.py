"""Which uncertainty interval behaves better away from the data: Monte Carlo dropout or a small deep ensemble?

Issue 11 §2: the MC-dropout interval does not widen for patients unlike the training
patients. This script measures, on the same split of the built-in Cleveland data
(70 % training, 30 % held out, stratified, seed 0):

- MC dropout: the recommended network (seed 0), 200 passes with dropout on, central 95 %;
- deep ensemble: the same network trained from 5 seeds, the interval spanning the 5 members'
  probabilities (min – max);

for the held-out patients as they are (typical) and for the same patients made atypical
(age + 30 years, cholesterol × 2, maximum heart rate − 60 bpm: far outside the training
data), and reports the mean interval width, the ratio atypical / typical (a method that
widens away from the data has a ratio above 1), the ensemble's and the single network's
ROC AUC and Brier score on the held-out patients, and the time per patient.

    python benchmarks/bench_intervals.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from model.clinic.risk import mc_dropout_bounds, positive_probability
from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES, feature
from model.evaluation.pipelines import ann_pipeline

MEMBERS = 5


def atypical(frame):
    far = frame.copy()
    far["age"] = np.minimum(far["age"] + 30, feature("age").hard_max)
    far["chol"] = np.minimum(far["chol"] * 2, feature("chol").hard_max)
    far["thalach"] = np.maximum(far["thalach"] - 60, feature("thalach").hard_min)
    return far


def main() -> None:
    data = load_dataset("cleveland")
    X, y = data[list(FEATURE_NAMES)], data["target"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    members = [ann_pipeline(seed=seed).fit(X_train, y_train) for seed in range(MEMBERS)]
    single = members[0]
    rows = {"typical (held out)": X_test, "atypical (held out, moved far)": atypical(X_test)}
    widths = {}
    for name, frame in rows.items():
        start = time.perf_counter()
        bounds = mc_dropout_bounds(single, frame, np.ones(len(frame), dtype=int), 200)
        mc_time = (time.perf_counter() - start) / len(frame)
        start = time.perf_counter()
        spread = np.stack([positive_probability(member, frame) for member in members])
        ensemble_time = (time.perf_counter() - start) / len(frame)
        widths[name] = (float(np.mean(bounds[:, 1] - bounds[:, 0])), float(np.mean(spread.max(0) - spread.min(0))))
        print(
            f"{name:32s} mean width: MC dropout {widths[name][0]:.3f} ({1000 * mc_time:.2f} ms/patient), "
            f"deep ensemble of {MEMBERS} {widths[name][1]:.3f} ({1000 * ensemble_time:.2f} ms/patient)"
        )
    typical, far = widths["typical (held out)"], widths["atypical (held out, moved far)"]
    print(
        f"ratio atypical / typical width: MC dropout {far[0] / typical[0]:.2f}, deep ensemble {far[1] / typical[1]:.2f}"
    )
    mean = np.mean([positive_probability(member, X_test) for member in members], axis=0)
    alone = positive_probability(single, X_test)
    print(
        f"held-out ROC AUC / Brier: single network {roc_auc_score(y_test, alone):.3f} / "
        f"{brier_score_loss(y_test, alone):.3f}; ensemble mean {roc_auc_score(y_test, mean):.3f} / "
        f"{brier_score_loss(y_test, mean):.3f}"
    )


if __name__ == "__main__":
    main()
