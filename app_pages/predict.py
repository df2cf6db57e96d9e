"""Patient risk (for clinicians): one patient's estimated risk with its uncertainty and reasons, or a batch."""

import streamlit as st

from dashboard import state
from dashboard.model_card_views import render_model_card
from dashboard.predict_form import render_moment_choice, render_patient_form, reset_form
from dashboard.predict_views import (
    model_support,
    render_batch,
    render_explanation,
    render_population,
    render_reference_note,
    render_report_download,
    render_risk_summary,
    render_what_if,
)
from model.clinic.model_card import DISCLAIMER, build_model_card
from model.clinic.patient_checks import typical_patient
from model.clinic.probabilities import features_used
from model.clinic.risk import percentile_of, predict_risk
from model.data.schema import FEATURE_NAMES

st.title("Patient risk")
st.warning(f"**Not a medical device.** {DISCLAIMER}", icon=":material/info:")

if state.promoted_model() is None:  # the shipped models: one for each moment of care
    render_moment_choice()
model = state.active_model()
if state.promoted_model() is not None:
    st.caption(
        f"Your model **{model.display_name}** answers (chosen on another page); the moment-of-care choice "
        "applies to the shipped models."
    )
if model.pipeline is None:
    st.error(f"No model is available, so no risk can be estimated. {model.error or ''}", icon=":material/block:")
    st.stop()
dataset = state.current_dataset()
if model.notice:  # the shipped model was damaged: say which model is answering, and why
    st.warning(model.notice, icon=":material/build:")
card = build_model_card(model.display_name, model.pipeline, model.metadata)
st.caption(
    f"Model: **{model.display_name}** · reference population: **{dataset.name}** ({dataset.n_rows:,} patients). "
    "The model is ready: nothing needs to be trained first."
)

one, batch, about = st.tabs(["One patient", "Batch of patients (CSV)", "Model card"])
with one:
    with st.container(border=True):
        heading, reset = st.columns([4, 1])
        heading.markdown("**Patient** — defaults are the typical Cleveland patient (median or most frequent value).")
        reset.button("Reset to typical patient", on_click=reset_form, key="predict.reset")
        used = features_used(model.pipeline)
        form = render_patient_form(
            typical_patient(state.builtin_dataset()), left_out=tuple(n for n in FEATURE_NAMES if n not in used)
        )
    checked = form.check
    if not checked.ok:
        st.error(
            "Correct the highlighted field(s) to see the risk: " + " ".join(checked.errors.values()),
            icon=":material/block:",
        )
    else:
        explainer, population, reference = model_support(model, dataset.frame, dataset.name)
        risk = predict_risk(model.pipeline, checked, reference=reference)
        explanation = explainer.explain(checked.frame(), risk.fillings)
        percentile = percentile_of(risk.probability, population)
        st.subheader("Result")
        render_reference_note(reference)
        render_risk_summary(risk, checked)
        st.subheader("Why this estimate")
        render_explanation(explanation, reference)
        left, right = st.columns(2)
        with left:
            st.subheader("Where this patient sits")
            render_population(population, risk.probability, percentile, dataset.name)
        with right:
            st.subheader("What if?")
            change = render_what_if(model.pipeline, checked, reference)
        st.subheader("Report")
        render_report_download(
            checked, risk, explanation, card, percentile, dataset.name, form.chol_unit, change, reference=reference
        )
with batch:
    render_batch(model.pipeline, model.display_name, model_support(model, dataset.frame, dataset.name)[2])
with about:
    render_model_card(card)
