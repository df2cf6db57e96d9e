"""The hyper-parameter search section of the Configure page: settings, the search job, live progress, Stop,
the result and "Use the best configuration".

The search is model.evaluation.search.search_ann (Optuna) on the session's dataset. It runs as a background
job (model.runtime.jobs.Job, one compute slot) kept in the session (dashboard.state.search_job()), so the user
may visit other pages and come back to its progress, then its result; the sidebar's fragment sends it
heartbeats from every page (dashboard.sidebar), and a session that has gone is cancelled by the job's watchdog.

Stop is not a cancel: it ends the search after the running trials and keeps what finished (the result says
"stopped by you"); only a session that has gone cancels the job and drops it.

Where trials run: this server's process, or the Dask cluster named by HEART_ANN_DASK_SCHEDULER
(model.runtime.backends.backend_from_environment). A cluster that cannot be reached is logged and said on the
page, and the search runs here instead.

torch, scikit-learn and Optuna are imported in the job's thread, not when the page is drawn.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass

import streamlit as st

from dashboard import configure_form as form
from dashboard import search_views as views
from dashboard import state
from dashboard.charts import show
from model.data.schema import FEATURE_NAMES, TARGET
from model.runtime import backends
from model.runtime.compute_slots import ServerBusyError
from model.runtime.jobs import Job, JobStatus
from model.runtime.limits import (
    MAX_CV_FOLDS,
    MAX_NESTED_OUTER_FOLDS,
    MAX_SEARCH_EPOCHS,
    MAX_SEARCH_MINUTES,
    MAX_SEARCH_TRIALS,
)

logger = logging.getLogger(__name__)

PREFIX = "search."
KEY_FORM_TRIALS = PREFIX + "trials"
KEY_FORM_MINUTES = PREFIX + "minutes"
KEY_FORM_OBJECTIVE = PREFIX + "objective"
KEY_FORM_FOLDS = PREFIX + "folds"
KEY_FORM_EPOCHS = PREFIX + "max_epochs"
KEY_FORM_SEED = PREFIX + "seed"
KEY_FORM_NESTED = PREFIX + "nested"
KEY_FORM_OUTER = PREFIX + "outer_folds"
KEY_START = PREFIX + "start"
KEY_STOP = PREFIX + "stop"
KEY_USE = PREFIX + "use_best"
KEY_NOTICE = PREFIX + "notice"  # (kind, text) left by a callback, shown once

BUSY_MESSAGE = (
    "The server is busy with other users' trainings and comparisons: every compute slot is taken. "
    "Try the search again in a minute."
)
REFRESH_SECONDS = 1.5  # the live panel's redraw (each redraw is also a heartbeat)
MIN_EPOCHS_TRIED = 20  # the search space's shortest training, unless the longest allowed is shorter
MIN_MAX_EPOCHS = 2
DEFAULTS = {
    KEY_FORM_TRIALS: 30,
    KEY_FORM_MINUTES: 10.0,
    KEY_FORM_OBJECTIVE: "roc_auc",
    KEY_FORM_FOLDS: 5,
    KEY_FORM_EPOCHS: 300,
    KEY_FORM_SEED: 0,
    KEY_FORM_NESTED: False,
    KEY_FORM_OUTER: 5,
}


@dataclass(frozen=True)
class SearchSettings:
    """What the user asked for. The search ends after `n_trials` or `minutes`, whichever comes first."""

    n_trials: int
    minutes: float
    objective: str
    n_splits: int
    max_epochs: int
    seed: int
    nested: bool
    outer_folds: int

    @property
    def epochs(self) -> tuple[int, int]:
        """The range of epochs searched."""
        return (min(MIN_EPOCHS_TRIED, self.max_epochs), self.max_epochs)

    @property
    def trials_total(self) -> int:
        """Every trial the run may make: the search on all rows, and one search per outer fold when nested."""
        return self.n_trials * (1 + (self.outer_folds if self.nested else 0))


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def settings_problems(settings: SearchSettings) -> list[str]:
    """Every setting out of bounds, in words that say the allowed range."""
    problems = []
    if not _whole(settings.n_trials, 1, MAX_SEARCH_TRIALS):
        problems.append(f"Trials must be a whole number from 1 to {MAX_SEARCH_TRIALS}; got {settings.n_trials!r}.")
    minutes = settings.minutes
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes <= MAX_SEARCH_MINUTES:
        problems.append(f"Minutes must be more than 0 and at most {MAX_SEARCH_MINUTES}; got {minutes!r}.")
    elif math.isnan(minutes):
        problems.append(f"Minutes must be a number; got {minutes!r}.")
    if settings.objective not in views.OBJECTIVE_CHOICES:
        problems.append(f"The objective must be one of {', '.join(views.OBJECTIVE_NAMES.values())}.")
    if not _whole(settings.n_splits, 2, MAX_CV_FOLDS):
        problems.append(f"Folds per trial must be a whole number from 2 to {MAX_CV_FOLDS}; got {settings.n_splits!r}.")
    if not _whole(settings.max_epochs, MIN_MAX_EPOCHS, MAX_SEARCH_EPOCHS):
        problems.append(
            f"Longest training must be a whole number of epochs from {MIN_MAX_EPOCHS} to {MAX_SEARCH_EPOCHS:,}; "
            f"got {settings.max_epochs!r}."
        )
    if not _whole(settings.seed, 0, 2**31 - 1):
        problems.append(f"The seed must be a whole number from 0 to {2**31 - 1}; got {settings.seed!r}.")
    if settings.nested and not _whole(settings.outer_folds, 2, MAX_NESTED_OUTER_FOLDS):
        problems.append(
            f"Outer folds must be a whole number from 2 to {MAX_NESTED_OUTER_FOLDS}; got {settings.outer_folds!r}."
        )
    return problems


def data_problems(dataset: state.DatasetChoice) -> list[str]:
    """What stops a search on this dataset before it starts (model.evaluation.search checks the rest)."""
    missing = [name for name in (*FEATURE_NAMES, TARGET.name) if name not in dataset.frame.columns]
    if missing:
        return [f"{dataset.name} cannot be searched on: it lacks the column(s) {', '.join(missing)}."]
    return []


def base_config():
    """(configuration the search starts from, a note or None). The search draws layers, activation, dropout,
    optimizer, learning rate, weight decay, batch size and epochs; every other field (seed, initialisation,
    early stopping, class weights, device) is the session's — unless its configuration has errors."""
    config = state.ann_config()
    errors = config.errors()
    if not errors:
        return config, None
    from model.nn.presets import RECOMMENDED

    return RECOMMENDED, (
        f"Your configuration has {len(errors)} setting(s) that need attention, so the fields the search does not "
        "draw (seed, initialisation, early stopping, class weights, device) come from the Recommended preset."
    )


