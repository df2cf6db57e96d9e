"""Classical machine learning vs deep learning: a fair comparison on identical folds, plus external validation."""

import streamlit as st

from dashboard import compare_panels as panels
from dashboard import state
from model.evaluation.estimates import calibrate_in_background
from model.serving.runs import config_summary

st.title("Classical ML vs deep learning")

dataset = state.current_dataset()
config = state.ann_config()  # exactly what the Configure page shows, errors included
sites = state.uci_sites()
config_problems = len(config.errors())
st.markdown(
    f"**Data:** {dataset.name} ({dataset.n_rows:,} patients)  \n"
    f"**ANN as configured:** {config_summary(config)}"
    + (
        f" — **{config_problems} setting(s) need attention**: the ANN cannot run until they are fixed"
        if config_problems
        else ""
    )
)
st.page_link("app_pages/configure.py", label="Change the network", icon=":material/tune:")

calibrate_in_background()  # the first estimate then need not wait for it
settings = panels.render_form(config, sites_loaded=sites is not None, previous=panels.latest_settings())
if settings is not None:
    problems = panels.settings_problems(settings, dataset.frame, config)
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if not problems:
        panels.submit(settings, dataset, config)
panels.render_server_load()
panels.render_notice()
panels.render_pending()

job = state.compare_job()
if job is not None and job.is_active:
    panels.live_job(job)
elif job is not None:
    panels.collect(job)
    panels.render_outcome(job)

last = panels.last_run()
if last is None:
    if (job is None or not job.is_active) and panels.KEY_PENDING not in st.session_state:
        st.info(
            "Choose the models and the protocol, then press **Run comparison**. The default — seven classical "
            "models and the ANN, 5-fold cross-validation repeated 10 times — takes about a minute; the page "
            "tells you its estimate before a long run starts.",
            icon=":material/school:",
        )
else:
    note = panels.stale_note(last, dataset, config)
    if note:
        st.warning(note, icon=":material/history:")
    panels.render_results(last)
