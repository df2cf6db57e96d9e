"""A model card (Mitchell et al., 2019) for the model in use, from its pipeline and metadata.

Says which model it is, what it was trained on and with which predictors, how it was validated, how well it
discriminates (ROC AUC) and how well its probabilities are calibrated, whether acting on it beats testing everyone
or no one (decision curve), how it does by sex, age band and site (subgroups), where it must not be trusted, and
the TRIPOD+AI items (model.clinic.tripod). Everything shown comes from the bundle's metadata or the fitted
pipeline; what the metadata does not say is reported as "not recorded", never guessed.

Metadata read besides the descriptive keys: "validation_summary" (the cross-validated decision curve and subgroups,
model.evaluation.validation_summary, written by `python -m model train --cv`) and "moment_of_care"
({"name": "before-imaging" | "with-imaging", "features": [the feature names the model uses]}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from model.clinic.probabilities import as_pipeline
from model.data.schema import FEATURE_NAMES, MomentOfCare, feature, moment_of_care, short_repr
from model.evaluation.subgroups import TOO_SMALL
from model.evaluation.validation_summary import SUMMARY_KEY, ValidationSummary, read_validation_summary

if TYPE_CHECKING:
    from model.clinic.tripod import TripodItem

DISCLAIMER = (
    "For research and education only. This is not a medical device: it has not been clinically validated or "
    "approved, and its output must not be used to diagnose, treat or make any decision about a patient."
)
NOT_RECORDED = "not recorded"
MOMENT_KEY = "moment_of_care"
TRAIN_WITH_CV = "python -m model train --cv"
SUMMARY_NOT_RECORDED = (
    f"Not recorded for this model. The cross-validated decision curve and subgroup performance are stored with a "
    f"model trained by `{TRAIN_WITH_CV}`; the Compare page's Decision curves and Subgroups tabs show them for the "
    "models of a comparison."
)
# Thresholds the card reads the decision curve at: the range where testing decisions about angiography are made.
CARD_THRESHOLDS = (0.05, 0.10, 0.20, 0.30, 0.50)

# Section titles (the dashboard and the report may draw these sections specially; sections() keeps their order).
DECISION_TITLE = "Decision analysis"
SUBGROUPS_TITLE = "Subgroups"
TRIPOD_TITLE = "TRIPOD+AI checklist"
# Column headers of the sections whose body is a list of (label, value) pairs.
TABLE_HEADERS = {
    "Performance": ("Measure", "Cross-validated value"),
    DECISION_TITLE: ("Threshold probability", "Net benefit (cross-validated)"),
    SUBGROUPS_TITLE: ("Subgroup", "Patients, ROC AUC and observed / expected [95 % interval]"),
    TRIPOD_TITLE: ("Item", "What this app knows"),
}


def intended_use_text(n_features: int | None, moment: str | None = None) -> str:
    """The intended use, naming how many features the model reads (None: not known) and the moment of care."""
    count = f"{n_features} " if n_features else ""
    when = f", {moment}" if moment else ""
    return (
        "Teaching and research on how neural networks estimate the probability of angiographic coronary disease "
        f"from {count}routine clinical features{when}. Not for clinical care."
    )


INTENDED_USE = intended_use_text(len(FEATURE_NAMES))

# Metric keys of model/evaluation/cross_validation.py, in the order a clinician reads them
# (calibration has its own section).
CARD_METRICS = {
    "roc_auc": "ROC AUC (discrimination)",
    "accuracy": "Accuracy at 50 %",
    "sensitivity": "Sensitivity at 50 %",
    "specificity": "Specificity at 50 %",
}

OUTCOME_LIMIT = (
    "The outcome is angiographic disease (> 50 % narrowing of a major coronary vessel) in patients referred "
    "for angiography, not the risk of a future heart attack."
)
REFERRAL_LIMIT = (
    "Patients referred for angiography have far more disease than the general population: in other settings "
    "the probabilities will be too high."
)
EXTRAPOLATION_LIMIT = "Values outside the range seen in training (flagged on the form) are extrapolations."
UNKNOWN_VALUES = (
    "Unknown values are not replaced by a typical value: the risk is averaged over the values the most similar "
    "training patients had, and the page shows the range of risks over those plausible values."
)
ATYPICAL_PATIENTS = (
    "Patients unlike the training patients are flagged (distance to the nearest training patients, calibrated so "
    "about 1.5 % of the training patients are flagged); the uncertainty interval alone does not widen for them."
)
NOT_VALIDATED_LIMIT = "The model has not been validated prospectively or on the population where it would be used."
GENERAL_LIMITS = (
    OUTCOME_LIMIT,
    REFERRAL_LIMIT,
    EXTRAPOLATION_LIMIT,
    UNKNOWN_VALUES,
    ATYPICAL_PATIENTS,
    NOT_VALIDATED_LIMIT,
)
# How the training data's missing values were filled (model.data.preprocessing), fitted inside each training fold.
TRAINING_MISSING_VALUES = (
    "Missing values in the training data are filled by the model's preprocessing, learned from the training rows "
    "only (inside each cross-validation fold): the median for measurements, the most frequent value for yes/no and "
    "category features."
)


def _cell(text: Any) -> str:
    """Text safe inside one markdown table cell: no pipe ends the cell, no line break ends the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def section_markdown(title: str, body: str | Sequence) -> list[str]:
    """One section of the card as markdown lines: a paragraph, a two-column table, or a bulleted list."""
    if isinstance(body, str):
        return [f"**{title}.** {body}", ""]
    lines = [f"**{title}**", ""]
    if body and isinstance(body[0], tuple):
        left, right = TABLE_HEADERS.get(title, ("", ""))
        lines += [f"| {left} | {right} |", "|---|---|"] + [f"| {_cell(row[0])} | {_cell(row[1])} |" for row in body]
    else:
        lines += [f"- {item}" for item in body]
    return lines + [""]


