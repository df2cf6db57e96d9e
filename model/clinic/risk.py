"""One patient's risk and a batch of patients' risks, from any fitted pipeline.

A pipeline here is what the app calls a model: a fitted scikit-learn Pipeline over the
13 raw features in UCI coding (see model/data/schema.py) whose ``predict_proba`` gives
P(disease). Everything the prediction page shows is computed here, without Streamlit:

- ``check_patient``: the form's values checked with ``Feature.check`` (hard limits),
  soft warnings from ``Feature.is_atypical`` and "Unknown" turned into NaN;
- ``predict_risk``: probability, risk band (thresholds explained in ``BAND_RATIONALE``),
  natural frequency and an uncertainty interval by **Monte Carlo dropout**: the
  network is run ``N`` times with its dropout switched on (Gal & Ghahramani, 2016) and
  the central 95 % of those stochastic probabilities is the interval. Models without
  dropout (e.g. a logistic regression) get no interval and the result says why.
  **Unknown values** are not given the training median: the model is averaged over the
  values the most similar training patients had (model/clinic/imputation.py), the result
  carries the range of risks over those fillings, and the dropout passes are spread over
  the fillings so the interval includes what the unknowns could change. A patient unlike
  the training patients is flagged with the reasons (model/clinic/typicality.py);
- ``what_if``, ``population_risks`` / ``percentile_of``, ``score_batch``.

Cholesterol: 1 mmol/L of total cholesterol = 38.67 mg/dL (molar mass of cholesterol,
386.65 g/mol, divided by 10 for dL); the model works in mg/dL, as the UCI data do.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from model.runtime.limits import MAX_ROWS, MAX_UPLOAD_BYTES
from model.data.schema import FEATURE_NAMES, FEATURES, TARGET, Feature, feature

logger = logging.getLogger(__name__)

# ---- cholesterol units ----------------------------------------------------------------

CHOLESTEROL_MGDL_PER_MMOL = 38.67  # total cholesterol: 1 mmol/L = 38.67 mg/dL
CHOLESTEROL_UNITS = ("mg/dL", "mmol/L")


def mmol_to_mgdl(mmol_per_l: float) -> float:
    """Total cholesterol in mmol/L -> mg/dL (exact factor 38.67)."""
    return float(mmol_per_l) * CHOLESTEROL_MGDL_PER_MMOL


def mgdl_to_mmol(mg_per_dl: float) -> float:
    """Total cholesterol in mg/dL -> mmol/L (exact factor 38.67)."""
    return float(mg_per_dl) / CHOLESTEROL_MGDL_PER_MMOL


# ---- risk bands -----------------------------------------------------------------------


@dataclass(frozen=True)
class RiskBand:
    name: str
    lower: float  # inclusive
    upper: float  # exclusive (the top band includes 1.0)
    meaning: str

    def contains(self, probability: float) -> bool:
        return self.lower <= probability < self.upper or (self.upper == 1.0 and probability == 1.0)

    @property
    def range_text(self) -> str:
        return f"{100 * self.lower:.0f} – {100 * self.upper:.0f} %" if self.upper < 1.0 else f"≥ {100 * self.lower:.0f} %"


RISK_BANDS: tuple[RiskBand, ...] = (
    RiskBand("Low", 0.00, 0.15, "disease is unlikely; other causes of the symptoms come first"),
    RiskBand("Intermediate", 0.15, 0.50, "disease is possible but less likely than not; "
                                          "non-invasive testing helps most in this range"),
    RiskBand("Elevated", 0.50, 0.85, "disease is more likely than not"),
    RiskBand("High", 0.85, 1.00, "disease is very likely"),
)
BAND_RATIONALE = (
    "The 15 % and 85 % cut-offs are the pre-test probability limits of the ESC 2013 guideline on stable "
    "coronary artery disease (below 15 %: look for other causes; above 85 %: disease assumed without further "
    "non-invasive testing). The 50 % cut splits the wide middle range into less likely and more likely than not. "
    "The outcome is angiographic disease (more than 50 % narrowing of a major vessel), not a future event."
)


def band_for(probability: float) -> RiskBand:
    for band in RISK_BANDS:
        if band.contains(probability):
            return band
    raise ValueError(f"probability must lie in [0, 1]; got {probability!r}")


def band_names(probabilities) -> np.ndarray:
    """Vectorised band_for(p).name (lower edges inclusive, as in RiskBand.contains)."""
    edges = [band.lower for band in RISK_BANDS[1:]]
    names = np.array([band.name for band in RISK_BANDS], dtype=object)
    return names[np.searchsorted(edges, np.asarray(probabilities, dtype=float), side="right")]


def natural_frequency(probability: float, out_of: int = 100) -> int:
    """How many of `out_of` patients like this one would have the disease (rounded)."""
    return int(round(float(probability) * out_of))


def natural_frequency_text(probability: float, out_of: int = 100) -> str:
    count = natural_frequency(probability, out_of)
    return (f"About {count} of {out_of} patients like this one would have angiographic heart disease; "
            f"about {out_of - count} would not.")


# ---- values and the patient form ------------------------------------------------------


UNKNOWN_TEXT = "Unknown"


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


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

    values: dict[str, float]            # UCI coding, chol in mg/dL, NaN where unknown
    errors: dict[str, str]              # feature name -> why the value is impossible
    warnings: dict[str, str]            # feature name -> why the value is unusual for the model
    imputed: tuple[str, ...]            # features left "Unknown"

    @property
    def ok(self) -> bool:
        return not self.errors

    def frame(self) -> pd.DataFrame:
        """One row with the 13 feature columns (NaN for the unknowns)."""
        return pd.DataFrame([[self.values[name] for name in FEATURE_NAMES]], columns=list(FEATURE_NAMES),
                            dtype="float64")


def atypical_message(feat: Feature, value: float) -> str:
    return (f"{feat.label}: {format_value(feat, value)} lies outside the range the model was trained on "
            f"({feat.typical_min:g} – {feat.typical_max:g} {feat.unit}); the estimate is an extrapolation.")


def check_patient(values: Mapping[str, object]) -> PatientCheck:
    """Check one patient's values (UCI coding; None/NaN = unknown) against the schema.

    Hard limits come from ``Feature.check``; a missing value is allowed only where the
    schema says ``unknown_allowed`` (the risk is then averaged over its plausible values).
    """
    clean: dict[str, float] = {}
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    imputed: list[str] = []
    for feat in FEATURES:
        value = values.get(feat.name)
        if is_missing(value):
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
            warnings[feat.name] = atypical_message(feat, float(value))
    return PatientCheck(clean, errors, warnings, tuple(imputed))


def imputation_note(imputed: tuple[str, ...] | list[str]) -> str | None:
    if not imputed:
        return None
    labels = ", ".join(feature(name).label for name in imputed)
    these = "this value" if len(imputed) == 1 else "these values"
    return (f"Unknown: {labels}. The risk is the average over the plausible values of {these}: those of the "
            "most similar training patients, who had the values this patient has. The range shows how much "
            f"{these} could change the estimate.")


# ---- probabilities --------------------------------------------------------------------


def positive_probability(pipeline, frame: pd.DataFrame) -> np.ndarray:
    """P(disease) for each row of `frame` (the 13 feature columns)."""
    proba = pipeline.predict_proba(frame[list(FEATURE_NAMES)])
    classes = list(getattr(pipeline, "classes_", [0, 1]))
    return np.asarray(proba, dtype=float)[:, classes.index(1) if 1 in classes else -1]


def split_network(pipeline):
    """(preprocessing part, torch network) when the last step is a fitted ANN, else (None, None)."""
    try:
        final = pipeline[-1]
        network = getattr(final, "network_", None)
        preprocess = pipeline[:-1]
    except (TypeError, IndexError, KeyError):
        return None, None
    import torch

    if not isinstance(network, torch.nn.Module) or not hasattr(network, "predict_proba"):
        return None, None
    return preprocess, network


def network_inputs(preprocess, network, frame: pd.DataFrame, matrix: np.ndarray | None = None):
    """The preprocessed rows (or an already preprocessed `matrix`) as a float tensor on the network's device."""
    import torch

    parameter = next(network.parameters())
    if matrix is None:
        matrix = preprocess.transform(frame[list(FEATURE_NAMES)])
    return torch.as_tensor(np.asarray(matrix, dtype=np.float32), device=parameter.device, dtype=parameter.dtype)


