"""Figures and words of the hyper-parameter search section: trial scores with the best so far, and
parameter importances. Plain data in (trial records, an importance dict), Plotly figures out; the
search itself is model.evaluation.search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.charts import PRIMARY, apply_theme

# The objectives model.evaluation.search offers, in words (a test checks the keys against its OBJECTIVES;
# importing it here would load torch, scikit-learn and Optuna before anyone asks for a search).
OBJECTIVE_CHOICES = {"roc_auc": "ROC AUC (higher is better)", "brier": "Brier score (lower is better)"}
OBJECTIVE_NAMES = {"roc_auc": "ROC AUC", "brier": "Brier score"}
MAXIMIZED = {"roc_auc": True, "brier": False}

PARAM_LABELS = {
    "n_layers": "Hidden layers",
    "activation": "Activation",
    "dropout": "Dropout",
    "optimizer": "Optimizer",
    "learning_rate": "Learning rate",
    "weight_decay": "Weight decay",
    "batch_size": "Batch size",
    "epochs": "Epochs",
}
PRUNED_COLOR = "#9a9aa6"
BEST_COLOR = "#e9a03b"


def param_label(name: str) -> str:
    """'units_0' -> 'Units in layer 1'; the other Optuna parameter names -> words."""
    units = re.fullmatch(r"units_(\d+)", name)
    if units:
        return f"Units in layer {int(units.group(1)) + 1}"
    return PARAM_LABELS.get(name, name.replace("_", " ").capitalize())


def best_so_far(values: Sequence[float], maximize: bool) -> list[float]:
    """The running best of `values` (NaN for a trial without a score keeps the previous best)."""
    running: list[float] = []
    best = math.nan
    for value in values:
        if not math.isnan(value) and (math.isnan(best) or (value > best if maximize else value < best)):
            best = value
        running.append(best)
    return running


def trials_figure(records: Sequence[dict], objective: str, height: int = 340) -> go.Figure:
    """Each trial's cross-validated score over its number: completed trials as dots, pruned ones (their running
    mean when stopped) as hollow grey dots, and the best completed score so far as a step line."""
    name = OBJECTIVE_NAMES[objective]
    complete = [r for r in records if r["state"] == "COMPLETE" and r["value"] is not None]
    pruned = [r for r in records if r["state"] == "PRUNED" and r["value"] is not None]
    fig = go.Figure()
    if complete:
        ordered = sorted(complete, key=lambda r: r["number"])
        numbers = [r["number"] for r in ordered]
        running = best_so_far([r["value"] for r in ordered], MAXIMIZED[objective])
        last = max(r["number"] for r in records)
        fig.add_trace(
            go.Scatter(
                x=[*numbers, last] if last > numbers[-1] else numbers,
                y=[*running, running[-1]] if last > numbers[-1] else running,
                mode="lines",
                line=dict(shape="hv", color=BEST_COLOR, width=3),
                name="Best so far",
                hovertemplate="best so far after trial %{x}: %{y:.4f}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=numbers,
                y=[r["value"] for r in ordered],
                mode="markers",
                marker=dict(color=PRIMARY, size=9),
                name="Trial (all folds)",
                hovertemplate=f"trial %{{x}}: {name} %{{y:.4f}}<extra></extra>",
            )
        )
    if pruned:
        fig.add_trace(
            go.Scatter(
                x=[r["number"] for r in pruned],
                y=[r["value"] for r in pruned],
                mode="markers",
                marker=dict(color="rgba(0,0,0,0)", size=9, line=dict(color=PRUNED_COLOR, width=2)),
                name="Pruned (stopped early)",
                hovertemplate=f"trial %{{x}} pruned: {name} %{{y:.4f}} on the folds it ran<extra></extra>",
            )
        )
    direction = "higher is better" if MAXIMIZED[objective] else "lower is better"
    fig.update_layout(
        xaxis_title="Trial number",
        yaxis_title=f"Cross-validated {name}",
        title_text=f"{name} per trial ({direction})",
        showlegend=True,
        # Below the plot: at a phone's width a legend beside the title would overlap it.
        legend=dict(orientation="h", yanchor="top", y=-0.28, xanchor="left", x=0.0),
    )
    last_number = max((r["number"] for r in records), default=0)
    # Whole trial numbers, with half a trial of room each side so the first and last dots are not cut.
    fig.update_xaxes(range=[-0.5, last_number + 0.5], tick0=0, dtick=max(1, math.ceil((last_number + 1) / 10)))
    return apply_theme(fig, height=height)


def importance_figure(importances: dict[str, float], height: int | None = None) -> go.Figure:
    """Horizontal bars, most important on top (Optuna's fANOVA importances sum to 1)."""
    ordered = sorted(importances.items(), key=lambda item: item[1])
    fig = go.Figure(
        go.Bar(
            x=[value for _, value in ordered],
            y=[param_label(name) for name, _ in ordered],
            orientation="h",
            marker_color=PRIMARY,
            text=[f"{value:.0%}" for _, value in ordered],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1%} of the explained variation<extra></extra>",
        )
    )
    fig.update_layout(
        title_text="Which settings mattered",
        xaxis_title="Share of score variation (fANOVA)",
        xaxis_tickformat=".0%",
        showlegend=False,
    )
    fig.update_xaxes(range=[0, min(1.0, max(importances.values(), default=1.0) * 1.25)])
    return apply_theme(fig, height=height or 120 + 28 * len(ordered))


def format_score(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
