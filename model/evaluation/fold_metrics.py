"""The metrics of one test fold, torch-free so that the helper process (model.runtime.helper_process) can compute
them too; model.evaluation.cross_validation documents them and re-exports these names.

Calibration (Van Calster et al. 2016, "weak calibration"), from a logistic recalibration of the predicted
log-odds L = logit(p) on the test fold: slope b in logit P(y=1) = a + b*L; intercept a in
logit P(y=1) = a + 1*L (offset).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    roc_auc_score,
)

_PROBABILITY_CLIP = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _PROBABILITY_CLIP, 1 - _PROBABILITY_CLIP)
    return np.log(p / (1 - p))


def fit_logistic(
    design: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray | None:
    """Maximum-likelihood logistic regression (Newton with step halving); None if it does not converge.

    Separable folds have no finite maximum: the coefficients then diverge and we say so with None.
    """
    beta = np.zeros(design.shape[1])

    def log_likelihood(b):
        eta = offset + design @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta)))

    current = log_likelihood(beta)
    for _ in range(max_iter):
        p = expit(offset + design @ beta)  # no overflow warning on separable folds, where eta diverges
        gradient = design.T @ (y - p)
        hessian = design.T @ (design * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(hessian + 1e-12 * np.eye(len(beta)), gradient)
        except np.linalg.LinAlgError:
            return None
        scale = 1.0
        while scale > 1e-8:
            candidate = beta + scale * step
            value = log_likelihood(candidate)
            if value >= current - 1e-12:
                break
            scale /= 2
        beta, previous, current = candidate, current, value
        if abs(current - previous) < tol and np.max(np.abs(scale * step)) < 1e-7:
            return beta if np.all(np.abs(beta) < 1e3) else None
    return None


def calibration_slope_intercept(y_true, proba) -> tuple[float, float]:
    """(slope, intercept) of logistic recalibration; NaN where undefined (one class, separation)."""
    y = np.asarray(y_true, dtype=float)
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    logits = _logit(np.asarray(proba, dtype=float))
    ones = np.ones((len(y), 1))
    joint = fit_logistic(np.column_stack([ones, logits]), y, np.zeros(len(y)))
    in_the_large = fit_logistic(ones, y, logits)
    slope = float(joint[1]) if joint is not None else float("nan")
    intercept = float(in_the_large[0]) if in_the_large is not None else float("nan")
    return slope, intercept


def classification_metrics(y_true, proba, threshold: float = 0.5) -> dict[str, float]:
    """All probability and threshold metrics for one test fold."""
    y = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    predicted = (proba >= threshold).astype(int)
    positives, negatives = y == 1, y == 0
    slope, intercept = calibration_slope_intercept(y, proba)
    two_classes = positives.any() and negatives.any()
    return {
        "accuracy": accuracy_score(y, predicted),
        "roc_auc": roc_auc_score(y, proba) if two_classes else float("nan"),
        "pr_auc": average_precision_score(y, proba) if positives.any() else float("nan"),
        "sensitivity": float(predicted[positives].mean()) if positives.any() else float("nan"),
        "specificity": float(1 - predicted[negatives].mean()) if negatives.any() else float("nan"),
        "f1": f1_score(y, predicted, zero_division=0.0),
        "brier": brier_score_loss(y, proba, pos_label=1),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }


def metrics_of_folds(y: np.ndarray, tests: Sequence[np.ndarray], probas: Sequence[np.ndarray]) -> list[dict]:
    """classification_metrics of each fold (its test rows of y, its probabilities).

    scikit-learn's argument checks are skipped (sklearn.config_context, a public setting): the labels are a
    checked 0/1 target and the probabilities finite; the checks cost about a sixth of the metrics' time."""
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return [classification_metrics(y[test], proba) for test, proba in zip(tests, probas, strict=True)]
