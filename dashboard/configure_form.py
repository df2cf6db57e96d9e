"""The network-configuration form: widgets drawn from the session's ANNConfig, checked by ANNConfig.

The session's ANNConfig (dashboard.state, KEY_ANN_CONFIG) is the source of truth and it is the
configuration the form shows, errors included: the Train and Compare pages show and run exactly
it, and refuse it while it has errors. Widget keys only carry the user's edits from one run to the
next. Streamlit drops the state of a widget that a run does not draw (a field hidden by the
optimizer, a removed layer, another page), and a key written in a run that does not draw its
widget reaches the browser without its value when the widget is drawn later (the browser then
shows, and sends back, the widget's built-in default: 0). So, each run of the page (`sync_form`):

1. takes the values of the widgets drawn by the previous run into the configuration;
2. writes the value of every widget it is about to draw that was not drawn by the previous run
   (shown again, first visit, back from another page, or after a callback replaced the
   configuration) — in the same run that draws it, so the browser shows it;
3. remembers which widgets it actually drew (a run cut short by a newer edit draws fewer).

Callbacks (presets, layers, a loaded file) change the configuration, never widget keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import streamlit as st

from dashboard import state
from model.nn.config import _RANGES as config_ranges
from model.nn.config import (
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
from model.runtime.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_TRAINING_WORK, MAX_UNITS_PER_LAYER

PREFIX = "configure."
KEY_FULL_BATCH = PREFIX + "full_batch"
KEY_DRAWN = PREFIX + "drawn"  # widget keys drawn so far by the latest run of the page (not a widget)
KEY_RELOAD = PREFIX + "reload"  # set by a callback that replaced the configuration
KEY_LAST_BATCH = PREFIX + "last_batch"  # the batch size last typed, kept while "Full batch" is ticked
DEFAULT_BATCH_SIZE = 64  # shown the first time "Full batch" is unticked
LAYER_PARTS = ("units", "activation", "dropout")
KEY_UPLOAD = PREFIX + "upload"
KEY_PRESET_MESSAGE = PREFIX + "preset_message"  # (kind, text) shown under the preset buttons
KEY_FILE_MESSAGE = PREFIX + "file_message"  # (kind, text) shown under the file uploader
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
CLASS_WEIGHT_LABELS = {
    NO_CLASS_WEIGHT: "None (every patient counts once)",
    "balanced": "Balanced (rarer outcome weighs more)",
}
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
        """`value` as the widget holds it: an int widget must not get a float (nor the reverse)."""
        if value is None:  # batch_size of a full-batch configuration: widget_values supplies the number
            return None
        return int(value) if self.integer else float(value)


FIELDS = {
    field.name: field
    for field in (
        NumberField(
            "learning_rate",
            f"Learning rate η ∈ {_interval('learning_rate')}",
            False,
            0.001,
            "%g",
            "Step size of each update: w ← w − η·∂loss/∂w.",
        ),
        NumberField(
            "momentum",
            f"Momentum μ ∈ {_interval('momentum')}",
            False,
            0.05,
            "%g",
            "Share of the previous step carried into the next one.",
        ),
        NumberField(
            "alpha",
            f"Smoothing α ∈ {_interval('alpha')}",
            False,
            0.01,
            "%g",
            "RMSProp's decay of the running average of squared gradients.",
        ),
        NumberField(
            "eps",
            f"Epsilon ε ∈ {_interval('eps')}",
            False,
            1e-8,
            "%.1e",
            "Added to the denominator so a tiny running average never divides by zero.",
        ),
        NumberField(
            "batch_size",
            f"Batch size (1–{MAX_BATCH_SIZE:,})",
            True,
            1,
            None,
            "Patients per gradient step (the last batch of an epoch may be smaller).",
        ),
        NumberField(
            "epochs",
            f"Epochs (1–{MAX_EPOCHS:,})",
            True,
            10,
            None,
            "Passes over the training part. A whole training is also bounded: training rows × network "
            f"parameters × epochs may be at most {MAX_TRAINING_WORK:.0e} (minutes of CPU on this server); "
            "Start explains which to reduce when a big data set meets a big network.",
        ),
        NumberField(
            "weight_decay",
            f"Weight decay λ (L2) ∈ {_interval('weight_decay')}",
            False,
            0.0001,
            "%g",
            "Adds λ·‖W‖² to the loss: pulls weights towards zero (regularisation).",
        ),
        NumberField(
            "patience",
            f"Patience (1–{MAX_EPOCHS:,} epochs)",
            True,
            1,
            None,
            "Stop after this many epochs without a lower loss on the early-stopping hold-out (a "
            "validation-fraction share of the training part, set aside from fitting); the best weights "
            "are kept. The page's validation part is only watched.",
        ),
        NumberField(
            "init_sigma",
            f"σ of the initial weights ∈ {_interval('init_sigma')}",
            False,
            0.01,
            "%g",
            "Weights start from N(0, σ²); biases start at 0.",
        ),
        NumberField(
            "seed",
            "Random seed (0–4,294,967,295)",
            True,
            1,
            None,
            "Fixes the initial weights, the batch order, dropout and the train/validation split.",
        ),
        NumberField(
            "validation_fraction",
            f"Validation fraction ∈ {_interval('validation_fraction')}",
            False,
            0.05,
            "%g",
            "Share of patients held out (stratified) to measure validation loss and accuracy; with early "
            "stopping, the same share of the training part is also set aside to decide when to stop.",
        ),
    )
}
BETA_FIELDS = (
    NumberField("betas[0]", "β₁ (0 ≤ β₁ < 1)", False, 0.01, "%g", "Decay of Adam's mean of gradients."),
    NumberField("betas[1]", "β₂ (0 ≤ β₂ < 1)", False, 0.001, "%g", "Decay of Adam's mean of squared gradients."),
)


def _layer_key(index: int, part: str) -> str:
    return f"{PREFIX}layer{index}.{part}"


# ---- config <-> widgets ---------------------------------------------------------------
def drawn_keys(config: ANNConfig) -> list[str]:
    """The keys of the widgets the form draws for `config`, in drawing order (the renderers below follow it)."""
    keys = [_layer_key(index, part) for index in range(len(config.hidden_layers)) for part in LAYER_PARTS]
    keys += [PREFIX + "optimizer", FIELDS["learning_rate"].key]
    needs = OPTIMIZER_PARAMS.get(config.optimizer, ())
    if "momentum" in needs:
        keys.append(FIELDS["momentum"].key)
    if "betas" in needs:
        keys += [field.key for field in BETA_FIELDS]
    for name in ("alpha", "eps"):
        if name in needs:
            keys.append(FIELDS[name].key)
    if "batch_size" in needs:
        keys += [KEY_FULL_BATCH, FIELDS["batch_size"].key]
    keys += [FIELDS["epochs"].key, FIELDS["weight_decay"].key, PREFIX + "early_stopping"]
    if config.early_stopping is True:
        keys.append(FIELDS["patience"].key)
    keys.append(PREFIX + "init")
    if config.init == "normal":
        keys.append(FIELDS["init_sigma"].key)
    keys += [FIELDS["seed"].key, FIELDS["validation_fraction"].key, PREFIX + "class_weight", PREFIX + "device"]
    return keys


def widget_values(config: ANNConfig) -> dict:
    """Every widget key the form may draw for `config` and the value `config` gives it (as the widget returns it)."""
    values = {}
    for index, layer in enumerate(config.hidden_layers):
        values[_layer_key(index, "units")] = int(layer.units)
        values[_layer_key(index, "activation")] = layer.activation
        values[_layer_key(index, "dropout")] = float(layer.dropout)
    for field in FIELDS.values():
        values[field.key] = field.seed_value(getattr(config, field.name))
    for index, field in enumerate(BETA_FIELDS):
        values[field.key] = field.seed_value(config.betas[index])
    for name in CHOICES:
        values[PREFIX + name] = getattr(config, name)
    if config.class_weight is None:
        values[PREFIX + "class_weight"] = NO_CLASS_WEIGHT
    values[KEY_FULL_BATCH] = config.batch_size is None
    if config.batch_size is None:  # full batch: the disabled number field keeps the size last typed
        values[FIELDS["batch_size"].key] = st.session_state.get(KEY_LAST_BATCH, DEFAULT_BATCH_SIZE)
    return values


def _live_keys() -> set[str]:
    """Widget keys whose values are the user's latest: drawn by the previous run and still held by Streamlit.

    None after a callback replaced the configuration, or when the optimizer (always drawn) is
    missing: a first visit or a return from another page, where the browser starts afresh too.
    """
    ss = st.session_state
    if ss.get(KEY_RELOAD) or PREFIX + "optimizer" not in ss:
        return set()
    return {key for key in ss.get(KEY_DRAWN, ()) if key in ss}


def _with_widget_values(config: ANNConfig, live: set[str]) -> ANNConfig:
    """`config` with the value of every live widget applied (not validated)."""
    ss = st.session_state

    def value(key: str, default):
        return ss[key] if key in live else default

    layers = tuple(
        LayerConfig(*(value(_layer_key(index, part), getattr(layer, part)) for part in LAYER_PARTS))
        for index, layer in enumerate(config.hidden_layers)
    )
    changes = {name: value(field.key, getattr(config, name)) for name, field in FIELDS.items()}
    changes["betas"] = tuple(value(field.key, config.betas[i]) for i, field in enumerate(BETA_FIELDS))
    changes.update({name: value(PREFIX + name, getattr(config, name)) for name in CHOICES})
    if changes["class_weight"] == NO_CLASS_WEIGHT:
        changes["class_weight"] = None
    batch_key = FIELDS["batch_size"].key
    if KEY_FULL_BATCH in live:
        if batch_key in live:
            ss[KEY_LAST_BATCH] = ss[batch_key]
        changes["batch_size"] = None if ss[KEY_FULL_BATCH] else ss.get(KEY_LAST_BATCH, DEFAULT_BATCH_SIZE)
    else:  # batch fields hidden (full-batch GD): the configuration keeps its batch size
        changes["batch_size"] = config.batch_size
    return config.replace(hidden_layers=layers, **changes)


def current_config() -> ANNConfig:
    """The configuration the form shows right now: the session's, with the user's latest edits."""
    return _with_widget_values(state.ann_config(), _live_keys())


def sync_form() -> ANNConfig:
    """Bring the session's configuration and the widgets into step; call once per run, before drawing.

    Returns the configuration the form shows (saved in the session, errors included).
    """
    ss = st.session_state
    config = current_config()
    live = _live_keys()
    ss.pop(KEY_RELOAD, None)
    if config != state.ann_config():
        state.set_ann_config(config)
    if config.batch_size is not None:
        ss[KEY_LAST_BATCH] = config.batch_size
    values = widget_values(config)
    for key in drawn_keys(config):
        if key not in live:  # written in the run that draws it, so the browser shows this value
            ss[key] = values[key]
    # Filled by the renderers as each widget is drawn: a run interrupted by a newer edit leaves out
    # the widgets it never drew, whose keys were written above but never reached the browser.
    ss[KEY_DRAWN] = []
    return config


def _mark_drawn(key: str) -> None:
    st.session_state[KEY_DRAWN].append(key)


def field_errors(config: ANNConfig) -> dict[str, str]:
    """ANNConfig's verdict per field, plus whether the chosen device exists on this machine."""
    errors = {error.field: error.message for error in config.errors()}
    if "device" not in errors:
        from model.runtime.device import resolve_device

        try:
            resolve_device(config.device)
        except ValueError as error:
            errors["device"] = str(error)
    return errors


