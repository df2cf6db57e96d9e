"""The crude (unadjusted) association of a patient's value with disease in the reference data.

Beside each feature's model contribution the page and the report show how often reference
patients who share the patient's value had disease, against the rate among all reference
patients, with the counts behind it. A category (chest pain type, sex, ...) is its own group;
a numeric feature is cut at the quintiles of the reference data (``pandas.qcut`` with repeated
edges dropped, so its groups are the ones a ``groupby(pd.qcut(...))`` gives), or grouped by
value when it has at most ``N_BINS`` distinct values (e.g. the vessels coloured, 0–3).

The two numbers answer different questions, and in the UCI data they can point in opposite
directions: the crude rate mixes in everything that travels with a value (older patients
are more often men with exercise angina), the model's contribution is for the value *given*
the patient's other values; and every UCI patient was referred for angiography, so a value
that alone led to referral (typical angina) comes with less disease among those referred.
``disagrees`` says when to show that note.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.data.schema import FEATURE_NAMES, TARGET, Feature, feature

N_BINS = 5  # quintiles: groups of about 60 of the 303 Cleveland patients
SMALL_GROUP = 20  # fewer reference patients than this: the rate is shown with "only N patients", never a direction
CLEAR_Z = 1.96  # a group's rate differs from the overall rate beyond chance, at about the 95 % level
NEGLIGIBLE_CONTRIBUTION = 0.005  # half a percentage point: a contribution this small has no direction
ASSOCIATION_NOTE = (
    "The model's bar is the effect of this value for this patient, with the patient's other values taken "
    "into account. The raw rate compares reference patients who share the value with all of them, whatever "
    "their other values: a value that travels with other risk factors can look risky in the raw rates and "
    "still lower the risk once those are accounted for. Who is in the data matters too: the UCI patients were "
    "all referred for angiography because a doctor already suspected heart disease, so a symptom that led to "
    "referral on its own (typical angina, for one) comes with less disease among them than in patients in "
    "general."
)


@dataclass(frozen=True)
class CrudeAssociation:
    """Disease among the reference patients who share one of the patient's values, against all of them."""

    feature: str
    group: str  # the shared value or band, in words: "Typical angina", "46–53 years", "0 vessels"
    n: int  # reference patients in the group (outcome known)
    n_disease: int
    n_known: int  # reference patients with this feature and the outcome known: the overall rate's denominator
    n_known_disease: int
    banded: bool = False  # a band of a numeric feature (quantile bin), not one shared value
    # The band's edges (lower exclusive, upper inclusive; None = open), for showing it in another unit.
    lower: float | None = None
    upper: float | None = None

    @property
    def rate(self) -> float | None:
        """Share with disease in the group; None for an empty group."""
        return self.n_disease / self.n if self.n else None

    @property
    def overall_rate(self) -> float | None:
        return self.n_known_disease / self.n_known if self.n_known else None

    @property
    def small(self) -> bool:
        """Too few reference patients for the rate to say much."""
        return self.n < SMALL_GROUP

    @property
    def direction(self) -> int:
        """+1: disease clearly more common in the group than overall; −1: clearly less; 0: about the same, or a
        small group. Clearly: |z| ≥ CLEAR_Z, z = (group rate − overall rate) / √(p(1 − p)(1/n − 1/N)), its spread
        when the group is like everyone (the group is part of the overall, hence − 1/N). This z is the pooled
        two-proportion z test of the group against the other reference patients."""
        rate, overall = self.rate, self.overall_rate
        if rate is None or overall is None or self.small:
            return 0
        spread = math.sqrt(overall * (1 - overall) * (1 / self.n - 1 / self.n_known))
        if spread == 0:  # the group is everyone, or everyone (or no one) had disease: the rates are equal
            return 0
        z = (rate - overall) / spread
        return 1 if z >= CLEAR_Z else -1 if z <= -CLEAR_Z else 0

    def direction_text(self) -> str:
        if self.n == 0:
            return "no reference patient shares this value"
        if self.small:
            return f"only {self.n} patients: too few to say"
        return {1: "more common than overall", -1: "less common than overall", 0: "about the overall rate"}[
            self.direction
        ]

    def who(self, group: str | None = None) -> str:
        """The group after "reference patients": "with Chest pain type: Typical angina"; `group` replaces the
        value's words (a band shown in another unit)."""
        return f"with {feature(self.feature).label}: {group or self.group}"

    def text(self, group: str | None = None) -> str:
        """One plain line: "7 of 23 reference patients with Chest pain type: Typical angina had disease (30 %),
        against 46 % of all 303 (about the overall rate)."."""
        who = self.who(group)
        overall = self.overall_rate
        overall_text = f"{overall:.0%} of all {self.n_known:,}" if overall is not None else "no overall rate"
        if self.n == 0:
            return f"No reference patient {who}; {overall_text} had disease."
        return (
            f"{self.n_disease} of {self.n:,} reference patients {who} had disease ({self.rate:.0%}), "
            f"against {overall_text} ({self.direction_text()})."
        )


def _outcome(reference: pd.DataFrame) -> pd.Series:
    """1.0 disease, 0.0 none, NaN unknown (UCI num > 0 is disease, so a 0–4 column reads correctly too)."""
    values = pd.to_numeric(reference[TARGET.name], errors="coerce")
    return values.gt(0).astype(float).where(values.notna())


