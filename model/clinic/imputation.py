"""Unknown values filled in every plausible way: multiple imputation from similar training patients.

A value the user does not have is not the training median. It is drawn from the values
that the ``IMPUTATION_DRAWS`` most similar training patients (model/clinic/typicality.py's
distance over the features this patient *has*) actually had: each of those neighbours
lends its own values for every unknown feature at once, so values that go together (e.g.
vessels coloured and the thallium test) stay together, and a categorical feature only
ever takes a valid code. The model is then averaged over these completed patients
(``rows`` below): a k-nearest-neighbour draw from the conditional distribution of the
unknown features given the known ones, deterministic (no random seed) and exact for
that distribution.

Only training patients who have every one of this patient's unknown features are
neighbours. A feature no training patient has is left unknown (the pipeline fills it
with its constant, as in training).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.clinic.typicality import FeatureSpace

IMPUTATION_DRAWS = 50


@dataclass(frozen=True)
class Completions:
    """The completed versions of a batch of rows: ``values[i]`` completes row ``owner[i]``."""

    values: np.ndarray  # (total, 13) features, every fillable unknown filled in
    owner: np.ndarray  # (total,) index of the row each completion belongs to
    counts: np.ndarray  # (n_rows,) completions per row (1 for a row with nothing unknown)


class NeighbourImputer:
    """Fills unknown features with the values of the most similar training patients."""

    def __init__(self, space: FeatureSpace, draws: int = IMPUTATION_DRAWS):
        self.space = space
        self.draws = max(1, int(draws))
        training = space.training_values
        self._observed = ~np.isnan(training)
        self._never_seen = ~self._observed.any(axis=0)  # no training value at all: left to the pipeline

    def neighbours(self, row: np.ndarray) -> np.ndarray:
        """Indices of the training patients that lend values to one row (nearest first; ties by row order)."""
        return self._neighbours(np.atleast_2d(row))[0]

    def _neighbours(self, rows: np.ndarray) -> list[np.ndarray]:
        result: list[np.ndarray] = [np.empty(0, dtype=int)] * len(rows)
        for members, _pattern, chosen in self._groups(rows):
            for member, row_chosen in zip(members, chosen, strict=True):
                result[member] = row_chosen
        return result

    def _groups(self, rows: np.ndarray):
        """(row indices, features to fill, (rows, draws) neighbour indices) per pattern of unknown features;
        rows with nothing to fill, or whose unknowns no training patient has together, are left out."""
        fill = np.isnan(rows) & ~self._never_seen
        patterns, group = np.unique(fill, axis=0, return_inverse=True)
        for number, pattern in enumerate(patterns):
            if not pattern.any():
                continue
            candidates = np.flatnonzero(self._observed[:, pattern].all(axis=1))
            if candidates.size == 0:
                continue
            members = np.flatnonzero(group.reshape(-1) == number)
            squared = self.space.squared_distances(rows[members], candidates)
            order = np.argsort(squared, axis=1, kind="stable")[:, : self.draws]
            yield members, pattern, candidates[order]

    def complete(self, rows: np.ndarray) -> Completions:
        """Every row's completions, consecutive in row order: one per neighbour (a row with nothing to fill
        keeps itself)."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        training = self.space.training_values
        counts = np.ones(len(rows), dtype=np.int64)
        blocks: dict[int, np.ndarray] = {}
        handled = np.zeros(len(rows), dtype=bool)
        for members, pattern, chosen in self._groups(rows):
            draws = chosen.shape[1]
            block = np.repeat(rows[members], draws, axis=0)
            columns = np.flatnonzero(pattern)
            block[:, columns] = training[np.ix_(chosen.reshape(-1), columns)]
            for position, member in enumerate(members):
                blocks[int(member)] = block[position * draws : (position + 1) * draws]
            counts[members] = draws
            handled[members] = True
        fill = np.isnan(rows) & ~self._never_seen
        for member in np.flatnonzero(fill.any(axis=1) & ~handled):  # unknowns never seen together
            own = self._feature_by_feature(rows[member], fill[member])
            blocks[int(member)] = own
            counts[member] = len(own)
        if not blocks:
            return Completions(rows.copy(), np.arange(len(rows)), counts)
        parts = [blocks.get(index, rows[index : index + 1]) for index in range(len(rows))]
        return Completions(np.concatenate(parts), np.repeat(np.arange(len(rows)), counts), counts)

    def _feature_by_feature(self, row: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """No training patient has all these unknowns: each one from its own nearest neighbours."""
        block = np.repeat(row[None, :], self.draws, axis=0)
        for index in np.flatnonzero(fill):
            candidates = np.flatnonzero(self._observed[:, index])
            squared = self.space.squared_distances(row, candidates)[0]
            chosen = candidates[np.argsort(squared, kind="stable")[: self.draws]]
            block[:, index] = np.resize(self.space.training_values[chosen, index], self.draws)
        return block