def problem_line(field: str, message: str) -> str:
    """One error in words a user finds on the form, e.g. "Layer 2 units: …" or "β₁ (0 ≤ β₁ < 1): …"."""
    labels = {**{f.name: f.label for f in FIELDS.values()}, **{f.name: f.label for f in BETA_FIELDS}}
    layer = re.fullmatch(r"hidden_layers\[(\d+)\](?:\.(\w+))?", field)
    if layer:
        name = f"Layer {int(layer.group(1)) + 1}" + (f" {layer.group(2)}" if layer.group(2) else "")
    else:
        name = labels.get(field, field.replace("_", " ").capitalize())
    return f"{name}: {message}"


# ---- callbacks: they put a new configuration in the session (configurations are frozen values, never
# edited in place), and the next run redraws every widget from it ----
def _replace_config(config: ANNConfig) -> None:
    state.set_ann_config(config)
    st.session_state[KEY_RELOAD] = True


def use_config(config: ANNConfig) -> None:
    """Put `config` in the session (e.g. a search's best): the next run of the form shows every field of it."""
    _replace_config(config)


def apply_preset(name: str) -> None:
    from model.nn.presets import PRESETS

    _replace_config(PRESETS[name])  # frozen: the session can hold the preset itself
    st.session_state[KEY_PRESET_MESSAGE] = ("success", f"Preset loaded: {PRESET_LABELS.get(name, name)}.")


