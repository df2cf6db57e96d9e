import io
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.nn.config import ANNConfig, ConfigError, LayerConfig
from model.nn.estimator import ANNClassifier
from model.nn.training import Callback

FAST = dict(hidden_units=(8,), epochs=15, batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(160, 6, n_informative=4, random_state=0)
    return X, y


def test_fit_returns_self_with_fitted_attributes(data):
    X, y = data
    model = ANNClassifier(**FAST)
    assert model.fit(X, y) is model
    assert model.n_features_in_ == 6 and list(model.classes_) == [0, 1]
    assert model.device_ == torch.device("cpu") and len(model.history_) == 15
    proba = model.predict_proba(X)
    assert proba.shape == (160, 2) and np.allclose(proba.sum(1), 1)
    assert set(model.predict(X)) <= {0, 1}
    assert np.array_equal(model.predict(X), (model.decision_function(X) > 0).astype(int))
    assert model.score(X, y) > 0.8


def test_string_labels_and_dataframes(data):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    labels = np.where(y == 1, "disease", "healthy")
    model = ANNClassifier(**FAST).fit(frame, labels)
    assert list(model.classes_) == ["disease", "healthy"]
    assert set(model.predict(frame)) <= {"disease", "healthy"}
    assert list(model.feature_names_in_) == list(frame.columns)


def test_params_round_trip_through_get_set_params_and_clone():
    model = ANNClassifier(hidden_units=[4, 3], activation=["tanh", "relu"], dropout=0.2, optimizer="rmsprop")
    params = model.get_params()
    assert params["hidden_units"] == [4, 3] and params["optimizer"] == "rmsprop"
    twin = clone(model)
    assert twin is not model and twin.get_params()["activation"] == ["tanh", "relu"]
    twin.set_params(learning_rate=0.5, epochs=3)
    assert twin.learning_rate == 0.5 and model.learning_rate == 0.01


def test_clone_shares_the_stop_event_and_copies_callbacks():
    stop, callback = threading.Event(), Callback()
    twin = clone(ANNClassifier(callbacks=[callback], stop_event=stop))
    assert twin.stop_event is stop
    assert type(twin.callbacks[0]) is Callback and twin.callbacks[0] is not callback


def test_config_round_trip():
    config = ANNConfig(
        hidden_layers=[LayerConfig(12, "tanh", 0.5), LayerConfig(6, "gelu", 0.1)],
        optimizer="nesterov",
        learning_rate=0.03,
        batch_size=None,
        early_stopping=True,
        seed=5,
    )
    model = ANNClassifier.from_config(config)
    assert model.config() == config
    assert ANNClassifier().config().errors() == []
    assert ANNClassifier(hidden_units=()).config().is_perceptron
    assert ANNClassifier(hidden_units=np.int64(5), seed=np.int64(3)).config().errors() == []


@pytest.mark.parametrize(
    "params, field",
    [
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(hidden_units=(10**9,)), "hidden_layers[0].units"),
        (dict(dropout=1.0), "hidden_layers[0].dropout"),
        (dict(activation=["relu"], hidden_units=(3, 3)), "activation"),
        (dict(optimizer="newton"), "optimizer"),
        (dict(hidden_units="wide"), "hidden_units"),
    ],
)
def test_fit_with_a_bad_parameter_raises_a_value_error_naming_it(data, params, field):
    X, y = data
    with pytest.raises(ValueError) as raised:
        ANNClassifier(**params).fit(X, y)
    assert isinstance(raised.value, ConfigError) and raised.value.field == field


def test_target_must_have_two_classes(data):
    X, _ = data
    with pytest.raises(ValueError, match="exactly two classes"):
        ANNClassifier(**FAST).fit(X, np.arange(len(X)) % 3)


def test_pipeline_and_cross_validate(data):
    X, y = data
    pipeline = make_pipeline(StandardScaler(), ANNClassifier(**FAST))
    result = cross_validate(pipeline, X, y, cv=StratifiedKFold(3), scoring=["roc_auc", "accuracy"])
    assert len(result["test_roc_auc"]) == 3 and np.mean(result["test_roc_auc"]) > 0.7


def test_grid_search(data):
    X, y = data
    search = GridSearchCV(
        ANNClassifier(**FAST), {"hidden_units": [(), (8,)], "learning_rate": [0.01, 0.05]}, cv=2, scoring="roc_auc"
    )
    search.fit(X, y)
    assert set(search.best_params_) == {"hidden_units", "learning_rate"}
    assert search.best_estimator_.predict_proba(X).shape == (160, 2)


def test_early_stopping_and_explicit_validation_set(data):
    X, y = data
    model = ANNClassifier(**{**FAST, "epochs": 300}, early_stopping=True, patience=3).fit(X, y)
    assert model.history_.stopped_early and model.history_.epochs[-1].val_loss is not None
    model = ANNClassifier(**FAST).fit(X[:120], y[:120], X_val=X[120:], y_val=y[120:])
    assert model.history_.epochs[-1].val_auc is not None


def test_state_round_trip_without_pickle(data):
    X, y = data
    model = ANNClassifier(**FAST, activation="tanh", dropout=0.3).fit(X, y)
    config_dict, state = model.get_state()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded_state = torch.load(buffer, weights_only=True)
    restored = ANNClassifier.from_state(config_dict, loaded_state, n_features_in=6, classes=model.classes_)
    assert np.array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert restored.get_params() == {**model.get_params()}


def test_from_state_with_mismatched_weights_is_a_clear_error(data):
    X, y = data
    config_dict, state = ANNClassifier(**FAST).fit(X, y).get_state()
    with pytest.raises(ValueError, match="do not match"):
        ANNClassifier.from_state(config_dict, state, n_features_in=7)
    with pytest.raises(ConfigError):
        ANNClassifier.from_state({**config_dict, "epochs": -1}, state, n_features_in=6)


def test_same_seed_same_predictions(data):
    X, y = data
    a = ANNClassifier(**FAST, dropout=0.2, seed=3).fit(X, y).predict_proba(X)
    b = ANNClassifier(**FAST, dropout=0.2, seed=3).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)


def test_fit_refuses_a_training_too_large_in_total(data, monkeypatch):
    import model.nn.network

    X, y = data
    monkeypatch.setattr(model.nn.network, "MAX_TRAINING_WORK", 1_000)
    with pytest.raises(ValueError, match="rows × .* parameters × .* epochs"):
        ANNClassifier(**FAST).fit(X, y)


def test_a_monitor_set_is_reported_and_mismatched_validation_arguments_are_refused(data):
    X, y = data
    model = ANNClassifier(**FAST).fit(X[:120], y[:120], monitor=(X[120:], y[120:]))
    assert model.history_.epochs[-1].val_auc is not None and model.history_.epochs[-1].stop_loss is None
    with pytest.raises(ValueError, match="both X_val and y_val"):
        ANNClassifier(**FAST).fit(X, y, X_val=X)
