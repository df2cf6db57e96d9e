"""Heart-ANN dashboard: the router. Run with `streamlit run app.py`.

Each page is one short file in app_pages/; computation lives in model/, shared UI in dashboard/.
"""

import streamlit as st

from dashboard import state
from dashboard.sidebar import render_sidebar

st.set_page_config(page_title="Heart-ANN", page_icon="❤️", layout="wide")

# ---- PAGE LIST -------------------------------------------------------------------------
# Register a page here only once it is really built: one line per page, in reading order.
HOME = st.Page("app_pages/home.py", title="Start here", icon=":material/home:", default=True)
PREDICT = st.Page("app_pages/predict.py", title="Patient risk", icon=":material/monitor_heart:")
TRANSPORT = st.Page("app_pages/transport.py", title="Other hospitals", icon=":material/local_hospital:")
PAGES = [
    HOME,
    st.Page("app_pages/explore.py", title="Data exploration", icon=":material/query_stats:"),
    st.Page("app_pages/configure.py", title="Configure a network", icon=":material/tune:"),
    st.Page("app_pages/train.py", title="Train and watch", icon=":material/model_training:"),
    st.Page("app_pages/compare.py", title="Classical ML vs deep learning", icon=":material/leaderboard:"),
    PREDICT,
    TRANSPORT,
]
# ---- END OF PAGE LIST ------------------------------------------------------------------

# The pages that answer with the active model (state.active_model()); the others show its summary.
MODEL_PAGES = (PREDICT, TRANSPORT)

page = st.navigation(PAGES)
# The landing page needs neither torch nor scikit-learn: it starts in about the time of a bare Streamlit
# app. Every other page gets them here, once per process, with a spinner (dashboard.state module doc).
if page.url_path != HOME.url_path:
    state.load_model_libraries()
if state.model_libraries_loaded():
    from model.runtime.threads import SERVER_TORCH_THREADS, configure_threads

    # One torch thread per thread on the server: many sessions' script runs, live views and jobs share
    # its few cores, and OpenMP teams of several threads each oversubscribe them (measured on 2 cores:
    # four live trainings, 100 epochs each, 21 s with one thread, about twice that with torch's default).
    # Applied at every run: each run's thread may have been born with another thread's setting.
    configure_threads(SERVER_TORCH_THREADS)
# The model pages load the model here, in the main area before the sidebar: if its files are damaged it
# is retrained with a progress bar the user can see (dashboard.state explains the recovery).
on_model_page = page.url_path in {model_page.url_path for model_page in MODEL_PAGES}
render_sidebar(state.active_model() if on_model_page else state.model_summary())
page.run()
