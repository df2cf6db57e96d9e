"""Plotly figures for the training page: learning curves, backprop made visible, the decision
boundary, and the evaluation of a finished run.

Pure figure builders: they read a TrainingRun's recorded events / snapshots (or the
curves computed in model/evaluation/thresholds.py) and return themed figures. No widgets here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import OUTCOME_COLORS, OUTCOME_LABELS, QUALITATIVE, apply_theme
from model.data.projection import PatientProjection
from model.evaluation.cross_validation import METRICS
from model.evaluation.thresholds import Curve, OperatingPoint
from model.nn.training import EpochEvent
from model.serving.runs import Snapshot, TrainingRun, config_summary

TRAIN_STYLE = dict(dash="solid")
VALIDATION_STYLE = dict(dash="dot")
# Background of the boundary plot: healthy green at P=0, white at 0.5, disease red at P=1.
PROBABILITY_SCALE = [[0.0, OUTCOME_COLORS[0]], [0.5, "#f7f7f7"], [1.0, OUTCOME_COLORS[1]]]
RESULT_METRICS = ("accuracy", "roc_auc", "pr_auc", "sensitivity", "specificity", "brier")
# Under the plot area, so it never covers the subplot titles.
LEGEND_BELOW = dict(orientation="h", y=-0.25, yanchor="top", x=0, xanchor="left")


MAX_CURVE_POINTS = 500  # per trace: a 5,000-epoch run is thinned so each redraw stays light


def thinned(events: list[EpochEvent], max_points: int = MAX_CURVE_POINTS) -> list[EpochEvent]:
    """Every k-th epoch (always keeping the last) so a curve has at most about max_points points."""
    if len(events) <= max_points:
        return events
    step = -(-len(events) // max_points)
    kept = events[::step]
    return kept if kept[-1] is events[-1] else kept + [events[-1]]


def _column(events: list[EpochEvent], name: str) -> list:
    return [getattr(event, name) for event in events]


def learning_curves_figure(events: list[EpochEvent], best_epoch: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch, training (solid) and validation (dotted)."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Loss (binary cross-entropy)", "Accuracy"), horizontal_spacing=0.08
    )
    events = thinned(events)
    epochs = _column(events, "epoch")
    for col, metric in ((1, "loss"), (2, "acc")):
        for part, label, color, style in (
            ("train", "training", QUALITATIVE[0], TRAIN_STYLE),
            ("val", "validation", QUALITATIVE[1], VALIDATION_STYLE),
        ):
            values = _column(events, f"{part}_{metric}")
            if not any(v is not None for v in values):
                continue
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=values,
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    line=dict(color=color, width=2.2, **style),
                ),
                row=1,
                col=col,
            )
    if best_epoch:
        fig.add_vline(
            x=best_epoch,
            line=dict(color="#5c5c5c", dash="dash", width=1),
            annotation_text=f"best epoch {best_epoch}",
            annotation_position="top left",
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=360, legend=LEGEND_BELOW)
    return apply_theme(fig)


def gradient_norms_figure(events: list[EpochEvent]) -> go.Figure:
    """‖∂loss/∂(W, b)‖ per layer over the epochs: how much of the error signal reaches each layer."""
    fig = go.Figure()
    events = thinned(events)
    if events:
        epochs = _column(events, "epoch")
        for index, layer in enumerate(events[-1].grad_norms):
            values = [max(event.grad_norms.get(layer, math.nan), 1e-12) for event in events]
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=values,
                    mode="lines",
                    name=layer,
                    line=dict(color=QUALITATIVE[index % len(QUALITATIVE)], width=2),
                )
            )
    fig.update_layout(
        title_text="Gradient norm per layer (backpropagation)",
        height=360,
        legend=LEGEND_BELOW,
        xaxis_title="epoch",
        yaxis=dict(type="log", title="‖gradient‖ (log scale)", exponentformat="power"),
    )
    return apply_theme(fig)


def weight_histograms_figure(snapshot: Snapshot | None) -> go.Figure:
    """Distribution of each layer's weights at the latest snapshot."""
    layers = list(snapshot.weights) if snapshot else []
    columns = max(1, min(len(layers), 4))
    rows = max(1, math.ceil(len(layers) / columns))
    fig = make_subplots(
        rows=rows, cols=columns, subplot_titles=layers or None, horizontal_spacing=0.05, vertical_spacing=0.18
    )
    for index, layer in enumerate(layers):
        fig.add_trace(
            go.Histogram(
                x=snapshot.weights[layer],
                nbinsx=40,
                name=layer,
                showlegend=False,
                marker_color=QUALITATIVE[index % len(QUALITATIVE)],
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    epoch = f" after epoch {snapshot.epoch}" if snapshot else ""
    fig.update_layout(title_text=f"Weights per layer{epoch}", height=230 * rows + 70, bargap=0.05)
    return apply_theme(fig)


def decision_boundary_figure(
    projection: PatientProjection | None,
    grid_xs: np.ndarray | None,
    grid_ys: np.ndarray | None,
    snapshot: Snapshot | None,
) -> go.Figure:
    """Patients on the 2-D PCA plane (colour = true outcome), background = the network's P(disease)."""
    fig = go.Figure()
    if projection is None:
        return apply_theme(fig.update_layout(title_text="Decision boundary (preparing…)", height=460))
    if snapshot is not None:
        fig.add_trace(
            go.Heatmap(
                x=grid_xs,
                y=grid_ys,
                z=snapshot.probability,
                zmin=0,
                zmax=1,
                colorscale=PROBABILITY_SCALE,
                opacity=0.75,
                zsmooth="fast",
                colorbar=dict(title="P(disease)", thickness=12, len=0.8),
                hovertemplate="P(disease) = %{z:.2f}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Contour(
                x=grid_xs,
                y=grid_ys,
                z=snapshot.probability,
                showscale=False,
                contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                line=dict(color="#262730", width=2),
                hoverinfo="skip",
                name="P = 0.5",
            )
        )
    for outcome in (0, 1):
        for held_out, symbol, suffix in ((False, "circle", "training"), (True, "diamond", "validation")):
            mask = (projection.outcome == outcome) & (projection.is_validation == held_out)
            if not mask.any():
                continue
            fig.add_trace(
                go.Scatter(
                    x=projection.points[mask, 0],
                    y=projection.points[mask, 1],
                    mode="markers",
                    name=f"{OUTCOME_LABELS[outcome]} ({suffix})",
                    marker=dict(
                        color=OUTCOME_COLORS[outcome],
                        symbol=symbol,
                        size=7 if held_out else 6,
                        line=dict(color="white" if not held_out else "#262730", width=1),
                    ),
                    hovertemplate=f"{OUTCOME_LABELS[outcome]} ({suffix})<extra></extra>",
                )
            )
    x_label, y_label = projection.axis_labels()
    epoch = f" after epoch {snapshot.epoch}" if snapshot else ""
    fig.update_layout(
        title_text=f"Decision boundary on the 2-D PCA projection{epoch}",
        height=460,
        xaxis_title=x_label,
        yaxis_title=y_label,
        legend=dict(LEGEND_BELOW, y=-0.18),
    )
    return apply_theme(fig)


def run_boundary_figure(run: TrainingRun) -> go.Figure:
    grid = run.grid
    return decision_boundary_figure(
        run.projection, grid.xs if grid else None, grid.ys if grid else None, run.latest_snapshot
    )


def confusion_matrix_figure(point: OperatingPoint) -> go.Figure:
    matrix = point.matrix()
    labels = [OUTCOME_LABELS[0], OUTCOME_LABELS[1]]
    text = [
        [f"{matrix[i, j]}<br>{name}" for j, name in enumerate(names)]
        for i, names in enumerate((("true negative", "false positive"), ("false negative", "true positive")))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[f"predicted {label.lower()}" for label in labels],
            y=[f"truly {label.lower()}" for label in labels],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        title_text=f"Confusion matrix at threshold {point.threshold:.2f}", height=330, yaxis=dict(autorange="reversed")
    )
    return apply_theme(fig)


def evaluation_curves_figure(
    roc: Curve, pr: Curve, calibration: Curve, prevalence: float, threshold_point: tuple[float, float] | None = None
) -> go.Figure:
    """ROC, precision–recall and calibration side by side (validation split)."""
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.08,
        subplot_titles=(f"ROC (AUC {roc.area:.3f})", f"Precision–recall (AP {pr.area:.3f})", "Calibration"),
    )
    diagonal = dict(color="#9a9aa6", dash="dash", width=1)
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=diagonal, showlegend=False, hoverinfo="skip"), row=1, col=1
    )
    fig.add_trace(
        go.Scatter(
            x=roc.x,
            y=roc.y,
            mode="lines",
            line=dict(color=QUALITATIVE[0], width=2.5),
            showlegend=False,
            hovertemplate="1 − specificity %{x:.2f}, sensitivity %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if threshold_point is not None:
        fig.add_trace(
            go.Scatter(
                x=[threshold_point[0]],
                y=[threshold_point[1]],
                mode="markers",
                marker=dict(size=11, color=OUTCOME_COLORS[1]),
                name="chosen threshold",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[prevalence, prevalence], mode="lines", line=diagonal, showlegend=False, hoverinfo="skip"
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=pr.x,
            y=pr.y,
            mode="lines",
            line=dict(color=QUALITATIVE[0], width=2.5),
            showlegend=False,
            hovertemplate="recall %{x:.2f}, precision %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=diagonal, showlegend=False, hoverinfo="skip"), row=1, col=3
    )
    fig.add_trace(
        go.Scatter(
            x=calibration.x,
            y=calibration.y,
            mode="lines+markers",
            line=dict(color=QUALITATIVE[0], width=2.5),
            showlegend=False,
            hovertemplate="predicted %{x:.2f}, observed %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=3,
    )
    for col, (x_title, y_title) in enumerate(
        (
            ("1 − specificity", "sensitivity"),
            ("recall", "precision"),
            ("mean predicted P(disease)", "observed share with disease"),
        ),
        start=1,
    ):
        fig.update_xaxes(title_text=x_title, range=[0, 1], row=1, col=col)
        fig.update_yaxes(title_text=y_title, range=[0, 1.02], row=1, col=col)
    fig.update_layout(height=380, legend=LEGEND_BELOW)
    return apply_theme(fig)


def threshold_figure(curve: dict[str, np.ndarray], threshold: float) -> go.Figure:
    """Sensitivity and specificity as the threshold moves; the chosen threshold marked."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=curve["threshold"],
            y=curve["sensitivity"],
            mode="lines",
            name="sensitivity",
            line=dict(color=OUTCOME_COLORS[1], width=2.5),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=curve["threshold"],
            y=curve["specificity"],
            mode="lines",
            name="specificity",
            line=dict(color=OUTCOME_COLORS[0], width=2.5),
        )
    )
    fig.add_vline(x=threshold, line=dict(color="#262730", dash="dash", width=1.5))
    fig.update_layout(
        title_text="Sensitivity and specificity by threshold",
        height=360,
        legend=LEGEND_BELOW,
        xaxis=dict(title="threshold on P(disease)", range=[0, 1]),
        yaxis=dict(title="rate", range=[0, 1.02]),
    )
    return apply_theme(fig)


def runs_overlay_figure(runs: list[TrainingRun]) -> go.Figure:
    """Validation loss (solid) and training loss (dotted) of every run of the session, overlaid."""
    fig = go.Figure()
    for index, run in enumerate(runs):
        events = thinned(run.events())
        if not events:
            continue
        color = QUALITATIVE[index % len(QUALITATIVE)]
        epochs = _column(events, "epoch")
        label = run.name  # short: the table under the chart gives each run's settings
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=_column(events, "val_loss"),
                mode="lines",
                name=label,
                legendgroup=run.name,
                line=dict(color=color, width=2.2),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=_column(events, "train_loss"),
                mode="lines",
                showlegend=False,
                legendgroup=run.name,
                name=f"{run.name} (training)",
                line=dict(color=color, width=1.2, dash="dot"),
            )
        )
    fig.update_layout(
        title_text="Runs of this session: validation loss (solid), training loss (dotted)",
        height=460,
        xaxis_title="epoch",
        yaxis_title="loss",
        # Below the plot area and horizontal: ten runs take two short rows, never the axes' room.
        legend=dict(orientation="h", y=-0.18, yanchor="top", x=0, xanchor="left"),
    )
    return apply_theme(fig)


def runs_table(runs: list[TrainingRun]) -> pd.DataFrame:
    """One row per run: configuration, how it ended, final validation metrics."""
    rows = []
    for run in runs:
        row = {
            "run": run.name,
            "configuration": config_summary(run.config),
            "data": run.dataset_name,
            "status": run.status.value,
            "epochs": run.epochs_done,
            "seconds": round(run.elapsed, 1),
        }
        for metric in RESULT_METRICS:
            value = run.metrics.get(metric)
            row[METRICS[metric]] = None if value is None or math.isnan(value) else round(float(value), 3)
        rows.append(row)
    return pd.DataFrame(rows)
