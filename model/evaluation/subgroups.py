"""Does the model discriminate and calibrate as well in women as in men, the young as the old, each site?

`subgroup_performance` gives one row per (grouping, subgroup): size, events, prevalence, ROC AUC with a
95% interval, observed/expected events with a 95% interval, and calibration-in-the-large. Subgroups
too small to judge say so instead of showing a number.

Intervals:
- ROC AUC: percentile bootstrap, resampling the diseased and the healthy patients of the subgroup
  separately (stratified, so every resample has both classes), with a fixed seed. No maintained Python
  library offers DeLong's interval (scikit-learn and SciPy do not), hence the bootstrap.
- O/E = observed events / expected events (the sum of predicted risks). The expected count is treated
  as fixed and the observed count as Poisson; the interval is the exact Poisson (Garwood, chi-square)
  interval for the observed count divided by the expected count. (Byar's formula approximates this one.)

Helpers build the groupings from the 13-feature frame: `sex_groups`, `age_bands`, `site_groups`,
and `standard_groups` for all that apply. Computation only; the dashboard shows the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score

from model.data.datasets import SITE_LABELS
from model.data.schema import TARGET, feature
from model.evaluation.cross_validation import calibration_slope_intercept

OK, TOO_SMALL = "ok", "too small to say"
ALL_PATIENTS = "All patients"  # the reference row of a subgroup table
NOT_RECORDED = "not recorded"
DEFAULT_AGE_EDGES = (0, 45, 55, 65, 200)
LEVEL = 0.95
_BOOTSTRAP_CELLS = 2_000_000  # resampled values ranked at once: bounds the memory of one bootstrap chunk

# The numeric statistics of a row (NaN where a subgroup is too small to say).
NUMBER_COLUMNS = (
    "roc_auc",
    "auc_low",
    "auc_high",
    "observed_expected",
    "oe_low",
    "oe_high",
    "calibration_in_the_large",
)
COLUMNS = ("grouping", "subgroup", "n", "events", "prevalence", *NUMBER_COLUMNS, "verdict", "reason")


# ------------------------------------------------------------------ the statistics
def bootstrap_auc_interval(
    y, proba, n_bootstrap: int = 1000, seed: int = 0, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile interval of ROC AUC over bootstrap resamples drawn separately from cases and non-cases.

    Each resample's AUC is the Mann-Whitney statistic from midranks (ties count one half), which is exactly
    roc_auc_score; ranking whole chunks of resamples at once keeps a thousand resamples fast.
    """
    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    cases, controls = proba[y == 1], proba[y == 0]
    if len(cases) == 0 or len(controls) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n1, n0 = len(cases), len(controls)
    chunk = max(1, _BOOTSTRAP_CELLS // (n1 + n0))
    aucs = []
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        sample = np.hstack([rng.choice(cases, (size, n1)), rng.choice(controls, (size, n0))])
        case_ranks = stats.rankdata(sample, axis=1)[:, :n1].sum(axis=1)
        aucs.append((case_ranks - n1 * (n1 + 1) / 2) / (n1 * n0))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.concatenate(aucs), [tail, 100 - tail])
    return float(low), float(high)


def observed_expected(y, proba, level: float = LEVEL) -> tuple[float, float, float]:
    """(O/E, low, high): observed events over the sum of predicted risks, exact Poisson interval on O.

    O/E > 1: the model underestimates risk in this group; < 1: it overestimates. NaN when nothing is expected.
    """
    observed = float(np.sum(y))
    expected = float(np.sum(proba))
    if expected <= 0:
        return float("nan"), float("nan"), float("nan")
    alpha = 1 - level
    low = stats.chi2.ppf(alpha / 2, 2 * observed) / 2 if observed > 0 else 0.0
    high = stats.chi2.ppf(1 - alpha / 2, 2 * observed + 2) / 2
    return observed / expected, float(low) / expected, float(high) / expected


def too_small_reason(n: int, events: int, min_size: int, min_events: int) -> str:
    """Why a subgroup is too small to judge ("" when it is not)."""
    if n < min_size:
        return f"{n} patients; at least {min_size} needed"
    if min(events, n - events) < min_events:
        return f"{events} with and {n - events} without disease; at least {min_events} of each needed"
    return ""


@dataclass(frozen=True)
class _Settings:
    min_size: int
    min_events: int
    n_bootstrap: int
    seed: int


def _subgroup_row(grouping: str, subgroup: str, y: np.ndarray, proba: np.ndarray, settings: _Settings) -> dict:
    n, events = len(y), int(y.sum())
    reason = too_small_reason(n, events, settings.min_size, settings.min_events)
    auc = low = high = float("nan")
    if not reason:
        auc = float(roc_auc_score(y, proba))
        low, high = bootstrap_auc_interval(y, proba, settings.n_bootstrap, settings.seed)
    ratio, ratio_low, ratio_high = observed_expected(y, proba)
    _, in_the_large = calibration_slope_intercept(y, proba)
    return {
        "grouping": grouping,
        "subgroup": subgroup,
        "n": n,
        "events": events,
        "prevalence": events / n,
        "roc_auc": auc,
        "auc_low": low,
        "auc_high": high,
        "observed_expected": ratio,
        "oe_low": ratio_low,
        "oe_high": ratio_high,
        "calibration_in_the_large": in_the_large,
        "verdict": TOO_SMALL if reason else OK,
        "reason": reason,
    }


def _labels(values, n: int, grouping: str) -> pd.Series:
    """Labels as a Series (categorical order kept), missing ones as NOT_RECORDED."""
    labels = pd.Series(values).reset_index(drop=True)
    if len(labels) != n:
        raise ValueError(f"{grouping}: {len(labels)} labels for {n} patients")
    if isinstance(labels.dtype, pd.CategoricalDtype):
        if labels.isna().any():
            labels = labels.cat.add_categories([NOT_RECORDED]).fillna(NOT_RECORDED)
        return labels.cat.remove_unused_categories()
    return labels.astype(object).where(labels.notna(), NOT_RECORDED)