def add_layer() -> None:
    config = current_config()
    layers = config.hidden_layers
    if len(layers) >= MAX_HIDDEN_LAYERS:
        return
    # A frozen layer is a value: the new last layer may be the very same object as the one before it.
    added = layers[-1] if layers else LayerConfig(16, "relu", 0.0)
    _replace_config(config.replace(hidden_layers=(*layers, added)))


def remove_layer(index: int) -> None:
    config = current_config()
    layers = tuple(layer for position, layer in enumerate(config.hidden_layers) if position != index)
    _replace_config(config.replace(hidden_layers=layers))


def load_uploaded_file() -> None:
    """Read the uploaded JSON; a bad file leaves the current configuration untouched and says why."""
    upload = st.session_state.get(KEY_UPLOAD)
    if upload is None:
        return
    try:
        if upload.size > MAX_CONFIG_BYTES:
            raise ConfigError(
                "file", f"is {upload.size:,} bytes; a configuration file is at most {MAX_CONFIG_BYTES:,} bytes"
            )
        config = ANNConfig.from_json(upload.getvalue())
    except ConfigError as error:
        st.session_state[KEY_FILE_MESSAGE] = (
            "error",
            f"**{upload.name}** was not loaded — {error.field}: {error.message}. "
            "Your current configuration is unchanged.",
        )
        return
    except (TypeError, ValueError) as error:  # e.g. a field of the wrong type
        st.session_state[KEY_FILE_MESSAGE] = (
            "error",
            f"**{upload.name}** was not loaded — {error}. Your current configuration is unchanged.",
        )
        return
    _replace_config(config)
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
    st.number_input(
        field.label, key=field.key, step=field.step, format=field.format, help=field.help, disabled=disabled
    )
    _mark_drawn(field.key)
    show_error(errors, field.name)


