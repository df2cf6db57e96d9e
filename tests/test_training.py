import threading

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score

from model.nn.config import OPTIMIZERS, ANNConfig, LayerConfig
from model.nn.engine import StackedMLP
from model.nn.network import MLP
from model.nn.optimizers import make_optimizer
from model.nn.training import Callback, History, class_weights, roc_auc, train

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0])


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(200, 8, n_informative=5, random_state=0)
    return X.astype(np.float32), y


def config(**changes) -> ANNConfig:
    base = dict(hidden_layers=[LayerConfig(16, "relu")], epochs=30, batch_size=32, device="cpu")
    return ANNConfig(**{**base, **changes})


def fit(X, y, cfg: ANNConfig, **kwargs) -> tuple[MLP, History]:
    network = MLP(cfg, X.shape[1])
    return network, train(network, X, y, cfg, **kwargs)


def xor_accuracy(hidden_layers) -> float:
    cfg = ANNConfig(
        hidden_layers=hidden_layers,
        init="xavier",
        optimizer="adam",
        learning_rate=0.05,
        batch_size=None,
        epochs=400,
        device="cpu",
    )
    _, history = fit(XOR_X, XOR_Y, cfg)
    return history.epochs[-1].train_acc


def test_xor_cannot_be_fitted_by_a_perceptron():
    assert xor_accuracy([]) <= 0.75


