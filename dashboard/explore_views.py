"""The Data Exploration page's views: filters, figures and tables drawn from model.exploration.

Statistics are computed on every selected row and cached per data content (a full-content
fingerprint: Streamlit's own DataFrame hash only samples large frames). Plots draw at most
PLOT_SAMPLE_ROWS points and say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import state
from dashboard.charts import (
    DIVERGING_SCALE,
    OUTCOME_COLOR_MAP,
    OUTCOME_COLORS,
    OUTCOME_ORDER,
    PRIMARY,
    show,
)
from dashboard.explore_sources import site_label
from model.data import exploration as ex
from model.data.schema import FEATURE_NAMES, TARGET, feature

WIDGET_AGE = "explore.age_range"
WIDGET_SEX = "explore.sexes"
WIDGET_SITES = "explore.sites"
WIDGET_FEATURE = "explore.feature"
WIDGET_NUMERIC_PLOT = "explore.numeric_plot"
WIDGET_CORR_METHOD = "explore.corr_method"
WIDGET_CONFLICT_POLICY = "explore.dedup.conflicts"
BUTTON_DEDUPLICATE = "explore.dedup.remove"
BUTTON_RESTORE = "explore.dedup.restore"
CONFLICT_CHOICES = {
    ex.KEEP_FIRST: "Keep the first copy and its outcome",
    ex.DROP_ALL: "Drop every copy of these patients",
}

OUTCOME_LABEL = "Outcome"
NUMERIC_PLOTS = ("Histogram", "Box", "Violin")
P_FORMAT = "%.2g"

_HASH = {pd.DataFrame: ex.frame_fingerprint}


def _cached(function):
    """st.cache_data keyed on every cell of DataFrame arguments (the functions are pure, so copies are safe)."""
    return st.cache_data(hash_funcs=_HASH, show_spinner=False, max_entries=16)(function)


cached_overview = _cached(ex.overview)
cached_associations = _cached(ex.associations)
cached_correlation = _cached(ex.correlation_matrix)
cached_projection = _cached(ex.pca_projection)
cached_quality = _cached(ex.quality_report)


def _table_height(n_rows: int) -> int:
    """Pixels to show every row of a st.dataframe without an inner scrollbar."""
    return 38 + 35 * n_rows


def _label(name: str) -> str:
    return feature(name).label_with_unit()


def _with_outcome_labels(frame: pd.DataFrame) -> pd.DataFrame:
    labelled = frame.copy()
    labelled[OUTCOME_LABEL] = labelled[TARGET.name].map(TARGET.category_label)
    return labelled


# --------------------------------------------------------------------------- filters


def render_filters(frame: pd.DataFrame, token: str) -> pd.DataFrame:
    """Age range, sex (and site) filters; returns the selected rows. `token` renews the widgets per dataset."""
    sex = feature("sex")
    columns = st.columns([2, 2, 3] if ex.SITE in frame.columns else [2, 2])
    age = pd.to_numeric(frame["age"], errors="coerce").dropna()
    age_range = None
    if len(age) and age.min() < age.max():
        low, high = int(np.floor(age.min())), int(np.ceil(age.max()))
        age_range = columns[0].slider(f"{_label('age')}", low, high, (low, high), key=f"{WIDGET_AGE}.{token}")
    sexes = columns[1].multiselect(
        sex.label, list(sex.codes), default=list(sex.codes), format_func=sex.category_label, key=f"{WIDGET_SEX}.{token}"
    )
    sites = None
    if ex.SITE in frame.columns:
        options = sorted(frame[ex.SITE].dropna().unique())
        sites = columns[2].multiselect(
            "Site", options, default=options, format_func=site_label, key=f"{WIDGET_SITES}.{token}"
        )
    selected = ex.filter_frame(frame, age_range=age_range, sexes=sexes, sites=sites)
    st.caption(f"**{len(selected):,} of {len(frame):,} patients selected.** Every view below uses this selection.")
    return selected


def sample_note(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The rows to draw and, when sampled, the note to show beside the plot."""
    sample, sampled = ex.sample_rows(frame)
    if not sampled:
        return sample, None
    return sample, (
        f"Plot shows a random sample of {len(sample):,} of {len(frame):,} patients; the statistics use every patient."
    )


