"""Models cannot be tampered with silently (issue 11, section 4).

Every metadata field is checked against what save_bundle writes, the weights' names, dtypes and
shapes are checked before any value is read, and the SHA-256 of each file and the P(disease) of a
few fixed synthetic patients are verified on load. Each case asserts the reason in the message, so
it fails on the code before this change (which loaded most of these, or refused format 2 as "newer").
"""

from __future__ import annotations

import collections
import io
import json
import logging
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES
from model.evaluation.pipelines import ann_pipeline
from model.serving import bundle as bundle_module
from model.serving.bundle import (
    BUNDLE_FORMAT,
    CONFIG_FILE,
    METADATA_FILE,
    PREPROCESSING_FILE,
    PROBE_TOLERANCE,
    UNVERIFIED_WARNING,
    WEIGHTS_FILE,
    BundleError,
    load_bundle,
    load_bundle_archive,
    load_default_model,
    probe_patients,
    save_bundle,
)

FORMAT_1_BUNDLE = Path(__file__).parent / "data" / "bundle_format1"  # the shipped default as saved before hashes


@pytest.fixture(scope="module")
def frame():
    return load_dataset()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, frame):
    pipeline = ann_pipeline(hidden_units=[6], dropout=0.2, epochs=10, seed=3).fit(
        frame[list(FEATURE_NAMES)], frame["target"]
    )
    return save_bundle(pipeline, tmp_path_factory.mktemp("integrity") / "bundle", training_data=frame)


@pytest.fixture
def copy(saved, tmp_path):
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _refused(folder: Path, *words: str) -> str:
    with pytest.raises(BundleError) as raised:
        load_bundle(folder)
    message = str(raised.value)
    for word in words:
        assert word in message, message
    return message


# ----------------------------------------------------------------------------- what is recorded
def test_a_saved_bundle_records_hashes_and_probes_and_loads_verified(saved, frame):
    metadata = json.loads((saved / METADATA_FILE).read_text())
    assert metadata["bundle_format"] == BUNDLE_FORMAT == 2
    import hashlib

    for name in (CONFIG_FILE, WEIGHTS_FILE, PREPROCESSING_FILE):
        assert metadata["integrity"]["sha256"][name] == hashlib.sha256((saved / name).read_bytes()).hexdigest()
    probes = metadata["integrity"]["probes"]
    assert probes["patients"] == probe_patients() and len(probes["p_disease"]) == len(probes["patients"]) == 6
    loaded = load_bundle(saved)
    assert loaded.integrity_warning is None
    # The recorded probabilities are the model's own, one patient at a time (the slow, obvious reference).
    for patient, recorded in zip(probes["patients"], probes["p_disease"], strict=True):
        row = bundle_module._probe_frame([patient])
        assert abs(loaded.predict_proba(row)[0, 1] - recorded) <= PROBE_TOLERANCE


def test_probe_patients_are_valid_for_the_schema_and_exercise_the_imputers():
    from model.data.schema import feature

    patients = probe_patients()
    assert all(list(p) == list(FEATURE_NAMES) for p in patients)
    assert all(feature(k).check(v) is None for p in patients for k, v in p.items())
    assert any(all(v is None for v in p.values()) for p in patients)  # every imputer


def test_the_untouched_default_bundle_loads_verified():
    model = load_default_model()
    assert model.integrity_warning is None and model.metadata["bundle_format"] == 2
    assert model.metadata["classes"] == [0, 1]


def test_the_default_bundle_is_the_same_model_as_before_it_was_re_saved(frame):
    """Re-saved with hashes and probes, not retrained: same weights as the format-1 copy. Its CV figures were
    recomputed since, with the one repeated Cleveland patient kept in one fold (grouped folds)."""
    old, new = load_bundle(FORMAT_1_BUNDLE), load_default_model()
    X = frame[list(FEATURE_NAMES)]
    np.testing.assert_array_equal(old.predict_proba(X), new.predict_proba(X))
    assert new.metadata["cv"]["method"].startswith("repeated stratified group k-fold")
    assert new.metadata["metrics"]["roc_auc"]["mean"] == pytest.approx(
        old.metadata["metrics"]["roc_auc"]["mean"], abs=0.01
    )
    assert (FORMAT_1_BUNDLE / WEIGHTS_FILE).read_bytes() == (bundle_module.DEFAULT_BUNDLE / WEIGHTS_FILE).read_bytes()


