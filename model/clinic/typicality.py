"""How far a patient lies from the patients a model learned from.

Two things on the patient page need "similar training patients": filling in unknown
values (model/clinic/imputation.py) and flagging patients unlike any the model has seen. Both
use the distance defined here, on the 13 raw features of the schema:

- a number counts in training standard deviations: ((a − b) / sd)²;
- a coded feature (binary or categorical) counts 1 when the codes differ, 0 when equal
  (one-hot coordinates scaled by 1/√2);
- only the features this patient has are compared; a training patient's own missing
  value counts as the training mean (numbers) or the training code frequencies (codes).

**Typicality.** A patient's score is the root mean squared distance per compared feature
to its ``TYPICALITY_NEIGHBOURS`` nearest training patients. The threshold is the
``1 − TYPICALITY_FLAG_SHARE`` quantile of the same score for every training patient
against the others (leave-one-out), so about 1.5 % of the training patients themselves
are flagged. Monte Carlo dropout cannot do this: its interval does not widen away from
the data (a 95-year-old with cholesterol 550 mg/dL gets a narrower interval than a
typical patient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.data.schema import FEATURE_NAMES, FEATURES, Feature

TYPICALITY_NEIGHBOURS = 5
TYPICALITY_FLAG_SHARE = 0.015  # share of the training patients flagged by the calibrated threshold
MAX_REASONS = 3
REASON_SHARE = 0.6  # name the features that together make up this share of the distance
RARE_CODE_SHARE = 0.05  # a code held by fewer training patients than this is "rare"


def feature_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The 13 features as floats in schema order (NaN where unknown or not a number)."""
    return frame[list(FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


class FeatureSpace:
    """Coordinates in which squared Euclidean distance is the distance described in the module docstring."""

    def __init__(self, training: pd.DataFrame):
        self.training_values = feature_matrix(training)
        if len(self.training_values) == 0:
            raise ValueError("the training data hold no patients")
        self.blocks: list[slice] = []
        self._centre: list[float] = []
        self._scale: list[float] = []
        self._codes: list[np.ndarray | None] = []  # the codes of a coded feature; None for a number
        self._fill: list[np.ndarray] = []
        start = 0
        for index, feat in enumerate(FEATURES):
            column = self.training_values[:, index]
            seen = column[~np.isnan(column)]
            if feat.categories:
                codes = np.array(feat.codes, dtype=float)
                share = np.array([(seen == code).mean() if seen.size else 0.0 for code in codes])
                self._codes.append(codes)
                self._fill.append(share / np.sqrt(2.0))
                self._centre.append(0.0)
                self._scale.append(1.0)
                width = len(codes)
            else:
                centre = float(seen.mean()) if seen.size else 0.0
                scale = float(seen.std()) if seen.size > 1 else 0.0
                self._codes.append(None)
                self._fill.append(np.zeros(1))
                self._centre.append(centre)
                self._scale.append(scale if scale > 0 else 1.0)
                width = 1
            self.blocks.append(slice(start, start + width))
            start += width
        self.width = start
        self.training = self.encode(self.training_values, fill_missing=True)

    def encode(self, values: np.ndarray, fill_missing: bool = False) -> np.ndarray:
        """(n, width) coordinates; an unknown value is 0 in every coordinate of its block, or the
        training mean / code frequencies when `fill_missing` (how training patients are compared)."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        out = np.zeros((len(values), self.width))
        for index, block in enumerate(self.blocks):
            column = values[:, index]
            missing = np.isnan(column)
            codes = self._codes[index]
            if codes is None:
                out[:, block] = np.where(missing, 0.0, (column - self._centre[index]) / self._scale[index])[:, None]
            else:
                out[:, block] = (column[:, None] == codes[None, :]) / np.sqrt(2.0)
            if fill_missing and missing.any():
                out[missing, block] = self._fill[index]
        return out

    def column_mask(self, known: np.ndarray) -> np.ndarray:
        """Coordinate mask (width,) of a feature mask (13,)."""
        mask = np.zeros(self.width, dtype=bool)
        for index, block in enumerate(self.blocks):
            mask[block] = bool(known[index])
        return mask

    def squared_distances(self, values: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        """(n, m) squared distances of rows `values` (13 features, NaN = unknown) to the training patients
        (all, or the rows `candidates`), over each row's known features. Rows are grouped by which
        features they have, so a batch costs one matrix product per pattern."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        training = self.training if candidates is None else self.training[candidates]
        encoded = self.encode(values)
        known = ~np.isnan(values)
        out = np.empty((len(values), len(training)))
        patterns, group = np.unique(known, axis=0, return_inverse=True)
        for number, pattern in enumerate(patterns):
            rows = np.flatnonzero(group.reshape(-1) == number)
            columns = self.column_mask(pattern)
            query, reference = encoded[np.ix_(rows, columns)], training[:, columns]
            squared = (
                np.einsum("ij,ij->i", query, query)[:, None]
                + np.einsum("ij,ij->i", reference, reference)[None, :]
                - 2.0 * query @ reference.T
            )
            out[rows] = np.maximum(squared, 0.0)
        return out

    def feature_distances(self, row: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        """(13,) mean squared distance per feature between one row and some training patients (0 if unknown)."""
        encoded = self.encode(row)[0]
        reference = self.training[neighbours]
        out = np.zeros(len(FEATURES))
        for index, block in enumerate(self.blocks):
            if not np.isnan(row[index]):
                out[index] = float(((reference[:, block] - encoded[block]) ** 2).sum(axis=1).mean())
        return out


def _value_text(feat: Feature, value: float) -> str:
    if feat.categories:
        return feat.category_label(value)
    text = f"{value:.0f}" if feat.integer else f"{value:g}"
    return f"{text} {feat.unit}".rstrip()


def reason_text(feat: Feature, value: float, training_column: np.ndarray, data_name: str) -> str:
    """Why one value is unusual, in words: where it sits among the training patients' values."""
    seen = training_column[~np.isnan(training_column)]
    shown = f"{feat.label} {_value_text(feat, value)}"
    if seen.size == 0:
        return f"{shown}: the {data_name} never record this feature"
    n = seen.size
    if feat.categories:
        share = float((seen == value).mean())
        if share < RARE_CODE_SHARE:
            return f"{shown}: rare among the {n:,} {data_name} ({100 * share:.1f} % have it)"
        return (
            f"{shown}: unusual together with this patient's other values ({100 * share:.0f} % of the {n:,} "
            f"{data_name} have it, but few of those resemble this patient otherwise)"
        )
    low, high = float(seen.min()), float(seen.max())
    span = f"they range {_value_text(feat, low)} – {_value_text(feat, high)}"
    if value > high:
        return f"{shown}: higher than any of the {n:,} {data_name} ({span})"
    if value < low:
        return f"{shown}: lower than any of the {n:,} {data_name} ({span})"
    below = float((seen < value).mean())
    above = float((seen > value).mean())
    share, word = (below, "higher") if below >= 0.5 else (above, "lower")
    shown_share = f"{100 * share:.1f}" if share > 0.99 else f"{100 * share:.0f}"
    return f"{shown}: {word} than {shown_share} % of the {n:,} {data_name} ({span})"


@dataclass(frozen=True)
class TypicalityResult:
    scores: np.ndarray  # per row: RMS distance per compared feature to the nearest training patients
    atypical: np.ndarray  # per row: score above the calibrated threshold
    reasons: list[list[str]]  # per row: plain-language reasons (empty when typical)


class TypicalityCheck:
    """Flags patients unlike the training patients (calibrated so ~1.5 % of those are flagged)."""

    def __init__(
        self,
        space: FeatureSpace,
        data_name: str = "training patients",
        neighbours: int = TYPICALITY_NEIGHBOURS,
        flag_share: float = TYPICALITY_FLAG_SHARE,
    ):
        self.space = space
        self.data_name = data_name
        self.neighbours = max(1, min(int(neighbours), len(space.training) - 1)) if len(space.training) > 1 else 1
        squared = space.squared_distances(space.training_values)
        if len(squared) > 1:
            np.fill_diagonal(squared, np.inf)  # leave-one-out: a training patient is not its own neighbour
        self.training_scores = self._scores(squared, np.full(len(squared), len(FEATURES)))
        self.threshold = float(np.quantile(self.training_scores, 1.0 - flag_share))

    def _scores(self, squared: np.ndarray, n_known: np.ndarray) -> np.ndarray:
        nearest = np.partition(squared, self.neighbours - 1, axis=1)[:, : self.neighbours]
        return np.sqrt(nearest.mean(axis=1) / np.maximum(n_known, 1))

    def check(self, values: np.ndarray) -> TypicalityResult:
        """Scores, flags and reasons for rows of the 13 features (NaN = unknown, not compared)."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        squared = self.space.squared_distances(values)
        scores = self._scores(squared, (~np.isnan(values)).sum(axis=1))
        atypical = scores > self.threshold
        reasons: list[list[str]] = [[] for _ in range(len(values))]
        for row in np.flatnonzero(atypical):
            reasons[row] = self.reasons(values[row], squared[row])
        return TypicalityResult(scores, atypical, reasons)

    def reasons(self, row: np.ndarray, squared: np.ndarray) -> list[str]:
        """The features that make up most of the distance to the nearest training patients."""
        nearest = np.argsort(squared, kind="stable")[: self.neighbours]
        per_feature = self.space.feature_distances(row, nearest)
        total = float(per_feature.sum())
        if total <= 0:
            return [f"its combination of values is far from every one of the {self.data_name}"]
        order = np.argsort(-per_feature, kind="stable")
        chosen, covered = [], 0.0
        for index in order[:MAX_REASONS]:
            if covered >= REASON_SHARE * total or per_feature[index] <= 0:
                break
            chosen.append(int(index))
            covered += float(per_feature[index])
        return [
            reason_text(FEATURES[i], float(row[i]), self.space.training_values[:, i], self.data_name) for i in chosen
        ]