def backend_plan() -> str:
    """Where the trials will run, from the environment, in words (nothing is connected here)."""
    address = os.environ.get(backends.DASK_SCHEDULER_ENV, "").strip()
    if address:
        return (
            f"Trials run on the Dask cluster at `{address}` (set by {backends.DASK_SCHEDULER_ENV}); "
            "this server keeps the data, the folds and the Optuna study."
        )
    return (
        "Trials run in this server's process, one after another. "
        f"Set {backends.DASK_SCHEDULER_ENV} to a Dask scheduler's address to run them on a cluster."
    )


# ------------------------------------------------------------------ the job
class SearchJob(Job):
    """search_ann on a dataset in the background; live trial records for the page; Stop that keeps the result."""

    def __init__(self, settings: SearchSettings, dataset: state.DatasetChoice, config, config_note: str | None):
        self.settings, self.dataset, self.base_config, self.config_note = settings, dataset, config, config_note
        self.finish = threading.Event()  # the search's own stop: it ends after the running trials, keeping them
        self.stopped_by_user = False
        self.records: list[dict] = []  # one per finished trial of the search on all rows (appended by the job)
        self.stage = "search"
        self.best_value: float | None = None
        self.backend_text: str | None = None  # where the trials run, once known
        self.backend_problem: str | None = None  # the cluster could not be used: why (the search ran here)
        super().__init__(self._work, "The search", BUSY_MESSAGE)

    def request_stop(self) -> None:
        """The user's Stop: no new trial starts; what finished is kept."""
        if self.is_active:
            self.stopped_by_user = True
            self.finish.set()

    def cancel(self, reason: str = "stopped by you") -> None:
        super().cancel(reason)
        self.finish.set()  # the search notices at its next check, the job at its next progress report

    def _open_backend(self) -> backends.Backend:
        address = os.environ.get(backends.DASK_SCHEDULER_ENV, "").strip()
        if address:
            self.message = f"connecting to the Dask cluster at {address}"
        try:
            return backends.backend_from_environment()
        except (backends.BackendError, ImportError, OSError) as error:
            logger.warning("the Dask cluster at %s cannot be used; searching locally", address, exc_info=True)
            self.backend_problem = (
                f"The Dask cluster at {address} could not be used ({error}). The search runs in this server's "
                "process instead."
            )
            return backends.LocalBackend()

    def _work(self, progress, stop_event: threading.Event):
        from model.evaluation.comparison import checked_features_and_target
        from model.evaluation.search import SearchSpace, search_ann

        settings = self.settings
        X, y = checked_features_and_target(self.dataset.frame)
        engine = self._open_backend()
        self.backend_text = engine.describe()

        def on_event(event) -> None:
            self.stage = event.stage
            if event.kind == "trial" and event.stage == "search":
                self.records.append(
                    {"number": event.trial, "state": event.state, "value": event.value, "params": event.params}
                )
                self.best_value = event.best_value
            fraction = event.trials_done / max(event.trials_total, 1)
            progress(fraction, event.message)  # raises Cancelled once the job is cancelled

        try:
            return search_ann(
                X,
                y,
                n_trials=settings.n_trials,
                objective=settings.objective,
                backend=engine,
                n_splits=settings.n_splits,
                seed=settings.seed,
                space=SearchSpace(epochs=settings.epochs),
                base_config=self.base_config,
                timeout_minutes=settings.minutes,
                nested=settings.nested,
                outer_folds=settings.outer_folds,
                on_event=on_event,
                stop_event=self.finish,
            )
        finally:
            engine.close()


