"""TrainingControl: pause, step, resume, stop and learning-rate changes of a running training.

The training runs in a thread, steered from the test as a dashboard would. Every wait has a
timeout and every thread is joined with one, so a bug fails a test instead of hanging the suite.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification

from model.nn.config import ANNConfig, LayerConfig
from model.nn.control import TrainingControl
from model.nn.estimator import ANNClassifier
from model.nn.network import MLP
from model.nn.training import Callback, History, train

TIMEOUT = 60.0  # seconds; only ever reached when something is broken


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(120, 4, n_informative=3, n_redundant=0, random_state=1)
    return X.astype(np.float32), y


def config(**changes) -> ANNConfig:
    base = dict(hidden_layers=[LayerConfig(8, "tanh")], epochs=10, batch_size=32, device="cpu")
    return ANNConfig(**{**base, **changes})


class Recorder(Callback):
    def __init__(self):
        self.began = threading.Event()
        self.epochs: list = []

    def on_train_begin(self, info):
        self.began.set()

    def on_epoch_end(self, event):
        self.epochs.append(event)


class Training:
    """train() in a daemon thread; `join` asserts it ended and returns its History."""

    def __init__(self, network: MLP, X, y, cfg: ANNConfig, control: TrainingControl, callbacks=()):
        self.control = control
        self.result: dict = {}

        def run():
            try:
                self.result["history"] = train(network, X, y, cfg, callbacks=callbacks, control=control)
            except BaseException as error:  # handed to the test thread, which re-raises it
                self.result["error"] = error

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> History:
        self.thread.join(timeout=TIMEOUT)
        if self.thread.is_alive():
            self.control.stop()  # let the thread end even though the test has failed
            pytest.fail("the training did not end")
        if "error" in self.result:
            raise self.result["error"]
        return self.result["history"]


def weights(network: MLP) -> torch.Tensor:
    return torch.cat([p.detach().cpu().reshape(-1) for p in network.parameters()])


def test_a_paused_control_trains_nothing_until_stepped_then_steps_exactly(data):
    X, y = data
    cfg = config()
    network = MLP(cfg, X.shape[1])
    initial = weights(network)
    recorder = Recorder()
    control = TrainingControl(paused=True)
    training = Training(network, X, y, cfg, control, [recorder])
    try:
        assert control.wait_until_idle(TIMEOUT)
        # Waiting before epoch 1: the live view has been told the training began, nothing has moved.
        assert control.waiting and recorder.began.is_set()
        assert recorder.epochs == [] and control.epochs_begun == 0
        assert torch.equal(weights(network), initial)

        control.step(3)
        assert control.wait_until_idle(TIMEOUT)
        assert [event.epoch for event in recorder.epochs] == [1, 2, 3]
        assert control.waiting and control.paused

        control.step()
        assert control.wait_until_idle(TIMEOUT)
        assert len(recorder.epochs) == 4

        control.resume()
        history = training.join()
    finally:
        control.stop()
    assert len(history) == cfg.epochs and not history.cancelled
    assert control.finished and not control.waiting and not control.pause_timed_out


def test_stop_while_paused_ends_with_a_cancelled_history(data):
    X, y = data
    cfg = config()
    control = TrainingControl(paused=True)
    training = Training(MLP(cfg, X.shape[1]), X, y, cfg, control)
    control.step(2)
    assert control.wait_until_idle(TIMEOUT)
    control.stop()
    history = training.join()
    assert history.cancelled and len(history) == 2
    assert not control.pause_timed_out


def test_stop_between_batches_reports_the_partial_epoch(data):
    X, y = data
    cfg = config()
    control = TrainingControl()

    class StopInEpochTwo(Callback):
        def on_batch_end(self, event):
            if event.epoch == 2 and event.batch == 1:
                control.stop()

    history = train(MLP(cfg, X.shape[1]), X, y, cfg, callbacks=[StopInEpochTwo()], control=control)
    assert history.cancelled and [event.epoch for event in history.epochs] == [1, 2]


def _reference_adam(X, y, cfg: ANNConfig, lr_from_epoch: dict[int, float]) -> tuple[torch.Tensor, list[float]]:
    """Full-batch Adam with autograd and torch.optim, the learning rate changed at the given epochs."""
    network = MLP(cfg, X.shape[1])
    optimizer = torch.optim.Adam(network.parameters(), lr=cfg.learning_rate, betas=cfg.betas, eps=cfg.eps)
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.float32)
    losses = []
    for epoch in range(1, cfg.epochs + 1):
        if epoch in lr_from_epoch:
            for group in optimizer.param_groups:
                group["lr"] = lr_from_epoch[epoch]
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(network(X_t), y_t).backward()
        optimizer.step()
        with torch.no_grad():
            losses.append(F.binary_cross_entropy_with_logits(network(X_t), y_t).item())
    return weights(network), losses


def test_a_learning_rate_set_while_paused_applies_from_the_next_epoch(data):
    X, y = data
    cfg = config(optimizer="adam", batch_size=None, learning_rate=0.01, epochs=12)
    network = MLP(cfg, X.shape[1])
    control = TrainingControl(paused=True)
    training = Training(network, X, y, cfg, control)
    try:
        control.step(5)
        assert control.wait_until_idle(TIMEOUT)
        control.set_learning_rate(0.05)
        assert control.pending_learning_rate == 0.05
        control.resume()
        history = training.join()
    finally:
        control.stop()
    assert history.column("lr") == [0.01] * 5 + [0.05] * 7
    # The optimizer's moments carry over the change: the run equals Adam whose rate changes at epoch 6.
    expected_weights, expected_losses = _reference_adam(X, y, cfg, {6: 0.05})
    torch.testing.assert_close(weights(network), expected_weights, rtol=0, atol=1e-6)
    np.testing.assert_allclose(history.column("train_loss"), expected_losses, rtol=0, atol=1e-6)


def test_a_pause_longer_than_allowed_ends_the_run(data):
    X, y = data
    cfg = config()
    control = TrainingControl(max_pause_seconds=0.05)

    class PauseAfterTwo(Callback):
        def on_epoch_end(self, event):
            if event.epoch == 2:
                control.pause()

    training = Training(MLP(cfg, X.shape[1]), X, y, cfg, control, [PauseAfterTwo()])
    history = training.join()
    assert history.cancelled and len(history) == 2
    assert control.pause_timed_out and control.stopped


def test_a_control_created_paused_that_times_out_trains_nothing(data):
    X, y = data
    cfg = config()
    control = TrainingControl(paused=True, max_pause_seconds=0.01)
    history = Training(MLP(cfg, X.shape[1]), X, y, cfg, control).join()
    assert history.cancelled and len(history) == 0 and history.best_epoch is None
    assert control.pause_timed_out


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_control_never_paused_changes_nothing(data, optimizer):
    X, y = data
    cfg = config(optimizer=optimizer, learning_rate=0.05)
    plain, steered = MLP(cfg, X.shape[1]), MLP(cfg, X.shape[1])
    plain_history = train(plain, X, y, cfg)
    steered_history = train(steered, X, y, cfg, control=TrainingControl())
    assert torch.equal(weights(plain), weights(steered))
    for name in ("train_loss", "train_acc", "train_auc", "grad_norms", "weight_norms", "lr"):
        assert plain_history.column(name) == steered_history.column(name)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 11, math.nan, math.inf, "0.1", None, True])
def test_learning_rates_outside_the_configs_range_are_refused(bad):
    control = TrainingControl()
    with pytest.raises(ValueError, match="learning rate"):
        control.set_learning_rate(bad)
    assert control.pending_learning_rate is None


def test_learning_rates_the_config_accepts_are_taken_once():
    control = TrainingControl()
    control.set_learning_rate(np.float32(0.25))
    assert control.take_learning_rate() == pytest.approx(0.25)
    assert control.take_learning_rate() is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_steps_must_be_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match="whole number"):
        TrainingControl().step(bad)


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "60"])
def test_the_pause_limit_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="max_pause_seconds"):
        TrainingControl(max_pause_seconds=bad)


def test_the_estimator_takes_a_control_as_a_fit_argument(data):
    X, y = data
    estimator = ANNClassifier(hidden_units=(8,), epochs=5, device="cpu")
    assert "control" not in estimator.get_params()
    control = TrainingControl()
    control.stop()
    estimator.fit(X, y, control=control)
    assert estimator.history_ is not None and estimator.history_.cancelled and len(estimator.history_) == 0
    assert control.finished


def test_a_refused_fit_still_finishes_its_control(data):
    X, _ = data
    control = TrainingControl(paused=True)
    with pytest.raises(ValueError, match="two classes"):
        ANNClassifier(hidden_units=(8,), epochs=5, device="cpu").fit(X, np.zeros(len(X)), control=control)
    assert control.finished and control.wait_until_idle(0)
