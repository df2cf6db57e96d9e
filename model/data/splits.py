"""Repeated patients, and splits that never put one patient on both sides.

The most widely shared copy of the Cleveland data (Kaggle's 1,025 rows) is the 303 patients
plus 722 exact repeats. A split that puts one copy in training and another in testing scores
the model on a patient it has already seen, and every figure looks better than it is
(random forest: ROC AUC 0.997 with the repeats straddling folds, about 0.91 without).

A *patient* here is a distinct combination of the 13 feature values (missing values count as
equal to each other). `patient_groups` gives every row the id of its patient and lists the
patients whose copies disagree on the outcome. The splitters keep each patient's rows together:

- `stratified_group_splits`  repeated k-fold: scikit-learn's StratifiedGroupKFold, shuffled with a
                             different random_state per repeat (drawn from the seed);
- `grouped_holdout`          one stratified train/validation split that moves whole patients.

Callers keep their old ungrouped splitter when there are no repeats, so results on clean data
do not move (model.evaluation.cross_validation.make_splits, model.serving.runs.split_frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from model.data.schema import FEATURE_NAMES
from model.runtime.helper_process import share_work

Split = tuple[np.ndarray, np.ndarray]  # (train rows, test rows)
_MAX_LISTED_CONFLICTS = 10  # patients named in a sentence; the count covers them all


@dataclass(frozen=True)
class PatientGroups:
    """Which rows are the same patient.

    ids        per row, the id of its patient: 0, 1, ... in order of first appearance
    conflicts  row positions (0-based) of each patient whose copies disagree on the outcome
    """

    ids: np.ndarray
    conflicts: tuple[tuple[int, ...], ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def n_patients(self) -> int:
        return int(self.ids.max()) + 1 if len(self.ids) else 0

    @property
    def n_repeated_rows(self) -> int:
        """Rows that repeat an earlier patient (each patient's first row is not counted)."""
        return self.n_rows - self.n_patients

    @property
    def has_repeats(self) -> bool:
        return self.n_repeated_rows > 0

    def conflict_text(self) -> str:
        """The patients whose copies disagree on the outcome, by row number counted from 1 ('' when none)."""
        if not self.conflicts:
            return ""
        listed = "; ".join(
            "rows " + ", ".join(str(r + 1) for r in rows) for rows in self.conflicts[:_MAX_LISTED_CONFLICTS]
        )
        more = len(self.conflicts) - _MAX_LISTED_CONFLICTS
        return listed + (f"; and {more} more" if more > 0 else "")

    def describe(self, handled: str) -> str | None:
        """Plain words on the repeats and how they were `handled` (a clause); None when there are none."""
        if not self.has_repeats:
            return None
        rows = "row that repeats" if self.n_repeated_rows == 1 else "rows that repeat"
        text = (
            f"This data has {self.n_repeated_rows:,} {rows} an earlier patient (the same 13 values; "
            f"{self.n_patients:,} distinct patients in {self.n_rows:,} rows); {handled}."
        )
        if self.conflicts:
            n = len(self.conflicts)
            text += (
                f" {n:,} patient{'s' if n != 1 else ''} appear{'s' if n == 1 else ''} with both outcomes "
                f"({self.conflict_text()}); each is kept whole on one side as well."
            )
        return text


def _feature_frame(X) -> pd.DataFrame:
    """The columns that define a patient: the 13 schema features when X has them all, else every column."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    if all(name in frame.columns for name in FEATURE_NAMES):
        frame = frame[list(FEATURE_NAMES)]
    return frame.reset_index(drop=True)


def patient_groups(X, y=None) -> PatientGroups:
    """A group id per distinct patient (identical feature values) and, given y, the target disagreements."""
    frame = _feature_frame(X)
    if frame.empty:
        return PatientGroups(np.zeros(len(frame), dtype=int))
    # dropna=False: two rows missing the same value are the same record; sort=False numbers by first row.
    ids = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy(dtype=int)
    conflicts: tuple[tuple[int, ...], ...] = ()
    if y is not None:
        target = pd.Series(np.asarray(y)).reset_index(drop=True)
        if len(target) != len(ids):
            raise ValueError(f"X has {len(ids)} rows but y has {len(target)}")
        outcomes = target.groupby(ids).nunique(dropna=False)
        disagreeing = outcomes.index[outcomes.to_numpy() > 1]
        conflicts = tuple(tuple(int(r) for r in np.flatnonzero(ids == g)) for g in disagreeing)
    return PatientGroups(ids, conflicts)


def patients_per_class(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Distinct patients with at least one row of outcome 0 and of outcome 1."""
    return np.array([len(np.unique(groups[y == c])) for c in (0, 1)])


def straddling_patients(splits, groups: np.ndarray) -> int:
    """(split, patient) pairs with rows on both sides of a split: 0 means no patient is scored after being seen."""
    groups = np.asarray(groups)
    return sum(len(np.intersect1d(groups[train], groups[test])) for train, test in splits)


def _check_parts(splits: list[Split], y: np.ndarray, what: str) -> None:
    for index, (train, test) in enumerate(splits):
        if len(test) == 0 or len(np.unique(y[train])) < 2:
            raise ValueError(
                f"keeping repeated patients together left {what} {index + 1} without test patients or "
                "without both outcomes in training; choose fewer folds or remove the repeated rows"
            )


def stratified_group_splits(y, groups, n_splits: int, n_repeats: int, seed: int) -> list[Split]:
    """Repeated StratifiedGroupKFold: every repeat shuffles with its own random_state drawn from `seed`.

    Split number s belongs to repeat s // n_splits, as with RepeatedStratifiedKFold.
    The caller checks the counts (make_splits); this raises ValueError only if a fold ends up unusable.
    """
    y, groups = np.asarray(y), np.asarray(groups)
    states = np.random.RandomState(seed).randint(np.iinfo(np.int32).max, size=n_repeats)
    # Each repeat is independent: they are shared with the helper process when it runs (the same splits).
    repeats = share_work(_one_repeat, [(y, groups, n_splits, int(state)) for state in states])
    splits: list[Split] = [split for repeat in repeats for split in repeat]
    _check_parts(splits, y, "fold")
    return splits


def _one_repeat(y: np.ndarray, groups: np.ndarray, n_splits: int, state: int) -> list[Split]:
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=state)
    return [(train, test) for train, test in cv.split(np.zeros(len(y)), y, groups)]


