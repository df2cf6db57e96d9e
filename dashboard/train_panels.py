"""Panels of the training page for a run on the full heart data: the live panel, a finished run's results.

The playground's controls, two-input views and run comparison are in dashboard/playground.py.
Runs (model.serving.runs.TrainingRun) live in this session's state only (dashboard.state.training_runs()).
The training thread never calls Streamlit: the live panel is a fragment that redraws from the
run's recorded history on a timer, and asks for a full rerun once the run has ended.
"""

from __future__ import annotations

import math

import streamlit as st

from dashboard import state
from dashboard.charts import show
from dashboard.training_views import (
    confusion_matrix_figure,
    evaluation_curves_figure,
    gradient_norms_figure,
    learning_curves_figure,
    run_boundary_figure,
    threshold_figure,
    weight_histograms_figure,
)
from model.evaluation import thresholds
from model.serving.runs import RunStatus, TrainingRun, config_summary, repeats_note

REFRESH_SECONDS = 1.0  # live redraw interval: smooth enough to watch, light on a small server
MAX_SESSION_RUNS = state.MAX_SESSION_RUNS  # older finished runs are dropped (memory is bounded per session)
STOP_WAIT_SECONDS = 1.0  # Stop waits this long for the loop to reach a batch boundary
KEY_RUN_COUNTER = "train.run_counter"
KEY_MESSAGE = "train.message"
KEY_INSPECTED = "train.inspected_run"
KEY_THRESHOLD = "train.threshold"


# ---- callbacks ----------------------------------------------------------------------------
def use_model(run: TrainingRun) -> None:
    trained_on = run.frame.loc[run.training_index] if run.training_index is not None else None
    state.set_active_model(f"{run.name} ({run.dataset_name})", run.pipeline, run.metadata(), trained_on)
    st.session_state[KEY_MESSAGE] = None
    st.toast(f"{run.name} is now the active model: the prediction page uses it.", icon=":material/check:")


