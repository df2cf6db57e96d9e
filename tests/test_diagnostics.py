"""Diagnostics: each finding from a training that really shows the problem, and none from a healthy one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.data.toy_datasets import toy_dataset
from model.nn.diagnostics import (
    COIN_FLIP_LOSS,
    Finding,
    chance_finding,
    diagnose,
    history_findings,
    unit_findings,
)
from model.nn.estimator import ANNClassifier
from model.nn.plane import forward_layers
from model.nn.training import EpochEvent, History


@pytest.fixture(scope="module")
def xor():
    return toy_dataset("xor", n_samples=200, noise=0.1, seed=0)


def _fit(X, y, **params):
    settings = {"optimizer": "adam", "learning_rate": 0.03, "epochs": 100, "batch_size": None, "device": "cpu"}
    return ANNClassifier(**(settings | params)).fit(X, y)


def _kinds(findings: list[Finding]) -> list[str]:
    return [finding.kind for finding in findings]


@pytest.fixture(scope="module")
def healthy(xor):
    X, y = xor
    return _fit(X, y, hidden_units=(8,), activation="tanh", init="xavier", epochs=300)


def test_a_healthy_training_has_nothing_to_report(healthy, xor):
    assert diagnose(healthy, *xor) == []


def test_a_learning_rate_of_10_diverges_to_nan(xor):
    X, y = xor
    estimator = _fit(
        X, y, hidden_units=(8, 8, 8), activation="linear", optimizer="gd", learning_rate=10.0, init="xavier", epochs=20
    )
    assert not np.isfinite(estimator.history_.column("train_loss")[-1])
    findings = diagnose(estimator, X, y)
    assert findings[0].kind == "divergence" and findings[0].severity == "error"
    assert "learning rate" in findings[0].message and "NaN" in findings[0].message


def test_adam_at_a_learning_rate_of_10_spikes_then_recovers(xor):
    X, y = xor
    estimator = _fit(X, y, hidden_units=(8,), activation="tanh", learning_rate=10.0, init="xavier", epochs=50)
    losses = estimator.history_.column("train_loss")
    assert max(losses) > 10 * COIN_FLIP_LOSS and losses[-1] < COIN_FLIP_LOSS
    findings = history_findings(estimator.history_)
    assert _kinds(findings) == ["unstable_loss"] and findings[0].severity == "warning"
    assert "learning rate" in findings[0].message


def test_a_deep_sigmoid_stack_shows_vanishing_gradients(xor, healthy):
    X, y = xor
    deep = _fit(X, y, hidden_units=(8,) * 6, activation="sigmoid", learning_rate=0.01)
    findings = [f for f in history_findings(deep.history_) if f.kind == "vanishing_gradients"]
    assert len(findings) == 1 and findings[0].layer == "hidden 1"
    assert "orders of magnitude" in findings[0].message
    assert history_findings(healthy.history_) == []


def test_a_bias_pushed_very_negative_kills_the_relu_units(xor):
    X, y = xor
    estimator = _fit(X, y, hidden_units=(8, 8), activation="relu", epochs=30)
    assert [f for f in unit_findings(estimator.network_, X) if f.severity != "info"] == []
    with torch.no_grad():
        estimator.network_.linears[0].bias[:5] = -100.0  # these five units never reach zero on this data
    already_dead = int((forward_layers(estimator.network_, X).pre_activations[0][:, 5:] <= 0).all(axis=0).sum())
    findings = unit_findings(estimator.network_, X)
    first = [f for f in findings if f.layer == "hidden 1"]
    assert _kinds(first) == ["dead_units"] and first[0].severity == "warning"
    assert first[0].message.startswith(f"{5 + already_dead} of 8 ReLU units in hidden 1 are dead")
    with torch.no_grad():
        estimator.network_.linears[0].bias[:] = -100.0
    everything = diagnose(estimator, X, y)
    assert everything[0].kind == "dead_units" and everything[0].severity == "error"
    assert "chance_level" in _kinds(everything)  # the output no longer depends on the input


def test_unscaled_inputs_saturate_tanh_units(xor):
    X, y = xor
    X_large = X * 1000.0  # inputs in the thousands: every unit's input is far beyond ±3
    estimator = _fit(X_large, y, hidden_units=(8,), activation="tanh", epochs=10)
    findings = unit_findings(estimator.network_, X_large)
    assert _kinds(findings) == ["saturated_units"] and findings[0].layer == "hidden 1"
    assert unit_findings(estimator.network_, X / 1000.0) == []  # the same weights on small inputs are fine


def test_sigmoid_units_saturate_too(xor):
    X, y = xor
    estimator = _fit(X * 1000.0, y, hidden_units=(4,), activation="sigmoid", epochs=5)
    assert _kinds(unit_findings(estimator.network_, X * 1000.0)) == ["saturated_units"]


def test_a_perceptron_on_xor_is_no_better_than_chance():
    X, y = toy_dataset("xor", n_samples=1000, noise=0.1, seed=0)
    perceptron = _fit(X, y, hidden_units=(), epochs=60)
    finding = chance_finding(perceptron.decision_function(X), y)
    assert finding is not None and finding.kind == "chance_level" and "0.5" in finding.message
    assert "chance_level" in _kinds(diagnose(perceptron, X, y))


def test_chance_needs_two_classes_and_finite_scores():
    assert chance_finding([0.1, 0.2, 0.3], [1, 1, 1]) is None
    assert chance_finding([np.nan, 0.2, 0.3], [0, 1, 1]) is None
    assert chance_finding([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1]) is None  # perfect ranking
    with pytest.raises(ValueError, match="length"):
        chance_finding([0.1, 0.2], [0, 1, 1])


def _history(losses, first_grad=1.0, last_grad=1.0) -> History:
    events = [
        EpochEvent(
            epoch=i + 1,
            epochs=len(losses),
            train_loss=loss,
            val_loss=None,
            train_acc=0.5,
            val_acc=None,
            train_auc=None,
            val_auc=None,
            grad_norms={"hidden 1": first_grad, "output": last_grad},
            weight_norms={"hidden 1": 1.0, "output": 1.0},
            lr=0.01,
            seconds=0.0,
            elapsed=0.0,
        )
        for i, loss in enumerate(losses)
    ]
    return History(epochs=events)


def test_history_thresholds():
    assert history_findings(History()) == []
    assert history_findings(_history([0.7, 0.5, 0.3])) == []
    spike = history_findings(_history([0.7, 50.0, 0.3]))
    assert _kinds(spike) == ["unstable_loss"] and "epoch 2" in spike[0].message
    assert _kinds(history_findings(_history([0.7, math.inf]))) == ["divergence"]
    ended_worse = history_findings(_history([0.7, 0.5, 2.0]))
    assert _kinds(ended_worse) == ["divergence"] and "worse than predicting 50 %" in ended_worse[0].message
    assert "infinite" in history_findings(_history([0.7, math.inf]))[0].message
    assert _kinds(history_findings(_history([0.7, 0.5], first_grad=1e-5))) == ["vanishing_gradients"]
    assert history_findings(_history([0.7, 0.5], first_grad=1e-2)) == []
    assert history_findings(_history([0.7, 0.5], first_grad=1.0, last_grad=0.0)) == []  # nothing to compare


def test_a_classifier_rebuilt_without_history_is_still_diagnosed(healthy, xor):
    config, state = healthy.get_state()
    rebuilt = ANNClassifier.from_state(config, state, n_features_in=2)
    assert rebuilt.history_ is None
    assert diagnose(rebuilt, *xor) == []


def test_unit_findings_refuse_an_empty_table(healthy):
    with pytest.raises(ValueError, match="at least one row"):
        unit_findings(healthy.network_, np.zeros((0, 2)))
