"""Small fitted pipelines shared by the prediction tests (fitted once per test session)."""
from functools import lru_cache

from sklearn.linear_model import LogisticRegression

from model.evaluation.classical import with_preprocessing
from model.data.datasets import load_dataset
from model.evaluation.pipelines import ann_pipeline
from model.data.schema import FEATURE_NAMES


@lru_cache(maxsize=None)
def cleveland():
    return load_dataset("cleveland")


def _fit(pipeline):
    data = cleveland()
    return pipeline.fit(data[list(FEATURE_NAMES)], data["target"])


@lru_cache(maxsize=None)
def ann_with_dropout():
    """A network with dropout, like the one the app ships (fixed here so presets may change)."""
    return _fit(ann_pipeline(hidden_units=[16], dropout=0.5, epochs=60))


@lru_cache(maxsize=None)
def ann_without_dropout():
    return _fit(ann_pipeline(hidden_units=[8], dropout=0.0, epochs=40))


@lru_cache(maxsize=None)
def logistic():
    return _fit(with_preprocessing(LogisticRegression(max_iter=2000)))
