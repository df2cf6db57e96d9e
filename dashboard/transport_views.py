"""Views of the "Other hospitals" page: full vs reduced models at other sites, local recalibration, and
making the recalibrated network the session's active model.

Computation lives in model/evaluation/transport.py; this module holds the widgets, the session keys of the page and
the Plotly figures. Results are kept in session state so that leaving the page and coming back shows them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from sklearn.base import clone

from dashboard import state
from dashboard.charts import QUALITATIVE, apply_theme, show
from model.data.datasets import SITE_LABELS
from model.evaluation import transport as T

logger = logging.getLogger(__name__)

# ---- session keys of this page (one place) -------------------------------------------------------------
KEY_RESULT = "transport.result"  # Outcome of the last full-vs-reduced run
KEY_RECAL = "transport.recalibration"  # RecalibrationOutcome of the last recalibration
KEY_PENDING_USE = "transport.pending_use"  # True while the "use the recalibrated model" confirmation is shown
KEY_USED = "transport.used"  # name of the recalibrated model made active (success message)
KEY_LOCAL = "transport.local"  # (file name, frame) of uploaded local labelled patients
KEY_MESSAGE = "transport.message"  # (kind, text) to show once after a rerun
# widget keys
W_MODELS = "transport.models"
W_SITES = "transport.sites"
W_THRESHOLD = "transport.threshold"
W_RUN = "transport.run"
W_UPLOAD = "transport.upload"
W_CODING = "transport.coding"
W_SITE_FILES = "transport.site_files"
W_DOWNLOAD = "transport.download"
W_RECAL_SITE = "transport.recal_site"
W_RECAL_MODEL = "transport.recal_model"
W_RECAL_VARIANT = "transport.recal_variant"
W_FOLDS = "transport.folds"
W_DRAWS = "transport.draws"
W_RECALIBRATE = "transport.recalibrate"
W_USE = "transport.use"
W_CONFIRM = "transport.confirm"
W_CANCEL = "transport.cancel"

ACTIVE, CONFIGURED, LOGISTIC = "active", "configured", "logistic"
CONFIGURED_NAME, LOGISTIC_NAME = "ANN as configured", "Logistic regression"
LOCAL_SITE = "local"
TRAINING_SITE = "cleveland"
CODINGS = {"Detect from the values": None, "UCI coding": "uci", "Kaggle coding": "kaggle"}
BUSY = "The server is already running its limit of trainings and comparisons. Wait a moment and press the button again."
VARIANT_COLORS = {T.FULL: "#9a9aa8", T.REDUCED: "#3a6ea5"}
SHORT_VARIANT = {T.FULL: "as trained", T.REDUCED: "without mostly-missing"}


@dataclass
class Outcome:
    """A full-vs-reduced run and what it was asked for."""

    result: T.TransportResult
    models: dict[str, str]  # shown model name -> ACTIVE / CONFIGURED / LOGISTIC
    site_names: dict[str, str]  # site key -> label
    notes: list[str]
    base_metadata: dict[str, dict]  # shown model name -> metadata of the model it starts from
    training_data: dict[str, pd.DataFrame | None]  # shown model name -> its training rows (for the reference)
    base_names: dict[str, str]  # shown model name -> name of the model it starts from


@dataclass
class RecalibrationOutcome:
    model: str
    site: str
    variant: str
    local: T.LocalRecalibration
    draws: pd.DataFrame | None
    draws_note: str | None


def site_label(site: str) -> str:
    if site == LOCAL_SITE:
        local = st.session_state.get(KEY_LOCAL)
        return f"Your local patients ({local[0]})" if local else "Your local patients"
    return SITE_LABELS.get(site, site)


# ---------------------------------------------------------------------------------------------- inputs
def _fresh_copy(pipeline):
    """An unfitted pipeline with the same settings: a network rebuilt from its configuration (never the
    original's live-chart callbacks), anything else cloned."""
    from model.evaluation.pipelines import pipeline_from_config

    final = pipeline[-1]
    if hasattr(final, "network_") and callable(getattr(final, "config", None)):
        return pipeline_from_config(final.config())
    return clone(pipeline)


def model_choices(active: state.ActiveModel) -> dict[str, str]:
    """Shown name -> kind, for the models this session can take to other hospitals."""
    choices = {}
    if active.pipeline is not None:
        choices[f"Active model: {active.display_name}"] = ACTIVE
    choices[CONFIGURED_NAME] = CONFIGURED
    choices[LOGISTIC_NAME] = LOGISTIC
    return choices


def _transport_models(chosen: dict[str, str], active: state.ActiveModel, notes: list[str]):
    from model.clinic.reference import reference_for_model
    from model.evaluation.classical import classical_models
    from model.evaluation.pipelines import pipeline_from_config

    builtin = state.builtin_dataset()
    config = state.ann_config()
    models, metadata, training, bases = [], {}, {}, {}
    for name, kind in chosen.items():
        if kind == ACTIVE:
            reference = reference_for_model(active.pipeline, active.metadata, active.training_data, active.display_name)
            train = reference.frame if "target" in reference.frame.columns else builtin
            if reference.note:
                notes.append(f"{name}: {reference.note} Its reduced variants are trained on the built-in data.")
            pipeline = active.pipeline
            models.append(T.TransportModel(name, lambda p=pipeline: _fresh_copy(p), pipeline, train))
            metadata[name], training[name], bases[name] = (
                dict(active.metadata),
                active.training_data,
                active.display_name,
            )
        elif kind == CONFIGURED:
            models.append(T.TransportModel(name, lambda c=config: pipeline_from_config(c), None, builtin))
            metadata[name], training[name], bases[name] = (
                {"trained_on": f"built-in Cleveland: {len(builtin)} patients", "config": config.to_dict()},
                builtin,
                name,
            )
        else:
            models.append(T.TransportModel(name, lambda: classical_models()[LOGISTIC_NAME], None, builtin))
            metadata[name], training[name], bases[name] = {}, builtin, name
    return models, metadata, training, bases


def _load_sites_widgets() -> None:
    """Download or upload the UCI sites (kept for the session; the session's dataset is not changed)."""
    from model.data.datasets import combine_sites, download_uci_sites, load_uci_sites_from_files

    st.info(
        "Load the UCI sites to test on them: models are trained on Cleveland and tested at Hungary, "
        "Switzerland and VA Long Beach. You can also upload your own labelled patients below.",
        icon=":material/public:",
    )
    left, right = st.columns(2)
    with left:
        if st.button("Download the four UCI sites", key=W_DOWNLOAD, icon=":material/cloud_download:"):
            with st.status("Fetching the four UCI files…", expanded=True) as status:
                bar = st.progress(0.0)
                try:
                    frames = download_uci_sites(progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
                except Exception as error:  # offline or server trouble: say so
                    logger.exception("UCI download failed")
                    status.update(label="Download failed", state="error")
                    st.error(f"The UCI files could not be downloaded: {error}")
                    return
                status.update(label="Fetched the four UCI sites", state="complete", expanded=False)
            state.set_uci_sites(combine_sites(frames))
            st.rerun()
    with right:
        files = st.file_uploader(
            "…or upload processed.*.data files",
            type=["data", "csv", "txt"],
            accept_multiple_files=True,
            key=W_SITE_FILES,
        )
        if files:
            import io

            buffers = []
            for item in files:
                buffer = io.BytesIO(item.getvalue())
                buffer.name = item.name
                buffers.append(buffer)
            try:
                frames = load_uci_sites_from_files(buffers)
            except Exception as error:  # the loader names the file and the problem
                logger.exception("uploaded UCI site files could not be read")
                st.error(f"These files were not used: {error}")
                return
            state.set_uci_sites(combine_sites(frames))
            st.rerun()


def render_local_upload() -> None:
    """Labelled patients of your own hospital (UCI or Kaggle coding), kept for the session."""
    from model.data.csv_import import read_user_csv

    with st.expander(
        "Your own hospital's labelled patients (CSV)",
        expanded=st.session_state.get(KEY_LOCAL) is None and state.uci_sites() is None,
    ):
        st.caption(
            "A CSV with the 13 features and the outcome (`target` or `num`), in UCI or Kaggle coding. "
            "It is used only in your session, as one more site."
        )
        coding_label = st.selectbox("Coding of the file", list(CODINGS), key=W_CODING)
        upload = st.file_uploader("Local patients", type=["csv", "txt"], key=W_UPLOAD)
        if upload is None:
            return
        result = read_user_csv(upload.getvalue(), coding=CODINGS[coding_label])
        report = result.report
        if result.frame is None or report.refuses:
            if report.needs_coding:
                st.error(f"{report.summary()} Choose the coding above.", icon=":material/help:")
            else:
                st.error(report.summary(), icon=":material/error:")
                st.code(report.as_text(), language=None)
            return
        if not result.has_target:
            st.error(
                "This file has no outcome column (`target` or `num`): recalibration needs patients whose "
                "outcome is known.",
                icon=":material/error:",
            )
            return
        frame = result.frame.dropna(subset=["target"])
        previous = st.session_state.get(KEY_LOCAL)
        if previous is None or previous[0] != upload.name or not previous[1].equals(frame):
            st.session_state[KEY_LOCAL] = (upload.name, frame)
        st.success(
            f"{report.summary()} {int(frame['target'].sum())} of {len(frame)} with disease.", icon=":material/check:"
        )


def render_run_form(active: state.ActiveModel) -> None:
    sites = state.uci_sites()
    local = st.session_state.get(KEY_LOCAL)
    options = {}
    if sites is not None and "site" in sites.columns:
        options.update({s: SITE_LABELS.get(s, s) for s in dict.fromkeys(sites["site"]) if s != TRAINING_SITE})
    if local is not None:
        options[LOCAL_SITE] = site_label(LOCAL_SITE)
    if sites is None:
        _load_sites_widgets()
    render_local_upload()
    if not options:
        return
    choices = model_choices(active)
    with st.form("transport.form", border=True):
        models = st.multiselect(
            "Models",
            list(choices),
            default=list(choices),
            key=W_MODELS,
            help="Trained on the built-in Cleveland data (the active model: on its own training data).",
        )
        where = st.multiselect("Test at", list(options), default=list(options), format_func=options.get, key=W_SITES)
        threshold = st.number_input(
            "Leave out features missing for more than this share of a site's patients (%)",
            min_value=0,
            max_value=95,
            value=int(T.MOSTLY_MISSING * 100),
            step=5,
            key=W_THRESHOLD,
        )
        submitted = st.form_submit_button(
            "Compare full and reduced models", type="primary", icon=":material/compare_arrows:", key=W_RUN
        )
    if submitted:
        if not models or not where:
            st.error("Choose at least one model and one site.", icon=":material/error:")
            return
        run(active, {name: choices[name] for name in models}, where, threshold / 100.0)


def run(active: state.ActiveModel, chosen: dict[str, str], where: list[str], threshold: float) -> None:
    from model.runtime.compute_slots import ServerBusyError, compute_slot

    sites = state.uci_sites()
    frames = {}
    for site in where:
        if site == LOCAL_SITE:
            frames[site] = st.session_state[KEY_LOCAL][1]
        else:
            frames[site] = sites[sites["site"] == site].drop(columns="site")
    notes: list[str] = []
    models, metadata, training, bases = _transport_models(chosen, active, notes)
    with st.status("Training each model as it is and without the mostly-missing features…", expanded=True) as status:
        bar = st.progress(0.0)
        try:
            with compute_slot(BUSY):
                result = T.evaluate_transport(
                    models,
                    state.builtin_dataset(),
                    frames,
                    "the built-in Cleveland data",
                    threshold,
                    progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m),
                )
        except ServerBusyError as busy:
            status.update(label="The server is busy", state="error")
            st.error(str(busy), icon=":material/hourglass_top:")
            return
        except ValueError as problem:
            logger.warning("transport evaluation refused: %s", problem)
            status.update(label="Could not run", state="error")
            st.error(str(problem), icon=":material/error:")
            return
        status.update(label="Done: full and reduced models at each site", state="complete", expanded=False)
    st.session_state[KEY_RESULT] = Outcome(
        result, chosen, {s: site_label(s) for s in frames}, notes, metadata, training, bases
    )
    st.session_state.pop(KEY_RECAL, None)
    st.session_state.pop(KEY_PENDING_USE, None)


# ---------------------------------------------------------------------------------------------- results
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "accuracy": "Accuracy",
    "brier": "Brier score",
    "calibration_intercept": "Calibration-in-the-large",
    "calibration_slope": "Calibration slope",
    "mean_predicted": "Mean predicted risk",
    "prevalence": "Observed prevalence",
}