# --------------------------------------------------------------------------- tabs


def render_overview(frame: pd.DataFrame) -> None:
    summary = cached_overview(frame)
    balance = summary.class_balance
    disease_share = float(balance.loc[balance["outcome"] == 1, "share"].iloc[0])
    cols = st.columns(5)
    cols[0].metric("Patients (rows)", f"{summary.n_rows:,}")
    cols[1].metric("Columns", summary.n_columns, help=f"{summary.n_features} of the 13 schema features present")
    cols[2].metric("Missing values", f"{summary.n_missing_cells:,}")
    cols[3].metric(
        "Duplicate rows",
        f"{summary.n_duplicate_rows:,}",
        help="Rows repeating an earlier row exactly (see Data quality)",
    )
    cols[4].metric("With disease", f"{disease_share:.0%}")
    left, right = st.columns(2)
    with left:
        fig = go.Figure(
            go.Bar(
                x=balance["label"],
                y=balance["patients"],
                marker_color=[OUTCOME_COLORS[c] for c in balance["outcome"]],
                text=[f"{n:,} ({s:.0%})" for n, s in zip(balance["patients"], balance["share"], strict=True)],
                textposition="auto",
            )
        )
        fig.update_layout(title_text="Class balance", yaxis_title="Patients", showlegend=False)
        show(fig, key="explore.balance", height=340)
    with right:
        missing = summary.missing
        fig = go.Figure(
            go.Bar(
                y=missing["label"],
                x=missing["missing"],
                orientation="h",
                marker_color=PRIMARY,
                customdata=missing["share"],
                hovertemplate="%{y}: %{x} missing (%{customdata:.1%})<extra></extra>",
            )
        )
        fig.update_layout(
            title_text="Missing values per column", xaxis_title="Missing values", yaxis=dict(autorange="reversed")
        )
        show(fig, key="explore.missing", height=340)


def render_codebook() -> None:
    st.markdown("What each column means, its unit, and the values the app accepts (UCI coding).")
    st.dataframe(
        ex.codebook(),
        hide_index=True,
        column_config={
            "values": st.column_config.TextColumn("values", width="large"),
            "description": st.column_config.TextColumn("description", width="large"),
        },
    )


def render_distribution(frame: pd.DataFrame) -> None:
    name = st.selectbox("Feature", list(FEATURE_NAMES), format_func=_label, key=WIDGET_FEATURE)
    item = feature(name)
    st.caption(item.description)
    if item.kind == "numeric":
        _numeric_distribution(frame, name)
    else:
        _category_rates(frame, name)


def _numeric_distribution(frame: pd.DataFrame, name: str) -> None:
    kind = (
        st.segmented_control("Plot", NUMERIC_PLOTS, default=NUMERIC_PLOTS[0], key=WIDGET_NUMERIC_PLOT)
        or NUMERIC_PLOTS[0]
    )
    sample, note = sample_note(frame)
    data = _with_outcome_labels(sample)
    common = dict(
        color=OUTCOME_LABEL,
        color_discrete_map=OUTCOME_COLOR_MAP,
        category_orders={OUTCOME_LABEL: OUTCOME_ORDER},
        labels={name: _label(name)},
    )
    if kind == "Histogram":
        fig = px.histogram(data, x=name, barmode="overlay", opacity=0.65, histnorm="percent", **common)
        fig.update_layout(yaxis_title="Share of patients in the group (%)")
    elif kind == "Box":
        fig = px.box(data, x=OUTCOME_LABEL, y=name, points="outliers", **common)
    else:
        fig = px.violin(data, x=OUTCOME_LABEL, y=name, box=True, points=False, **common)
    fig.update_layout(title_text=f"{feature(name).label} by outcome")
    show(fig, key="explore.distribution", height=420)
    if note:
        st.caption(note)
    st.dataframe(
        ex.numeric_by_outcome(frame, name),
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3g") for c in ("mean", "sd", "median", "q1", "q3", "min", "max")
        },
    )


