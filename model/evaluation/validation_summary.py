"""What a model card shows of one model's cross-validation: its decision curve and its subgroups, stored small.

`validation_summary(result, model, frame)` turns the out-of-fold predictions of one model of a
ComparisonResult (model.evaluation.cross_validation) into a small JSON-safe dict, stored in a bundle's
metadata under SUMMARY_KEY ("validation_summary"):

    {"version": 1, "model": "ANN", "n_patients": 303, "n_events": 138, "n_splits": 5, "n_repeats": 10,
     "seed": 0,
     "decision_curve": {"thresholds": [0.01 ... 0.99], "net_benefit": [...], "net_benefit_low": [...],
                        "net_benefit_high": [...], "treat_all": [...]},
     "subgroups": {"min_size": 30, "min_events": 10, "n_bootstrap": 1000, "seed": 0,
                   "rows": [{"grouping": "All patients", "subgroup": "All patients", "n": 303, ...}, ...]}}

The decision curve is model.evaluation.decision_curves' (mean net benefit over the repeats, with the lowest and
highest repeat); the subgroups are model.evaluation.subgroups' table (all patients, sex, age band, and site when
the frame has one) on each patient's out-of-fold risk averaged over the repeats, as the Compare page does.
Numbers are rounded to DIGITS decimals and undefined ones (the AUC of a subgroup too small to say) stored as null,
so the dict is strict JSON.

`read_validation_summary(raw)` is the other direction for metadata that may have been edited by hand: it checks
every field it uses (types, ranges, lengths, consistency) and returns SummaryReading(summary, problem): a
ValidationSummary and "", or None and why the content cannot be used. It never raises on bad content.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from model.data.schema import short_repr
from model.evaluation.cross_validation import ComparisonResult
from model.evaluation.decision_curves import DEFAULT_THRESHOLDS, DecisionCurve, decision_curves
from model.evaluation.subgroups import (
    COLUMNS,
    NUMBER_COLUMNS,
    OK,
    TOO_SMALL,
    groups_of_cross_validated,
    subgroup_performance,
)
from model.runtime.limits import MAX_ROWS

SUMMARY_KEY = "validation_summary"
SUMMARY_VERSION = 1
DIGITS = 4  # net benefit and AUC to 4 decimals: far below what a chart or a card shows, and small in JSON
CURVE_KEYS = ("net_benefit", "net_benefit_low", "net_benefit_high", "treat_all")
# Bounds on what a hand-edited bundle may hold: generous for any real summary, small enough to draw at once.
MAX_THRESHOLDS = 999
MAX_SUBGROUPS = 200
MAX_TEXT = 200
MAX_SPLITS = 100
MAX_REPEATS = 1000
# Rounding to DIGITS decimals may put the mean a hair outside [lowest, highest] repeat; more than this is an edit.
ROUNDING_SLACK = 2 * 10**-DIGITS
MAX_WHOLE_NUMBER = 2**53  # whole numbers beyond it are no longer exact as floats


# ------------------------------------------------------------------ writing
def _rounded(values) -> list[float | None]:
    """Floats rounded to DIGITS decimals, NaN or infinite values as None (strict JSON has no NaN)."""
    return [round(float(v), DIGITS) if math.isfinite(float(v)) else None for v in np.asarray(values, dtype=float)]


def validation_summary(
    result: ComparisonResult,
    model: str,
    frame: pd.DataFrame,
    thresholds=DEFAULT_THRESHOLDS,
    min_size: int = 30,
    min_events: int = 10,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The decision curve and subgroup table of `model` in `result`, as a JSON-safe dict (see the module doc).

    frame   the data the cross-validation ran on, row for row (features, "target", and "site" when loaded):
            the subgroups are read from it
    min_size, min_events, n_bootstrap, seed   as model.evaluation.subgroups.subgroup_performance
    """
    if model not in result.oof:
        raise ValueError(f"{model!r} is not one of the cross-validated models ({', '.join(result.oof)})")
    y = np.asarray(result.y).astype(int)
    oof = np.atleast_2d(np.asarray(result.oof[model], dtype=float))
    if np.isnan(oof).any():
        raise ValueError(f"{model}: some patients have no out-of-fold prediction in some repeat")
    groups = groups_of_cross_validated(frame, y)
    curve = decision_curves(y, {model: oof}, thresholds)
    # One risk per patient for the subgroups: the mean over repeats, from models that never saw the patient.
    table = subgroup_performance(
        y, oof.mean(axis=0), groups, min_size=min_size, min_events=min_events, n_bootstrap=n_bootstrap, seed=seed
    )
    rows = []
    for row in table.to_dict("records"):
        numbers = {key: _rounded([row[key]])[0] for key in NUMBER_COLUMNS}
        rows.append(
            {
                "grouping": str(row["grouping"]),
                "subgroup": str(row["subgroup"]),
                "n": int(row["n"]),
                "events": int(row["events"]),
                **numbers,
                "verdict": str(row["verdict"]),
                "reason": str(row["reason"]),
            }
        )
    return {
        "version": SUMMARY_VERSION,
        "model": str(model),
        "n_patients": len(y),
        "n_events": int(y.sum()),
        "n_splits": int(result.n_splits),
        "n_repeats": int(oof.shape[0]),
        "seed": int(result.seed),
        "decision_curve": {
            "thresholds": _rounded(curve.thresholds),
            "net_benefit": _rounded(curve.net_benefit[model]),
            "net_benefit_low": _rounded(curve.net_benefit_min[model]),
            "net_benefit_high": _rounded(curve.net_benefit_max[model]),
            "treat_all": _rounded(curve.treat_all),
        },
        "subgroups": {
            "min_size": int(min_size),
            "min_events": int(min_events),
            "n_bootstrap": int(n_bootstrap),
            "seed": int(seed),
            "rows": rows,
        },
    }