@dataclass(frozen=True)
class ModelCard:
    """What the card says. `validation_summary` is the checked cross-validated decision curve and subgroup table
    (None when not recorded or unreadable: `summary_note` says which); `summary_caveat` warns when that summary
    may not describe this exact model (recalibrated since, or other data)."""

    name: str
    model: str
    trained_on: str
    validation: str
    metrics: list[tuple[str, str]]
    calibration: str
    limits: list[str]
    intended_use: str = INTENDED_USE
    disclaimer: str = DISCLAIMER
    extra: dict = field(default_factory=dict)
    predictors: tuple[str, ...] = FEATURE_NAMES
    moment: str | None = None
    predictors_note: str = ""
    validation_summary: ValidationSummary | None = None
    summary_note: str = SUMMARY_NOT_RECORDED
    summary_caveat: str = ""
    tripod: tuple[TripodItem, ...] = ()

    def predictor_labels(self) -> list[str]:
        """The predictors' clinical labels, in the schema's order."""
        return [feature(name).label for name in FEATURE_NAMES if name in self.predictors]

    def predictors_section(self) -> str | list[str]:
        if self.predictors_note and not self.predictors:
            return self.predictors_note
        return ([self.predictors_note] if self.predictors_note else []) + self.predictor_labels()

    def decision_section(self) -> str | list[tuple[str, str]]:
        summary = self.validation_summary
        if summary is None:
            return self.summary_note
        return decision_rows(summary, self.summary_caveat)

    def subgroups_section(self) -> str | list[tuple[str, str]]:
        summary = self.validation_summary
        if summary is None:
            return self.summary_note
        rows = [(subgroup_label(row), subgroup_text(row)) for row in summary.subgroups]
        if not rows:
            return "No subgroups were recorded."
        how = (
            f"Each patient's out-of-fold risk averaged over {summary.n_repeats} repeats. ROC AUC with a percentile "
            f"bootstrap interval ({summary.n_bootstrap:,} resamples); observed / expected events with an exact Poisson "
            "interval (above 1: the model underestimates the subgroup's risk, below 1: it overestimates it). Below "
            f"{summary.min_size} patients, or fewer than {summary.min_events} with or without disease, a subgroup is "
            f"{TOO_SMALL}."
        )
        return rows + [("How computed", how)] + ([("Caution", self.summary_caveat)] if self.summary_caveat else [])

    def tripod_section(self) -> list[tuple[str, str]]:
        return [(f"{item.item} {item.topic}", item.answer()) for item in self.tripod]

    def sections(self) -> list[tuple[str, str | list]]:
        """(title, text or list of (label, value) / list of strings) in reading order."""
        parts: list[tuple[str, str | list]] = [
            ("Model", self.model),
            ("Trained on", self.trained_on),
            ("Validated how", self.validation),
            ("Performance", self.metrics or [("Metrics", NOT_RECORDED)]),
            ("Calibration", self.calibration),
        ]
        if self.moment:
            parts.append(("Moment of care", self.moment))
        parts += [
            ("Predictors", self.predictors_section()),
            (DECISION_TITLE, self.decision_section()),
            (SUBGROUPS_TITLE, self.subgroups_section()),
            ("Intended use", self.intended_use),
            ("Limits", self.limits),
        ]
        if self.tripod:
            parts.append((TRIPOD_TITLE, self.tripod_section()))
        return parts

    def as_markdown(self) -> str:
        lines = [f"**{self.name}**", ""]
        for title, body in self.sections():
            lines += section_markdown(title, body)
        lines.append(f"*{self.disclaimer}*")
        return "\n".join(lines)


