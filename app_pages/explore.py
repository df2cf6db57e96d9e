"""Data Exploration (for analysts): the session's dataset, filtered, from overview to data quality."""

import hashlib
import logging

import streamlit as st

from dashboard import state
from dashboard.explore_sources import render_data_sources
from dashboard.explore_views import render_filters, render_views, sample_note

logger = logging.getLogger(__name__)

st.title("Data exploration")

with st.expander("Change the data: upload a CSV, the four UCI sites, or the built-in file", icon=":material/upload:"):
    render_data_sources()

try:
    dataset = state.current_dataset()
except Exception as error:  # a broken install should read as a message, not a traceback
    logger.exception("the built-in data could not be loaded")
    st.error(f"The built-in data could not be loaded: {error}")
    st.stop()

st.markdown(
    f"Exploring **{dataset.name}**: {dataset.n_rows:,} patients. This dataset is used by every page for your session."
)
# Filter widgets are renewed per dataset so old ranges never outlive the data they were set on.
token = hashlib.sha1(f"{dataset.name}:{dataset.n_rows}".encode()).hexdigest()[:8]
with st.container(border=True):
    selected = render_filters(dataset.frame, token)
if selected.empty:
    st.warning("No patient matches these filters. Widen the age range or select at least one sex.")
    st.stop()
_, note = sample_note(selected)
if note:
    st.info(f"Large data: {note}", icon=":material/speed:")
render_views(selected)
