"""Presentation for the patient-risk page: Plotly figures and the result / batch / what-if sections.

Computation happens in model/clinic (risk.py, batch_scoring.py, explain.py, report.py,
model_card.py); this module only draws. Figures are pure functions of model
results (testable without Streamlit); ``render_*`` functions draw into the page.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard.charts import OUTCOME_COLORS, PRIMARY, apply_theme, show
from dashboard.icon_array import icon_array_for, icon_array_html, icon_array_text
from dashboard.predict_form import chol_key, value_widget, whole_mgdl
from model.clinic.batch_scoring import BatchError, BatchResult, read_batch_csv, score_batch
from model.clinic.cholesterol_units import CHOLESTEROL_MGDL_PER_MMOL
from model.clinic.crude_association import (
    ASSOCIATION_NOTE,
    CLEAR_Z,
    N_BINS,
    SMALL_GROUP,
    CrudeAssociation,
    crude_associations,
    disagrees,
    unavailable_reason,
)
from model.clinic.explain import Explainer, Explanation
from model.clinic.interval import NoIntervalReason
from model.clinic.model_card import ModelCard
from model.clinic.patient_checks import PatientCheck, PatientError, format_value
from model.clinic.reference import TrainingReference, reference_for_model
from model.clinic.report import MAX_FIELD_LENGTH, ReportFieldError, clean_report_field, patient_report_html
from model.clinic.risk import RiskResult, WhatIf, population_risks, what_if
from model.clinic.risk_bands import BAND_RATIONALE, RISK_BANDS
from model.data.coding_choice import read_candidates
from model.data.import_report import CODING_NAMES
from model.data.schema import FEATURE_NAMES, FEATURES, feature

logger = logging.getLogger(__name__)

KEY_CACHE = "predict.cache"  # {(model id, dataset token): (Explainer, population risks, reference)}
KEY_WHATIF_FEATURE = "predict.whatif.feature"
WHATIF_PREFIX = "predict.whatif."
KEY_BATCH_FILE = "predict.batch.file"
KEY_BATCH_RESULT = "predict.batch.result"  # (file digest, model id, coding, BatchResult or error text, report md)
KEY_BATCH_CODING = "predict.batch.coding"  # (file digest, coding the user chose) for a file that fits two codings
KEY_BATCH_CANDIDATES = "predict.batch.candidates"  # (file digest, the file's readings in each coding it fits)
MAX_CACHED_MODELS = 4
BAND_COLORS = ("#e3f2ee", "#fbf3dc", "#fbe3d2", "#f6d3d7")  # light fills, low → high
RAISES, LOWERS = OUTCOME_COLORS[1], OUTCOME_COLORS[0]
NEUTRAL = "#9aa5b1"  # the "not given" row: no direction, it credits no feature


# ---- figures ---------------------------------------------------------------------------


def risk_figure(risk: RiskResult) -> go.Figure:
    """The probability on a 0–100 % strip coloured by risk band, with the uncertainty interval."""
    fig = go.Figure()
    for band, color in zip(RISK_BANDS, BAND_COLORS, strict=True):
        fig.add_vrect(
            x0=100 * band.lower,
            x1=100 * band.upper,
            fillcolor=color,
            line_width=0,
            layer="below",
            annotation_text=f"{band.name}<br>{band.range_text}",
            annotation_position="top",
            annotation_font_size=11,
        )
    error = None
    lower, upper = risk.interval.lower, risk.interval.upper
    if lower is not None and upper is not None:  # the interval is available
        error = dict(
            type="data",
            symmetric=False,
            array=[100 * (upper - risk.probability)],
            arrayminus=[100 * (risk.probability - lower)],
            thickness=2,
            width=10,
            color="#262730",
        )
    fig.add_trace(
        go.Scatter(
            x=[risk.percent],
            y=[0],
            mode="markers+text",
            error_x=error,
            marker=dict(
                size=18, color=RAISES if risk.probability >= 0.5 else PRIMARY, line=dict(width=2, color="white")
            ),
            text=[f"{risk.percent:.0f} %"],
            textposition="bottom center",
            textfont=dict(size=16),
            hovertemplate="%{x:.1f} %<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_xaxes(range=[0, 100], ticksuffix=" %", title_text="Estimated probability of heart disease")
    fig.update_yaxes(visible=False, range=[-1, 1])
    return apply_theme(fig, height=220)


CONTRIBUTION_ROW_PX = 46  # a bar and the label above it: readable at phone width, compact at desktop width
CONTRIBUTION_BAR_WIDTH = 0.42  # of a row: leaves the upper part of the row for the label


def contribution_label(label: str, value: str, neutral: bool, n_unknown: int) -> str:
    """The text above one bar. The neutral row stays short, for a phone (the caption names the values)."""
    if neutral:
        return f"Not given ({n_unknown} values), averaged" if n_unknown > 1 else f"{label}, averaged"
    return f"{label}: {value}"


def contributions_figure(explanation: Explanation) -> go.Figure:
    """One bar per given feature, largest on top: red raises the risk, green lowers it. Features not given
    share one grey row at the bottom (what averaging over their plausible values adds), credited to none.

    Each bar's label sits above it, left-aligned across the full width, rather than in the y-axis margin:
    at phone width (390 px) "Thallium stress test: Reversible defect" in the margin left no room for bars."""
    table = explanation.table()
    points = 100 * table["contribution"].to_numpy(dtype=float)
    neutral = table["neutral"].to_numpy(dtype=bool)
    labels = [
        contribution_label(label, value, grey, len(explanation.unknown))
        for label, value, grey in zip(table["label"], table["value"], neutral, strict=True)
    ]
    rows = list(range(len(table)))  # 0 is the largest, drawn on top (the y axis is reversed)
    fig = go.Figure(
        go.Bar(
            x=points,
            y=rows,
            orientation="h",
            width=CONTRIBUTION_BAR_WIDTH,
            customdata=list(table["label"]),
            hovertext=labels,
            marker_color=[
                NEUTRAL if grey else RAISES if v >= 0 else LOWERS for v, grey in zip(points, neutral, strict=True)
            ],
            text=[f"{v:+.1f}" for v in points],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{hovertext}<br>%{x:+.2f} percentage points<extra>%{customdata}</extra>",
        )
    )
    for row, text in zip(rows, labels, strict=True):
        fig.add_annotation(
            x=0,
            xref="paper",
            xanchor="left",
            y=row - CONTRIBUTION_BAR_WIDTH / 2,
            yref="y",
            yanchor="bottom",
            text=text,
            yshift=3,  # a gap between the label and its bar
            bgcolor="rgba(255,255,255,0.85)",  # the zero line and gridlines pass behind the text, not through it
            showarrow=False,
            font=dict(size=13),
        )
    low, high = min(float(points.min()), 0.0), max(float(points.max()), 0.0)
    pad = 0.15 * (high - low) + 0.5  # room for the value labels outside the bars
    fig.update_xaxes(
        title_text="Change in risk (percentage points)",
        zeroline=True,
        zerolinewidth=2,
        range=[low - pad, high + pad],
    )
    fig.update_yaxes(visible=False, autorange=False, range=[len(table) - 1 + CONTRIBUTION_BAR_WIDTH / 2 + 0.1, -0.9])
    fig.update_layout(margin=dict(l=10, r=10, t=34, b=10), bargap=0)  # t: room for Plotly's toolbar
    return apply_theme(fig, height=70 + CONTRIBUTION_ROW_PX * len(table))


def population_figure(risks: np.ndarray, probability: float, percentile: float, population: str) -> go.Figure:
    fig = go.Figure(
        go.Histogram(
            x=100 * np.asarray(risks),
            xbins=dict(start=0, end=100, size=5),
            marker_color=PRIMARY,
            opacity=0.75,
            name=population,
            hovertemplate="%{x} %: %{y} patients<extra></extra>",
        )
    )
    fig.add_vline(
        x=100 * probability,
        line_width=3,
        line_color=RAISES,
        annotation_text=f"this patient: {100 * probability:.0f} %",
        annotation_position="top left" if probability > 0.5 else "top right",
    )
    fig.update_xaxes(range=[0, 100], ticksuffix=" %", title_text="Estimated probability of heart disease")
    fig.update_yaxes(title_text="Patients")
    return apply_theme(fig, height=300, title=f"Risk of every patient in {population}")


def what_if_figure(change: WhatIf) -> go.Figure:
    feat = feature(change.feature)
    labels = [f"Now<br>{format_value(feat, change.old_value)}", f"What if<br>{format_value(feat, change.new_value)}"]
    values = [100 * change.old_probability, 100 * change.new_probability]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=["#9aa5b1", RAISES if change.change > 0 else LOWERS],
            text=[f"{v:.0f} %" for v in values],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_yaxes(range=[0, 105], ticksuffix=" %", title_text="Risk")
    return apply_theme(fig, height=300, title=f"Changing {feat.label.lower()}")


# ---- cached per (model, reference data) -----------------------------------------------


def model_support(model, frame, dataset_name: str):
    """(Explainer, population risks, TrainingReference) for the active model and the dataset in use, built once
    per session. The training reference is the model's own training data where known (model/clinic/reference.py)."""
    pipeline = model.pipeline
    token = (id(pipeline), dataset_name, len(frame))
    cache = st.session_state.setdefault(KEY_CACHE, {})
    if token not in cache:
        if len(cache) >= MAX_CACHED_MODELS:
            cache.clear()
        reference = reference_for_model(pipeline, model.metadata, model.training_data, model.display_name)
        cache[token] = (
            Explainer(pipeline, frame, dataset_name, reference),
            population_risks(pipeline, frame),
            reference,
        )
    return cache[token]


