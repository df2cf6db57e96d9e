"""A playground setup survives the trip through URL query parameters, and no link can break the page.

decode() reads what anyone may type into an address bar: it must never raise, must always return a
valid setup (or None when the link holds none of our parameters), and must say, briefly and in plain
words, what it could not use.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.data.schema import NUMERIC
from model.data.toy_datasets import MAX_TOY_SAMPLES, MIN_TOY_SAMPLES, TOY_DATASETS
from model.nn.config import ACTIVATIONS, DEVICES, INITS, OPTIMIZERS, ANNConfig, LayerConfig
from model.runtime.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER
from model.serving.share_link import (
    DATA_KINDS,
    DEFAULT_SETUP,
    MAX_ECHO_CHARS,
    MAX_QUERY_CHARS,
    PARAMETER_KEYS,
    DataChoice,
    DecodeResult,
    PlaygroundSetup,
    decode,
    default_setup,
    encode,
)

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPIRAL_8_TANH = PlaygroundSetup(
    ANNConfig(hidden_layers=[LayerConfig(8, "tanh"), LayerConfig(8, "tanh")], batch_size=32, epochs=300),
    DataChoice.toy("spiral", 200, 0.1, 0),
)
# Every field away from its default, at its longest: the largest link encode() can write.
LARGEST = PlaygroundSetup(
    ANNConfig(
        hidden_layers=[LayerConfig(MAX_UNITS_PER_LAYER, "leaky_relu", 0.12345678901234568)] * MAX_HIDDEN_LAYERS,
        init="kaiming",
        init_sigma=1.2345678901234567e-05,
        optimizer="rmsprop",
        learning_rate=1.2345678901234567e-05,
        momentum=0.12345678901234568,
        betas=(0.12345678901234568, 0.12345678901234567),
        eps=1.2345678901234567e-05,
        alpha=0.12345678901234568,
        batch_size=MAX_BATCH_SIZE,
        epochs=MAX_EPOCHS,
        weight_decay=1.2345678901234567e-05,
        early_stopping=True,
        patience=MAX_EPOCHS,
        validation_fraction=0.12345678901234568,
        class_weight="balanced",
        seed=2**32 - 1,
        device="cuda",
    ),
    DataChoice.toy("spiral", MAX_TOY_SAMPLES, 0.12345678901234568, 2**32 - 1),
)


# ---- strategies ---------------------------------------------------------------------------------------
def unit_interval(high_inclusive: bool) -> st.SearchStrategy[float]:
    return st.floats(0.0, 1.0, exclude_max=not high_inclusive, allow_nan=False)


positive = st.floats(0.0, 10.0, exclude_min=True, allow_nan=False, allow_subnormal=False)
layers = st.lists(
    st.builds(
        LayerConfig,
        units=st.integers(1, MAX_UNITS_PER_LAYER),
        activation=st.sampled_from(ACTIVATIONS),
        dropout=unit_interval(high_inclusive=False),
    ),
    max_size=MAX_HIDDEN_LAYERS,
)
configs = st.builds(
    ANNConfig,
    hidden_layers=layers,
    init=st.sampled_from(INITS),
    init_sigma=positive,
    optimizer=st.sampled_from(OPTIMIZERS),
    learning_rate=positive,
    momentum=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),  # (0, 1) suits Nesterov too
    betas=st.tuples(unit_interval(False), unit_interval(False)),
    eps=st.floats(0.0, 1.0, exclude_min=True),
    alpha=unit_interval(False),
    batch_size=st.none() | st.integers(1, MAX_BATCH_SIZE),
    epochs=st.integers(1, MAX_EPOCHS),
    weight_decay=st.floats(0.0, 10.0),
    early_stopping=st.booleans(),
    patience=st.integers(1, MAX_EPOCHS),
    validation_fraction=st.floats(0.05, 0.5),
    class_weight=st.sampled_from([None, "balanced"]),
    seed=st.integers(0, 2**32 - 1),
    device=st.sampled_from(DEVICES),
)
toy_choices = st.builds(
    DataChoice.toy,
    name=st.sampled_from(list(TOY_DATASETS)),
    n_samples=st.integers(MIN_TOY_SAMPLES, MAX_TOY_SAMPLES),
    noise=unit_interval(high_inclusive=True),
    seed=st.integers(0, 2**32 - 1),
)
pair_choices = st.lists(st.sampled_from(NUMERIC), min_size=2, max_size=2, unique=True).map(
    lambda pair: DataChoice.heart_pair(*pair)
)
data_choices = st.just(DataChoice.heart()) | pair_choices | toy_choices
setups = st.builds(PlaygroundSetup, config=configs, data=data_choices)

# Hostile links: our keys (and some others) with any text, near-misses of real values, or lists.
near_misses = st.sampled_from(
    ["nan", "inf", "-inf", "1e400", "-1", "0", "1e9", "full", "none", "", " ", "1,2,3", "8tanh,", "0.5.5", "٣", "½"]
)
hostile_text = st.text(max_size=60) | near_misses | st.text(min_size=300, max_size=2_000)
hostile_value = hostile_text | st.lists(hostile_text, max_size=3)
hostile_params = st.dictionaries(
    st.sampled_from(PARAMETER_KEYS) | st.text(max_size=10), hostile_value, max_size=len(PARAMETER_KEYS)
)


def assert_valid_or_none(result: DecodeResult) -> None:
    assert isinstance(result, DecodeResult)
    assert all(isinstance(problem, str) and problem for problem in result.problems)
    if result.setup is not None:
        result.setup.validate()  # raises if not
        assert result.setup.config.errors() == []


# ---- round trip ---------------------------------------------------------------------------------------
def test_the_example_link_is_short_readable_and_stable():
    params = encode(SPIRAL_8_TANH)
    assert urlencode(params, safe=",") == (
        "data=spiral&n=200&noise=0.1&dseed=0&layers=8tanh,8tanh&drop=0,0"
        "&opt=adam&lr=0.01&batch=32&wd=0&epochs=300&seed=0"
    )
    assert decode(params) == DecodeResult(SPIRAL_8_TANH, [])


@pytest.mark.parametrize(
    "setup",
    [
        DEFAULT_SETUP,
        SPIRAL_8_TANH,
        LARGEST,
        PlaygroundSetup(ANNConfig(hidden_layers=[], optimizer="gd", batch_size=None), DataChoice.heart()),
        PlaygroundSetup(ANNConfig(optimizer="nesterov", momentum=0.5), DataChoice.heart_pair("thalach", "age")),
        PlaygroundSetup(ANNConfig(learning_rate=5e-324, eps=1.0), DataChoice.toy("xor", MIN_TOY_SAMPLES, 0.0, 0)),
    ],
)
def test_examples_round_trip(setup):
    assert decode(encode(setup)) == DecodeResult(setup, [])


@PROPERTY
@given(setups)
def test_every_valid_setup_round_trips(setup):
    params = encode(setup)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in params.items())
    assert decode(params) == DecodeResult(setup, [])
    # The same through a real query string, as a browser sends it back (lists of values).
    assert decode(parse_qs(urlencode(params), keep_blank_values=True)).setup == setup


def test_the_default_setup_is_heart_data_and_the_default_network():
    assert default_setup() == DEFAULT_SETUP == PlaygroundSetup(ANNConfig(), DataChoice.heart())
    DEFAULT_SETUP.validate()


def test_every_config_field_is_encoded_when_it_differs_from_its_default():
    params = encode(LARGEST)
    decoded = decode(params).setup
    assert decoded is not None
    defaults = ANNConfig()
    for config_field in dataclasses.fields(ANNConfig):
        name = config_field.name
        # A field missing from the link would come back at its default, not at LARGEST's value.
        assert getattr(LARGEST.config, name) != getattr(defaults, name), name
        assert getattr(decoded.config, name) == getattr(LARGEST.config, name), name
    assert decoded.data == LARGEST.data


def test_main_knobs_are_always_present_and_other_defaults_are_left_out():
    params = encode(DEFAULT_SETUP)
    assert list(params) == ["data", "layers", "drop", "opt", "lr", "batch", "wd", "epochs", "seed"]
    assert params["layers"] == "32relu,16relu"


def test_special_values_have_words():
    params = encode(
        PlaygroundSetup(ANNConfig(hidden_layers=[], batch_size=None, early_stopping=True), DataChoice.heart())
    )
    assert params["layers"] == "none"
    assert "drop" not in params
    assert params["batch"] == "full"
    assert params["early"] == "yes"


def test_heart_pair_names_its_features_and_toy_knobs_appear_only_for_toys():
    params = encode(PlaygroundSetup(data=DataChoice.heart_pair("age", "chol")))
    assert params["data"] == "heart_pair" and params["feat"] == "age,chol"
    assert not {"n", "noise", "dseed"} & set(params)


def test_the_largest_allowed_setup_fits_a_url():
    query = urlencode(encode(LARGEST))
    assert len(query) <= MAX_QUERY_CHARS
    # Worst case: a heart pair instead of the toy knobs, with the longest feature names.
    pair = dataclasses.replace(LARGEST, data=DataChoice.heart_pair(*sorted(NUMERIC, key=len)[-2:]))
    assert len(urlencode(encode(pair))) <= MAX_QUERY_CHARS


def test_encode_refuses_an_invalid_setup():
    with pytest.raises(ValueError):
        encode(PlaygroundSetup(ANNConfig(learning_rate=-1.0), DataChoice.heart()))
    with pytest.raises(ValueError):
        encode(PlaygroundSetup(ANNConfig(), DataChoice.toy("spiral", n_samples=MAX_TOY_SAMPLES + 1)))


# ---- DataChoice.validate --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("choice", "words"),
    [
        (DataChoice("mnist"), "unknown data"),
        (DataChoice.toy("moons", MIN_TOY_SAMPLES - 1), f"from {MIN_TOY_SAMPLES} to {MAX_TOY_SAMPLES:,}"),
        (DataChoice.toy("moons", noise=1.5), "noise must be a number from 0 to 1"),
        (DataChoice.toy("moons", noise=math.nan), "noise"),
        (DataChoice.toy("moons", seed=-1), "seed must be a whole number"),
        (DataChoice("heart", n_samples=500), "apply only to the toy data sets"),
        (DataChoice.heart_pair("age", "age"), "must differ"),
        (DataChoice.heart_pair("age", "sex"), "not one of the numeric features"),
        (DataChoice("heart_pair"), "exactly two"),
        (DataChoice("heart", features=("age", "chol")), "applies only to the heart_pair"),
    ],
)
def test_invalid_data_choices_say_why(choice, words):
    with pytest.raises(ValueError, match=words):
        choice.validate()


def test_every_data_kind_is_valid_with_its_defaults():
    for kind in DATA_KINDS:
        choice = DataChoice.heart_pair(*NUMERIC[:2]) if kind == "heart_pair" else DataChoice(kind)
        assert choice.validate() == choice


# ---- decode: hostile and malformed links ---------------------------------------------------------------
def test_no_parameters_of_ours_means_no_setup():
    assert decode({}) == DecodeResult(None, [])
    assert decode({"page": "predict", "utm_source": "x" * 10_000}) == DecodeResult(None, [])


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"lr": "abc"}, "lr=abc is not a number; the default 0.01 is used"),
        ({"lr": "-1"}, "lr=-1 is not allowed (must be in (0, 10]); the default 0.01 is used"),
        ({"lr": "nan"}, "lr=nan is not a finite number; the default 0.01 is used"),
        ({"epochs": "999999"}, f"epochs=999999 is more than the limit {MAX_EPOCHS:,}; {MAX_EPOCHS:,} is used"),
        ({"epochs": "2.5"}, "epochs=2.5 is not a whole number; the default 200 is used"),
        ({"opt": "nesterov", "mom": "0"}, "mom: Nesterov needs a momentum in (0, 1); the default 0.9 is used"),
        ({"data": "mnist"}, "data=mnist is not one of heart, heart_pair, xor, circles, moons, spiral, blobs"),
        ({"data": "moons", "n": "1e9"}, f"n=1e9 is more than the {MAX_TOY_SAMPLES:,} points allowed"),
        ({"data": "heart", "n": "300"}, "n=300 applies only to the toy data sets; it is ignored"),
        ({"data": "heart_pair", "feat": "age,sex"}, "feat=age,sex: sex is not one of the numeric features"),
        ({"lr": ["0.1", "0.2"]}, "lr is given 2 times; the last one is used"),
        ({"lr": "1" * 10_000}, "lr is 10,000 characters long, too long to be ours; its default is used"),
        ({"batch": "0"}, "batch=0 is not allowed (must be a whole number from 1 to 100000"),
        ({"layers": "8tanh,8"}, "layers=8tanh,8: 8 is not a size followed by an activation"),
    ],
)
def test_specific_problems_are_described_plainly(params, problem):
    result = decode(params)
    assert_valid_or_none(result)
    assert any(line.startswith(problem) for line in result.problems), result.problems


def test_bad_values_fall_back_per_field_and_good_ones_are_kept():
    result = decode({"lr": "abc", "epochs": "50", "data": "circles", "n": "100", "noise": "2"})
    assert result.setup is not None
    assert result.setup.config.learning_rate == ANNConfig().learning_rate
    assert result.setup.config.epochs == 50
    assert result.setup.data == DataChoice.toy("circles", 100)  # noise 2 is out of range: its default
    assert len(result.problems) == 2


def test_absurd_sizes_are_bounded():
    many = ",".join(["99999gelu"] * 20)  # 199 characters: under the length cap, over every other limit
    result = decode({"layers": many, "epochs": "1e300", "batch": str(10**50), "data": "spiral", "n": "99999999"})
    setup = result.setup
    assert setup is not None
    assert setup.config.hidden_layers == (LayerConfig(MAX_UNITS_PER_LAYER, "gelu"),) * MAX_HIDDEN_LAYERS
    assert setup.config.epochs == MAX_EPOCHS
    assert setup.config.batch_size == MAX_BATCH_SIZE
    assert setup.data.n_samples == MAX_TOY_SAMPLES


def test_layer_problems_keep_the_shape_where_they_can():
    result = decode({"layers": "0relu,4swish", "drop": "0.5,abc,0.1"})
    assert result.setup is not None
    assert result.setup.config.hidden_layers == (LayerConfig(16, "relu", 0.5), LayerConfig(4, "relu", 0.0))
    assert len(result.problems) == 4  # no units, unknown activation, 3 values for 2 layers, abc


def test_values_that_only_fail_together_are_reset():
    result = decode({"opt": "nesterov", "mom": "0"})
    assert result.setup is not None
    assert result.setup.config.optimizer == "nesterov"
    assert result.setup.config.momentum == ANNConfig().momentum


def test_echoed_values_are_capped_and_markdown_safe():
    hostile = "[click me](https://evil.example)<script>" + "é" * 5_000 + "`**"
    result = decode({"opt": hostile[:200], "data": hostile[:250]})
    assert len(result.problems) == 2
    for line in result.problems:
        assert not set("[]()<>`*") & set(line), line
        assert "é" * (MAX_ECHO_CHARS + 1) not in line
        assert len(line) < 250


def test_input_that_is_not_a_mapping_of_text_is_survived():
    assert decode(None) == DecodeResult(None, [])  # type: ignore[arg-type]
    assert decode(["lr", "0.1"]).setup is None  # type: ignore[arg-type]
    result = decode({"lr": 0.1, "epochs": None, "seed": [], "wd": [b"0"]})  # type: ignore[dict-item]
    assert result.setup == DEFAULT_SETUP
    assert len(result.problems) == 4


def test_a_mapping_that_fails_when_read_gives_the_default_and_says_so(caplog):
    class Broken(dict):
        def __getitem__(self, key):
            raise RuntimeError("broken mapping")

    with caplog.at_level(logging.WARNING, logger="model.serving.share_link"):
        result = decode(Broken(lr="0.1"))
    assert result.setup == DEFAULT_SETUP
    assert result.problems == ["The link parameters could not be read; the default setup is used."]
    assert "broken mapping" in caplog.text  # logged with its traceback


@PROPERTY
@given(hostile_params)
def test_decode_never_raises_and_returns_a_valid_setup_or_none(params):
    result = decode(params)
    assert_valid_or_none(result)
    ours = set(params) & set(PARAMETER_KEYS)
    assert (result.setup is None) == (not ours)
    # The last-resort guard in decode() must never be what answered: that would be a bug here.
    assert not any("internal error" in line for line in result.problems)
    assert all(len(line) < 400 for line in result.problems)


@PROPERTY
@given(setups, st.sampled_from(PARAMETER_KEYS), hostile_value)
def test_one_damaged_parameter_leaves_a_valid_setup(setup, key, value):
    params: dict = dict(encode(setup))
    params[key] = value
    result = decode(params)
    assert_valid_or_none(result)
    assert result.setup is not None
