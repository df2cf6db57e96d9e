"""The network-configuration form: widgets bound to session-state keys, checked by ANNConfig.

The session's ANNConfig (dashboard.state) is the source of truth. Each widget is seeded from
it when its key is missing (first visit, after a page switch, after a widget was hidden),
the draft built from the widget values is validated with ANNConfig.errors() on every rerun,
each message is shown under its field, and a valid draft replaces the session's config.
An invalid draft never replaces it, so training always uses a configuration that passed.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dashboard import state
from model.config import (
    ACTIVATIONS,
    CLASS_WEIGHTS,
    DEVICES,
    INITS,
    OPTIMIZER_LABELS,
    OPTIMIZER_PARAMS,
    OPTIMIZERS,
    ANNConfig,
    ConfigError,
    LayerConfig,
)
from model.config import _RANGES as config_ranges
from model.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_TRAINING_WORK, MAX_UNITS_PER_LAYER

PREFIX = "configure."
KEY_LAYER_COUNT = PREFIX + "layer_count"
KEY_FULL_BATCH = PREFIX + "full_batch"
KEY_UPLOAD = PREFIX + "upload"
KEY_PRESET_MESSAGE = PREFIX + "preset_message"  # (kind, text) shown under the preset buttons
KEY_FILE_MESSAGE = PREFIX + "file_message"      # (kind, text) shown under the file uploader
CHOICES = ("optimizer", "init", "class_weight", "device", "early_stopping")  # non-numeric fields
MAX_CONFIG_BYTES = 64 * 1024  # a configuration is a few hundred bytes; refuse anything absurd

PRESET_LABELS = {
    "perceptron": "Single perceptron",
    "one_hidden": "One hidden layer",
    "deep_dropout": "Deeper, with dropout",
    "recommended": "Recommended",
}
INIT_LABELS = {"normal": "Normal N(0, σ²)", "xavier": "Xavier (Glorot)", "kaiming": "Kaiming (He)"}
# A selectbox shows None as "nothing chosen", so the widget holds "none" for class_weight=None.
NO_CLASS_WEIGHT = "none"
CLASS_WEIGHT_LABELS = {NO_CLASS_WEIGHT: "None (every patient counts once)",
                       "balanced": "Balanced (rarer outcome weighs more)"}
DEVICE_LABELS = {"auto": "Automatic (GPU if present)", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple MPS GPU"}


def _interval(name: str) -> str:
    """The range ANNConfig accepts for `name`, e.g. "(0, 10]", read from its validation table so
    the label can never disagree with the check (the table is private to model.config)."""
    low, high, low_inclusive, high_inclusive = config_ranges[name]
    return f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"


@dataclass(frozen=True)
class NumberField:
    """A numeric ANNConfig attribute edited with st.number_input (no widget clamp: ANNConfig judges)."""

    name: str
    label: str
    integer: bool
    step: float
    format: str | None = None
    help: str | None = None

    @property
    def key(self) -> str:
        return PREFIX + self.name

    def seed_value(self, value):
        return int(value) if self.integer else float(value)


FIELDS = {field.name: field for field in (
    NumberField("learning_rate", f"Learning rate η ∈ {_interval('learning_rate')}", False, 0.001, "%g",
                "Step size of each update: w ← w − η·∂loss/∂w."),
    NumberField("momentum", f"Momentum μ ∈ {_interval('momentum')}", False, 0.05, "%g",
                "Share of the previous step carried into the next one."),
    NumberField("alpha", f"Smoothing α ∈ {_interval('alpha')}", False, 0.01, "%g",
                "RMSProp's decay of the running average of squared gradients."),
    NumberField("eps", f"Epsilon ε ∈ {_interval('eps')}", False, 1e-8, "%.1e",
                "Added to the denominator so a tiny running average never divides by zero."),
    NumberField("batch_size", f"Batch size (1–{MAX_BATCH_SIZE:,})", True, 1, None,
                "Patients per gradient step (the last batch of an epoch may be smaller)."),
    NumberField("epochs", f"Epochs (1–{MAX_EPOCHS:,})", True, 10, None,
                "Passes over the training part. A whole training is also bounded: training rows × network "
                f"parameters × epochs may be at most {MAX_TRAINING_WORK:.0e} (minutes of CPU on this server); "
                "Start explains which to reduce when a big data set meets a big network."),
    NumberField("weight_decay", f"Weight decay λ (L2) ∈ {_interval('weight_decay')}", False, 0.0001, "%g",
                "Adds λ·‖W‖² to the loss: pulls weights towards zero (regularisation)."),
    NumberField("patience", f"Patience (1–{MAX_EPOCHS:,} epochs)", True, 1, None,
                "Stop after this many epochs without a lower loss on the early-stopping hold-out (a "
                "validation-fraction share of the training part, set aside from fitting); the best weights "
                "are kept. The page's validation part is only watched."),
    NumberField("init_sigma", f"σ of the initial weights ∈ {_interval('init_sigma')}", False, 0.01, "%g",
                "Weights start from N(0, σ²); biases start at 0."),
    NumberField("seed", "Random seed (0–4,294,967,295)", True, 1, None,
                "Fixes the initial weights, the batch order, dropout and the train/validation split."),
    NumberField("validation_fraction", f"Validation fraction ∈ {_interval('validation_fraction')}", False, 0.05, "%g",
                "Share of patients held out (stratified) to measure validation loss and accuracy; with early "
                "stopping, the same share of the training part is also set aside to decide when to stop."),
)}
BETA_FIELDS = (NumberField("betas[0]", "β₁ (0 ≤ β₁ < 1)", False, 0.01, "%g", "Decay of Adam's mean of gradients."),
               NumberField("betas[1]", "β₂ (0 ≤ β₂ < 1)", False, 0.001, "%g",
                           "Decay of Adam's mean of squared gradients."))


def _layer_key(index: int, part: str) -> str:
    return f"{PREFIX}layer{index}.{part}"


def _seed(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


# ---- config <-> widgets ---------------------------------------------------------------
def _widget_values(config: ANNConfig) -> dict:
    """Every widget key and the value `config` gives it (types as the widgets return them)."""
    values = {KEY_LAYER_COUNT: len(config.hidden_layers), KEY_FULL_BATCH: config.batch_size is None}
    for index, layer in enumerate(config.hidden_layers):
        values[_layer_key(index, "units")] = int(layer.units)
        values[_layer_key(index, "activation")] = layer.activation
        values[_layer_key(index, "dropout")] = float(layer.dropout)
    for field in FIELDS.values():
        value = getattr(config, field.name)
        if value is not None:  # batch_size None (full batch) keeps the number last typed
            values[field.key] = field.seed_value(value)
    for index, field in enumerate(BETA_FIELDS):
        values[field.key] = float(config.betas[index])
    for name in CHOICES:
        values[PREFIX + name] = getattr(config, name)
    if config.class_weight is None:
        values[PREFIX + "class_weight"] = NO_CLASS_WEIGHT
    return values


def load_into_widgets(config: ANNConfig) -> None:
    """Overwrite every widget value with `config` (preset chosen, file loaded)."""
    ss = st.session_state
    for key in [k for k in ss if isinstance(k, str) and k.startswith(PREFIX + "layer")]:
        del ss[key]
    ss[FIELDS["batch_size"].key] = ss.get(FIELDS["batch_size"].key, 64)
    ss.update(_widget_values(config))


def seed_widgets(config: ANNConfig) -> None:
    """Give every missing widget key its value from `config`; widgets keep what the user typed.

    The optimizer selectbox is always drawn, so its key missing means a first visit or a
    return from another page (Streamlit drops widget keys on page switch): start from the
    saved config. Otherwise only widgets that were hidden and are shown again get seeded.
    """
    if PREFIX + "optimizer" not in st.session_state:
        load_into_widgets(config)
        return
    values = _widget_values(config)
    values[FIELDS["batch_size"].key] = values.get(FIELDS["batch_size"].key, 64)
    for key, value in values.items():
        if not key.startswith(PREFIX + "layer"):
            _seed(key, value)


def draft_config(saved: ANNConfig) -> ANNConfig:
    """The configuration the widgets describe (not validated); hidden widgets keep the saved values."""
    ss = st.session_state
    layers = []
    for index in range(ss.get(KEY_LAYER_COUNT, len(saved.hidden_layers))):
        default = saved.hidden_layers[index] if index < len(saved.hidden_layers) else LayerConfig()
        layers.append(LayerConfig(ss.get(_layer_key(index, "units"), default.units),
                                  ss.get(_layer_key(index, "activation"), default.activation),
                                  ss.get(_layer_key(index, "dropout"), default.dropout)))
    values = {name: ss.get(field.key, getattr(saved, name)) for name, field in FIELDS.items()}
    if ss.get(KEY_FULL_BATCH, saved.batch_size is None):
        values["batch_size"] = None
    betas = tuple(ss.get(field.key, saved.betas[i]) for i, field in enumerate(BETA_FIELDS))
    choices = {name: ss.get(PREFIX + name, getattr(saved, name)) for name in CHOICES}
    if choices["class_weight"] == NO_CLASS_WEIGHT:
        choices["class_weight"] = None
    return ANNConfig(hidden_layers=layers, betas=betas, **values, **choices)


def field_errors(config: ANNConfig) -> dict[str, str]:
    """ANNConfig's verdict per field, plus whether the chosen device exists on this machine."""
    errors = {error.field: error.message for error in config.errors()}
    if "device" not in errors:
        from model.device import resolve_device

        try:
            resolve_device(config.device)
        except ValueError as error:
            errors["device"] = str(error)
    return errors