def render_reference_note(reference: TrainingReference) -> None:
    """Say plainly when the model's own training data are not available and what stands in for them."""
    if reference.note:
        st.warning(reference.note, icon=":material/dataset:")


# ---- result sections ------------------------------------------------------------------


def render_risk_summary(risk: RiskResult, checked: PatientCheck) -> None:
    """What the risk means for the patient first (number, people of 100, band, how sure); how it was computed
    in an expander."""
    left, right = st.columns([3, 2])
    with left:
        st.metric("Estimated probability of heart disease", f"{risk.percent:.0f} %")
        st.markdown(f"**{risk.natural_frequency_text()}**")
        st.markdown(f"**Risk band: {risk.band.name}** ({risk.band.range_text}) — {risk.band.meaning}.")
        render_interval(risk)
    with right:
        array = icon_array_for(risk)
        st.html(icon_array_html(array))
        st.caption(icon_array_text(array))
    show(risk_figure(risk), key="predict.risk_chart")
    with st.expander("How the risk bands are defined"):
        st.markdown("\n".join(f"- **{b.name}** ({b.range_text}): {b.meaning}." for b in RISK_BANDS))
        st.caption(BAND_RATIONALE)
    if risk.atypical:
        st.error(risk.atypical_text(), icon=":material/person_alert:")
    if risk.unknown_range is not None:
        st.info(f"**{risk.unknown_range.text()}** {risk.imputation_note()}", icon=":material/help:")
    if checked.warnings:  # each is spelled out under its field; here only which ones
        unusual = ", ".join(
            f"{feature(n).label} ({format_value(feature(n), checked.values[n])})" for n in checked.warnings
        )
        st.warning(
            f"Outside the range the model was trained on: {unusual}. The estimate is an extrapolation.",
            icon=":material/warning:",
        )


