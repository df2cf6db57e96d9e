"""Two-dimensional toy data sets for the playground: small problems whose decision boundary can be drawn.

Every set has two balanced classes (0 and 1; the counts differ by at most one) and inputs of roughly
unit scale (the points lie within about [-2, 2.5]², most within [-1.2, 1.2]²), so one
learning rate suits them all. `noise` is the standard deviation of Gaussian noise added to each
coordinate, in those same units. The same seed gives the same points; the data never depends on
numpy's global random state.
"""

from __future__ import annotations

import math
from typing import TypeGuard

import numpy as np
from sklearn.datasets import make_blobs, make_circles, make_moons

# Enough points to show any of these shapes; small enough that a playground training stays instant.
MAX_TOY_SAMPLES = 5_000
MIN_TOY_SAMPLES = 20  # fewer points than this cannot show a shape, let alone both classes of it

TOY_DATASETS: dict[str, str] = {
    "xor": "Four squares, opposite corners alike: no single straight line separates the classes.",
    "circles": "A ring around a disc: the boundary is a circle.",
    "moons": "Two interleaved half-moons: a curved boundary.",
    "spiral": "Two spiral arms wound around each other: the hardest shape here.",
    "blobs": "Two Gaussian clouds: a straight line separates them (a perceptron is enough).",
}

_XOR_MARGIN = 0.1  # clean XOR points keep this distance from the axes, so the classes have a gap
_SPIRAL_TURNS = 1.5
_BLOB_SPREAD = 0.3  # each blob's own standard deviation, before the noise
_BLOB_CENTERS = np.array([[-1.0, -1.0], [1.0, 1.0]])


def toy_dataset(name: str, n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X float64 of shape (n_samples, 2), y int64 of 0/1 with balanced classes.

    name is one of TOY_DATASETS; MIN_TOY_SAMPLES ≤ n_samples ≤ MAX_TOY_SAMPLES; 0 ≤ noise ≤ 1;
    seed a whole number ≥ 0. Anything else raises ValueError saying what is allowed.
    """
    _check_arguments(name, n_samples, noise, seed)
    if name == "circles":
        X, y = make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
    elif name == "moons":
        X, y = make_moons(n_samples, noise=noise, random_state=seed)
    elif name == "blobs":
        spread = math.hypot(_BLOB_SPREAD, noise)  # the blob's own spread and the noise, added as variances
        X, y = make_blobs(n_samples, centers=_BLOB_CENTERS, cluster_std=spread, random_state=seed)
    else:
        rng = np.random.default_rng(seed)
        y = np.arange(n_samples) % 2
        X = _xor(y, rng) if name == "xor" else _spiral(y, rng)
        X = X + rng.normal(0.0, noise, X.shape)
        order = rng.permutation(n_samples)
        X, y = X[order], y[order]
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _xor(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Class 1 where x1·x2 > 0 (first and third quadrants), class 0 in the other two."""
    n = len(y)
    magnitude = rng.uniform(_XOR_MARGIN, 1.0, (n, 2))
    sign_x1 = rng.choice([-1.0, 1.0], n)
    sign_x2 = np.where(y == 1, sign_x1, -sign_x1)
    return magnitude * np.column_stack([sign_x1, sign_x2])


def _spiral(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two arms, r = t and angle = t · turns · 2π (+ π for class 1), t uniform in (0, 1]."""
    t = np.sqrt(rng.uniform(0.0, 1.0, len(y)))  # √: points spread evenly along the arm, not bunched at the centre
    angle = t * _SPIRAL_TURNS * 2.0 * np.pi + np.pi * y
    return np.column_stack([t * np.cos(angle), t * np.sin(angle)])


def _check_arguments(name: object, n_samples: object, noise: object, seed: object) -> None:
    if not isinstance(name, str) or name not in TOY_DATASETS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of: {', '.join(TOY_DATASETS)}")
    if not _is_whole(n_samples) or not MIN_TOY_SAMPLES <= n_samples <= MAX_TOY_SAMPLES:
        raise ValueError(
            f"the number of points must be a whole number from {MIN_TOY_SAMPLES} to {MAX_TOY_SAMPLES:,}; "
            f"got {n_samples!r}"
        )
    if not _is_real(noise) or not 0.0 <= noise <= 1.0:
        raise ValueError(f"the noise must be a number from 0 to 1; got {noise!r}")
    if not _is_whole(seed) or not 0 <= seed < 2**32:
        raise ValueError(f"the seed must be a whole number from 0 to {2**32 - 1}; got {seed!r}")


def _is_whole(value: object) -> TypeGuard[int]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> TypeGuard[float]:
    # NaN fails the range check that follows (every comparison with NaN is false)
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
