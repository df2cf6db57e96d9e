"""The 2-D projection and the decision-boundary grid: fitted on training rows only, and the grid's
pre-image lies on the PCA plane so the network is asked about points of that plane."""

import numpy as np
import pytest

from model.data.projection import boundary_grid, probability_grid, project_patients
from model.evaluation.thresholds import (
    calibration,
    operating_point,
    precision_recall,
    roc,
    sensitivity_specificity_curve,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(80, 6)) * [5, 3, 1, 1, 0.5, 0.1]
    X_val = rng.normal(size=(20, 6)) * [5, 3, 1, 1, 0.5, 0.1] + 100.0  # far away: would dominate a leaky PCA
    y_train = (X_train[:, 0] > 0).astype(int)
    y_val = (X_val[:, 0] > 100).astype(int)
    return X_train, y_train, X_val, y_val


def test_pca_is_fitted_on_the_training_rows_only(data):
    X_train, y_train, X_val, y_val = data
    projection = project_patients(X_train, y_train, X_val, y_val)
    np.testing.assert_allclose(projection.pca.mean_, X_train.mean(axis=0))
    assert projection.points.shape == (100, 2)
    assert projection.is_validation.sum() == 20 and not projection.is_validation[:80].any()
    np.testing.assert_array_equal(projection.outcome, np.concatenate([y_train, y_val]))
    first, second = projection.explained_variance
    assert first >= second > 0
    assert projection.axis_labels()[0].startswith("PC 1 (")


def test_grid_covers_the_patients_and_maps_back_onto_the_plane(data):
    X_train, y_train, _, _ = data
    projection = project_patients(X_train, y_train)
    grid = boundary_grid(projection, resolution=25)
    assert grid.shape == (25, 25) and grid.features.shape == (625, 6)
    assert grid.xs.min() < projection.points[:, 0].min() and grid.xs.max() > projection.points[:, 0].max()
    # Projecting the pre-image again gives back the grid coordinates (it lies on the plane).
    round_trip = projection.pca.transform(grid.features.astype(float))
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    np.testing.assert_allclose(round_trip, np.column_stack([gx.ravel(), gy.ravel()]), atol=1e-3)


def test_probability_grid_is_laid_out_rows_by_pc2_columns_by_pc1(data):
    X_train, y_train, _, _ = data
    projection = project_patients(X_train, y_train)
    grid = boundary_grid(projection, resolution=10)
    pc1 = lambda features: projection.pca.transform(features.astype(float))[:, 0]  # noqa: E731
    values = probability_grid(grid, pc1)
    np.testing.assert_allclose(values[0], grid.xs, atol=1e-3)  # first row: PC 2 fixed, PC 1 varies
    sklearn_style = probability_grid(grid, lambda f: np.column_stack([1 - pc1(f), pc1(f)]))
    np.testing.assert_allclose(sklearn_style, values)


def test_projection_needs_two_rows_and_two_features():
    with pytest.raises(ValueError, match="at least two patients and two features"):
        project_patients(np.zeros((1, 5)), [0])


def test_threshold_view_counts_and_rates():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    proba = np.array([0.1, 0.4, 0.6, 0.7, 0.9, 0.3, 0.55, 0.2])
    point = operating_point(y, proba, 0.5)
    assert (point.tn, point.fp, point.fn, point.tp) == (3, 1, 1, 3)
    assert point.sensitivity == 0.75 and point.specificity == 0.75 and point.accuracy == 0.75
    everyone = operating_point(y, proba, 0.0)
    assert everyone.sensitivity == 1.0 and everyone.specificity == 0.0
    curve = sensitivity_specificity_curve(y, proba, n_points=11)
    assert curve["sensitivity"][0] == 1.0 and curve["specificity"][-1] == 1.0
    assert np.all(np.diff(curve["sensitivity"]) <= 0) and np.all(np.diff(curve["specificity"]) >= 0)
    assert roc(y, proba).area == pytest.approx(0.8125)
    assert 0 < precision_recall(y, proba).area <= 1
    reliability = calibration(y, proba, n_bins=2)
    assert len(reliability.x) == 2 and np.all((reliability.y >= 0) & (reliability.y <= 1))