# ------------------------------------------------------------------ decision curve and subgroups in words
def percent(share: float) -> str:
    """0.1 -> "10 %", 0.125 -> "12.5 %": at most one decimal, no trailing ".0"."""
    return f"{share:.1%}".replace(".0%", "%").replace("%", " %")


def useful_range_text(summary: ValidationSummary) -> str:
    ranges = summary.useful_ranges()
    if not ranges:
        return "at no threshold: testing everyone or no one does at least as well everywhere"
    spans = [percent(low) if low == high else f"{percent(low)} – {percent(high)}" for low, high in ranges]
    return "at thresholds " + ", ".join(spans)


def decision_rows(summary: ValidationSummary, caveat: str = "") -> list[tuple[str, str]]:
    """The decision curve in words: where it beats both defaults, its value at CARD_THRESHOLDS, how computed."""
    curve = summary.curve
    rows = [("Better than testing everyone or no one", useful_range_text(summary))]
    for threshold in CARD_THRESHOLDS:
        at = np.flatnonzero(np.isclose(curve.thresholds, threshold))
        if len(at) == 0:
            continue
        model_nb, all_nb = float(curve.net_benefit[summary.model][at[0]]), float(curve.treat_all[at[0]])
        rows.append(
            (
                f"Test from {percent(threshold)} risk",
                f"{model_nb:.3f} (testing everyone {all_nb:.3f}, no one 0): as many cases found as "
                f"{max(model_nb, 0.0) * 100:.1f} per 100 patients with no unneeded test",
            )
        )
    rows.append(
        (
            "How to read it",
            "Net benefit counts the cases found per patient and subtracts the unneeded tests, each weighted by "
            "t / (1 − t) at threshold t (testing from 10 % risk means a missed case is 9 times worse than an "
            "unneeded test). The model helps where its net benefit beats both testing everyone and testing no one.",
        )
    )
    rows.append(
        (
            "How computed",
            f"Out-of-fold predictions of {summary.n_splits}-fold cross-validation repeated {summary.n_repeats} "
            f"times on {summary.n_patients:,} patients ({summary.n_events:,} with disease); the mean over the repeats.",
        )
    )
    if caveat:
        rows.append(("Caution", caveat))
    return rows


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "—"
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}–{high:.2f}]"


def subgroup_label(row) -> str:
    return row.subgroup if row.grouping == row.subgroup else f"{row.grouping}: {row.subgroup}"


def subgroup_text(row) -> str:
    """ "97 patients (25 with disease); ROC AUC 0.91 [0.85–0.96]; observed / expected 0.95 [0.68–1.29]"."""
    auc = (
        f"ROC AUC {TOO_SMALL} ({row.reason})"
        if row.too_small
        else f"ROC AUC {_interval(row.roc_auc, row.auc_low, row.auc_high)}"
    )
    ratio = _interval(row.observed_expected, row.oe_low, row.oe_high)
    return f"{row.n:,} patients ({row.events:,} with disease); {auc}; observed / expected {ratio}"