def _category_rates(frame: pd.DataFrame, name: str) -> None:
    rates = ex.disease_rate_by_category(frame, name)
    overall = float((frame[TARGET.name] == 1).mean()) if len(frame) else np.nan
    fig = go.Figure(
        go.Bar(
            x=rates["category"],
            y=rates["disease rate"],
            marker_color=OUTCOME_COLORS[1],
            text=[
                f"{r:.0%} of {n:,}" if n else "no patients"
                for r, n in zip(rates["disease rate"], rates["patients"], strict=True)
            ],
            textposition="auto",
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    if not np.isnan(overall):
        fig.add_hline(
            y=overall,
            line_dash="dash",
            line_color="#555",
            annotation_text=f"all selected: {overall:.0%}",
            annotation_position="top left",
        )
    fig.update_layout(
        title_text=f"Disease rate by {feature(name).label.lower()}",
        yaxis=dict(title="Patients with disease", tickformat=".0%", range=[0, 1.05]),
    )
    show(fig, key="explore.category_rates", height=420)
    st.dataframe(
        rates.drop(columns="code"),
        hide_index=True,
        column_config={"disease rate": st.column_config.NumberColumn(format="percent")},
    )


def render_associations(frame: pd.DataFrame) -> None:
    table = cached_associations(frame)
    st.markdown(
        "Each feature tested on its own against the outcome, using every selected patient. "
        "**Categorical and yes/no features:** chi-square test, effect size Cramér's V (0 none … 1 perfect). "
        "**Numeric features:** Mann–Whitney U test, effect size the rank-biserial correlation r "
        "(−1 … 1; positive means higher values with disease)."
    )
    st.info(ex.MULTIPLE_TESTING_NOTE, icon=":material/functions:")
    ordered = table.assign(strength=table["effect_size"].abs()).sort_values("strength", ascending=True)
    fig = go.Figure(
        go.Bar(
            y=ordered["label"],
            x=ordered["effect_size"],
            orientation="h",
            marker_color=[OUTCOME_COLORS[1] if s else "#b8b8c0" for s in ordered["significant"]],
            customdata=np.stack([ordered["effect_measure"], ordered["p_holm"]], axis=-1),
            hovertemplate="%{y}: %{customdata[0]} = %{x:.2f}<br>Holm p = %{customdata[1]:.2g}<extra></extra>",
        )
    )
    fig.update_layout(
        title_text="Effect size per feature (red: Holm-adjusted p < 0.05)", xaxis_title="Cramér's V or rank-biserial r"
    )
    show(fig, key="explore.associations", height=440)
    shown = table[["label", "test", "n", "effect_measure", "effect_size", "p_value", "p_holm", "significant", "detail"]]
    st.dataframe(
        shown,
        hide_index=True,
        height=_table_height(len(shown)),
        column_config={
            "label": "feature",
            "effect_size": st.column_config.NumberColumn("effect size", format="%.2f"),
            "effect_measure": "effect measure",
            "p_value": st.column_config.NumberColumn("p", format=P_FORMAT),
            "p_holm": st.column_config.NumberColumn("p (Holm)", format=P_FORMAT),
            "significant": st.column_config.CheckboxColumn("Holm p < 0.05"),
            "detail": st.column_config.TextColumn("detail", width="large"),
        },
    )


def render_correlation(frame: pd.DataFrame) -> None:
    method = (
        st.segmented_control(
            "Correlation",
            ["spearman", "pearson"],
            default="spearman",
            format_func=str.capitalize,
            key=WIDGET_CORR_METHOD,
        )
        or "spearman"
    )
    matrix = cached_correlation(frame, method)
    labels = [feature(c).label for c in matrix.columns]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=labels,
            y=labels,
            zmin=-1,
            zmax=1,
            colorscale=DIVERGING_SCALE,
            text=np.round(matrix.to_numpy(), 2),
            texttemplate="%{text}",
            textfont=dict(size=10),
            hovertemplate="%{y} × %{x}: %{z:.2f}<extra></extra>",
            colorbar=dict(title="r"),
        )
    )
    fig.update_layout(
        title_text=f"{method.capitalize()} correlation (every selected patient, pairwise complete)",
        yaxis=dict(autorange="reversed"),
        xaxis=dict(tickangle=-40),
    )
    show(fig, key="explore.correlation", height=620)
    st.caption(
        "Chest pain type, resting ECG, ST slope and thallium are nominal codes: their correlations depend on "
        "the arbitrary order of the codes. Use the association table for those."
    )


