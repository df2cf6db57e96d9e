"""Decision-curve analysis (Vickers & Elkin 2006): is acting on the model better than testing everyone or no one?

A clinician who would send a patient on for testing once the risk reaches a threshold probability pt
weighs a missed case against an unneeded test as (1 - pt) : pt. At that threshold the model's net benefit is

    NB(pt) = TP/n - FP/n · pt / (1 - pt)

(true positives found per patient, less the unneeded tests, weighted by the harm ratio). "Treat all" tests
everyone: NB = prevalence - (1 - prevalence) · pt / (1 - pt); "treat none" tests no one: NB = 0. A model
is worth using at the thresholds where its curve lies above both.

A patient counts as positive when P(disease) >= pt, the inequality of dcurves' ``dca()`` (its reference
implementation in Python); at every threshold strictly between 0 and 1 the two give identical net benefits.

Cross-validated predictions with repeats (model.evaluation.cross_validation.ComparisonResult.oof: one
prediction per patient and repeat) give one curve per repeat; the curve reported is their mean, with the
lowest and highest repeat as its spread. Computation only: the dashboard draws the curves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.evaluation.thresholds import operating_point

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)  # 0.01 ... 0.99 without float noise
MIN_HARM_RATIO, MAX_HARM_RATIO = 1.0, 100.0  # pt from 0.5 down to about 0.01
TREAT_ALL, TREAT_NONE = "Treat all", "Treat none"


# ------------------------------------------------------------------ checks
def _checked_outcomes(y, proba) -> tuple[np.ndarray, np.ndarray]:
    """y as 0/1 ints and proba as floats in [0, 1], one each per patient, or a ValueError saying what is wrong."""
    y = np.asarray(y).ravel()
    proba = np.asarray(proba, dtype=float).ravel()
    if len(y) == 0:
        raise ValueError("no patients: a decision curve needs outcomes and predicted risks")
    if len(y) != len(proba):
        raise ValueError(f"{len(y)} outcomes but {len(proba)} predicted risks")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("the outcomes must be 0 (no disease) or 1 (disease)")
    if not np.all(np.isfinite(proba)) or proba.min() < 0 or proba.max() > 1:
        raise ValueError("the predicted risks must be probabilities from 0 to 1, none missing")
    return y.astype(int), proba


def _checked_thresholds(thresholds) -> np.ndarray:
    """Thresholds as a 1-D float array strictly between 0 and 1 (at 1 the harm weight pt/(1-pt) is infinite)."""
    thresholds = np.asarray(thresholds, dtype=float).ravel()
    if len(thresholds) == 0:
        raise ValueError("no threshold probabilities given")
    if not np.all(np.isfinite(thresholds)) or thresholds.min() <= 0 or thresholds.max() >= 1:
        raise ValueError("threshold probabilities must lie strictly between 0 and 1")
    return thresholds


# ------------------------------------------------------------------ net benefit
def harm_weight(thresholds) -> np.ndarray:
    """pt / (1 - pt): how many unneeded tests one found case is worth at threshold pt."""
    thresholds = np.asarray(thresholds, dtype=float)
    return thresholds / (1 - thresholds)


def net_benefit(y, proba, thresholds=DEFAULT_THRESHOLDS) -> np.ndarray:
    """NB(pt) = TP/n - FP/n · pt/(1 - pt) at each threshold, calling a patient positive when proba >= pt.

    Counts come from the sorted risks (searchsorted), so many thresholds on many patients stay cheap.
    """
    y, proba = _checked_outcomes(y, proba)
    thresholds = _checked_thresholds(thresholds)
    diseased, healthy = np.sort(proba[y == 1]), np.sort(proba[y == 0])
    # side="left": the count of risks below pt, so what remains is every risk >= pt.
    true_positives = len(diseased) - np.searchsorted(diseased, thresholds, side="left")
    false_positives = len(healthy) - np.searchsorted(healthy, thresholds, side="left")
    n = len(y)
    return true_positives / n - false_positives / n * harm_weight(thresholds)


def treat_all(y, thresholds=DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of testing everyone: prevalence - (1 - prevalence) · pt/(1 - pt). (Treat none is 0.)"""
    y, _ = _checked_outcomes(y, np.zeros(np.size(y)))
    thresholds = _checked_thresholds(thresholds)
    prevalence = float(y.mean())
    return prevalence - (1 - prevalence) * harm_weight(thresholds)


