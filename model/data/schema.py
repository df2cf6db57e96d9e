"""The one definition of the 13 clinical features and the target.

Loaders, validation, preprocessing, the exploration page and the patient form all
read this module; nothing else restates names, units, limits or category labels.
Codes are the UCI Heart Disease coding (see data/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

Kind = Literal["numeric", "binary", "categorical"]


def short_repr(value, limit: int = 40) -> str:
    """repr of a value, cut short: a message must stay readable whatever was typed or uploaded."""
    if isinstance(value, int) and value.bit_length() > 128:  # repr of a huge int is long, or even refused
        return f"an integer of {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        text = repr(value)
    except ValueError:  # e.g. a Fraction of ints beyond Python's digit limit for str()
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Feature:
    name: str
    label: str
    description: str
    kind: Kind
    unit: str = ""
    # Hard limits: a value outside them is physiologically impossible or a coding error.
    hard_min: float | None = None
    hard_max: float | None = None
    # Typical range: the span seen in the Cleveland patients; outside it the model extrapolates.
    typical_min: float | None = None
    typical_max: float | None = None
    categories: Mapping[int, str] = field(default_factory=dict)
    integer: bool = False
    # A clinician may not have it (a lab value, an exercise or imaging test): the form offers "Unknown" and the
    # risk is averaged over its plausible values. Age, sex, chest pain and blood pressure are always known.
    unknown_allowed: bool = False
    step: float = 1.0
    # One plain line per category label a clinician outside cardiology may not know (form help, explanations).
    category_help: Mapping[int, str] = field(default_factory=dict)
    # Known only from imaging (fluoroscopy during angiography, a thallium scan): a pre-test estimate that used it
    # would be circular, so the before-imaging model leaves it out (MOMENTS_OF_CARE below).
    from_imaging: bool = False

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(self.categories)

    def label_with_unit(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def category_label(self, code) -> str:
        """Clinical label of a code; the code itself when it is not one of ours."""
        try:
            return self.categories[int(code)]
        except (KeyError, TypeError, ValueError):
            return str(code)

    def check(self, value) -> str | None:
        """Return why `value` is impossible for this feature, or None when it is acceptable.

        Missing values (None/NaN) are acceptable here; whether they may be imputed is the
        caller's decision.
        """
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        shown = short_repr(value)
        try:
            number = float(value)
        except OverflowError:  # an int (or Fraction) beyond float range, e.g. 10**400
            return f"{self.label}: {shown} is not a finite number"
        except (TypeError, ValueError):
            return f"{self.label}: {shown} is not a number"
        if math.isnan(number):
            return None
        if math.isinf(number):
            return f"{self.label}: {shown} is not a finite number"
        if self.categories:
            if number not in self.categories:
                allowed = ", ".join(f"{c} = {lab}" for c, lab in self.categories.items())
                return f"{self.label}: {shown} is not one of the codes ({allowed})"
            return None
        if self.integer and number != int(number):
            return f"{self.label}: {shown} must be a whole number"
        if self.hard_min is not None and number < self.hard_min:
            return f"{self.label}: {shown} is below the possible minimum {self.hard_min:g} {self.unit}".rstrip()
        if self.hard_max is not None and number > self.hard_max:
            return f"{self.label}: {shown} is above the possible maximum {self.hard_max:g} {self.unit}".rstrip()
        return None

    def is_atypical(self, value) -> bool:
        """True when a valid value lies outside the range the model was trained on."""
        if self.categories or value is None:
            return False
        number = float(value)
        if math.isnan(number):
            return False
        return (self.typical_min is not None and number < self.typical_min) or (
            self.typical_max is not None and number > self.typical_max
        )


FEATURES: tuple[Feature, ...] = (
    Feature(
        "age",
        "Age",
        "Age of the patient",
        "numeric",
        "years",
        hard_min=18,
        hard_max=110,
        typical_min=29,
        typical_max=77,
        integer=True,
    ),
    Feature("sex", "Sex", "Sex of the patient", "binary", categories={0: "Female", 1: "Male"}),
    Feature(
        "cp",
        "Chest pain type",
        "Type of chest pain reported",
        "categorical",
        categories={1: "Typical angina", 2: "Atypical angina", 3: "Non-anginal pain", 4: "Asymptomatic"},
        category_help={
            1: "Chest discomfort brought on by exertion or stress and relieved by rest or nitroglycerin.",
            2: "Chest pain with two of those three features of angina.",
            3: "Chest pain with at most one of those features: unlikely to come from the heart.",
            4: "No chest pain.",
        },
    ),
    Feature(
        "trestbps",
        "Resting blood pressure",
        "Resting systolic blood pressure on admission",
        "numeric",
        "mm Hg",
        hard_min=60,
        hard_max=260,
        typical_min=94,
        typical_max=200,
        integer=True,
    ),
    Feature(
        "chol",
        "Serum cholesterol",
        "Serum total cholesterol",
        "numeric",
        "mg/dL",
        hard_min=70,
        hard_max=700,
        typical_min=126,
        typical_max=564,
        integer=True,
        unknown_allowed=True,
    ),
    Feature(
        "fbs",
        "Fasting blood sugar > 120 mg/dL",
        "Fasting blood sugar above 120 mg/dL",
        "binary",
        categories={0: "No (≤ 120 mg/dL)", 1: "Yes (> 120 mg/dL)"},
        unknown_allowed=True,
    ),
    Feature(
        "restecg",
        "Resting ECG",
        "Resting electrocardiographic result",
        "categorical",
        categories={0: "Normal", 1: "ST-T wave abnormality", 2: "Left ventricular hypertrophy"},
        unknown_allowed=True,
        category_help={
            1: "Inverted T waves, or the ST segment raised or lowered by more than 0.05 mV, on the resting ECG.",
            2: "The ECG suggests a thickened wall of the heart's main pumping chamber (Estes' criteria).",
        },
    ),
    Feature(
        "thalach",
        "Maximum heart rate",
        "Maximum heart rate achieved during exercise test",
        "numeric",
        "bpm",
        hard_min=50,
        hard_max=230,
        typical_min=71,
        typical_max=202,
        integer=True,
        unknown_allowed=True,
    ),
    Feature(
        "exang",
        "Exercise-induced angina",
        "Angina induced by exercise",
        "binary",
        categories={0: "No", 1: "Yes"},
        unknown_allowed=True,
    ),
    Feature(
        "oldpeak",
        "ST depression",
        "ST depression induced by exercise relative to rest",
        "numeric",
        "mm",
        hard_min=-3,
        hard_max=10,
        typical_min=0,
        typical_max=6.2,
        step=0.1,
        unknown_allowed=True,
    ),
    Feature(
        "slope",
        "ST slope",
        "Slope of the peak exercise ST segment",
        "categorical",
        categories={1: "Upsloping", 2: "Flat", 3: "Downsloping"},
        unknown_allowed=True,
        category_help={
            1: "The ST segment rises at peak exercise: usually a normal response.",
            2: "The ST segment stays flat at peak exercise: can mean the heart muscle lacks blood flow.",
            3: "The ST segment falls at peak exercise: the pattern most suggestive of a lack of blood flow.",
        },
    ),
    Feature(
        "ca",
        "Major vessels coloured",
        "Number of major vessels (0-3) coloured by fluoroscopy",
        "numeric",
        "vessels",
        hard_min=0,
        hard_max=3,
        typical_min=0,
        typical_max=3,
        integer=True,
        unknown_allowed=True,
        from_imaging=True,
    ),
    Feature(
        "thal",
        "Thallium stress test",
        "Result of the thallium stress scintigraphy",
        "categorical",
        categories={3: "Normal", 6: "Fixed defect", 7: "Reversible defect"},
        unknown_allowed=True,
        category_help={
            3: "Blood flow to the heart muscle is even, at rest and under stress.",
            6: "An area with poor blood flow both at rest and under stress, often scar from an old heart attack.",
            7: "An area with poor blood flow under stress that recovers at rest: a sign of narrowed arteries.",
        },
        from_imaging=True,
    ),
)

TARGET = Feature(
    "target",
    "Heart disease",
    "Angiographic disease: more than 50% narrowing of a major vessel (UCI num > 0)",
    "binary",
    categories={0: "No disease", 1: "Disease"},
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
COLUMNS: tuple[str, ...] = FEATURE_NAMES + (TARGET.name,)
_BY_NAME = {f.name: f for f in FEATURES + (TARGET,)}


def feature(name: str) -> Feature:
    """The schema entry for a column name (features and target)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}; known: {', '.join(COLUMNS)}") from None


