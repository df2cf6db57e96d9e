import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.nn.config import ACTIVATIONS, OPTIMIZERS, ANNConfig, ConfigError, LayerConfig
from model.runtime.limits import MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER


def fields_with_errors(config: ANNConfig) -> list[str]:
    return [error.field for error in config.errors()]


def test_default_config_is_valid():
    config = ANNConfig()
    assert config.errors() == []
    assert config.validate() is config


def test_zero_hidden_layers_is_the_perceptron():
    config = ANNConfig(hidden_layers=[])
    assert config.errors() == []
    assert config.is_perceptron


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"learning_rate": -0.1}, "learning_rate", "(0, 10]"),
        ({"learning_rate": math.nan}, "learning_rate", "finite"),
        ({"learning_rate": math.inf}, "learning_rate", "finite"),
        ({"learning_rate": "fast"}, "learning_rate", "number"),
        ({"optimizer": "lbfgs"}, "optimizer", "'adam'"),
        ({"init": "uniform"}, "init", "'xavier'"),
        ({"init_sigma": 0.0}, "init_sigma", "(0, 10]"),
        ({"momentum": 1.0}, "momentum", "[0, 1)"),
        ({"betas": (0.9, 1.5)}, "betas[1]", "[0, 1)"),
        ({"betas": (0.9,)}, "betas", "pair"),
        ({"eps": 0.0}, "eps", "(0, 1]"),
        ({"alpha": -0.5}, "alpha", "[0, 1)"),
        ({"batch_size": 0}, "batch_size", "None for the full batch"),
        ({"batch_size": 10**9}, "batch_size", "from 1 to"),
        ({"batch_size": 32.5}, "batch_size", "whole number"),
        ({"epochs": MAX_EPOCHS + 1}, "epochs", f"from 1 to {MAX_EPOCHS}"),
        ({"epochs": True}, "epochs", "whole number"),
        ({"weight_decay": -1e-4}, "weight_decay", "[0, 10]"),
        ({"early_stopping": "yes"}, "early_stopping", "true or false"),
        ({"patience": 0}, "patience", "from 1"),
        ({"validation_fraction": 0.9}, "validation_fraction", "[0.05, 0.5]"),
        ({"class_weight": "inverse"}, "class_weight", "'balanced'"),
        ({"seed": -1}, "seed", "whole number"),
        ({"device": "tpu"}, "device", "'cuda'"),
        ({"optimizer": "nesterov", "momentum": 0.0}, "momentum", "Nesterov"),
    ],
)
def test_each_bad_value_names_its_field_and_the_allowed_values(changes, field, words):
    errors = ANNConfig(**changes).errors()
    assert [e.field for e in errors] == [field]
    assert words in errors[0].message
    with pytest.raises(ConfigError) as raised:
        ANNConfig(**changes).validate()
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "layer, field, words",
    [
        (LayerConfig(units=10**9), "hidden_layers[0].units", f"from 1 to {MAX_UNITS_PER_LAYER}"),
        (LayerConfig(units=0), "hidden_layers[0].units", "from 1"),
        (LayerConfig(activation="softmax"), "hidden_layers[0].activation", "'relu'"),
        (LayerConfig(dropout=1.0), "hidden_layers[0].dropout", "[0, 1)"),
        (LayerConfig(dropout=-0.1), "hidden_layers[0].dropout", "[0, 1)"),
    ],
)
def test_bad_layer_values_name_the_layer(layer, field, words):
    errors = ANNConfig(hidden_layers=[layer]).errors()
    assert [e.field for e in errors] == [field]
    assert words in errors[0].message


def test_allowed_activations_are_listed_in_the_message():
    (error,) = ANNConfig(hidden_layers=[LayerConfig(activation="swish")]).errors()
    for name in ACTIVATIONS:
        assert repr(name) in error.message


def test_too_many_layers_is_a_resource_error():
    config = ANNConfig(hidden_layers=[LayerConfig() for _ in range(MAX_HIDDEN_LAYERS + 1)])
    assert "hidden_layers" in fields_with_errors(config)
    assert f"at most {MAX_HIDDEN_LAYERS}" in config.errors()[0].message


def test_errors_lists_every_problem_at_once():
    config = ANNConfig(learning_rate=-1, epochs=0, optimizer="x", hidden_layers=[LayerConfig(units=5, dropout=1.0)])
    assert set(fields_with_errors(config)) == {"learning_rate", "epochs", "optimizer", "hidden_layers[0].dropout"}