def probability_and_inputs(pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(P(disease) per row, the network's preprocessed input matrix or None for a model that is not our network).

    For a network pipeline the preprocessing runs once and feeds both the final step's
    ``predict_proba`` (exactly what the Pipeline does) and the Monte Carlo dropout passes.
    """
    preprocess, network = split_network(pipeline)
    if network is None:
        return positive_probability(pipeline, frame), None
    matrix = preprocess.transform(frame[list(FEATURE_NAMES)])
    final = pipeline[-1]
    classes = list(getattr(final, "classes_", [0, 1]))
    proba = np.asarray(final.predict_proba(matrix), dtype=float)[:, classes.index(1) if 1 in classes else -1]
    return proba, matrix


def dropout_rates(network) -> list[float]:
    """The dropout probabilities of the network's hidden layers (model.nn.network.MLP's ``dropouts``)."""
    return [float(p) for p in getattr(network, "dropouts", []) if float(p) > 0.0]


@dataclass(frozen=True)
class UncertaintyInterval:
    lower: float | None
    upper: float | None
    level: float
    method: str
    detail: str

    @property
    def available(self) -> bool:
        return self.lower is not None

    def text(self) -> str:
        if not self.available:
            return f"No uncertainty interval: {self.detail}"
        return f"{self.level:.0%} interval {self.lower:.0%} – {self.upper:.0%} ({self.method})"


MC_DROPOUT_PASSES = 200
MC_PASSES_PER_FILLING = 20   # one patient with unknowns: passes per plausible filling (50 fillings: 1,000 passes)
MC_LEVEL = 0.95
MC_BATCH_PASSES = 100       # a batch: passes per row (the 2.5 % and 97.5 % quantiles still interpolate between draws)
MC_BATCH_DRAWS = 400_000     # stochastic rows per chunk of a batch (bounds memory)


def _no_interval(pipeline, level: float) -> UncertaintyInterval | None:
    """Why Monte Carlo dropout does not apply to this pipeline, or None when it does."""
    preprocess, network = split_network(pipeline)
    if network is None:
        return UncertaintyInterval(None, None, level, "Monte Carlo dropout",
                                   "this model is not a neural network, so Monte Carlo dropout does not apply.")
    if not dropout_rates(network):
        return UncertaintyInterval(None, None, level, "Monte Carlo dropout",
                                   "this network was trained without dropout, so Monte Carlo dropout cannot "
                                   "estimate its uncertainty.")
    return None


def mc_dropout_bounds(pipeline, completions: pd.DataFrame, counts: np.ndarray, n_passes: int,
                      level: float = MC_LEVEL, seed: int = 0, matrix: np.ndarray | None = None) -> np.ndarray:
    """(n_rows, 2) central `level` interval of P(disease) per row over `n_passes` dropout passes.

    `completions` holds each row's plausible fillings, consecutive (``counts[i]`` of them for
    row i; one for a row with nothing unknown). Pass j of a row runs its filling j mod count,
    so the passes are spread evenly over the fillings and the interval covers both the
    model's wobble and what the unknown values could be. Every row of a chunk runs as one
    batch, each copy with its own dropout mask from a generator seeded with `seed` (never
    torch's process-wide one, which trainings in other threads draw from); the shared model
    is never switched to training mode. `matrix`: the fillings already preprocessed.
    """
    import torch

    preprocess, network = split_network(pipeline)
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    inputs = network_inputs(preprocess, network, completions, matrix)
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    tail = (1.0 - level) / 2.0
    bounds = np.empty((len(counts), 2))
    chunk = max(1, MC_BATCH_DRAWS // n_passes)
    passes = np.arange(n_passes)
    for first in range(0, len(counts), chunk):
        rows = slice(first, first + chunk)
        index = starts[rows, None] + passes[None, :] % counts[rows, None]
        picked = inputs[torch.as_tensor(index.reshape(-1), device=inputs.device)]
        ordered = torch.sort(torch.sigmoid(network.stochastic_logits(picked, generator)).reshape(-1, n_passes),
                             dim=1).values.cpu().double().numpy()
        bounds[rows] = _sorted_quantiles(ordered, (tail, 1.0 - tail))
    return bounds


def _sorted_quantiles(ordered: np.ndarray, levels) -> np.ndarray:
    """Quantiles of each row of an already sorted array, linear interpolation (numpy's and torch's default)."""
    n = ordered.shape[1]
    out = np.empty((len(ordered), len(levels)))
    for column, level in enumerate(levels):
        position = level * (n - 1)
        below = int(np.floor(position))
        above = min(below + 1, n - 1)
        fraction = position - below
        out[:, column] = ordered[:, below] * (1.0 - fraction) + ordered[:, above] * fraction
    return out


def mc_dropout_interval(pipeline, frame: pd.DataFrame, n_passes: int = MC_DROPOUT_PASSES,
                        level: float = MC_LEVEL, seed: int = 0,
                        matrix: np.ndarray | None = None) -> UncertaintyInterval:
    """Central `level` interval of P(disease) over `n_passes` forward passes with dropout on.

    `frame` is one patient (its first row), or several rows that are the plausible fillings
    of one patient's unknown values: the passes are then spread evenly over them.
    """
    missing = _no_interval(pipeline, level)
    if missing is not None:
        return missing
    n_fillings = len(frame)
    n_passes = int(min(max(n_passes, 10), 5000))
    lower, upper = mc_dropout_bounds(pipeline, frame, np.array([n_fillings]), n_passes, level, seed, matrix)[0]
    return UncertaintyInterval(float(lower), float(upper), level, *_interval_words(pipeline, n_passes, level,
                                                                                    n_fillings))


def _interval_words(pipeline, n_passes: int, level: float, n_fillings: int) -> tuple[str, str]:
    """(method, detail) of a Monte Carlo dropout interval."""
    rate = max(dropout_rates(split_network(pipeline)[1]))
    if n_fillings > 1:
        method = f"Monte Carlo dropout over {n_fillings} plausible fillings of the unknown values, {n_passes} passes"
        how = (f"the network was run {n_passes} times with its dropout (rate {rate:g}) left on, as during training, "
               f"spread evenly over {n_fillings} plausible fillings of the unknown values; the interval holds the "
               f"central {level:.0%} of those {n_passes} probabilities, so it includes what the unknown values "
               "could change.")
    else:
        method = f"Monte Carlo dropout, {n_passes} stochastic passes"
        how = (f"the network was run {n_passes} times with its dropout (rate {rate:g}) left on, as during "
               f"training; the interval holds the central {level:.0%} of those {n_passes} probabilities.")
    return method, how + (" It shows how much the model's own estimate wobbles, not the uncertainty of the "
                          "diagnosis itself, and it does not widen for patients unlike the training patients "
                          "(those are flagged separately).")


@dataclass(frozen=True)
class UnknownRange:
    """The risk with the unknown values filled in every plausible way (the training neighbours' values)."""

    low: float
    high: float
    n_fillings: int
    reference: str       # whose values: e.g. "the 303 Cleveland patients the model was trained on"

    def text(self) -> str:
        return (f"With the missing values filled in every plausible way ({self.n_fillings} fillings, from the most "
                f"similar of {self.reference}), the risk lies between {self.low:.0%} and {self.high:.0%}.")


@dataclass(frozen=True)
class RiskResult:
    probability: float
    band: RiskBand
    interval: UncertaintyInterval
    imputed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    unknown_range: UnknownRange | None = None   # set when some values were unknown
    atypical: bool = False                      # unlike the patients the model learned from
    atypical_reasons: tuple[str, ...] = ()      # which values make the patient atypical, in words
    reference_note: str | None = None           # the model's training data were not available: what stood in
    fillings: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the plausible fillings

    def atypical_text(self) -> str | None:
        if not self.atypical:
            return None
        return ("This patient is unlike the patients the model learned from: " + "; ".join(self.atypical_reasons)
                + ". The estimate is an extrapolation and its interval does not show that.")

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


class PatientError(ValueError):
    """The patient's values cannot be scored; `errors` maps feature name -> message."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


def plausible_fillings(reference, frame: pd.DataFrame) -> pd.DataFrame:
    """The first row of `frame` with its unknown values filled in every plausible way (one row per filling;
    the row itself when nothing is unknown)."""
    values = frame[list(FEATURE_NAMES)].iloc[:1].to_numpy(dtype=float)
    return pd.DataFrame(reference.imputer.complete(values).values, columns=list(FEATURE_NAMES))


def resolve_reference(pipeline, reference=None):
    """The given TrainingReference, else the model's own (model/clinic/reference.py; a stand-in is logged there)."""
    if reference is not None:
        return reference
    from model.clinic.reference import reference_for_model

    return reference_for_model(pipeline)


def predict_risk(pipeline, patient: PatientCheck | Mapping[str, object], *, n_passes: int = MC_DROPOUT_PASSES,
                 level: float = MC_LEVEL, reference=None) -> RiskResult:
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
    return RiskResult(probability, band_for(probability), interval, checked.imputed,
                      tuple(checked.warnings.values()), unknown_range, bool(typicality.atypical[0]),
                      tuple(typicality.reasons[0]), reference.note, fillings if checked.imputed else None)


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
        return (f"{feat.label} {format_value(feat, self.old_value)} → {format_value(feat, self.new_value)}: "
                f"risk {self.old_probability:.0%} → {self.new_probability:.0%} "
                f"({100 * self.change:+.1f} percentage points)")


def what_if(pipeline, values: Mapping[str, object], feature_name: str, new_value, reference=None) -> WhatIf:
    """Change one feature of a patient and score both versions (unknown values averaged as in predict_risk)."""
    old = check_patient(values)
    changed = dict(old.values)
    changed[feature_name] = new_value
    new = check_patient(changed)
    if not old.ok:
        raise PatientError(old.errors)
    if not new.ok:
        raise PatientError({feature_name: new.errors.get(feature_name, "; ".join(new.errors.values()))})
    both = pd.concat([old.frame(), new.frame()], ignore_index=True)
    old_p, new_p = averaged_risks(pipeline, both, resolve_reference(pipeline, reference))[0]
    return WhatIf(feature_name, old.values[feature_name], new.values[feature_name], float(old_p), float(new_p))


def averaged_risks(pipeline, frame: pd.DataFrame, reference):
    """(mean risk per row, lowest and highest risk per row over its plausible fillings, fillings, counts,
    the network's preprocessed fillings or None).

    A row with nothing unknown has one filling (itself): its mean, lowest and highest are its risk.
    """
    completions = reference.imputer.complete(frame[list(FEATURE_NAMES)].to_numpy(dtype=float))
    fillings = pd.DataFrame(completions.values, columns=list(FEATURE_NAMES))
    counts = completions.counts
    if not len(counts):
        return np.empty(0), np.empty(0), np.empty(0), fillings, counts, None
    risks, matrix = probability_and_inputs(pipeline, fillings)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.add.reduceat(risks, starts) / counts
    return mean, np.minimum.reduceat(risks, starts), np.maximum.reduceat(risks, starts), fillings, counts, matrix


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


# ---- batch scoring --------------------------------------------------------------------


class BatchError(ValueError):
    """The file as a whole cannot be scored (e.g. a required column is missing)."""


@dataclass
class BatchResult:
    scored: pd.DataFrame    # row, the 13 inputs (+ target if given), risk_percent, risk_band, imputed,
    #                         unknown_low/high_percent, interval_low/high_percent, atypical, atypical_reasons
    invalid: pd.DataFrame   # row, reasons
    reference_note: str | None = None   # the model's training data were not available: what stood in

    @property
    def n_rows(self) -> int:
        return len(self.scored) + len(self.invalid)

    def as_table(self) -> pd.DataFrame:
        """Every row in file order: scored rows with risk and band, the others with `problem` filled in."""
        scored = self.scored.assign(problem="")
        invalid = self.invalid.rename(columns={"reasons": "problem"})
        parts = [part for part in (scored, invalid) if len(part)]
        table = pd.concat(parts, ignore_index=True) if parts else scored
        return table.sort_values("row", kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        text = f"{len(self.scored):,} of {self.n_rows:,} rows scored"
        if len(self.invalid):
            text += f"; {len(self.invalid):,} rows could not be scored (reasons listed)"
        return text + "."


MIN_KNOWN_FEATURES = 7  # a row with fewer known features than this is mostly imputation: not scored


def score_batch(pipeline, frame: pd.DataFrame, *, max_rows: int = MAX_ROWS, reference=None,
                n_passes: int = MC_BATCH_PASSES, level: float = MC_LEVEL) -> BatchResult:
    """Score every valid row; list every other row with its reasons.

    `frame` is what ``read_batch_csv`` returns (the importer's good rows, indexed by data
    row number, the set-aside ones in ``frame.attrs["set_aside"]``) or a frame built in a
    notebook, which is checked here the same way (``csv_import.set_aside_bad_rows``).
    Rows are numbered from 1 (the first patient below the header), as in the import
    report. A missing value (empty or "?") is named in the `imputed` column and, as in
    ``predict_risk``, the row's risk is averaged over its plausible fillings
    (`unknown_low_percent` – `unknown_high_percent` is their range); each row also gets the
    Monte Carlo dropout interval (`interval_low_percent` – `interval_high_percent`, NaN for
    a model without dropout) and the typicality check (`atypical`, `atypical_reasons`). A
    row with fewer than MIN_KNOWN_FEATURES known features, a value that is not a number or
    an impossible value (``Feature.check``) makes the row invalid.
    """
    from model.data.csv_import import ROW, set_aside_bad_rows

    set_aside = {} if frame is None else frame.attrs.get("set_aside", {}) if frame.index.name == ROW else None
    n = 0 if frame is None else len(frame) + len(set_aside or {})
    if n == 0:
        raise BatchError("The file holds no patients.")
    if n > max_rows:
        raise BatchError(f"The file has {n:,} rows; at most {max_rows:,} can be scored at once.")
    absent = [feat for feat in FEATURES if feat.name not in frame.columns]
    if absent:
        raise BatchError("Missing column(s): " + ", ".join(f"{f.name} ({f.label})" for f in absent)
                         + ". Columns must be named as in the UCI data: " + ", ".join(FEATURE_NAMES) + ".")
    if set_aside is None:  # not from the importer: check it as the importer checks a file
        frame, report = set_aside_bad_rows(frame)
        if frame is None:
            raise BatchError(" ".join(str(issue) for issue in report.errors))
        set_aside = report.set_aside
    reasons = {row: list(problems) for row, problems in set_aside.items()}
    inputs = frame[list(FEATURE_NAMES)]
    missing = inputs.isna()
    too_few = missing.columns.size - missing.sum(axis=1) < MIN_KNOWN_FEATURES
    for row, n_missing in missing.sum(axis=1)[too_few].items():
        reasons[row] = [f"only {len(FEATURES) - n_missing} of {len(FEATURES)} features given; at least "
                        f"{MIN_KNOWN_FEATURES} are needed"]
    valid = ~too_few.to_numpy()
    kept = frame[valid]
    scored = pd.DataFrame({"row": kept.index.to_numpy(dtype="int64")})
    for name in FEATURE_NAMES:
        scored[name] = kept[name].to_numpy()
    if TARGET.name in kept.columns:
        scored[TARGET.name] = kept[TARGET.name].to_numpy()
    reference = resolve_reference(pipeline, reference)
    values = inputs[valid].astype("float64")
    probability, low, high, fillings, counts, matrix = averaged_risks(pipeline, values, reference)
    scored["risk_percent"] = np.round(100.0 * probability, 1)
    scored["risk_band"] = band_names(probability)
    labels = [feature(name).label for name in FEATURE_NAMES]
    scored["imputed"] = [", ".join(label for label, gap in zip(labels, gaps) if gap)
                         for gaps in missing[valid].to_numpy()]
    scored["unknown_low_percent"] = np.round(100.0 * low, 1)
    scored["unknown_high_percent"] = np.round(100.0 * high, 1)
    bounds = np.full((len(scored), 2), np.nan)
    if len(scored) and _no_interval(pipeline, level) is None:
        bounds = mc_dropout_bounds(pipeline, fillings, counts, int(min(max(n_passes, 10), 5000)), level,
                                   matrix=matrix)
    scored["interval_low_percent"] = np.round(100.0 * bounds[:, 0], 1)
    scored["interval_high_percent"] = np.round(100.0 * bounds[:, 1], 1)
    typicality = reference.typicality.check(values.to_numpy(dtype=float))
    scored["atypical"] = typicality.atypical.astype(bool)
    scored["atypical_reasons"] = ["; ".join(row) for row in typicality.reasons]
    invalid = pd.DataFrame({"row": pd.Series(sorted(reasons), dtype="int64"),
                            "reasons": ["; ".join(reasons[row]) for row in sorted(reasons)]})
    return BatchResult(scored, invalid, reference.note)


def read_batch_csv(source, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_UPLOAD_BYTES,
                   coding: str | None = None):
    """(frame or None, import report) for a CSV of patients to score.

    The importer (model/data/csv_import.py) reads, recognises the coding (UCI, Kaggle,
    TensorFlow tutorial) and converts; in its "set_aside" mode a row with an impossible
    or non-numeric cell leaves the frame and is listed with its reasons, and only a
    file-level problem (missing columns, not a CSV, too large) refuses the file. The
    frame is what ``score_batch`` takes. A file whose values fit two codings is refused
    with ``report.needs_coding`` and ``report.candidate_codings``: read it again with
    ``coding=`` set to the one the user chose.
    """
    from model.data.csv_import import read_user_csv

    data = source if isinstance(source, (bytes, bytearray)) else source.getvalue() if hasattr(
        source, "getvalue") else source.read()
    imported = read_user_csv(bytes(data), max_rows=max_rows, max_bytes=max_bytes, bad_rows="set_aside",
                             coding=coding)
    return imported.frame, imported.report
