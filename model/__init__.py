"""Heart-disease neural networks: data, schema, ANN, classical baselines and honest evaluation.

A plain Python package (no Streamlit): use it from a notebook, the CLI (``python -m model``)
or the dashboard. The notebook API is re-exported here and imported lazily, so that
``import model`` stays cheap until torch is actually needed.
"""
from importlib import import_module

_EXPORTS = {
    "load_dataset": "model.datasets",
    "read_user_csv": "model.csv_import",
    "ann_pipeline": "model.pipelines",
    "pipeline_from_config": "model.pipelines",
    "classical_models": "model.classical",
    "load_default_model": "model.bundle",
    "save_bundle": "model.bundle",
    "load_bundle": "model.bundle",
    "cross_validate_models": "model.evaluation",
    "ANNClassifier": "model.estimator",
    "ANNConfig": "model.config",
    "LayerConfig": "model.config",
    "FEATURES": "model.schema",
    "TARGET": "model.schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'model' has no attribute {name!r}")