@pytest.mark.parametrize(
    "config",
    [
        ANNConfig(),
        ANNConfig(hidden_layers=[]),
        ANNConfig(
            hidden_layers=[LayerConfig(64, "tanh", 0.5), LayerConfig(8, "gelu", 0.0)],
            optimizer="rmsprop",
            batch_size=None,
            class_weight="balanced",
            early_stopping=True,
            betas=(0.8, 0.99),
            seed=7,
        ),
    ],
)
def test_json_round_trip(config):
    text = config.to_json()
    assert ANNConfig.from_json(text) == config
    assert ANNConfig.from_dict(json.loads(text)) == config
    assert ANNConfig.from_dict(config.to_dict()) == config


def test_configs_and_layers_are_frozen_values():
    config = ANNConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.learning_rate = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_layers[0].units = 3
    with pytest.raises(AttributeError):  # a tuple: no way to add a layer in place
        config.hidden_layers.append(LayerConfig())
    edited = config.replace(learning_rate=0.5)
    assert edited.learning_rate == 0.5 and config.learning_rate == 0.01
    assert hash(config) == hash(ANNConfig())  # usable as a cache key


def test_lists_given_for_layers_and_betas_are_stored_as_tuples():
    layers = [LayerConfig(4), LayerConfig(2, "tanh")]
    config = ANNConfig(hidden_layers=layers, betas=[0.8, 0.99])
    assert config.hidden_layers == tuple(layers) and config.betas == (0.8, 0.99)
    layers.append(LayerConfig(9))  # the caller's list is not the config's
    assert len(config.hidden_layers) == 2
    assert config == ANNConfig(hidden_layers=tuple(layers[:2]), betas=(0.8, 0.99))
    assert config.replace(hidden_layers=[]).hidden_layers == ()


def test_to_dict_is_json_shaped_and_reads_back_a_bundle_saved_with_lists():
    config = ANNConfig(hidden_layers=[LayerConfig(6, "tanh", 0.1)])
    data = config.to_dict()
    assert data["hidden_layers"] == [{"units": 6, "activation": "tanh", "dropout": 0.1}]
    assert data["betas"] == [0.9, 0.999]
    assert data == json.loads(config.to_json())
    saved = {"hidden_layers": [{"units": 6, "activation": "tanh", "dropout": 0.1}], "betas": [0.9, 0.999]}
    assert ANNConfig.from_dict(saved) == config


def test_invalid_layer_containers_are_kept_for_errors_to_name():
    assert fields_with_errors(ANNConfig(hidden_layers={"units": 8})) == ["hidden_layers"]


@pytest.mark.parametrize(
    "text, field, words",
    [
        ("not json at all", "config", "not valid JSON"),
        (b"\xff\xfe\x00", "config", "not valid JSON"),
        ("[1, 2, 3]", "config", "JSON object"),
        ('{"learning_rat": 0.1}', "learning_rat", "unknown field"),
        ('{"epochs": "many"}', "epochs", "whole number"),
        ('{"epochs": 1e12}', "epochs", "whole number"),
        ('{"hidden_layers": 5}', "hidden_layers", "list"),
        ('{"hidden_layers": [7]}', "hidden_layers[0]", "object"),
        ('{"hidden_layers": [{"units": 4, "size": 3}]}', "hidden_layers[0].size", "unknown field"),
        ('{"hidden_layers": [{"units": "4"}]}', "hidden_layers[0].units", "whole number"),
        ('{"betas": 0.9}', "betas", "pair"),
        ('{"dropout": 0.5}', "dropout", "allowed fields"),
        ('{"learning_rate": NaN}', "learning_rate", "finite"),
    ],
)
def test_from_json_gives_config_errors_never_raw_exceptions(text, field, words):
    with pytest.raises(ConfigError) as raised:
        ANNConfig.from_json(text)
    assert raised.value.field == field
    assert words in raised.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
field_names = st.sampled_from(list(ANNConfig().to_dict()) + ["units", "x"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=4))
def test_any_json_object_is_either_a_valid_config_or_a_config_error(data):
    try:
        config = ANNConfig.from_dict(data)
    except ConfigError as error:
        assert error.field and error.message
    else:
        assert config.errors() == []


def test_optimizer_names_cover_the_guide():
    assert set(OPTIMIZERS) == {"gd", "sgd", "momentum", "nesterov", "adam", "adagrad", "rmsprop"}
    assert ANNConfig(optimizer="gd", batch_size=16).effective_batch_size is None
    assert ANNConfig(optimizer="sgd", batch_size=16).effective_batch_size == 16
