"""What a probability threshold means for patients: the confusion matrix, sensitivity and
specificity at any threshold, and the ROC / precision-recall / calibration curves.

Thin wrappers over sklearn.metrics / sklearn.calibration so every page reads the same
numbers; computation only (the dashboard draws them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


@dataclass(frozen=True)
class OperatingPoint:
    """Counts and rates when every patient with P(disease) >= threshold is called positive."""

    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def sensitivity(self) -> float:
        """True-positive rate: share of diseased patients the model flags."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        """True-negative rate: share of healthy patients the model clears."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn)

    def matrix(self) -> np.ndarray:
        """[[tn, fp], [fn, tp]]: rows = true outcome, columns = predicted (sklearn's layout)."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])


@dataclass(frozen=True)
class Curve:
    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    area: float  # ROC AUC, average precision; NaN for calibration


def operating_point(y_true, proba, threshold: float = 0.5) -> OperatingPoint:
    y_true, proba = _checked(y_true, proba)
    predicted = (proba >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    return OperatingPoint(float(threshold), int(tn), int(fp), int(fn), int(tp))


def sensitivity_specificity_curve(y_true, proba, n_points: int = 101) -> dict[str, np.ndarray]:
    """Sensitivity and specificity over evenly spaced thresholds in [0, 1] (for the threshold view)."""
    y_true, proba = _checked(y_true, proba)
    thresholds = np.linspace(0.0, 1.0, n_points)
    called = proba[None, :] >= thresholds[:, None]
    positives, negatives = y_true == 1, y_true == 0
    sensitivity = called[:, positives].mean(axis=1) if positives.any() else np.full(n_points, np.nan)
    specificity = (~called[:, negatives]).mean(axis=1) if negatives.any() else np.full(n_points, np.nan)
    return {"threshold": thresholds, "sensitivity": sensitivity, "specificity": specificity}


def roc(y_true, proba) -> Curve:
    """False-positive rate (x) against true-positive rate (y)."""
    y_true, proba = _checked(y_true, proba)
    if len(np.unique(y_true)) < 2:
        return Curve(np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), float("nan"))
    fpr, tpr, thresholds = roc_curve(y_true, proba)
    return Curve(fpr, tpr, thresholds, float(roc_auc_score(y_true, proba)))


def precision_recall(y_true, proba) -> Curve:
    """Recall (x) against precision (y); area = average precision."""
    y_true, proba = _checked(y_true, proba)
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    area = float(average_precision_score(y_true, proba)) if y_true.any() else float("nan")
    return Curve(recall, precision, np.append(thresholds, 1.0), area)


def calibration(y_true, proba, n_bins: int | None = None) -> Curve:
    """Mean predicted probability per bin (x) against the observed share of disease (y).

    Equal-width bins; by default about 20 patients per bin (3 to 10 bins) so that a small
    validation set does not give a curve made of noise.
    """
    y_true, proba = _checked(y_true, proba)
    if n_bins is None:
        n_bins = int(np.clip(len(y_true) // 20, 3, 10))
    observed, predicted = calibration_curve(y_true, proba, n_bins=n_bins, strategy="uniform")
    return Curve(predicted, observed, np.array([]), float("nan"))


def _checked(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).astype(int).ravel()
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2:
        proba = proba[:, -1]
    if y_true.shape != proba.shape:
        raise ValueError(f"{len(y_true)} outcomes but {len(proba)} probabilities")
    return y_true, proba


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")
