"""Figures and tables for the comparison page (classical ML vs deep learning).

Pure builders: they read a model.evaluation.comparison.ComparisonReport / ExternalValidation and return
Plotly figures or pandas Stylers. No widgets here; app_pages/compare.py places them.
Every model keeps one colour on every chart; the deep-learning models are drawn thicker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import QUALITATIVE, SEQUENTIAL_SCALE, apply_theme
from model.data.datasets import SITE_LABELS
from model.data.schema import feature
from model.evaluation.comparison import (
    ANN_NAME,
    CLASSICAL_NAMES,
    DEEP_LEARNING_NAMES,
    LEADERBOARD_METRICS,
    PERCEPTRON_NAME,
    ComparisonReport,
    ExternalValidation,
    calibration_points,
    roc_points,
)
from model.evaluation.cross_validation import METRICS, ModelFinished

LEGEND_BELOW = dict(orientation="h", y=-0.2, yanchor="top", x=0, xanchor="left")
BEST_CELL = "background-color: #d8ead2; font-weight: 600"
# Classical models share the app's palette; the two deep-learning models stand out.
# strict=False: the palette may hold more colours than there are classical models.
MODEL_COLORS: dict[str, str] = {
    **dict(zip(CLASSICAL_NAMES, QUALITATIVE, strict=False)),
    ANN_NAME: "#b8002e",
    PERCEPTRON_NAME: "#00798c",
}
SECONDS_METRICS = ("fit_seconds", "predict_seconds")


def _line(model: str) -> dict:
    deep = model in DEEP_LEARNING_NAMES
    return dict(
        color=MODEL_COLORS.get(model, "#5c5c5c"),
        width=3.2 if deep else 1.8,
        dash="solid" if deep else "dot" if model == "Decision tree" else "solid",
    )


# Chart axes need short names; tables and warnings use the full SITE_LABELS.
_SHORT_SITES = {
    "cleveland": "Cleveland",
    "hungarian": "Hungary (Budapest)",
    "switzerland": "Switzerland",
    "va": "VA Long Beach",
}


def _site(site: str) -> str:
    return SITE_LABELS.get(site, site)


def _short_site(site: str) -> str:
    return _SHORT_SITES.get(site, site)


# ------------------------------------------------------------------ leaderboard
def _interval(mean: float, low: float, high: float, metric: str) -> str:
    if metric in SECONDS_METRICS:
        scale, unit = (1000.0, " ms") if mean < 1 else (1.0, " s")
        return f"{mean * scale:.1f}{unit}"
    if not np.isfinite(low):
        return f"{mean:.3f}"
    # These metrics live in [0, 1]; a t-interval on few folds can overshoot, which means nothing.
    return f"{mean:.3f} ({max(low, 0.0):.3f}–{min(high, 1.0):.3f})"


def leaderboard_display(report: ComparisonReport) -> tuple[pd.DataFrame, dict[str, str]]:
    """The leaderboard as text cells ("mean (95% low–high)") plus metric -> best model."""
    table = report.leaderboard()
    shown = pd.DataFrame({"Model": table["model"], "Family": table["family"]})
    for metric in LEADERBOARD_METRICS:
        shown[METRICS[metric]] = [
            _interval(m, lo, hi, metric)
            for m, lo, hi in zip(
                table[f"{metric}_mean"], table[f"{metric}_ci_low"], table[f"{metric}_ci_high"], strict=True
            )
        ]
    shown[f"Compared with the best ({METRICS[report.result.compare_metric]})"] = table["verdict"]
    return shown.set_index("Model"), report.best_per_metric()


PARTIAL_METRICS = ("roc_auc", "accuracy", "brier", "sensitivity", "specificity")
STATUS_COLUMN = "Status"
RUNNING = "running…"


def partial_leaderboard(finished: Sequence[ModelFinished], names: Sequence[str]) -> pd.DataFrame:
    """While a comparison runs: the models finished so far (their final means and intervals), best ROC AUC
    first, then every other chosen model as "running…". No verdicts: those need every model."""
    rows = []
    for event in finished:
        part = event.summary.set_index("metric")
        row = {"Model": event.name, STATUS_COLUMN: "finished"}
        for metric in PARTIAL_METRICS:
            mean, low, high = part.loc[metric, ["mean", "ci_low", "ci_high"]]
            row[METRICS[metric]] = _interval(mean, low, high, metric)
        rows.append((-float(part.loc["roc_auc", "mean"]), row))
    rows.sort(key=lambda pair: pair[0] if np.isfinite(pair[0]) else np.inf)  # stable: ties keep finishing order
    done = {event.name for event in finished}
    shown = [row for _, row in rows] + [
        {"Model": name, STATUS_COLUMN: RUNNING, **{METRICS[m]: "" for m in PARTIAL_METRICS}}
        for name in names
        if name not in done
    ]
    return pd.DataFrame(shown, columns=["Model", STATUS_COLUMN, *(METRICS[m] for m in PARTIAL_METRICS)]).set_index(
        "Model"
    )


def leaderboard_styler(report: ComparisonReport):
    """Leaderboard with the best model per metric highlighted."""
    shown, best = leaderboard_display(report)
    columns = {METRICS[m]: model for m, model in best.items()}

    def highlight(column: pd.Series) -> list[str]:
        winner = columns.get(column.name)
        return [BEST_CELL if winner is not None and index == winner else "" for index in column.index]

    return shown.style.apply(highlight, axis=0)


def time_figure(report: ComparisonReport) -> go.Figure:
    """Where the time went: fit and predict seconds per fold, per model (log scale)."""
    means = report.result.wide("mean")
    order = list(means.sort_values("fit_seconds").index)
    fig = go.Figure()
    for metric, name, opacity in (("fit_seconds", "fit", 1.0), ("predict_seconds", "predict", 0.55)):
        fig.add_trace(
            go.Bar(
                y=order,
                x=[means.loc[m, metric] * 1000 for m in order],
                name=name,
                orientation="h",
                marker=dict(color=[MODEL_COLORS.get(m) for m in order], opacity=opacity),
                hovertemplate="%{y}: %{x:.2f} ms<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=120 + 34 * len(order),
        legend=LEGEND_BELOW,
        title="Milliseconds per cross-validation fold (log scale)",
    )
    fig.update_xaxes(type="log", title_text="ms per fold")
    return apply_theme(fig)


# ------------------------------------------------------------------ curves from out-of-fold predictions
def _diagonal(name: str, showlegend: bool = True) -> go.Scatter:
    return go.Scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name=name,
        showlegend=showlegend,
        hoverinfo="skip",
        line=dict(color="#b0b0b8", dash="dash", width=1),
    )


def _unit_square(fig: go.Figure, x_title: str, y_title: str, title: str) -> go.Figure:
    fig.update_xaxes(title_text=x_title, range=[0, 1])
    fig.update_yaxes(title_text=y_title, range=[0, 1.01])
    fig.update_layout(title=title, height=520, legend=LEGEND_BELOW)
    return apply_theme(fig)


def roc_figure(report: ComparisonReport) -> go.Figure:
    fig = go.Figure(_diagonal("chance"))
    for model, part in roc_points(report.result).groupby("model", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["fpr"],
                y=part["tpr"],
                mode="lines",
                line=_line(model),
                name=f"{model} (pooled AUC {part['auc'].iloc[0]:.3f})",
                hovertemplate="1 − specificity %{x:.2f}, sensitivity %{y:.2f}<extra>" + model + "</extra>",
            )
        )
    return _unit_square(
        fig,
        "1 − specificity (false-positive rate)",
        "sensitivity (true-positive rate)",
        "ROC curves (out-of-fold predictions, all repeats)",
    )


def calibration_figure(report: ComparisonReport) -> go.Figure:
    fig = go.Figure(_diagonal("perfect calibration"))
    for model, part in calibration_points(report.result).groupby("model", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["predicted"],
                y=part["observed"],
                mode="lines+markers",
                line=_line(model),
                name=model,
                hovertemplate="predicted %{x:.2f}, observed %{y:.2f}<extra>" + model + "</extra>",
            )
        )
    return _unit_square(
        fig,
        "predicted risk (mean in each tenth of patients)",
        "observed share with disease",
        "Calibration (out-of-fold predictions, all repeats)",
    )


# ------------------------------------------------------------------ learning curves
def learning_curve_figure(report: ComparisonReport) -> go.Figure | None:
    table = report.learning_summary()
    if table is None:
        return None
    fig = go.Figure()
    for model, part in table.groupby("model", sort=False):
        color = MODEL_COLORS.get(model)
        fig.add_trace(
            go.Scatter(
                x=part["n_train"],
                y=part["roc_auc"],
                mode="lines+markers",
                name=model,
                line=_line(model),
                error_y=dict(type="data", array=part["roc_auc_std"], color=color, thickness=1, width=4),
                hovertemplate="%{x:.0f} training patients: ROC AUC %{y:.3f}<extra>" + model + "</extra>",
            )
        )
    fig.update_xaxes(title_text="training patients per fold")
    fig.update_yaxes(title_text="ROC AUC on the held-out fold (mean ± sd)")
    fig.update_layout(title="Learning curves: score against training-set size", height=440, legend=LEGEND_BELOW)
    return apply_theme(fig)


# ------------------------------------------------------------------ permutation importance
def importance_heatmap(report: ComparisonReport) -> go.Figure | None:
    summary = report.importance_summary()
    if summary is None:
        return None
    pivot = summary.pivot(index="model", columns="feature", values="mean")
    pivot = pivot.reindex(index=report.result.ranked_models())
    pivot = pivot[pivot.mean().sort_values(ascending=False).index]
    labels = [feature(name).label for name in pivot.columns]
    fig = go.Figure(
        go.Heatmap(
            z=pivot.to_numpy(),
            x=labels,
            y=list(pivot.index),
            colorscale=SEQUENTIAL_SCALE,
            zmin=0,
            text=np.round(pivot.to_numpy(), 3),
            texttemplate="%{text}",
            textfont=dict(size=10),
            colorbar=dict(title=dict(text="ROC AUC<br>lost"), thickness=14),
            hovertemplate="%{y}, %{x}: shuffling costs %{z:.3f} ROC AUC<extra></extra>",
        )
    )
    fig.update_layout(
        title="Permutation importance: ROC AUC lost when one feature is shuffled",
        height=max(360, 200 + 40 * len(pivot.index)),
    )
    fig.update_xaxes(tickangle=-35)
    return apply_theme(fig)


def importance_bars(report: ComparisonReport, model: str) -> go.Figure | None:
    summary = report.importance_summary()
    if summary is None:
        return None
    part = summary[summary["model"] == model].sort_values("mean")
    fig = go.Figure(
        go.Bar(
            x=part["mean"],
            y=[feature(f).label for f in part["feature"]],
            orientation="h",
            error_x=dict(type="data", array=part["std"].fillna(0.0)),
            marker_color=[MODEL_COLORS.get(model) if needed else "#c8c8d0" for needed in part["needed"]],
            hovertemplate="%{y}: %{x:.3f} ± %{error_x.array:.3f}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line=dict(color="#5c5c5c", width=1))
    fig.update_xaxes(title_text="ROC AUC lost when shuffled (mean ± sd over the held-out folds)")
    fig.update_layout(title=f"{model}: which features it needed (grey: not needed)", height=460)
    return apply_theme(fig)


# ------------------------------------------------------------------ external validation
def external_metrics_figure(validation: ExternalValidation) -> go.Figure:
    metrics = validation.metrics
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ROC AUC", "Accuracy"), horizontal_spacing=0.08)
    for model, part in metrics.groupby("model", sort=False):
        for col, metric in ((1, "roc_auc"), (2, "accuracy")):
            fig.add_trace(
                go.Bar(
                    x=[_short_site(s) for s in part["site"]],
                    y=part[metric],
                    name=model,
                    legendgroup=model,
                    showlegend=col == 1,
                    marker_color=MODEL_COLORS.get(model),
                    hovertemplate="%{x}: %{y:.3f}<extra>" + model + "</extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(
        barmode="group",
        height=440,
        legend=LEGEND_BELOW,
        margin=dict(t=90),
        title=f"Trained on {_site(validation.train_site)}, tested at each other site",
    )
    return apply_theme(fig)


def external_calibration_figure(validation: ExternalValidation) -> go.Figure:
    sites = list(dict.fromkeys(validation.metrics["site"]))
    fig = make_subplots(
        rows=1, cols=len(sites), subplot_titles=[_short_site(s) for s in sites], horizontal_spacing=0.05
    )
    for col, site in enumerate(sites, start=1):
        fig.add_trace(_diagonal("perfect calibration", showlegend=False), row=1, col=col)
        part = validation.calibration[validation.calibration["site"] == site]
        for model, curve in part.groupby("model", sort=False):
            fig.add_trace(
                go.Scatter(
                    x=curve["predicted"],
                    y=curve["observed"],
                    mode="lines+markers",
                    name=model,
                    legendgroup=model,
                    showlegend=col == 1,
                    line=_line(model),
                    hovertemplate="predicted %{x:.2f}, observed %{y:.2f}<extra>" + model + "</extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(range=[0, 1], title_text="predicted risk")
    fig.update_yaxes(range=[0, 1.01])
    fig.update_yaxes(title_text="observed share with disease", row=1, col=1)
    fig.update_layout(
        height=440,
        legend={**LEGEND_BELOW, "y": -0.3},
        margin=dict(t=90),
        title="Calibration at each external site (fifths of patients)",
    )
    return apply_theme(fig)


def external_table(validation: ExternalValidation) -> pd.DataFrame:
    table = validation.metrics.copy()
    table["site"] = table["site"].map(_site)
    shown = table[
        [
            "model",
            "site",
            "n",
            "prevalence",
            "mean_predicted",
            "roc_auc",
            "accuracy",
            "brier",
            "calibration_slope",
            "calibration_intercept",
        ]
    ]
    return shown.rename(
        columns={
            "model": "Model",
            "site": "Site",
            "n": "Patients",
            "prevalence": "Prevalence (observed)",
            "mean_predicted": "Mean predicted risk",
            "roc_auc": "ROC AUC",
            "accuracy": "Accuracy",
            "brier": "Brier score",
            "calibration_slope": "Calibration slope",
            "calibration_intercept": "Calibration intercept",
        }
    )


def missing_table(validation: ExternalValidation) -> pd.DataFrame:
    """Feature x site: share missing; features complete everywhere are left out."""
    pivot = validation.missing.pivot(index="feature", columns="site", values="missing_fraction")
    pivot = pivot[pivot.max(axis=1) > 0]
    replaced = validation.missing.drop_duplicates("feature").set_index("feature")["replaced_by"]
    shown = pivot.rename(columns=_short_site).map(lambda v: f"{v:.0%}")
    shown.insert(0, "Replaced by (training value)", replaced.reindex(pivot.index))
    shown.index = [feature(name).label for name in pivot.index]
    return shown
