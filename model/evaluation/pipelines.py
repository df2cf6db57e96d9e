"""The ANN behind the shared preprocessing, as one scikit-learn Pipeline.

    ann_pipeline(hidden_units=[16], dropout=0.5, optimizer="adam", epochs=200)

takes a DataFrame of the 13 raw feature columns (NaN allowed): the "preprocess"
step imputes, scales and one-hot codes (fitted on the rows given to fit only),
the "ann" step is an ANNClassifier. Parameters not given come from
presets.RECOMMENDED, so ann_pipeline() is the project's recommended network.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.pipeline import Pipeline

from model.data.preprocessing import make_preprocessor
from model.data.schema import FEATURE_NAMES
from model.nn.config import ANNConfig
from model.nn.estimator import ANNClassifier
from model.nn.presets import RECOMMENDED

ANN_STEP = "ann"
PREPROCESS_STEP = "preprocess"


def pipeline_from_config(config: ANNConfig, features: Sequence[str] = FEATURE_NAMES, **extra) -> Pipeline:
    """Preprocessing + ANNClassifier built from a validated config (extra: callbacks, stop_event).

    `features`: the ones the model may learn from (e.g. model.data.schema.moment_of_care("before-imaging")
    .features); it still takes the 13 columns and ignores the others.
    """
    config.validate()
    return Pipeline(
        [(PREPROCESS_STEP, make_preprocessor(features)), (ANN_STEP, ANNClassifier.from_config(config, **extra))]
    )


def ann_pipeline(**params) -> Pipeline:
    """Preprocessing + ANNClassifier; keyword arguments are ANNClassifier parameters.

    Raises ValueError for an unknown parameter and ConfigError (a ValueError naming
    the field and the allowed values) for a bad value, before any training.
    """
    ann = ANNClassifier.from_config(RECOMMENDED)
    allowed = ann.get_params(deep=False)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown ANN parameter {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    ann.set_params(**params)
    ann.config().validate()
    return Pipeline([(PREPROCESS_STEP, make_preprocessor()), (ANN_STEP, ann)])