def test_xor_cannot_be_fitted_by_linear_activations_whatever_the_depth():
    assert xor_accuracy([LayerConfig(8, "linear"), LayerConfig(8, "linear")]) <= 0.75


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_xor_is_fitted_by_one_nonlinear_hidden_layer(activation):
    assert xor_accuracy([LayerConfig(8, activation)]) == 1.0


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_lowers_the_training_loss(data, optimizer):
    X, y = data
    lr = {"gd": 0.5, "sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05}.get(optimizer, 0.01)
    network = MLP(config(optimizer=optimizer, learning_rate=lr), X.shape[1])
    with torch.no_grad():
        before = torch.nn.functional.binary_cross_entropy_with_logits(
            network(torch.as_tensor(X)), torch.as_tensor(y, dtype=torch.float32)
        ).item()
    history = train(network, X, y, config(optimizer=optimizer, learning_rate=lr))
    assert history.epochs[-1].train_loss < 0.8 * before


def torch_optimizer_for(name: str, cfg: ANNConfig, network: MLP, weight_decay: float) -> torch.optim.Optimizer:
    """torch.optim's version of our update rule `name`, with L2 on the weights only."""
    params = list(network.parameters())
    groups = [
        {"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() == 1], "weight_decay": 0.0},
    ]
    lr = cfg.learning_rate
    return {
        "gd": lambda: torch.optim.SGD(groups, lr=lr),
        "sgd": lambda: torch.optim.SGD(groups, lr=lr),
        "momentum": lambda: torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum),
        "nesterov": lambda: torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=True),
        "adam": lambda: torch.optim.Adam(groups, lr=lr, betas=cfg.betas, eps=cfg.eps),
        "adagrad": lambda: torch.optim.Adagrad(groups, lr=lr, eps=cfg.eps),
        "rmsprop": lambda: torch.optim.RMSprop(groups, lr=lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum),
    }[name]()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_flat_optimizers_follow_torch_optim(optimizer, weight_decay):
    """Our one-buffer update rules, on the engine training a single network, give torch.optim's results,
    step for step."""
    cfg = config(optimizer=optimizer, learning_rate=0.05, momentum=0.8, weight_decay=weight_decay)
    ours, reference = MLP(cfg, 4).double(), MLP(cfg, 4).double()
    engine = StackedMLP.bound_to(ours)
    step = make_optimizer(cfg, engine.theta, engine.grad, engine.decayed)
    torch_optimizer = torch_optimizer_for(optimizer, cfg, reference, weight_decay)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        x = torch.randn(16, 4, generator=generator, dtype=torch.float64)
        y = torch.randint(0, 2, (16,), generator=generator).double()
        engine.backprop(x.unsqueeze(0), y.view(1, 16, 1), 1 / 16)
        step.step()
        torch_optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(reference(x), y).backward()
        torch_optimizer.step()
    for a, b in zip(ours.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_each_stacked_network_has_its_own_optimizer_state_and_absent_ones_take_no_step(optimizer):
    """Three networks trained together, each skipping some steps (a fold with no rows in a batch), end
    exactly where three torch.optim runs end that step each network only on its own steps."""
    cfg = config(optimizer=optimizer, learning_rate=0.05, momentum=0.8, weight_decay=0.01)
    template = MLP(cfg, 4).double()
    engine = StackedMLP(template, 3)
    ours = make_optimizer(cfg, engine.theta, engine.grad, engine.decayed)
    references = [MLP(cfg, 4).double() for _ in range(3)]
    torch_optimizers = [torch_optimizer_for(optimizer, cfg, net, 0.01) for net in references]
    generator = torch.Generator().manual_seed(0)
    schedule = [
        None,
        np.array([True, True, False]),
        None,
        np.array([True, False, False]),
        np.array([False, True, True]),
        None,
        np.array([True, False, True]),
        None,
    ]
    for active in schedule:
        x = torch.randn(3, 16, 4, generator=generator, dtype=torch.float64)
        y = torch.randint(0, 2, (3, 16, 1), generator=generator).double()
        present = np.ones(3, bool) if active is None else active
        scale = torch.as_tensor(present, dtype=torch.float64).view(3, 1, 1) / 16  # no rows: zero gradient
        engine.backprop(x, y, scale)
        ours.step(active)
        for k in np.flatnonzero(present):
            torch_optimizers[k].zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(references[k](x[k]), y[k, :, 0]).backward()
            torch_optimizers[k].step()
    assert ours.steps.tolist() == [7, 6, 6]  # each network counts only its own steps
    for k, reference in enumerate(references):
        for a, b in zip(engine.network(k).parameters(), reference.parameters(), strict=True):
            assert torch.allclose(a, b, atol=1e-10), f"network {k}"


def test_same_seed_gives_identical_weights_on_cpu(data):
    X, y = data
    cfg = config(hidden_layers=[LayerConfig(16, "relu", 0.3)], seed=11)
    (a, _), (b, _) = fit(X, y, cfg), fit(X, y, cfg)
    (c, _) = fit(X, y, cfg.replace(seed=12))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_training_leaves_the_callers_random_state_alone(data):
    X, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(X, y, config(hidden_layers=[LayerConfig(8, "relu", 0.5)]))
    assert torch.equal(torch.rand(3), expected)


class Recorder(Callback):
    def __init__(self):
        self.calls, self.batches, self.events, self.weights = [], 0, [], []

    def on_train_begin(self, info):
        self.calls.append("begin")
        self.info = info

    def on_batch_end(self, event):
        self.batches += 1
        assert float(event.loss) > 0

    def on_epoch_end(self, event):
        self.calls.append("epoch")
        self.events.append(event)

    def on_train_end(self, history):
        self.calls.append("end")
        self.history = history


def test_events_carry_every_metric(data):
    X, y = data
    recorder = Recorder()
    _, history = fit(X[:150], y[:150], config(epochs=4), callbacks=[recorder], X_val=X[150:], y_val=y[150:])
    assert recorder.calls == ["begin"] + ["epoch"] * 4 + ["end"]
    assert recorder.info.n_batches == 5 and recorder.info.n_val == 50
    assert recorder.batches == 4 * 5
    assert recorder.history is history and history.epochs == recorder.events
    event = history.epochs[-1]
    assert event.epoch == 4 and event.epochs == 4
    for value in (event.train_loss, event.val_loss, event.train_acc, event.val_acc, event.train_auc, event.val_auc):
        assert np.isfinite(value)
    assert 0.5 < event.val_auc <= 1.0
    assert set(event.grad_norms) == set(event.weight_norms) == {"hidden 1", "output"}
    assert all(v > 0 for v in event.grad_norms.values())
    assert event.lr == 0.01 and event.seconds > 0 and event.elapsed >= event.seconds
    assert history.device == "cpu"
    assert len(history.as_records()) == 4 and "grad_norm output" in history.as_records()[0]


def test_epoch_metrics_match_a_separate_evaluation(data):
    X, y = data
    network, history = fit(X, y, config(epochs=3))
    logits = network.evaluate(torch.as_tensor(X)).numpy()
    event = history.epochs[-1]
    assert event.train_auc == pytest.approx(roc_auc_score(y, logits), abs=1e-6)
    assert event.train_acc == pytest.approx(np.mean((logits > 0) == y))
    assert event.weight_norms["output"] == pytest.approx(
        torch.cat([network.layers[-1].weight.flatten(), network.layers[-1].bias]).norm().item(), rel=1e-5
    )


def test_roc_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + y, 1)  # rounding makes many ties
    assert roc_auc(torch.tensor(scores), torch.tensor(y)).item() == pytest.approx(roc_auc_score(y, scores))
    assert np.isnan(roc_auc(torch.tensor([0.1, 0.2]), torch.tensor([1, 1])).item())


