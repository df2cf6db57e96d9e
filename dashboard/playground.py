"""The playground's controls and live views: play / pause / one epoch / reset, the input plane, the
neurons, the course's lessons, plain-language diagnostics and the optimizer race.

Runs are model.serving.runs.TrainingRun (the heart data, all features) or
model.serving.plane_runs.PlaneRun (two inputs: a toy set or two heart features); both train on the
one engine and are steered through their TrainingControl. The training threads never call
Streamlit: the live panels are fragments that redraw from the runs' recorded events and snapshots.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import state
from dashboard.charts import QUALITATIVE, apply_theme, show
from dashboard.playground_settings import DEFAULT_PAIR, data_choice, set_data_choice
from dashboard.playground_views import input_plane_figure, network_view_caption, network_view_image, png_bytes
from dashboard.train_panels import KEY_INSPECTED, KEY_MESSAGE, KEY_RUN_COUNTER, MAX_SESSION_RUNS
from dashboard.training_views import gradient_norms_figure, learning_curves_figure
from model.data.plane_data import PlaneData, heart_pair_plane_data, pair_data_name, toy_data_name, toy_plane_data
from model.nn.diagnostics import Finding, chance_finding, history_findings
from model.nn.race import default_race
from model.runtime.compute_slots import ServerBusyError
from model.serving.lessons import LESSONS, LESSONS_BY_KEY, Lesson
from model.serving.plane_runs import PlaneRun, PlaneSnapshot, RaceRun, initial_snapshot
from model.serving.runs import RunStatus, TrainingRun
from model.serving.share_link import DataChoice

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 0.7  # live redraw interval of the playground
KEY_LESSON = "playground.lesson"  # key of the lesson last chosen (its caption stays shown)
KEY_RACE = "playground.race"  # the RaceRun of this session, or absent
KEY_LR_NOTE = "playground.lr_note"
KEY_CONTROLS_PAUSED = "playground.controls_paused"  # whether the buttons were drawn for a paused run

Run = TrainingRun | PlaneRun


# ---- runs -------------------------------------------------------------------------------------
def active_run() -> Run | None:
    return next((run for run in state.training_runs() if run.is_active), None)


def is_paused(run: Run) -> bool:
    if isinstance(run, PlaneRun):
        return run.current_status() is RunStatus.PAUSED
    return run.is_paused


def plane_data_for(choice: DataChoice, validation_fraction: float, seed: int) -> PlaneData | None:
    """The two-input data of a choice (None for the full heart data)."""
    if choice.kind == "heart":
        return None
    if choice.kind == "heart_pair":
        features = choice.features or DEFAULT_PAIR
        return heart_pair_plane_data(state.current_dataset().frame, features, validation_fraction, seed)
    return toy_plane_data(choice.kind, choice.n_samples, choice.noise, choice.seed, validation_fraction)


def _new_run(paused: bool) -> Run | None:
    """A started run of the session's configuration on the chosen data (None and a message if refused)."""
    config = state.ann_config()
    number = st.session_state.get(KEY_RUN_COUNTER, 0) + 1
    name = f"Run {number}"
    try:
        data = plane_data_for(data_choice(), config.validation_fraction, config.seed)
        if data is None:
            dataset = state.current_dataset()
            run: Run = TrainingRun(dataset.frame, config, name=name, dataset_name=dataset.name, paused=paused)
        else:
            run = PlaneRun(data, config, name=name, paused=paused)
        run.start()
    except (ServerBusyError, ValueError) as error:  # busy server, bad data, config or device
        st.session_state[KEY_MESSAGE] = f"Training could not start: {error}"
        return None
    st.session_state[KEY_RUN_COUNTER] = number
    race = st.session_state.get(KEY_RACE)
    if race is not None and not race.is_active:
        st.session_state.pop(KEY_RACE)  # a finished race makes room for the run the user asked for
    runs = state.training_runs()
    runs.append(run)
    while len(runs) > MAX_SESSION_RUNS:
        runs.remove(next(r for r in runs if not r.is_active))
    st.session_state[KEY_INSPECTED] = run.name
    return run


# ---- callbacks --------------------------------------------------------------------------------
def play() -> None:
    run = active_run()
    if run is None:
        _new_run(paused=False)
    else:
        run.control.resume()


def pause() -> None:
    run = active_run()
    if run is not None:
        run.control.pause()


def step_one_epoch() -> None:
    run = active_run()
    if run is None:
        run = _new_run(paused=True)
    if run is not None:
        run.control.step(1)


def reset() -> None:
    """Stop the current run and start the same configuration again, paused before its first epoch:
    the seed gives the same initial weights."""
    run = active_run()
    if run is not None:
        run.stop()
        run.join(1.0)
    _new_run(paused=True)


