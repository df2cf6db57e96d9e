"""P(disease) from a fitted pipeline, and the torch network inside it when there is one.

A pipeline here is what the app calls a model: a fitted scikit-learn Pipeline over the
13 raw features in UCI coding (see model/data/schema.py) whose ``predict_proba`` gives
P(disease). When its last step is our fitted ANN (model/nn/estimator.py), the network and
the preprocessing in front of it are used directly: for Monte Carlo dropout
(model/clinic/interval.py) and Integrated Gradients (model/clinic/explain.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from model.data.schema import FEATURE_NAMES


def _positive_column(proba, estimator) -> np.ndarray:
    """The P(class 1) column of a ``predict_proba`` result (the last column when the classes are not 0/1)."""
    classes = list(getattr(estimator, "classes_", [0, 1]))
    return np.asarray(proba, dtype=float)[:, classes.index(1) if 1 in classes else -1]


def positive_probability(pipeline, frame: pd.DataFrame) -> np.ndarray:
    """P(disease) for each row of `frame` (the 13 feature columns)."""
    return _positive_column(pipeline.predict_proba(frame[list(FEATURE_NAMES)]), pipeline)


def as_pipeline(model) -> Pipeline | None:
    """The scikit-learn Pipeline of a model: the model itself, or the one a bundle was read into
    (model.serving.bundle.LoadedModel); None for any other estimator."""
    from model.serving.bundle import LoadedModel  # here: the bundle module loads torch

    if isinstance(model, LoadedModel):
        return model.pipeline
    return model if isinstance(model, Pipeline) else None


def features_used(model) -> tuple[str, ...]:
    """The features (schema order) the model's predictions can depend on: all 13, less those its preprocessing
    fills with a constant for every patient (left out for a moment of care, or without any training value).
    A model whose preprocessing is not ours is taken to use all 13."""
    from model.data.preprocessing import features_without_value
    from model.serving.saved_preprocessor import SavedPreprocessor

    pipeline = as_pipeline(model)
    preprocessor = pipeline[0] if pipeline is not None and len(pipeline) > 1 else None
    if isinstance(preprocessor, SavedPreprocessor):
        left_out = preprocessor.empty_features_
    elif isinstance(preprocessor, ColumnTransformer) and hasattr(preprocessor, "transformers_"):
        left_out = features_without_value(preprocessor)
    else:
        left_out = frozenset()
    return tuple(name for name in FEATURE_NAMES if name not in left_out)


def split_network(model):
    """(preprocessing part, torch network) when `model` is a Pipeline (or a loaded bundle's) whose last step is
    a fitted ANN, else (None, None): any other model is scored through its own ``predict_proba`` only."""
    pipeline = as_pipeline(model)
    if pipeline is None:
        return None, None
    network = getattr(pipeline[-1], "network_", None)
    import torch

    if not isinstance(network, torch.nn.Module) or not hasattr(network, "predict_proba"):
        return None, None
    return pipeline[:-1], network


def network_inputs(preprocess, network, frame: pd.DataFrame, matrix: np.ndarray | None = None):
    """The preprocessed rows (or an already preprocessed `matrix`) as a float tensor on the network's device."""
    import torch

    parameter = next(network.parameters())
    if matrix is None:
        matrix = preprocess.transform(frame[list(FEATURE_NAMES)])
    return torch.as_tensor(np.asarray(matrix, dtype=np.float32), device=parameter.device, dtype=parameter.dtype)


def probability_and_inputs(pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(P(disease) per row, the network's preprocessed input matrix or None for a model that is not our network).

    For a network pipeline the preprocessing runs once and feeds both the final step's
    ``predict_proba`` (exactly what the Pipeline does) and the Monte Carlo dropout passes.
    """
    preprocess, network = split_network(pipeline)
    if network is None:
        return positive_probability(pipeline, frame), None
    matrix = preprocess.transform(frame[list(FEATURE_NAMES)])
    final = pipeline[-1]
    return _positive_column(final.predict_proba(matrix), final), matrix


def dropout_rates(network) -> list[float]:
    """The dropout probabilities of the network's hidden layers (model.nn.network.MLP's ``dropouts``)."""
    return [float(p) for p in getattr(network, "dropouts", []) if float(p) > 0.0]