def comparison_table(outcome: Outcome) -> pd.DataFrame:
    """One row per (site, model), full and reduced side by side."""
    m = outcome.result.metrics
    rows = []
    for (site, model), part in m.groupby(["site", "model"], sort=False):
        full = part[part["variant"] == T.FULL].iloc[0]
        reduced = part[part["variant"] == T.REDUCED].iloc[0]
        row = {
            "Site": outcome.site_names.get(site, site),
            "Model": model,
            "Patients": int(full["n"]),
            "Observed prevalence": full["prevalence"],
        }
        for key in ("roc_auc", "accuracy", "brier", "calibration_intercept", "mean_predicted"):
            row[f"{METRIC_LABELS[key]} (full)"] = full[key]
            row[f"{METRIC_LABELS[key]} (reduced)"] = reduced[key]
        row["Left out (reduced)"] = T.feature_labels(reduced["left_out"])
        rows.append(row)
    return pd.DataFrame(rows)


SHORT_MODEL = {ACTIVE: "Active model", CONFIGURED: "Configured ANN", LOGISTIC: "Logistic reg."}


def comparison_figure(outcome: Outcome) -> go.Figure:
    """Rows: accuracy, ROC AUC, Brier, mean predicted (with the observed prevalence); columns: sites."""
    m = outcome.result.metrics
    panels = ["accuracy", "roc_auc", "brier", "mean_predicted"]
    sites = list(dict.fromkeys(m["site"]))
    short = {name: SHORT_MODEL.get(kind, name) for name, kind in outcome.models.items()}
    fig = make_subplots(
        rows=len(panels),
        cols=len(sites),
        shared_xaxes=True,
        vertical_spacing=0.05,
        horizontal_spacing=0.04,
        column_titles=[outcome.site_names.get(s, s).split(",")[0] for s in sites],
        row_titles=[METRIC_LABELS[k] for k in panels],
    )
    for col, site in enumerate(sites, start=1):
        part = m[m["site"] == site]
        for row, key in enumerate(panels, start=1):
            for variant in (T.FULL, T.REDUCED):
                bars = part[part["variant"] == variant]
                fig.add_trace(
                    go.Bar(
                        x=bars["model"].map(short),
                        y=bars[key],
                        name=T.VARIANT_LABELS[variant],
                        marker_color=VARIANT_COLORS[variant],
                        legendgroup=variant,
                        showlegend=row == 1 and col == 1,
                        customdata=bars["model"],
                        hovertemplate="%{customdata}: %{y:.3f}<extra>" + SHORT_VARIANT[variant] + "</extra>",
                    ),
                    row=row,
                    col=col,
                )
            if key == "mean_predicted":
                first = part[part["variant"] == T.FULL]
                fig.add_trace(
                    go.Scatter(
                        x=first["model"].map(short),
                        y=first["prevalence"],
                        mode="markers",
                        name="Observed prevalence",
                        showlegend=col == 1,
                        marker=dict(symbol="line-ew-open", size=30, color="#d1495b", line_width=3),
                    ),
                    row=row,
                    col=col,
                )
    fig.update_yaxes(range=[0, 1], nticks=3)
    fig.update_layout(
        barmode="group",
        height=760,
        title="As trained vs trained without the mostly-missing features",
        legend=dict(orientation="h", y=-0.08, yanchor="top", x=0, xanchor="left"),
        margin=dict(t=90),
    )
    return apply_theme(fig)


