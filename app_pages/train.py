"""The playground: settings beside live charts; play, pause, one epoch, reset; lessons; a shareable link."""

import streamlit as st

from dashboard import playground, share, state
from dashboard import train_panels as panels
from dashboard.configure_form import field_errors, problem_line
from dashboard.playground_settings import begin_run, render_data_settings, render_network_settings
from model.serving.plane_runs import PlaneRun
from model.serving.runs import config_summary

st.title("Train and watch it learn")
share.apply_link_once()
share.show_link_message()
playground.render_lessons()

settings, main = st.columns([1, 2.7], gap="medium")
with settings:
    begin_run()
    st.subheader("Data")
    choice = render_data_settings()
    st.subheader("Network")
    config = render_network_settings()
    playground.apply_learning_rate_to_paused_run()
    share.render_link(config, choice)

with main:
    problems = field_errors(config)
    dataset = state.current_dataset()
    held_out = f"{config.validation_fraction:.0%} held out for validation, stratified"
    data_line = (
        f"{dataset.name} ({dataset.n_rows:,} patients, {held_out})"
        if choice.kind == "heart"
        else f"{playground.data_label(choice)}, {held_out}"
    )
    st.markdown(f"**Data:** {data_line}  \n**Network:** {config_summary(config)}")
    if problems:
        listed = "\n".join(f"- {problem_line(field, message)}" for field, message in problems.items())
        st.error(
            f"This configuration cannot be trained: {len(problems)} setting(s) need attention.\n\n{listed}",
            icon=":material/error:",
        )
        st.page_link("app_pages/configure.py", label="Fix it on the Configure page", icon=":material/tune:")
    running = playground.active_run()
    if not problems or running is not None:  # a run already going can always be stopped
        playground.render_controls()
    race = playground.current_race()
    if race is not None:
        playground.race_panel(race)
    runs = state.training_runs()
    if running is not None:
        if isinstance(running, PlaneRun):
            playground.live_plane_panel(running)
        else:
            panels.live_panel(running)
    elif choice.kind != "heart" and not problems and playground.setup_changed_since(runs, config, choice):
        playground.render_preview(config, choice)  # follows the knobs until Play
    elif runs:
        run = panels.inspected_run(runs)
        findings = playground.run_findings(run)
        if isinstance(run, PlaneRun):
            (st.error if run.error else st.info)(playground.status_text(run))
            playground.plane_views(run, key="final")
            playground.render_findings(findings)
            playground.render_plane_metrics(run)
        else:
            (st.error if run.error else st.info)(panels.status_line(run))
            panels.render_charts(run, key="final")
            playground.render_findings(findings)
            panels.render_results(run, usable=not playground.is_diverged(findings))
    elif not problems and race is None:
        st.info(
            "Press **Play** to train, or **One epoch** to go step by step: the curves, the gradient norms and the "
            "decision boundary (for two-input data also every neuron) appear as the epochs finish.",
            icon=":material/school:",
        )

if runs and running is None:  # while training, the live panel has the page (the history redraws after)
    playground.render_history(runs)
