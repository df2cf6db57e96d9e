"""Train the configured network and watch it learn: live curves, gradients, weights, decision boundary."""

import streamlit as st

from dashboard import state
from dashboard import train_panels as panels
from dashboard.configure_form import field_errors, problem_line
from model.serving.runs import config_summary

st.title("Train and watch it learn")

dataset = state.current_dataset()
config = state.ann_config()  # exactly what the Configure page shows, errors included
problems = field_errors(config)
st.markdown(
    f"**Data:** {dataset.name} ({dataset.n_rows:,} patients, {config.validation_fraction:.0%} held out "
    f"for validation, stratified)  \n**Network:** {config_summary(config)}"
)
if problems:
    listed = "\n".join(f"- {problem_line(field, message)}" for field, message in problems.items())
    st.error(
        f"This configuration cannot be trained: {len(problems)} setting(s) need attention.\n\n{listed}",
        icon=":material/error:",
    )
    st.page_link("app_pages/configure.py", label="Fix it on the Configure page", icon=":material/tune:")
else:
    st.page_link("app_pages/configure.py", label="Change the configuration", icon=":material/tune:")

if not problems or panels.active_run() is not None:  # a run already going can always be stopped
    panels.render_controls()
runs = state.training_runs()
running = panels.active_run()
if running is not None:
    panels.live_panel(running)
elif runs:
    run = panels.inspected_run(runs)
    (st.error if run.error else st.info)(panels.status_line(run))
    panels.render_charts(run, key="final")
    panels.render_results(run)
elif not problems:
    st.info(
        "Press **Start training**: the curves, gradient norms, weight histograms and the decision boundary "
        "appear as the epochs finish.",
        icon=":material/school:",
    )

if runs and running is None:  # while training, the live panel has the page (the history redraws after)
    panels.render_history(runs)