def calibration_figure(outcome: Outcome) -> go.Figure:
    curves = outcome.result.calibration
    sites = list(dict.fromkeys(curves["site"]))
    fig = make_subplots(
        rows=1, cols=max(len(sites), 1), subplot_titles=[outcome.site_names.get(s, s).split(",")[0] for s in sites]
    )
    models = list(dict.fromkeys(curves["model"]))
    for col, site in enumerate(sites, start=1):
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                line=dict(color="#b0b0b8", dash="dot"),
                name="perfect calibration",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        for (model, variant), curve in curves[curves["site"] == site].groupby(["model", "variant"], sort=False):
            color = QUALITATIVE[models.index(model) % len(QUALITATIVE)]
            fig.add_trace(
                go.Scatter(
                    x=curve["predicted"],
                    y=curve["observed"],
                    mode="lines+markers",
                    name=f"{model} ({SHORT_VARIANT[variant]})",
                    legendgroup=f"{model}{variant}",
                    showlegend=col == 1,
                    line=dict(color=color, dash="dash" if variant == T.FULL else "solid"),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(range=[0, 1], title_text="predicted risk")
    fig.update_yaxes(range=[0, 1.01])
    fig.update_yaxes(title_text="observed share with disease", row=1, col=1)
    fig.update_layout(
        height=440,
        title="Calibration at each site (fifths of patients; dashed: as trained)",
        legend=dict(orientation="h", y=-0.3, yanchor="top", x=0, xanchor="left"),
        margin=dict(t=90),
    )
    return apply_theme(fig)


def render_results(outcome: Outcome) -> None:
    result = outcome.result
    for note in outcome.notes + result.warnings:
        st.warning(note, icon=":material/warning:")
    for site, names in result.left_out.items():
        label = outcome.site_names.get(site, site)
        if names:
            share = result.missing[(result.missing["site"] == site) & result.missing["feature"].isin(names)]
            parts = [
                f"{T.feature_labels([row.feature])} ({row.missing_fraction:.0%} missing)" for row in share.itertuples()
            ]
            st.markdown(f"**{label}:** the reduced models are trained without " + ", ".join(parts) + ".")
        else:
            st.markdown(
                f"**{label}:** no feature is missing for more than {result.threshold:.0%} of the patients; "
                "the reduced models are the full ones."
            )
    show(comparison_figure(outcome), key="transport.comparison")
    table = comparison_table(outcome)
    numbers = [c for c in table.columns if c not in ("Site", "Model", "Patients", "Left out (reduced)")]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in numbers},
    )
    st.caption(
        "Full: the model as trained, with missing values imputed from the training patients' typical values "
        "(what the Compare page's external validation shows). Reduced: the same model trained without the "
        "features mostly missing at that site. Calibration-in-the-large: 0 is ideal, above 0 the model "
        "underestimates risk."
    )
    show(calibration_figure(outcome), key="transport.calibration")


