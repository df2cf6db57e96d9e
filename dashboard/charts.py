"""One look for every Plotly chart in the app.

Pages build figures however they like (plotly.express or graph_objects), then call
`apply_theme(fig)` (or `show(fig)`, which also draws it). Outcome colours are fixed so
"disease" is the same red on every page.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from model.data.schema import TARGET

TEMPLATE = "heart"

OUTCOME_COLORS: dict[int, str] = {0: "#2a9d8f", 1: "#d1495b"}  # no disease: teal-green; disease: red
OUTCOME_LABELS: dict[int, str] = dict(TARGET.categories)
# For plotly.express `color_discrete_map` when the colour column holds the clinical labels.
OUTCOME_COLOR_MAP: dict[str, str] = {OUTCOME_LABELS[code]: color for code, color in OUTCOME_COLORS.items()}
OUTCOME_ORDER: list[str] = [OUTCOME_LABELS[code] for code in sorted(OUTCOME_LABELS)]

PRIMARY = "#3a6ea5"
DIVERGING_SCALE = "RdBu_r"  # correlations: symmetric around 0
SEQUENTIAL_SCALE = "Blues"
QUALITATIVE = ["#3a6ea5", "#e9a03b", "#6a4c93", "#8ab17d", "#5c5c5c", "#c36f9b", "#2f9bb3", "#b5651d"]
FONT_FAMILY = "'Source Sans', 'Source Sans Pro', Helvetica, Arial, sans-serif"  # Streamlit's own font first


def _register_template() -> None:
    pio.templates[TEMPLATE] = go.layout.Template(
        layout=go.Layout(
            font=dict(family=FONT_FAMILY, size=13, color="#262730"),
            colorway=QUALITATIVE,
            paper_bgcolor="rgba(0,0,0,0)",
            plot_bgcolor="#ffffff",
            margin=dict(l=10, r=10, t=50, b=10),
            title=dict(font=dict(size=16), x=0.0, xanchor="left"),
            legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0, title_text=""),
            xaxis=dict(gridcolor="#e8e8ee", zerolinecolor="#c8c8d0", linecolor="#c8c8d0", automargin=True),
            yaxis=dict(gridcolor="#e8e8ee", zerolinecolor="#c8c8d0", linecolor="#c8c8d0", automargin=True),
            hoverlabel=dict(font=dict(family=FONT_FAMILY)),
        )
    )


_register_template()


def apply_theme(fig: go.Figure, *, height: int | None = None, title: str | None = None) -> go.Figure:
    """Give `fig` the app's look (in place) and return it."""
    fig.update_layout(template=TEMPLATE)
    if height is not None:
        fig.update_layout(height=height)
    if title is not None:
        fig.update_layout(title_text=title)
    return fig


def show(fig: go.Figure, *, key: str | None = None, height: int | None = None) -> None:
    """Theme and draw a figure at full width. theme=None keeps our template instead of Streamlit's."""
    import streamlit as st

    apply_theme(fig, height=height)
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})