def render_projection(frame: pd.DataFrame) -> None:
    try:
        projection = cached_projection(frame)
    except ex.ProjectionError as error:
        st.warning(str(error))
        return
    sample, note = sample_note(projection.points)
    data = _with_outcome_labels(sample)
    x_label, y_label = projection.axis_labels()
    hover = [ex.SITE] if ex.SITE in data.columns else None
    fig = px.scatter(
        data,
        x="pc1",
        y="pc2",
        color=OUTCOME_LABEL,
        color_discrete_map=OUTCOME_COLOR_MAP,
        category_orders={OUTCOME_LABEL: OUTCOME_ORDER},
        opacity=0.7,
        hover_data=hover,
        labels={"pc1": x_label, "pc2": y_label},
    )
    fig.update_traces(marker=dict(size=7, line=dict(width=0.5, color="white")))
    fig.update_layout(title_text="Patients on the first two principal components")
    show(fig, key="explore.pca", height=520)
    st.caption(
        "PCA fitted on exactly the patients selected above, after the model's own preprocessing (imputation, "
        "standardised numbers, one-hot categories). Colour is not used to fit it: separation by colour shows "
        "how much the outcome lines up with the main directions of variation."
        + (f" {note}" if note else "")
        + (
            f" Entirely missing here, held constant: {', '.join(projection.constant_features)}."
            if projection.constant_features
            else ""
        )
    )
    loadings = projection.loadings.copy()
    loadings["strength"] = np.hypot(loadings["pc1"], loadings["pc2"])
    with st.expander("Which inputs shape the two components (loadings)"):
        st.dataframe(
            loadings.sort_values("strength", ascending=False).drop(columns="strength").head(12),
            column_config={c: st.column_config.NumberColumn(format="%.2f") for c in ("pc1", "pc2")},
        )


def render_quality(frame: pd.DataFrame) -> None:
    report = cached_quality(frame)
    cols = st.columns(4)
    cols[0].metric("Values outside the schema's limits", f"{report.n_out_of_limits:,}")
    cols[1].metric("Impossible zeros", f"{report.n_impossible_zeros:,}")
    cols[2].metric("Missing values", f"{report.n_missing:,}")
    cols[3].metric("Duplicate rows", f"{report.n_duplicate_rows:,}")
    if report.is_clean:
        st.success(
            "No problems found: every value is within the schema's limits, nothing is missing, and no row is repeated."
        )
    if report.n_out_of_limits:
        st.markdown("**Values the schema calls impossible** (outside the hard limits or not a valid code)")
        st.dataframe(report.out_of_limits, hide_index=True)
        st.dataframe(report.out_of_limits_examples, hide_index=True)
    if report.n_impossible_zeros:
        st.markdown("**Zeros where zero is impossible**")
        st.dataframe(report.impossible_zeros, hide_index=True)
    if report.n_missing:
        st.markdown("**Missing values per column** (the model imputes them: median or most frequent value)")
        missing = report.missing[report.missing["missing"] > 0]
        st.dataframe(missing, hide_index=True, column_config={"share": st.column_config.NumberColumn(format="percent")})
    if report.n_duplicate_rows or report.n_repeated_patient_rows:
        n = report.n_repeated_patient_rows
        rows = "row repeats" if n == 1 else "rows repeat"
        exact = (
            f" ({report.n_duplicate_rows:,} of them exact copies, outcome included)"
            if report.n_duplicate_rows != n
            else ""
        )
        st.warning(f"**{n:,} {rows} an earlier patient**{exact}. {ex.LEAKAGE_WARNING}", icon=":material/content_copy:")
        with st.expander("Rows involved in duplication"):
            st.dataframe(report.duplicate_examples)
    render_deduplication()


def _remove_repeats() -> None:
    """Button callback: the session's whole dataset without its repeated patients (kept for undo)."""
    dataset = state.current_dataset()
    policy = st.session_state.get(WIDGET_CONFLICT_POLICY) or ex.KEEP_FIRST
    result = ex.deduplicate(dataset.frame, policy)
    state.set_deduplicated(result.kept, result.n_removed, result.summary())


