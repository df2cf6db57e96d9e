"""Configure a network: presets, layers, optimizer and training settings, checked as you type;
the architecture it gives and the activation functions it uses."""
import streamlit as st

from dashboard import configure_form as form
from dashboard import state
from dashboard.charts import show
from dashboard.config_views import ACTIVATION_NOTES, SMALL_LAYER, activation_figure, architecture_figure
from model.preprocessing import N_OUTPUTS

st.title("Configure a network")
st.markdown("Each neuron computes a weighted sum of its inputs plus a bias and passes it through an "
            "activation function *f*:")
st.latex(r"\text{output} = f\Big(\sum_{i} w_i\,x_i + b\Big)")

saved = state.ann_config()
form.seed_widgets(saved)
draft = form.draft_config(saved)
errors = form.field_errors(draft)
if not errors and draft != saved:
    state.set_ann_config(draft)
    saved = draft

st.subheader("Start from a preset")
form.render_presets()
form.show_message(form.KEY_PRESET_MESSAGE)

if errors:
    st.warning(f"{len(errors)} setting(s) need attention (see the messages under the fields). "
               "Until they are fixed, training uses the last valid configuration.", icon=":material/warning:")

layers_column, picture_column = st.columns([6, 5], gap="medium")
with layers_column:
    st.subheader("Hidden layers")
    form.render_layers(errors)
with picture_column:
    shown = saved if errors else draft
    show(architecture_figure(shown, N_OUTPUTS), key="configure.architecture")
    st.caption(f"The {N_OUTPUTS} inputs are the 13 clinical features after preprocessing (numeric ones "
               f"standardised, categorical ones one-hot coded). Layers wider than {SMALL_LAYER} units are "
               "drawn as blocks.")

optimizer_column, training_column = st.columns(2, gap="large")
with optimizer_column:
    st.subheader("Gradient descent")
    form.render_optimizer(errors)
with training_column:
    st.subheader("Training")
    form.render_training(errors)

st.subheader("Activation functions")
in_use = {layer.activation for layer in draft.hidden_layers if isinstance(layer.activation, str)}
show(activation_figure(in_use), key="configure.activations")
st.caption("Solid: f(z). Dashed: its derivative f′(z), the factor backpropagation multiplies the error by "
           "when it passes back through the neuron (chain rule). Coloured: used by this network.")
for name, note in ACTIVATION_NOTES.items():
    st.markdown(f"- **{name}**{' (in use)' if name in in_use else ''}: {note}")

st.subheader("Save or load this configuration")
save_column, load_column = st.columns(2, gap="large")
with save_column:
    st.download_button("Download configuration (JSON)", data=saved.to_json(), file_name="heart-ann-config.json",
                       mime="application/json", icon=":material/download:", key="configure.download")
    if errors:
        st.caption("The download holds the last valid configuration.")
with load_column:
    st.file_uploader("Load a configuration (JSON)", type=["json"], key=form.KEY_UPLOAD,
                     on_change=form.load_uploaded_file,
                     help=f"A file saved from this page; at most {form.MAX_CONFIG_BYTES // 1024} KB.")
    form.show_message(form.KEY_FILE_MESSAGE)

st.page_link("pages/train.py", label="Train this network", icon=":material/play_arrow:")