def _number(value) -> float | None:
    """The patient's value as a finite float, None when unknown or unreadable."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def quantile_edges(values, n_bins: int = N_BINS) -> np.ndarray:
    """The edges ``pandas.qcut(values, n_bins, duplicates="drop")`` cuts at (linear-interpolated quantiles)."""
    return np.unique(np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, n_bins + 1)))


def _number_text(feat: Feature, value: float) -> str:
    return f"{value:.0f}" if feat.integer else f"{value:.3g}"


def band_text(
    feat: Feature, lower: float | None, upper: float | None, scale: float = 1.0, unit: str | None = None
) -> str:
    """A band (lower exclusive, upper inclusive) in words; `scale` and `unit` show it in another unit (mmol/L).

    Whole-number features in their own unit name whole numbers: (45, 53] years is "46–53 years"."""
    unit = feat.unit if unit is None else unit
    whole = feat.integer and scale == 1.0
    if whole:
        low = None if lower is None else math.floor(lower) + 1
        high = None if upper is None else math.floor(upper)
        if low is None:
            return f"up to {high} {unit}".rstrip()
        if high is None:
            return f"{low} {unit} or more".rstrip()
        return f"{low}–{high} {unit}".rstrip() if low != high else f"{low} {unit}".rstrip()

    def shown(value: float) -> str:
        return f"{value * scale:.2f}" if scale != 1.0 else _number_text(feat, value)

    if lower is None:
        return f"up to {shown(upper)} {unit}".rstrip() if upper is not None else "any value"
    if upper is None:
        return f"over {shown(lower)} {unit}".rstrip()
    return f"over {shown(lower)} up to {shown(upper)} {unit}".rstrip()


def _association(
    name: str, number: float, column: np.ndarray, outcome: np.ndarray, n_bins: int
) -> CrudeAssociation | None:
    """The association of `number` from the feature's values and the outcome (NaN = unknown), as numpy arrays."""
    feat = feature(name)
    known = ~np.isnan(column) & ~np.isnan(outcome)
    if not known.any():
        return None
    column, outcome = column[known], outcome[known]
    lower = upper = None
    banded = not feat.categories and len(np.unique(column)) > n_bins
    if not banded:
        in_group = column == number
        group = feat.category_label(number) if feat.categories else f"{_number_text(feat, number)} {feat.unit}".rstrip()
    else:
        edges = quantile_edges(column, n_bins)
        index = int(np.searchsorted(edges[1:-1], number, side="left"))  # bins (e_j, e_j+1], the first closed
        # The outermost bins are open, so a patient beyond the reference range falls in the nearest one.
        lower = None if index == 0 else float(edges[index])
        upper = None if index == len(edges) - 2 else float(edges[index + 1])
        in_group = np.ones(len(column), dtype=bool)
        if lower is not None:
            in_group &= column > lower
        if upper is not None:
            in_group &= column <= upper
        group = band_text(feat, lower, upper)
    return CrudeAssociation(
        feature=name,
        group=group,
        banded=banded,
        n=int(in_group.sum()),
        n_disease=int(outcome[in_group].sum()),
        n_known=len(column),
        n_known_disease=int(outcome.sum()),
        lower=lower,
        upper=upper,
    )


def _column(reference: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(reference[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def crude_association(reference: pd.DataFrame, name: str, value, n_bins: int = N_BINS) -> CrudeAssociation | None:
    """The crude association of one value of feature `name`; None when the value is unknown or the reference
    data have no such column or no known outcome."""
    return crude_associations(reference, {name: value}, [name], n_bins).get(name)


def crude_associations(
    reference: pd.DataFrame, patient: Mapping[str, float], names: Iterable[str] | None = None, n_bins: int = N_BINS
) -> dict[str, CrudeAssociation]:
    """The crude association of each of the patient's known values (features in `names`, default all 13, that
    the patient has: a feature absent from the patient or unknown gets none)."""
    if TARGET.name not in reference:
        return {}
    outcome = _outcome(reference).to_numpy(dtype=float, na_value=np.nan)
    out = {}
    for name in FEATURE_NAMES if names is None else names:
        number = _number(patient.get(name))
        if number is None or name not in reference:
            continue
        association = _association(name, number, _column(reference, name), outcome, n_bins)
        if association is not None:
            out[name] = association
    return out


def unavailable_reason(reference: pd.DataFrame) -> str | None:
    """Why no crude association can be shown for these reference data (None when it can)."""
    if TARGET.name not in reference:
        return "the reference data have no outcome column, so no raw disease rates can be shown"
    if not _outcome(reference).notna().any():
        return "no reference patient has a known outcome, so no raw disease rates can be shown"
    return None


def contribution_direction(contribution: float) -> int:
    """+1 the model raises the risk, −1 it lowers it, 0 a negligible contribution."""
    if abs(contribution) < NEGLIGIBLE_CONTRIBUTION:
        return 0
    return 1 if contribution > 0 else -1


def disagrees(contribution: float, association: CrudeAssociation | None) -> bool:
    """The model's contribution and the crude association point clearly in opposite directions."""
    if association is None:
        return False
    model_way, crude_way = contribution_direction(contribution), association.direction
    return model_way != 0 and crude_way != 0 and model_way != crude_way