def interval_in_words(risk: RiskResult) -> str:
    """How sure the estimate is, in plain words (no method names: those are in the "How is this computed?"
    expander)."""
    interval = risk.interval
    if interval.available:
        return (
            f"**How sure:** the model's risk for this patient could plausibly lie anywhere from "
            f"{interval.lower:.0%} to {interval.upper:.0%} (a {interval.level:.0%} range)."
        )
    return "**How sure:** this model cannot say how sure it is of this estimate; treat the number as approximate."


def render_interval(risk: RiskResult) -> None:
    """How sure the estimate is, in plain words; the method, or why there is no range, in an expander. A network
    that should have had a range but could not be sampled is a warning."""
    interval = risk.interval
    if interval.no_interval_reason is NoIntervalReason.UNSUPPORTED_NETWORK:
        st.warning(
            "**How sure:** no uncertainty range could be computed for this network; treat the number as "
            "approximate (see *How is this computed?*).",
            icon=":material/warning:",
        )
    else:
        st.markdown(interval_in_words(risk))
    with st.expander("How is this computed?", key="predict.how.interval"):
        st.markdown(f"**Uncertainty:** {interval.text()}" + ("." if interval.available else ""))
        if interval.available:
            st.caption(f"How: {interval.detail}")


def category_help_lines(explanation: Explanation) -> list[str]:
    """One plain line for each value shown whose category label the schema explains (e.g. "Reversible defect")."""
    lines = []
    for name in explanation.contributions.index:
        feat = feature(str(name))
        value = explanation.patient.get(str(name))
        if value is None or value != value:  # not given: nothing to explain
            continue
        text = feat.category_help.get(int(value))
        if text:
            lines.append(f"- **{feat.label}: {feat.category_label(value)}** — {text}")
    return lines