# ------------------------------------------------------------------ reading
@dataclass(frozen=True)
class SubgroupRow:
    """One subgroup as stored: None where a number is undefined (the AUC of a subgroup too small to say)."""

    grouping: str
    subgroup: str
    n: int
    events: int
    roc_auc: float | None
    auc_low: float | None
    auc_high: float | None
    observed_expected: float | None
    oe_low: float | None
    oe_high: float | None
    calibration_in_the_large: float | None
    too_small: bool
    reason: str


@dataclass(frozen=True)
class ValidationSummary:
    """A checked validation summary: the model's decision curve (as model.evaluation.decision_curves draws it)
    and its subgroup rows."""

    model: str
    n_patients: int
    n_events: int
    n_splits: int
    n_repeats: int
    seed: int
    curve: DecisionCurve
    subgroups: tuple[SubgroupRow, ...]
    min_size: int
    min_events: int
    n_bootstrap: int

    @property
    def prevalence(self) -> float:
        return self.n_events / self.n_patients

    def useful_ranges(self) -> list[tuple[float, float]]:
        """(first, last) threshold of each run of consecutive thresholds where the model's mean net benefit beats
        both treat all and treat none; [] when it never does."""
        better = self.curve.beats_defaults(self.model)
        ranges, start = [], None
        for index, is_better in enumerate(better):
            if is_better and start is None:
                start = index
            if start is not None and (not is_better or index == len(better) - 1):
                end = index if is_better else index - 1
                ranges.append((float(self.curve.thresholds[start]), float(self.curve.thresholds[end])))
                start = None
        return ranges

    def subgroup_table(self) -> pd.DataFrame:
        """The rows as model.evaluation.subgroups.subgroup_performance's table (its COLUMNS; NaN for None), so the
        Compare page's table and forest-plot builders draw it unchanged."""
        records = []
        for row in self.subgroups:
            record = {
                name: (float("nan") if value is None else value)
                for name, value in vars(row).items()
                if name not in ("too_small", "reason")
            }
            record["prevalence"] = row.events / row.n
            record["verdict"] = TOO_SMALL if row.too_small else OK
            record["reason"] = row.reason
            records.append(record)
        return pd.DataFrame(records, columns=list(COLUMNS))


class SummaryReading(NamedTuple):
    """read_validation_summary's answer: (summary, "") when usable, (None, why not) otherwise."""

    summary: ValidationSummary | None
    problem: str


class _Unusable(Exception):
    """Raised inside the reader only, with the reason the content cannot be used."""


def _whole(block: Mapping, key: str, low: int, high: int) -> int:
    value = block.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Unusable(f"'{key}' must be a whole number from {low:,} to {high:,}")
    return value


def _text(block: Mapping, key: str, allow_empty: bool = False) -> str:
    value = block.get(key)
    if not isinstance(value, str) or len(value) > MAX_TEXT or (not allow_empty and not value.strip()):
        raise _Unusable(f"'{key}' must be a text of at most {MAX_TEXT} characters")
    return value


