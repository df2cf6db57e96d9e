"""The playground's settings column: data and the main network knobs, beside the live charts.

The knobs edit the session's ANNConfig (dashboard.state), the very configuration the Configure page
edits in full: a change here is seen there and the reverse. The widgets are seeded from the
configuration whenever it was replaced elsewhere (the Configure page, a lesson, a shared link) or
the widgets were not drawn by the previous run (Streamlit drops the state of widgets it does not
draw); otherwise they hold the user's latest edit, and only the knobs the user changed are written
back, so settings without a knob here (per-layer activations, momentum, ...) are never overwritten.

A replacement also gives the knobs new widget keys (a generation number in each key): a rerun the
browser asked for before it had drawn the replaced values (a live chart's timer firing while a lesson
starts, on a loaded server) then carries only the old widgets' values, which Streamlit drops as stale,
instead of writing the old setup back over the new one.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import configure_form, state
from model.data.plane_data import TOY_LABELS
from model.data.schema import NUMERIC, feature
from model.data.toy_datasets import MAX_TOY_SAMPLES, MIN_TOY_SAMPLES, TOY_DATASETS
from model.nn.config import ACTIVATIONS, OPTIMIZER_LABELS, OPTIMIZER_PARAMS, OPTIMIZERS, ANNConfig, LayerConfig
from model.runtime.limits import MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER
from model.serving.share_link import DataChoice

logger = logging.getLogger(__name__)

PREFIX = "playground."
KEY_DATA = PREFIX + "data_choice"  # the DataChoice in use (not a widget)
KEY_SEEN_CONFIG = PREFIX + "seen_config"  # the configuration the knobs were last in step with
KEY_SEEN_DATA = PREFIX + "seen_data"
KEY_DATA_GENERATION = PREFIX + "data_generation"  # counts replacements of the data choice (not a widget)
KEY_KNOB_GENERATION = PREFIX + "knob_generation"  # counts replacements of the configuration (not a widget)
KEY_DRAWN = PREFIX + "drawn"  # widget keys drawn so far by the latest run (not a widget)
KEY_DRAWN_BEFORE = PREFIX + "drawn_before"  # those the previous run drew
KEY_UNITS = PREFIX + "units"
KEY_ACTIVATION = PREFIX + "activation"
KEY_DROPOUT = PREFIX + "dropout"
KEY_OPTIMIZER = PREFIX + "optimizer"
KEY_LEARNING_RATE = PREFIX + "learning_rate"
KEY_BATCH = PREFIX + "batch"
KEY_WEIGHT_DECAY = PREFIX + "weight_decay"
KEY_EPOCHS = PREFIX + "epochs"
KEY_SEED = PREFIX + "seed"
KEY_DATA_KIND = PREFIX + "data.kind"
KEY_DATA_SAMPLES = PREFIX + "data.n_samples"
KEY_DATA_NOISE = PREFIX + "data.noise"
KEY_DATA_SEED = PREFIX + "data.seed"
KEY_DATA_X = PREFIX + "data.x"
KEY_DATA_Y = PREFIX + "data.y"

FULL_BATCH = "full batch"
BATCH_CHOICES: tuple[int | str, ...] = (FULL_BATCH, 1, 4, 8, 16, 32, 64, 128, 256)
DATA_LABELS = {"heart": "Heart data (all 13 features)", "heart_pair": "Two heart features", **TOY_LABELS}
DATA_KINDS = ("heart", "heart_pair", *TOY_DATASETS)
DEFAULT_PAIR = ("age", "thalach")


# ---- widgets in step with the session -------------------------------------------------------
def begin_run() -> None:
    """Call once per run of the page, before the settings: remembers which widgets the previous run drew.

    A run cut short by a newer edit writes widget keys it never draws; Streamlit then shows such a
    widget empty in the next run. So a widget the previous run did not draw is always re-seeded.
    """
    ss = st.session_state
    ss[KEY_DRAWN_BEFORE] = set(ss.get(KEY_DRAWN, ()))
    ss[KEY_DRAWN] = []


def widget_key(name: str, session_state=None) -> str:
    """The key of the widget for setting `name` (a KEY_ constant) in this generation of its group."""
    ss = st.session_state if session_state is None else session_state
    generation_key = KEY_DATA_GENERATION if name.startswith(PREFIX + "data.") else KEY_KNOB_GENERATION
    generation = ss.get(generation_key, 0)
    return f"{name}.g{generation}"


def _value(name: str):
    return st.session_state[widget_key(name)]


def _seed(values: dict, replaced: bool, generation_key: str) -> None:
    ss = st.session_state
    if replaced:
        ss[generation_key] = ss.get(generation_key, 0) + 1
    drawn_before = ss.get(KEY_DRAWN_BEFORE, set())
    for name, value in values.items():
        key = widget_key(name)
        if replaced or key not in ss or key not in drawn_before:
            ss[key] = value


def _draw(widget, *args, key: str, **kwargs):
    full_key = widget_key(key)
    value = widget(*args, key=full_key, **kwargs)
    st.session_state.setdefault(KEY_DRAWN, []).append(full_key)
    return value


# ---- the data choice ------------------------------------------------------------------------
def data_choice() -> DataChoice:
    choice = st.session_state.get(KEY_DATA)
    if choice is None:
        choice = DataChoice(kind="heart")
        st.session_state[KEY_DATA] = choice
    return choice


def set_data_choice(choice: DataChoice) -> None:
    st.session_state[KEY_DATA] = choice


def _data_values(choice: DataChoice) -> dict:
    features = choice.features or DEFAULT_PAIR
    return {
        KEY_DATA_KIND: choice.kind,
        KEY_DATA_SAMPLES: int(choice.n_samples),
        KEY_DATA_NOISE: float(choice.noise),
        KEY_DATA_SEED: int(choice.seed),
        KEY_DATA_X: features[0],
        KEY_DATA_Y: features[1],
    }


def render_data_settings() -> DataChoice:
    ss = st.session_state
    choice = data_choice()
    values = _data_values(choice)
    _seed(values, replaced=ss.get(KEY_SEEN_DATA) is not choice, generation_key=KEY_DATA_GENERATION)
    _draw(st.selectbox, "Data", DATA_KINDS, key=KEY_DATA_KIND, format_func=DATA_LABELS.get)
    kind = _value(KEY_DATA_KIND)
    if kind in TOY_DATASETS:
        st.caption(TOY_DATASETS[kind])
        _draw(st.slider, "Points", MIN_TOY_SAMPLES, MAX_TOY_SAMPLES, step=1, key=KEY_DATA_SAMPLES)
        noise, seed = st.columns(2)
        _draw(noise.slider, "Noise", 0.0, 1.0, step=0.05, key=KEY_DATA_NOISE)
        _draw(seed.number_input, "Data seed", min_value=0, step=1, key=KEY_DATA_SEED)
    elif kind == "heart_pair":
        first, second = st.columns(2)
        label = lambda name: feature(name).label  # noqa: E731
        _draw(first.selectbox, "Horizontal axis", NUMERIC, key=KEY_DATA_X, format_func=label)
        _draw(second.selectbox, "Vertical axis", NUMERIC, key=KEY_DATA_Y, format_func=label)
    if kind in TOY_DATASETS:
        new = DataChoice.toy(kind, _value(KEY_DATA_SAMPLES), _value(KEY_DATA_NOISE), _value(KEY_DATA_SEED))
    elif kind == "heart_pair":
        if _value(KEY_DATA_X) == _value(KEY_DATA_Y):
            st.error("Choose two different features.", icon=":material/error:")
            new = choice if choice.kind == "heart_pair" else DataChoice.heart_pair(*DEFAULT_PAIR)
        else:
            new = DataChoice.heart_pair(_value(KEY_DATA_X), _value(KEY_DATA_Y))
    else:
        new = DataChoice.heart()
    if new != choice:
        set_data_choice(new)
    ss[KEY_SEEN_DATA] = data_choice()
    return data_choice()


# ---- the network knobs ----------------------------------------------------------------------
def units_text(config: ANNConfig) -> str:
    return ", ".join(str(layer.units) for layer in config.hidden_layers)


def parse_units(text: str) -> tuple[int, ...]:
    """ "8, 8, 4" → (8, 8, 4); "" → () (a perceptron). ValueError with a plain message otherwise."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if len(parts) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"at most {MAX_HIDDEN_LAYERS} hidden layers; got {len(parts)}")
    units = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= MAX_UNITS_PER_LAYER:
            raise ValueError(f"{part[:20]!r} is not a number of units from 1 to {MAX_UNITS_PER_LAYER}")
        units.append(int(part))
    return tuple(units)