# ------------------------------------------------------------------ the form
def _seed_form(previous: SearchSettings | None) -> None:
    """Each field's value: the user's edit while on the page, else the latest search's settings (Streamlit
    drops widget values when the page is left), else the defaults."""
    values = dict(DEFAULTS)
    if previous is not None:
        values.update(
            {
                KEY_FORM_TRIALS: previous.n_trials,
                KEY_FORM_MINUTES: float(previous.minutes),
                KEY_FORM_OBJECTIVE: previous.objective,
                KEY_FORM_FOLDS: previous.n_splits,
                KEY_FORM_EPOCHS: previous.max_epochs,
                KEY_FORM_SEED: previous.seed,
                KEY_FORM_NESTED: previous.nested,
                KEY_FORM_OUTER: previous.outer_folds,
            }
        )
    for key, value in values.items():
        if key not in st.session_state:
            st.session_state[key] = value


def render_form(running: bool) -> SearchSettings | None:
    """The settings form; returns SearchSettings when submitted."""
    job = state.search_job()
    _seed_form(None if job is None else job.settings)
    with st.form("search.form", border=True):
        cols = st.columns(3)
        trials = cols[0].number_input(
            f"Trials (1–{MAX_SEARCH_TRIALS})",
            1,
            MAX_SEARCH_TRIALS,
            step=1,
            key=KEY_FORM_TRIALS,
            help="Configurations tried. Each is trained once per fold.",
        )
        minutes = cols[1].number_input(
            f"Minutes at most (up to {MAX_SEARCH_MINUTES})",
            0.5,
            float(MAX_SEARCH_MINUTES),
            step=1.0,
            format="%g",
            key=KEY_FORM_MINUTES,
            help="The search ends when the trials are done or this time is up, whichever comes first; "
            "what finished is kept.",
        )
        objective = cols[2].selectbox(
            "Objective",
            list(views.OBJECTIVE_CHOICES),
            format_func=views.OBJECTIVE_CHOICES.get,
            key=KEY_FORM_OBJECTIVE,
            help="ROC AUC: how well the risk ranks patients with disease above those without. Brier score: the "
            "mean squared error of the predicted risk (rewards calibration too).",
        )
        cols = st.columns(3)
        folds = cols[0].number_input(
            f"Folds per trial (2–{MAX_CV_FOLDS})",
            2,
            MAX_CV_FOLDS,
            step=1,
            key=KEY_FORM_FOLDS,
            help="Stratified folds keeping each patient's rows together, as in the comparison.",
        )
        max_epochs = cols[1].number_input(
            f"Longest training (epochs, {MIN_MAX_EPOCHS}–{MAX_SEARCH_EPOCHS:,})",
            MIN_MAX_EPOCHS,
            MAX_SEARCH_EPOCHS,
            step=10,
            key=KEY_FORM_EPOCHS,
            help=f"The search tries from {MIN_EPOCHS_TRIED} epochs (or fewer, if this is lower) up to this many. "
            "Fewer epochs: quicker trials.",
        )
        seed = cols[2].number_input(
            "Seed", 0, 2**31 - 1, step=1, key=KEY_FORM_SEED, help="Fixes the folds and Optuna's proposals."
        )
        cols = st.columns([2, 1])
        nested = cols[0].checkbox(
            "Nested CV: honest estimate",
            key=KEY_FORM_NESTED,
            help="Runs the same search again inside each outer training fold and scores its winner on the "
            "outer fold it never saw: (1 + outer folds) × the trials.",
        )
        outer = cols[1].number_input(
            f"Outer folds (2–{MAX_NESTED_OUTER_FOLDS})",
            2,
            MAX_NESTED_OUTER_FOLDS,
            step=1,
            key=KEY_FORM_OUTER,
            help="Used only with nested cross-validation.",
        )
        st.caption(backend_plan())
        submitted = st.form_submit_button(
            "Start the search", type="primary", icon=":material/travel_explore:", key=KEY_START, disabled=running
        )
    if not submitted:
        return None
    return SearchSettings(
        int(trials), float(minutes), str(objective), int(folds), int(max_epochs), int(seed), bool(nested), int(outer)
    )


