"""The playground's pictures: the input-plane figure's traces and the network image's pixels.

The network image is checked where it can be wrong: a tile's colours come from its unit's values (a unit
constant over the plane gives a uniform tile of the colour of that value; tiles are not upside down), a
line's colour is its weight's sign and its width grows with |weight|, and the size stays bounded for the
widest and deepest networks the limits allow.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dashboard.charts import OUTCOME_COLORS
from dashboard.playground_views import (
    MAX_IMAGE_HEIGHT,
    MAX_IMAGE_WIDTH,
    MAX_TILES_PER_LAYER,
    NEGATIVE_COLOR,
    NEUTRAL_COLOR,
    POSITIVE_COLOR,
    activation_range,
    connection_widths,
    input_plane_figure,
    network_view,
    network_view_caption,
    network_view_image,
    png_bytes,
)
from model.data.toy_datasets import toy_dataset
from model.nn.estimator import ANNClassifier
from model.nn.plane import decision_plane
from model.runtime.limits import MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def moons():
    return toy_dataset("moons", n_samples=100, noise=0.1, seed=0)


def _fitted(moons, hidden_units, activation="tanh"):
    X, y = moons
    return ANNClassifier(
        hidden_units=hidden_units, activation=activation, epochs=2, batch_size=None, learning_rate=0.01, device="cpu"
    ).fit(X, y)


def _set_layer(estimator: ANNClassifier, index: int, weight, bias) -> None:
    linear = estimator.network_.linears[index]
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(np.asarray(weight, dtype=np.float32)))
        linear.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float32)))


def _tile(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    return np.asarray(image)[top:bottom, left:right]


@pytest.fixture(scope="module")
def hand_set(moons):
    """One tanh layer of three units: unit 0 constant +0.7 before tanh, unit 1 constant −0.7, unit 2 = x₂."""
    estimator = _fitted(moons, (3,))
    _set_layer(estimator, 0, [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0]], [0.7, -0.7, 0.0])
    _set_layer(estimator, 1, [[1.0, -1.0, 0.5]], [0.0])
    X, _ = moons
    plane = decision_plane(estimator, X, resolution=40)
    return estimator, plane, network_view(plane, estimator.network_)


# ---- network view: tiles ----------------------------------------------------------------------------------


def test_a_unit_constant_over_the_plane_gives_a_uniform_tile_of_its_value_colour(hand_set):
    _, _, view = hand_set
    hidden = view.layout.columns[1]
    positive = _tile(view.image, hidden.box(0)).reshape(-1, 3)
    negative = _tile(view.image, hidden.box(1)).reshape(-1, 3)
    assert (positive == positive[0]).all() and (negative == negative[0]).all()
    # tanh(±0.7) ≈ ±0.6 on the −1..1 scale: well on the blue side, and on the orange side
    blue, orange = positive[0].astype(int), negative[0].astype(int)
    assert blue[2] > blue[0] + 60 and orange[0] > orange[2] + 60
    assert not (positive[0] == negative[0]).all()


def test_tiles_show_the_top_of_the_plane_at_the_top(hand_set):
    _, plane, view = hand_set
    # unit 2 is tanh(x₂): the top rows (large x₂) blue, the bottom rows orange, varying down the tile
    tile = _tile(view.image, view.layout.columns[1].box(2)).astype(int)
    assert tile[0, 0, 2] > tile[0, 0, 0] and tile[-1, 0, 0] > tile[-1, 0, 2]
    assert len(np.unique(tile.reshape(-1, 3), axis=0)) > 5
    # the output tile's top-left pixel is P at (smallest x₁, largest x₂)
    output = view.layout.columns[-1]
    corner = _tile(view.image, output.box(0))[0, 0].astype(int)
    p = plane.probability[-1, 0]
    healthy, disease = np.array(_rgb(OUTCOME_COLORS[0])), np.array(_rgb(OUTCOME_COLORS[1]))
    nearer = disease if p > 0.5 else healthy
    farther = healthy if p > 0.5 else disease
    assert np.abs(corner - nearer).sum() < np.abs(corner - farther).sum()


def test_the_input_tiles_are_x1_and_x2_themselves(hand_set):
    _, plane, view = hand_set
    assert plane.x1[0] < 0 < plane.x1[-1]
    x1_tile = _tile(view.image, view.layout.columns[0].box(0)).astype(int)
    left, right = x1_tile[:, 0], x1_tile[:, -1]
    assert (left == left[0]).all() and (right == right[0]).all()  # constant down each column
    assert left[0, 0] > left[0, 2] and right[0, 2] > right[0, 0]  # orange at low x₁, blue at high x₁


def test_a_dead_relu_unit_is_white_and_relu_scales_from_zero(moons):
    estimator = _fitted(moons, (2,), activation="relu")
    _set_layer(estimator, 0, [[0.0, 0.0], [1.0, 0.0]], [-1.0, 0.0])  # unit 0: relu(−1) = 0 everywhere
    X, _ = moons
    view = network_view(decision_plane(estimator, X, resolution=30), estimator.network_)
    dead = _tile(view.image, view.layout.columns[1].box(0)).reshape(-1, 3)
    assert (dead == np.array(_rgb(NEUTRAL_COLOR))).all()


def test_activation_ranges_follow_the_activation():
    values = np.array([[-3.0, 0.5], [2.0, 1.0]])
    assert activation_range("tanh", values) == (-1.0, 1.0)
    assert activation_range("sigmoid", values) == (0.0, 1.0)
    assert activation_range("relu", np.abs(values)) == (0.0, 3.0)
    assert activation_range("linear", values) == (-3.0, 3.0)
    assert activation_range("relu", np.zeros((2, 2))) == (0.0, 1.0)  # all dead: a scale that still divides


# ---- network view: connections -----------------------------------------------------------------------------


def _perceptron_view(moons, weights):
    estimator = _fitted(moons, ())
    _set_layer(estimator, 0, [weights], [0.0])
    X, _ = moons
    plane = decision_plane(estimator, X, resolution=30)
    return network_view(plane, estimator.network_)


def _line_pixels(view, color: str) -> int:
    """Pixels of `color` in the image column halfway between the input tiles and the output tile."""
    inputs, output = view.layout.columns[0], view.layout.columns[-1]
    middle = (inputs.left + inputs.tile + output.left) // 2
    column = np.asarray(view.image)[:, middle]
    return int((column == np.array(_rgb(color))).all(axis=1).sum())


def test_a_perceptron_is_inputs_then_output(moons):
    view = _perceptron_view(moons, [2.0, -0.5])
    assert [c.name for c in view.layout.columns] == ["inputs", "output"]
    assert view.image.mode == "RGB"


def test_line_colour_is_the_weight_sign_and_width_grows_with_its_size(moons):
    view = _perceptron_view(moons, [2.0, -0.5])  # x₁ → output positive and strong, x₂ → output negative, weak
    blue, orange = _line_pixels(view, POSITIVE_COLOR), _line_pixels(view, NEGATIVE_COLOR)
    assert blue > orange >= 1
    swapped = _perceptron_view(moons, [-0.5, 2.0])
    assert _line_pixels(swapped, NEGATIVE_COLOR) >= 1 and _line_pixels(swapped, POSITIVE_COLOR) > _line_pixels(
        swapped, NEGATIVE_COLOR
    )
    equal = _perceptron_view(moons, [2.0, -2.0])
    assert _line_pixels(equal, POSITIVE_COLOR) == _line_pixels(equal, NEGATIVE_COLOR) > orange


def test_connection_widths_are_proportional_to_the_weight_and_capped():
    widths = connection_widths(np.array([[0.0, 0.1, -0.5, 1.0, -2.0]]), cap=6)
    assert widths.tolist() == [[1, 1, 2, 3, 6]]
    assert connection_widths(np.zeros((2, 3)), cap=6).tolist() == [[1, 1, 1], [1, 1, 1]]


# ---- network view: size ------------------------------------------------------------------------------------


def test_a_six_by_sixty_four_network_stays_within_the_size_bounds(moons):
    estimator = _fitted(moons, (64,) * 6, activation="relu")
    X, _ = moons
    view = network_view(decision_plane(estimator, X, resolution=40), estimator.network_)
    width, height = view.image.size
    assert width <= MAX_IMAGE_WIDTH and height <= MAX_IMAGE_HEIGHT
    hidden = view.layout.columns[1:-1]
    assert [(c.units, c.drawn) for c in hidden] == [(64, MAX_TILES_PER_LAYER)] * 6
    for column in view.layout.columns:  # every tile inside the image
        left, top, right, bottom = column.box(column.drawn - 1)
        assert left >= 0 and top >= 0 and right <= width and bottom <= height


def test_the_largest_network_allowed_shrinks_its_tiles_to_fit(moons):
    estimator = _fitted(moons, (MAX_UNITS_PER_LAYER,) * MAX_HIDDEN_LAYERS)
    X, _ = moons
    plane = decision_plane(estimator, X, resolution=10)
    view = network_view(plane, estimator.network_, tile=120)
    assert view.image.size[0] <= MAX_IMAGE_WIDTH and view.image.size[1] <= MAX_IMAGE_HEIGHT
    assert view.layout.columns[1].tile < 120
    assert len(view.layout.columns) == MAX_HIDDEN_LAYERS + 2


def test_a_plane_without_the_hidden_units_is_refused(moons):
    estimator = _fitted(moons, (3,))
    X, _ = moons
    plane = decision_plane(estimator, X, resolution=20, include_units=False)
    with pytest.raises(ValueError, match="include_units=True"):
        network_view_image(plane, estimator.network_)


def test_png_bytes_hold_the_same_pixels_and_the_caption_names_the_layers(hand_set):
    _, plane, view = hand_set
    decoded = Image.open(io.BytesIO(png_bytes(view.image)))
    assert decoded.format == "PNG" and (np.asarray(decoded.convert("RGB")) == np.asarray(view.image)).all()
    assert "hidden 1 (3 tanh)" in network_view_caption(plane)


# ---- the input-plane figure ---------------------------------------------------------------------------------


def test_the_input_plane_figure_has_few_traces_and_the_exact_boundary(hand_set, moons):
    _, plane, _ = hand_set
    X, y = moons
    fig = input_plane_figure(plane, X[:70], y[:70], X[70:], y[70:], epoch=3)
    kinds = [trace.type for trace in fig.data]
    assert kinds == ["heatmap", "contour"] + ["scatter"] * 4
    contour = fig.data[1].contours
    assert contour.start == contour.end == 0.5 and contour.coloring == "none"
    np.testing.assert_allclose(np.asarray(fig.data[0].z), plane.probability, atol=1e-6)
    symbols = [trace.marker.symbol for trace in fig.data[2:]]
    colors = [trace.marker.color for trace in fig.data[2:]]
    assert symbols == ["circle", "circle", "diamond", "diamond"]
    assert colors == [OUTCOME_COLORS[0], OUTCOME_COLORS[1]] * 2
    assert sum(len(trace.x) for trace in fig.data[2:]) == len(X)
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"  # below the plot area
    assert fig.layout.yaxis.scaleanchor == "x"
    assert "epoch 3" in fig.layout.title.text


def test_axis_transform_draws_grid_and_points_in_original_units(hand_set, moons):
    _, plane, _ = hand_set
    X, y = moons
    fig = input_plane_figure(plane, X, y, axis_transform=((2.0, 10.0), (0.5, -1.0)), axis_labels=("age", "chol"))
    np.testing.assert_allclose(np.asarray(fig.data[0].x), plane.x1 * 2.0 + 10.0)
    np.testing.assert_allclose(np.asarray(fig.data[0].y), plane.x2 * 0.5 - 1.0)
    first_class = fig.data[2]
    np.testing.assert_allclose(np.asarray(first_class.x), X[y == 0, 0] * 2.0 + 10.0)
    np.testing.assert_allclose(np.asarray(first_class.y), X[y == 0, 1] * 0.5 - 1.0)
    assert len(fig.data) == 4  # no validation set: two scatters
    assert fig.layout.xaxis.title.text == "age"


def test_the_input_plane_figure_refuses_wrong_labels_and_transforms(hand_set, moons):
    _, plane, _ = hand_set
    X, y = moons
    with pytest.raises(ValueError, match="not the network's classes"):
        input_plane_figure(plane, X, y + 5)
    with pytest.raises(ValueError, match="axis_transform"):
        input_plane_figure(plane, X, y, axis_transform=((0.0, 1.0), (1.0, 0.0)))
    with pytest.raises(ValueError, match="two columns"):
        input_plane_figure(plane, X[:, :1], y)