def render_deduplication() -> None:
    """Remove the repeated patients of the session's dataset (every page uses it), or undo that."""
    record = state.deduplication()
    if record is not None:
        st.success(
            f"{record.summary} Every page now uses this data; the original "
            f"{record.original.n_rows:,} rows are kept for this session.",
            icon=":material/check_circle:",
        )
        st.button(
            f"Restore the {record.n_removed:,} removed rows",
            key=BUTTON_RESTORE,
            on_click=state.restore_duplicates,
            icon=":material/undo:",
        )
        return
    dataset = state.current_dataset()
    whole = cached_quality(dataset.frame)
    n = whole.n_repeated_patient_rows
    if not n:
        return
    st.markdown(
        f"**Remove the repeats.** Keeps the first row of each patient (identical 13 values) in the whole "
        f"dataset of your session — all {dataset.n_rows:,} rows, whatever the filters above select — "
        "and can be undone."
    )
    conflicts = whole.outcome_conflicts
    n_conflicts = int(conflicts["patient"].nunique()) if conflicts is not None and len(conflicts) else 0
    if n_conflicts:
        st.markdown(
            f"{n_conflicts:,} patient{'s are' if n_conflicts != 1 else ' is'} recorded with **both "
            "outcomes**: the copies below disagree, so there is no single right answer to keep. Choose:"
        )
        st.dataframe(conflicts.head(ex.MAX_QUALITY_EXAMPLES), hide_index=True)
        st.radio(
            "Patients recorded with both outcomes",
            list(CONFLICT_CHOICES),
            index=None,
            format_func=CONFLICT_CHOICES.get,
            key=WIDGET_CONFLICT_POLICY,
        )
    policy = st.session_state.get(WIDGET_CONFLICT_POLICY)
    chosen = not n_conflicts or policy is not None
    removing = n + n_conflicts if policy == ex.DROP_ALL else n  # DROP_ALL also takes each one's first copy
    st.button(
        f"Remove {removing:,} repeated row{'s' if removing != 1 else ''}",
        key=BUTTON_DEDUPLICATE,
        type="primary",
        on_click=_remove_repeats,
        disabled=not chosen,
        icon=":material/content_copy:",
        help=None if chosen else "Choose what to do with the patients recorded with both outcomes first.",
    )


def render_sites(frame: pd.DataFrame) -> None:
    summary = ex.site_summary(frame)
    if summary.empty:
        return
    summary["site"] = summary["site"].map(site_label)
    fig = go.Figure(
        go.Bar(
            x=summary["site"],
            y=summary["disease rate"],
            marker_color=OUTCOME_COLORS[1],
            text=[f"{r:.0%} of {n:,}" for r, n in zip(summary["disease rate"], summary["patients"], strict=True)],
            textposition="auto",
        )
    )
    fig.update_layout(
        title_text="Disease rate by site", yaxis=dict(title="Patients with disease", tickformat=".0%", range=[0, 1.05])
    )
    show(fig, key="explore.sites", height=380)
    percent = {
        c: st.column_config.NumberColumn(format="percent") for c in summary.columns if c != "site" and c != "patients"
    }
    st.markdown("**Share of missing values per site** (columns with any missing value)")
    st.dataframe(summary, hide_index=True, column_config=percent)
    st.caption(
        "Sites differ in disease rate and in which tests were recorded: a model trained on one site "
        "may not transfer to another. Use the Site filter above to explore one site at a time."
    )


def render_views(frame: pd.DataFrame) -> None:
    """Every view of the selected rows, one tab each."""
    views = {
        "Overview": render_overview,
        "Codebook": lambda _: render_codebook(),
        "Distributions": render_distribution,
        "Associations": render_associations,
        "Correlations": render_correlation,
        "PCA": render_projection,
        "Data quality": render_quality,
    }
    if ex.SITE in frame.columns:
        views["Sites"] = render_sites
    for tab, render in zip(st.tabs(list(views)), views.values(), strict=True):
        with tab:
            render(frame)
