"""Configure a network: presets or a hyper-parameter search, layers, optimizer and training settings, checked as
you type; the architecture it gives and the activation functions it uses."""

import streamlit as st

from dashboard import configure_form as form
from dashboard import search_panels as search
from dashboard import state
from dashboard.charts import show
from dashboard.config_views import ACTIVATION_NOTES, SMALL_LAYER, activation_figure, architecture_figure
from model.data.preprocessing import N_OUTPUTS

st.title("Configure a network")
st.markdown(
    "Each neuron computes a weighted sum of its inputs plus a bias and passes it through an activation function *f*:"
)
st.latex(r"\text{output} = f\Big(\sum_{i} w_i\,x_i + b\Big)")

config = form.sync_form()  # the session's configuration with the latest edits: what Train and Compare use
errors = form.field_errors(config)

st.subheader("Start from a preset")
form.render_presets(config)
form.show_message(form.KEY_PRESET_MESSAGE)

# A search's result is a configuration to use, so it lives here, above the form it fills in.
with st.expander(
    "…or let a search find good settings (Optuna)",
    expanded=state.search_job() is not None,
    icon=":material/travel_explore:",
):
    search.render_section()

if errors:
    st.warning(
        f"{len(errors)} setting(s) need attention (see the messages under the fields). Until they are "
        "fixed, this configuration can be neither trained nor compared.",
        icon=":material/warning:",
    )

layers_column, picture_column = st.columns([6, 5], gap="medium")
with layers_column:
    st.subheader("Hidden layers")
    form.render_layers(config, errors)
with picture_column:
    if any(field.startswith("hidden_layers") for field in errors):
        st.info("The diagram returns when the hidden layers above are valid.", icon=":material/schema:")
    else:
        show(architecture_figure(config, N_OUTPUTS), key="configure.architecture")
    st.caption(
        f"The {N_OUTPUTS} inputs are the 13 clinical features after preprocessing (numeric ones "
        f"standardised, categorical ones one-hot coded). Layers wider than {SMALL_LAYER} units are "
        "drawn as blocks."
    )

optimizer_column, training_column = st.columns(2, gap="large")
with optimizer_column:
    st.subheader("Gradient descent")
    form.render_optimizer(config, errors)
with training_column:
    st.subheader("Training")
    form.render_training(config, errors)

st.subheader("Activation functions")
in_use = {layer.activation for layer in config.hidden_layers if isinstance(layer.activation, str)}
show(activation_figure(in_use), key="configure.activations")
st.caption(
    "Solid: f(z). Dashed: its derivative f′(z), the factor backpropagation multiplies the error by "
    "when it passes back through the neuron (chain rule). Coloured: used by this network."
)
for name, note in ACTIVATION_NOTES.items():
    st.markdown(f"- **{name}**{' (in use)' if name in in_use else ''}: {note}")

st.subheader("Save or load this configuration")
save_column, load_column = st.columns(2, gap="large")
with save_column:
    st.download_button(
        "Download configuration (JSON)",
        data=config.to_json(),
        file_name="heart-ann-config.json",
        mime="application/json",
        icon=":material/download:",
        key="configure.download",
        disabled=bool(errors),
    )
    if errors:
        st.caption("Fix the settings that need attention to download this configuration.")
with load_column:
    st.file_uploader(
        "Load a configuration (JSON)",
        type=["json"],
        key=form.KEY_UPLOAD,
        on_change=form.load_uploaded_file,
        help=f"A file saved from this page; at most {form.MAX_CONFIG_BYTES // 1024} KB.",
    )
    form.show_message(form.KEY_FILE_MESSAGE)

if not errors:
    st.page_link("app_pages/train.py", label="Train this network", icon=":material/play_arrow:")