# ------------------------------------------------------------------ start, stop, use
def notice(kind: str, text: str) -> None:
    st.session_state[KEY_NOTICE] = (kind, text)


def render_notice() -> None:
    kind, text = st.session_state.pop(KEY_NOTICE, (None, None))
    if kind == "success":
        st.success(text, icon=":material/check_circle:")
    elif kind == "warning":
        st.warning(text, icon=":material/hourglass_top:")
    elif kind == "error":
        st.error(text, icon=":material/error:")


def submit(settings: SearchSettings, dataset: state.DatasetChoice) -> SearchJob | None:
    """Check the settings and the data, then start the search (None, with the reasons shown, when it cannot)."""
    problems = settings_problems(settings) + data_problems(dataset)
    running = state.search_job()
    if running is not None and running.is_active:
        problems.append("A search is already running in this session: stop it, or wait for it to end.")
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if problems:
        return None
    config, note = base_config()
    job = SearchJob(settings, dataset, config, note)
    try:
        job.start()
    except ServerBusyError as busy:
        st.warning(str(busy), icon=":material/hourglass_top:")
        return None
    state.set_search_job(job)
    return job


def stop(job: SearchJob) -> None:
    job.request_stop()


def use_best(job: SearchJob) -> None:
    """Make the search's best configuration the session's: the form shows it, Train and Compare use it."""
    result = job.result
    form.use_config(result.best_config)
    notice(
        "success",
        f"The form now shows the best configuration of the search (trial {result.best_trial}, "
        f"{views.OBJECTIVE_NAMES[result.objective]} {result.best_value:.3f}). Train it on **Train and watch**.",
    )