def _knob_values(config: ANNConfig) -> dict:
    layers = config.hidden_layers
    return {
        KEY_UNITS: units_text(config),
        KEY_ACTIVATION: layers[0].activation if layers else "tanh",
        KEY_DROPOUT: float(layers[0].dropout) if layers else 0.0,
        KEY_OPTIMIZER: config.optimizer,
        KEY_LEARNING_RATE: float(config.learning_rate),
        KEY_BATCH: FULL_BATCH if config.batch_size is None else int(config.batch_size),
        KEY_WEIGHT_DECAY: float(config.weight_decay),
        KEY_EPOCHS: int(config.epochs),
        KEY_SEED: int(config.seed),
    }


def _changed_config(config: ANNConfig, seeded: dict, errors: dict[str, str]) -> ANNConfig:
    """`config` with every knob the user changed since it was seeded applied."""
    ss = st.session_state
    changed = {name for name, value in seeded.items() if widget_key(name) in ss and _value(name) != value}
    layers = config.hidden_layers
    if KEY_UNITS in changed:
        try:
            units = parse_units(_value(KEY_UNITS))
        except ValueError as error:
            errors[KEY_UNITS] = str(error)
        else:
            template = layers[-1] if layers else LayerConfig(8, _value(KEY_ACTIVATION), float(_value(KEY_DROPOUT)))
            layers = tuple(
                LayerConfig(
                    count,
                    *(
                        (layers[i].activation, layers[i].dropout)
                        if i < len(layers)
                        else (template.activation, template.dropout)
                    ),
                )
                for i, count in enumerate(units)
            )
    if KEY_ACTIVATION in changed:
        layers = tuple(LayerConfig(layer.units, _value(KEY_ACTIVATION), layer.dropout) for layer in layers)
    if KEY_DROPOUT in changed:
        layers = tuple(LayerConfig(layer.units, layer.activation, float(_value(KEY_DROPOUT))) for layer in layers)
    changes: dict = {"hidden_layers": layers}
    for key, name in (
        (KEY_OPTIMIZER, "optimizer"),
        (KEY_LEARNING_RATE, "learning_rate"),
        (KEY_WEIGHT_DECAY, "weight_decay"),
        (KEY_EPOCHS, "epochs"),
        (KEY_SEED, "seed"),
    ):
        if key in changed:
            changes[name] = _value(key)
    if KEY_BATCH in changed:
        changes["batch_size"] = None if _value(KEY_BATCH) == FULL_BATCH else int(_value(KEY_BATCH))
    return config.replace(**changes)