# ---------------------------------------------------------------------------------------------- recalibration
def render_recalibration_form(outcome: Outcome) -> None:
    result = outcome.result
    sites = list(result.site_data)
    models = list(outcome.models)
    left, middle, right = st.columns(3)
    site = left.selectbox("Local patients", sites, format_func=lambda s: outcome.site_names.get(s, s), key=W_RECAL_SITE)
    networks = sorted(models, key=lambda m: outcome.models[m] == LOGISTIC)  # networks first: only they can be used
    model = middle.selectbox("Model to recalibrate", networks, key=W_RECAL_MODEL)
    variant = right.radio("Variant", [T.REDUCED, T.FULL], format_func=T.VARIANT_LABELS.get, key=W_RECAL_VARIANT)
    folds_col, draws_col, _ = st.columns(3)
    folds = folds_col.number_input(
        "Folds within the site", min_value=2, max_value=10, value=T.RECALIBRATION_FOLDS, key=W_FOLDS
    )
    draws = draws_col.number_input("Draws per sample size", min_value=1, max_value=T.MAX_DRAWS, value=40, key=W_DRAWS)
    if st.button("Recalibrate", key=W_RECALIBRATE, type="primary", icon=":material/tune:"):
        recalibrate(outcome, model, site, variant, int(folds), int(draws))


