"""One patient's risk from any fitted pipeline: probability, band, interval, unknowns, typicality, what-if.

Everything the prediction page shows is computed in model/clinic, without Streamlit:

- model/clinic/patient_checks.py: the form's values checked (``check_patient``);
- ``predict_risk`` here: probability, risk band (model/clinic/risk_bands.py), natural
  frequency and an uncertainty interval by Monte Carlo dropout
  (model/clinic/interval.py; a model without dropout gets none and the result says why).
  **Unknown values** are not given the training median: the model is averaged over the
  values the most similar training patients had (model/clinic/unknown_averaging.py), the
  result carries the range of risks over those fillings, and the dropout passes are spread
  over the fillings so the interval includes what the unknowns could change. A patient
  unlike the training patients is flagged with the reasons (model/clinic/typicality.py);
- ``what_if``, ``population_risks`` / ``percentile_of`` here;
- model/clinic/batch_scoring.py: ``score_batch`` and ``read_batch_csv``.

The names of those modules that callers used to import from here are re-exported, so
``from model.clinic.risk import check_patient`` keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.clinic.batch_scoring import (
    MIN_KNOWN_FEATURES,
    BatchError,
    BatchResult,
    read_batch_csv,
    score_batch,
)
from model.clinic.cholesterol_units import (
    CHOLESTEROL_MGDL_PER_MMOL,
    CHOLESTEROL_UNITS,
    mgdl_to_mmol,
    mmol_to_mgdl,
)
from model.clinic.interval import (
    MC_DROPOUT_PASSES,
    MC_LEVEL,
    MC_PASSES_PER_FILLING,
    NoIntervalReason,
    UncertaintyInterval,
    mc_dropout_bounds,
    mc_dropout_interval,
)
from model.clinic.patient_checks import (
    UNKNOWN_TEXT,
    PatientCheck,
    PatientError,
    PatientValue,
    check_patient,
    format_value,
    imputation_note,
    is_missing,
    typical_patient,
)
from model.clinic.probabilities import (
    network_inputs,
    positive_probability,
    probability_and_inputs,
    split_network,
)
from model.clinic.reference import TrainingReference
from model.clinic.risk_bands import (
    BAND_RATIONALE,
    RISK_BANDS,
    RiskBand,
    band_for,
    band_names,
    natural_frequency,
    natural_frequency_text,
)
from model.clinic.unknown_averaging import UnknownRange, averaged_risks, plausible_fillings, resolve_reference
from model.data.schema import FEATURE_NAMES, feature

__all__ = [
    # defined here
    "RiskResult",
    "WhatIf",
    "percentile_of",
    "population_risks",
    "predict_risk",
    "what_if",
    # re-exported from the modules this one was split into
    "BAND_RATIONALE",
    "CHOLESTEROL_MGDL_PER_MMOL",
    "CHOLESTEROL_UNITS",
    "MC_DROPOUT_PASSES",
    "MC_LEVEL",
    "MIN_KNOWN_FEATURES",
    "RISK_BANDS",
    "UNKNOWN_TEXT",
    "BatchError",
    "BatchResult",
    "NoIntervalReason",
    "PatientCheck",
    "PatientError",
    "RiskBand",
    "UncertaintyInterval",
    "UnknownRange",
    "band_for",
    "band_names",
    "check_patient",
    "format_value",
    "imputation_note",
    "is_missing",
    "mc_dropout_bounds",
    "mc_dropout_interval",
    "mgdl_to_mmol",
    "mmol_to_mgdl",
    "natural_frequency",
    "natural_frequency_text",
    "network_inputs",
    "plausible_fillings",
    "positive_probability",
    "read_batch_csv",
    "resolve_reference",
    "score_batch",
    "split_network",
    "typical_patient",
]


@dataclass(frozen=True)
class RiskResult:
    probability: float
    band: RiskBand
    interval: UncertaintyInterval
    imputed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    unknown_range: UnknownRange | None = None  # set when some values were unknown
    atypical: bool = False  # unlike the patients the model learned from
    atypical_reasons: tuple[str, ...] = ()  # which values make the patient atypical, in words
    reference_note: str | None = None  # the model's training data were not available: what stood in
    fillings: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the plausible fillings

    def atypical_text(self) -> str | None:
        if not self.atypical:
            return None
        return (
            "This patient is unlike the patients the model learned from: "
            + "; ".join(self.atypical_reasons)
            + ". The estimate is an extrapolation and its interval does not show that."
        )

    @property
    def percent(self) -> float:
        return 100.0 * self.probability

    @property
    def natural_frequency(self) -> int:
        return natural_frequency(self.probability)

    def natural_frequency_text(self) -> str:
        return natural_frequency_text(self.probability)

    def imputation_note(self) -> str | None:
        return imputation_note(self.imputed)


def predict_risk(
    pipeline,
    patient: PatientCheck | Mapping[str, PatientValue],
    *,
    n_passes: int = MC_DROPOUT_PASSES,
    level: float = MC_LEVEL,
    reference: TrainingReference | None = None,
) -> RiskResult:
    """The risk of one patient (values in UCI coding, or an already checked PatientCheck).

    `reference` (model.clinic.reference.TrainingReference) holds the patients the model was trained
    on: unknown values are averaged over the values of the most similar of them, and the
    patient is checked for typicality against them. By default the model's own training
    data (the built-in data for the shipped model; a stand-in, said in ``reference_note``).
    """
    checked = patient if isinstance(patient, PatientCheck) else check_patient(patient)
    if not checked.ok:
        raise PatientError(checked.errors)
    reference = resolve_reference(pipeline, reference)
    frame = checked.frame()
    fillings = plausible_fillings(reference, frame) if checked.imputed else frame
    risks, matrix = probability_and_inputs(pipeline, fillings)
    probability = float(risks.mean())
    unknown_range = None
    if checked.imputed:
        unknown_range = UnknownRange(float(risks.min()), float(risks.max()), len(fillings), reference.name)
        n_passes = max(n_passes, MC_PASSES_PER_FILLING * len(fillings))
    interval = mc_dropout_interval(pipeline, fillings, n_passes=n_passes, level=level, matrix=matrix)
    typicality = reference.typicality.check(frame.to_numpy(dtype=float))
    return RiskResult(
        probability,
        band_for(probability),
        interval,
        checked.imputed,
        tuple(checked.warnings.values()),
        unknown_range,
        bool(typicality.atypical[0]),
        tuple(typicality.reasons[0]),
        reference.note,
        fillings if checked.imputed else None,
    )


# ---- what-if --------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    feature: str
    old_value: float
    new_value: float
    old_probability: float
    new_probability: float

    @property
    def change(self) -> float:
        return self.new_probability - self.old_probability

    def text(self) -> str:
        feat = feature(self.feature)
        return (
            f"{feat.label} {format_value(feat, self.old_value)} → {format_value(feat, self.new_value)}: "
            f"risk {self.old_probability:.0%} → {self.new_probability:.0%} "
            f"({100 * self.change:+.1f} percentage points)"
        )


def what_if(
    pipeline,
    values: Mapping[str, PatientValue],
    feature_name: str,
    new_value: PatientValue,
    reference: TrainingReference | None = None,
) -> WhatIf:
    """Change one feature of a patient and score both versions (unknown values averaged as in predict_risk)."""
    old = check_patient(values)
    changed: dict[str, PatientValue] = dict(old.values)
    changed[feature_name] = new_value
    new = check_patient(changed)
    if not old.ok:
        raise PatientError(old.errors)
    if not new.ok:
        raise PatientError({feature_name: new.errors.get(feature_name, "; ".join(new.errors.values()))})
    both = pd.concat([old.frame(), new.frame()], ignore_index=True)
    old_p, new_p = averaged_risks(pipeline, both, resolve_reference(pipeline, reference)).mean
    return WhatIf(feature_name, old.values[feature_name], new.values[feature_name], float(old_p), float(new_p))


# ---- population -----------------------------------------------------------------------


def population_risks(pipeline, frame: pd.DataFrame) -> np.ndarray:
    """P(disease) for every patient of a reference data set (the pipeline imputes its gaps)."""
    features = frame[list(FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce")
    return positive_probability(pipeline, features)


def percentile_of(probability: float, risks: np.ndarray) -> float:
    """Percentage of the population with a lower risk (ties count half): 0 – 100."""
    risks = np.asarray(risks, dtype=float)
    if risks.size == 0:
        raise ValueError("the reference population is empty")
    below = np.count_nonzero(risks < probability)
    ties = np.count_nonzero(risks == probability)
    return 100.0 * (below + 0.5 * ties) / risks.size