def explanation_associations(explanation: Explanation, reference: TrainingReference | None) -> dict:
    """The crude association of each feature the explanation credits (none for values not given, nor for a
    feature the model does not use)."""
    if reference is None or unavailable_reason(reference.frame) is not None:
        return {}
    names = [str(name) for name in explanation.contributions.index]
    return crude_associations(reference.frame, explanation.patient, names)


def crude_line(label: str, value: str, contribution: float, association: CrudeAssociation | None) -> str:
    """One list line: the bar's value and contribution, then the raw rate among reference patients like this one."""
    head = f"- **{label}: {value}** — model **{100 * contribution:+.1f} pp**"
    if association is None:
        return head + " · no raw rate for this value"
    if association.n == 0:
        return f"{head} · no reference patient has this value"
    who = association.who() if association.banded else "with this value"
    overall = association.overall_rate
    line = (
        f"{head} · raw: **{association.rate:.0%}** had disease ({association.n_disease} of {association.n:,} "
        f"patients {who}; all: {overall:.0%}), {association.direction_text()}"
    )
    return line + (" · **opposite directions**" if disagrees(contribution, association) else "")


def render_crude_associations(explanation: Explanation, reference: TrainingReference | None) -> None:
    """Beside each bar, how often reference patients who share the value had disease (not adjusted for anything),
    and why the two can point different ways where they do."""
    if reference is None:
        return
    why_none = unavailable_reason(reference.frame)
    if why_none is not None:
        st.caption(f"No raw rates beside the bars: {why_none}.")
        return
    associations = explanation_associations(explanation, reference)
    table = explanation.table()
    given = table[~table["neutral"].to_numpy(dtype=bool)]
    lines = [
        crude_line(row.label, row.value, row.contribution, associations.get(str(row.feature)))
        for row in given.itertuples()
    ]
    if not lines:
        return
    st.markdown("**Beside each bar: the raw rate in the reference data**")
    st.caption(
        f"How often {reference.name} who share this patient's value had heart disease, against all of them: not "
        "adjusted for any other value. pp: percentage points of risk."
    )
    st.markdown("\n".join(lines))
    opposite = [
        row.label for row in given.itertuples() if disagrees(row.contribution, associations.get(str(row.feature)))
    ]
    if opposite:
        st.info(
            f"**Why the model and the raw rate point different ways for {', '.join(opposite)}.** {ASSOCIATION_NOTE}",
            icon=":material/compare_arrows:",
        )


def render_explanation(explanation: Explanation, reference: TrainingReference | None = None) -> None:
    """The contributions chart in plain words; with `reference` (the model's training patients), the raw disease
    rate beside each bar."""
    fallback = explanation.fallback_text()
    st.markdown(
        "Each bar is one of this patient's values: **red** pushes the risk **up**, **green** pulls it **down**"
        + ("; **grey** is what the values not given add." if explanation.unknown else ".")
    )
    if fallback is not None:  # the reasons come from another method, against another reference: say so plainly
        st.info(
            "These reasons were worked out with a back-up method, against the typical rather than the average "
            "patient (details under *How is this computed?*).",
            icon=":material/swap_horiz:",
        )
    show(contributions_figure(explanation), key="predict.contributions")
    not_given = ""
    if explanation.unknown:
        labels = ", ".join(feature(name).label for name in explanation.unknown)
        not_given = (
            f" The grey row is what the values not given ({labels}) add when averaged over their "
            "plausible values; it credits no feature."
        )
    st.caption(
        f"Compared with {explanation.reference} (estimated risk {explanation.baseline_probability:.0%}): "
        f"together the bars move the risk by {100 * explanation.total:+.1f} percentage points.{not_given}"
    )
    render_crude_associations(explanation, reference)
    help_lines = category_help_lines(explanation)
    if help_lines:
        st.markdown("**What these values mean**\n\n" + "\n".join(help_lines))
    with st.expander("How is this computed?", key="predict.how.explanation"):
        if fallback is not None:
            st.warning(fallback, icon=":material/swap_horiz:")
        st.caption(f"Method: {explanation.method}.")
        if reference is not None:
            st.caption(
                f"Raw rates: categories are their own groups; numbers are cut into {N_BINS} groups of about equal "
                f"size (quantiles of the reference data), or grouped by value when they take at most {N_BINS} "
                "values. A rate is called more or less common than overall when a pooled two-proportion z test of "
                f"the group against the other reference patients gives |z| ≥ {CLEAR_Z}; groups of fewer than "
                f"{SMALL_GROUP} patients are too few to say."
            )


