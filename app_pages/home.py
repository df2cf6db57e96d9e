"""Landing view: what the app does and where each kind of user starts."""

import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import state
from dashboard.state import MAX_SESSION_RUNS
from model.runtime import limits

# No torch or scikit-learn on this page (it is the first one a visitor waits for): the model's state
# comes from the cheap check of its files (dashboard.state module doc).
st.title("Heart-ANN: neural networks on heart-disease data")
notice = state.shipped_damage_notice(state.chosen_moment())
if notice:
    st.warning(notice, icon=":material/build:")
st.warning(
    "**For research and education only. This is not a medical device** and must not be used to diagnose, "
    "treat or make decisions about any patient.",
    icon=":material/info:",
)
st.markdown(
    "This app lets you explore the classic UCI Heart Disease data (or your own CSV in the same coding), "
    "build and train small neural networks and watch them learn, compare them fairly with classical "
    "machine-learning models on identical cross-validation folds, and read one patient's estimated risk "
    "with its uncertainty. It works on the built-in Cleveland data straight away: nothing to configure first."
)

# (who, where to start, why) — the page path is the one registered in app.py.
STARTING_POINTS = [
    (
        "Analyst",
        "app_pages/explore.py",
        "Data exploration",
        "Look at your data first: distributions by outcome, associations, data quality. Upload your own CSV or "
        "the four UCI sites there.",
    ),
    (
        "Clinician",
        "app_pages/predict.py",
        "Patient risk",
        "Enter one patient's features and read the estimated risk, how certain it is, and which features drove it.",
    ),
    (
        "Demo / teaching",
        "app_pages/configure.py",
        "Configure a network",
        "Build a network layer by layer, see activations and parameter counts, then train it and watch the "
        "loss curves live.",
    ),
    (
        "Another hospital",
        "app_pages/transport.py",
        "Other hospitals",
        "See how the model does on other hospitals' patients, honestly, and recalibrate it to your own.",
    ),
]

st.subheader("Where to start")
columns = st.columns(len(STARTING_POINTS))
for column, (who, path, title, why) in zip(columns, STARTING_POINTS, strict=True):
    with column.container(border=True):
        st.markdown(f"**{who}**")
        st.write(why)
        try:
            st.page_link(path, label=f"Open {title}", icon=":material/arrow_forward:")
        except StreamlitAPIException:
            # That page is not registered in this build; say where it will be instead of a dead link.
            st.caption(f"Start page: {title}")

st.subheader("How to read what you see")
st.markdown(
    "- **Dataset, device and model** in use for this browser session are always shown in the sidebar. "
    "A dataset you choose on one page is used by every page, for your session only.\n"
    "- The target is **angiographic heart disease** (UCI *num* > 0: more than 50 % narrowing of a major vessel).\n"
    "- Results on 303 patients are noisy: the app reports spread across cross-validation folds, not a single number."
)
# (what is bounded, the bound, where it is enforced) — values read from model/runtime/limits.py, never restated.
RESOURCE_LIMITS = [
    ("Hidden layers", f"{limits.MAX_HIDDEN_LAYERS}", "Configure a network (and every configuration file loaded)"),
    ("Units per hidden layer", f"{limits.MAX_UNITS_PER_LAYER:,}", "Configure a network"),
    ("Epochs", f"{limits.MAX_EPOCHS:,}", "Configure a network"),
    ("Batch size", f"{limits.MAX_BATCH_SIZE:,}", "Configure a network"),
    (
        "Uploaded file size",
        f"{limits.MAX_UPLOAD_MB} MB",
        "every upload (configuration and UCI site files have smaller caps of their own)",
    ),
    ("Rows of an uploaded CSV", f"{limits.MAX_ROWS:,}", "Data exploration and Patient risk (batch) uploads"),
    ("Columns of an uploaded CSV", f"{limits.MAX_COLUMNS:,}", "Data exploration and Patient risk (batch) uploads"),
    (
        "Cross-validation folds × repeats",
        f"{limits.MAX_CV_FOLDS} × {limits.MAX_CV_REPEATS} "
        f"(and at most {limits.MAX_COMPARISON_FOLD_ROWS:,} patient-fold rows)",
        "Classical ML vs deep learning",
    ),
    (
        "Networks training at once",
        f"{limits.MAX_CONCURRENT_TRAININGS} on this server (all users together; a running comparison counts as one)",
        "Train and watch, Classical ML vs deep learning: beyond it, the server says it is busy; try again when a "
        "run ends",
    ),
    ("Runs kept per session", f"{MAX_SESSION_RUNS}", "Train and watch (older finished runs are dropped)"),
]
with st.expander("Limits of this server", icon=":material/speed:"):
    st.markdown(
        "Every resource a user can ask for is bounded, so that one person cannot slow the app down "
        "for everyone else. Asking for more gets a message saying what the limit is."
    )
    st.table(
        {
            "What": [row[0] for row in RESOURCE_LIMITS],
            "At most": [row[1] for row in RESOURCE_LIMITS],
            "Where": [row[2] for row in RESOURCE_LIMITS],
        }
    )

st.caption(
    "Data: Janosi, Steinbrunn, Pfisterer and Detrano (1988), Heart Disease, UCI Machine Learning Repository, "
    "CC BY 4.0, https://doi.org/10.24432/C52P4X."
)
