"""A model card (Mitchell et al., 2019) for the model in use, from its pipeline and metadata.

Says which model it is, what it was trained on, how it was validated, how well it
discriminates (ROC AUC) and how well its probabilities are calibrated, and where it
must not be trusted. Everything shown comes from the bundle's metadata or the fitted
pipeline; what the metadata does not say is reported as "not recorded", never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from model.clinic.probabilities import as_pipeline

DISCLAIMER = (
    "For research and education only. This is not a medical device: it has not been clinically validated or "
    "approved, and its output must not be used to diagnose, treat or make any decision about a patient."
)
INTENDED_USE = (
    "Teaching and research on how neural networks estimate the probability of angiographic coronary disease "
    "from 13 routine clinical features. Not for clinical care."
)
NOT_RECORDED = "not recorded"

# Metric keys of model/evaluation/cross_validation.py, in the order a clinician reads them
# (calibration has its own section).
CARD_METRICS = {
    "roc_auc": "ROC AUC (discrimination)",
    "accuracy": "Accuracy at 50 %",
    "sensitivity": "Sensitivity at 50 %",
    "specificity": "Specificity at 50 %",
}

GENERAL_LIMITS = (
    "The outcome is angiographic disease (> 50 % narrowing of a major coronary vessel) in patients referred "
    "for angiography, not the risk of a future heart attack.",
    "Patients referred for angiography have far more disease than the general population: in other settings "
    "the probabilities will be too high.",
    "Values outside the range seen in training (flagged on the form) are extrapolations.",
    "Unknown values are not replaced by a typical value: the risk is averaged over the values the most similar "
    "training patients had, and the page shows the range of risks over those plausible values.",
    "Patients unlike the training patients are flagged (distance to the nearest training patients, calibrated so "
    "about 1.5 % of the training patients are flagged); the uncertainty interval alone does not widen for them.",
    "The model has not been validated prospectively or on the population where it would be used.",
)


@dataclass(frozen=True)
class ModelCard:
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

    def sections(self) -> list[tuple[str, str | list]]:
        """(title, text or list of (label, value) / list of strings) in reading order."""
        return [
            ("Model", self.model),
            ("Trained on", self.trained_on),
            ("Validated how", self.validation),
            ("Performance", self.metrics or [("Metrics", NOT_RECORDED)]),
            ("Calibration", self.calibration),
            ("Intended use", self.intended_use),
            ("Limits", self.limits),
        ]

    def as_markdown(self) -> str:
        lines = [f"**{self.name}**", ""]
        for title, body in self.sections():
            lines.append(f"**{title}.** " if isinstance(body, str) else f"**{title}**")
            if isinstance(body, str):
                lines[-1] += body
            elif body and isinstance(body[0], tuple):
                lines += ["", "| Measure | Cross-validated value |", "|---|---|"] + [
                    f"| {label} | {value} |" for label, value in body
                ]
            else:
                lines += [""] + [f"- {item}" for item in body]
            lines.append("")
        lines.append(f"*{self.disclaimer}*")
        return "\n".join(lines)


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
    return ModelCard(
        name=name,
        model=describe_pipeline(pipeline),
        trained_on=_training_text(metadata),
        validation=_validation_text(metadata),
        metrics=rows,
        calibration=_calibration_text(metrics),
        limits=limits,
    )