def render_population(risks: np.ndarray, probability: float, percentile: float, population: str) -> None:
    st.markdown(
        f"This patient's estimated risk is higher than that of **{percentile:.0f} %** of the "
        f"{len(risks):,} patients in **{population}** (the dataset in use)."
    )
    show(population_figure(risks, probability, percentile, population), key="predict.population")


def render_what_if(pipeline, checked: PatientCheck, reference: TrainingReference | None = None) -> WhatIf | None:
    """The what-if controls and comparison; returns the change shown (None when nothing changed)."""
    names = [name for name in FEATURE_NAMES if name not in checked.left_out]  # a left-out feature changes nothing
    name = st.selectbox(
        "Feature to change",
        names,
        key=KEY_WHATIF_FEATURE,
        format_func=lambda n: feature(n).label,
        persist_state="session",
    )
    feat = feature(name)
    new_value = value_widget(
        feat,
        checked.values[name] if not np.isnan(checked.values[name]) else None,
        prefix=WHATIF_PREFIX,
        label=f"New value: {feat.label_with_unit()}",
    )
    try:
        change = what_if(pipeline, checked.values, name, new_value, reference)
    except PatientError as error:
        st.error(str(error), icon=":material/block:")
        return None
    if change.new_value == change.old_value or (np.isnan(change.new_value) and np.isnan(change.old_value)):
        st.caption("Choose a different value above to see how the risk would change.")
        return None
    st.markdown(f"**{change.text()}**")
    show(what_if_figure(change), key="predict.what_if")
    return change


KEY_REPORT_PATIENT = "predict.report.patient_id"
KEY_REPORT_CLINICIAN = "predict.report.clinician"


def report_field(label: str, key: str, placeholder: str) -> tuple[str, str | None]:
    """One optional report field: (its text for the report, or "" when invalid; the message when invalid).

    Widget state only: never persisted, logged, cached or written anywhere (no persist_state, no bind)."""
    text = st.text_input(label, key=key, max_chars=MAX_FIELD_LENGTH, placeholder=placeholder)
    try:
        return clean_report_field(label, text), None
    except ReportFieldError as error:  # shown under the field; the download waits for a valid value
        st.error(str(error), icon=":material/block:")
        return "", str(error)


def entered_cholesterol(checked: PatientCheck, chol_unit: str) -> float | None:
    """Cholesterol as typed in mmol/L (the form's widget), when it is what the checked mg/dL value came from."""
    if chol_unit != "mmol/L":
        return None
    typed = st.session_state.get(chol_key("mmol/L"))
    mgdl = checked.values.get("chol")
    if typed is None or mgdl is None or mgdl != mgdl or whole_mgdl(typed) != mgdl:
        return None  # not the value behind this estimate: the report converts the mg/dL instead
    return float(typed)


def render_report_download(
    checked,
    risk,
    explanation,
    card: ModelCard,
    percentile,
    population,
    chol_unit,
    change: WhatIf | None = None,
    reference: TrainingReference | None = None,
) -> None:
    """The optional header fields and the download. With `reference` (the model's training patients) the report
    shows the raw disease rate beside each contribution."""
    st.caption(
        f"Optional, for the printed report only (at most {MAX_FIELD_LENGTH} characters each): they are not kept "
        "once you leave the page."
    )
    left, right = st.columns(2)
    with left:
        patient_id, patient_error = report_field("Patient identifier", KEY_REPORT_PATIENT, "e.g. initials or number")
    with right:
        clinician, clinician_error = report_field("Clinician", KEY_REPORT_CLINICIAN, "name or role")
    unit_note = None
    if chol_unit == "mmol/L":
        unit_note = (
            f"Cholesterol was entered in mmol/L and converted with 1 mmol/L = {CHOLESTEROL_MGDL_PER_MMOL} mg/dL "
            "(rounded to the whole mg/dL the model was trained with)."
        )
    html = patient_report_html(
        checked,
        risk,
        explanation,
        card,
        percentile=percentile,
        population_name=population,
        what_if=change,
        cholesterol_unit_note=unit_note,
        patient_id=patient_id,
        clinician=clinician,
        cholesterol_unit=chol_unit,
        cholesterol_entered=entered_cholesterol(checked, chol_unit),
        associations=explanation_associations(explanation, reference) if reference is not None else None,
    )
    invalid = patient_error is not None or clinician_error is not None
    st.download_button(
        "Download the patient report (HTML)",
        data=html,
        file_name="heart-risk-report.html",
        mime="text/html",
        key="predict.report_download",
        icon=":material/download:",
        disabled=invalid,
    )
    st.caption(
        "Correct the field above to download the report."
        if invalid
        else "A single self-contained HTML file: inputs, risk, explanation, model card and disclaimer. "
        "Print it from the browser (laid out for A4)."
    )


