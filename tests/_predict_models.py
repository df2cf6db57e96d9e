"""Small fitted pipelines shared by the prediction tests (fitted once per test session)."""

from functools import cache

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES
from model.evaluation.classical import with_preprocessing
from model.evaluation.pipelines import ann_pipeline


@cache
def cleveland():
    return load_dataset("cleveland")


def _fit(pipeline):
    data = cleveland()
    return pipeline.fit(data[list(FEATURE_NAMES)], data["target"])


@cache
def ann_with_dropout():
    """A network with dropout, like the one the app ships (fixed here so presets may change)."""
    return _fit(ann_pipeline(hidden_units=[16], dropout=0.5, epochs=60))


@cache
def ann_without_dropout():
    return _fit(ann_pipeline(hidden_units=[8], dropout=0.0, epochs=40))


@cache
def logistic():
    return _fit(with_preprocessing(LogisticRegression(max_iter=2000)))


class NamelessStep(TransformerMixin, BaseEstimator):
    """A fitted preprocessor behind a step that, like many third-party transformers, names no output columns."""

    def __init__(self, inner=None):
        self.inner = inner

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True  # the wrapped preprocessor is fitted already

    def transform(self, X):
        return self.inner.transform(X)


@cache
def ann_with_nameless_preprocessing():
    """The network with dropout, its preprocessing wrapped so that its inputs cannot be grouped by feature."""
    fitted = ann_with_dropout()
    return Pipeline([("nameless", NamelessStep(fitted[:-1])), ("ann", fitted[-1])])