# ---- callbacks (run before the script, so they may set widget values) ----------------
def apply_preset(name: str) -> None:
    from model.presets import PRESETS

    config = PRESETS[name]
    state.set_ann_config(config)
    load_into_widgets(config)
    st.session_state[KEY_PRESET_MESSAGE] = ("success", f"Preset loaded: {PRESET_LABELS.get(name, name)}.")


def add_layer() -> None:
    ss = st.session_state
    count = ss.get(KEY_LAYER_COUNT, 0)
    if count >= MAX_HIDDEN_LAYERS:
        return
    template = (ss.get(_layer_key(count - 1, "units"), 16), ss.get(_layer_key(count - 1, "activation"), "relu"),
                ss.get(_layer_key(count - 1, "dropout"), 0.0)) if count else (16, "relu", 0.0)
    for part, value in zip(("units", "activation", "dropout"), template):
        ss[_layer_key(count, part)] = value
    ss[KEY_LAYER_COUNT] = count + 1


def remove_layer(index: int) -> None:
    ss = st.session_state
    count = ss.get(KEY_LAYER_COUNT, 0)
    for later in range(index, count - 1):  # shift the layers after `index` up by one
        for part in ("units", "activation", "dropout"):
            ss[_layer_key(later, part)] = ss.get(_layer_key(later + 1, part))
    for part in ("units", "activation", "dropout"):
        ss.pop(_layer_key(count - 1, part), None)
    ss[KEY_LAYER_COUNT] = max(0, count - 1)


