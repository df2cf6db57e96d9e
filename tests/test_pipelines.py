"""ann_pipeline / pipeline_from_config and the presets."""

import numpy as np
import pytest
from sklearn.base import clone

from model.data.datasets import load_dataset
from model.data.preprocessing import features_and_target
from model.evaluation.pipelines import ann_pipeline, pipeline_from_config
from model.nn.config import ConfigError
from model.nn.presets import PRESET_DESCRIPTIONS, PRESETS, RECOMMENDED


@pytest.fixture(scope="module")
def data():
    return features_and_target(load_dataset())


def test_no_arguments_build_the_recommended_network():
    pipeline = ann_pipeline()
    assert [name for name, _ in pipeline.steps] == ["preprocess", "ann"]
    assert pipeline.named_steps["ann"].config() == RECOMMENDED


def test_keywords_reach_the_network(data):
    X, y = data
    pipeline = ann_pipeline(
        hidden_units=[6, 3],
        activation="tanh",
        dropout=0.1,
        optimizer="rmsprop",
        learning_rate=0.005,
        batch_size=None,
        epochs=4,
        weight_decay=1e-4,
        early_stopping=True,
        seed=3,
        device="cpu",
    )
    config = pipeline.named_steps["ann"].config()
    assert [layer.units for layer in config.hidden_layers] == [6, 3]
    assert config.optimizer == "rmsprop" and config.batch_size is None and config.early_stopping
    proba = pipeline.fit(X, y).predict_proba(X)  # raw frame with NaN in ca/thal
    assert proba.shape == (len(X), 2) and np.all((proba >= 0) & (proba <= 1))
    assert pipeline.named_steps["ann"].network_.layers[0].in_features == 22


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "momentum", "nesterov", "adam", "adagrad", "rmsprop"])
def test_every_optimizer_name_is_accepted(optimizer):
    assert ann_pipeline(optimizer=optimizer).named_steps["ann"].config().optimizer == optimizer


def test_bad_arguments_fail_before_training():
    with pytest.raises(ValueError, match="unknown ANN parameter 'hidden_layer_sizes'"):
        ann_pipeline(hidden_layer_sizes=[3])
    with pytest.raises(ConfigError, match="optimizer") as info:
        ann_pipeline(optimizer="lbfgs")
    assert info.value.field == "optimizer"
    with pytest.raises(ConfigError, match="epochs"):
        ann_pipeline(epochs=0)


def test_pipeline_from_config_and_clone(data):
    X, y = data
    pipeline = pipeline_from_config(PRESETS["perceptron"].replace(epochs=3))
    assert pipeline.named_steps["ann"].config().is_perceptron
    fitted = clone(pipeline).fit(X, y)
    assert len(fitted.named_steps["ann"].network_.layers) == 1


def test_presets_are_valid_and_say_what_they_are():
    assert set(PRESETS) == {"perceptron", "one_hidden", "deep_dropout", "recommended"} == set(PRESET_DESCRIPTIONS)
    for config in PRESETS.values():
        config.validate()
    assert PRESETS["recommended"] is RECOMMENDED
    assert len(PRESETS["perceptron"].hidden_layers) == 0  # a list or, since ANNConfig stores tuples, ()
    assert len(PRESETS["one_hidden"].hidden_layers) == 1
    deep = PRESETS["deep_dropout"].hidden_layers
    assert [layer.units for layer in deep] == [64, 32, 16] and all(layer.dropout == 0.5 for layer in deep)