# ----------------------------------------------------------------------------- metadata fields
@pytest.mark.parametrize(
    "change, words",
    [
        pytest.param(lambda d: d.update(classes=[1, 0]), ["'classes'", "[0, 1]"], id="classes-inverted"),
        pytest.param(lambda d: d.update(classes=[0, 1, 2]), ["'classes'"], id="three-classes"),
        pytest.param(lambda d: d.update(classes=[False, True]), ["'classes'"], id="classes-as-booleans"),
        pytest.param(lambda d: d.update(classes=["0", "1"]), ["'classes'"], id="classes-as-text"),
        pytest.param(lambda d: d.update(target="num"), ["'target'"], id="other-target"),
        pytest.param(lambda d: d.update(n_inputs=22.0), ["'n_inputs'", "whole number"], id="n-inputs-as-float"),
        pytest.param(lambda d: d.update(n_inputs=23), ["'n_inputs'", "23"], id="wrong-n-inputs"),
        pytest.param(lambda d: d.update(n_inputs=True), ["'n_inputs'"], id="n-inputs-as-boolean"),
        pytest.param(
            lambda d: d.update(features=list(reversed(FEATURE_NAMES))), ["other features"], id="features-reordered"
        ),
        pytest.param(lambda d: d.update(created="yesterday"), ["'created'"], id="created-not-a-date"),
        pytest.param(lambda d: d.update(package_versions=["torch"]), ["'package_versions'"], id="versions-a-list"),
        pytest.param(lambda d: d.update(name=["x"]), ["'name'", "text"], id="name-not-text"),
        pytest.param(
            lambda d: d.update(metrics={"roc_auc": {"mean": "0.99"}}), ["'metrics.roc_auc'"], id="metric-as-text"
        ),
        pytest.param(lambda d: d.update(data_fingerprint="abc"), ["'data_fingerprint'"], id="fingerprint-not-sha256"),
        pytest.param(lambda d: d.update(n_training_rows=-1), ["'n_training_rows'"], id="negative-row-count"),
        pytest.param(
            lambda d: d.update(bundle_format=1), ["'integrity'", "format-1"], id="downgraded-format-keeps-record"
        ),
        pytest.param(lambda d: d.pop("integrity"), ["'integrity'"], id="integrity-record-removed"),
        pytest.param(lambda d: d["integrity"]["sha256"].pop(WEIGHTS_FILE), ["'integrity.sha256'"], id="hash-missing"),
        pytest.param(
            lambda d: d["integrity"]["sha256"].update({CONFIG_FILE: "0" * 63}),
            ["'integrity.sha256'"],
            id="hash-malformed",
        ),
        pytest.param(
            lambda d: d["integrity"]["probes"]["patients"][0].update(age=999.0),
            ["'integrity.probes.patients[0]'"],
            id="probe-patient-impossible",
        ),
        pytest.param(
            lambda d: d["integrity"]["probes"]["p_disease"].pop(),
            ["'integrity.probes.p_disease'"],
            id="probe-count-differs",
        ),
        pytest.param(
            lambda d: d["integrity"]["probes"]["p_disease"].__setitem__(0, 1.5),
            ["'integrity.probes.p_disease'"],
            id="probe-not-a-probability",
        ),
    ],
)
def test_metadata_that_save_bundle_would_not_write_is_refused_naming_the_field(copy, change, words):
    _edit_json(copy / METADATA_FILE, change)
    _refused(copy, METADATA_FILE if words[0].startswith("'") else "", *words)


def test_inverted_classes_are_refused_in_an_old_format_bundle_too(tmp_path):
    """Format-1 bundles are not verified by hash, but their fields are checked as strictly."""
    folder = Path(shutil.copytree(FORMAT_1_BUNDLE, tmp_path / "old"))
    _edit_json(folder / METADATA_FILE, lambda d: d.update(classes=[1, 0]))
    _refused(folder, "'classes'")