def load_uploaded_file() -> None:
    """Read the uploaded JSON; a bad file leaves the current configuration untouched and says why."""
    upload = st.session_state.get(KEY_UPLOAD)
    if upload is None:
        return
    try:
        if upload.size > MAX_CONFIG_BYTES:
            raise ConfigError("file", f"is {upload.size:,} bytes; a configuration file is at most "
                                      f"{MAX_CONFIG_BYTES:,} bytes")
        config = ANNConfig.from_json(upload.getvalue())
    except ConfigError as error:
        st.session_state[KEY_FILE_MESSAGE] = (
            "error", f"**{upload.name}** was not loaded — {error.field}: {error.message}. "
                     "Your current configuration is unchanged.")
        return
    except (TypeError, ValueError) as error:  # e.g. a field of the wrong type
        st.session_state[KEY_FILE_MESSAGE] = (
            "error", f"**{upload.name}** was not loaded — {error}. Your current configuration is unchanged.")
        return
    state.set_ann_config(config)
    load_into_widgets(config)
    st.session_state[KEY_FILE_MESSAGE] = ("success", f"Configuration loaded from **{upload.name}**.")


# ---- rendering ----------------------------------------------------------------------
def show_message(key: str) -> None:
    """The message a callback left (once)."""
    message = st.session_state.pop(key, None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])


def show_error(errors: dict[str, str], *fields: str) -> None:
    for field in fields:
        if field in errors:
            st.error(errors[field], icon=":material/error:")


def number_input(field: NumberField, errors: dict[str, str], disabled: bool = False) -> None:
    st.number_input(field.label, key=field.key, step=field.step, format=field.format, help=field.help,
                    disabled=disabled)
    show_error(errors, field.name)


def render_presets() -> None:
    from model.presets import PRESET_DESCRIPTIONS, PRESETS

    columns = st.columns(len(PRESETS))
    current = state.ann_config()
    for column, name in zip(columns, PRESETS):
        with column:
            active = PRESETS[name] == current
            st.button(PRESET_LABELS.get(name, name), key=f"{PREFIX}preset.{name}", on_click=apply_preset,
                      args=(name,), type="primary" if active else "secondary", width="stretch")
            st.caption(PRESET_DESCRIPTIONS.get(name, ""))