def render_network_settings() -> ANNConfig:
    """Draw the knobs; return the session's configuration with the user's edits (saved in the session)."""
    ss = st.session_state
    config = state.ann_config()
    seeded = _knob_values(config)
    _seed(seeded, replaced=ss.get(KEY_SEEN_CONFIG) is not config, generation_key=KEY_KNOB_GENERATION)
    layers = config.hidden_layers
    batch_choices = list(BATCH_CHOICES)
    if seeded[KEY_BATCH] not in batch_choices:
        batch_choices.append(seeded[KEY_BATCH])

    _draw(
        st.text_input,
        "Hidden layers: units per layer",
        key=KEY_UNITS,
        placeholder="empty = a single perceptron",
        help=f"Comma-separated, input side first, e.g. `8, 8, 4` for three layers "
        f"(at most {MAX_HIDDEN_LAYERS} layers of 1–{MAX_UNITS_PER_LAYER} units).",
    )
    errors: dict[str, str] = {}
    activation, dropout = st.columns(2)
    _draw(activation.selectbox, "Activation", ACTIVATIONS, key=KEY_ACTIVATION, help="Of every hidden layer.")
    _draw(
        dropout.number_input,
        "Dropout",
        step=0.1,
        format="%g",
        key=KEY_DROPOUT,
        help="Of every hidden layer (0 ≤ p < 1).",
    )
    if len({layer.activation for layer in layers}) > 1 or len({layer.dropout for layer in layers}) > 1:
        st.caption("The layers differ in activation or dropout (set on the Configure page); a change here sets all.")
    _draw(st.selectbox, "Optimizer", OPTIMIZERS, key=KEY_OPTIMIZER, format_func=OPTIMIZER_LABELS.get)
    rate, batch = st.columns(2)
    _draw(rate.number_input, "Learning rate η", step=0.01, format="%g", key=KEY_LEARNING_RATE)
    _draw(
        batch.selectbox,
        "Batch size",
        batch_choices,
        key=KEY_BATCH,
        disabled="batch_size" not in OPTIMIZER_PARAMS.get(_value(KEY_OPTIMIZER), ()),
        help="Rows per gradient step (full-batch gradient descent always uses them all).",
    )
    decay, epochs, seed = st.columns(3)
    _draw(decay.number_input, "Weight decay", step=0.001, format="%g", key=KEY_WEIGHT_DECAY)
    _draw(epochs.number_input, "Epochs", step=10, key=KEY_EPOCHS, help=f"1 to {MAX_EPOCHS:,}.")
    _draw(seed.number_input, "Seed", step=1, key=KEY_SEED, help="Fixes the initial weights and the shuffles.")

    new = _changed_config(config, seeded, errors)
    for message in errors.values():
        st.error(message, icon=":material/error:")
    if new != config:
        state.set_ann_config(new)
        ss[configure_form.KEY_RELOAD] = True  # the Configure form shows the new configuration next time
    ss[KEY_SEEN_CONFIG] = state.ann_config()
    st.page_link("app_pages/configure.py", label="Every setting, on the Configure page", icon=":material/tune:")
    return state.ann_config()