def grouped_holdout(y, groups, test_fraction: float, seed: int) -> Split:
    """One stratified (train, test) split that keeps every patient's rows on one side.

    As train_test_split, the test part aims at ceil(test_fraction × rows) rows in the class
    proportions of the data. Patients are visited in a random order (from `seed`) and a patient
    joins the test part while it still fits every class's quota, so the test part ends within one
    patient's rows of its target. Raises ValueError when a part would lack an outcome.
    """
    y, groups = np.asarray(y).astype(int), np.asarray(groups)
    n = len(y)
    n_test = math.ceil(test_fraction * n)
    share = np.bincount(y, minlength=2) / n
    quota = np.round(share * n_test).astype(int)
    quota[int(np.argmax(share))] = n_test - quota[int(np.argmin(share))]
    counts = np.zeros((groups.max() + 1, 2), dtype=int)
    np.add.at(counts, (groups, y), 1)
    taken = np.zeros(2, dtype=int)
    chosen = np.zeros(len(counts), dtype=bool)
    for patient in np.random.RandomState(seed).permutation(len(counts)):
        if np.all(taken + counts[patient] <= quota):
            chosen[patient] = True
            taken += counts[patient]
            if np.array_equal(taken, quota):
                break
    test_mask = chosen[groups]
    train, test = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    if len(np.unique(y[test])) < 2 or len(np.unique(y[train])) < 2:
        raise ValueError(
            "keeping repeated patients together leaves the validation part without both outcomes; "
            "choose a larger validation share or remove the repeated rows"
        )
    return train, test


def seen_patients(X_new, X_seen) -> np.ndarray:
    """True for each row of X_new that is a patient of X_seen (identical feature values)."""
    new, seen = _feature_frame(X_new), _feature_frame(X_seen)
    if new.empty or seen.empty:
        return np.zeros(len(new), dtype=bool)
    both = pd.concat([seen, new], ignore_index=True)
    ids = both.groupby(list(both.columns), dropna=False, sort=False).ngroup().to_numpy()
    return np.isin(ids[len(seen) :], ids[: len(seen)])