def _ordered(labels: pd.Series) -> list:
    """The subgroups in reading order: a categorical's own order (age bands youngest first), else as first seen."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return list(labels.cat.categories)
    return list(pd.unique(labels))


def subgroup_performance(
    y,
    proba,
    groups: Mapping[str, object],
    min_size: int = 30,
    min_events: int = 10,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (grouping, subgroup) with the columns of COLUMNS.

    groups      grouping name -> one label per patient (e.g. {"Sex": sex_groups(frame)}); missing labels
                form their own subgroup, "not recorded"
    min_size, min_events  below min_size patients, or fewer than min_events patients with or without disease,
                the verdict is "too small to say" and the AUC is NaN (its interval would be noise);
                O/E keeps its exact interval, which is honest at any size
    seed        the bootstrap's seed: the same seed gives the same intervals
    """
    y = np.asarray(y).ravel()
    proba = np.asarray(proba, dtype=float).ravel()
    if len(y) != len(proba):
        raise ValueError(f"{len(y)} outcomes but {len(proba)} predicted risks")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("the outcomes must be 0 (no disease) or 1 (disease)")
    if not np.all(np.isfinite(proba)) or np.any((proba < 0) | (proba > 1)):
        raise ValueError("the predicted risks must be probabilities from 0 to 1, none missing")
    if min(min_size, min_events, n_bootstrap) < 1:
        raise ValueError("min_size, min_events and n_bootstrap must each be at least 1")
    y = y.astype(int)
    settings = _Settings(min_size, min_events, n_bootstrap, seed)
    rows = []
    for grouping, values in groups.items():
        labels = _labels(values, len(y), grouping)
        for subgroup in _ordered(labels):
            members = (labels == subgroup).to_numpy()
            rows.append(_subgroup_row(grouping, str(subgroup), y[members], proba[members], settings))
    return pd.DataFrame(rows, columns=list(COLUMNS))


# ------------------------------------------------------------------ groupings from the feature frame
def sex_groups(frame: pd.DataFrame) -> pd.Series:
    """The schema's labels of `sex` ("Female", "Male") per row, in the schema's order; NaN where missing."""
    sex = feature("sex")
    labels = frame["sex"].map(lambda code: np.nan if pd.isna(code) else sex.category_label(code))
    return pd.Series(pd.Categorical(labels, categories=list(sex.categories.values())), index=frame.index, name="Sex")


def _band_labels(edges: Sequence[float]) -> list[str]:
    """ "< 45", "45–54", ..., "≥ 65": whole-year labels for bands [low, high) of integer ages."""
    labels = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        if i == 0:
            labels.append(f"< {high:g}")
        elif i == len(edges) - 2:
            labels.append(f"≥ {low:g}")
        elif float(low).is_integer() and float(high).is_integer():
            labels.append(f"{low:g}–{high - 1:g}")
        else:
            labels.append(f"{low:g} to < {high:g}")
    return labels


def age_bands(frame: pd.DataFrame, edges: Sequence[float] = DEFAULT_AGE_EDGES) -> pd.Series:
    """Age band of each row, bands [edge_i, edge_i+1) labelled "< 45", "45–54", "55–64", "≥ 65"; NaN where missing.

    The first and last edges must enclose every recorded age (the defaults enclose every valid one).
    """
    edges = [float(e) for e in edges]
    if len(edges) < 3 or not all(np.isfinite(edges)) or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError("age band edges must be at least three increasing finite numbers")
    age = frame["age"].astype(float)
    outside = age.notna() & ((age < edges[0]) | (age >= edges[-1]))
    if outside.any():
        raise ValueError(f"{int(outside.sum())} ages lie outside the bands ({edges[0]:g} to below {edges[-1]:g})")
    bands = pd.cut(age, bins=edges, right=False, labels=_band_labels(edges))
    return pd.Series(bands, index=frame.index, name="Age")


def site_groups(frame: pd.DataFrame) -> pd.Series | None:
    """The data-collection site of each row (its full name when known), or None when there is no "site" column."""
    if "site" not in frame.columns:
        return None
    return frame["site"].map(lambda site: SITE_LABELS.get(site, site)).rename("Site")


def standard_groups(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """{"Sex", "Age", and "Site" when the frame has one}: the groupings a subgroup table usually shows."""
    groups = {"Sex": sex_groups(frame), "Age": age_bands(frame)}
    site = site_groups(frame)
    if site is not None:
        groups["Site"] = site
    return groups


def groups_of_cross_validated(frame: pd.DataFrame, y, what: str = "cross-validation") -> dict[str, pd.Series]:
    """All patients, then sex, age band and site (when `frame` has a "site" column), one label per row of `y`.

    A cross-validation keeps every row of its frame in order (only the index is reset), so the frame it ran on
    lines up with its outcomes row by row; anything else is refused with a ValueError naming `what` rather than
    silently mislabelled.
    """
    y = np.asarray(y).ravel()
    if len(frame) != len(y):
        raise ValueError(f"the data have {len(frame):,} patients but the {what} had {len(y):,}")
    if TARGET.name not in frame.columns or not np.array_equal(frame[TARGET.name].to_numpy(dtype=float), y):
        raise ValueError(f"the outcomes in the data are not the ones the {what} was run on")
    rows = frame.reset_index(drop=True)
    everyone = pd.Series([ALL_PATIENTS] * len(rows), name=ALL_PATIENTS)
    return {ALL_PATIENTS: everyone, **standard_groups(rows)}