def recalibrate(outcome: Outcome, model: str, site: str, variant: str, folds: int, draws: int) -> None:
    result = outcome.result
    X, y = result.site_data[site]
    pipeline = result.pipeline(model, site, variant)
    with st.status(f"Recalibrating to {outcome.site_names.get(site, site)}…", expanded=True) as status:
        bar = st.progress(0.0, text="Cross-validated recalibration")
        try:
            logits = T.predicted_logits(pipeline, X)
            local = T.cross_validated_recalibration(y, logits, outcome.site_names.get(site, site), n_splits=folds, X=X)
        except ValueError as problem:  # RecalibrationError included: one outcome, separation, too few patients
            logger.warning("recalibration refused: %s", problem)
            status.update(label="Recalibration not possible", state="error")
            st.error(str(problem), icon=":material/error:")
            return
        note, curve = None, None
        try:
            curve = T.recalibration_sample_size(
                y, logits, n_draws=draws, progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m)
            )
        except ValueError as problem:
            note = str(problem)
        status.update(label="Recalibrated", state="complete", expanded=False)
    st.session_state[KEY_RECAL] = RecalibrationOutcome(model, site, variant, local, curve, note)
    st.session_state.pop(KEY_PENDING_USE, None)


def before_after_table(local: T.LocalRecalibration) -> pd.DataFrame:
    rows = []
    for label, check in (("Before (as the model is)", local.before), ("After (cross-validated)", local.after)):
        rows.append(
            {
                "": label,
                "Calibration-in-the-large": check.intercept,
                "Calibration slope": check.slope,
                "Brier score": check.brier,
                "Mean predicted risk": check.mean_predicted,
                "Observed prevalence": check.prevalence,
            }
        )
    return pd.DataFrame(rows)


