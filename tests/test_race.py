"""The optimizer race: contestants trained together on one stacked engine, each as if trained alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from model.data.toy_datasets import toy_dataset
from model.nn.config import ANNConfig, LayerConfig
from model.nn.control import TrainingControl
from model.nn.network import MLP, TrainingTooLargeError
from model.nn.race import MAX_RACE_CONTESTANTS, default_race, race_optimizers
from model.nn.training import train

TIMEOUT = 60.0  # seconds; only ever reached when something is broken
N_ROWS = 100  # with batch 32: three full batches and a short one of 4


@pytest.fixture(scope="module")
def moons():
    return toy_dataset("moons", N_ROWS, noise=0.2, seed=3)


def base(**changes) -> ANNConfig:
    defaults = dict(hidden_layers=[LayerConfig(8, "tanh")], init="xavier", epochs=4, device="cpu")
    return ANNConfig(**{**defaults, **changes})


def contestants(shared: ANNConfig) -> dict[str, ANNConfig]:
    return {
        "GD": shared.replace(optimizer="gd", learning_rate=0.5),
        "SGD batch 1": shared.replace(optimizer="sgd", batch_size=1, learning_rate=0.02),
        "mini-batch 32": shared.replace(optimizer="sgd", batch_size=32, learning_rate=0.1),
        "momentum 16": shared.replace(optimizer="momentum", batch_size=16, learning_rate=0.05),
        "Nesterov 50": shared.replace(optimizer="nesterov", batch_size=50, learning_rate=0.05),
        "Adam 32": shared.replace(optimizer="adam", batch_size=32, learning_rate=0.01),
        "AdaGrad 10": shared.replace(optimizer="adagrad", batch_size=10, learning_rate=0.05),
        "RMSProp 32": shared.replace(optimizer="rmsprop", batch_size=32, learning_rate=0.005, momentum=0.0),
    }


def weights(network: MLP) -> torch.Tensor:
    return torch.cat([p.detach().cpu().reshape(-1) for p in network.parameters()])


@pytest.mark.parametrize(
    "shared",
    [base(), base(weight_decay=0.01, class_weight="balanced", hidden_layers=[LayerConfig(6, "relu")] * 2)],
    ids=["plain", "weight decay and class weights"],
)
def test_each_contestant_ends_as_if_trained_alone(moons, shared):
    X, y = moons
    if shared.class_weight:  # imbalanced, so the class weights matter
        keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:30]]
        X, y = X[keep], y[keep]
    X_val, y_val = toy_dataset("moons", 40, noise=0.2, seed=4)
    race = race_optimizers(X, y, contestants(shared), X_val=X_val, y_val=y_val)
    assert not race.cancelled
    for name, cfg in contestants(shared).items():
        alone = MLP(cfg, X.shape[1])
        history = train(alone, X, y, cfg, X_val=X_val, y_val=y_val)
        raced = race.histories[name]
        torch.testing.assert_close(weights(race.networks[name]), weights(alone), rtol=0, atol=1e-5, msg=name)
        assert len(raced) == len(history) == cfg.epochs
        for column in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            np.testing.assert_allclose(raced.column(column), history.column(column), atol=1e-5, err_msg=name)
        for column in ("grad_norms", "weight_norms"):
            for ours, theirs in zip(raced.column(column), history.column(column), strict=True):
                np.testing.assert_allclose(list(ours.values()), list(theirs.values()), atol=1e-5, err_msg=name)
        assert raced.best_epoch == history.best_epoch


def test_every_contestant_starts_from_the_weights_of_the_shared_config(moons):
    X, y = moons
    control = TrainingControl()
    control.stop()  # before the first epoch: the networks keep their initial weights
    race = race_optimizers(X, y, contestants(base()), control=control)
    start = weights(MLP(base(), X.shape[1]))
    assert race.cancelled and all(len(history) == 0 for history in race.histories.values())
    assert all(torch.equal(weights(network), start) for network in race.networks.values())


def test_a_race_is_repeatable(moons):
    X, y = moons
    one_epoch = {name: cfg.replace(epochs=1) for name, cfg in contestants(base()).items()}
    first, second = race_optimizers(X, y, one_epoch), race_optimizers(X, y, one_epoch)
    for name in one_epoch:
        assert torch.equal(weights(first.networks[name]), weights(second.networks[name]))


def test_the_events_reach_the_callback_once_per_epoch_for_every_contestant(moons):
    X, y = moons
    seen: list[tuple[int, list[str]]] = []
    race = race_optimizers(
        X, y, contestants(base()), on_epoch_end=lambda epoch, events: seen.append((epoch, list(events)))
    )
    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    assert all(names == list(race.histories) for _, names in seen)
    assert list(race.histories) == list(contestants(base()))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"hidden_layers": [LayerConfig(9, "tanh")]}, "architecture"),
        ({"hidden_layers": [LayerConfig(8, "relu")]}, "architecture"),
        ({"hidden_layers": [LayerConfig(8, "tanh", 0.2)]}, "dropout"),
        ({"init": "normal"}, "init"),
        ({"init_sigma": 0.5}, "init_sigma"),
        ({"seed": 1}, "seed"),
        ({"epochs": 5}, "epochs"),
        ({"weight_decay": 0.1}, "weight_decay"),
        ({"class_weight": "balanced"}, "class_weight"),
    ],
)
def test_contestants_that_differ_in_more_than_the_descent_are_refused(moons, change, named):
    X, y = moons
    field = {"a": base(optimizer="adam"), "b": base(optimizer="sgd", **change)}
    with pytest.raises(ValueError, match=named):
        race_optimizers(X, y, field)


def test_too_many_contestants_early_stopping_and_no_contestant_are_refused(moons):
    X, y = moons
    many = {f"Adam {i}": base(learning_rate=0.001 * (i + 1)) for i in range(MAX_RACE_CONTESTANTS + 1)}
    with pytest.raises(ValueError, match=f"1 to {MAX_RACE_CONTESTANTS}"):
        race_optimizers(X, y, many)
    with pytest.raises(ValueError, match="1 to"):
        race_optimizers(X, y, {})
    with pytest.raises(ValueError, match="early stopping"):
        race_optimizers(X, y, {"a": base(early_stopping=True)})
    with pytest.raises(ValueError, match="'broken'.*learning_rate"):
        race_optimizers(X, y, {"a": base(), "broken": base(learning_rate=-1.0)})


def test_the_training_work_limit_applies_to_each_contestant():
    huge = base(hidden_layers=[LayerConfig(512, "relu")] * 8, epochs=5000)
    X, y = np.zeros((400, 2), dtype=np.float32), np.arange(400) % 2
    with pytest.raises(TrainingTooLargeError, match="'big'"):
        race_optimizers(X, y, {"big": huge})


def test_a_control_pauses_steps_and_stops_a_race(moons):
    X, y = moons
    control = TrainingControl(paused=True)
    epochs_seen: list[int] = []
    result: dict = {}

    def run():
        try:
            result["race"] = race_optimizers(
                X,
                y,
                contestants(base(epochs=10)),
                on_epoch_end=lambda epoch, events: epochs_seen.append(epoch),
                control=control,
            )
        except BaseException as error:  # handed to the test thread, which re-raises it
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert control.wait_until_idle(TIMEOUT)
        assert epochs_seen == []
        control.step(2)
        assert control.wait_until_idle(TIMEOUT)
        assert epochs_seen == [1, 2]
        control.stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    finally:
        control.stop()
    if "error" in result:
        raise result["error"]
    race = result["race"]
    assert race.cancelled and all(h.cancelled and len(h) == 2 for h in race.histories.values())
    assert set(race.networks) == set(race.histories)


def test_the_default_race_makes_progress_with_every_contestant():
    X, y = toy_dataset("moons", 100, noise=0.1, seed=0)
    race = race_optimizers(X, y, default_race(ANNConfig(epochs=60, device="cpu")))
    assert len(race.histories) == 7 <= MAX_RACE_CONTESTANTS
    for name, history in race.histories.items():
        first, last = history.epochs[0].train_loss, history.epochs[-1].train_loss
        assert last < 0.6 * np.log(2) and last < first, name
