"""The decision plane: one forward pass over a grid, checked against a slow per-point forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from model.data.toy_datasets import toy_dataset
from model.nn.estimator import ANNClassifier
from model.nn.plane import (
    MAX_PLANE_RESOLUTION,
    MAX_PLANE_VALUES,
    decision_plane,
    forward_layers,
    plane_bounds,
)


@pytest.fixture(scope="module")
def moons():
    return toy_dataset("moons", n_samples=200, noise=0.1, seed=0)


@pytest.fixture(scope="module")
def fitted(moons):
    X, y = moons
    # two hidden layers of different activations and widths, so a mix-up of layers or units shows
    return ANNClassifier(
        hidden_units=(6, 4), activation=["tanh", "relu"], learning_rate=0.03, epochs=60, batch_size=None, device="cpu"
    ).fit(X, y)


def _slow_reference(estimator: ANNClassifier, point: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Hidden outputs and logit of one point, layer by layer through the modules' own calls."""
    network = estimator.network_
    functions = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "linear": lambda z: z}
    h = torch.as_tensor(point, dtype=torch.float32).view(1, 2)
    hidden = []
    with torch.no_grad():
        *layers, output = network.linears
        for linear, name in zip(layers, network.activations, strict=True):
            h = functions[name](linear(h))
            hidden.append(h.numpy().ravel().astype(np.float64))
        logit = float(output(h).item())
    return hidden, logit


def test_the_grids_cover_the_data_and_have_one_value_per_grid_point(fitted, moons):
    X, _ = moons
    plane = decision_plane(fitted, X, resolution=50)
    assert plane.x1.shape == plane.x2.shape == (50,)
    assert plane.logit.shape == plane.probability.shape == (50, 50)
    assert plane.x1[0] < X[:, 0].min() and plane.x1[-1] > X[:, 0].max()
    assert plane.x2[0] < X[:, 1].min() and plane.x2[-1] > X[:, 1].max()
    assert [layer.name for layer in plane.layers] == ["hidden 1", "hidden 2"]
    assert [layer.activation for layer in plane.layers] == ["tanh", "relu"]
    assert [layer.values.shape for layer in plane.layers] == [(6, 50, 50), (4, 50, 50)]
    assert ((plane.probability >= 0) & (plane.probability <= 1)).all()
    np.testing.assert_array_equal(plane.classes, fitted.classes_)


def test_every_grid_matches_a_slow_forward_pass_point_by_point(fitted, moons):
    X, _ = moons
    plane = decision_plane(fitted, X, resolution=17)
    for i in range(0, 17, 2):
        for j in range(0, 17, 3):
            point = np.array([plane.x1[j], plane.x2[i]])  # grid[i, j] is at (x1[j], x2[i])
            hidden, logit = _slow_reference(fitted, point)
            assert plane.logit[i, j] == pytest.approx(logit, abs=1e-5)
            for layer, expected in zip(plane.layers, hidden, strict=True):
                np.testing.assert_allclose(layer.values[:, i, j], expected, atol=1e-5)


def test_the_probability_is_the_estimators_and_the_boundary_its_predictions(fitted, moons):
    X, _ = moons
    plane = decision_plane(fitted, X, resolution=40)
    points = np.column_stack([np.tile(plane.x1, 40), np.repeat(plane.x2, 40)])  # row-major like the grid
    np.testing.assert_allclose(plane.probability.ravel(), fitted.predict_proba(points)[:, 1], atol=1e-6)
    predicted = fitted.predict(points)
    np.testing.assert_array_equal(np.where(plane.logit.ravel() > 0, 1, 0), predicted)
    assert 0 < predicted.mean() < 1  # the boundary crosses the plane


def test_dropout_is_off_on_the_plane():
    X, y = toy_dataset("circles", n_samples=100, seed=0)
    estimator = ANNClassifier(hidden_units=(8,), dropout=0.5, epochs=5, device="cpu").fit(X, y)
    first, second = decision_plane(estimator, X, resolution=20), decision_plane(estimator, X, resolution=20)
    np.testing.assert_array_equal(first.logit, second.logit)
    assert first.logit[3, 4] == pytest.approx(_slow_reference(estimator, np.array([first.x1[4], first.x2[3]]))[1])


def test_a_perceptron_has_no_hidden_grids_and_units_can_be_left_out(fitted, moons):
    X, y = moons
    perceptron = ANNClassifier(hidden_units=(), epochs=5, device="cpu").fit(X, y)
    assert decision_plane(perceptron, X, resolution=10).layers == []
    assert decision_plane(fitted, X, resolution=10, include_units=False).layers == []


def test_forward_layers_keeps_pre_activations_and_outputs(fitted, moons):
    X, _ = moons
    values = forward_layers(fitted.network_, X[:7])
    assert [z.shape for z in values.pre_activations] == [(7, 6), (7, 4)]
    np.testing.assert_allclose(values.activations[0], np.tanh(values.pre_activations[0]), atol=1e-6)
    np.testing.assert_allclose(values.activations[1], np.maximum(values.pre_activations[1], 0.0), atol=1e-6)
    np.testing.assert_allclose(values.logits, fitted.decision_function(X[:7]), atol=1e-6)
    assert forward_layers(fitted.network_, X[:7], keep_pre_activations=False).pre_activations == []


def test_plane_bounds_pad_the_range_and_survive_a_single_value():
    (x1_low, x1_high), (x2_low, x2_high) = plane_bounds(np.array([[0.0, 5.0], [10.0, 5.0]]), padding=0.1)
    assert (x1_low, x1_high) == pytest.approx((-1.0, 11.0))
    assert (x2_low, x2_high) == pytest.approx((4.9, 5.1))  # one value: a width of 1


@pytest.mark.parametrize("resolution", [1, MAX_PLANE_RESOLUTION + 1, 10.5, True])
def test_resolution_is_bounded(fitted, moons, resolution):
    with pytest.raises(ValueError, match="resolution"):
        decision_plane(fitted, moons[0], resolution=resolution)


def test_the_largest_resolution_is_computed(fitted, moons):
    plane = decision_plane(fitted, moons[0], resolution=MAX_PLANE_RESOLUTION)
    assert plane.probability.shape == (MAX_PLANE_RESOLUTION, MAX_PLANE_RESOLUTION)


def test_too_many_unit_values_are_refused_before_computing(moons):
    X, y = moons
    wide = ANNClassifier(hidden_units=(512,), epochs=1, device="cpu").fit(X, y)
    assert MAX_PLANE_RESOLUTION**2 * 512 > MAX_PLANE_VALUES
    with pytest.raises(ValueError, match="lower the resolution"):
        decision_plane(wide, X, resolution=MAX_PLANE_RESOLUTION)
    assert decision_plane(wide, X, resolution=MAX_PLANE_RESOLUTION, include_units=False).layers == []


def test_only_a_fitted_two_input_classifier_is_drawn(moons):
    X, y = moons
    with pytest.raises(NotFittedError):
        decision_plane(ANNClassifier(), X)
    three = ANNClassifier(hidden_units=(4,), epochs=1, device="cpu").fit(np.column_stack([X, X[:, 0]]), y)
    with pytest.raises(ValueError, match="two inputs"):
        decision_plane(three, X)
    with pytest.raises(TypeError, match="ANNClassifier"):
        decision_plane(object(), X)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.zeros((0, 2)), np.zeros((5, 3)), np.array([[0.0, np.nan]]), np.zeros(4)])
def test_the_data_to_cover_must_be_finite_with_two_columns(fitted, bad):
    with pytest.raises(ValueError, match="data"):
        decision_plane(fitted, bad)