class CancelAfter(Callback):
    def __init__(self, epochs: int, stop_event: threading.Event):
        self.epochs, self.stop_event = epochs, stop_event

    def on_epoch_end(self, event):
        if event.epoch == self.epochs:
            self.stop_event.set()


def test_cancellation_returns_the_history_so_far(data):
    X, y = data
    stop = threading.Event()
    network, history = fit(X, y, config(epochs=50), callbacks=[CancelAfter(3, stop)], stop_event=stop)
    assert history.cancelled and len(history) == 3 and not history.stopped_early
    assert network(torch.as_tensor(X[:5])).isfinite().all()  # usable network with its current weights


def test_cancel_during_an_epoch_reports_that_partial_epoch(data):
    X, y = data
    stop = threading.Event()

    class CancelMidEpoch(Callback):
        def on_batch_end(self, event):
            if event.epoch == 2 and event.batch == 2:
                stop.set()

    _, history = fit(X, y, config(epochs=50), callbacks=[CancelMidEpoch()], stop_event=stop)
    assert history.cancelled and [e.epoch for e in history.epochs] == [1, 2]


def test_cancelled_before_start_returns_an_empty_history(data):
    X, y = data
    stop = threading.Event()
    stop.set()
    _, history = fit(X, y, config(), stop_event=stop)
    assert history.cancelled and len(history) == 0


class WeightSnapshots(Callback):
    def __init__(self, network):
        self.network, self.snapshots = network, {}

    def on_epoch_end(self, event):
        self.snapshots[event.epoch] = [p.detach().clone() for p in self.network.parameters()]


def test_early_stopping_restores_the_best_weights(data):
    X, y = data
    # A wide network with a high learning rate overfits 100 rows quickly.
    cfg = config(
        hidden_layers=[LayerConfig(128, "relu")],
        learning_rate=0.05,
        epochs=400,
        early_stopping=True,
        patience=5,
        validation_fraction=0.3,
    )
    network = MLP(cfg, X.shape[1])
    snapshots = WeightSnapshots(network)
    history = train(network, X[:100], y[:100], cfg, callbacks=[snapshots])
    assert history.stopped_early
    val_losses = history.column("val_loss")
    assert history.best_epoch == 1 + int(np.argmin(val_losses))
    assert len(history) == history.best_epoch + cfg.patience
    for restored, best in zip(network.parameters(), snapshots.snapshots[history.best_epoch], strict=True):
        assert torch.equal(restored, best)
    assert not torch.equal(next(network.parameters()), snapshots.snapshots[len(history)][0])


def test_balanced_class_weights_raise_minority_recall():
    X, y = make_classification(300, 6, weights=[0.9, 0.1], class_sep=0.5, random_state=1)
    assert class_weights(torch.tensor(y, dtype=torch.float32), "balanced").tolist() == pytest.approx(
        [300 / (2 * np.sum(y == 0)), 300 / (2 * np.sum(y == 1))]
    )
    recall = {}
    for mode in (None, "balanced"):
        network, _ = fit(X, y, config(class_weight=mode, epochs=20, hidden_layers=[]))
        predicted = network.evaluate(torch.as_tensor(X, dtype=torch.float32)).numpy() > 0
        recall[mode] = predicted[y == 1].mean()
    assert recall["balanced"] > recall[None]


def test_full_batch_gradient_descent_takes_one_step_per_epoch(data):
    X, y = data
    recorder = Recorder()
    fit(X, y, config(optimizer="gd", batch_size=16, epochs=3, learning_rate=0.1), callbacks=[recorder])
    assert recorder.info.n_batches == 1 and recorder.batches == 3


def test_thread_count_is_restored(data):
    X, y = data
    before = torch.get_num_threads()
    fit(X, y, config(epochs=2))
    assert torch.get_num_threads() == before


def test_mismatched_validation_arguments_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fit(X, y, config(), X_val=X)


