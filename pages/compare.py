"""Classical machine learning vs deep learning: a fair comparison on identical folds, plus external validation."""
import streamlit as st

from dashboard import compare_panels as panels
from dashboard import state
from model.compute_slots import ServerBusyError
from model.evaluation import ModelFitError
from model.runs import config_summary

st.title("Classical ML vs deep learning")

dataset = state.current_dataset()
config = state.ann_config()
sites = state.uci_sites()
st.markdown(f"**Data:** {dataset.name} ({dataset.n_rows:,} patients)  \n"
            f"**ANN as configured:** {config_summary(config)}")
st.page_link("pages/configure.py", label="Change the network", icon=":material/tune:")

settings = panels.render_form(config, sites_loaded=sites is not None)
if settings is not None:
    problems = panels.settings_problems(settings, dataset.frame, config)
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if not problems:
        try:
            panels.run(settings, dataset, config)
        except ServerBusyError as busy:  # every compute slot taken by other users: try again later
            st.warning(str(busy), icon=":material/hourglass_top:")
        except ValueError as error:  # bad data found while running: say so, keep the page
            st.error(f"The comparison could not run: {error}", icon=":material/error:")
        except ModelFitError as error:  # one model failed to fit: name it, keep the settings
            st.error(f"The comparison stopped because a model failed: {error}. Your settings are kept; leave "
                     "that model out or check the data, then press **Run comparison** again.",
                     icon=":material/error:")

last = panels.last_run()
if last is None:
    st.info("Choose the models and the protocol, then press **Run comparison**. The default — seven classical "
            "models and the ANN, 5-fold cross-validation repeated 10 times — takes under a minute.",
            icon=":material/school:")
else:
    note = panels.stale_note(last, dataset, config)
    if note:
        st.warning(note, icon=":material/history:")
    panels.render_results(last)
