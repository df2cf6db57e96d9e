"""Widgets of the comparison page: the settings form, the comparison job, and the result tabs.

Computation is model.comparison; figures are dashboard.compare_views. A comparison runs as a
background job (model.runtime.jobs.Job) kept in the session (dashboard.state.compare_job()): the user
may leave the page and come back to its progress, then its result; Stop cancels it. While it
runs, a fragment in the sidebar of every page (dashboard.sidebar) sends the job a heartbeat;
when the browser session is gone the heartbeats stop and the job's watchdog cancels it, freeing
its compute slot. Before a run starts the page shows an estimate of its time
(model.estimates) and asks for confirmation when it is long.

Finished results are kept server-wide for a few identical requests (data fingerprint, ANN config
JSON, protocol, models, extras), so a second visit, or a second user with the same data and
settings, gets the result at once; the session also keeps its last result.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import compare_decision_views as decision_views
from dashboard import compare_views as views
from dashboard import state
from dashboard.charts import show
from model.data.exploration import frame_fingerprint
from model.evaluation import verdicts
from model.evaluation.comparison import (
    BUSY_MESSAGE,
    CLASSICAL_NAMES,
    DEFAULT_MODELS,
    MODEL_NAMES,
    PERCEPTRON_NAME,
    ComparisonReport,
    ExternalValidation,
    Protocol,
    checked_features_and_target,
    external_validation,
    protocol_problems,
    run_comparison,
    selection_problems,
    workload_problems,
)
from model.evaluation.cross_validation import ModelFinished, ModelFitError
from model.evaluation.decision_curves import MAX_HARM_RATIO, MIN_HARM_RATIO, threshold_from_harm_ratio
from model.evaluation.estimates import ComparisonEstimate, describe_seconds, estimate_comparison
from model.evaluation.subgroups import subgroup_performance
from model.nn.config import ANNConfig
from model.runtime.compute_slots import ServerBusyError, slots_in_use
from model.runtime.jobs import Job, JobStatus
from model.runtime.limits import MAX_CONCURRENT_TRAININGS, MAX_CV_FOLDS, MAX_CV_REPEATS
from model.serving.runs import config_summary

logger = logging.getLogger(__name__)

KEY_LAST = "compare.last_run"  # LastRun of this session
KEY_PENDING = "compare.pending"  # PendingRun waiting for the user's confirmation (a long estimate)
KEY_NOTICE = "compare.notice"  # (kind, text) to show once, from a button callback
KEY_FORM_MODELS = "compare.form.models"
KEY_FORM_FOLDS = "compare.form.folds"
KEY_FORM_REPEATS = "compare.form.repeats"
KEY_FORM_SEED = "compare.form.seed"
KEY_FORM_CURVES = "compare.form.curves"
KEY_FORM_IMPORTANCE = "compare.form.importance"
KEY_FORM_EXTERNAL = "compare.form.external"
KEY_IMPORTANCE_MODEL = "compare.importance_model"
KEY_DECISION_MODEL = "compare.decision_model"
KEY_HARM_RATIO = "compare.harm_ratio"
KEY_SUBGROUP_MODEL = "compare.subgroup_model"
KEY_RUN = "compare.run"
KEY_CONFIRM = "compare.confirm"
KEY_DISCARD = "compare.discard"
KEY_STOP = "compare.stop"

CONFIRM_ABOVE_SECONDS = 60.0  # a longer estimate asks "start it?" first
REFRESH_SECONDS = 1.0  # the page's progress redraw (each redraw is also a heartbeat)
STOP_WAIT_SECONDS = 2.0  # Stop waits this long for the job to reach its next check
MAX_KEPT_RESULTS = 8  # finished results kept server-wide for identical requests


@dataclass(frozen=True)
class Settings:
    names: tuple[str, ...]
    protocol: Protocol
    learning_curve: bool
    importance: bool
    external: bool


@dataclass
class LastRun:
    settings: Settings
    data_key: str
    dataset_name: str
    config_json: str
    report: ComparisonReport
    external: ExternalValidation | None
    external_error: str | None = None


@dataclass(frozen=True)
class PendingRun:
    """A run waiting for confirmation: what it would compare, on which data and network."""

    settings: Settings
    data_key: str
    config_json: str
    estimate: ComparisonEstimate | None
    estimate_error: str | None = None  # why there is no estimate


class ComparisonJob(Job):
    """A comparison (then, when asked, the external validation) in the background, and what it was for."""

    def __init__(
        self,
        settings: Settings,
        dataset: state.DatasetChoice,
        config: ANNConfig,
        sites: pd.DataFrame | None,
        estimate: ComparisonEstimate | None,
    ):
        self.settings, self.dataset_name = settings, dataset.name
        self.data_key, self.config_json = frame_fingerprint(dataset.frame), config.to_json(indent=None)
        self.collected = False  # the page has turned the result into the session's LastRun
        # Each model's fold metrics as it finishes (cheapest first), appended by the job's thread and read by
        # the page's (list.append is atomic): the partial leaderboard while the rest run.
        self.finished_models: list[ModelFinished] = []
        frame = dataset.frame
        external_sites = sites if settings.external else None

        def work(progress, stop_event: threading.Event):
            share = 0.9 if external_sites is not None else 1.0
            report = run_comparison(
                frame,
                list(settings.names),
                config,
                settings.protocol,
                lambda f, message: progress(share * f, message),
                with_learning_curve=settings.learning_curve,
                with_importance=settings.importance,
                stop_event=stop_event,
                hold_slot=False,
                on_model=self.finished_models.append,
            )
            external, error = None, None
            if external_sites is not None:
                try:
                    external = external_validation(
                        external_sites,
                        list(settings.names),
                        config,
                        progress=lambda f, message: progress(share + (1 - share) * f, message),
                        stop_event=stop_event,
                        hold_slot=False,
                    )
                except ValueError as problem:  # the comparison itself is kept and shown
                    logger.warning("external validation could not run: %s", problem)
                    error = str(problem)
            return report, external, error

        super().__init__(
            work, "The comparison", BUSY_MESSAGE, estimate_seconds=None if estimate is None else estimate.seconds
        )
        self.result_key = _result_key(
            self.data_key,
            self.config_json,
            settings,
            None if external_sites is None else frame_fingerprint(external_sites),
        )


# ------------------------------------------------------------------ results kept for identical requests
_results: OrderedDict[tuple, tuple] = OrderedDict()
_results_lock = threading.Lock()


def _result_key(data_key: str, config_json: str, settings: Settings, sites_key: str | None) -> tuple:
    return (data_key, config_json, settings, sites_key)


def _kept_result(key: tuple) -> tuple | None:
    with _results_lock:
        if key not in _results:
            return None
        _results.move_to_end(key)
        return copy.deepcopy(_results[key])  # each session gets its own copy, as st.cache_data gives


def _keep_result(key: tuple, result: tuple) -> None:
    with _results_lock:
        _results[key] = result
        while len(_results) > MAX_KEPT_RESULTS:
            _results.popitem(last=False)


def forget_results() -> None:
    """Drop every kept result (the next identical request computes again)."""
    with _results_lock:
        _results.clear()


# ------------------------------------------------------------------ the form
def _seed_form(previous: Settings | None, sites_loaded: bool) -> None:
    """Give each form field its value: the user's edit while on the page, else the settings of the session's
    latest comparison (Streamlit drops widget values when the page is left), else the defaults."""
    protocol = previous.protocol if previous else Protocol()
    values = {
        KEY_FORM_MODELS: list(previous.names) if previous else list(DEFAULT_MODELS),
        KEY_FORM_FOLDS: protocol.n_splits,
        KEY_FORM_REPEATS: protocol.n_repeats,
        KEY_FORM_SEED: protocol.seed,
        KEY_FORM_CURVES: previous.learning_curve if previous else True,
        KEY_FORM_IMPORTANCE: previous.importance if previous else True,
        KEY_FORM_EXTERNAL: (previous.external if previous else True) and sites_loaded,
    }
    for key, value in values.items():
        if key not in st.session_state:
            st.session_state[key] = value


def render_form(config: ANNConfig, sites_loaded: bool, previous: Settings | None = None) -> Settings | None:
    """The settings form (seeded from `previous`, the session's latest settings); returns Settings when submitted."""
    _seed_form(previous, sites_loaded)
    with st.form("compare.form", border=True):
        names = st.multiselect(
            "Models",
            MODEL_NAMES,
            key=KEY_FORM_MODELS,
            help=f"Seven classical models, the ANN as configured ({config_summary(config)}), and the "
            f"single perceptron (no hidden layer).",
        )
        cols = st.columns(3)
        folds = cols[0].number_input(
            "Folds",
            2,
            MAX_CV_FOLDS,
            key=KEY_FORM_FOLDS,
            help=f"k of stratified k-fold cross-validation (2 to {MAX_CV_FOLDS}).",
        )
        repeats = cols[1].number_input(
            "Repeats",
            1,
            MAX_CV_REPEATS,
            key=KEY_FORM_REPEATS,
            help=f"How many times the k folds are reshuffled (1 to {MAX_CV_REPEATS}). "
            "More repeats: narrower intervals, longer run.",
        )
        seed = cols[2].number_input(
            "Seed", 0, 2**31 - 1, key=KEY_FORM_SEED, help="Fixes the folds: every model sees exactly the same ones."
        )
        cols = st.columns(3)
        curves = cols[0].checkbox(
            "Learning curves",
            key=KEY_FORM_CURVES,
            help="ANN and best classical model trained on 10% … 100% of each fold.",
        )
        importance = cols[1].checkbox(
            "Permutation importance",
            key=KEY_FORM_IMPORTANCE,
            help="Per model, on the held-out rows of the first repeat's folds.",
        )
        external = cols[2].checkbox(
            "External validation",
            key=KEY_FORM_EXTERNAL,
            disabled=not sites_loaded,
            help="Train on Cleveland, test on Hungary, Switzerland and VA "
            + ("." if sites_loaded else "(load the four UCI sites first)."),
        )
        submitted = st.form_submit_button("Run comparison", type="primary", icon=":material/play_arrow:", key=KEY_RUN)
    if not submitted:
        return None
    return Settings(
        tuple(n for n in MODEL_NAMES if n in names),
        Protocol(int(folds), int(repeats), int(seed)),
        bool(curves),
        bool(importance),
        bool(external and sites_loaded),
    )


def settings_problems(settings: Settings, frame: pd.DataFrame, config: ANNConfig) -> list[str]:
    """Everything that stops a run, in plain words."""
    problems = selection_problems(settings.names)
    try:
        X, y = checked_features_and_target(frame)
    except ValueError as error:
        return problems + [f"This dataset cannot be compared: {error}."]
    problems += protocol_problems(y, settings.protocol, X)
    problems += workload_problems(len(frame), settings.protocol)
    if any(n not in CLASSICAL_NAMES and n != PERCEPTRON_NAME for n in settings.names):
        problems += [
            f"The ANN configuration is not valid: {e}. Fix it on the configuration page." for e in config.errors()
        ]
    return problems


# ------------------------------------------------------------------ estimate, start, confirm, stop
def notice(kind: str, text: str) -> None:
    """A message for the next run of the page (button callbacks cannot draw where the page wants it)."""
    st.session_state[KEY_NOTICE] = (kind, text)


def render_server_load() -> None:
    """How busy the server is (all users): a run needs one free slot."""
    busy = slots_in_use()
    st.caption(
        f"This server is running {busy} of its {MAX_CONCURRENT_TRAININGS} trainings and comparisons (all users) now."
    )


def render_notice() -> None:
    kind, text = st.session_state.pop(KEY_NOTICE, (None, None))
    if kind == "warning":
        st.warning(text, icon=":material/hourglass_top:")
    elif kind == "error":
        st.error(text, icon=":material/error:")


def estimate(settings: Settings, dataset: state.DatasetChoice, config: ANNConfig) -> ComparisonEstimate:
    """How long these settings will take on this server (model.estimates)."""
    sites = state.uci_sites() if settings.external else None
    external_rows = 0 if sites is None or "site" not in sites.columns else int((sites["site"] == "cleveland").sum())
    return estimate_comparison(
        dataset.n_rows,
        settings.names,
        config,
        settings.protocol.n_splits,
        settings.protocol.n_repeats,
        settings.learning_curve,
        settings.importance,
        external_rows=external_rows,
    )


def submit(settings: Settings, dataset: state.DatasetChoice, config: ANNConfig) -> None:
    """Valid settings were submitted: a kept identical result at once, else start the job now when it is
    short, or ask for confirmation (PendingRun) when its estimate is long."""
    st.session_state.pop(KEY_PENDING, None)
    running = state.compare_job()
    if running is not None and running.is_active:
        notice("warning", "A comparison is already running in this session: stop it, or wait for it to end.")
        return
    data_key, config_json = frame_fingerprint(dataset.frame), config.to_json(indent=None)
    sites = state.uci_sites() if settings.external else None
    kept = _kept_result(
        _result_key(data_key, config_json, settings, None if sites is None else frame_fingerprint(sites))
    )
    if kept is not None:
        report, external, error = kept
        st.session_state[KEY_LAST] = LastRun(settings, data_key, dataset.name, config_json, report, external, error)
        return
    try:
        with st.spinner("Estimating how long it will take on this server…"):
            guess = estimate(settings, dataset, config)
    except Exception as error:  # no estimate is no reason not to run; the user decides
        logger.exception("the comparison's time could not be estimated")
        st.session_state[KEY_PENDING] = PendingRun(settings, data_key, config_json, None, str(error))
        return
    if guess.seconds > CONFIRM_ABOVE_SECONDS:
        st.session_state[KEY_PENDING] = PendingRun(settings, data_key, config_json, guess)
        return
    start(settings, dataset, config, guess)


def start(
    settings: Settings, dataset: state.DatasetChoice, config: ANNConfig, guess: ComparisonEstimate | None
) -> ComparisonJob | None:
    """Start the comparison in the background (None, with a notice, when the server is busy)."""
    job = ComparisonJob(settings, dataset, config, state.uci_sites(), guess)
    try:
        job.start()
    except ServerBusyError as busy:  # every compute slot taken by other users: try again later
        notice("warning", str(busy))
        return None
    state.set_compare_job(job)
    return job


def confirm_pending() -> None:
    """The user accepted the estimate: start, unless the data or network changed since it was made."""
    pending = st.session_state.pop(KEY_PENDING, None)
    if pending is None:
        return
    dataset, config = state.current_dataset(), state.ann_config()
    if frame_fingerprint(dataset.frame) != pending.data_key or config.to_json(indent=None) != pending.config_json:
        notice(
            "warning",
            "The data or the network changed since the estimate was made: press **Run comparison** "
            "again to see a new estimate.",
        )
        return
    start(pending.settings, dataset, config, pending.estimate)


def discard_pending() -> None:
    st.session_state.pop(KEY_PENDING, None)


def stop_job(job: Job) -> None:
    job.cancel("stopped by you")
    job.join(STOP_WAIT_SECONDS)


def _largest_parts(guess: ComparisonEstimate, count: int = 3) -> str:
    parts = sorted(guess.parts.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {describe_seconds(seconds).removeprefix('about ')}" for name, seconds in parts)


def render_pending() -> None:
    """A long (or unknown) estimate: say how long, and start only on a second button."""
    pending: PendingRun | None = st.session_state.get(KEY_PENDING)
    if pending is None:
        return
    protocol = pending.settings.protocol
    if pending.estimate is None:
        text = f"How long this comparison will take could not be estimated ({pending.estimate_error}). Start it anyway?"
    else:
        text = (
            f"This comparison will take **{pending.estimate.describe()}** on this server: "
            f"{len(pending.settings.names)} models on {protocol.n_fits} folds"
            f"{', with learning curves' if pending.settings.learning_curve else ''}"
            f"{', permutation importance' if pending.settings.importance else ''}. Start it?"
        )
    with st.container(border=True):
        st.warning(text, icon=":material/schedule:")
        if pending.estimate is not None:
            st.caption(
                f"Estimated from the work it implies (folds × epochs × patients × network parameters, and "
                f"each classical model's time on this machine). Largest parts: "
                f"{_largest_parts(pending.estimate)}. It keeps running while you visit other pages; "
                f"Stop ends it at any time."
            )
        start_column, discard_column, _ = st.columns([2, 1, 3])
        start_column.button(
            "Start the comparison",
            key=KEY_CONFIRM,
            on_click=confirm_pending,
            type="primary",
            icon=":material/play_arrow:",
            width="stretch",
        )
        discard_column.button("Don't start", key=KEY_DISCARD, on_click=discard_pending, width="stretch")


def _format_seconds(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def progress_text(job: Job) -> str:
    """'Running · Random forest: fold 3 of 50 · 12 s elapsed · about 30 s left (estimate)'."""
    parts = [job.status.words.capitalize(), job.message, f"{_format_seconds(job.elapsed)} elapsed"]
    estimate, remaining = job.estimate_seconds, job.remaining_seconds()
    if remaining is not None and remaining > 0:
        parts.append(f"{describe_seconds(remaining)} left (estimate)")
    elif estimate is not None:  # the estimate has run out
        parts.append(f"longer than the estimate of {describe_seconds(estimate).removeprefix('about ')}")
    return " · ".join(parts)


@st.fragment(run_every=REFRESH_SECONDS)
def live_job(job: Job) -> None:
    """The running comparison's progress and its Stop button, redrawn every second (also a heartbeat)."""
    job.heartbeat()
    if not job.is_active:
        st.rerun(scope="app")  # it ended: redraw the page with its result or its fate
    with st.container(border=True):
        st.progress(min(job.fraction, 1.0), text=progress_text(job))
        stop_column, caption_column = st.columns([1, 5])
        stop_column.button(
            "Stop", key=KEY_STOP, on_click=stop_job, args=(job,), icon=":material/stop:", width="stretch"
        )
        caption_column.caption(
            "The comparison runs on the server: you may visit other pages and come back. "
            "Closing the browser tab stops it."
        )
    if isinstance(job, ComparisonJob):
        partial_leaderboard(job)


def partial_leaderboard(job: ComparisonJob) -> None:
    """The models finished so far, while the others still run (nothing until the first has finished)."""
    finished = list(job.finished_models)  # a snapshot: the job's thread may append meanwhile
    if not finished:
        return
    names = [n for n in MODEL_NAMES if n in job.settings.names]
    st.markdown(f"**Partial leaderboard — {len(finished)} of {len(names)} models finished**")
    st.dataframe(views.partial_leaderboard(finished, names), width="stretch")
    st.caption(
        "The cheapest models run first. A finished model's means and 95% intervals are final; the ranking "
        "against the best, the paired tests and the other tabs come when every model has finished."
    )


def collect(job: ComparisonJob) -> None:
    """Once: a finished job's result becomes the session's last run (and is kept for identical requests)."""
    if job.collected or job.is_active:
        return
    job.collected = True
    if job.status is JobStatus.DONE:
        report, external, error = job.result
        _keep_result(job.result_key, copy.deepcopy(job.result))
        st.session_state[KEY_LAST] = LastRun(
            job.settings, job.data_key, job.dataset_name, job.config_json, report, external, error
        )


def render_outcome(job: ComparisonJob) -> None:
    """How the session's latest comparison ended, in plain words (until the next one starts)."""
    if job.status is JobStatus.CANCELLED:
        st.info(
            f"The comparison was cancelled ({job.cancel_reason or 'stopped'}) after "
            f"{_format_seconds(job.elapsed)}, at {job.fraction:.0%} ({job.message}). Nothing of it was kept; "
            "your settings are. Press **Run comparison** to start again.",
            icon=":material/cancel:",
        )
    elif job.status is JobStatus.FAILED and isinstance(job.exception, ModelFitError):
        st.error(
            f"The comparison stopped because a model failed: {job.error}. Your settings are kept; leave "
            "that model out or check the data, then press **Run comparison** again.",
            icon=":material/error:",
        )
    elif job.status is JobStatus.FAILED and isinstance(job.exception, ValueError):  # bad data found while running
        st.error(f"The comparison could not run: {job.error}", icon=":material/error:")
    elif job.status is JobStatus.FAILED:
        st.error(
            f"The comparison failed unexpectedly: {job.error}. Your settings are kept; the server log has the details.",
            icon=":material/error:",
        )
    elif job.status is JobStatus.DONE:
        st.caption(
            f"Comparison {job.status.words} in {_format_seconds(job.elapsed)}"
            + (f" (estimated {describe_seconds(job.estimate_seconds)})." if job.estimate_seconds else ".")
        )


def last_run() -> LastRun | None:
    return st.session_state.get(KEY_LAST)


def latest_settings() -> Settings | None:
    """The settings of the session's latest comparison (running or ended), else of its last result."""
    job = state.compare_job()
    if job is not None:
        return job.settings
    last = last_run()
    return None if last is None else last.settings


def stale_note(last: LastRun, dataset: state.DatasetChoice, config: ANNConfig) -> str | None:
    """Why the shown result may not match the current data or network (None when it does)."""
    changed = []
    if frame_fingerprint(dataset.frame) != last.data_key:
        changed.append(f"the dataset (these results are for {last.dataset_name})")
    if config.to_json(indent=None) != last.config_json and any(n not in CLASSICAL_NAMES for n in last.settings.names):
        changed.append("the ANN configuration")
    if not changed:
        return None
    return "Since this comparison ran, " + " and ".join(changed) + " changed. Press **Run comparison** to update."


# ------------------------------------------------------------------ the results
def render_results(last: LastRun) -> None:
    report = last.report
    st.caption(
        f"{report.protocol.describe()} on {report.n_rows:,} patients ({last.dataset_name}): "
        f"{report.protocol.n_fits} identical train/test splits for every model."
    )
    tabs = st.tabs(
        [
            "Leaderboard",
            "ROC & calibration",
            "Learning curves",
            "Permutation importance",
            "Classical ML vs deep learning",
            "Decision curves",
            "Subgroups",
            "External validation",
        ]
    )
    with tabs[0]:
        _leaderboard(report)
    with tabs[1]:
        cols = st.columns(2)
        with cols[0]:
            show(views.roc_figure(report), key="compare.roc")
        with cols[1]:
            show(views.calibration_figure(report), key="compare.calibration")
        st.caption(
            "Each model's out-of-fold predictions from every repeat, pooled: each patient is predicted "
            "by a model that never saw them, once per repeat."
        )
    with tabs[2]:
        _learning(report)
    with tabs[3]:
        _importance(report)
    with tabs[4]:
        _evidence(report)
    with tabs[5]:
        _decision_curves(report)
    with tabs[6]:
        _subgroups(last)
    with tabs[7]:
        _external(last)


def _leaderboard(report: ComparisonReport) -> None:
    for fallback in report.fallbacks:
        st.warning(fallback, icon=":material/compress:")
    st.dataframe(views.leaderboard_styler(report), width="stretch")
    st.caption(
        "Mean over all folds with its 95% interval (Nadeau–Bengio corrected t, which allows for the "
        "overlap between training sets). Green: best per column (lowest for Brier score and times). "
        "Times are per fold and leave out the preprocessing, which every model shares; the ANN's and "
        "perceptron's fold networks train together, so theirs is that batched time divided by the "
        "number of folds."
    )
    for sentence in verdicts.significance_sentences(report):
        st.markdown(f"- {sentence}")
    st.download_button(
        "Download the leaderboard (CSV)",
        report.leaderboard_csv(),
        file_name="leaderboard.csv",
        mime="text/csv",
        icon=":material/download:",
        key="compare.download",
    )
    with st.expander("Where the time went"):
        show(views.time_figure(report), key="compare.times")
        seconds = pd.Series(report.stage_seconds, name="seconds").round(2)
        st.dataframe(seconds.to_frame(), width="stretch")


def _learning(report: ComparisonReport) -> None:
    fig = views.learning_curve_figure(report)
    if fig is None:
        st.info(
            "Learning curves need at least one classical model and the ANN or perceptron, with "
            "**Learning curves** ticked."
        )
        return
    show(fig, key="compare.learning")
    st.caption(
        f"{report.deep_model} and the best classical model ({report.best_classical}) trained on nested, "
        f"stratified subsets of each training fold of the first repeat and scored on the same held-out "
        f"fold."
    )


def _importance(report: ComparisonReport) -> None:
    fig = views.importance_heatmap(report)
    if fig is None:
        st.info("Tick **Permutation importance** and run again to see which features each model used.")
        return
    show(fig, key="compare.importance_heatmap")
    for note in report.notes:
        st.caption(note)
    models = list(report.result.ranked_models())
    model = st.selectbox("Features one model needed", models, key=KEY_IMPORTANCE_MODEL)
    show(views.importance_bars(report, model), key="compare.importance_bars")


def _evidence(report: ComparisonReport) -> None:
    st.markdown(
        "The course contrasts classical machine learning and deep learning on four points. "
        "Here each is filled with what this run measured."
    )
    st.table(verdicts.evidence_table(report).set_index("Aspect"))
    facts = report.model_facts.rename(
        columns={
            "model": "Model",
            "family": "Family",
            "size": "Size of the fitted model",
            "size_unit": "counted as",
            "input_columns": "Input columns",
            "fit_all_seconds": "One fit on all patients (s)",
            "predict_all_seconds": "Predict all patients (s)",
        }
    )
    st.dataframe(facts.set_index("Model"), width="stretch")


def _decision_curves(report: ComparisonReport) -> None:
    """Net benefit of each model against testing everyone or no one, and one model at the user's threshold."""
    result = report.result
    models = list(result.ranked_models())
    curve = decision_views.comparison_decision_curves(result.y, result.oof, models)
    chart = st.container()  # drawn above the settings below it, once they are known
    settings = st.columns([3, 2])
    ratio = settings[0].number_input(
        "Missing a case is N times worse than an unneeded test",
        min_value=int(MIN_HARM_RATIO),
        max_value=int(MAX_HARM_RATIO),
        value=decision_views.DEFAULT_HARM_RATIO,
        step=1,
        key=KEY_HARM_RATIO,
        help="How much worse a missed case of heart disease is than sending a healthy patient for a test. "
        "It sets the threshold risk from which a patient is tested: 1 / (1 + N).",
    )
    model = settings[1].selectbox("Model", models, key=KEY_DECISION_MODEL, help="Its spread over repeats is shaded.")
    threshold = threshold_from_harm_ratio(ratio)
    with chart:
        show(
            decision_views.decision_curve_figure(curve, float(np.mean(result.y)), model, threshold),
            key="compare.decision_curves",
        )
        st.caption(
            "At thresholds where a model's curve is above both references, using the model beats testing "
            "everyone or no one; where it dips below either, that default is the better choice."
        )
    st.markdown(decision_views.threshold_sentence(ratio))
    point = decision_views.repeated_decision_point(result.y, result.oof[model], threshold)
    st.markdown(f"**{model} at a threshold of {decision_views.percent(threshold)}**")
    cols = st.columns(2)
    cols[0].metric(
        "Sensitivity", decision_views.percent(point.sensitivity), help="Share of patients with disease tested."
    )
    cols[1].metric("Specificity", decision_views.percent(point.specificity), help="Share of healthy patients spared.")
    st.markdown(decision_views.tests_per_case_sentence(point.tests_per_case))
    st.markdown(decision_views.net_benefit_sentence(point, model))
    with st.expander("How is this computed?"):
        st.markdown(
            "Decision-curve analysis (Vickers & Elkin, *Medical Decision Making* 2006). At a threshold "
            "probability pt a patient is tested when the predicted risk is at least pt, and the net benefit is "
            "TP/n − FP/n · pt/(1 − pt): cases found per patient, less the unneeded tests weighted by how much "
            "less they matter. *Treat all* tests everyone (prevalence − (1 − prevalence) · pt/(1 − pt)); "
            "*treat none* tests no one (0).\n\n"
            f"Every curve uses out-of-fold predictions: each patient is scored by a model that never saw them. "
            f"Each of the {result.n_repeats} repeat(s) of the cross-validation gives one curve; the line is their "
            "mean and the shaded band (chosen model only) runs from the lowest to the highest repeat. "
            "Sensitivity and specificity above are averaged over the repeats, the number needed to test is all "
            "tests over all cases found, so the net benefit is exactly the mean curve's value at your threshold."
        )


@st.cache_data(max_entries=32, show_spinner="Scoring the subgroups…")
def _subgroup_table(key: tuple[str, str, str], _y: np.ndarray, _proba: np.ndarray, _groups: dict) -> pd.DataFrame:
    """subgroup_performance, computed once per (data, model, predictions): its thousand bootstrap resamples per
    subgroup take a noticeable fraction of a second. The arrays are not hashed (leading _); `key` identifies them."""
    return subgroup_performance(_y, _proba, _groups)


def _subgroups(last: LastRun) -> None:
    """Discrimination and calibration of one model in women and men, age bands and sites."""
    result = last.report.result
    dataset = state.current_dataset()
    if frame_fingerprint(dataset.frame) != last.data_key:
        st.info(
            "The subgroups need the patients this comparison was run on, and the data have changed since "
            f"(it ran on {last.dataset_name}). Press **Run comparison** to score the current data.",
            icon=":material/history:",
        )
        return
    try:
        groups = decision_views.comparison_groups(dataset.frame, result.y)
    except ValueError as problem:  # e.g. an age outside the bands: the table cannot be built, the rest stands
        logger.warning("subgroups could not be formed", exc_info=True)
        st.error(f"The subgroups could not be formed: {problem}.", icon=":material/error:")
        return
    models = list(result.ranked_models())
    model = st.selectbox("Model", models, key=KEY_SUBGROUP_MODEL)
    proba = decision_views.mean_out_of_fold(result.oof[model])
    predictions = hashlib.sha1(np.ascontiguousarray(proba).tobytes()).hexdigest()
    table = _subgroup_table((last.data_key, model, predictions), result.y, proba, groups)
    st.dataframe(decision_views.subgroup_styler(table), width="stretch", hide_index=True)
    st.caption(
        "Observed / expected (O/E): the cases of heart disease found in a subgroup divided by the number the model "
        "predicted for it (the sum of its predicted risks). 1 means as many cases as predicted; above 1 the model "
        "underestimates the subgroup's risk, below 1 it overestimates it. Greyed rows are too small to say: "
        "their AUC would be noise."
    )
    show(decision_views.subgroup_forest_figure(table, model), key="compare.subgroup_forest")
    if "site" not in dataset.frame.columns:
        st.caption(
            "No site column in these data, so no rows by site: with the four UCI sites loaded "
            "(Data exploration) they appear here."
        )
    with st.expander("How is this computed?"):
        st.markdown(
            "Each patient's out-of-fold predicted risk, averaged over the repeats of the cross-validation. "
            "ROC AUC per subgroup with a 95% percentile bootstrap interval (1,000 resamples of the patients with "
            "and without disease, drawn separately; fixed seed). O/E with the exact Poisson interval of the "
            "observed count. A subgroup with fewer than 30 patients, or fewer than 10 with or without disease, "
            "gets no AUC."
        )


def _external(last: LastRun) -> None:
    if last.external_error:
        st.error(f"External validation could not run: {last.external_error}")
        return
    validation = last.external
    if validation is None:
        if state.uci_sites() is None:
            st.info(
                "Load the four UCI sites (Data exploration → *Change the data* → the four UCI sites), then "
                "run again with **External validation** ticked: models trained on Cleveland are tested on "
                "the Hungarian, Swiss and VA Long Beach patients.",
                icon=":material/public:",
            )
            st.page_link("app_pages/explore.py", label="Go to Data exploration", icon=":material/query_stats:")
        else:
            st.info("Tick **External validation** and run again.")
        return
    st.page_link(
        "app_pages/transport.py",
        label="Missing features are imputed here with the training site's typical values; for models trained "
        "without them, and recalibration to a site, open Other hospitals",
        icon=":material/local_hospital:",
    )
    for warning in validation.warnings:
        st.warning(warning, icon=":material/warning:")
    show(views.external_metrics_figure(validation), key="compare.external")
    show(views.external_calibration_figure(validation), key="compare.external_calibration")
    st.dataframe(
        views.external_table(validation),
        width="stretch",
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in (
                "Prevalence (observed)",
                "Mean predicted risk",
                "ROC AUC",
                "Accuracy",
                "Brier score",
                "Calibration slope",
                "Calibration intercept",
            )
        },
    )
    st.caption(
        "Missing values by site, and what replaced them (the training site's median for numbers, "
        "its most frequent value for categories):"
    )
    st.dataframe(views.missing_table(validation), width="stretch")