def stop() -> None:
    run = active_run()
    if run is not None:
        run.stop()
        run.join(1.0)


def apply_learning_rate_to_paused_run() -> None:
    """A paused run takes the configuration's new learning rate from its next epoch."""
    run = active_run()
    rate = state.ann_config().learning_rate
    if run is None or not is_paused(run):
        return
    events = run.events()
    current = events[-1].lr if events else run.config.learning_rate
    if rate == current:
        return
    try:
        run.control.set_learning_rate(rate)
    except ValueError as error:
        st.session_state[KEY_LR_NOTE] = ("error", f"The learning rate was not changed: {error}")
        return
    st.session_state[KEY_LR_NOTE] = ("info", f"{run.name} continues with learning rate {rate:g} from its next epoch.")


def start_lesson(key: str) -> None:
    lesson = LESSONS_BY_KEY[key]
    st.session_state[KEY_LESSON] = key
    set_data_choice(DataChoice.toy(lesson.dataset, lesson.n_samples, lesson.noise, lesson.data_seed))
    state.set_ann_config(lesson.config)
    stop()
    if lesson.race:
        start_race(lesson)
    else:
        _new_run(paused=False)


def start_race(lesson: Lesson) -> None:
    previous = st.session_state.get(KEY_RACE)
    if previous is not None and previous.is_active:
        previous.stop()
        previous.join(1.0)
    try:
        race = RaceRun(lesson.plane_data(), default_race(lesson.config)).start()
    except (ServerBusyError, ValueError) as error:
        st.session_state[KEY_MESSAGE] = f"The race could not start: {error}"
        return
    st.session_state[KEY_RACE] = race


# ---- controls ---------------------------------------------------------------------------------
def controls_out_of_date(run: Run) -> bool:
    """True when the run paused or went on since the buttons were drawn: a live panel (a fragment,
    which redraws only itself) then asks for a full rerun so Continue / One epoch match the run."""
    return st.session_state.get(KEY_CONTROLS_PAUSED) != is_paused(run)


def render_controls() -> None:
    run = active_run()
    paused = run is not None and is_paused(run)
    st.session_state[KEY_CONTROLS_PAUSED] = paused
    play_column, pause_column, step_column, reset_column, stop_column = st.columns(5)
    play_column.button(
        "Play" if run is None else "Continue",
        key="train.start",
        on_click=play,
        type="primary",
        disabled=run is not None and not paused,
        icon=":material/play_arrow:",
        width="stretch",
        help="Start training (or continue a paused run).",
    )
    pause_column.button(
        "Pause",
        key="train.pause",
        on_click=pause,
        disabled=run is None or paused,
        icon=":material/pause:",
        width="stretch",
    )
    step_column.button(
        "One epoch",
        key="train.step",
        on_click=step_one_epoch,
        disabled=run is not None and not paused,
        icon=":material/skip_next:",
        width="stretch",
        help="Train exactly one more epoch, then pause.",
    )
    reset_column.button(
        "Reset",
        key="train.reset",
        on_click=reset,
        icon=":material/restart_alt:",
        width="stretch",
        help="Back to the same initial weights (the seed fixes them), paused before the first epoch.",
    )
    stop_column.button(
        "Stop", key="train.stop", on_click=stop, disabled=run is None, icon=":material/stop:", width="stretch"
    )
    message = st.session_state.pop(KEY_MESSAGE, None)
    if message:
        st.error(message, icon=":material/error:")
    note = st.session_state.pop(KEY_LR_NOTE, None)
    if note:
        (st.error if note[0] == "error" else st.info)(note[1], icon=":material/speed:")


def render_lessons() -> None:
    with st.expander(
        "The course in one click", expanded=st.session_state.get(KEY_LESSON) is None, icon=":material/school:"
    ):
        columns = st.columns(4)
        for index, lesson in enumerate(LESSONS):
            columns[index % 4].button(
                lesson.title,
                key=f"playground.lesson.{lesson.key}",
                on_click=start_lesson,
                args=(lesson.key,),
                width="stretch",
            )
    key = st.session_state.get(KEY_LESSON)
    lesson = LESSONS_BY_KEY.get(key) if key else None
    if lesson is not None and data_choice().kind == lesson.dataset:  # until the user picks other data
        st.info(f"**{lesson.title}.** {lesson.caption}", icon=":material/school:")