# ------------------------------------------------------------------ live progress
def _seconds(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def progress_text(job: SearchJob) -> str:
    settings = job.settings
    done = len(job.records)
    parts = [f"{job.status.words.capitalize()}", f"trial {done} of {settings.n_trials} on all rows"]
    if job.stage != "search" and job.stage != "done":
        parts.append(f"nested CV: {job.stage}")
    parts.append(f"{_seconds(job.elapsed)} elapsed of at most {settings.minutes:g} min")
    return " · ".join(parts)


def _metrics(job: SearchJob, best: float | None, objective: str) -> None:
    counts = {state_: sum(1 for r in job.records if r["state"] == state_) for state_ in ("COMPLETE", "PRUNED", "FAIL")}
    cols = st.columns(3)
    cols[0].metric("Trials done", f"{len(job.records)} of {job.settings.n_trials}")
    cols[1].metric(f"Best {views.OBJECTIVE_NAMES[objective]} so far", views.format_score(best))
    cols[2].metric("Pruned / failed", f"{counts['PRUNED']} / {counts['FAIL']}")


def _trials_chart(records: list[dict], objective: str, key: str) -> None:
    if not records:
        st.caption("The chart of trial scores appears when the first trial has finished.")
        return
    show(views.trials_figure(list(records), objective), key=key)
    st.caption(
        "Each dot is one configuration's mean score over the folds; a hollow dot was pruned (its running mean "
        "after a fold was worse than the median of earlier trials, so it stopped early). The line is the best "
        "score found so far."
    )


@st.fragment(run_every=REFRESH_SECONDS)
def live_search(job: SearchJob) -> None:
    """The running search: progress, trials done, best so far, trial scores, Stop; redrawn (and a heartbeat)
    every REFRESH_SECONDS."""
    job.heartbeat()
    if not job.is_active:
        st.rerun(scope="app")  # it ended: redraw the page with its result
    with st.container(border=True):
        st.progress(min(job.fraction, 1.0), text=progress_text(job))
        if job.backend_problem:
            st.warning(job.backend_problem, icon=":material/cloud_off:")
        elif job.backend_text:
            st.caption(f"Running on {job.backend_text}.")
        _metrics(job, job.best_value, job.settings.objective)
        _trials_chart(job.records, job.settings.objective, key="search.live_trials")
        st.caption("Parameter importance is computed when the search ends.")
        stop_column, caption_column = st.columns([1, 4])
        stop_column.button(
            "Stop",
            key=KEY_STOP,
            on_click=stop,
            args=(job,),
            icon=":material/stop:",
            width="stretch",
            disabled=job.stopped_by_user,
        )
        caption_column.caption(
            "Stopping after the running trial: what finished is kept."
            if job.stopped_by_user
            else "Stop ends the search after the running trial and keeps what finished. The search runs on the "
            "server: you may visit other pages and come back."
        )


# ------------------------------------------------------------------ the result
def render_outcome(job: SearchJob) -> None:
    """How the latest search ended when it gave no result, in plain words."""
    if job.status is JobStatus.CANCELLED:
        st.info(
            f"The search was cancelled ({job.cancel_reason or 'stopped'}) after {_seconds(job.elapsed)}. "
            "Nothing of it was kept; your settings are.",
            icon=":material/cancel:",
        )
    elif job.status is JobStatus.FAILED and job.stopped_by_user:
        st.info(
            f"The search was stopped before any trial finished ({job.error}). Nothing to keep: start it again "
            "and stop it later.",
            icon=":material/cancel:",
        )
    elif job.status is JobStatus.FAILED and isinstance(job.exception, ValueError):
        st.error(f"The search could not run: {job.error}", icon=":material/error:")
    elif job.status is JobStatus.FAILED:
        st.error(
            f"The search failed unexpectedly: {job.error}. Your settings are kept; the server log has the details.",
            icon=":material/error:",
        )


def _ending(job: SearchJob, result) -> str:
    if job.stopped_by_user:
        return " — stopped by you; the trials that finished are kept"
    if result.stopped:
        return f" — the time budget of {job.settings.minutes:g} min ran out; the trials that finished are kept"
    return ""


def _nested(result) -> None:
    nested = result.nested
    name = views.OBJECTIVE_NAMES[result.objective]
    if nested is None:
        st.caption(
            f"The best {name} above is optimistic: it is the best of {len(result.trials)} tries on the same folds. "
            "Tick **Nested CV: honest estimate** for a score the search never saw."
        )
        return
    if nested.folds.empty:
        st.warning(
            "Nested cross-validation was stopped before its first outer fold finished: no honest estimate.",
            icon=":material/warning:",
        )
        return
    cols = st.columns(2)
    cols[0].metric(
        f"Honest estimate ({name}, nested CV)",
        f"{nested.outer_mean:.3f}" + (f" ± {nested.outer_std:.3f}" if not math.isnan(nested.outer_std) else ""),
        help="Mean ± SD over the outer folds of each fold's winner scored on patients its search never saw.",
    )
    cols[1].metric(
        f"Inner best ({name})",
        f"{nested.inner_mean:.3f}",
        help="Mean over the outer folds of the best trial's cross-validated score inside the fold.",
    )
    better = "higher" if views.MAXIMIZED[result.objective] else "lower"
    if nested.optimism > 0:
        words = (
            f"Picking the best of many trials on the same folds flatters it: the inner best is {nested.optimism:.3f} "
            f"{better} than the honest estimate. Expect about {nested.outer_mean:.3f} on new patients, not "
            f"{result.best_value:.3f}."
        )
    else:
        words = (
            f"Here the inner best is not better than the honest estimate (difference {nested.optimism:+.3f}): "
            f"the search did not flatter its winner. Expect about {nested.outer_mean:.3f} on new patients."
        )
    st.markdown(words)
    if not nested.complete:
        st.caption(f"Stopped after {len(nested.folds)} outer fold(s): the estimate rests on those only.")


def render_result(job: SearchJob) -> None:
    """The finished search: best configuration (and Use), honest estimate, trial scores, importances, trials."""
    from model.serving.runs import config_summary

    result = job.result
    name = views.OBJECTIVE_NAMES[result.objective]
    counts = result.trials["state"].value_counts()
    st.markdown(
        f"**Best {name}: {result.best_value:.3f}** (trial {result.best_trial}; {result.n_splits}-fold "
        f"cross-validation, seed {result.seed}) — {len(result.trials)} trials "
        f"({int(counts.get('COMPLETE', 0))} complete, {int(counts.get('PRUNED', 0))} pruned, "
        f"{int(counts.get('FAIL', 0))} failed) on {job.dataset.name} in {_seconds(result.seconds)}"
        f"{_ending(job, result)}."
    )
    if job.backend_problem:
        st.warning(job.backend_problem, icon=":material/cloud_off:")
    else:
        local = isinstance(result.backend, str) and result.backend == backends.LocalBackend().describe()
        st.caption("Ran in this server's process." if local else f"Ran on {result.backend}.")
    if state.current_dataset() is not job.dataset:
        st.warning(
            f"This search ran on {job.dataset.name}; the data in use have changed since. Its best configuration "
            "may not be the best for the current data: start the search again to check.",
            icon=":material/history:",
        )
    if job.config_note:
        st.caption(job.config_note)
    best = result.best_config
    in_use = state.ann_config() == best
    with st.container(border=True):
        st.markdown(f"**Best configuration:** {config_summary(best)}")
        use_column, link_column = st.columns([2, 3])
        use_column.button(
            "Use the best configuration",
            key=KEY_USE,
            on_click=use_best,
            args=(job,),
            type="secondary" if in_use else "primary",
            icon=":material/check:",
            width="stretch",
        )
        if in_use:
            with link_column:
                st.caption("In use: the form below shows it, and Train and Compare use it.")
                st.page_link("app_pages/train.py", label="Train this network", icon=":material/play_arrow:")
    render_notice()
    _nested(result)
    chart_column, importance_column = st.columns([3, 2])
    with chart_column:
        records = [
            {"number": int(row.number), "state": row.state, "value": None if math.isnan(row.value) else row.value}
            for row in result.trials.itertuples()
        ]
        _trials_chart(records, result.objective, key="search.result_trials")
    with importance_column:
        if result.importances:
            show(views.importance_figure(result.importances), key="search.importances")
            st.caption(
                "Optuna's fANOVA: how much of the variation in the completed trials' scores each setting explains. "
                "With few trials it is a rough guide."
            )
        else:
            for note in result.notes or ["Parameter importances are not available for this search."]:
                st.caption(note)
    with st.expander(f"All {len(result.trials)} trials"):
        table = result.trials.rename(columns={c: views.param_label(c) for c in result.trials.columns})
        st.dataframe(table, width="stretch", hide_index=True)


def render_section() -> None:
    """The whole section: form, live progress or the latest search's result or fate."""
    job = state.search_job()
    running = job is not None and job.is_active
    st.markdown(
        "Optuna tries network settings one after another — hidden layers (1–3 of 4–64 units), activation, "
        "dropout, optimizer, learning rate, weight decay, batch size and epochs — learning from each trial which "
        "regions score well, and stops poor trials early. Every trial is cross-validated on the current data "
        f"(**{state.current_dataset().name}**) with the comparison's folds."
    )
    settings = render_form(running)
    if settings is not None:
        started = submit(settings, state.current_dataset())
        if started is not None:
            job, running = started, True
    if job is None:
        return
    if running:
        live_search(job)
    elif job.status is JobStatus.DONE:
        render_result(job)
    else:
        render_outcome(job)