def names_of_kind(*kinds: Kind) -> list[str]:
    return [f.name for f in FEATURES if f.kind in kinds]


NUMERIC = names_of_kind("numeric")
BINARY = names_of_kind("binary")
CATEGORICAL = names_of_kind("categorical")


@dataclass(frozen=True)
class MomentOfCare:
    """When in the patient's care an estimate is made, and so which features a model for that moment may use."""

    name: str
    label: str
    description: str
    features: tuple[str, ...]

    @property
    def left_out(self) -> tuple[str, ...]:
        return tuple(name for name in FEATURE_NAMES if name not in self.features)


BEFORE_IMAGING = "before-imaging"
WITH_IMAGING = "with-imaging"
MOMENTS_OF_CARE: tuple[MomentOfCare, ...] = (
    MomentOfCare(
        BEFORE_IMAGING,
        "Before imaging",
        "A pre-test estimate from the history, examination, blood tests and the exercise ECG, before fluoroscopy "
        "or a thallium scan has been done.",
        tuple(f.name for f in FEATURES if not f.from_imaging),
    ),
    MomentOfCare(
        WITH_IMAGING,
        "With imaging results",
        "All 13 features, including the vessels coloured by fluoroscopy and the thallium scan.",
        FEATURE_NAMES,
    ),
)
_MOMENTS_BY_NAME = {m.name: m for m in MOMENTS_OF_CARE}


def moment_of_care(name: str) -> MomentOfCare:
    """The moment of care called `name`; ValueError naming the known ones otherwise."""
    try:
        return _MOMENTS_BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown moment of care {short_repr(name)}; choose one of: {', '.join(_MOMENTS_BY_NAME)}"
        ) from None


def _range_text(f: Feature) -> str:
    if f.categories:
        return "; ".join(f"{code} = {label}" for code, label in f.categories.items())
    return f"{f.hard_min:g} to {f.hard_max:g} (typical {f.typical_min:g} to {f.typical_max:g})"


def codebook_markdown() -> str:
    """The codebook as a Markdown table (data/README.md embeds it; the pages may show it)."""
    lines = [
        "| column | feature | meaning | unit | kind | codes, or possible range (typical range) |",
        "|---|---|---|---|---|---|",
    ]
    for f in FEATURES + (TARGET,):
        lines.append(f"| `{f.name}` | {f.label} | {f.description} | {f.unit or '—'} | {f.kind} | {_range_text(f)} |")
    return "\n".join(lines)
