"""Saved models: identical probabilities after a round trip, clear errors for every broken bundle."""

import json
import os

import numpy as np
import pytest
import torch

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES
from model.evaluation.classical import classical_models
from model.evaluation.pipelines import ann_pipeline
from model.serving.bundle import (
    BUNDLE_FORMAT,
    DEFAULT_BUNDLE,
    BundleError,
    data_fingerprint,
    load_bundle,
    load_default_model,
    save_bundle,
)


@pytest.fixture(scope="module")
def frame():
    return load_dataset()


@pytest.fixture(scope="module")
def fitted(frame):
    X, y = frame[list(FEATURE_NAMES)], frame["target"]
    return ann_pipeline(hidden_units=[5, 3], dropout=0.3, epochs=15, seed=1).fit(X, y)


@pytest.fixture
def bundle(tmp_path, fitted, frame):
    return save_bundle(
        fitted, tmp_path / "bundle", metadata={"metrics": {"roc_auc": {"mean": 0.9}}}, training_data=frame
    )


def test_save_and_load_give_identical_probabilities(bundle, fitted, frame):
    X = frame[list(FEATURE_NAMES)].copy()
    X.iloc[:10, [3, 4, 11, 12]] = np.nan  # missing values go through the restored imputers
    loaded = load_bundle(bundle)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert sorted(os.listdir(bundle)) == ["config.json", "metadata.json", "preprocessing.json", "weights.pt"]


def test_metadata_is_attached(bundle, frame):
    metadata = load_bundle(bundle).metadata
    assert metadata["metrics"] == {"roc_auc": {"mean": 0.9}}
    assert metadata["data_fingerprint"] == data_fingerprint(frame) and metadata["n_training_rows"] == len(frame)
    assert metadata["features"] == list(FEATURE_NAMES) and metadata["bundle_format"] == BUNDLE_FORMAT == 2
    assert {"torch", "scikit-learn", "python"} <= set(metadata["package_versions"])
    assert metadata["created"][:4].isdigit()


def test_fingerprint_changes_with_the_data(frame):
    changed = frame.copy()
    changed.loc[0, "chol"] += 1
    assert data_fingerprint(changed) != data_fingerprint(frame) == data_fingerprint(frame.copy())


def test_overwrites_a_bundle_but_never_other_files(tmp_path, fitted):
    target = save_bundle(fitted, tmp_path / "b")
    save_bundle(fitted, target, metadata={"note": "second"})
    assert load_bundle(target).metadata["note"] == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no temporary directories left behind
    precious = tmp_path / "my_work"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="is not a model bundle"):
        save_bundle(fitted, precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_only_fitted_ann_pipelines_are_saved(tmp_path, frame):
    X, y = frame[list(FEATURE_NAMES)], frame["target"]
    forest = classical_models()["Logistic regression"].fit(X, y)
    with pytest.raises(BundleError, match="only ANN pipelines.*LogisticRegression.*pickle"):
        save_bundle(forest, tmp_path / "x")
    with pytest.raises(BundleError, match="not fitted"):
        save_bundle(ann_pipeline(), tmp_path / "y")
    with pytest.raises(BundleError, match="JSON-serialisable"):
        save_bundle(ann_pipeline(epochs=1).fit(X, y), tmp_path / "z", metadata={"bad": object()})
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: (b / "weights.pt").unlink(), "missing weights.pt"),
        (lambda b: (b / "config.json").unlink(), "missing config.json"),
        (lambda b: (b / "metadata.json").write_text("{not json"), "metadata.json .* is not valid JSON"),
        (lambda b: (b / "preprocessing.json").write_bytes(b"\xff\xfe\x00garbage"), "preprocessing.json .* not text"),
        (lambda b: (b / "weights.pt").write_bytes(b"PK\x03\x04 truncated"), "weights.pt .* corrupt"),
        (lambda b: torch.save({"layers.0.weight": torch.ones(2)}, b / "weights.pt"), "does not match config.json"),
        (lambda b: _edit_json(b / "config.json", lambda d: d.update(epochs=-3)), "config.json .* not a valid network"),
        (lambda b: _edit_json(b / "metadata.json", lambda d: d.update(bundle_format=99)), "newer than this program"),
        (lambda b: _edit_json(b / "metadata.json", lambda d: d.update(features=["age", "sex"])), "other features"),
        (
            lambda b: _edit_json(b / "preprocessing.json", lambda d: d["numeric"].update(scale_scale=[0] * 6)),
            "scale_scale.* positive",
        ),
        (
            lambda b: _edit_json(b / "preprocessing.json", lambda d: d["categorical"].update(categories=[[1.0]] * 4)),
            "category codes differ",
        ),
    ],
)
def test_broken_bundles_give_a_clear_bundle_error(bundle, damage, message):
    damage(bundle)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle)


