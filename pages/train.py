"""Train the configured network and watch it learn: live curves, gradients, weights, decision boundary."""
import streamlit as st

from dashboard import state
from dashboard import train_panels as panels
from model.runs import config_summary

st.title("Train and watch it learn")

dataset = state.current_dataset()
config = state.ann_config()
st.markdown(f"**Data:** {dataset.name} ({dataset.n_rows:,} patients, {config.validation_fraction:.0%} held out "
            f"for validation, stratified)  \n**Network:** {config_summary(config)}")
st.page_link("pages/configure.py", label="Change the configuration", icon=":material/tune:")

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
else:
    st.info("Press **Start training**: the curves, gradient norms, weight histograms and the decision boundary "
            "appear as the epochs finish.", icon=":material/school:")

if runs and running is None:  # while training, the live panel has the page (the history redraws after)
    panels.render_history(runs)