class _LockStep(Callback):
    """Makes two trainings in two threads take turns batch by batch, so that any random
    stream they shared would interleave."""

    def __init__(self, barrier: threading.Barrier):
        self.barrier = barrier

    def on_batch_end(self, event):
        self.barrier.wait()


def test_same_seed_gives_the_same_network_while_another_training_runs_in_a_thread(data):
    X, y = data
    cfg = config(hidden_layers=[LayerConfig(16, "relu", 0.5), LayerConfig(8, "tanh", 0.3)], epochs=8, seed=21)
    inputs = torch.as_tensor(X)
    alone = fit(X, y, cfg)[0].evaluate(inputs)
    barrier = threading.Barrier(2)
    results = [None, None]

    def work(slot):
        network, _ = fit(X, y, cfg, callbacks=[_LockStep(barrier)])
        results[slot] = network.evaluate(inputs)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torch.equal(results[0], alone) and torch.equal(results[1], alone)


def test_training_draws_nothing_from_the_global_generator(data):
    X, y = data
    state = torch.get_rng_state()
    torch.manual_seed(99)  # another user's seed, set while this training runs: no effect
    a = fit(X, y, config(hidden_layers=[LayerConfig(8, "relu", 0.5)]))[0]
    assert torch.equal(torch.get_rng_state(), torch.Generator().manual_seed(99).get_state())
    torch.manual_seed(7)
    b = fit(X, y, config(hidden_layers=[LayerConfig(8, "relu", 0.5)]))[0]
    torch.set_rng_state(state)
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def test_early_stopping_holds_out_part_of_the_training_rows_and_a_monitor_set_never_decides(data):
    X, y = data
    cfg = config(
        hidden_layers=[LayerConfig(16, "relu", 0.3)],
        epochs=300,
        early_stopping=True,
        patience=3,
        validation_fraction=0.2,
    )
    X_fit, y_fit, X_watch, y_watch = X[:150], y[:150], X[150:], y[150:]
    recorder = Recorder()
    honest, history = fit(X_fit, y_fit, cfg, callbacks=[recorder], monitor=(X_watch, y_watch))
    flipped, flipped_history = fit(X_fit, y_fit, cfg, monitor=(X_watch, 1 - y_watch))  # a monitor saying the opposite
    assert history.stopped_early and history.inner_holdout == 30
    assert recorder.info.n_train == 120 and recorder.info.n_val == 50  # the shown val_* are the monitor's
    # The monitor changed nothing: same weights, same stopping epoch, same stopping losses...
    assert all(torch.equal(a, b) for a, b in zip(honest.parameters(), flipped.parameters(), strict=True))
    assert (history.best_epoch, len(history)) == (flipped_history.best_epoch, len(flipped_history))
    assert history.column("stop_loss") == flipped_history.column("stop_loss")
    # ...while what it reported is its own: the monitor's metrics of the final network.
    assert history.column("val_loss") != flipped_history.column("val_loss")
    final_scores = honest.evaluate(torch.as_tensor(X_watch)).numpy()
    assert history.epochs[history.best_epoch - 1].val_auc == pytest.approx(
        roc_auc_score(y_watch, final_scores), abs=1e-6
    )


def test_the_early_stopping_hold_out_keeps_repeated_patients_on_one_side():
    """Copies of a patient in both the fitted rows and the hold-out would make early stopping watch
    rows it fits on (the public 1,025-row copy repeats most patients)."""
    from model.nn.training import identical_row_groups, split_validation

    rng = np.random.default_rng(0)
    patients = rng.normal(size=(60, 5)).astype(np.float32)
    outcome = (patients[:, 0] > 0).astype(np.float32)
    copies = rng.integers(0, 60, size=140)
    X, y = np.vstack([patients, patients[copies]]), np.concatenate([outcome, outcome[copies]])
    groups = identical_row_groups(X)
    assert groups is not None and groups.max() + 1 == 60
    X_fit, X_held, y_fit, y_held = split_validation(X, y, 0.2, seed=3, groups=groups)
    fitted = {row.tobytes() for row in X_fit}
    assert not any(row.tobytes() in fitted for row in X_held)
    assert len(X_fit) + len(X_held) == len(X) and set(np.unique(y_held)) == {0.0, 1.0}
    assert identical_row_groups(patients) is None  # no repeats: the plain stratified split, as before
