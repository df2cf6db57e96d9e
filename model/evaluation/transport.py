"""Honest transport of a model to another hospital: reduced models and local recalibration.

A model trained on Cleveland and tested at another UCI site meets features that are missing for
almost every patient there (vessels coloured 96-99 %, thallium 83-90 % in Hungary and VA,
cholesterol 100 % in Switzerland). Imputing them with Cleveland's typical value pretends every such
patient is a typical Cleveland patient. This module offers the two honest alternatives:

- `evaluate_transport`  for each site, the model as trained ("full") beside the same model trained
  without the features mostly missing at that site ("reduced"). A feature is left out by blanking it
  in the training rows: the shared preprocessing (model.data.preprocessing.EmptyFeatureImputer) then fills
  it with a constant for every patient, in training and prediction alike, so the fitted model cannot
  depend on it. The schema-driven preprocessing and the saved-model format stay unchanged.
- `fit_recalibration` / `cross_validated_recalibration` / `recalibration_sample_size`  logistic
  recalibration to local labelled patients, logit p' = a + b·logit p, measured on patients not
  used to fit a and b (stratified k-fold within the site), and how many local patients it needs.
- `recalibrated_pipeline`  the recalibrated network as a fitted pipeline: a copy of the original
  whose output layer is b·w and a + b·c, so risk, intervals, explanations and bundles work unchanged.

Plain Python (no Streamlit); the "Other hospitals" page only draws what these functions return.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import torch
from sklearn.calibration import calibration_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from model.data.datasets import SITE_LABELS
from model.data.schema import FEATURE_NAMES, TARGET, feature
from model.data.splits import patient_groups, seen_patients
from model.evaluation.cross_validation import (
    calibration_slope_intercept,
    classification_metrics,
    fit_logistic,
    make_splits,
)
from model.runtime.jobs import raise_if_cancelled

logger = logging.getLogger(__name__)

MOSTLY_MISSING = 0.5  # a feature missing for more than this share of a site's patients is left out
FULL, REDUCED = "full", "reduced"
VARIANT_LABELS = {FULL: "As trained (missing values imputed)", REDUCED: "Trained without the mostly-missing features"}
RECALIBRATION_FOLDS = 5
SAMPLE_SIZES = (25, 50, 100, 150, 200, 300, 500, 1000)
MIN_HELD_OUT = 20  # patients kept out of each draw of the sample-size curve, to measure it on
MAX_DRAWS = 200  # draws per sample size a caller may ask for (each is a 2-parameter fit)
CURVE_BINS = 5
_CLIP = 1e-6
_EMPTY_WARNING = "no training value for"  # model.data.preprocessing.EmptyFeatureImputer: expected for a blanked feature

Progress = Callable[[float, str], None]


class RecalibrationError(ValueError):
    """Logistic recalibration has no finite answer (one outcome only, or outcomes perfectly separated)."""


def site_label(site: str) -> str:
    return SITE_LABELS.get(site, site)


def feature_labels(names: Sequence[str]) -> str:
    """ "Major vessels coloured, Thallium stress test" (schema labels), or "none"."""
    return ", ".join(feature(name).label for name in names) or "none"


# ------------------------------------------------------------------------------------ features left out
def missing_fractions(X: pd.DataFrame) -> pd.Series:
    """Share of missing values of each of the 13 features (schema order)."""
    return X[list(FEATURE_NAMES)].isna().mean()


def mostly_missing(X: pd.DataFrame, threshold: float = MOSTLY_MISSING) -> list[str]:
    """The features missing for more than `threshold` of the rows, in schema order."""
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"the missing-share threshold must be from 0 to just below 1; got {threshold!r}")
    fractions = missing_fractions(X)
    return [name for name in FEATURE_NAMES if fractions[name] > threshold]


def blank_features(X: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """A copy of X with the columns `names` set to missing for every row."""
    unknown = [name for name in names if name not in FEATURE_NAMES]
    if unknown:
        raise ValueError(
            f"unknown feature(s) {', '.join(map(str, unknown))}; the features are {', '.join(FEATURE_NAMES)}"
        )
    out = X.copy()
    if len(names):
        out[list(names)] = np.nan
    return out


def fit_without(unfitted: Pipeline, X: pd.DataFrame, y, names: Sequence[str]) -> Pipeline:
    """Fit `unfitted` on X with the features `names` blanked: the fitted pipeline ignores them afterwards
    (its imputer fills them with a constant even where a value is given)."""
    with warnings.catch_warnings():
        # The imputer warns that a feature had no training value: here that is the point, and the page says so.
        warnings.filterwarnings("ignore", message=_EMPTY_WARNING, category=UserWarning)
        return unfitted.fit(blank_features(X, names), y)


def predicted_logits(pipeline, X: pd.DataFrame) -> np.ndarray:
    """The model's logit of P(disease) for each row: its decision function where it has one (the ANN's output
    neuron, logistic regression), else the logit of its probability (clipped away from 0 and 1)."""
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline
    if hasattr(final, "decision_function") and list(getattr(final, "classes_", [0, 1])) == [0, 1]:
        return np.asarray(pipeline.decision_function(X), dtype=float)
    return logit(pipeline.predict_proba(X)[:, 1])


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _CLIP, 1 - _CLIP)
    return np.log(p / (1 - p))


def sigmoid(z) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


# ------------------------------------------------------------------------------------ full vs reduced
@dataclass(frozen=True)
class TransportModel:
    """A model to take to other sites.

    build    makes an unfitted pipeline with the model's settings (for the reduced variants)
    fitted   the model already fitted on its training data (the session's active model), or None: fitted here
    train    its own training rows (13 features + target), or None: evaluate_transport's `train`
    """

    name: str
    build: Callable[[], Pipeline]
    fitted: Pipeline | None = None
    train: pd.DataFrame | None = field(default=None, compare=False, repr=False)


@dataclass
class TransportResult:
    """Each model, full and reduced, at each site."""

    train_name: str  # e.g. "the 303 Cleveland patients (built-in data)"
    metrics: pd.DataFrame  # model, site, variant, left_out, n, prevalence, mean_predicted, metrics...
    left_out: dict[str, list[str]]  # site -> features left out of the reduced model
    missing: pd.DataFrame  # site, feature, missing_fraction
    calibration: pd.DataFrame  # model, site, variant, predicted, observed
    warnings: list[str]
    threshold: float
    pipelines: dict[tuple[str, tuple[str, ...]], Pipeline] = field(default_factory=dict, repr=False)
    site_data: dict[str, tuple[pd.DataFrame, np.ndarray]] = field(default_factory=dict, repr=False)

    def pipeline(self, model: str, site: str, variant: str) -> Pipeline:
        """The fitted pipeline behind one (model, site, variant) row."""
        left_out = tuple(self.left_out[site]) if variant == REDUCED else ()
        return self.pipelines[(model, left_out)]


def _features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    missing = [c for c in (*FEATURE_NAMES, TARGET.name) if c not in frame.columns]
    if missing:
        raise ValueError(f"the data lack the column(s) {', '.join(missing)}")
    X = frame[list(FEATURE_NAMES)].reset_index(drop=True).astype("float64")
    y = frame[TARGET.name].to_numpy()
    if pd.isna(y).any() or not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("the target must be 0 (no disease) or 1 (disease) for every patient")
    return X, y.astype(int)


def _scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    scores = classification_metrics(y, proba)
    return {"n": len(y), "prevalence": float(y.mean()), "mean_predicted": float(proba.mean()), **scores}


def _curve(y: np.ndarray, proba: np.ndarray, n_bins: int = CURVE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(mean predicted, observed) per quantile bin; empty when the site has one outcome only."""
    if len(np.unique(y)) < 2:
        return np.array([]), np.array([])
    observed, predicted = calibration_curve(y, proba, n_bins=n_bins, strategy="quantile")
    return predicted, observed


def evaluate_transport(
    models: Sequence[TransportModel],
    train: pd.DataFrame,
    sites: Mapping[str, pd.DataFrame],
    train_name: str = "the training data",
    threshold: float = MOSTLY_MISSING,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
) -> TransportResult:
    """Every model at every site, as trained and trained without the features mostly missing at that site.

    train  the rows the models are (or were) trained on: 13 features + target (a model's own `train` wins)
    sites  site name -> its patients (13 features + target); rows that repeat a training patient of any
           model exactly are left out of that site's scores (said in `warnings`)
    """
    if not models:
        raise ValueError("choose at least one model")
    if len({model.name for model in models}) != len(models):
        raise ValueError("two models have the same name")
    if not sites:
        raise ValueError("no site to evaluate on")
    trains = {model.name: _features_and_target(model.train if model.train is not None else train) for model in models}
    X_train = pd.concat([X for X, _ in trains.values()], ignore_index=True)
    site_data, left_out, missing_rows, notes = {}, {}, [], []
    for site, frame in sites.items():
        X_site, y_site = _features_and_target(frame)
        seen = seen_patients(X_site, X_train)
        if seen.any():
            notes.append(
                f"{site_label(site)}: {int(seen.sum())} patient(s) are also in the training data; they are "
                "left out of this site's scores, so no patient is scored by a model that saw them."
            )
            logger.info("%s: %d site rows repeat a training patient; left out", site, int(seen.sum()))
            X_site, y_site = X_site[~seen].reset_index(drop=True), y_site[~seen]
        if len(y_site) == 0:
            notes.append(f"{site_label(site)}: no patient left to score.")
            continue
        site_data[site] = (X_site, y_site)
        fractions = missing_fractions(X_site)
        missing_rows += [
            {"site": site, "feature": name, "missing_fraction": float(fractions[name])} for name in FEATURE_NAMES
        ]
        left_out[site] = mostly_missing(X_site, threshold)
        if len(left_out[site]) == len(FEATURE_NAMES):
            raise ValueError(f"every feature is mostly missing at {site_label(site)}: nothing to train on")
    if not site_data:
        raise ValueError("no site has patients to evaluate on")

    variants = sorted({()} | {tuple(names) for names in left_out.values()}, key=len)
    n_fits, done = len(models) * len(variants), 0
    pipelines: dict[tuple[str, tuple[str, ...]], Pipeline] = {}
    for model in models:
        for names in variants:
            raise_if_cancelled(stop_event)
            X_model, y_model = trains[model.name]
            if progress:
                what = "as trained" if not names else f"without {feature_labels(names)}"
                progress(done / n_fits, f"Training {model.name} {what} on {len(y_model)} patients")
            if not names and model.fitted is not None:
                pipelines[(model.name, names)] = model.fitted
            else:
                pipelines[(model.name, names)] = fit_without(model.build(), X_model, y_model, names)
            done += 1

    rows, curves = [], []
    for model in models:
        for site, (X_site, y_site) in site_data.items():
            for variant, names in ((FULL, ()), (REDUCED, tuple(left_out[site]))):
                proba = pipelines[(model.name, names)].predict_proba(X_site)[:, 1]
                rows.append(
                    {
                        "model": model.name,
                        "site": site,
                        "variant": variant,
                        "left_out": list(names),
                        **_scores(y_site, proba),
                    }
                )
                predicted, observed = _curve(y_site, proba)
                curves.append(
                    pd.DataFrame(
                        {
                            "model": model.name,
                            "site": site,
                            "variant": variant,
                            "predicted": predicted,
                            "observed": observed,
                        }
                    )
                )
    if progress:
        progress(1.0, "Done")
    return TransportResult(
        train_name,
        pd.DataFrame(rows),
        left_out,
        pd.DataFrame(missing_rows),
        pd.concat(curves, ignore_index=True),
        notes,
        threshold,
        pipelines,
        site_data,
    )


# ------------------------------------------------------------------------------------ recalibration
@dataclass(frozen=True)
class Recalibration:
    """logit p' = intercept + slope · logit p."""

    intercept: float  # a
    slope: float  # b

    def apply_logits(self, logits) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(logits, dtype=float)

    def apply(self, logits) -> np.ndarray:
        """Recalibrated probabilities from the model's logits."""
        return sigmoid(self.apply_logits(logits))


def fit_recalibration(y, logits) -> Recalibration:
    """Maximum-likelihood (a, b) of logit P(y = 1) = a + b · logits (Newton's method with step halving).

    Raises RecalibrationError when there is no finite maximum: one outcome only, or the logits separate
    the outcomes perfectly (the coefficients then grow without bound)."""
    y = np.asarray(y, dtype=float)
    z = np.asarray(logits, dtype=float)
    if len(y) != len(z):
        raise ValueError(f"{len(y)} outcomes but {len(z)} predictions")
    if len(np.unique(y)) < 2:
        raise RecalibrationError("recalibration needs local patients with and without disease")
    beta = fit_logistic(np.column_stack([np.ones_like(z), z]), y, np.zeros(len(y)))
    if beta is not None:
        return Recalibration(float(beta[0]), float(beta[1]))
    raise RecalibrationError(
        "the local patients' outcomes are perfectly separated by the model's risk (or too few "
        "patients): the recalibration has no finite answer; use more local patients"
    )


def _groups(X: pd.DataFrame | None, y: np.ndarray) -> np.ndarray | None:
    """Patient ids when X repeats a patient (their rows then share a fold), else None."""
    if X is None:
        return None
    groups = patient_groups(X, y)
    return groups.ids if groups.has_repeats else None


@dataclass
class CalibrationCheck:
    """Calibration of some probabilities on some patients."""

    brier: float
    intercept: float  # calibration-in-the-large (0 is ideal)
    slope: float  # calibration slope (1 is ideal)
    mean_predicted: float
    prevalence: float
    curve: pd.DataFrame  # predicted, observed (quantile bins)


def calibration_check(y, proba) -> CalibrationCheck:
    y, proba = np.asarray(y).astype(int), np.asarray(proba, dtype=float)
    slope, intercept = calibration_slope_intercept(y, proba)
    predicted, observed = _curve(y, proba)
    return CalibrationCheck(
        float(np.mean((proba - y) ** 2)),
        intercept,
        slope,
        float(proba.mean()),
        float(y.mean()),
        pd.DataFrame({"predicted": predicted, "observed": observed}),
    )


@dataclass
class LocalRecalibration:
    """Recalibration to one local population, measured honestly.

    recalibration   (a, b) fitted on all local patients: what the recalibrated model uses
    before          the model's calibration on the local patients
    after           calibration of the out-of-fold recalibrated risks: each patient's risk comes from (a, b)
                    fitted on the other folds, so it is measured on patients not used to fit them
    folds           the (a, b) of each fold
    """

    site: str
    n_patients: int
    n_splits: int
    recalibration: Recalibration
    before: CalibrationCheck
    after: CalibrationCheck
    folds: list[Recalibration]
    proba_before: np.ndarray = field(repr=False)
    proba_after: np.ndarray = field(repr=False)


def cross_validated_recalibration(
    y,
    logits,
    site: str = "local patients",
    n_splits: int = RECALIBRATION_FOLDS,
    seed: int = 0,
    X: pd.DataFrame | None = None,
) -> LocalRecalibration:
    """Fit (a, b) on all local patients and measure the recalibration by stratified k-fold within them.

    X (optional): the local patients' features, so that repeated patients share a fold."""
    y = np.asarray(y).astype(int)
    logits = np.asarray(logits, dtype=float)
    full = fit_recalibration(y, logits)
    splits = make_splits(y, n_splits=n_splits, n_repeats=1, seed=seed, groups=_groups(X, y))
    after = np.empty(len(y))
    folds = []
    for train, test in splits:
        fold = fit_recalibration(y[train], logits[train])
        folds.append(fold)
        after[test] = fold.apply(logits[test])
    before = sigmoid(logits)
    return LocalRecalibration(
        site, len(y), n_splits, full, calibration_check(y, before), calibration_check(y, after), folds, before, after
    )


def sample_sizes_for(n_patients: int, sizes: Sequence[int] = SAMPLE_SIZES) -> list[int]:
    """The sizes of the sample-size curve that leave at least MIN_HELD_OUT patients to measure on."""
    return [int(n) for n in sizes if 2 <= n <= n_patients - MIN_HELD_OUT]


def recalibration_sample_size(
    y, logits, sizes: Sequence[int] = SAMPLE_SIZES, n_draws: int = 50, seed: int = 0, progress: Progress | None = None
) -> pd.DataFrame:
    """How many local patients the recalibration needs: for each n, `n_draws` stratified draws of n patients,
    (a, b) fitted on them, measured on the patients not drawn.

    One row per (n, draw): n, draw, brier_before, brier_after, citl_before, citl_after (|mean predicted −
    observed prevalence| on the held-out patients), failed (the fit had no finite answer; its measures NaN).
    """
    y = np.asarray(y).astype(int)
    logits = np.asarray(logits, dtype=float)
    if not 1 <= n_draws <= MAX_DRAWS:
        raise ValueError(f"draws per sample size must be from 1 to {MAX_DRAWS}; got {n_draws!r}")
    usable = sample_sizes_for(len(y), sizes)
    if not usable:
        raise ValueError(
            f"{len(y)} local patients are too few for the sample-size curve: it needs at least "
            f"{min(sizes) + MIN_HELD_OUT} ({min(sizes)} to fit and {MIN_HELD_OUT} to measure on)"
        )
    rng = np.random.RandomState(seed)
    rows = []
    for step, n in enumerate(usable):
        if progress:
            progress(step / len(usable), f"Recalibrating on {n} local patients ({n_draws} draws)")
        for draw in range(n_draws):
            fit_rows, held_out = train_test_split(
                np.arange(len(y)), train_size=n, stratify=y, random_state=rng.randint(2**31 - 1)
            )
            before = sigmoid(logits[held_out])
            row = {
                "n": n,
                "draw": draw,
                "brier_before": float(np.mean((before - y[held_out]) ** 2)),
                "citl_before": abs(float(before.mean() - y[held_out].mean())),
                "failed": False,
            }
            try:
                after = fit_recalibration(y[fit_rows], logits[fit_rows]).apply(logits[held_out])
            except RecalibrationError:
                row.update(brier_after=np.nan, citl_after=np.nan, failed=True)
            else:
                row.update(
                    brier_after=float(np.mean((after - y[held_out]) ** 2)),
                    citl_after=abs(float(after.mean() - y[held_out].mean())),
                )
            rows.append(row)
    if progress:
        progress(1.0, "Done")
    return pd.DataFrame(rows)


def sample_size_summary(draws: pd.DataFrame) -> pd.DataFrame:
    """Per n: median and 10th-90th percentile of each measure over the draws, and how many fits failed."""
    measures = ["brier_before", "brier_after", "citl_before", "citl_after"]
    grouped = draws.groupby("n")
    out = grouped[measures].median().add_suffix("_median")
    out = out.join(grouped[measures].quantile(0.1).add_suffix("_p10"))
    out = out.join(grouped[measures].quantile(0.9).add_suffix("_p90"))
    out["failed"] = grouped["failed"].sum().astype(int)
    out["draws"] = grouped.size()
    return out.reset_index()


# ------------------------------------------------------------------------------------ the recalibrated network
def network_of(pipeline):
    """The fitted MLP at the end of a pipeline, or a ValueError saying this model is not a network."""
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else pipeline
    network = getattr(final, "network_", None)
    if network is None or not hasattr(network, "layers"):
        raise ValueError(
            f"only a fitted neural network can be recalibrated into a new model; this is {type(final).__name__}"
        )
    return network


def recalibrated_pipeline(pipeline: Pipeline, recalibration: Recalibration) -> Pipeline:
    """A deep copy of a fitted ANN pipeline whose output neuron is recalibrated: weights b·w, bias a + b·c.

    Its logit is a + b·(original logit) for every input, with or without dropout, so its risk, Monte Carlo
    interval, explanations and saved bundles are those of a recalibrated model. The copy's description
    (recalibrated_metadata) travels beside it, e.g. as save_bundle's metadata. A slope ≤ 0 is refused: the
    model would then rank the local patients backwards or not at all.
    """
    a, b = float(recalibration.intercept), float(recalibration.slope)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise RecalibrationError("the recalibration is not finite")
    if b <= 0:
        raise RecalibrationError(
            f"the calibration slope at the new site is {b:.2f} (≤ 0): the model does not rank "
            "these patients' risk the right way round, so recalibrating it cannot make it useful "
            "there"
        )
    network_of(pipeline)
    final = pipeline[-1]
    # Callbacks and the stop event belong to the original's training (live charts, a Stop button) and
    # cannot be copied (locks); the copy shares them only long enough to drop them.
    shared = {
        id(value): value
        for value in (getattr(final, "callbacks", None), getattr(final, "stop_event", None))
        if value is not None
    }
    copied = copy.deepcopy(pipeline, memo=dict(shared))
    copied_final = copied[-1]
    if hasattr(copied_final, "callbacks"):
        copied_final.callbacks = None
    if hasattr(copied_final, "stop_event"):
        copied_final.stop_event = None
    output = network_of(copied).layers[-1]
    with torch.no_grad():
        output.weight.mul_(b)
        output.bias.mul_(b).add_(a)
    return copied


def _trained_on_text(metadata: Mapping) -> str | None:
    for key in ("trained_on", "training_data", "dataset"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


# Facts a bundle writes about its own files (model.serving.bundle.RESERVED_KEYS): they describe the original's files,
# not the recalibrated copy, and save_bundle writes them afresh.
_FILE_FACTS = ("bundle_format", "created", "package_versions", "integrity")


def recalibrated_metadata(
    base_name: str,
    base_metadata: Mapping | None,
    local: LocalRecalibration,
    left_out: Sequence[str] = (),
    when: datetime | None = None,
) -> dict:
    """The metadata of a recalibrated model: the original's description plus what was done, where and how well."""
    meta = {k: v for k, v in dict(base_metadata or {}).items() if k not in _FILE_FACTS}
    rec = local.recalibration
    date = (when or datetime.now(UTC)).strftime("%Y-%m-%d")
    where = local.site
    summary = (
        f"recalibrated to {where} on {local.n_patients} local patients on {date} "
        f"(logit p' = {rec.intercept:.3f} + {rec.slope:.3f} · logit p)"
    )
    base_trained = _trained_on_text(meta)
    meta["trained_on"] = f"{base_trained}; {summary}" if base_trained else summary[0].upper() + summary[1:]
    meta["name"] = f"{base_name}, recalibrated to {where}"  # the name the session shows it under
    meta["recalibration"] = {
        "site": where,
        "n_patients": int(local.n_patients),
        "intercept": rec.intercept,
        "slope": rec.slope,
        "date": date,
        "based_on": base_name,
        "left_out": list(left_out),
        "cross_validated": {
            "folds": int(local.n_splits),
            "brier_before": local.before.brier,
            "brier_after": local.after.brier,
            "intercept_before": local.before.intercept,
            "intercept_after": local.after.intercept,
            "slope_before": local.before.slope,
            "slope_after": local.after.slope,
        },
    }
    limits = [
        f"Recalibrated to {where} ({local.n_patients} local patients, {date}): logit p' = {rec.intercept:.3f} + "
        f"{rec.slope:.3f} · logit p. At {where}, on patients not used to fit the recalibration "
        f"({local.n_splits}-fold cross-validation), the Brier score went from {local.before.brier:.3f} to "
        f"{local.after.brier:.3f} and calibration-in-the-large from {local.before.intercept:+.2f} to "
        f"{local.after.intercept:+.2f}. The performance and calibration figures of this card come from the "
        "original training data, before recalibration."
    ]
    if left_out:
        limits.append(
            f"Trained without {feature_labels(left_out)} (mostly missing at {where}): the model ignores "
            "them, whatever value is entered."
        )
    old = meta.get("limits")
    meta["limits"] = limits + ([str(item) for item in old] if isinstance(old, list) else [])
    return meta