def test_weights_are_never_unpickled(bundle):
    class Payload:  # anything that is not plain tensors needs pickle: refused by weights_only=True
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    torch.save({"layers.0.weight": Payload()}, bundle / "weights.pt")
    with pytest.raises(BundleError, match="weights.pt .* corrupt or not a torch state_dict"):
        load_bundle(bundle)


def test_missing_or_wrong_paths(tmp_path):
    with pytest.raises(BundleError, match="no model bundle at"):
        load_bundle(tmp_path / "nothing")
    (tmp_path / "file.pt").write_bytes(b"x")
    with pytest.raises(BundleError, match="is a file"):
        load_bundle(tmp_path / "file.pt")


def test_the_shipped_default_model(frame):
    model = load_default_model()
    metadata = model.metadata
    assert metadata["data_fingerprint"] == data_fingerprint(frame), (
        "rebuild it: python -m model train --cv --out model/resources/default_bundle"
    )
    assert metadata["cv"]["n_splits"] == 5 and metadata["cv"]["n_repeats"] == 10
    metrics = metadata["metrics"]
    assert metrics["roc_auc"]["mean"] >= 0.91 and metrics["accuracy"]["mean"] >= 0.84
    assert metrics["brier"]["mean"] <= 0.12
    from model.nn.presets import RECOMMENDED

    assert model.pipeline.named_steps["ann"].config().to_dict() == RECOMMENDED.to_dict()
    from sklearn.metrics import roc_auc_score

    proba = model.predict_proba(frame[list(FEATURE_NAMES)])[:, 1]
    assert roc_auc_score(frame["target"], proba) > 0.9
    assert DEFAULT_BUNDLE.is_dir()


def _zip(files: dict) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zipped_bundles_load_and_bad_zips_are_refused(bundle, fitted, frame, tmp_path):
    from model.serving.bundle import load_bundle_archive

    files = {f"my-run/{p.name}": p.read_bytes() for p in bundle.iterdir()}
    X = frame[list(FEATURE_NAMES)]
    np.testing.assert_array_equal(load_bundle_archive(_zip(files)).predict_proba(X), fitted.predict_proba(X))
    (tmp_path / "run.zip").write_bytes(_zip(files))
    assert load_bundle(tmp_path / "run.zip").metadata["metrics"] == {"roc_auc": {"mean": 0.9}}
    without_weights = {k: v for k, v in files.items() if not k.endswith("weights.pt")}
    with pytest.raises(BundleError, match="^the zip is missing weights.pt$"):
        load_bundle_archive(_zip(without_weights))
    with pytest.raises(BundleError, match="not a readable zip"):
        load_bundle_archive(b"this is not a zip")
    escaping = {"../../evil/config.json": b"{}", **without_weights}
    with pytest.raises(BundleError, match="missing weights.pt"):
        load_bundle_archive(_zip(escaping))
    assert not (tmp_path.parent.parent / "evil").exists()


# ----------------------------------------------------------------------------- what load_bundle returns
def test_a_loaded_model_carries_its_pipeline_metadata_and_verification(bundle, fitted, frame):
    from sklearn.pipeline import Pipeline

    from model.serving.bundle import LoadedModel
    from model.serving.saved_preprocessor import SavedPreprocessor

    loaded = load_bundle(bundle)
    assert isinstance(loaded, LoadedModel) and isinstance(loaded.pipeline, Pipeline)
    assert not hasattr(loaded.pipeline, "metadata")  # nothing attached to the scikit-learn object
    assert loaded.integrity_warning is None and loaded.metadata["metrics"] == {"roc_auc": {"mean": 0.9}}
    X = frame[list(FEATURE_NAMES)]
    np.testing.assert_array_equal(loaded.predict_proba(X), loaded.pipeline.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, [0, 1])
    assert loaded[-1] is loaded.pipeline[-1] and isinstance(loaded[0], SavedPreprocessor)
    with pytest.raises(AttributeError):
        loaded.metadata = {}  # frozen