def render_layers(errors: dict[str, str]) -> None:
    ss = st.session_state
    count = ss.get(KEY_LAYER_COUNT, 0)
    st.caption(f"Up to {MAX_HIDDEN_LAYERS} hidden layers of 1–{MAX_UNITS_PER_LAYER} units; dropout 0 ≤ p < 1. "
               "The output layer is always one neuron with a sigmoid: P(disease).")
    if count == 0:
        st.info("No hidden layer: the network is a **single perceptron**, p = sigmoid(w·x + b) — "
                "a straight decision boundary, like logistic regression.", icon=":material/linear_scale:")
    show_error(errors, "hidden_layers")
    for index in range(count):
        prefix = f"hidden_layers[{index}]"
        # A table: column labels on the first row only (the others keep them for screen readers).
        label = "visible" if index == 0 else "collapsed"
        name, units, activation, dropout, remove = st.columns([1.6, 3, 3, 3, 1.4], vertical_alignment="bottom")
        name.markdown(f"**Layer {index + 1}**")
        with units:
            st.number_input("Units", key=_layer_key(index, "units"), step=1, label_visibility=label,
                            help=f"Neurons in this layer (1–{MAX_UNITS_PER_LAYER}).")
        with activation:
            st.selectbox("Activation", ACTIVATIONS, key=_layer_key(index, "activation"), label_visibility=label)
        with dropout:
            st.number_input("Dropout", key=_layer_key(index, "dropout"), step=0.1, format="%g",
                            label_visibility=label,
                            help="Share of this layer's outputs zeroed at random during training "
                                 "(0 ≤ p < 1; 0.5 is typical).")
        with remove:
            st.button(":material/delete:", key=f"{PREFIX}remove{index}", on_click=remove_layer, args=(index,),
                      help=f"Remove hidden layer {index + 1}")
        for part in ("", ".units", ".activation", ".dropout"):
            if prefix + part in errors:  # the labels are hidden after row 1: name the layer and field
                st.error(f"Layer {index + 1}{' ' + part[1:] if part else ''}: {errors[prefix + part]}",
                         icon=":material/error:")
    st.button("Add a hidden layer", key=f"{PREFIX}add_layer", on_click=add_layer, icon=":material/add:",
              disabled=count >= MAX_HIDDEN_LAYERS,
              help=f"At most {MAX_HIDDEN_LAYERS} hidden layers." if count >= MAX_HIDDEN_LAYERS else None)


def render_optimizer(errors: dict[str, str]) -> None:
    ss = st.session_state
    st.selectbox("Optimizer", OPTIMIZERS, key=PREFIX + "optimizer", format_func=OPTIMIZER_LABELS.get)
    show_error(errors, "optimizer")
    optimizer = ss.get(PREFIX + "optimizer")
    needs = OPTIMIZER_PARAMS.get(optimizer, ())
    number_input(FIELDS["learning_rate"], errors)
    if "momentum" in needs:
        number_input(FIELDS["momentum"], errors)
    if "betas" in needs:
        first, second = st.columns(2)
        for column, field in zip((first, second), BETA_FIELDS):
            with column:
                number_input(field, errors)
        show_error(errors, "betas")
    if "alpha" in needs:
        number_input(FIELDS["alpha"], errors)
    if "eps" in needs:
        number_input(FIELDS["eps"], errors)
    if "batch_size" in needs:
        full = st.checkbox("Full batch (the whole training part per step)", key=KEY_FULL_BATCH)
        number_input(FIELDS["batch_size"], errors, disabled=full)
    else:
        st.caption("Full-batch gradient descent: every step uses the whole training part.")


def render_training(errors: dict[str, str]) -> None:
    ss = st.session_state
    number_input(FIELDS["epochs"], errors)
    number_input(FIELDS["weight_decay"], errors)
    st.checkbox("Early stopping", key=PREFIX + "early_stopping",
                help="Stop when the loss on a hold-out set aside from the training part (the validation "
                     "fraction of it) stops falling, and keep the best weights. The page's validation part is "
                     "never used for this, so its metrics stay honest.")
    show_error(errors, "early_stopping")
    if ss.get(PREFIX + "early_stopping"):
        number_input(FIELDS["patience"], errors)
    st.selectbox("Weight initialisation", INITS, key=PREFIX + "init", format_func=INIT_LABELS.get)
    show_error(errors, "init")
    if ss.get(PREFIX + "init") == "normal":
        number_input(FIELDS["init_sigma"], errors)
    else:
        st.caption("Xavier and Kaiming choose σ from each layer's width (σ² = 2/(fan_in+fan_out) or 2/fan_in).")
    number_input(FIELDS["seed"], errors)
    number_input(FIELDS["validation_fraction"], errors)
    st.selectbox("Class weights", [NO_CLASS_WEIGHT if c is None else c for c in CLASS_WEIGHTS],
                 key=PREFIX + "class_weight", format_func=lambda c: CLASS_WEIGHT_LABELS.get(c, c))
    show_error(errors, "class_weight")
    st.selectbox("Device", DEVICES, key=PREFIX + "device", format_func=DEVICE_LABELS.get)
    show_error(errors, "device")