# ---- panels -------------------------------------------------------------------------------
def _format_seconds(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "estimating…"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def status_line(run: TrainingRun) -> str:
    events = run.events()
    done = events[-1].epoch if events else 0
    history = run.history
    if run.status is RunStatus.FAILED:
        return f"{run.name} failed: {run.error}"
    if run.status is RunStatus.STOPPED and run.pipeline is None:
        return f"{run.name} was stopped before training began: there is nothing to keep."
    if run.status is RunStatus.STOPPED:
        return (
            f"{run.name} was stopped after epoch {done} of {run.config.epochs}: the curves so far and the "
            "network as it stood are kept."
        )
    if run.status is RunStatus.FINISHED and history is not None and history.stopped_early:
        return (
            f"{run.name} stopped early at epoch {done}: no lower loss on its early-stopping hold-out "
            f"({history.inner_holdout} training patients set aside for it) for {run.config.patience} epochs; "
            f"the weights of epoch {history.best_epoch} are kept."
        )
    if run.status is RunStatus.FINISHED:
        return f"{run.name} finished all {done} epochs in {_format_seconds(run.elapsed)}."
    return f"{run.name}: {run.status.value}…"


def render_progress(run: TrainingRun) -> None:
    fraction, remaining = run.progress()
    events = run.events()
    epoch = events[-1].epoch if events else 0
    st.progress(
        min(fraction, 1.0),
        text=f"{run.name} · epoch {epoch} of {run.config.epochs} · "
        f"{_format_seconds(run.elapsed)} elapsed · about "
        f"{_format_seconds(remaining)} left · {run.device_label}",
    )


def metric_delta(value: float | None, before: float | None) -> str | None:
    """The change since the previous epoch, or None (no coloured arrow) when it rounds to 0."""
    change = None if value is None or before is None else round(value - before, 4)
    return f"{change:+.4f}" if change else None


def render_metrics(run: TrainingRun, events: list) -> None:
    if not events:
        st.caption("Preparing the data and the network…")
        return
    last = events[-1]
    previous = events[-2] if len(events) > 1 else None
    columns = st.columns(5)
    values = (
        ("Training loss", last.train_loss, previous and previous.train_loss, "inverse"),
        ("Validation loss", last.val_loss, previous and previous.val_loss, "inverse"),
        ("Training accuracy", last.train_acc, previous and previous.train_acc, "normal"),
        ("Validation accuracy", last.val_acc, previous and previous.val_acc, "normal"),
        ("Validation ROC AUC", last.val_auc, previous and previous.val_auc, "normal"),
    )
    for column, (label, value, before, colour) in zip(columns, values, strict=True):
        column.metric(label, "–" if value is None else f"{value:.3f}", metric_delta(value, before), delta_color=colour)


def render_charts(run: TrainingRun, key: str) -> None:
    """Everything that grows while the network learns (live, and after the end)."""
    events = run.events()
    best = run.history.best_epoch if run.history is not None and run.config.early_stopping else None
    # Build every figure before drawing any: a fragment rerun then replaces the charts in one
    # quick burst instead of one by one (less flicker while the server is busy training).
    curves = learning_curves_figure(events, best)
    gradient_norms = gradient_norms_figure(events)
    weights = weight_histograms_figure(run.latest_snapshot)
    boundary = run_boundary_figure(run)

    render_metrics(run, events)
    show(curves, key=f"{key}.curves")
    gradients_column, weights_column = st.columns(2)
    with gradients_column:
        show(gradient_norms, key=f"{key}.gradients")
        st.caption(
            "Backpropagation applies the chain rule layer by layer from the loss backwards; the size of "
            "each layer's gradient shows how much error signal reaches it. Shrinking norms deep in the "
            "network = vanishing gradients (saturated sigmoid/tanh). Measured on each epoch's last "
            "mini-batch, so it jitters with the batch."
        )
    with weights_column:
        show(weights, key=f"{key}.weights")
        st.caption(
            f"Weights start from the initialisation ({run.config.init}"
            f"{f', σ = {run.config.init_sigma:g}' if run.config.init == 'normal' else ''}) and spread "
            "as gradient descent moves them; weight decay pulls them back towards 0."
        )
    show(boundary, key=f"{key}.boundary")
    st.caption(
        "Every patient projected on the two main directions of variation of the training data (PCA). "
        "Marker colour = true outcome (diamonds: validation patients); background = the network's "
        "P(disease) over that plane, redrawn every few epochs; the black line is P = 0.5."
    )


@st.fragment(run_every=REFRESH_SECONDS)
def live_panel(run: TrainingRun) -> None:
    from dashboard.playground import controls_out_of_date

    if not run.is_active or controls_out_of_date(run):
        st.rerun(scope="app")  # ended or paused: redraw the whole page (its results, the right buttons)
    render_progress(run)
    render_charts(run, key="live")


def render_results(run: TrainingRun, usable: bool = True) -> None:
    """Confusion matrix, ROC / PR / calibration, threshold view; use (unless `usable` is False: a diverged
    run) or download the model."""
    if run.pipeline is None or run.validation_proba is None:
        return
    y, proba = run.y_validation, run.validation_proba
    st.subheader(f"How {run.name} does on its {len(y)} validation patients")
    threshold = st.slider(
        "Threshold on P(disease) above which a patient is called positive", 0.0, 1.0, 0.5, 0.01, key=KEY_THRESHOLD
    )
    point = thresholds.operating_point(y, proba, threshold)
    sensitivity, specificity, precision, accuracy = st.columns(4)
    sensitivity.metric("Sensitivity", f"{point.sensitivity:.0%}", help="Diseased patients the model flags.")
    specificity.metric("Specificity", f"{point.specificity:.0%}", help="Healthy patients the model clears.")
    precision.metric("Precision (PPV)", "–" if math.isnan(point.precision) else f"{point.precision:.0%}")
    accuracy.metric("Accuracy", f"{point.accuracy:.0%}")
    matrix_column, threshold_column = st.columns(2)
    with matrix_column:
        show(confusion_matrix_figure(point), key="results.confusion")
    with threshold_column:
        show(threshold_figure(thresholds.sensitivity_specificity_curve(y, proba), threshold), key="results.threshold")
    show(
        evaluation_curves_figure(
            thresholds.roc(y, proba),
            thresholds.precision_recall(y, proba),
            thresholds.calibration(y, proba),
            float(y.mean()),
            (1 - point.specificity, point.sensitivity),
        ),
        key="results.curves",
    )
    st.caption(validation_caption(run))

    use, download, _ = st.columns([2, 3, 3])
    if not usable:
        use.button(
            "Use this model",
            key="results.use",
            disabled=True,
            icon=":material/block:",
            width="stretch",
            help="Not offered: this training diverged (see above), so its predictions mean nothing.",
        )
    else:
        use.button(
            "Use this model",
            key="results.use",
            on_click=use_model,
            args=(run,),
            type="primary",
            icon=":material/check_circle:",
            width="stretch",
            help="Make it the active model for the prediction page (this session only).",
        )
    download.download_button(
        "Download model bundle (.zip)",
        data=run.bundle_zip,
        file_name=f"{run.bundle_name}.zip",
        mime="application/zip",
        key="results.download",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
    )


def validation_caption(run: TrainingRun) -> str:
    """Where the result numbers come from, and what the validation part was (not) used for."""
    n = len(run.y_validation)
    holdout = run.history.inner_holdout if run.history is not None else 0
    if holdout:
        use = (
            f"never used to fit the weights or the preprocessing, nor to decide when to stop: early stopping "
            f"watched {holdout} of the training patients, held out from fitting for that purpose"
        )
    else:
        use = "never used to fit the weights or the preprocessing"
    repeats = repeats_note(run.patients)
    return (
        f"Measured on the validation part only ({use}). "
        f"With {n} patients these numbers are noisy; the comparison page cross-validates."
        + (f" {repeats}" if repeats else "")
    )


def inspected_run(runs: list[TrainingRun]) -> TrainingRun:
    names = [run.name for run in runs]
    if st.session_state.get(KEY_INSPECTED) not in names:
        st.session_state[KEY_INSPECTED] = names[-1]
    if len(runs) > 1:
        st.selectbox(
            "Run to inspect",
            names,
            key=KEY_INSPECTED,
            format_func=lambda name: f"{name}: {config_summary(runs[names.index(name)].config)}",
        )
    return runs[names.index(st.session_state[KEY_INSPECTED])]
