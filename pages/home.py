"""Landing view: what the app does and where each kind of user starts."""
import streamlit as st
from streamlit.errors import StreamlitAPIException

st.title("Heart-ANN: neural networks on heart-disease data")
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
    ("Analyst", "pages/explore.py", "Data exploration",
     "Look at your data first: distributions by outcome, associations, data quality. Upload your own CSV or "
     "the four UCI sites there."),
    ("Clinician", "pages/predict.py", "Patient risk",
     "Enter one patient's features and read the estimated risk, how certain it is, and which features drove it."),
    ("Demo / teaching", "pages/configure.py", "Configure a network",
     "Build a network layer by layer, see activations and parameter counts, then train it and watch the "
     "loss curves live."),
]

st.subheader("Where to start")
columns = st.columns(len(STARTING_POINTS))
for column, (who, path, title, why) in zip(columns, STARTING_POINTS):
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
st.caption(
    "Data: Janosi, Steinbrunn, Pfisterer and Detrano (1988), Heart Disease, UCI Machine Learning Repository, "
    "CC BY 4.0, https://doi.org/10.24432/C52P4X."
)