# ------------------------------------------------------------------ curves
@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit per threshold for each model, with the two default strategies.

    net_benefit      model name -> mean net benefit over the repeats, one value per threshold
    net_benefit_min  model name -> lowest net benefit of any repeat (the spread; equal to the mean for one repeat)
    net_benefit_max  model name -> highest net benefit of any repeat
    treat_all        net benefit of testing everyone (mean over repeats; identical when every repeat has the
                     same patients). Treat none is 0 everywhere.
    n_repeats        model name -> number of repeats averaged
    """

    thresholds: np.ndarray
    net_benefit: dict[str, np.ndarray]
    net_benefit_min: dict[str, np.ndarray]
    net_benefit_max: dict[str, np.ndarray]
    treat_all: np.ndarray
    n_repeats: dict[str, int]

    @property
    def models(self) -> list[str]:
        return list(self.net_benefit)

    def beats_defaults(self, name: str) -> np.ndarray:
        """True at each threshold where the model's mean net benefit exceeds both treat all and treat none."""
        return self.net_benefit[name] > np.maximum(self.treat_all, 0.0)

    def to_frame(self) -> pd.DataFrame:
        """Long table for plotting: threshold, strategy, net_benefit, low, high (models, then treat all / none)."""
        parts = [
            pd.DataFrame(
                {
                    "threshold": self.thresholds,
                    "strategy": name,
                    "net_benefit": self.net_benefit[name],
                    "low": self.net_benefit_min[name],
                    "high": self.net_benefit_max[name],
                }
            )
            for name in self.models
        ]
        for name, values in ((TREAT_ALL, self.treat_all), (TREAT_NONE, np.zeros_like(self.thresholds))):
            parts.append(
                pd.DataFrame(
                    {
                        "threshold": self.thresholds,
                        "strategy": name,
                        "net_benefit": values,
                        "low": values,
                        "high": values,
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)


def decision_curves(y, probabilities: Mapping[str, object], thresholds=DEFAULT_THRESHOLDS) -> DecisionCurve:
    """Decision curves of several models scored on the same patients `y`.

    probabilities  model name -> P(disease) per patient (1-D), or one row per repeat (2-D, shape
                   (n_repeats, n_patients), as ComparisonResult.oof holds them): each repeat gives one curve,
                   averaged with its spread.
    """
    repeats = {}
    for name, proba in probabilities.items():
        rows = np.atleast_2d(np.asarray(proba, dtype=float))
        if rows.ndim != 2:
            raise ValueError(f"{name}: predicted risks must be one value per patient, or one row per repeat")
        repeats[name] = [(y, row) for row in rows]
    return decision_curves_over_repeats(repeats, thresholds)


def decision_curves_over_repeats(
    repeats: Mapping[str, Sequence[tuple[object, object]]], thresholds=DEFAULT_THRESHOLDS
) -> DecisionCurve:
    """Decision curves from a list of (y, proba) per repeat for each model: mean net benefit and its range.

    Each repeat is one complete set of predictions (each patient predicted once), so each gives a whole curve;
    the mean over repeats removes the luck of one random fold assignment, and min/max show how much it mattered.
    """
    if not repeats:
        raise ValueError("no models to draw decision curves for")
    thresholds = _checked_thresholds(thresholds)
    mean, low, high, counts = {}, {}, {}, {}
    default_curves: list[np.ndarray] = []
    for name, pairs in repeats.items():
        if len(pairs) == 0:
            raise ValueError(f"{name}: no repeats of predictions")
        curves = np.array([net_benefit(y, proba, thresholds) for y, proba in pairs])
        mean[name], low[name], high[name] = curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)
        counts[name] = len(pairs)
        default_curves.extend(treat_all(y, thresholds) for y, _ in pairs)
    return DecisionCurve(thresholds, mean, low, high, np.mean(default_curves, axis=0), counts)


# ------------------------------------------------------------------ harm-to-benefit
def threshold_from_harm_ratio(ratio: float) -> float:
    """The threshold pt = 1 / (1 + N) for "missing a case is N times worse than an unneeded test".

    At that pt the expected harm of testing (1 - pt, weighted 1) equals the expected harm of not testing
    (pt, weighted N). N runs from 1 (a missed case no worse than an unneeded test: pt = 0.5) to 100
    (pt about 0.01); beyond that the threshold is too small for the data to tell models apart.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)):
        raise ValueError(f"the harm ratio must be a number; got {ratio!r}")
    if not math.isfinite(ratio):
        raise ValueError("the harm ratio must be a finite number")
    if not MIN_HARM_RATIO <= ratio <= MAX_HARM_RATIO:
        raise ValueError(
            f"the harm ratio must be from {MIN_HARM_RATIO:g} to {MAX_HARM_RATIO:g} "
            f"(a missed case {MIN_HARM_RATIO:g} to {MAX_HARM_RATIO:g} times worse than an unneeded test); got {ratio:g}"
        )
    return 1.0 / (1.0 + float(ratio))


def harm_ratio_from_threshold(threshold: float) -> float:
    """N = (1 - pt) / pt: the harm ratio a threshold implies (the inverse of threshold_from_harm_ratio)."""
    _checked_thresholds([threshold])
    return (1.0 - threshold) / threshold


@dataclass(frozen=True)
class DecisionPoint:
    """What testing every patient with P(disease) >= threshold means, in counts and rates.

    number_needed_to_test  tests done per case found, (TP + FP) / TP: inf when tests are done but find no
                           case (no number of tests finds one), None when no one is tested (nothing to count)
    """

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    sensitivity: float
    specificity: float
    number_needed_to_test: float | None
    net_benefit: float
    treat_all: float

    @property
    def harm_ratio(self) -> float:
        return harm_ratio_from_threshold(self.threshold)


def operating_point_at(y, proba, threshold: float) -> DecisionPoint:
    """Sensitivity, specificity, tests per case found and net benefit when testing at P(disease) >= threshold."""
    y, proba = _checked_outcomes(y, proba)
    threshold = float(_checked_thresholds([threshold])[0])
    point = operating_point(y, proba, threshold)
    tested = point.tp + point.fp
    if tested == 0:
        per_case: float | None = None
    else:
        per_case = tested / point.tp if point.tp else math.inf
    return DecisionPoint(
        threshold=threshold,
        tp=point.tp,
        fp=point.fp,
        fn=point.fn,
        tn=point.tn,
        sensitivity=point.sensitivity,
        specificity=point.specificity,
        number_needed_to_test=per_case,
        net_benefit=float(net_benefit(y, proba, [threshold])[0]),
        treat_all=float(treat_all(y, [threshold])[0]),
    )
