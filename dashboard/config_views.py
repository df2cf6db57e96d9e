"""Plotly figures for the configuration page: the network's architecture and the activation functions.

Pure figure builders (no widgets): they take an ANNConfig and return a themed go.Figure.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import OUTCOME_COLORS, PRIMARY, apply_theme
from model.nn.config import ACTIVATIONS, ANNConfig
from model.nn.network import activation_curve, layer_sizes, parameter_count

SMALL_LAYER = 12  # up to this many units a layer is drawn neuron by neuron
_BLOCK_ANCHORS = 7  # a wide layer's edge is reached by this many fan lines
_LAYER_COLORS = {"input": "#8d99ae", "hidden": PRIMARY, "output": OUTCOME_COLORS[1]}

ACTIVATION_NOTES = {
    "sigmoid": "squashes to (0, 1); its slope is at most 0.25 and vanishes for large |z| — saturated "
    "units pass almost no gradient back, so deep sigmoid stacks learn slowly.",
    "tanh": "like sigmoid but centred on 0 (range −1…1, slope up to 1); still saturates for large |z|.",
    "relu": "max(0, z): one comparison, cheap to compute, slope exactly 1 for positive inputs so gradients "
    "do not shrink; a unit stuck below 0 stops learning (slope 0).",
    "leaky_relu": "ReLU with a small slope (0.01) for negative inputs, so no unit is ever completely dead.",
    "gelu": "a smooth ReLU (z·Φ(z)) used in transformers; slightly costlier than ReLU.",
    "linear": "f(z) = z: a stack of linear layers is still one linear map (W₂W₁x is just Wx), so without a "
    "non-linearity depth adds nothing and the decision boundary stays a straight line.",
}


def layer_labels(config: ANNConfig, n_inputs: int) -> list[str]:
    """One caption per column of the diagram."""
    labels = [f"Input<br>{n_inputs} values"]
    for i, layer in enumerate(config.hidden_layers, start=1):
        dropout = f"<br>drop {layer.dropout:g}" if layer.dropout else ""
        labels.append(f"Hidden {i}<br>{layer.units} × {layer.activation}{dropout}")
    labels.append("Output<br>1 × sigmoid")
    return labels


def _column_anchors(size: int, height: float) -> np.ndarray:
    """Vertical positions used to connect a column: every neuron, or a few points on a block's edge."""
    count = size if size <= SMALL_LAYER else _BLOCK_ANCHORS
    if count == 1:
        return np.zeros(1)
    half = height / 2
    return np.linspace(-half, half, count)