def render_model_card(card: ModelCard) -> None:
    st.markdown(card.as_markdown())


# ---- batch ----------------------------------------------------------------------------


def _score_upload(
    pipeline,
    data: bytes,
    reference: TrainingReference | None = None,
    coding: str | None = None,
    progress: Callable[[float, str], None] | None = None,
):
    """(BatchResult, or error text, or the candidate codings when the file fits two, or None; the importer's
    report as markdown, "" when it has none). `progress` hears of each chunk of rows scored."""
    text = ""
    try:
        imported = read_batch_csv(data, coding=coding)
        report = imported.report
        text = report.as_markdown()
        if report.needs_coding:
            return list(report.candidate_codings), text
        if imported.frame is None:
            return None, text
        if not report.ok:
            text = (
                "The importer refuses this file as training data because of the rows named below. For "
                "scoring, those rows are set aside and listed; every other row is scored.\n\n" + text
            )
        return score_batch(pipeline, imported, reference=reference, progress=progress), text
    except BatchError as error:
        return str(error), text
    except (ValueError, UnicodeError) as error:  # a safety net: the importer reports what it knows itself
        logger.warning("an uploaded batch file could not be read or scored", exc_info=True)
        return (
            f"This file could not be read as a CSV of patients ({error}). Save it as a comma-separated "
            "text file (UTF-8) with one patient per row and try again."
        ), text


def _choose_batch_coding(digest: str, coding: str) -> None:
    st.session_state[KEY_BATCH_CODING] = (digest, coding)


def _render_batch_coding_choice(data: bytes, digest: str, codings: list[str]) -> None:
    """Both readings of an ambiguous file side by side (decoded rows), and a button to score with each."""
    stored = st.session_state.get(KEY_BATCH_CANDIDATES)
    if stored is None or stored[0] != digest:
        stored = (digest, read_candidates(data, codings, bad_rows="set_aside"))
        st.session_state[KEY_BATCH_CANDIDATES] = stored
    readings = stored[1]
    st.warning(
        "**This file fits two codings, and its values do not say which.** Every code in it is valid in "
        "both the UCI coding and the Kaggle coding of `heart.csv`, which number chest pain, resting ECG, "
        "ST slope and thallium differently. Compare the two readings of the first patients and choose the "
        "one that matches where the file comes from; nothing is scored until you do.",
        icon=":material/help:",
    )
    for column, reading in zip(st.columns(len(readings)), readings, strict=True):
        with column, st.container(border=True):
            st.markdown(f"#### Read as {reading.name} coding")
            if reading.usable:
                st.dataframe(reading.preview(), width="stretch")
            else:
                st.error(reading.result.report.as_markdown())
            st.button(
                f"Score with the {reading.name} reading",
                key=f"predict.batch.use.{reading.coding}",
                type="primary",
                on_click=_choose_batch_coding,
                args=(digest, reading.coding),
                disabled=not reading.usable,
                icon=":material/check:",
            )


def labelled(table):
    """Coded columns shown with their clinical labels (the downloaded CSV keeps the UCI codes)."""
    shown = table.copy()
    for feat in FEATURES:
        if feat.categories and feat.name in shown:
            shown[feat.name] = [feat.category_label(v) if v == v else "Unknown" for v in shown[feat.name]]
    return shown