def render_presets(config: ANNConfig) -> None:
    """One button per preset; the one the form still equals (if any) is highlighted and named."""
    from model.nn.presets import PRESET_DESCRIPTIONS, PRESETS, matching_preset

    match = matching_preset(config)
    columns = st.columns(len(PRESETS))
    for column, name in zip(columns, PRESETS, strict=True):
        with column:
            active = name == match
            st.button(
                PRESET_LABELS.get(name, name),
                key=f"{PREFIX}preset.{name}",
                on_click=apply_preset,
                args=(name,),
                type="primary" if active else "secondary",
                width="stretch",
            )
            st.caption(PRESET_DESCRIPTIONS.get(name, ""))
    if match is not None:
        st.markdown(f":material/check_circle: The form equals the **{PRESET_LABELS.get(match, match)}** preset.")
    else:
        st.markdown(":material/edit: Your own configuration: the form equals none of the presets.")


def render_layers(config: ANNConfig, errors: dict[str, str]) -> None:
    count = len(config.hidden_layers)
    st.caption(
        f"Up to {MAX_HIDDEN_LAYERS} hidden layers of 1–{MAX_UNITS_PER_LAYER} units; dropout 0 ≤ p < 1. "
        "The output layer is always one neuron with a sigmoid: P(disease)."
    )
    if count == 0:
        st.info(
            "No hidden layer: the network is a **single perceptron**, p = sigmoid(w·x + b) — "
            "a straight decision boundary, like logistic regression.",
            icon=":material/linear_scale:",
        )
    show_error(errors, "hidden_layers")
    for index in range(count):
        prefix = f"hidden_layers[{index}]"
        # A table: column labels on the first row only (the others keep them for screen readers).
        label = "visible" if index == 0 else "collapsed"
        name, units, activation, dropout, remove = st.columns([1.6, 3, 3, 3, 1.4], vertical_alignment="bottom")
        name.markdown(f"**Layer {index + 1}**")
        with units:
            st.number_input(
                "Units",
                key=_layer_key(index, "units"),
                step=1,
                label_visibility=label,
                help=f"Neurons in this layer (1–{MAX_UNITS_PER_LAYER}).",
            )
            _mark_drawn(_layer_key(index, "units"))
        with activation:
            st.selectbox("Activation", ACTIVATIONS, key=_layer_key(index, "activation"), label_visibility=label)
            _mark_drawn(_layer_key(index, "activation"))
        with dropout:
            st.number_input(
                "Dropout",
                key=_layer_key(index, "dropout"),
                step=0.1,
                format="%g",
                label_visibility=label,
                help="Share of this layer's outputs zeroed at random during training (0 ≤ p < 1; 0.5 is typical).",
            )
            _mark_drawn(_layer_key(index, "dropout"))
        with remove:
            st.button(
                ":material/delete:",
                key=f"{PREFIX}remove{index}",
                on_click=remove_layer,
                args=(index,),
                help=f"Remove hidden layer {index + 1}",
            )
        for part in ("", ".units", ".activation", ".dropout"):
            if prefix + part in errors:  # the labels are hidden after row 1: name the layer and field
                st.error(
                    f"Layer {index + 1}{' ' + part[1:] if part else ''}: {errors[prefix + part]}",
                    icon=":material/error:",
                )
    st.button(
        "Add a hidden layer",
        key=f"{PREFIX}add_layer",
        on_click=add_layer,
        icon=":material/add:",
        disabled=count >= MAX_HIDDEN_LAYERS,
        help=f"At most {MAX_HIDDEN_LAYERS} hidden layers." if count >= MAX_HIDDEN_LAYERS else None,
    )