def architecture_figure(config: ANNConfig, n_inputs: int) -> go.Figure:
    """Neurons and connections for small layers, labelled blocks for wide ones, with the parameter count."""
    sizes = layer_sizes(config, n_inputs)
    kinds = ["input"] + ["hidden"] * len(config.hidden_layers) + ["output"]
    labels = layer_labels(config, n_inputs)
    # Column heights grow with the layer size (log scale so 512 units do not dwarf everything).
    heights = [
        min(1.0, 0.12 * min(size, SMALL_LAYER))
        if size <= SMALL_LAYER
        else min(1.0, 0.6 + 0.08 * np.log2(size / SMALL_LAYER))
        for size in sizes
    ]
    xs = np.arange(len(sizes), dtype=float)

    fig = go.Figure()
    # Connections first so neurons are drawn on top.
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for column in range(len(sizes) - 1):
        left = _column_anchors(sizes[column], heights[column])
        right = _column_anchors(sizes[column + 1], heights[column + 1])
        x0 = xs[column] + (0.12 if sizes[column] > SMALL_LAYER else 0.0)
        x1 = xs[column + 1] - (0.12 if sizes[column + 1] > SMALL_LAYER else 0.0)
        for y0 in left:
            for y1 in right:
                edge_x += [x0, x1, None]
                edge_y += [y0, y1, None]
    fig.add_trace(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            hoverinfo="skip",
            showlegend=False,
            line=dict(color="rgba(90,90,110,0.25)", width=1),
        )
    )

    for column, (size, kind, label) in enumerate(zip(sizes, kinds, labels, strict=True)):
        color = _LAYER_COLORS[kind]
        hover = label.replace("<br>", " · ")
        if size <= SMALL_LAYER:
            ys = _column_anchors(size, heights[column])
            fig.add_trace(
                go.Scatter(
                    x=np.full(size, xs[column]),
                    y=ys,
                    mode="markers",
                    showlegend=False,
                    marker=dict(size=18, color=color, line=dict(color="white", width=1.5)),
                    hovertemplate=hover + "<extra></extra>",
                )
            )
        else:
            half = heights[column] / 2
            fig.add_shape(
                type="rect",
                x0=xs[column] - 0.12,
                x1=xs[column] + 0.12,
                y0=-half,
                y1=half,
                fillcolor=color,
                opacity=0.85,
                line=dict(color="white", width=1.5),
                layer="above",
            )
            fig.add_annotation(
                x=xs[column],
                y=0,
                text=f"<b>{size}</b>",
                showarrow=False,
                textangle=-90,
                font=dict(color="white", size=14),
            )
            fig.add_trace(
                go.Scatter(
                    x=[xs[column]],
                    y=[0],
                    mode="markers",
                    showlegend=False,
                    opacity=0,
                    marker=dict(size=30),
                    hovertemplate=hover + "<extra></extra>",
                )
            )
        fig.add_annotation(x=xs[column], y=-0.62, text=label, showarrow=False, yanchor="top", font=dict(size=12))

    total = parameter_count(config, n_inputs)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    shape = "Single perceptron" if config.is_perceptron else f"{len(config.hidden_layers)} hidden layer(s)"
    title = f"{shape}: <b>{total:,} parameters</b><br><sup>{weights:,} weights + {total - weights:,} biases</sup>"
    fig.update_layout(
        title_text=title,
        height=360,
        hovermode="closest",
        xaxis=dict(visible=False, range=[-0.5, len(sizes) - 0.5]),
        yaxis=dict(visible=False, range=[-0.95, 0.6]),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return apply_theme(fig)


def activation_figure(in_use: set[str] | list[str], z_range: float = 5.0) -> go.Figure:
    """Each activation f(z) and its derivative f'(z); the ones the network uses are coloured."""
    in_use = set(in_use)
    z = np.linspace(-z_range, z_range, 201)
    columns = 3
    rows = int(np.ceil(len(ACTIVATIONS) / columns))
    titles = [f"<b>{name}</b> (in use)" if name in in_use else name for name in ACTIVATIONS]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.06, vertical_spacing=0.16)
    for index, name in enumerate(ACTIVATIONS):
        y, dy = activation_curve(name, z)
        row, col = index // columns + 1, index % columns + 1
        used = name in in_use
        fig.add_trace(
            go.Scatter(
                x=z,
                y=y,
                mode="lines",
                name="f(z)",
                legendgroup="f",
                showlegend=index == 0,
                line=dict(color=PRIMARY if used else "#b8b8c4", width=3 if used else 1.5),
                hovertemplate=f"{name}: f(%{{x:.2f}}) = %{{y:.3f}}<extra></extra>",
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=z,
                y=dy,
                mode="lines",
                name="f′(z) (derivative)",
                legendgroup="df",
                showlegend=index == 0,
                line=dict(color="#e9a03b" if used else "#d0d0d8", width=2.5 if used else 1.2, dash="dash"),
                hovertemplate=f"{name}: f′(%{{x:.2f}}) = %{{y:.3f}}<extra></extra>",
            ),
            row=row,
            col=col,
        )
    fig.update_yaxes(range=[-1.6, 2.6])
    fig.update_layout(
        height=260 * rows + 40,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.08, yanchor="top", x=0, xanchor="left"),
    )
    return apply_theme(fig)
