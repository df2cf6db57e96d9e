"""One patient's risk and a batch of patients' risks, from any fitted pipeline.

A pipeline here is what the app calls a model: a fitted scikit-learn Pipeline over the
13 raw features in UCI coding (see model/schema.py) whose ``predict_proba`` gives
P(disease). Everything the prediction page shows is computed here, without Streamlit:

- ``check_patient``: the form's values checked with ``Feature.check`` (hard limits),
  soft warnings from ``Feature.is_atypical`` and "Unknown" turned into NaN, which the
  pipeline's own imputer fills (the result lists what was imputed);
- ``predict_risk``: probability, risk band (thresholds explained in ``BAND_RATIONALE``),
  natural frequency and an uncertainty interval by **Monte Carlo dropout**: the
  network is run ``N`` times with its dropout switched on (Gal & Ghahramani, 2016) and
  the central 95 % of those stochastic probabilities is the interval. Models without
  dropout (e.g. a logistic regression) get no interval and the result says why;
- ``what_if``, ``population_risks`` / ``percentile_of``, ``score_batch``.

Cholesterol: 1 mmol/L of total cholesterol = 38.67 mg/dL (molar mass of cholesterol,
386.65 g/mol, divided by 10 for dL); the model works in mg/dL, as the UCI data do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from .limits import MAX_ROWS, MAX_UPLOAD_BYTES
from .schema import FEATURE_NAMES, FEATURES, TARGET, Feature, feature

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


def is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def format_value(feat: Feature, value) -> str:
    """A value as a clinician reads it: category label, number with unit, or "Unknown (imputed)"."""
    if is_missing(value):
        return "Unknown (imputed)"
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
    schema says ``unknown_allowed`` (it is then imputed by the pipeline).
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
    return (f"Unknown: {labels}. The model filled {'this value' if len(imputed) == 1 else 'these values'} in "
            "with the value learned from its training data (median or most frequent), so the estimate is less "
            "specific to this patient.")


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


def network_inputs(preprocess, network, frame: pd.DataFrame):
    """The preprocessed rows as a float tensor on the network's device."""
    import torch

    parameter = next(network.parameters())
    matrix = np.asarray(preprocess.transform(frame[list(FEATURE_NAMES)]), dtype=np.float32)
    return torch.as_tensor(matrix, device=parameter.device, dtype=parameter.dtype)


def dropout_rates(network) -> list[float]:
    """The dropout probabilities of the network's hidden layers (model.network.MLP's ``dropouts``)."""
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
MC_LEVEL = 0.95


def mc_dropout_interval(pipeline, frame: pd.DataFrame, n_passes: int = MC_DROPOUT_PASSES,
                        level: float = MC_LEVEL, seed: int = 0) -> UncertaintyInterval:
    """Central `level` interval of P(disease) over `n_passes` forward passes with dropout on.

    All passes run as one batch (the row repeated), each copy with its own dropout mask.
    The masks come from a generator of this call seeded with `seed` (never torch's
    process-wide one, which trainings in other threads draw from), so the same patient
    always gets the same interval; the shared model is never switched to training mode.
    """
    method = f"Monte Carlo dropout, {n_passes} stochastic passes"
    preprocess, network = split_network(pipeline)
    if network is None:
        return UncertaintyInterval(None, None, level, "Monte Carlo dropout",
                                   "this model is not a neural network, so Monte Carlo dropout does not apply.")
    rates = dropout_rates(network)
    if not rates:
        return UncertaintyInterval(None, None, level, "Monte Carlo dropout",
                                   "this network was trained without dropout, so Monte Carlo dropout cannot "
                                   "estimate its uncertainty.")
    import torch

    n_passes = int(min(max(n_passes, 10), 5000))
    inputs = network_inputs(preprocess, network, frame.iloc[:1]).repeat(n_passes, 1)
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    draws = torch.sigmoid(network.stochastic_logits(inputs, generator)).reshape(-1).double().cpu().numpy()
    tail = (1.0 - level) / 2.0
    lower, upper = np.quantile(draws, [tail, 1.0 - tail])
    detail = (f"the network was run {n_passes} times with its dropout (rate {max(rates):g}) left on, as during "
              f"training; the interval holds the central {level:.0%} of those {n_passes} probabilities. It shows "
              "how much the model's own estimate wobbles, not the uncertainty of the diagnosis itself.")
    return UncertaintyInterval(float(lower), float(upper), level, method, detail)


