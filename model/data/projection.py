"""A 2-D picture of what a classifier has learned: patients on their first two principal
components, and the classifier's probability over that plane (the decision boundary).

The network works in the full preprocessed feature space, so the plane is drawn there:
each grid point (pc1, pc2) is mapped back with the PCA inverse transform (the point of the
plane through the training mean spanned by the two leading components) and the network
predicts on that feature vector. Computation only; the dashboard draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

DEFAULT_RESOLUTION = 60  # grid points per axis: 3,600 forward passes per snapshot, cheap on a CPU
MAX_RESOLUTION = 200


@dataclass(frozen=True)
class PatientProjection:
    """Patients placed on the two leading principal components of the *training* part."""

    pca: PCA
    points: np.ndarray  # (n, 2) coordinates of every patient shown
    outcome: np.ndarray  # (n,) true outcome 0/1
    is_validation: np.ndarray  # (n,) True for patients held out from training

    @property
    def explained_variance(self) -> tuple[float, float]:
        ratio = self.pca.explained_variance_ratio_
        return float(ratio[0]), float(ratio[1])

    def axis_labels(self) -> tuple[str, str]:
        first, second = self.explained_variance
        return f"PC 1 ({first:.0%} of variance)", f"PC 2 ({second:.0%} of variance)"


@dataclass(frozen=True)
class BoundaryGrid:
    """A regular grid over the projection plane and its pre-image in feature space."""

    xs: np.ndarray  # (resolution,) PC 1 coordinates
    ys: np.ndarray  # (resolution,) PC 2 coordinates
    features: np.ndarray  # (resolution**2, n_features) rows in meshgrid order (y outer, x inner)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys), len(self.xs)

    def reshape(self, values: np.ndarray) -> np.ndarray:
        """Per-grid-point values (flat) -> (len(ys), len(xs)) matrix, as Plotly's heatmap/contour wants."""
        return np.asarray(values, dtype=float).reshape(self.shape)


def project_patients(X_train, y_train, X_validation=None, y_validation=None, seed: int = 0) -> PatientProjection:
    """Fit a 2-component PCA on the training rows only (no validation leakage) and place everyone on it."""
    X_train = _as_2d_float(X_train)
    if X_train.shape[0] < 2 or X_train.shape[1] < 2:
        raise ValueError("a 2-D projection needs at least two patients and two features")
    pca = PCA(n_components=2, random_state=seed).fit(X_train)
    blocks, outcomes, held_out = [X_train], [np.asarray(y_train)], [np.zeros(len(X_train), dtype=bool)]
    if X_validation is not None and len(X_validation):
        X_validation = _as_2d_float(X_validation)
        blocks.append(X_validation)
        outcomes.append(np.asarray(y_validation))
        held_out.append(np.ones(len(X_validation), dtype=bool))
    points = pca.transform(np.vstack(blocks))
    return PatientProjection(pca, points, np.concatenate(outcomes).astype(int), np.concatenate(held_out))


def boundary_grid(
    projection: PatientProjection, resolution: int = DEFAULT_RESOLUTION, margin: float = 0.08
) -> BoundaryGrid:
    """A resolution x resolution grid covering the patients (plus a margin), mapped back to feature space."""
    resolution = int(np.clip(resolution, 2, MAX_RESOLUTION))
    low, high = projection.points.min(axis=0), projection.points.max(axis=0)
    pad = (high - low) * margin + 1e-9
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    plane = np.column_stack([gx.ravel(), gy.ravel()])
    features = projection.pca.inverse_transform(plane).astype(np.float32)
    return BoundaryGrid(xs, ys, features)


def probability_grid(grid: BoundaryGrid, predict_proba: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """P(disease) at each grid point as a (len(ys), len(xs)) matrix.

    `predict_proba` takes feature rows and returns either P(disease) per row or sklearn's
    (n, 2) class-probability matrix.
    """
    proba = np.asarray(predict_proba(grid.features), dtype=float)
    if proba.ndim == 2:
        proba = proba[:, -1]
    return grid.reshape(proba)


def _as_2d_float(X) -> np.ndarray:
    array = np.asarray(X, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D feature matrix, got shape {array.shape}")
    return array