def recalibration_curve_figure(local: T.LocalRecalibration) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#b0b0b8", dash="dot"), name="perfect calibration")
    )
    for label, check, color in (
        ("before", local.before, "#9a9aa8"),
        ("after (cross-validated)", local.after, "#3a6ea5"),
    ):
        fig.add_trace(
            go.Scatter(
                x=check.curve["predicted"],
                y=check.curve["observed"],
                mode="lines+markers",
                name=label,
                line=dict(color=color, width=3),
            )
        )
    fig.update_xaxes(range=[0, 1], title_text="predicted risk")
    fig.update_yaxes(range=[0, 1.01], title_text="observed share with disease")
    fig.update_layout(
        height=420,
        title="Calibration before and after recalibration (fifths of patients)",
        legend=dict(orientation="h", y=-0.2, yanchor="top", x=0, xanchor="left"),
        margin=dict(t=60),
    )
    return apply_theme(fig)


def sample_size_figure(draws: pd.DataFrame) -> go.Figure:
    summary = T.sample_size_summary(draws)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.08,
        subplot_titles=[
            "Brier score (on the patients not drawn)",
            "|mean predicted − observed prevalence| (same patients)",
        ],
    )
    for col, measure in ((1, "brier"), (2, "citl")):
        for which, color, name in (
            ("before", "#9a9aa8", "before recalibration"),
            ("after", "#3a6ea5", "after recalibration on n patients"),
        ):
            key = f"{measure}_{which}"
            fig.add_trace(
                go.Scatter(
                    x=summary["n"],
                    y=summary[f"{key}_p90"],
                    mode="lines",
                    line=dict(width=0),
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=summary["n"],
                    y=summary[f"{key}_p10"],
                    mode="lines",
                    line=dict(width=0),
                    fill="tonexty",
                    fillcolor=_rgba(color, 0.2),
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=summary["n"],
                    y=summary[f"{key}_median"],
                    mode="lines+markers",
                    line=dict(color=color, width=3),
                    name=name,
                    legendgroup=which,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="local patients used to recalibrate (n)")
    fig.update_layout(
        height=400,
        title="How many local patients the recalibration needs (median, 10th–90th percentile over draws)",
        legend=dict(orientation="h", y=-0.3, yanchor="top", x=0, xanchor="left"),
        margin=dict(t=90),
    )
    return apply_theme(fig)


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def render_recalibration(outcome: Outcome, recal: RecalibrationOutcome) -> None:
    local = recal.local
    rec = local.recalibration
    st.markdown(
        f"**{recal.model}** ({T.VARIANT_LABELS[recal.variant].lower()}) recalibrated to **{local.site}** "
        f"on {local.n_patients} patients: logit p′ = {rec.intercept:.3f} + {rec.slope:.3f} · logit p. "
        f"The *after* figures are measured on patients not used to fit a and b ({local.n_splits}-fold "
        "cross-validation within the site)."
    )
    st.dataframe(
        before_after_table(local),
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in (
                "Calibration-in-the-large",
                "Calibration slope",
                "Brier score",
                "Mean predicted risk",
                "Observed prevalence",
            )
        },
    )
    left, _ = st.columns([3, 2])
    with left:
        show(recalibration_curve_figure(local), key="transport.recal_curve")
    if recal.draws is not None:
        show(sample_size_figure(recal.draws), key="transport.sample_size")
        failed = int(recal.draws["failed"].sum())
        if failed:
            st.caption(
                f"{failed} of {len(recal.draws)} draws had no finite recalibration (outcomes separated); "
                "they are left out of the curve."
            )
    else:
        st.info(f"No sample-size curve: {recal.draws_note}", icon=":material/info:")


