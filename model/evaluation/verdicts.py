"""The comparison in plain words: what the comparison page says about a computed ComparisonReport.

model.evaluation.comparison measures; this module only words what it measured. Every function is
pure: it reads the report (the leaderboard, the paired tests, the learning curves, the permutation
importance, the model facts) and returns text or a table of text, computing nothing new.

- evidence_table          the course's classical-vs-deep-learning table, each cell filled with this run's numbers;
- significance_sentences  the paired tests against the best model, one sentence per model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.data.schema import feature
from model.evaluation.comparison import DEEP_LEARNING_NAMES, NEEDED_IMPORTANCE, ComparisonReport
from model.evaluation.cross_validation import SIGNIFICANCE_LEVEL, p_value_text

NOT_RUN = "—"
EVIDENCE_ASPECTS = (
    "Accuracy on these data (ROC AUC)",
    "Data size",
    "Feature engineering",
    "Computation",
    "Interpretability",
)


def evidence_table(report: ComparisonReport) -> pd.DataFrame:
    """The course's comparison table: one row per aspect (EVIDENCE_ASPECTS), the best classical model's
    measurement, the deep-learning model's, and what this run shows. "—" where a side was not run."""
    classical, deep = report.best_classical, report.deep_model
    means = report.result.wide("mean")
    facts = report.model_facts.set_index("model")
    rows = [
        (_auc_text(means, classical), _auc_text(means, deep), _accuracy_verdict(report, classical, deep)),
        _data_size_cells(report, classical, deep),
        _feature_cells(report, classical, deep),
        (
            _compute_text(means, facts, classical),
            _compute_text(means, facts, deep),
            _compute_verdict(facts, classical, deep),
        ),
        (_size_text(facts, classical), _size_text(facts, deep), _interpretability_verdict(facts, classical, deep)),
    ]
    return pd.DataFrame(
        {
            "Aspect": list(EVIDENCE_ASPECTS),
            f"Classical ML (best: {classical})" if classical else "Classical ML (not run)": [r[0] for r in rows],
            f"Deep learning ({deep})" if deep else "Deep learning (not run)": [r[1] for r in rows],
            "What this run shows": [r[2] for r in rows],
        }
    )


def significance_sentences(report: ComparisonReport) -> list[str]:
    """The paired tests in plain words (Markdown), one sentence per model, best first; first, how repeated
    patients were handled."""
    tests = report.result.paired_tests.set_index("model")
    best = report.best
    means = report.result.wide("mean")["roc_auc"]
    repeats = report.result.repeats_note()
    out = [f"**Repeated patients.** {repeats}"] if repeats else []
    out.append(f"**{best}** has the highest mean ROC AUC ({means[best]:.3f}).")
    for model in report.result.ranked_models():
        if model == best:
            continue
        p = tests.loc[model, "p_value"]
        words = "is **not distinguishable from the best**" if p >= SIGNIFICANCE_LEVEL else "is **worse than the best**"
        out.append(
            f"{model} (ROC AUC {means[model]:.3f}) {words} ({p_value_text(p)}, corrected resampled t-test "
            f"over the {report.protocol.n_fits} paired folds)."
        )
    return out


def seconds_text(value: float) -> str:
    """'12.3 ms' below a second, '1.23 s' from there; '—' when not measured."""
    if not np.isfinite(value):
        return NOT_RUN
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


# ------------------------------------------------------------------ the cells of the evidence table
def _accuracy_verdict(report: ComparisonReport, classical: str | None, deep: str | None) -> str:
    if not classical or not deep:
        return "Run at least one classical model and the ANN to compare them."
    tests = report.result.paired_tests.set_index("model")
    best = report.best
    if best in (classical, deep):
        other = deep if best == classical else classical
        return f"{best} is best; {other} is {tests.loc[other, 'verdict']}."
    return f"{best} is best; {classical}: {tests.loc[classical, 'verdict']}; {deep}: {tests.loc[deep, 'verdict']}."


