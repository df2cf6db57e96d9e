"""Two-input data for the playground: a toy set or two heart features, split and scaled for a network.

A network with two inputs can be drawn everywhere in its input plane (model.nn.plane). `PlaneData`
holds such a problem ready to train: a stratified training / validation split and, for heart
features, a standardisation fitted on the training part only (the network learns on standardised
values; `axis_transform` maps its plane back to the features' own units for drawing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from model.data.schema import FEATURE_NAMES, NUMERIC, TARGET, feature
from model.data.splits import grouped_holdout, patient_groups
from model.data.toy_datasets import TOY_DATASETS, toy_dataset

logger = logging.getLogger(__name__)

TOY_LABELS = {
    "xor": "XOR",
    "circles": "Circles",
    "moons": "Two moons",
    "spiral": "Spiral",
    "blobs": "Gaussian blobs",
}
MIN_PAIR_ROWS_PER_CLASS = 4  # as training on the full heart data: fewer cannot be split and learned from

# (scale, offset) per axis: original value = network input × scale + offset.
AxisTransform = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class PlaneData:
    """A two-input classification problem, split for training. X_* are the network's inputs."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    axis_labels: tuple[str, str]
    class_labels: tuple[str, str]
    axis_transform: AxisTransform | None = None  # None: the inputs are already in their own units
    notes: tuple[str, ...] = ()  # what was done to the data that the user should know (rows left out)

    @property
    def n_rows(self) -> int:
        return len(self.y_train) + len(self.y_val)


def toy_data_name(name: str, n_samples: int, noise: float, seed: int) -> str:
    """The PlaneData.name of a toy set: readers can tell which data a run used without building it."""
    return f"{TOY_LABELS.get(name, name)} ({n_samples} points, noise {noise:g}, seed {seed})"


def pair_data_name(features: tuple[str, str]) -> str:
    """The PlaneData.name of two heart features."""
    first, second = (feature(name) for name in features)
    return f"{first.label} × {second.label}"


def toy_plane_data(
    name: str, n_samples: int = 200, noise: float = 0.1, seed: int = 0, validation_fraction: float = 0.2
) -> PlaneData:
    """A toy set (model.data.toy_datasets) with a stratified validation part drawn with the same seed."""
    X, y = toy_dataset(name, n_samples=n_samples, noise=noise, seed=seed)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=validation_fraction, random_state=seed, stratify=y
    )
    return PlaneData(
        name=toy_data_name(name, n_samples, noise, seed),
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        axis_labels=("x₁", "x₂"),
        class_labels=("class 0", "class 1"),
    )


def check_feature_pair(features: tuple[str, str]) -> None:
    """ValueError unless `features` are two different numeric heart features."""
    if len(features) != 2 or features[0] == features[1]:
        raise ValueError(f"choose two different heart features; got {list(features)!r}")
    for name in features:
        if name not in NUMERIC:
            raise ValueError(f"{name!r} is not a numeric heart feature; choose from {', '.join(NUMERIC)}")


def heart_pair_plane_data(
    frame: pd.DataFrame, features: tuple[str, str], validation_fraction: float = 0.2, seed: int = 0
) -> PlaneData:
    """Two numeric heart features of `frame` (the app's 13-feature frame with its target).

    Rows without a value for either feature are left out (said in `notes` and logged). Rows of one
    patient recorded more than once (identical in all 13 features) stay on one side of the split.
    The standardisation is fitted on the training part only.
    """
    check_feature_pair(features)
    missing_columns = [name for name in (*features, TARGET.name) if name not in frame.columns]
    if missing_columns:
        raise ValueError(f"the data set lacks the column(s) {', '.join(missing_columns)}")
    complete = frame[list(features)].notna().all(axis=1) & frame[TARGET.name].notna()
    notes = []
    n_left_out = int((~complete).sum())
    if n_left_out:
        labels = " or ".join(feature(name).label.lower() for name in features)
        notes.append(f"{n_left_out} patient(s) without a recorded {labels} were left out.")
        logger.info("heart pair %s: %d incomplete row(s) left out", features, n_left_out)
    rows = frame.loc[complete]
    y = rows[TARGET.name].astype(int).to_numpy()
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_PAIR_ROWS_PER_CLASS:
        raise ValueError(
            f"with both features recorded, the data has {counts[0]} patient(s) without and {counts[1]} with "
            f"disease; training needs at least {MIN_PAIR_ROWS_PER_CLASS} of each"
        )
    X = rows[list(features)].to_numpy(dtype=np.float64)
    known = [name for name in FEATURE_NAMES if name in rows.columns]
    patients = patient_groups(rows[known], y)
    if patients.has_repeats:
        train, validation = grouped_holdout(y, patients.ids, validation_fraction, seed)
        notes.append(patients.describe("identical patients were kept on the same side of the split") or "")
    else:
        train, validation = train_test_split(
            np.arange(len(y)), test_size=validation_fraction, random_state=seed, stratify=y
        )
    scaler = StandardScaler().fit(X[train])
    scale, offset = scaler.scale_, scaler.mean_
    first, second = (feature(name) for name in features)
    return PlaneData(
        name=pair_data_name(features),
        X_train=scaler.transform(X[train]),
        y_train=y[train],
        X_val=scaler.transform(X[validation]),
        y_val=y[validation],
        axis_labels=(first.label_with_unit(), second.label_with_unit()),
        class_labels=(TARGET.category_label(0), TARGET.category_label(1)),
        axis_transform=((float(scale[0]), float(offset[0])), (float(scale[1]), float(offset[1]))),
        notes=tuple(note for note in notes if note),
    )


__all__ = [
    "TOY_DATASETS",
    "TOY_LABELS",
    "PlaneData",
    "check_feature_pair",
    "heart_pair_plane_data",
    "pair_data_name",
    "toy_data_name",
    "toy_plane_data",
]
