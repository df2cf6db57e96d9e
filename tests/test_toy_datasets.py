"""The playground's toy data sets: shapes, balance, reproducibility and bounded inputs."""

from __future__ import annotations

import numpy as np
import pytest

import model
from model.data.toy_datasets import MAX_TOY_SAMPLES, MIN_TOY_SAMPLES, TOY_DATASETS, toy_dataset

NAMES = sorted(TOY_DATASETS)


def test_the_five_shapes_are_offered_each_with_a_one_line_description():
    assert set(TOY_DATASETS) == {"xor", "circles", "moons", "spiral", "blobs"}
    for description in TOY_DATASETS.values():
        assert description.strip() and "\n" not in description


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_samples", [MIN_TOY_SAMPLES, 201, 1000])
def test_shapes_types_and_balanced_classes(name, n_samples):
    X, y = toy_dataset(name, n_samples=n_samples)
    assert X.shape == (n_samples, 2) and X.dtype == np.float64
    assert y.shape == (n_samples,) and np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) == {0, 1}
    counts = np.bincount(y)
    assert abs(counts[0] - counts[1]) <= 1
    assert np.isfinite(X).all()
    assert np.abs(X).max() < 4.0  # unit scale: one learning rate suits every set


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(name):
    X1, y1 = toy_dataset(name, seed=3)
    np.random.seed(12345)  # the global random state must not matter
    X2, y2 = toy_dataset(name, seed=3)
    X3, _ = toy_dataset(name, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


@pytest.mark.parametrize("name", NAMES)
def test_more_noise_moves_points_further_from_the_clean_shape(name):
    clean, _ = toy_dataset(name, n_samples=500, noise=0.0, seed=1)
    noisy, _ = toy_dataset(name, n_samples=500, noise=0.5, seed=1)
    # the spread of the points grows with the noise added to each coordinate
    assert noisy.std(axis=0).sum() > clean.std(axis=0).sum()


def test_xor_without_noise_puts_class_1_in_the_first_and_third_quadrants():
    X, y = toy_dataset("xor", n_samples=400, noise=0.0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(int))


def test_circles_without_noise_put_one_class_inside_the_other():
    X, y = toy_dataset("circles", n_samples=400, noise=0.0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius[y == 1].max() < radius[y == 0].min()


def test_spiral_arms_are_point_reflections_of_each_other():
    """Arm 1 is arm 0 turned by half a turn, so both classes have the same radii distribution."""
    X, y = toy_dataset("spiral", n_samples=2000, noise=0.0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1.0 + 1e-12
    assert abs(np.median(radius[y == 0]) - np.median(radius[y == 1])) < 0.05


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "swirl"}, "unknown toy data set"),
        ({"name": None}, "unknown toy data set"),
        ({"name": "xor", "n_samples": MIN_TOY_SAMPLES - 1}, "number of points"),
        ({"name": "xor", "n_samples": MAX_TOY_SAMPLES + 1}, "number of points"),
        ({"name": "xor", "n_samples": 100.0}, "whole number"),
        ({"name": "xor", "n_samples": True}, "whole number"),
        ({"name": "xor", "noise": -0.1}, "noise"),
        ({"name": "xor", "noise": 1.5}, "noise"),
        ({"name": "xor", "noise": float("nan")}, "noise"),
        ({"name": "xor", "noise": "0.1"}, "noise"),
        ({"name": "xor", "seed": -1}, "seed"),
        ({"name": "xor", "seed": 2**32}, "seed"),
    ],
)
def test_out_of_bounds_arguments_are_refused_in_plain_words(kwargs, words):
    with pytest.raises(ValueError, match=words):
        toy_dataset(**kwargs)


def test_the_largest_allowed_set_is_built():
    X, y = toy_dataset("spiral", n_samples=MAX_TOY_SAMPLES)
    assert len(X) == len(y) == MAX_TOY_SAMPLES


def test_exported_from_the_notebook_api():
    assert model.toy_dataset is toy_dataset
    assert "toy_dataset" in model.__all__
