"""The model card on the Patient risk page: its sections, the decision curve, the subgroup table, TRIPOD+AI.

The card (model.clinic.model_card.build_model_card) says everything in words; this module draws the parts that read
better as a chart or a table. The decision curve and the subgroup forest plot are the Compare page's own builders
(dashboard.compare_decision_views) over the stored, cross-validated summary. Pure builders first (testable without
Streamlit), then render_model_card. Narrow tables and bulleted pairs keep the card readable at phone width.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import compare_decision_views as compare
from dashboard.charts import show
from model.clinic.model_card import (
    DECISION_TITLE,
    SUBGROUPS_TITLE,
    TRIPOD_TITLE,
    ModelCard,
    section_markdown,
    subgroup_label,
)
from model.clinic.tripod import KNOWN, TripodItem, checklist_summary
from model.evaluation.subgroups import TOO_SMALL
from model.evaluation.validation_summary import ValidationSummary

CARD_FIGURE_HEIGHT = 440  # the Compare page's 520 leaves little of a phone screen for the words around it
# Short headers: four columns must fit a phone's width (the caption under the table spells them out).
SUBGROUP_COLUMNS = ("Subgroup", "n (disease)", "AUC [95 %]", "O/E [95 %]")


# ------------------------------------------------------------------ pure builders
def card_decision_figure(summary: ValidationSummary) -> go.Figure:
    """The stored decision curve as the Compare page draws it (mean over repeats, the repeats' range, treat all and
    treat none), with a shorter title for a narrow screen."""
    fig = compare.decision_curve_figure(summary.curve, summary.prevalence, summary.model)
    fig.update_layout(title="Net benefit, cross-validated", height=CARD_FIGURE_HEIGHT)
    return fig


def card_subgroup_frame(summary: ValidationSummary) -> pd.DataFrame:
    """Four narrow columns: subgroup, patients (with disease), ROC AUC and observed / expected with intervals;
    a subgroup too small to judge says so in its AUC cell (the Compare page's table words it the same way)."""
    shown = compare.subgroup_display(summary.subgroup_table())
    return pd.DataFrame(
        {
            SUBGROUP_COLUMNS[0]: [subgroup_label(row) for row in summary.subgroups],
            SUBGROUP_COLUMNS[1]: [f"{row.n:,} ({row.events:,})" for row in summary.subgroups],
            SUBGROUP_COLUMNS[2]: shown[compare.SUBGROUP_COLUMNS["auc"]].tolist(),
            SUBGROUP_COLUMNS[3]: shown[compare.SUBGROUP_COLUMNS["oe"]].tolist(),
        }
    )


def card_subgroup_styles(summary: ValidationSummary) -> list[list[str]]:
    """CSS per cell of card_subgroup_frame: rows too small to judge greyed and italic, as on the Compare page."""
    return [[compare.TOO_SMALL_ROW if row.too_small else ""] * len(SUBGROUP_COLUMNS) for row in summary.subgroups]


def card_subgroup_styler(summary: ValidationSummary):
    frame = card_subgroup_frame(summary)
    styles = pd.DataFrame(card_subgroup_styles(summary), index=frame.index, columns=frame.columns)
    return frame.style.apply(lambda _: styles, axis=None)


def pairs_markdown(rows: Sequence[tuple[str, str]]) -> str:
    """(label, value) rows as a bulleted list ("- **label**: value"): wraps on a phone where a table would scroll."""
    return "\n".join(f"- **{label}**: {value}" for label, value in rows)


def _without_brackets(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def tripod_markdown(items: Sequence[TripodItem]) -> str:
    """One bullet per TRIPOD+AI item; the answers the app cannot give are greyed so the known ones stand out."""
    lines = []
    for item in items:
        # Square brackets would end the :gray[...] directive early (a recorded list in a "why not" text).
        answer = item.answer() if item.status == KNOWN else f":gray[{_without_brackets(item.answer())}]"
        lines.append(f"- **{item.item} {item.topic}**: {answer}")
    return "\n".join(lines)


def _rows_except(rows, *labels: str) -> list[tuple[str, str]]:
    return [(label, value) for label, value in rows if label not in labels]


def _row(rows, label: str) -> str | None:
    return next((value for name, value in rows if name == label), None)


# ------------------------------------------------------------------ drawing
def _render_decision(card: ModelCard, summary: ValidationSummary) -> None:
    rows = card.decision_section()
    st.markdown(f"**{DECISION_TITLE}**")
    show(card_decision_figure(summary), key="model_card.decision_curve")
    st.markdown(pairs_markdown(_rows_except(rows, "How to read it", "How computed", "Caution")))
    if caution := _row(rows, "Caution"):
        st.warning(caution, icon=":material/warning:")
    with st.expander("How to read it, and how it was computed"):
        st.markdown(
            pairs_markdown([(label, value) for label, value in rows if label in ("How to read it", "How computed")])
        )


def _render_subgroups(card: ModelCard, summary: ValidationSummary) -> None:
    rows = card.subgroups_section()
    st.markdown(f"**{SUBGROUPS_TITLE}**")
    if not summary.subgroups:
        st.markdown("No subgroups were recorded.")
        return
    st.dataframe(card_subgroup_styler(summary), hide_index=True, width="stretch")
    st.caption(
        "n (disease): patients in the subgroup (with disease). AUC: ROC AUC with its 95 % interval. O/E: observed "
        "over expected cases (1 = as many as predicted) with its 95 % interval."
    )
    if any(row.too_small for row in summary.subgroups):
        st.caption(f"Greyed rows are {TOO_SMALL}: too few patients, or too few with or without disease.")
    if caution := _row(rows, "Caution"):
        st.warning(caution, icon=":material/warning:")
    show(compare.subgroup_forest_figure(summary.subgroup_table(), summary.model), key="model_card.subgroup_forest")
    with st.expander("How the subgroups were computed"):
        st.markdown(_row(rows, "How computed") or "")


def render_model_card(card: ModelCard) -> None:
    """The whole card: each section in words, the decision curve and the subgroups as a chart and a table when the
    model's cross-validated summary was recorded, the TRIPOD+AI checklist in an expander, then the disclaimer."""
    st.markdown(f"**{card.name}**")
    summary = card.validation_summary
    for title, body in card.sections():
        if title == DECISION_TITLE and summary is not None:
            _render_decision(card, summary)
        elif title == SUBGROUPS_TITLE and summary is not None:
            _render_subgroups(card, summary)
        elif title == TRIPOD_TITLE:
            with st.expander(f"{TRIPOD_TITLE} (Collins et al., BMJ 2024): {checklist_summary(card.tripod)}"):
                st.markdown(tripod_markdown(card.tripod))
        else:
            st.markdown("\n".join(section_markdown(title, body)))
    st.caption(card.disclaimer)