def describe_pipeline(pipeline) -> str:
    """Like "Neural network: 13 features → 22 inputs → 16 ReLU units (dropout 0.5) → 1 sigmoid output"."""
    steps = as_pipeline(pipeline)
    final = steps[-1] if steps is not None else pipeline
    config = getattr(final, "config", None)
    if callable(config) and hasattr(final, "network_"):
        cfg = config()
        layers = [
            f"{layer.units} {layer.activation} units" + (f" (dropout {layer.dropout:g})" if layer.dropout else "")
            for layer in cfg.hidden_layers
        ]
        inputs = getattr(final, "n_features_in_", "?")
        body = " → ".join([f"{inputs} inputs after preprocessing"] + layers + ["1 sigmoid output"])
        kind = "Neural network (multi-layer perceptron)" if layers else "Single perceptron (no hidden layer)"
        return f"{kind}: {body}; trained with {cfg.optimizer}, weight decay {cfg.weight_decay:g}."
    return f"{type(final).__name__} (scikit-learn) after the shared preprocessing."


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _metric_text(value) -> str | None:
    """0.912, or {"mean": .912, "low": .89, "high": .93} / {"mean":..., "ci": [lo, hi]} -> text."""
    if isinstance(value, (int, float)):
        return _number(float(value))
    if isinstance(value, Mapping):
        mean = value.get("mean", value.get("value"))
        if not isinstance(mean, (int, float)):
            return None
        low, high = value.get("low", value.get("ci_low")), value.get("high", value.get("ci_high"))
        if "ci" in value and isinstance(value["ci"], (list, tuple)) and len(value["ci"]) == 2:
            low, high = value["ci"]
        text = _number(float(mean))
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            text += f" (95 % CI {float(low):.3f} – {float(high):.3f})"
        return text
    return None


def _text(metadata: Mapping, *keys: str) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _training_text(metadata: Mapping) -> str:
    text = _text(metadata, "trained_on", "training_data", "dataset")
    data = metadata.get("data")
    if text is None and isinstance(data, Mapping):
        name = data.get("name") or data.get("dataset")
        parts = [str(name)] if name else []
        if "n_rows" in data:
            parts.append(f"{data['n_rows']} patients")
        if "prevalence" in data and isinstance(data["prevalence"], (int, float)):
            parts.append(f"{data['prevalence']:.0%} with disease")
        text = ", ".join(parts) or None
    rows = metadata.get("n_training_rows")
    if isinstance(rows, int) and (text is None or str(rows) not in text):
        text = f"{text}; {rows} training rows" if text else f"{rows} training rows"
    return text or NOT_RECORDED


def _validation_text(metadata: Mapping) -> str:
    text = _text(metadata, "validation", "validated")
    cv = metadata.get("cv") or metadata.get("cross_validation")
    if text is None and isinstance(cv, Mapping):
        folds, repeats = cv.get("n_splits", cv.get("folds")), cv.get("n_repeats", cv.get("repeats"))
        if folds:
            text = f"{folds}-fold cross-validation" + (f" repeated {repeats} times" if repeats else "")
            text += " (preprocessing refitted inside each training fold)"
            if isinstance(cv.get("interval"), str):
                text += f"; intervals: {cv['interval']}"
    return text or NOT_RECORDED


def _calibration_text(metrics: Mapping) -> str:
    slope, intercept = (
        _metric_text(metrics.get("calibration_slope")),
        _metric_text(metrics.get("calibration_intercept")),
    )
    brier = _metric_text(metrics.get("brier"))
    if slope is None and intercept is None and brier is None:
        return NOT_RECORDED
    parts = []
    if slope is not None:
        parts.append(f"slope {slope} (1 is ideal; below 1 the probabilities are too extreme)")
    if intercept is not None:
        parts.append(f"intercept {intercept} (0 is ideal; above 0 the model underestimates risk)")
    if brier is not None:
        parts.append(f"Brier score {brier}")
    return "; ".join(parts) + "."