def _data_size_cells(report: ComparisonReport, classical: str | None, deep: str | None) -> tuple[str, str, str]:
    table = report.learning_summary()
    if table is None or not classical or not deep:
        return (NOT_RUN, NOT_RUN, "Learning curves need one classical model and the ANN (or perceptron).")
    pivot = table.pivot(index="fraction", columns="model", values="roc_auc")
    sizes = table.groupby("fraction")["n_train"].mean().round().astype(int)
    small, full = pivot.index.min(), pivot.index.max()

    def cell(model: str) -> str:
        return (
            f"ROC AUC {pivot.loc[small, model]:.3f} with {sizes[small]} training patients, "
            f"{pivot.loc[full, model]:.3f} with {sizes[full]}"
        )

    winners = []
    for fraction in pivot.index:
        c, d = pivot.loc[fraction, classical], pivot.loc[fraction, deep]
        leader = classical if c > d else deep
        winners.append(f"{sizes[fraction]} patients: {leader} (+{abs(c - d):.3f})")
    return (
        cell(classical),
        cell(deep),
        "Higher mean ROC AUC by training-set size: "
        + "; ".join(winners)
        + f". Fold-to-fold spread is about ±{table['roc_auc_std'].mean():.3f}.",
    )


def _feature_cells(report: ComparisonReport, classical: str | None, deep: str | None) -> tuple[str, str, str]:
    summary = report.importance_summary()
    if summary is None or not classical or not deep:
        return (NOT_RUN, NOT_RUN, "Permutation importance was not computed.")
    facts = report.model_facts.set_index("model")

    def cell(model: str) -> str:
        part = summary[summary["model"] == model].sort_values("mean", ascending=False)
        needed = part[part["needed"]]
        top = ", ".join(feature(f).label for f in part["feature"].head(3))
        return (
            f"needed {len(needed)} of {len(part)} features (top: {top}); "
            f"input: {int(facts.loc[model, 'input_columns'])} columns after imputation, scaling, one-hot"
        )

    n_c = int(summary[(summary["model"] == classical) & summary["needed"]].shape[0])
    n_d = int(summary[(summary["model"] == deep) & summary["needed"]].shape[0])
    return (
        cell(classical),
        cell(deep),
        f"Both got the same hand-made preprocessing; {classical} relied on {n_c} features, "
        f"{deep} on {n_d} (a feature counts when shuffling it costs ≥ {NEEDED_IMPORTANCE} ROC AUC).",
    )


def _auc_text(means: pd.DataFrame, model: str | None) -> str:
    return NOT_RUN if not model else f"{means.loc[model, 'roc_auc']:.3f}"


def _compute_text(means: pd.DataFrame, facts: pd.DataFrame, model: str | None) -> str:
    if not model:
        return NOT_RUN
    batched = " (all fold networks trained together)" if model in DEEP_LEARNING_NAMES else ""
    return (
        f"one fit on all patients {seconds_text(facts.loc[model, 'fit_all_seconds'])}; per cross-validation "
        f"fold {seconds_text(means.loc[model, 'fit_seconds'])} fit{batched}, "
        f"{seconds_text(means.loc[model, 'predict_seconds'])} predict"
    )


def _compute_verdict(facts: pd.DataFrame, classical: str | None, deep: str | None) -> str:
    if not classical or not deep:
        return NOT_RUN
    c, d = facts.loc[classical, "fit_all_seconds"], facts.loc[deep, "fit_all_seconds"]
    faster, slower, ratio = (classical, deep, d / c) if c < d else (deep, classical, c / d)
    return f"One fit on all patients: {faster} is {ratio:.1f}× faster than {slower} on this machine."


def _size_text(facts: pd.DataFrame, model: str | None) -> str:
    if not model:
        return NOT_RUN
    return f"{int(facts.loc[model, 'size']):,} {facts.loc[model, 'size_unit']}"


def _interpretability_verdict(facts: pd.DataFrame, classical: str | None, deep: str | None) -> str:
    if not classical or not deep:
        return NOT_RUN
    c, d = int(facts.loc[classical, "size"]), int(facts.loc[deep, "size"])
    return (
        f"To read the fitted model one inspects {c:,} {facts.loc[classical, 'size_unit']} for {classical} "
        f"against {d:,} {facts.loc[deep, 'size_unit']} for {deep}; permutation importance (below) "
        f"explains both from outside."
    )
