"""Statistics behind the Data Exploration page (plain pandas/scipy/sklearn; no Streamlit).

Every function takes a DataFrame holding (some of) the 13 schema features in UCI coding,
the 0/1 ``target`` and optionally a ``site`` column, and uses *every* row it is given:
only the plots sample (see ``sample_rows``), never the statistics.

Tests of association with the outcome, one per feature:
- categorical and binary features: Pearson's chi-square test of independence on the
  category x outcome table (no continuity correction, so Cramér's V is the usual one),
  effect size Cramér's V = sqrt(chi2 / (n (min(r, c) - 1))).
- numeric features: Mann-Whitney U (two-sided), effect size the rank-biserial correlation
  r = 2 U_disease / (n_disease n_no_disease) - 1: the probability that a patient with
  disease has the higher value minus the probability of the reverse (positive: higher in
  disease).
Thirteen tests are run at once, so p-values are also given Holm-adjusted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from model.data.schema import COLUMNS, FEATURE_NAMES, FEATURES, TARGET, Feature, feature

SITE = "site"
PLOT_SAMPLE_ROWS = 5_000  # points drawn per plot; statistics always use every row
MAX_QUALITY_EXAMPLES = 200  # example rows listed per problem (counts cover every row)
ALPHA = 0.05

LEAKAGE_WARNING = (
    "Duplicate rows are usually the same patient recorded twice. If copies land on both sides of a "
    "train/test split (or in different cross-validation folds) the model is tested on patients it has "
    "already seen, and its scores look better than they are. Remove duplicates before training."
)
KEEP_FIRST, DROP_ALL = "keep_first", "drop_all"  # what to do with a patient whose copies disagree on the outcome
MULTIPLE_TESTING_NOTE = (
    "Thirteen features are tested at once, so some small p-values are expected by chance alone. "
    "The Holm-adjusted p-value controls the chance of any false positive across all thirteen tests "
    "(family-wise error rate); compare it, not the raw p-value, with 0.05. "
    "An association with the outcome is not evidence of cause, and a significant test with a small "
    "effect size matters little in practice."
)


# --------------------------------------------------------------------------- helpers


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of every cell, index and column (Streamlit's own DataFrame hash samples large frames)."""
    digest = hashlib.sha1()
    digest.update(repr((frame.shape, list(frame.columns), [str(t) for t in frame.dtypes])).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The schema features present in `frame`, in schema order."""
    return [name for name in FEATURE_NAMES if name in frame.columns]


def has_outcome(frame: pd.DataFrame) -> bool:
    return TARGET.name in frame.columns


def _outcome(frame: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(frame[TARGET.name], errors="coerce")


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def sample_rows(frame: pd.DataFrame, max_rows: int = PLOT_SAMPLE_ROWS, seed: int = 0) -> tuple[pd.DataFrame, bool]:
    """At most `max_rows` rows for drawing (fixed seed, so reruns draw the same points); True when sampled."""
    if len(frame) <= max_rows:
        return frame, False
    return frame.sample(n=max_rows, random_state=seed), True


def filter_frame(
    frame: pd.DataFrame,
    age_range: tuple[float, float] | None = None,
    sexes: list[int] | None = None,
    sites: list[str] | None = None,
) -> pd.DataFrame:
    """Rows within the age range (inclusive), of the chosen sexes and sites; None means no filter.

    Rows with a missing age or sex are dropped only when that filter is narrowed.
    """
    keep = pd.Series(True, index=frame.index)
    if age_range is not None and "age" in frame.columns:
        age = _numbers(frame["age"])
        keep &= age.between(age_range[0], age_range[1])
    if sexes is not None and "sex" in frame.columns:
        keep &= _numbers(frame["sex"]).isin([float(s) for s in sexes])
    if sites is not None and SITE in frame.columns:
        keep &= frame[SITE].isin(list(sites))
    return frame.loc[keep]


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    if m == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class Overview:
    n_rows: int
    n_columns: int
    n_features: int  # schema features present
    n_missing_cells: int  # among the schema features
    n_duplicate_rows: int  # rows that repeat an earlier row exactly
    class_balance: pd.DataFrame
    missing: pd.DataFrame


def missing_by_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values per schema column present (features and target), with the share of rows."""
    names = [c for c in COLUMNS if c in frame.columns]
    counts = frame[names].isna().sum()
    n = max(len(frame), 1)
    return pd.DataFrame(
        {
            "column": names,
            "label": [feature(c).label for c in names],
            "missing": counts.to_numpy(dtype=int),
            "share": counts.to_numpy(dtype=float) / n,
        }
    )


def duplicate_mask(frame: pd.DataFrame) -> pd.Series:
    """True for each row that repeats an earlier row on all schema columns (site ignored)."""
    names = [c for c in COLUMNS if c in frame.columns]
    if not names or frame.empty:
        return pd.Series(False, index=frame.index)
    return frame.duplicated(subset=names, keep="first")


def class_balance(frame: pd.DataFrame) -> pd.DataFrame:
    """Patients per outcome (codes from the schema, both always listed) and their share."""
    outcome = _outcome(frame) if has_outcome(frame) else pd.Series(dtype=float)
    counts = [int((outcome == code).sum()) for code in TARGET.codes]
    total = max(sum(counts), 1)
    return pd.DataFrame(
        {
            "outcome": list(TARGET.codes),
            "label": [TARGET.category_label(c) for c in TARGET.codes],
            "patients": counts,
            "share": [c / total for c in counts],
        }
    )


def overview(frame: pd.DataFrame) -> Overview:
    features = feature_columns(frame)
    return Overview(
        n_rows=len(frame),
        n_columns=frame.shape[1],
        n_features=len(features),
        n_missing_cells=int(frame[features].isna().sum().sum()),
        n_duplicate_rows=int(duplicate_mask(frame).sum()),
        class_balance=class_balance(frame),
        missing=missing_by_column(frame),
    )


def codebook() -> pd.DataFrame:
    """The schema as a table: one row per feature and the target."""
    rows = []
    for item in FEATURES + (TARGET,):
        rows.append(
            {
                "column": item.name,
                "label": item.label,
                "type": item.kind,
                "unit": item.unit,
                "values": _possible_values(item),
                "description": item.description,
                "may be unknown": "yes" if item.unknown_allowed else "",
            }
        )
    return pd.DataFrame(rows)


def _possible_values(item: Feature) -> str:
    if item.categories:
        return "; ".join(f"{code} = {label}" for code, label in item.categories.items())
    parts = []
    if item.hard_min is not None and item.hard_max is not None:
        parts.append(f"possible {item.hard_min:g}–{item.hard_max:g}")
    if item.typical_min is not None and item.typical_max is not None:
        parts.append(f"typical {item.typical_min:g}–{item.typical_max:g}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- per-feature views


def numeric_by_outcome(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Summary statistics of one numeric feature per outcome (every row)."""
    values = _numbers(frame[name])
    outcome = _outcome(frame)
    rows = []
    for code in TARGET.codes:
        group = values[outcome == code].dropna()
        rows.append(
            {
                "outcome": TARGET.category_label(code),
                "patients": int(len(group)),
                "mean": group.mean(),
                "sd": group.std(),
                "median": group.median(),
                "q1": group.quantile(0.25),
                "q3": group.quantile(0.75),
                "min": group.min(),
                "max": group.max(),
                "missing": int(values[outcome == code].isna().sum()),
            }
        )
    return pd.DataFrame(rows)


def disease_rate_by_category(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Patients and disease rate per category of one feature; codes outside the schema and missing kept."""
    item = feature(name)
    values = _numbers(frame[name])
    outcome = _outcome(frame)
    known = [float(code) for code in item.codes]
    extra = sorted(set(values.dropna().unique()) - set(known))
    rows = []
    for code in known + extra:
        in_group = values == code
        rows.append(
            _rate_row(
                item.category_label(code) if code in known else f"{code:g} (not a valid code)", code, outcome[in_group]
            )
        )
    if values.isna().any():
        rows.append(_rate_row("Missing", np.nan, outcome[values.isna()]))
    return pd.DataFrame(rows)


def _rate_row(label: str, code, outcome: pd.Series) -> dict:
    n = int(outcome.notna().sum())
    n_disease = int((outcome == 1).sum())
    return {
        "code": code,
        "category": label,
        "patients": n,
        "with disease": n_disease,
        "disease rate": n_disease / n if n else np.nan,
    }


# --------------------------------------------------------------------------- associations


def associations(frame: pd.DataFrame) -> pd.DataFrame:
    """One univariate test of association with the outcome per feature present (every row)."""
    outcome = _outcome(frame)
    rows = [_association(frame[name], outcome, feature(name)) for name in feature_columns(frame)]
    table = pd.DataFrame(
        rows,
        columns=[
            "feature",
            "label",
            "kind",
            "test",
            "n",
            "statistic",
            "p_value",
            "effect_measure",
            "effect_size",
            "detail",
        ],
    )
    table["p_holm"] = holm_adjust(table["p_value"].to_numpy())
    table["significant"] = table["p_holm"] < ALPHA
    return table


def _association(column: pd.Series, outcome: pd.Series, item: Feature) -> dict:
    values = _numbers(column)
    both = values.notna() & outcome.isin([0, 1])
    values, outcome = values[both], outcome[both]
    row = {
        "feature": item.name,
        "label": item.label,
        "kind": item.kind,
        "n": int(both.sum()),
        "statistic": np.nan,
        "p_value": np.nan,
        "effect_size": np.nan,
    }
    if item.kind == "numeric":
        row.update(test="Mann–Whitney U", effect_measure="rank-biserial r")
        diseased, healthy = values[outcome == 1], values[outcome == 0]
        if len(diseased) and len(healthy):
            result = stats.mannwhitneyu(diseased, healthy, alternative="two-sided")
            row.update(
                statistic=float(result.statistic),
                p_value=float(result.pvalue),
                effect_size=2.0 * result.statistic / (len(diseased) * len(healthy)) - 1.0,
                detail=f"median {diseased.median():g} with disease vs {healthy.median():g} without",
            )
        else:
            row["detail"] = "needs patients with and without disease"
        return row
    row.update(test="Chi-square", effect_measure="Cramér's V")
    table = pd.crosstab(values, outcome)
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        row["detail"] = "needs at least two categories and both outcomes"
        return row
    chi2, p, dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
    n = table.to_numpy().sum()
    rates = table[1] / table.sum(axis=1)
    low, high = rates.idxmin(), rates.idxmax()
    row.update(
        statistic=float(chi2),
        p_value=float(p),
        effect_size=float(np.sqrt(chi2 / (n * (min(table.shape) - 1)))),
        detail=(
            f"disease rate {rates[low]:.0%} ({item.category_label(low)}) to "
            f"{rates[high]:.0%} ({item.category_label(high)}); df {dof}"
        ),
    )
    return row


# --------------------------------------------------------------------------- correlation, PCA


def correlation_matrix(frame: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """Pairwise-complete correlations of the features present and the outcome (every row)."""
    if method not in ("spearman", "pearson", "kendall"):
        raise ValueError(f"method must be 'spearman', 'pearson' or 'kendall'; got {method!r}")
    names = [c for c in COLUMNS if c in frame.columns]
    numbers = frame[names].apply(pd.to_numeric, errors="coerce").astype(float)
    return numbers.corr(method=method, min_periods=3)


@dataclass(frozen=True)
class Projection:
    points: pd.DataFrame  # pc1, pc2 and the outcome (and site) of every row given
    explained_variance: tuple[float, float]
    loadings: pd.DataFrame  # model input column -> weight on pc1, pc2
    constant_features: list[str]  # entirely missing here: held constant, so they do not shape the plane

    def axis_labels(self) -> tuple[str, str]:
        first, second = self.explained_variance
        return f"PC 1 ({first:.0%} of variance)", f"PC 2 ({second:.0%} of variance)"


class ProjectionError(ValueError):
    """Too few rows or features to project."""


def pca_projection(frame: pd.DataFrame, seed: int = 0) -> Projection:
    """Two principal components of the model's own preprocessing, fitted on exactly the rows given.

    The rows go through model.data.preprocessing.make_preprocessor() (median/most-frequent imputation,
    standardised numbers, one-hot categories), so the picture shows the space the networks see.
    """
    from sklearn.decomposition import PCA

    from model.data.preprocessing import make_preprocessor

    if len(frame) < 3:
        raise ProjectionError(f"a 2-D projection needs at least 3 patients; {len(frame)} selected")
    inputs = pd.DataFrame(index=frame.index)
    constant = []
    for item in FEATURES:
        column = _numbers(frame[item.name]) if item.name in frame.columns else pd.Series(np.nan, index=frame.index)
        if column.isna().all():
            # An all-missing column cannot be imputed from these rows: hold it constant (no variance).
            constant.append(item.name)
            column = pd.Series(float(item.codes[0]) if item.categories else 0.0, index=frame.index)
        inputs[item.name] = column
    preprocessor = make_preprocessor()
    matrix = preprocessor.fit_transform(inputs)
    if np.linalg.matrix_rank(matrix - matrix.mean(axis=0)) < 2:
        raise ProjectionError("the selected patients vary along fewer than two directions; widen the filters")
    pca = PCA(n_components=2, random_state=seed)
    coordinates = pca.fit_transform(matrix)
    points = pd.DataFrame({"pc1": coordinates[:, 0], "pc2": coordinates[:, 1]}, index=frame.index)
    for extra in (TARGET.name, SITE):
        if extra in frame.columns:
            points[extra] = frame[extra].to_numpy()
    loadings = pd.DataFrame(
        pca.components_.T, columns=["pc1", "pc2"], index=[str(n) for n in preprocessor.get_feature_names_out()]
    )
    ratio = pca.explained_variance_ratio_
    return Projection(points, (float(ratio[0]), float(ratio[1])), loadings, constant)


# --------------------------------------------------------------------------- data quality


def invalid_mask(series: pd.Series, item: Feature) -> pd.Series:
    """True where a present value breaks the schema (vectorised Feature.check, which gives the words)."""
    numbers = _numbers(series)
    not_a_number = series.notna() & numbers.isna()
    present = numbers.notna()
    if item.categories:
        bad = ~numbers.isin([float(code) for code in item.codes])
    else:
        bad = ~np.isfinite(numbers)
        if item.integer:
            bad |= numbers != np.round(numbers)
        if item.hard_min is not None:
            bad |= numbers < item.hard_min
        if item.hard_max is not None:
            bad |= numbers > item.hard_max
    return not_a_number | (present & bad)


@dataclass(frozen=True)
class QualityReport:
    n_rows: int
    missing: pd.DataFrame  # per column: missing, share
    out_of_limits: pd.DataFrame  # per column: rows with a value the schema calls impossible
    out_of_limits_examples: pd.DataFrame  # row, column, value, problem (at most MAX_QUALITY_EXAMPLES per column)
    impossible_zeros: pd.DataFrame  # per column where 0 is impossible: rows holding 0
    n_duplicate_rows: int
    duplicate_examples: pd.DataFrame  # rows involved in duplication (first MAX_QUALITY_EXAMPLES)
    n_repeated_patient_rows: int = 0  # rows whose 13 features repeat an earlier row (whatever their outcome)
    outcome_conflicts: pd.DataFrame | None = None  # every copy of a patient recorded with both outcomes

    @property
    def n_out_of_limits(self) -> int:
        return int(self.out_of_limits["rows"].sum()) if len(self.out_of_limits) else 0

    @property
    def n_impossible_zeros(self) -> int:
        return int(self.impossible_zeros["rows"].sum()) if len(self.impossible_zeros) else 0

    @property
    def n_missing(self) -> int:
        return int(self.missing["missing"].sum())

    @property
    def is_clean(self) -> bool:
        return not (
            self.n_out_of_limits
            or self.n_impossible_zeros
            or self.n_missing
            or self.n_duplicate_rows
            or self.n_repeated_patient_rows
        )


def quality_report(frame: pd.DataFrame) -> QualityReport:
    """Every row checked against the schema's hard limits and codes; zeros, gaps and duplicates counted."""
    counts, examples, zeros = [], [], []
    for item in FEATURES:
        if item.name not in frame.columns:
            continue
        column = frame[item.name]
        bad = invalid_mask(column, item)
        n_bad = int(bad.sum())
        if n_bad:
            counts.append({"column": item.name, "label": item.label, "rows": n_bad, "allowed": _possible_values(item)})
            for index, value in column[bad].head(MAX_QUALITY_EXAMPLES).items():
                if isinstance(value, float) and value.is_integer():
                    value = int(value)  # "200", not "200.0", in the message
                examples.append(
                    {
                        "row": index,
                        "column": item.name,
                        "value": value,
                        "problem": item.check(value) or "not a valid value",
                    }
                )
        if not item.categories and item.hard_min is not None and item.hard_min > 0:
            n_zero = int((_numbers(column) == 0).sum())
            if n_zero:
                zeros.append(
                    {
                        "column": item.name,
                        "label": item.label,
                        "rows": n_zero,
                        "why": f"0 {item.unit} is impossible (minimum {item.hard_min:g}); "
                        "usually 'not measured' written as 0",
                    }
                )
    duplicated = duplicate_mask(frame)
    names = [c for c in COLUMNS if c in frame.columns]
    involved = frame.duplicated(subset=names, keep=False) if names and len(frame) else duplicated
    duplicate_examples = frame.loc[involved].sort_values(names).head(MAX_QUALITY_EXAMPLES) if names else frame.iloc[:0]
    return QualityReport(
        n_rows=len(frame),
        missing=missing_by_column(frame),
        out_of_limits=pd.DataFrame(counts, columns=["column", "label", "rows", "allowed"]),
        out_of_limits_examples=pd.DataFrame(examples, columns=["row", "column", "value", "problem"]),
        impossible_zeros=pd.DataFrame(zeros, columns=["column", "label", "rows", "why"]),
        n_duplicate_rows=int(duplicated.sum()),
        duplicate_examples=duplicate_examples,
        n_repeated_patient_rows=int(repeated_patient_mask(frame).sum()),
        outcome_conflicts=outcome_conflicts(frame),
    )


# --------------------------------------------------------------------------- removing repeated patients


def repeated_patient_mask(frame: pd.DataFrame) -> pd.Series:
    """True for each row whose 13 features repeat an earlier row (outcome and site ignored)."""
    names = feature_columns(frame)
    if not names or frame.empty:
        return pd.Series(False, index=frame.index)
    return frame.duplicated(subset=names, keep="first")


def outcome_conflicts(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row of a patient (identical 13 features) recorded with more than one outcome, grouped together.

    Columns: `row` (the frame's index label), `patient` (1, 2, ... per conflicting patient), then the frame's.
    """
    names = feature_columns(frame)
    if not names or frame.empty or TARGET.name not in frame.columns:
        return pd.DataFrame(columns=["row", "patient", *frame.columns])
    patient = frame.groupby(names, dropna=False, sort=False).ngroup()
    outcomes = frame[TARGET.name].groupby(patient).transform("nunique")
    rows = frame.loc[outcomes > 1]
    numbers = pd.Series(pd.factorize(patient[outcomes > 1])[0] + 1, index=rows.index)
    table = rows.assign(patient=numbers).rename_axis("row").reset_index()
    return table[["row", "patient", *frame.columns]].sort_values(["patient", "row"], kind="stable", ignore_index=True)


@dataclass(frozen=True)
class Deduplication:
    """The result of removing repeated patients: what is kept, what went, and why."""

    kept: pd.DataFrame  # the first copy of each patient (index renumbered 0..n-1)
    removed_rows: list  # index labels (in the original frame) of every removed row
    conflicts: pd.DataFrame  # outcome_conflicts() of the original frame
    conflict_policy: str  # KEEP_FIRST or DROP_ALL

    @property
    def n_removed(self) -> int:
        return len(self.removed_rows)

    @property
    def n_conflicting_patients(self) -> int:
        return int(self.conflicts["patient"].nunique()) if len(self.conflicts) else 0

    def summary(self) -> str:
        """What was done, in plain words."""
        n = self.n_conflicting_patients
        who = f"{n:,} patient{'s' if n != 1 else ''} recorded with both outcomes"
        if n and self.conflict_policy == DROP_ALL:
            text = (
                f"Removed {self.n_removed:,} rows: every copy of the {who}, and every later copy of another "
                f"patient (identical 13 values)"
            )
        else:
            text = (
                f"Removed {self.n_removed:,} row{'s' if self.n_removed != 1 else ''} that repeated an earlier "
                f"patient (identical 13 values)"
            )
        text += f"; {len(self.kept):,} patients remain."
        if n and self.conflict_policy == KEEP_FIRST:
            text += f" For the {who}, the first copy (and its outcome) was kept."
        return text


def deduplicate(frame: pd.DataFrame, conflict_policy: str = KEEP_FIRST) -> Deduplication:
    """Keep the first row of each patient (identical 13 features; outcome and site ignored).

    A patient recorded with both outcomes keeps its first copy (KEEP_FIRST) or loses every copy (DROP_ALL).
    """
    if conflict_policy not in (KEEP_FIRST, DROP_ALL):
        raise ValueError(f"conflict_policy must be {KEEP_FIRST!r} or {DROP_ALL!r}; got {conflict_policy!r}")
    conflicts = outcome_conflicts(frame)
    remove = repeated_patient_mask(frame)
    if conflict_policy == DROP_ALL and len(conflicts):
        remove = remove | frame.index.isin(conflicts["row"])
    removed = list(frame.index[remove.to_numpy()])
    kept = frame.loc[~remove.to_numpy()].reset_index(drop=True)
    return Deduplication(kept, removed, conflicts, conflict_policy)


# --------------------------------------------------------------------------- sites


def site_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per site: patients, disease rate and the share of missing values of each feature that has any."""
    if SITE not in frame.columns:
        return pd.DataFrame()
    outcome = _outcome(frame)
    rows = []
    for site, group in frame.groupby(SITE, sort=True, observed=True):
        row = {
            "site": site,
            "patients": len(group),
            "disease rate": float((outcome.loc[group.index] == 1).mean()) if len(group) else np.nan,
        }
        for name in feature_columns(frame):
            row[f"{name} missing"] = float(group[name].isna().mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    any_missing = [c for c in table.columns if c.endswith(" missing") and table[c].max() > 0]
    return table[["site", "patients", "disease rate"] + any_missing]