# ---- live views of a two-input run --------------------------------------------------------------
def status_text(run: PlaneRun) -> str:
    done = run.epochs_done
    status = run.current_status()
    if status is RunStatus.PAUSED:
        text = f"{run.name} paused after epoch {done} of {run.config.epochs}: press Continue or One epoch."
    elif status is RunStatus.RUNNING:
        text = f"{run.name}: epoch {done} of {run.config.epochs}…"
    elif status is RunStatus.FAILED:
        text = f"{run.name} failed: {run.error}"
    elif status is RunStatus.STOPPED:
        text = f"{run.name} was stopped after epoch {done} of {run.config.epochs}."
        if run.control.pause_timed_out:
            text += " It had been paused too long: a paused run holds one of the server's few training slots."
    else:
        text = f"{run.name} finished {done} epochs in {run.elapsed:.1f} s."
    return text


def plane_views(run: PlaneRun, key: str) -> None:
    snapshot = run.latest_snapshot
    events = run.events()
    best = run.history.best_epoch if run.history is not None and run.config.early_stopping else None
    if snapshot is None:
        st.caption("Preparing the network…")
    else:
        draw_snapshot(snapshot, run.data, key=key)
    curves, gradients = st.columns(2)
    with curves:
        show(learning_curves_figure(events, best), key=f"{key}.curves")
    with gradients:
        show(gradient_norms_figure(events), key=f"{key}.gradients")


def setup_changed_since(runs: list[Run], config, choice: DataChoice) -> bool:
    """True when there is no run yet, or the settings differ from the latest run's (names, not data, compared)."""
    if not runs:
        return True
    latest = runs[-1]
    return latest.config != config or latest.dataset_name != data_name(choice)


def data_name(choice: DataChoice) -> str:
    """The name a run on this choice gets (PlaneData.name, or the heart data set's)."""
    if choice.kind == "heart":
        return state.current_dataset().name
    if choice.kind == "heart_pair":
        return pair_data_name(choice.features or DEFAULT_PAIR)
    return toy_data_name(choice.kind, choice.n_samples, choice.noise, choice.seed)


def render_preview(config, choice: DataChoice) -> None:
    """The network Play would start from, over the input plane: it follows every knob before training."""
    try:
        data = plane_data_for(choice, config.validation_fraction, config.seed)
    except ValueError as error:  # e.g. two features that too few patients of this data set have
        logger.info("no preview for %s", choice, exc_info=True)
        st.warning(f"This data cannot be trained on: {error}", icon=":material/warning:")
        return
    if data is None:
        return
    snapshot = initial_snapshot(data, config)
    st.markdown("**Before training:** the network Play starts from (its seed fixes the initial weights).")
    draw_snapshot(snapshot, data, key="preview")


def draw_snapshot(snapshot: PlaneSnapshot, data: PlaneData, key: str) -> None:
    boundary_column, neurons_column = st.columns([1, 1.25])
    with boundary_column:
        figure = input_plane_figure(
            snapshot.plane,
            data.X_train,
            data.y_train,
            data.X_val,
            data.y_val,
            axis_labels=data.axis_labels,
            axis_transform=data.axis_transform,
            epoch=snapshot.epoch,
            class_labels=data.class_labels,
        )
        show(figure, key=f"{key}.plane")
        st.caption(
            "The exact decision boundary (black line, P = 0.5) in the input plane: circles are training "
            "points, diamonds validation points."
        )
    with neurons_column:
        image = network_view_image(snapshot.plane, snapshot.network, input_labels=_short_labels(data))
        # Encoded here as a quick PNG: st.image would re-encode a PIL image as JPEG (blurred lines).
        st.image(png_bytes(image), output_format="PNG", width="stretch")
        st.caption(network_view_caption(snapshot.plane))


def _short_labels(data: PlaneData) -> tuple[str, str]:
    return tuple(label.split(" (")[0] for label in data.axis_labels)  # type: ignore[return-value]


@st.fragment(run_every=REFRESH_SECONDS)
def live_plane_panel(run: PlaneRun) -> None:
    if not run.is_active or controls_out_of_date(run):
        st.rerun(scope="app")  # ended or paused: the whole page redraws (results, diagnostics, buttons)
    st.progress(min(run.epochs_done / run.config.epochs, 1.0), text=status_text(run))
    plane_views(run, key="live")


# ---- diagnostics ------------------------------------------------------------------------------
def run_findings(run: Run) -> list[Finding]:
    """What went wrong, in plain words: the full diagnosis of a two-input run; for a heart run what its
    history and validation scores show."""
    if isinstance(run, PlaneRun):
        return run.findings
    findings = history_findings(run.history) if run.history is not None else []
    if run.validation_proba is not None and run.y_validation is not None:
        chance = chance_finding(run.validation_proba, run.y_validation == 1)
        if chance is not None:
            findings.append(chance)
    return findings