def render_use(outcome: Outcome, recal: RecalibrationOutcome) -> None:
    pipeline = outcome.result.pipeline(recal.model, recal.site, recal.variant)
    final = pipeline[-1]
    if not hasattr(final, "network_"):
        st.caption(
            "Only a neural network can become the active model (the Patient risk page needs its dropout "
            "interval); recalibrate an ANN to use it."
        )
        return
    name = f"{outcome.base_names[recal.model]}, recalibrated to {recal.local.site}"
    if not st.session_state.get(KEY_PENDING_USE):
        st.button(
            "Use the recalibrated model",
            key=W_USE,
            icon=":material/check_circle:",
            on_click=lambda: st.session_state.__setitem__(KEY_PENDING_USE, True),
        )
        return
    with st.container(border=True):
        st.warning(
            f"**{name}** will replace **{state.active_model().display_name}** as this session's active model: "
            "the Patient risk page will use it for every risk, interval and explanation, and its model card "
            "will say it was recalibrated. Other users are not affected.",
            icon=":material/swap_horiz:",
        )
        yes, no, _ = st.columns([1, 1, 3])
        yes.button("Yes, use it", key=W_CONFIRM, type="primary", on_click=use_recalibrated, args=(outcome, recal, name))
        no.button("Cancel", key=W_CANCEL, on_click=lambda: st.session_state.pop(KEY_PENDING_USE, None))


def use_recalibrated(outcome: Outcome, recal: RecalibrationOutcome, name: str) -> None:
    pipeline = outcome.result.pipeline(recal.model, recal.site, recal.variant)
    left_out = outcome.result.left_out[recal.site] if recal.variant == T.REDUCED else []
    metadata = T.recalibrated_metadata(
        outcome.base_names[recal.model], outcome.base_metadata.get(recal.model), recal.local, left_out
    )
    st.session_state.pop(KEY_PENDING_USE, None)
    try:
        model = T.recalibrated_pipeline(pipeline, recal.local.recalibration)
    except ValueError as problem:
        logger.warning("recalibrated model refused: %s", problem)
        st.session_state[KEY_MESSAGE] = ("error", str(problem))
        return
    state.set_active_model(name, model, metadata, outcome.training_data.get(recal.model))
    st.session_state[KEY_USED] = name
    st.session_state[KEY_MESSAGE] = ("success", f"**{name}** is now this session's active model.")


def render_message() -> None:
    message = st.session_state.pop(KEY_MESSAGE, None)
    if message is None:
        return
    kind, text = message
    if kind == "success":
        st.success(text, icon=":material/check:")
        st.page_link("app_pages/predict.py", label="Open Patient risk", icon=":material/monitor_heart:")
    else:
        st.error(text, icon=":material/error:")
