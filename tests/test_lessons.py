"""The playground's lessons, as facts with fixed seeds: what a network of each shape can and cannot learn."""

from __future__ import annotations

import numpy as np
import pytest

from model.data.toy_datasets import toy_dataset
from model.nn.estimator import ANNClassifier
from model.nn.plane import decision_plane


@pytest.fixture(scope="module")
def xor():
    return toy_dataset("xor", n_samples=200, noise=0.1, seed=0)


def _fit(X, y, hidden_units, activation="tanh", epochs=300):
    return ANNClassifier(
        hidden_units=hidden_units,
        activation=activation,
        optimizer="adam",
        learning_rate=0.03,
        epochs=epochs,
        batch_size=None,
        init="xavier",
        seed=0,
        device="cpu",
    ).fit(X, y)


def _affine_residual(plane) -> float:
    """How far the logit over the grid is from the best plane a + b·x1 + c·x2, relative to its spread."""
    grid_x1, grid_x2 = np.meshgrid(plane.x1, plane.x2)
    design = np.column_stack([np.ones(grid_x1.size), grid_x1.ravel(), grid_x2.ravel()])
    logit = plane.logit.ravel()
    coefficients, *_ = np.linalg.lstsq(design, logit, rcond=None)
    residual = logit - design @ coefficients
    return float(np.abs(residual).max() / (logit.max() - logit.min()))


def test_a_perceptron_cannot_learn_xor(xor):
    X, y = xor
    accuracy = (_fit(X, y, ()).predict(X) == y).mean()
    assert accuracy <= 0.75


def test_one_hidden_layer_of_eight_tanh_units_learns_xor(xor):
    X, y = xor
    accuracy = (_fit(X, y, (8,)).predict(X) == y).mean()
    assert accuracy >= 0.95


@pytest.mark.parametrize("depth", [0, 1, 3, 5])
def test_linear_activations_at_any_depth_draw_a_straight_boundary(xor, depth):
    """A stack of linear layers is one linear map: the logit stays affine in (x1, x2)."""
    X, y = xor
    estimator = _fit(X, y, (8,) * depth, activation="linear", epochs=100)
    plane = decision_plane(estimator, X, resolution=60, include_units=False)
    assert plane.logit.max() - plane.logit.min() > 1e-3  # a flat logit would be affine trivially
    assert _affine_residual(plane) < 1e-4
    assert (estimator.predict(X) == y).mean() <= 0.75  # so a deep linear network cannot learn XOR either


def test_a_nonlinear_hidden_layer_bends_the_boundary(xor):
    """The contrast that makes the previous test meaningful: tanh units give a logit far from affine."""
    X, y = xor
    plane = decision_plane(_fit(X, y, (8,)), X, resolution=60, include_units=False)
    assert _affine_residual(plane) > 0.1


def test_each_hidden_unit_of_the_first_layer_draws_a_straight_edge(xor):
    """A first-layer unit is f(w·x + b): constant along lines, so its grid is a function of one direction."""
    X, y = xor
    plane = decision_plane(_fit(X, y, (8,)), X, resolution=60)
    grid_x1, grid_x2 = np.meshgrid(plane.x1, plane.x2)
    design = np.column_stack([np.ones(grid_x1.size), grid_x1.ravel(), grid_x2.ravel()])
    for unit in plane.layers[0].values:
        pre_activation = np.arctanh(np.clip(unit.ravel(), -0.999999, 0.999999))
        inside = np.abs(unit.ravel()) < 0.99  # away from the flat ends, where arctanh amplifies rounding
        coefficients, *_ = np.linalg.lstsq(design[inside], pre_activation[inside], rcond=None)
        assert np.abs(design[inside] @ coefficients - pre_activation[inside]).max() < 1e-3


# ---- the shipped lessons (model.serving.lessons) do what their captions say ------------------------
from model.nn.diagnostics import diagnose  # noqa: E402
from model.serving.lessons import LESSONS, LESSONS_BY_KEY  # noqa: E402


def _lesson_fit(key: str):
    lesson = LESSONS_BY_KEY[key]
    data = lesson.plane_data()
    estimator = ANNClassifier.from_config(lesson.config.replace(device="cpu"))
    estimator.fit(data.X_train, data.y_train, monitor=(data.X_val, data.y_val))
    return estimator, data


def _kinds(estimator, data) -> set[str]:
    return {finding.kind for finding in diagnose(estimator, data.X_train, data.y_train)}


def test_every_lesson_has_a_unique_key_a_valid_config_and_two_line_caption():
    assert len({lesson.key for lesson in LESSONS}) == len(LESSONS)
    for lesson in LESSONS:
        lesson.config.validate()
        assert 40 < len(lesson.caption) < 320, lesson.key
        assert lesson.plane_data().n_rows == lesson.n_samples


def test_lesson_perceptron_on_xor_stays_near_chance_and_one_hidden_layer_learns_it():
    perceptron, data = _lesson_fit("perceptron_xor")
    assert perceptron.score(data.X_val, data.y_val) <= 0.75
    hidden, data = _lesson_fit("hidden_xor")
    assert hidden.score(data.X_val, data.y_val) >= 0.95


def test_lesson_linear_depth_draws_a_straight_boundary():
    estimator, data = _lesson_fit("linear_depth")
    plane = decision_plane(estimator, data.X_train, resolution=40, include_units=False)
    assert _affine_residual(plane) < 1e-3


def test_lesson_learning_rate_too_high_is_diagnosed_as_divergence():
    estimator, data = _lesson_fit("learning_rate_too_high")
    assert "divergence" in _kinds(estimator, data)
    calm = LESSONS_BY_KEY["learning_rate_too_high"].config.replace(learning_rate=0.1, device="cpu")
    fixed = ANNClassifier.from_config(calm).fit(data.X_train, data.y_train)
    assert "divergence" not in _kinds(fixed, data)  # the caption's remedy works
    assert fixed.score(data.X_val, data.y_val) >= 0.85


def test_lesson_deep_sigmoid_stack_shows_vanishing_gradients():
    estimator, data = _lesson_fit("vanishing_gradients")
    assert "vanishing_gradients" in _kinds(estimator, data)


def test_lesson_overfitting_then_regularisation_keeps_the_validation_loss_low():
    overfit, _ = _lesson_fit("overfitting")
    losses = np.array(overfit.history_.column("val_loss"))
    assert overfit.history_.epochs[-1].train_loss < 0.01
    assert losses[-1] > 2 * losses.min()  # the validation loss turned and climbed
    regularised, _ = _lesson_fit("regularisation")
    assert regularised.history_.stopped_early
    assert regularised.history_.epochs[-1].val_loss < losses[-1] / 2
