"""One patient's values checked against the schema: hard limits, soft warnings, "Unknown" as NaN.

``check_patient`` checks the form's values with ``Feature.check`` (hard limits) and
``Feature.is_atypical`` (outside the training range: a warning, not an error); a missing
value is allowed only where the schema says ``unknown_allowed``. ``format_value`` shows a
value as a clinician reads it; ``typical_patient`` gives the form's defaults.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import SupportsFloat

import pandas as pd

from model.data.schema import FEATURE_NAMES, FEATURES, Feature, feature

UNKNOWN_TEXT = "Unknown"

# What a form or a notebook hands in for one feature: a number, a numeric string, or None / NaN for unknown.
PatientValue = SupportsFloat | str | None


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError, OverflowError):
        return False  # not a number at all: present, and Feature.check says why it is wrong


def format_value(feat: Feature, value) -> str:
    """A value as a clinician reads it: category label, number with unit, or "Unknown"."""
    if is_missing(value):
        return UNKNOWN_TEXT
    if feat.categories:
        return feat.category_label(value)
    number = float(value)
    text = f"{number:.0f}" if feat.integer else f"{number:g}"
    return f"{text} {feat.unit}".rstrip()


def typical_patient(frame: pd.DataFrame) -> dict[str, float]:
    """Median (numeric) or most frequent value (coded features) of each feature: the form's defaults.

    NaN for a feature the reference data never record (e.g. cholesterol at the Swiss site):
    the pipeline's imputer fills it wherever it is used.
    """
    values: dict[str, float] = {}
    for feat in FEATURES:
        column = pd.to_numeric(frame[feat.name], errors="coerce").dropna()
        if column.empty:
            values[feat.name] = float("nan")
        elif feat.categories:
            values[feat.name] = float(column.mode().min())
        else:
            value = float(column.median())
            values[feat.name] = float(round(value)) if feat.integer else round(round(value / feat.step) * feat.step, 10)
    return values


@dataclass(frozen=True)
class PatientCheck:
    """The form's values after checking: errors block a prediction, warnings do not."""

    values: dict[str, float]  # UCI coding, chol in mg/dL, NaN where unknown
    errors: dict[str, str]  # feature name -> why the value is impossible
    warnings: dict[str, str]  # feature name -> why the value is unusual for the model
    imputed: tuple[str, ...]  # features left "Unknown"
    left_out: tuple[str, ...] = ()  # features the model does not use (e.g. imaging, before imaging): NaN, not asked

    @property
    def ok(self) -> bool:
        return not self.errors

    def frame(self) -> pd.DataFrame:
        """One row with the 13 feature columns (NaN for the unknowns)."""
        return pd.DataFrame(
            [[self.values[name] for name in FEATURE_NAMES]], columns=list(FEATURE_NAMES), dtype="float64"
        )


class PatientError(ValueError):
    """The patient's values cannot be scored; `errors` maps feature name -> message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


def atypical_message(feat: Feature, value: float) -> str:
    return (
        f"{feat.label}: {format_value(feat, value)} lies outside the range the model was trained on "
        f"({feat.typical_min:g} – {feat.typical_max:g} {feat.unit}); the estimate is an extrapolation."
    )


def check_patient(values: Mapping[str, PatientValue], left_out: Collection[str] = ()) -> PatientCheck:
    """Check one patient's values (UCI coding; None/NaN = unknown) against the schema.

    Hard limits come from ``Feature.check``; a missing value is allowed only where the
    schema says ``unknown_allowed`` (the risk is then averaged over its plausible values).
    Features in `left_out` (those the model does not use: model.clinic.probabilities.features_used)
    are neither asked for nor checked: NaN, and not counted as unknown.
    """
    clean: dict[str, float] = {}
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    imputed: list[str] = []
    for feat in FEATURES:
        if feat.name in left_out:
            clean[feat.name] = float("nan")
            continue
        value = values.get(feat.name)
        if value is None or is_missing(value):
            clean[feat.name] = float("nan")
            if feat.unknown_allowed:
                imputed.append(feat.name)
            else:
                errors[feat.name] = f"{feat.label} is required."
            continue
        problem = feat.check(value)
        if problem:
            errors[feat.name] = problem
            clean[feat.name] = float("nan")
            continue
        clean[feat.name] = float(value)
        if feat.is_atypical(value):
            warnings[feat.name] = atypical_message(feat, clean[feat.name])
    return PatientCheck(
        clean, errors, warnings, tuple(imputed), tuple(name for name in FEATURE_NAMES if name in left_out)
    )


def imputation_note(imputed: Sequence[str]) -> str | None:
    if not imputed:
        return None
    labels = ", ".join(feature(name).label for name in imputed)
    these = "this value" if len(imputed) == 1 else "these values"
    return (
        f"Unknown: {labels}. The risk is the average over the plausible values of {these}: those of the "
        "most similar training patients, who had the values this patient has. The range shows how much "
        f"{these} could change the estimate."
    )