def test_reordered_feature_columns_in_preprocessing_are_refused(copy):
    _edit_json(copy / PREPROCESSING_FILE, lambda d: d.update(feature_names_in=list(reversed(FEATURE_NAMES))))
    _refused(copy, PREPROCESSING_FILE, "feature_names_in", "schema order")


def test_reordered_network_inputs_are_refused(copy):
    _edit_json(copy / PREPROCESSING_FILE, lambda d: d.update(output_columns=list(reversed(d["output_columns"]))))
    _refused(copy, PREPROCESSING_FILE, "output_columns")


# ----------------------------------------------------------------------------- weights checked before values
class _StorageRef:
    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class _TensorClaim:
    """Pickles as torch's own tensor record, with a shape, stride and storage of our choosing."""

    def __init__(self, storage: _StorageRef, size, stride):
        self.storage, self.size, self.stride = storage, tuple(size), tuple(stride)

    def __reduce__(self):
        return (
            torch._utils._rebuild_tensor_v2,
            (self.storage, 0, self.size, self.stride, False, collections.OrderedDict()),
        )


def _crafted_weights(state: dict, name: str, size, stride, stored_floats: int) -> bytes:
    """A torch zip written by hand: every tensor of `state` as torch writes it, except `name`, which
    claims shape `size` with `stride` over a storage of `stored_floats` floats."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _StorageRef):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return None

    records, claims = {}, {}
    for index, (key, tensor) in enumerate(state.items()):
        if key == name:
            values = np.zeros(stored_floats, dtype="<f4")
            claims[key] = _TensorClaim(_StorageRef(str(index), stored_floats), size, stride)
        else:
            values = tensor.contiguous().numpy().astype("<f4").ravel()
            claims[key] = _TensorClaim(_StorageRef(str(index), values.size), tensor.shape, tensor.stride())
        records[f"archive/data/{index}"] = values.tobytes()
    pickled = io.BytesIO()
    Pickler(pickled, protocol=2).dump(collections.OrderedDict(claims))
    template = io.BytesIO()
    torch.save({"x": torch.zeros(1)}, template)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(template.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target,
    ):
        for info in source.infolist():  # torch's own version and byte-order records
            if "/data/" not in info.filename and not info.filename.endswith("data.pkl"):
                target.writestr(info.filename, source.read(info.filename))
        target.writestr("archive/data.pkl", pickled.getvalue())
        for record, data in records.items():
            target.writestr(record, data)
    return out.getvalue()


def test_the_hand_written_torch_file_is_faithful(copy):
    """The crafting helper, unmodified, writes a file that loads and equals the original weights."""
    state = torch.load(copy / WEIGHTS_FILE, weights_only=True)
    weight = state["layers.0.weight"]
    data = _crafted_weights(state, "layers.0.weight", weight.shape, weight.stride(), weight.numel())
    again = torch.load(io.BytesIO(data), weights_only=True)
    assert list(again) == list(state)
    assert all(torch.equal(again[k], state[k]) for k in state if k != "layers.0.weight")


def test_a_small_file_claiming_a_giant_tensor_is_refused_before_any_value_is_read(copy):
    """The issue's case: 2.4 kB claiming 10^6 x 10^6 floats (a stride-0 view) made load_bundle try to
    allocate 4 TB and fail with an uncaught RuntimeError."""
    state = torch.load(copy / WEIGHTS_FILE, weights_only=True)
    state["layers.0.weight"] = torch.zeros(1).expand(10**6, 10**6)
    torch.save(state, copy / WEIGHTS_FILE)
    assert (copy / WEIGHTS_FILE).stat().st_size < 5000
    _refused(copy, WEIGHTS_FILE, "does not match", CONFIG_FILE, "layers.0.weight", "(1000000, 1000000)")


@pytest.mark.parametrize(
    "size, stride, stored_floats, words",
    [
        pytest.param((10**6, 10**6), (10**6, 1), 600, ["corrupt"], id="storage-smaller-than-a-giant-shape"),
        pytest.param((10**6, 10**6), (0, 0), 1, ["does not match", "(1000000, 1000000)"], id="stride-0-giant"),
        pytest.param((6, 22), (0, 0), 1, ["not stored as a plain array"], id="stride-0-right-shape"),
        pytest.param((6, 22), (1, 6), 132, ["not stored as a plain array"], id="transposed-strides"),
    ],
)
def test_hand_crafted_tensor_records_are_refused(copy, size, stride, stored_floats, words):
    state = torch.load(copy / WEIGHTS_FILE, weights_only=True)
    (copy / WEIGHTS_FILE).write_bytes(_crafted_weights(state, "layers.0.weight", size, stride, stored_floats))
    _refused(copy, WEIGHTS_FILE, *words)


@pytest.mark.parametrize(
    "change, words",
    [
        pytest.param(lambda s: s.update({"layers.0.weight": s["layers.0.weight"].double()}), ["float64"], id="float64"),
        pytest.param(
            lambda s: s.update({"layers.9.weight": torch.zeros(1)}), ["unexpected tensors"], id="extra-tensor"
        ),
        pytest.param(lambda s: s.pop("layers.1.bias"), ["missing tensors", "layers.1.bias"], id="missing-tensor"),
        pytest.param(
            lambda s: s.update({"layers.0.weight": s["layers.0.weight"].t().contiguous()}),
            ["layers.0.weight", "shape"],
            id="transposed",
        ),
    ],
)
def test_weights_are_checked_against_the_configuration(copy, change, words):
    state = torch.load(copy / WEIGHTS_FILE, weights_only=True)
    change(state)
    torch.save(state, copy / WEIGHTS_FILE)
    _refused(copy, WEIGHTS_FILE, *words)


# ----------------------------------------------------------------------------- hashes
def test_a_flipped_weight_is_refused(copy):
    state = torch.load(copy / WEIGHTS_FILE, weights_only=True)
    state["layers.0.weight"][0, 0] = -state["layers.0.weight"][0, 0]
    torch.save(state, copy / WEIGHTS_FILE)
    _refused(copy, WEIGHTS_FILE, "changed after the model was saved", "SHA-256")


def test_an_edited_preprocessing_file_is_refused(copy):
    _edit_json(copy / PREPROCESSING_FILE, lambda d: d["numeric"]["scale_mean"].__setitem__(0, 40.0))
    _refused(copy, PREPROCESSING_FILE, "changed after the model was saved")


def test_an_edit_that_does_not_change_predictions_is_refused_too(copy):
    """Dropout does not act in prediction, so only the hash sees this edit of config.json."""
    _edit_json(copy / CONFIG_FILE, lambda d: d["hidden_layers"][0].update(dropout=0.5))
    _refused(copy, CONFIG_FILE, "changed after the model was saved")


def test_re_indenting_a_json_file_counts_as_a_change(copy):
    path = copy / CONFIG_FILE
    path.write_text(json.dumps(json.loads(path.read_text())))
    _refused(copy, CONFIG_FILE, "changed after the model was saved")


def test_tampering_inside_a_zip_is_refused_and_speaks_of_the_zip(saved):
    files = {p.name: p.read_bytes() for p in saved.iterdir()}
    data = json.loads(files[PREPROCESSING_FILE])
    data["numeric"]["impute_median"][0] = 80.0
    files[PREPROCESSING_FILE] = json.dumps(data).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(f"run/{name}", content)
    with pytest.raises(BundleError, match="preprocessing.json in the zip was changed after the model was saved"):
        load_bundle_archive(buffer.getvalue())


# ----------------------------------------------------------------------------- probes
def test_a_changed_probe_is_refused(copy):
    _edit_json(
        copy / METADATA_FILE,
        lambda d: d["integrity"]["probes"]["p_disease"].__setitem__(
            2, d["integrity"]["probes"]["p_disease"][2] + 10 * PROBE_TOLERANCE
        ),
    )
    message = _refused(copy, "predicts differently from when it was saved", "probe patient 2", "torch")
    assert "scikit-learn" in message


def test_a_difference_within_the_tolerance_is_accepted(copy):
    _edit_json(
        copy / METADATA_FILE,
        lambda d: d["integrity"]["probes"]["p_disease"].__setitem__(
            0, min(1.0, d["integrity"]["probes"]["p_disease"][0] + PROBE_TOLERANCE / 10)
        ),
    )
    assert load_bundle(copy).integrity_warning is None


def test_a_library_that_computes_differently_is_refused(copy, monkeypatch):
    """Stands in for a numpy or torch upgrade that changes standardisation: the files are intact, the
    predictions are not what was saved, so the model is not served."""
    from model.serving.saved_preprocessor import SavedPreprocessor

    original = SavedPreprocessor.transform
    monkeypatch.setattr(SavedPreprocessor, "transform", lambda self, X: original(self, X) * 1.01)
    _refused(copy, "predicts differently from when it was saved", "scikit-learn", "torch")


def test_a_library_that_cannot_use_the_restored_state_is_refused(copy, monkeypatch):
    from model.serving.saved_preprocessor import SavedPreprocessor

    def broken(self, X):
        raise AttributeError("'ndarray' object has no attribute 'new_attribute'")

    monkeypatch.setattr(SavedPreprocessor, "transform", broken)
    _refused(copy, "cannot predict with the installed libraries", "scikit-learn", "new_attribute")


# ----------------------------------------------------------------------------- saving
def test_save_refuses_a_model_whose_classes_are_not_0_and_1(tmp_path, frame):
    X = frame[list(FEATURE_NAMES)]
    y = np.where(frame["target"] == 1, "disease", "healthy")
    pipeline = ann_pipeline(hidden_units=[3], epochs=3).fit(X, y)
    with pytest.raises(BundleError, match="coded 0/1"):
        save_bundle(pipeline, tmp_path / "labels")
    assert not (tmp_path / "labels").exists()


def test_save_refuses_columns_in_another_order(tmp_path, frame):
    X = frame[list(reversed(FEATURE_NAMES))]
    pipeline = ann_pipeline(hidden_units=[3], epochs=3).fit(X, frame["target"])
    with pytest.raises(BundleError, match="another order"):
        save_bundle(pipeline, tmp_path / "order")


def test_callers_cannot_forge_the_integrity_record(tmp_path, frame):
    pipeline = ann_pipeline(hidden_units=[3], epochs=3).fit(frame[list(FEATURE_NAMES)], frame["target"])
    folder = save_bundle(
        pipeline, tmp_path / "b", metadata={"integrity": "trust me", "classes": [1, 0], "note": "kept"}
    )
    metadata = load_bundle(folder).metadata
    assert metadata["classes"] == [0, 1] and isinstance(metadata["integrity"], dict) and metadata["note"] == "kept"


# ----------------------------------------------------------------------------- bundles saved before this change
def test_an_old_format_bundle_loads_with_a_visible_logged_warning(caplog, frame):
    with caplog.at_level(logging.WARNING, logger="model.serving.bundle"):
        old = load_bundle(FORMAT_1_BUNDLE)
    assert old.metadata["bundle_format"] == 1
    assert old.integrity_warning == UNVERIFIED_WARNING
    assert "older version" in old.integrity_warning and "integrity could not be verified" in old.integrity_warning
    assert any("not verified" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert old.predict_proba(frame[list(FEATURE_NAMES)].head(3)).shape == (3, 2)


def test_an_old_format_bundle_re_saved_is_verified(tmp_path):
    old = load_bundle(FORMAT_1_BUNDLE)
    folder = save_bundle(old, tmp_path / "resaved", metadata={"name": "re-saved"})
    assert load_bundle(folder).integrity_warning is None


@pytest.mark.parametrize("units", [[8], [16, 8], [5, 4, 3]])
def test_expected_weight_shapes_are_the_networks_own(units):
    """The names and shapes checked before loading are exactly those of the network's state_dict."""
    from model.nn.config import ANNConfig
    from model.nn.network import MLP

    config = ANNConfig.from_dict({"hidden_layers": [{"units": u} for u in units]})
    network = MLP(config, 22)
    assert bundle_module.expected_weight_shapes(config, 22) == {
        k: tuple(v.shape) for k, v in network.state_dict().items()
    }
    assert all(v.dtype == torch.float32 for v in network.state_dict().values())
