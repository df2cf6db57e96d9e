"""Other hospitals: honest transport of a model to another site — reduced models and local recalibration."""

import streamlit as st

from dashboard import state
from dashboard import transport_views as views

st.title("Other hospitals")
st.markdown(
    "A model trained on Cleveland meets other patients elsewhere, and often without some of its features "
    "(at the other UCI sites, *vessels coloured* is missing for almost everyone). Filling a missing value with "
    "Cleveland's typical one pretends every such patient is a typical Cleveland patient. Here you see two honest "
    "alternatives side by side: the model **trained without the features that are mostly missing at the site**, "
    "and the model **recalibrated to the local patients** (logit p′ = a + b·logit p), measured on patients not "
    "used to fit it."
)

active = state.active_model()
views.render_message()
views.render_run_form(active)

outcome = st.session_state.get(views.KEY_RESULT)
if outcome is None:
    st.info(
        "Choose the models and the sites, then press **Compare full and reduced models**. Training takes a few "
        "seconds per model.",
        icon=":material/school:",
    )
    st.stop()

st.header("Full vs reduced models at each site")
views.render_results(outcome)

st.header("Recalibration to local patients")
st.markdown(
    "Fit calibration-in-the-large and slope on labelled patients of the new site. The *after* calibration "
    "comes from cross-validation within the site; the curve below shows how many local patients "
    "the recalibration needs."
)
views.render_recalibration_form(outcome)
recal = st.session_state.get(views.KEY_RECAL)
if recal is not None:
    views.render_recalibration(outcome, recal)
    views.render_use(outcome, recal)