def test_a_loaded_model_saved_again_keeps_its_metadata_and_its_answers(bundle, frame, tmp_path):
    loaded = load_bundle(bundle)
    again = load_bundle(save_bundle(loaded, tmp_path / "again"))
    X = frame[list(FEATURE_NAMES)]
    np.testing.assert_array_equal(again.predict_proba(X), loaded.predict_proba(X))
    assert again.metadata["metrics"] == loaded.metadata["metrics"]
    assert json.loads((tmp_path / "again" / "preprocessing.json").read_text()) == json.loads(
        (bundle / "preprocessing.json").read_text()
    )


def test_errors_name_the_bundle_as_the_caller_says(bundle):
    (bundle / "weights.pt").unlink()
    with pytest.raises(BundleError, match="^the uploaded model is missing weights.pt$"):
        load_bundle(bundle, name="the uploaded model")
    with pytest.raises(BundleError) as raised:
        load_bundle(bundle)
    assert str(raised.value) == f"the bundle at {bundle} is missing weights.pt"


# ----------------------------------------------------------------------------- the restored preprocessing
def _frame_with_gaps(frame):
    X = frame[list(FEATURE_NAMES)].copy()
    rng = np.random.default_rng(0)
    X = X.mask(rng.random(X.shape) < 0.15)  # missing values everywhere
    X.loc[X.index[:5], "cp"] = 9.0  # a code the schema does not know: an all-zero one-hot block
    return X


@pytest.mark.parametrize("empty", [[], ["chol"], ["age", "fbs", "thal"]])
def test_the_saved_preprocessor_gives_make_preprocessors_output_bit_for_bit(frame, empty):
    import warnings

    from model.data.preprocessing import make_preprocessor
    from model.serving.saved_preprocessor import SavedPreprocessor

    train = frame[list(FEATURE_NAMES)].sample(120, random_state=2)
    train.loc[:, empty] = np.nan  # features with no training value are always filled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        original = make_preprocessor().fit(train)
    restored = SavedPreprocessor.from_fitted(original)
    X = _frame_with_gaps(frame)
    for rows in (X, X.fillna(0).astype("int64"), X.astype("Float64")):
        np.testing.assert_array_equal(restored.transform(rows), original.transform(rows))
    assert list(restored.get_feature_names_out()) == list(original.get_feature_names_out())
    assert restored.to_state()["empty_features"] == [name for name in FEATURE_NAMES if name in empty]


def test_a_clone_of_the_saved_preprocessor_learns_from_the_rows_it_is_fitted_on(frame):
    from sklearn.base import clone

    from model.data.preprocessing import make_preprocessor
    from model.serving.saved_preprocessor import SavedPreprocessor

    first, other = frame.iloc[:150][list(FEATURE_NAMES)], frame.iloc[150:][list(FEATURE_NAMES)]
    restored = SavedPreprocessor.from_fitted(make_preprocessor().fit(first))
    refitted = clone(restored).fit(other)  # e.g. cross-validating a loaded pipeline: no statistics leak
    X = _frame_with_gaps(frame)
    np.testing.assert_array_equal(refitted.transform(X), make_preprocessor().fit(other).transform(X))
    assert not np.array_equal(refitted.transform(X), restored.transform(X))


def test_the_saved_preprocessor_refuses_what_make_preprocessor_refuses(frame):
    from model.serving.saved_preprocessor import SavedPreprocessor

    restored = load_default_model()[0]
    assert isinstance(restored, SavedPreprocessor)
    X = frame[list(FEATURE_NAMES)].head(3)
    with pytest.raises(ValueError, match="columns are missing: chol"):
        restored.transform(X.drop(columns="chol"))
    with pytest.raises(ValueError, match="infinity"):
        restored.transform(X.assign(age=np.inf))
    with pytest.raises(ValueError, match="DataFrame"):
        restored.transform(X.to_numpy())
    with pytest.raises(ValueError, match="numeric_scale must be 6 finite positive numbers"):
        SavedPreprocessor.from_statistics(
            numeric_median=[0] * 6,
            numeric_mean=[0] * 6,
            numeric_scale=[0] * 6,
            numeric_var=[1] * 6,
            n_samples_seen=10,
            binary_fill=[0] * 3,
            categorical_fill=[1] * 4,
        )