def render_optimizer(config: ANNConfig, errors: dict[str, str]) -> None:
    st.selectbox("Optimizer", OPTIMIZERS, key=PREFIX + "optimizer", format_func=OPTIMIZER_LABELS.get)
    _mark_drawn(PREFIX + "optimizer")
    show_error(errors, "optimizer")
    needs = OPTIMIZER_PARAMS.get(config.optimizer, ())
    number_input(FIELDS["learning_rate"], errors)
    if "momentum" in needs:
        number_input(FIELDS["momentum"], errors)
    if "betas" in needs:
        first, second = st.columns(2)
        for column, field in zip((first, second), BETA_FIELDS, strict=True):
            with column:
                number_input(field, errors)
        show_error(errors, "betas")
    if "alpha" in needs:
        number_input(FIELDS["alpha"], errors)
    if "eps" in needs:
        number_input(FIELDS["eps"], errors)
    if "batch_size" in needs:
        full = st.checkbox("Full batch (the whole training part per step)", key=KEY_FULL_BATCH)
        _mark_drawn(KEY_FULL_BATCH)
        number_input(FIELDS["batch_size"], errors, disabled=full)
    else:
        st.caption("Full-batch gradient descent: every step uses the whole training part.")


def render_training(config: ANNConfig, errors: dict[str, str]) -> None:
    number_input(FIELDS["epochs"], errors)
    number_input(FIELDS["weight_decay"], errors)
    st.checkbox(
        "Early stopping",
        key=PREFIX + "early_stopping",
        help="Stop when the loss on a hold-out set aside from the training part (the validation "
        "fraction of it) stops falling, and keep the best weights. The page's validation part is "
        "never used for this, so its metrics stay honest.",
    )
    _mark_drawn(PREFIX + "early_stopping")
    show_error(errors, "early_stopping")
    if config.early_stopping is True:
        number_input(FIELDS["patience"], errors)
    st.selectbox("Weight initialisation", INITS, key=PREFIX + "init", format_func=INIT_LABELS.get)
    _mark_drawn(PREFIX + "init")
    show_error(errors, "init")
    if config.init == "normal":
        number_input(FIELDS["init_sigma"], errors)
    else:
        st.caption("Xavier and Kaiming choose σ from each layer's width (σ² = 2/(fan_in+fan_out) or 2/fan_in).")
    number_input(FIELDS["seed"], errors)
    number_input(FIELDS["validation_fraction"], errors)
    st.selectbox(
        "Class weights",
        [NO_CLASS_WEIGHT if c is None else c for c in CLASS_WEIGHTS],
        key=PREFIX + "class_weight",
        format_func=lambda c: CLASS_WEIGHT_LABELS.get(c, c),
    )
    _mark_drawn(PREFIX + "class_weight")
    show_error(errors, "class_weight")
    st.selectbox("Device", DEVICES, key=PREFIX + "device", format_func=DEVICE_LABELS.get)
    _mark_drawn(PREFIX + "device")
    show_error(errors, "device")
