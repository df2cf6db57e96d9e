"""Heart-ANN dashboard: the router. Run with `streamlit run app.py`.

Each page is one short file in app_pages/; computation lives in model/, shared UI in dashboard/.
"""

import streamlit as st

from dashboard import state
from dashboard.sidebar import render_sidebar
from model.runtime.threads import SERVER_TORCH_THREADS, configure_threads

st.set_page_config(page_title="Heart-ANN", page_icon="❤️", layout="wide")
# One torch thread per thread on the server: many sessions' script runs, live views and jobs share
# its few cores, and OpenMP teams of several threads each oversubscribe them (measured on 2 cores:
# four live trainings, 100 epochs each, 21 s with one thread, about twice that with torch's default).
# Applied at every run: each run's thread may have been born with another thread's setting.
configure_threads(SERVER_TORCH_THREADS)

# ---- PAGE LIST -------------------------------------------------------------------------
# Register a page here only once it is really built: one line per page, in reading order.
PAGES = [
    st.Page("app_pages/home.py", title="Start here", icon=":material/home:", default=True),
    st.Page("app_pages/explore.py", title="Data exploration", icon=":material/query_stats:"),
    st.Page("app_pages/configure.py", title="Configure a network", icon=":material/tune:"),
    st.Page("app_pages/train.py", title="Train and watch", icon=":material/model_training:"),
    st.Page("app_pages/compare.py", title="Classical ML vs deep learning", icon=":material/leaderboard:"),
    st.Page("app_pages/predict.py", title="Patient risk", icon=":material/monitor_heart:"),
    st.Page("app_pages/transport.py", title="Other hospitals", icon=":material/local_hospital:"),
]
# ---- END OF PAGE LIST ------------------------------------------------------------------

page = st.navigation(PAGES)
# Load the shared default model here, in the main area: if its files are damaged it is
# retrained with a progress bar the user can see (dashboard.state explains the recovery).
state.prepare_default_model()
render_sidebar()
page.run()