def render_batch(pipeline, model_name: str, reference: TrainingReference | None = None) -> None:
    st.markdown(
        "Upload a CSV with one patient per row and the 13 columns of the UCI data "
        f"({', '.join(FEATURE_NAMES)}), in UCI coding (Kaggle and TensorFlow-tutorial codings are "
        "recognised and converted). A target column is optional. Empty or `?` cells are unknown: the "
        "risk is averaged over their plausible values, as for one patient."
    )
    upload = st.file_uploader("CSV of patients", type=["csv", "txt"], key=KEY_BATCH_FILE)
    if upload is None:
        st.session_state.pop(KEY_BATCH_RESULT, None)
        return
    data = upload.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    chosen = st.session_state.get(KEY_BATCH_CODING)
    coding = chosen[1] if chosen is not None and chosen[0] == digest else None
    stored = st.session_state.get(KEY_BATCH_RESULT)
    if stored is None or stored[:3] != (digest, id(pipeline), coding):
        bar = st.progress(0.0, text="Reading the file…")
        result, report = _score_upload(
            pipeline, data, reference, coding, progress=lambda fraction, message: bar.progress(fraction, text=message)
        )
        bar.empty()
        stored = (digest, id(pipeline), coding, result, report)
        st.session_state[KEY_BATCH_RESULT] = stored
    _, _, _, result, report = stored
    if isinstance(result, list):  # the file fits two codings: the user says which before anything is scored
        _render_batch_coding_choice(data, digest, result)
        return
    if coding is not None:
        st.info(
            f"Read in the **{CODING_NAMES.get(coding, coding)}** coding, as you chose.", icon=":material/swap_horiz:"
        )
    if not isinstance(result, BatchResult):
        st.error(result or "The file could not be read.", icon=":material/block:")
        if report:
            with st.expander("What the importer found", expanded=True):
                st.markdown(report)
        return
    (st.success if len(result.invalid) == 0 else st.warning)(result.summary())
    with st.expander("What the importer found"):
        st.markdown(report)
    if result.reference_note:
        st.warning(result.reference_note, icon=":material/dataset:")
    if result.interval_note and len(result.scored):
        st.info(result.interval_note, icon=":material/info:")
    if len(result.scored):
        labels = {f.name: f.label for f in FEATURES}
        n_atypical = int(result.scored["atypical"].sum())
        if n_atypical:
            st.warning(
                f"{n_atypical:,} patient(s) are unlike the patients the model learned from (column "
                "*Atypical*; *Why atypical* names the values): their estimates are extrapolations.",
                icon=":material/person_alert:",
            )
        scored = result.scored.copy()
        scored["unknown_range"] = [
            f"{low:.0f} – {high:.0f} %" if gaps else ""
            for low, high, gaps in zip(
                scored["unknown_low_percent"], scored["unknown_high_percent"], scored["imputed"], strict=True
            )
        ]
        scored["interval"] = [
            f"{low:.0f} – {high:.0f} %" if low == low else ""
            for low, high in zip(scored["interval_low_percent"], scored["interval_high_percent"], strict=True)
        ]
        shown = labelled(
            scored[
                [
                    "row",
                    "risk_percent",
                    "risk_band",
                    "interval",
                    "atypical",
                    "atypical_reasons",
                    "imputed",
                    "unknown_range",
                    *FEATURE_NAMES,
                ]
            ]
        ).rename(
            columns={
                "row": "Row",
                "risk_percent": "Risk (%)",
                "risk_band": "Risk band",
                "interval": "95 % interval",
                "atypical": "Atypical",
                "atypical_reasons": "Why atypical",
                "imputed": "Not given",
                "unknown_range": "Risk over plausible values",
                **labels,
            }
        )
        st.dataframe(
            shown,
            hide_index=True,
            key="predict.batch.table",
            column_config={
                "Risk (%)": st.column_config.ProgressColumn("Risk (%)", min_value=0, max_value=100, format="%.1f %%")
            },
        )
    if len(result.invalid):
        st.markdown(f"**Rows not scored ({len(result.invalid):,})** — row 1 is the first patient below the header:")
        st.dataframe(
            result.invalid.rename(columns={"row": "Row", "reasons": "Why"}),
            hide_index=True,
            key="predict.batch.invalid",
        )
    st.download_button(
        "Download the results (CSV)",
        data=result.as_table().to_csv(index=False),
        file_name="heart-risk-batch.csv",
        mime="text/csv",
        key="predict.batch.download",
        icon=":material/download:",
    )
    st.caption(f"Scored with {model_name}.")
