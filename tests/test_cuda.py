"""Devices: the CPU-side rules run everywhere; @pytest.mark.cuda tests need a GPU."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from model.nn.estimator import ANNClassifier
from model.nn.training import roc_auc
from model.runtime.device import DeviceUnavailableError, available_devices, describe_device, resolve_device

PARAMS = dict(hidden_units=(16, 8), activation="tanh", epochs=40, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(300, 10, n_informative=6, random_state=0)
    return X, y


def test_auto_prefers_cuda_then_mps_then_cpu():
    assert available_devices()[-1] == "cpu"
    assert resolve_device("auto").type == available_devices()[0]
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_describe_cpu():
    text = describe_device("cpu")
    assert text.startswith("CPU (") and "thread" in text


@pytest.mark.parametrize("name", ["cuda", "mps"])
def test_asking_for_a_missing_accelerator_is_a_clear_error(name):
    if name in available_devices():
        pytest.skip(f"{name} is present here")
    with pytest.raises(DeviceUnavailableError, match=f"'{name}' was requested but"):
        resolve_device(name)
    with pytest.raises(ValueError, match="choose 'auto' or 'cpu'"):
        ANNClassifier(device=name, epochs=1).fit(np.eye(4), [0, 1, 0, 1])


def test_unknown_device_names_are_refused():
    with pytest.raises(DeviceUnavailableError, match="one of auto, cpu, cuda, mps"):
        resolve_device("tpu")


@pytest.mark.cuda
def test_describe_gpu():
    assert describe_device("cuda").startswith("GPU: ")
    assert resolve_device("auto").type == "cuda"


@pytest.mark.cuda
def test_training_on_cuda_matches_cpu(data):
    X, y = data
    on_cpu = ANNClassifier(**PARAMS, device="cpu").fit(X, y)
    on_gpu = ANNClassifier(**PARAMS, device="cuda").fit(X, y)
    assert on_gpu.device_.type == "cuda" and on_gpu.history_.device.startswith("cuda")
    assert next(on_gpu.network_.parameters()).is_cuda
    # Same seed, same shuffles: only float rounding differs between the two devices.
    np.testing.assert_allclose(on_gpu.predict_proba(X), on_cpu.predict_proba(X), atol=2e-3)
    gpu_losses, cpu_losses = on_gpu.history_.column("train_loss"), on_cpu.history_.column("train_loss")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-2)


@pytest.mark.cuda
def test_cuda_state_loads_on_cpu(data):
    X, y = data
    model = ANNClassifier(**PARAMS, device="cuda").fit(X, y)
    config, state = model.get_state()
    assert all(t.device.type == "cpu" for t in state.values())
    restored = ANNClassifier.from_state(config, state, n_features_in=X.shape[1], device="cpu")
    np.testing.assert_allclose(restored.predict_proba(X), model.predict_proba(X), atol=1e-5)


@pytest.mark.cuda
def test_roc_auc_on_cuda():
    y = torch.tensor([0, 0, 1, 1, 1], device="cuda")
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.4], device="cuda")
    assert roc_auc(scores, y).item() == pytest.approx(4.5 / 6)


# Apple's MPS has no float64: tensors go to the host before any conversion to double.
ENGINE_FILES = (
    "model/nn/engine.py",
    "model/nn/network.py",
    "model/nn/optimizers.py",
    "model/nn/training.py",
    "model/evaluation/batched_cv.py",
    "model/nn/estimator.py",
    "model/nn/race.py",
    "model/nn/plane.py",
)


def test_float64_conversions_happen_on_the_host():
    root = Path(__file__).resolve().parents[1]
    for name in ENGINE_FILES:
        for number, line in enumerate((root / name).read_text().splitlines(), 1):
            for match in re.finditer(r"\.double\(\)", line):
                assert ".cpu()" in line[: match.start()], f"{name}:{number} converts to float64 on the device: {line}"


@pytest.mark.cuda
def test_batched_cross_validation_on_cuda_matches_cpu():
    """The stacked folds draw their mini-batches on the CPU whatever the device, as single fits do."""
    from model.data.datasets import load_dataset
    from model.data.schema import FEATURE_NAMES
    from model.evaluation.batched_cv import BatchedANN
    from model.evaluation.cross_validation import make_splits
    from model.nn.config import ANNConfig, LayerConfig

    frame = load_dataset("cleveland")
    X, y = frame[list(FEATURE_NAMES)], frame["target"].to_numpy()
    splits = make_splits(y, n_splits=5, n_repeats=1, seed=0)
    splits = [
        (train[: int(len(train) * f)], test)
        for (train, test), f in zip(splits, (0.4, 0.7, 1.0, 0.55, 0.9), strict=True)
    ]
    config = ANNConfig(
        hidden_layers=[LayerConfig(8, "tanh")],
        optimizer="adam",
        learning_rate=0.01,
        batch_size=27,
        epochs=40,
        seed=1,
        device="cpu",
    )
    on_cpu = BatchedANN(config).cross_val_predict_batched(X, y, splits).probas
    on_gpu_model = BatchedANN(config.replace(device="cuda"))
    on_gpu = on_gpu_model.cross_val_predict_batched(X, y, splits).probas
    assert on_gpu_model.fits_[0].model.device.type == "cuda"
    for a, b in zip(on_gpu, on_cpu, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-3)
