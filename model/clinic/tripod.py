"""The TRIPOD+AI checklist for the model in use, filled from what the app knows about it.

TRIPOD+AI (Collins GS, Moons KGM, Dhiman P, et al. BMJ 2024;385:e078378) lists what a report of a clinical
prediction model should say, in 27 items (52 with their parts). `tripod_checklist(card, metadata, pipeline)` answers
each item from the same sources the model card uses: the card's own fields (built by
model.clinic.model_card.build_model_card from the bundle's metadata and the fitted pipeline), the feature schema,
the risk bands and the card's texts on limits and missing values. Nothing is written twice: an item the app has no
record for says "not known", one that does not apply to a model card says "not applicable", each with why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.clinic.model_card import (
    ATYPICAL_PATIENTS,
    CARD_METRICS,
    EXTRAPOLATION_LIMIT,
    NOT_RECORDED,
    NOT_VALIDATED_LIMIT,
    OUTCOME_LIMIT,
    REFERRAL_LIMIT,
    SUBGROUPS_TITLE,
    TRAIN_WITH_CV,
    TRAINING_MISSING_VALUES,
    UNKNOWN_VALUES,
    ModelCard,
    percent,
)
from model.clinic.probabilities import as_pipeline
from model.clinic.risk_bands import BAND_RATIONALE, RISK_BANDS
from model.data.schema import FEATURE_NAMES, TARGET, feature

KNOWN, NOT_KNOWN, NOT_APPLICABLE = "known", "not known", "not applicable"
SITE_GROUPING = "Site"  # model.evaluation.subgroups.site_groups names the site grouping so
# The items of TRIPOD+AI in its order (number, short topic).
TRIPOD_ITEMS: tuple[tuple[str, str], ...] = (
    ("1", "Title"),
    ("2", "Abstract"),
    ("3a", "Background: healthcare context"),
    ("3b", "Background: target population and intended use"),
    ("3c", "Background: health inequalities"),
    ("4", "Objectives"),
    ("5a", "Data: sources"),
    ("5b", "Data: dates"),
    ("6a", "Participants: setting and centres"),
    ("6b", "Participants: eligibility"),
    ("6c", "Participants: treatments"),
    ("7", "Data preparation"),
    ("8a", "Outcome: definition"),
    ("8b", "Outcome: assessors"),
    ("8c", "Outcome: blinding"),
    ("9a", "Predictors: choice"),
    ("9b", "Predictors: definitions"),
    ("9c", "Predictors: assessors"),
    ("10", "Sample size"),
    ("11", "Missing data"),
    ("12a", "Analysis: use of the data"),
    ("12b", "Analysis: handling of predictors"),
    ("12c", "Analysis: model type, building and internal validation"),
    ("12d", "Analysis: heterogeneity across clusters"),
    ("12e", "Analysis: performance measures"),
    ("12f", "Analysis: model updating"),
    ("12g", "Analysis: how predictions are calculated"),
    ("13", "Class imbalance"),
    ("14", "Fairness"),
    ("15", "Model output"),
    ("16", "Training versus evaluation"),
    ("17", "Ethical approval"),
    ("18a", "Open science: funding"),
    ("18b", "Open science: conflicts of interest"),
    ("18c", "Open science: protocol"),
    ("18d", "Open science: registration"),
    ("18e", "Open science: data sharing"),
    ("18f", "Open science: code sharing"),
    ("19", "Patient and public involvement"),
    ("20a", "Participants: flow and outcome events"),
    ("20b", "Participants: characteristics"),
    ("20c", "Participants: development versus evaluation data"),
    ("21", "Model development: numbers in each analysis"),
    ("22", "Model specification"),
    ("23a", "Model performance, with intervals and subgroups"),
    ("23b", "Model performance: heterogeneity across clusters"),
    ("24", "Model updating: results"),
    ("25", "Interpretation"),
    ("26", "Limitations"),
    ("27a", "Usability: poor or missing input data"),
    ("27b", "Usability: users and expertise"),
    ("27c", "Usability: next steps"),
)
PREDICTOR_HANDLING = (
    "Measurements are standardised (mean 0, standard deviation 1), each category feature becomes one 0/1 column per "
    "category, yes/no features stay 0/1; all learned from the training rows only. No other transformation: a "
    "network learns non-linear effects itself."
)
NOT_RECORDED_HERE = "the model's metadata does not record it"


@dataclass(frozen=True)
class TripodItem:
    """One item: its number and topic, KNOWN / NOT_KNOWN / NOT_APPLICABLE, and what the app knows (or why not)."""

    item: str
    topic: str
    status: str
    text: str

    def answer(self) -> str:
        """The text as the card shows it: what is known, or "Not known: why." / "Not applicable: why."."""
        if self.status == KNOWN:
            return self.text
        return f"{self.status[:1].upper()}{self.status[1:]}: {self.text}"


# ------------------------------------------------------------------ facts from the metadata
def _mapping(metadata: Mapping, key: str) -> Mapping:
    value = metadata.get(key)
    return value if isinstance(value, Mapping) else {}


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _share(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1 else None


@dataclass(frozen=True)
class _Facts:
    n_patients: int | None
    n_events: int | None
    n_splits: int | None
    data_name: str | None
    sites: list[str]


def _facts(card: ModelCard, metadata: Mapping) -> _Facts:
    summary = card.validation_summary
    data, cv = _mapping(metadata, "data"), _mapping(metadata, "cv")
    name = data.get("name")
    n: int | None
    events: int | None
    if summary is not None:
        n, events = summary.n_patients, summary.n_events
    else:
        n = _whole(data.get("n_rows")) or _whole(metadata.get("n_training_rows")) or None
        prevalence = _share(data.get("prevalence"))
        events = round(prevalence * n) if n is not None and prevalence is not None else None
    splits = summary.n_splits if summary is not None else _whole(cv.get("n_splits"))
    sites = [row.subgroup for row in summary.subgroups if row.grouping == SITE_GROUPING] if summary else []
    return _Facts(n, events, splits or None, name.strip() if isinstance(name, str) and name.strip() else None, sites)


def _patients(facts: _Facts) -> str | None:
    if facts.n_patients is None:
        return None
    events = f" ({facts.n_events:,} with disease)" if facts.n_events is not None else ""
    return f"{facts.n_patients:,} patients{events}"


def _definition(name: str) -> str:
    """ "Serum cholesterol: Serum total cholesterol, in mg/dL" from the schema."""
    spec = feature(name)
    return f"{spec.label}: {spec.description}" + (f", in {spec.unit}" if spec.unit else "")


def _class_weight(pipeline) -> str | None:
    """The final estimator's class weighting in words (scikit-learn's get_params), None when it has none."""
    if pipeline is None:
        return None
    steps = as_pipeline(pipeline)
    final = steps[-1] if steps is not None else pipeline
    get_params = getattr(final, "get_params", None)
    if not callable(get_params):
        return None
    params = get_params(deep=False)
    if "class_weight" not in params:
        return None
    weight = params["class_weight"]
    if weight is None:
        return (
            "None: no class weighting or resampling; the model is fitted on the data as they are, so its "
            "probabilities keep the data's share of disease."
        )
    return f"class_weight = {weight!r} in the final estimator: the probabilities may need recalibration."


# ------------------------------------------------------------------ the checklist
def _known(text: str | None, otherwise: str = NOT_RECORDED_HERE) -> tuple[str, str]:
    return (KNOWN, text) if text else (NOT_KNOWN, otherwise)


def _answers(card: ModelCard, metadata: Mapping, pipeline) -> dict[str, tuple[str, str]]:
    facts = _facts(card, metadata)
    summary = card.validation_summary
    patients = _patients(facts)
    validated = card.validation != NOT_RECORDED
    trained = card.trained_on if card.trained_on != NOT_RECORDED else None
    recalibration = _mapping(metadata, "recalibration")
    training = _mapping(metadata, "training")
    kind = card.model.split(":")[0]
    used = [name for name in FEATURE_NAMES if name in card.predictors]
    no_summary = f"not recorded with this model (`{TRAIN_WITH_CV}` records it)"

    building = [card.model]
    if _whole(training.get("epochs_run")):
        building.append(
            f"Trained for {training['epochs_run']} epochs"
            + (f" (best epoch {training['best_epoch']})" if _whole(training.get("best_epoch")) else "")
            + (", stopped early." if training.get("stopped_early") is True else ".")
        )
    building.append("Hyperparameter tuning: not recorded.")
    if validated:
        building.append(f"Internal validation: {card.validation}.")

    measures = [label for label, _ in card.metrics]
    if card.calibration != NOT_RECORDED:
        measures.append("calibration slope and intercept, Brier score")
    if summary is not None:
        measures += [
            "decision curve (net benefit against testing everyone or no one)",
            "ROC AUC and observed / expected events by subgroup",
        ]

    performance = [f"{label} {value}" for label, value in card.metrics if label in CARD_METRICS.values()]
    if card.calibration != NOT_RECORDED:
        performance.append(f"calibration: {card.calibration.rstrip('.')}")
    if summary is not None:
        small = sum(row.too_small for row in summary.subgroups)
        performance.append(f"{len(summary.subgroups)} subgroups under {SUBGROUPS_TITLE} ({small} too small to say)")

    site_rows = [row for row in summary.subgroups if row.grouping == SITE_GROUPING] if summary else []
    site_results = "; ".join(
        f"{row.subgroup}: "
        + ("too small to say" if row.too_small or row.roc_auc is None else f"ROC AUC {row.roc_auc:.2f}")
        for row in site_rows
    )

    created = metadata.get("created")
    built_in = facts.data_name is not None and facts.data_name.startswith("built-in")
    fingerprint = metadata.get("data_fingerprint")
    bands = "; ".join(f"{band.name} ({band.range_text})" for band in RISK_BANDS)
    cv_method = _mapping(metadata, "cv").get("method")
    rec_site = recalibration.get("site") if isinstance(recalibration.get("site"), str) else "a local site"
    rec_cv = _mapping(recalibration, "cross_validated")
    brier = (rec_cv.get("brier_before"), rec_cv.get("brier_after"))
    fold_sizes = None
    if facts.n_patients and facts.n_splits:
        tested = facts.n_patients / facts.n_splits
        fold_sizes = (
            f"Development: {patients}, all used to fit the model. Each of the {facts.n_splits} cross-validation folds "
            f"trains on about {facts.n_patients - tested:,.0f} and tests on about {tested:,.0f}."
        )

    groupings = "sex, age band and site" if site_rows else "sex and age band"
    sample_size = flow = None
    if patients is not None:
        inputs = _whole(metadata.get("n_inputs"))
        sample_size = (
            patients
            + (f" for {inputs} network inputs" if inputs else "")
            + ". No sample-size calculation is recorded: the size is that of the data available."
        )
        flow = f"{patients} in the development data."
        if isinstance(cv_method, str) and "repeated rows" in cv_method:
            flow += f" {cv_method[:1].upper()}{cv_method[1:]}."

    return {
        "1": (
            KNOWN,
            f"{card.name}: {kind[:1].lower()}{kind[1:]} estimating the probability of {TARGET.label.lower()} "
            f"({TARGET.description}), a diagnosis, in patients referred for coronary angiography.",
        ),
        "2": (NOT_APPLICABLE, "a model card, not an article; the card is its own summary."),
        "3a": (KNOWN, f"Diagnostic model. {OUTCOME_LIMIT} Comparison with existing clinical scores: not recorded."),
        "3b": (
            KNOWN,
            f"{card.intended_use} {REFERRAL_LIMIT}" + (f" Moment of care: {card.moment}" if card.moment else ""),
        ),
        "3c": (NOT_KNOWN, f"{NOT_RECORDED_HERE}; performance by sex and age band is under {SUBGROUPS_TITLE}."),
        "4": (
            KNOWN,
            "Development of a prediction model"
            + (" with internal validation (cross-validation)." if validated else "; its validation is not recorded."),
        ),
        "5a": _known(
            trained and f"{trained}." + (" Evaluated on the same data, cross-validated." if validated else "")
        ),
        "5b": (
            NOT_KNOWN,
            "the dates of data collection are not recorded"
            + (f" (the model was saved on {created[:10]})." if isinstance(created, str) and created[:10] else "."),
        ),
        "6a": (
            KNOWN,
            "Patients referred for coronary angiography (the setting the app's outcome assumes). Centres: "
            + (", ".join(facts.sites) if facts.sites else "not recorded")
            + ".",
        ),
        "6b": (NOT_KNOWN, "no inclusion or exclusion criteria are recorded."),
        "6c": (NOT_KNOWN, "the data record no treatments."),
        "7": (
            KNOWN,
            f"{TRAINING_MISSING_VALUES} {PREDICTOR_HANDLING} The same for every patient and subgroup."
            + (f" Folds: {cv_method}." if isinstance(cv_method, str) and cv_method else ""),
        ),
        "8a": (
            KNOWN,
            f"{TARGET.label}: {TARGET.description}. Present or absent at the angiography (diagnosis), so no time "
            "horizon.",
        ),
        "8b": (NOT_KNOWN, "who read the angiograms is not recorded."),
        "8c": (NOT_KNOWN, "whether the angiograms were read blind to the predictors is not recorded."),
        "9a": (
            (KNOWN, card.moment)
            if card.moment
            else (NOT_KNOWN, card.predictors_note)
            if card.predictors_note
            else (KNOWN, f"All {len(FEATURE_NAMES)} features of the UCI Heart Disease data; none selected out.")
        ),
        "9b": (
            (KNOWN, "; ".join(_definition(name) for name in used) + ".")
            if used
            else (NOT_KNOWN, card.predictors_note or NOT_RECORDED_HERE)
        ),
        "9c": (NOT_KNOWN, "who measured the predictors is not recorded."),
        "10": _known(sample_size),
        "11": (KNOWN, f"{TRAINING_MISSING_VALUES} At prediction: {UNKNOWN_VALUES}"),
        "12a": _known(f"{card.validation}." if validated else None),
        "12b": (KNOWN, PREDICTOR_HANDLING),
        "12c": (KNOWN, " ".join(building)),
        "12d": (
            (KNOWN, f"Performance by site is reported under {SUBGROUPS_TITLE}; site is not a predictor.")
            if site_rows
            else (NOT_KNOWN, "no sites are recorded with the cross-validated summary.")
        ),
        "12e": _known("; ".join(measures) + "." if measures else None),
        "12f": (
            (KNOWN, f"Logistic recalibration (intercept and slope) to {rec_site} on local patients.")
            if recalibration
            else (NOT_APPLICABLE, "the model has not been updated.")
        ),
        "12g": (
            KNOWN,
            "By the fitted pipeline (preprocessing and model) in this app or in Python (`predict_proba`); networks are "
            "saved and loaded as bundles (model.save_bundle, model.load_bundle).",
        ),
        "13": _known(_class_weight(pipeline)),
        "14": (
            KNOWN,
            "No fairness method is applied; "
            + (
                f"discrimination and calibration by {groupings} are under {SUBGROUPS_TITLE}."
                if summary is not None
                else f"performance by subgroup is {no_summary}."
            ),
        ),
        "15": (
            KNOWN,
            f"A probability of disease with an uncertainty interval, and a risk band: {bands}. {BAND_RATIONALE}"
            " Accuracy, sensitivity and specificity are at 50 %.",
        ),
        "16": (
            (
                KNOWN,
                "Internal validation only, on the same data: no differences in setting, eligibility, outcome or "
                "predictors. No external evaluation is recorded.",
            )
            if validated
            else (NOT_KNOWN, "no evaluation is recorded.")
        ),
        "17": (NOT_KNOWN, f"{NOT_RECORDED_HERE}."),
        "18a": (NOT_KNOWN, f"{NOT_RECORDED_HERE}."),
        "18b": (NOT_KNOWN, f"{NOT_RECORDED_HERE}."),
        "18c": (NOT_KNOWN, f"{NOT_RECORDED_HERE}."),
        "18d": (NOT_KNOWN, f"{NOT_RECORDED_HERE}."),
        "18e": (
            (
                KNOWN,
                "The built-in data ship with the app (model/resources/heart_cleveland.csv; origin and codebook "
                "in data/README.md).",
            )
            if built_in
            else (
                NOT_KNOWN,
                "the training data are not part of the model"
                + (
                    f"; their SHA-256 fingerprint {fingerprint[:12]}… identifies them."
                    if isinstance(fingerprint, str)
                    else "."
                ),
            )
        ),
        "18f": (
            KNOWN,
            f"The app's own code (the model package) trains, validates and serves the model; `{TRAIN_WITH_CV}` "
            "trains one with its cross-validated figures.",
        ),
        "19": (NOT_KNOWN, f"{NOT_RECORDED_HERE}."),
        "20a": _known(flow),
        "20b": (
            NOT_KNOWN,
            "only the number of patients and the share with disease are recorded; the Data exploration page "
            "describes the data loaded now.",
        ),
        "20c": (NOT_APPLICABLE, "no separate evaluation data: the validation is internal."),
        "21": _known(fold_sizes),
        "22": (
            KNOWN,
            f"{card.model} The full model (configuration, weights, preprocessing) is its bundle, readable with "
            "model.load_bundle.",
        ),
        "23a": _known("; ".join(performance) + "." if performance else None),
        "23b": (
            (KNOWN, f"{site_results}.")
            if site_rows
            else (NOT_KNOWN, "no sites are recorded with the cross-validated summary.")
        ),
        "24": (
            (
                KNOWN,
                f"Recalibrated to {rec_site}"
                + (
                    f": Brier score {brier[0]:.3f} before, {brier[1]:.3f} after (cross-validated on local patients)."
                    if all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in brier)
                    else "; its cross-validated effect is not recorded."
                ),
            )
            if recalibration
            else (NOT_APPLICABLE, "the model has not been updated.")
        ),
        "25": (NOT_APPLICABLE, "a model card reports the model; interpreting it belongs to a study."),
        "26": (KNOWN, " ".join(card.limits)),
        "27a": (KNOWN, f"{EXTRAPOLATION_LIMIT} {UNKNOWN_VALUES} {ATYPICAL_PATIENTS}"),
        "27b": (
            KNOWN,
            f"The user enters the patient's {len(used) or 'clinical'} features on the Patient risk form (or a CSV "
            "for a batch) and reads a probability with its interval and explanation. " + card.intended_use,
        ),
        "27c": (KNOWN, f"{NOT_VALIDATED_LIMIT} External and prospective validation come next."),
    }


def tripod_checklist(card: ModelCard, metadata: Mapping | None, pipeline=None) -> tuple[TripodItem, ...]:
    """Every TRIPOD+AI item, in order, answered from the card, its metadata and the fitted pipeline."""
    answers = _answers(card, dict(metadata or {}), pipeline)
    return tuple(TripodItem(item, topic, *answers[item]) for item, topic in TRIPOD_ITEMS)


def checklist_summary(items) -> str:
    """ "23 of 52 items answered from the app's records (44 %)": a heading for the checklist."""
    if not items:
        return "no items"
    known = sum(item.status == KNOWN for item in items)
    return f"{known} of {len(items)} items answered from the app's records ({percent(known / len(items))})"