def _number(value: Any, what: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Unusable(f"{what} must be a finite number")
    if isinstance(value, int) and abs(value) > MAX_WHOLE_NUMBER:  # float() of a huge int would overflow
        raise _Unusable(f"{what} must be a finite number of a sensible size")
    if not math.isfinite(value):
        raise _Unusable(f"{what} must be a finite number")
    if not low <= value <= high:
        raise _Unusable(f"{what} must lie from {low:g} to {high:g}; got {value:g}")
    return float(value)


def _optional(block: Mapping, key: str, what: str, low: float = -math.inf, high: float = math.inf) -> float | None:
    value = block.get(key)
    return None if value is None else _number(value, f"{what}: '{key}'", low, high)


def _numbers(block: Mapping, key: str, length: int | None, low: float, high: float) -> np.ndarray:
    values = block.get(key)
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_THRESHOLDS:
        raise _Unusable(f"decision_curve.{key} must be a list of 1 to {MAX_THRESHOLDS} numbers")
    if length is not None and len(values) != length:
        raise _Unusable(f"decision_curve.{key} has {len(values)} values for {length} thresholds")
    return np.array([_number(v, f"decision_curve.{key}", low, high) for v in values])


def _read_curve(block: Any, model: str, n_repeats: int) -> DecisionCurve:
    if not isinstance(block, Mapping):
        raise _Unusable("'decision_curve' must be an object")
    thresholds = _numbers(block, "thresholds", None, 0.0, 1.0)
    if thresholds.min() <= 0 or thresholds.max() >= 1 or np.any(np.diff(thresholds) <= 0):
        raise _Unusable("decision_curve.thresholds must increase strictly, between 0 and 1")
    # The lowest net benefit possible at pt is -pt/(1-pt) (everyone tested, no one diseased); the highest is 1.
    floor = float(-np.max(thresholds / (1 - thresholds))) - ROUNDING_SLACK
    curves = {key: _numbers(block, key, len(thresholds), floor, 1.0) for key in CURVE_KEYS}
    if np.any(curves["net_benefit_low"] > curves["net_benefit"] + ROUNDING_SLACK) or np.any(
        curves["net_benefit"] > curves["net_benefit_high"] + ROUNDING_SLACK
    ):
        raise _Unusable("decision_curve: the mean net benefit must lie between the lowest and the highest repeat")
    return DecisionCurve(
        thresholds=thresholds,
        net_benefit={model: curves["net_benefit"]},
        net_benefit_min={model: curves["net_benefit_low"]},
        net_benefit_max={model: curves["net_benefit_high"]},
        treat_all=curves["treat_all"],
        n_repeats={model: n_repeats},
    )


def _read_row(row: Any, index: int, n_patients: int) -> SubgroupRow:
    if not isinstance(row, Mapping):
        raise _Unusable(f"subgroups.rows[{index}] must be an object")
    try:
        n = _whole(row, "n", 1, n_patients)
        events = _whole(row, "events", 0, n)
        verdict = row.get("verdict")
        if verdict not in (OK, TOO_SMALL):
            raise _Unusable(f"'verdict' must be '{OK}' or '{TOO_SMALL}'")
        auc = {key: _optional(row, key, "ROC AUC", 0.0, 1.0) for key in ("roc_auc", "auc_low", "auc_high")}
        if verdict == OK and auc["roc_auc"] is None:
            raise _Unusable("a subgroup judged 'ok' needs its 'roc_auc'")
        ratio = {
            key: _optional(row, key, "observed/expected", 0.0) for key in ("observed_expected", "oe_low", "oe_high")
        }
        return SubgroupRow(
            grouping=_text(row, "grouping"),
            subgroup=_text(row, "subgroup"),
            n=n,
            events=events,
            **auc,
            **ratio,
            calibration_in_the_large=_optional(row, "calibration_in_the_large", "calibration-in-the-large"),
            too_small=verdict == TOO_SMALL,
            reason=_text(row, "reason", allow_empty=True),
        )
    except _Unusable as problem:
        raise _Unusable(f"subgroups.rows[{index}]: {problem}") from None


def _read(raw: Any) -> ValidationSummary:
    if not isinstance(raw, Mapping):
        raise _Unusable("it is not an object")
    version = raw.get("version")
    if isinstance(version, bool) or version != SUMMARY_VERSION:
        raise _Unusable(f"its version is {short_repr(version)}; this app reads version {SUMMARY_VERSION}")
    model = _text(raw, "model")
    n_patients = _whole(raw, "n_patients", 1, MAX_ROWS)
    n_events = _whole(raw, "n_events", 0, n_patients)
    n_repeats = _whole(raw, "n_repeats", 1, MAX_REPEATS)
    curve = _read_curve(raw.get("decision_curve"), model, n_repeats)
    block = raw.get("subgroups")
    if not isinstance(block, Mapping):
        raise _Unusable("'subgroups' must be an object")
    rows = block.get("rows")
    if not isinstance(rows, list) or len(rows) > MAX_SUBGROUPS:
        raise _Unusable(f"subgroups.rows must be a list of at most {MAX_SUBGROUPS} subgroups")
    return ValidationSummary(
        model=model,
        n_patients=n_patients,
        n_events=n_events,
        n_splits=_whole(raw, "n_splits", 2, MAX_SPLITS),
        n_repeats=n_repeats,
        seed=_whole(raw, "seed", 0, MAX_WHOLE_NUMBER),
        curve=curve,
        subgroups=tuple(_read_row(row, index, n_patients) for index, row in enumerate(rows)),
        min_size=_whole(block, "min_size", 1, MAX_ROWS),
        min_events=_whole(block, "min_events", 1, MAX_ROWS),
        n_bootstrap=_whole(block, "n_bootstrap", 1, 1_000_000),
    )


def read_validation_summary(raw: Any) -> SummaryReading:
    """A ValidationSummary from metadata that may have been edited by hand, or None and the reason; never raises
    on bad content (only the fields used are read; anything else in the dict is ignored)."""
    try:
        return SummaryReading(_read(raw), "")
    except _Unusable as problem:
        return SummaryReading(None, str(problem))