def render_findings(findings: list[Finding]) -> None:
    if not findings:
        st.success(
            "No training problem found: no divergence, dead or saturated units, or vanishing gradients.",
            icon=":material/check_circle:",
        )
        return
    for finding in findings:
        shown = {"error": st.error, "warning": st.warning}.get(finding.severity, st.info)
        shown(finding.message[0].upper() + finding.message[1:], icon=":material/troubleshoot:")


def is_diverged(findings: list[Finding]) -> bool:
    return any(finding.kind == "divergence" for finding in findings)


# ---- the optimizer race -----------------------------------------------------------------------
def race_figure(race: RaceRun):
    import plotly.graph_objects as go

    fig = go.Figure()
    epochs = race.epochs()
    for index, name in enumerate(race.contestants):
        xs = [record.epoch for record in epochs if name in record.events]
        ys = [record.events[name].train_loss for record in epochs if name in record.events]
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", name=name, line=dict(color=QUALITATIVE[index % len(QUALITATIVE)], width=2.2)
            )
        )
    fig.update_layout(
        title_text="Training loss of each optimizer, same network, same initial weights",
        height=420,
        xaxis_title="epoch",
        yaxis=dict(title="training loss (log scale)", type="log"),
        legend=dict(orientation="h", y=-0.22, yanchor="top", x=0, xanchor="left"),
    )
    return apply_theme(fig)


@st.fragment(run_every=REFRESH_SECONDS)
def race_panel(race: RaceRun) -> None:
    done = len(race.epochs())
    total = next(iter(race.contestants.values())).epochs
    if race.is_active:
        st.progress(min(done / total, 1.0), text=f"Race: epoch {done} of {total}")
    elif race.error:
        st.error(f"The race failed: {race.error}", icon=":material/error:")
    show(race_figure(race), key="race.curves")
    if not race.is_active and race.histories:
        rows = []
        for name, config in race.contestants.items():
            history = race.histories.get(name)
            last = history.epochs[-1] if history and history.epochs else None
            rows.append(
                {
                    "optimizer": name,
                    "learning rate": config.learning_rate,
                    "batch": "full" if config.effective_batch_size is None else config.effective_batch_size,
                    "final training loss": None if last is None else round(last.train_loss, 4),
                    "validation accuracy": None if last is None or last.val_acc is None else round(last.val_acc, 3),
                }
            )
        st.dataframe(rows, hide_index=True, width="stretch")


def current_race() -> RaceRun | None:
    """The race to show: while it runs, or after it while its lesson is the one chosen."""
    race = st.session_state.get(KEY_RACE)
    if race is None:
        return None
    return race


def data_label(choice: DataChoice) -> str:
    """The page's "Data:" line for two-input data."""
    if choice.kind == "heart_pair":
        return f"{data_name(choice)} of {state.current_dataset().name}"
    return data_name(choice)


def render_plane_metrics(run: PlaneRun) -> None:
    if not run.metrics:
        return
    columns = st.columns(4)
    for column, (label, name) in zip(
        columns,
        (
            ("Validation accuracy", "accuracy"),
            ("Validation ROC AUC", "roc_auc"),
            ("Sensitivity", "sensitivity"),
            ("Specificity", "specificity"),
        ),
        strict=True,
    ):
        value = run.metrics.get(name)
        column.metric(label, "–" if value is None else f"{value:.3f}")
    for note in run.data.notes:
        st.caption(note)
    st.caption(
        f"Measured on the {len(run.data.y_val)} validation points, never used to fit the weights. A model of two "
        "inputs cannot be used on the Patient risk page, which needs all 13 features."
    )


# ---- comparing runs ---------------------------------------------------------------------------
KEY_COMPARED = "playground.compared_runs"
MAX_DEFAULT_COMPARED = 4


def render_history(runs: list[Run]) -> None:
    from dashboard.training_views import runs_overlay_figure, runs_table

    st.subheader("Compare runs")
    names = [run.name for run in runs]
    chosen = [name for name in st.session_state.get(KEY_COMPARED, []) if name in names]
    if KEY_COMPARED not in st.session_state or not chosen:
        st.session_state[KEY_COMPARED] = names[-MAX_DEFAULT_COMPARED:]
    else:
        st.session_state[KEY_COMPARED] = chosen
    selected = st.multiselect("Runs to overlay", names, key=KEY_COMPARED)
    shown = [run for run in runs if run.name in selected]
    show(runs_overlay_figure(shown), key="history.overlay")
    st.dataframe(runs_table(shown), hide_index=True, width="stretch")
    st.caption(
        f"Final metrics on each run's validation part (threshold 0.5). Only your browser session sees these runs; "
        f"the last {MAX_SESSION_RUNS} are kept."
    )
