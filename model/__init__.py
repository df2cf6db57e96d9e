"""Heart-disease neural networks: data, schema, ANN, classical baselines and honest evaluation.

A plain Python package (no Streamlit): use it from a notebook, the CLI (``python -m model``)
or the dashboard. The notebook API is re-exported here and imported lazily, so that
``import model`` stays cheap until torch is actually needed.

Subpackages, each importing only those listed after it (tests/test_architecture.py enforces it):

    clinic      one patient's risk, explanations, report, model card
    serving     saved bundles, the default model, live training runs
    evaluation  cross-validation, the comparison, classical peers, other hospitals
    nn          the network, its engine, optimizers, training loop, scikit-learn estimator
    data        schema, codings, CSV import, datasets, exploration, preprocessing, patient splits
    runtime     resource limits, device, threads, compute slots, background jobs
"""

from importlib import import_module

_EXPORTS = {
    "load_dataset": "model.data.datasets",
    "toy_dataset": "model.data.toy_datasets",
    "read_user_csv": "model.data.csv_import",
    "ann_pipeline": "model.evaluation.pipelines",
    "pipeline_from_config": "model.evaluation.pipelines",
    "classical_models": "model.evaluation.classical",
    "load_default_model": "model.serving.bundle",
    "save_bundle": "model.serving.bundle",
    "load_bundle": "model.serving.bundle",
    "LoadedModel": "model.serving.bundle",
    "cross_validate_models": "model.evaluation.cross_validation",
    "search_ann": "model.evaluation.search",
    "SearchSpace": "model.evaluation.search",
    "ANNClassifier": "model.nn.estimator",
    "Callback": "model.nn.training",
    "History": "model.nn.training",
    "TrainingControl": "model.nn.control",
    "race_optimizers": "model.nn.race",
    "default_race": "model.nn.race",
    "RaceResult": "model.nn.race",
    "decision_plane": "model.nn.plane",
    "diagnose": "model.nn.diagnostics",
    "ANNConfig": "model.nn.config",
    "LayerConfig": "model.nn.config",
    "FEATURES": "model.data.schema",
    "TARGET": "model.data.schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'model' has no attribute {name!r}")