def read_moment(metadata: Mapping) -> tuple[MomentOfCare | None, tuple[str, ...], str]:
    """(the moment of care or None, the features the model uses, a note when the record is unusable).

    No record: all 13 features, as every model before the moments of care. An unusable record (a hand-edited
    bundle): no features, and the note says that which ones the model uses is not known.
    """
    if MOMENT_KEY not in metadata:
        return None, FEATURE_NAMES, ""
    raw = metadata[MOMENT_KEY]
    moment, problem = None, ""
    if not isinstance(raw, Mapping):
        problem = "it is not an object"
    else:
        name, features = raw.get("name"), raw.get("features")
        try:
            moment = moment_of_care(name if isinstance(name, str) else short_repr(name))
        except ValueError as error:
            problem = str(error)
        if not problem and (
            not isinstance(features, list)
            or not 1 <= len(features) <= len(FEATURE_NAMES)
            or not all(isinstance(item, str) and item in FEATURE_NAMES for item in features)
            or len(set(features)) != len(features)
        ):
            problem = (
                f"its features must be distinct names among {', '.join(FEATURE_NAMES)}; got {short_repr(features)}"
            )
    if problem or moment is None:
        return (
            None,
            (),
            f"The recorded moment of care could not be read ({problem}): which features the model uses is not known.",
        )
    return moment, tuple(name for name in FEATURE_NAMES if name in raw["features"]), ""


def moment_text(moment: MomentOfCare, used: tuple[str, ...]) -> str:
    """ "Before imaging: <the moment's description> The model uses 11 of the 13 features (not: ...)." """
    left_out = [feature(name).label for name in FEATURE_NAMES if name not in used]
    text = f"{moment.label}: {moment.description} The model uses {len(used)} of the {len(FEATURE_NAMES)} features"
    return text + (f" (not: {', '.join(left_out)})." if left_out else ".")


def _summary_caveat(metadata: Mapping, summary: ValidationSummary) -> str:
    """Why the stored decision curve and subgroups may not describe this exact model; "" when nothing says so."""
    notes = []
    recalibration = metadata.get("recalibration")
    if isinstance(recalibration, Mapping):
        site = recalibration.get("site")
        where = f" to {site}" if isinstance(site, str) and site else ""
        notes.append(
            f"these figures are of the model before its recalibration{where}: recalibration changes its probabilities "
            "(calibration, net benefit), not how a positive-slope recalibration ranks patients (ROC AUC)"
        )
    rows = metadata.get("n_training_rows")
    if isinstance(rows, int) and not isinstance(rows, bool) and rows != summary.n_patients:
        notes.append(f"they were computed on {summary.n_patients:,} patients, and the model was trained on {rows:,}")
    return "; ".join(notes)[:1].upper() + "; ".join(notes)[1:] + ("." if notes else "")


def build_model_card(name: str, pipeline, metadata: Mapping | None) -> ModelCard:
    metadata = dict(metadata or {})
    recorded = metadata.get("metrics")
    metrics: Mapping = recorded if isinstance(recorded, Mapping) else {}
    rows = [
        (label, text) for key, label in CARD_METRICS.items() if (text := _metric_text(metrics.get(key))) is not None
    ]
    limits = list(GENERAL_LIMITS)
    extra_limits = metadata.get("limits")
    if isinstance(extra_limits, (list, tuple)):
        limits = [str(item) for item in extra_limits] + limits
    own_name = metadata.get("name")
    if isinstance(own_name, str) and own_name and own_name != name:
        name = f"{name}: {own_name}"
    moment, used, predictors_note = read_moment(metadata)
    summary, summary_note, caveat = None, SUMMARY_NOT_RECORDED, ""
    if SUMMARY_KEY in metadata:
        summary, problem = read_validation_summary(metadata[SUMMARY_KEY])
        if summary is None:
            summary_note = f"The recorded cross-validated summary could not be read ({problem}), so it is not shown."
        else:
            summary_note, caveat = "", _summary_caveat(metadata, summary)
    card = ModelCard(
        name=name,
        model=describe_pipeline(pipeline),
        trained_on=_training_text(metadata),
        validation=_validation_text(metadata),
        metrics=rows,
        calibration=_calibration_text(metrics),
        limits=limits,
        intended_use=intended_use_text(len(used) or None, moment.label.lower() if moment else None),
        predictors=used,
        moment=moment_text(moment, used) if moment else None,
        predictors_note=predictors_note,
        validation_summary=summary,
        summary_note=summary_note,
        summary_caveat=caveat,
    )
    from model.clinic.tripod import tripod_checklist  # here: the checklist reads this module's texts and cards

    return replace(card, tripod=tripod_checklist(card, metadata, pipeline))