@dataclass(frozen=True)
class RiskResult:
    probability: float
    band: RiskBand
    interval: UncertaintyInterval
    imputed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

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


def predict_risk(pipeline, patient: PatientCheck | Mapping[str, object], *, n_passes: int = MC_DROPOUT_PASSES,
                 level: float = MC_LEVEL) -> RiskResult:
    """The risk of one patient (values in UCI coding, or an already checked PatientCheck)."""
    checked = patient if isinstance(patient, PatientCheck) else check_patient(patient)
    if not checked.ok:
        raise PatientError(checked.errors)
    frame = checked.frame()
    probability = float(positive_probability(pipeline, frame)[0])
    interval = mc_dropout_interval(pipeline, frame, n_passes=n_passes, level=level)
    return RiskResult(probability, band_for(probability), interval, checked.imputed,
                      tuple(checked.warnings.values()))


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


def what_if(pipeline, values: Mapping[str, object], feature_name: str, new_value) -> WhatIf:
    """Change one feature of a patient and score both versions (one call, two rows)."""
    old = check_patient(values)
    changed = dict(old.values)
    changed[feature_name] = new_value
    new = check_patient(changed)
    if not old.ok:
        raise PatientError(old.errors)
    if not new.ok:
        raise PatientError({feature_name: new.errors.get(feature_name, "; ".join(new.errors.values()))})
    both = pd.concat([old.frame(), new.frame()], ignore_index=True)
    old_p, new_p = positive_probability(pipeline, both)
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


# ---- batch scoring --------------------------------------------------------------------


class BatchError(ValueError):
    """The file as a whole cannot be scored (e.g. a required column is missing)."""


@dataclass
class BatchResult:
    scored: pd.DataFrame    # row, the 13 inputs (+ target if given), risk_percent, risk_band, imputed
    invalid: pd.DataFrame   # row, reasons

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


def score_batch(pipeline, frame: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> BatchResult:
    """Score every valid row; list every other row with its reasons.

    `frame` is what ``read_batch_csv`` returns (the importer's good rows, indexed by data
    row number, the set-aside ones in ``frame.attrs["set_aside"]``) or a frame built in a
    notebook, which is checked here the same way (``csv_import.set_aside_bad_rows``).
    Rows are numbered from 1 (the first patient below the header), as in the import
    report. A missing value (empty or "?") is imputed by the pipeline and named in the
    `imputed` column; a row with fewer than MIN_KNOWN_FEATURES known features, a value
    that is not a number or an impossible value (``Feature.check``) makes the row invalid.
    """
    from .csv_import import ROW, set_aside_bad_rows

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
    probability = positive_probability(pipeline, inputs[valid]) if valid.any() else np.empty(0)
    scored["risk_percent"] = np.round(100.0 * probability, 1)
    scored["risk_band"] = band_names(probability)
    labels = [feature(name).label for name in FEATURE_NAMES]
    scored["imputed"] = [", ".join(label for label, gap in zip(labels, gaps) if gap)
                         for gaps in missing[valid].to_numpy()]
    invalid = pd.DataFrame({"row": pd.Series(sorted(reasons), dtype="int64"),
                            "reasons": ["; ".join(reasons[row]) for row in sorted(reasons)]})
    return BatchResult(scored, invalid)


def read_batch_csv(source, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_UPLOAD_BYTES):
    """(frame or None, import report) for a CSV of patients to score.

    The importer (model/csv_import.py) reads, recognises the coding (UCI, Kaggle,
    TensorFlow tutorial) and converts; in its "set_aside" mode a row with an impossible
    or non-numeric cell leaves the frame and is listed with its reasons, and only a
    file-level problem (missing columns, not a CSV, too large) refuses the file. The
    frame is what ``score_batch`` takes.
    """
    from .csv_import import read_user_csv

    data = source if isinstance(source, (bytes, bytearray)) else source.getvalue() if hasattr(
        source, "getvalue") else source.read()
    imported = read_user_csv(bytes(data), max_rows=max_rows, max_bytes=max_bytes, bad_rows="set_aside")
    return imported.frame, imported.report
