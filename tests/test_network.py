import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from model.nn.config import ACTIVATIONS, ANNConfig, LayerConfig
from model.nn.engine import StackedMLP
from model.nn.network import MLP, activation_curve, layer_names, linear_layers, parameter_count


def make_network(activations=("tanh", "relu"), units=(6, 4), dropout=0.0, n_inputs=5, **changes) -> MLP:
    layers = [LayerConfig(u, a, dropout) for u, a in zip(units, activations, strict=True)]
    return MLP(ANNConfig(hidden_layers=layers, **changes), n_inputs)


def test_shapes_names_and_parameter_count():
    config = ANNConfig(hidden_layers=[LayerConfig(7), LayerConfig(3)])
    network = MLP(config, 4)
    assert network(torch.randn(9, 4)).shape == (9,)
    assert parameter_count(config, 4) == sum(p.numel() for p in network.parameters()) == (4 + 1) * 7 + (7 + 1) * 3 + 4
    assert layer_names(network) == ["hidden 1", "hidden 2", "output"]
    assert list(linear_layers(network)) == layer_names(network)


def test_perceptron_is_one_linear_neuron():
    network = MLP(ANNConfig(hidden_layers=[]), 3)
    x = torch.randn(5, 3)
    (output,) = network.layers
    assert torch.allclose(network(x), x @ output.weight[0] + output.bias)


@pytest.mark.parametrize("init", ["normal", "xavier", "kaiming"])
def test_initialisation_scale_and_zero_biases(init):
    config = ANNConfig(hidden_layers=[LayerConfig(400, "relu")], init=init, init_sigma=0.05)
    first = MLP(config, 300).layers[0]
    expected = {"normal": 0.05, "xavier": (2 / (300 + 400)) ** 0.5 * 2**0.5, "kaiming": (2 / 300) ** 0.5}[init]
    assert first.weight.std().item() == pytest.approx(expected, rel=0.03)
    assert first.weight.mean().abs().item() < expected / 20
    assert torch.count_nonzero(first.bias) == 0


def test_same_seed_same_initial_weights_and_different_seed_different():
    a, b, c = make_network(seed=3), make_network(seed=3), make_network(seed=4)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        if pa.dim() > 1:
            assert not torch.equal(pa, pc)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "relu", "leaky_relu", "linear"])
def test_autograd_gradients_equal_finite_differences_in_float64(activation):
    torch.manual_seed(0)
    network = make_network((activation, activation), init="xavier").double()
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 2, (8,)).double()
    names = [name for name, _ in network.named_parameters()]

    def loss(*params):
        logits = functional_call(network, dict(zip(names, params, strict=True)), (x,))
        return F.binary_cross_entropy_with_logits(logits, y)

    params = tuple(p.detach().clone().requires_grad_(True) for p in network.parameters())
    assert torch.autograd.gradcheck(loss, params, eps=1e-6, atol=1e-5)


def engine_gradients(engine: StackedMLP) -> list[torch.Tensor]:
    """The engine's gradient buffer as one (K, ...) tensor per parameter, weight then bias per layer."""
    return [g for pair in zip(engine.weight_grads, engine.bias_grads, strict=True) for g in pair]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_hand_written_backprop_equals_autograd(activation, weighted):
    """The training engine's backprop (single fits, K = 1) must give autograd's gradients exactly."""
    torch.manual_seed(1)
    network = make_network((activation, activation), units=(6, 4), init="xavier").double()
    x, y = torch.randn(10, 5, dtype=torch.float64), torch.randint(0, 2, (10,)).double()
    weight = torch.rand(10, dtype=torch.float64) + 0.5 if weighted else None

    network.zero_grad()
    F.binary_cross_entropy_with_logits(network(x), y, weight=weight).backward()
    autograd = [p.grad.clone() for p in network.parameters()]

    engine = StackedMLP(network)
    engine.grad.fill_(123.0)  # backprop must overwrite, not accumulate
    scale = (weight if weighted else torch.ones(10, dtype=torch.float64)) / 10
    logits = engine.backprop(x.unsqueeze(0), y.view(1, 10, 1), scale.view(1, 10, 1))
    assert torch.allclose(logits.view(-1), network(x).detach())
    for expected, got in zip(autograd, engine_gradients(engine), strict=True):
        assert torch.allclose(got[0], expected, atol=1e-12, rtol=1e-9)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_stacked_backprop_gives_each_network_its_own_autograd_gradients(activation):
    """K networks with different weights, rows and batch sizes (padding rows scaled by 0) at once:
    network k's gradients are autograd's for network k alone."""
    torch.manual_seed(2)
    template = make_network((activation, "tanh"), units=(6, 4), init="xavier").double()
    engine = StackedMLP(template, 3)
    with torch.no_grad():
        engine.theta.add_(torch.randn_like(engine.theta), alpha=0.3)  # three different networks
    x, y = torch.randn(3, 12, 5, dtype=torch.float64), torch.randint(0, 2, (3, 12, 1)).double()
    weight = torch.rand(3, 12, 1, dtype=torch.float64) + 0.5
    rows = [12, 7, 3]  # network k's batch: its first rows[k] rows; the rest is padding
    scale = torch.zeros(3, 12, 1, dtype=torch.float64)
    for k, m in enumerate(rows):
        scale[k, :m] = weight[k, :m] / m
    logits = engine.backprop(x, y, scale)
    for k, m in enumerate(rows):
        network = engine.network(k).double()
        assert torch.allclose(logits[k, :, 0], network(x[k]).detach())
        network.zero_grad()
        F.binary_cross_entropy_with_logits(network(x[k, :m]), y[k, :m, 0], weight=weight[k, :m, 0]).backward()
        for p, got in zip(network.parameters(), engine_gradients(engine), strict=True):
            assert torch.allclose(got[k], p.grad, atol=1e-12, rtol=1e-9)


def test_hand_written_backprop_with_dropout_equals_autograd_for_the_same_mask():
    network = make_network(("relu", "tanh"), dropout=0.5, init="xavier").double().train()
    x, y = torch.randn(12, 5, dtype=torch.float64), torch.randint(0, 2, (12,)).double()
    engine = StackedMLP(network)
    logits = engine.backprop(x.unsqueeze(0), y.view(1, 12, 1), 1 / 12, torch.Generator().manual_seed(5))
    manual = [g[0].clone() for g in engine_gradients(engine)]

    # Replay the same masks with autograd: re-draw them from the same seed the same way.
    generator = torch.Generator().manual_seed(5)
    h = x
    for linear, f, p in zip(network.layers[:-1], [torch.relu, torch.tanh], network.dropouts, strict=True):
        h = f(F.linear(h, linear.weight, linear.bias))
        h = h * torch.empty_like(h).bernoulli_(1 - p, generator=generator).div_(1 - p)
    replay = F.linear(h, network.layers[-1].weight, network.layers[-1].bias).squeeze(-1)
    assert torch.allclose(replay, logits.view(-1))
    grads = torch.autograd.grad(F.binary_cross_entropy_with_logits(replay, y), list(network.parameters()))
    for expected, got in zip(grads, manual, strict=True):
        assert torch.allclose(got, expected, atol=1e-12)


def test_a_bound_network_shows_the_engines_current_weights_and_keeps_them_when_unbound():
    network = make_network()
    names = list(network.state_dict())
    engine = StackedMLP.bound_to(network)
    with torch.no_grad():
        engine.theta.mul_(2.0)  # what an optimizer step does: in place on θ
    x = torch.randn(4, 5)
    for layer, W, b in zip(network.layers, engine.weights, engine.biases, strict=True):
        assert torch.equal(layer.weight, W[0]) and torch.equal(layer.bias, b[0])
    during = network.evaluate(x)
    assert torch.allclose(during, engine.forward(x.unsqueeze(0))[0])
    engine.unbind(network)
    with torch.no_grad():
        engine.theta.zero_()
    assert torch.equal(network.evaluate(x), during)  # the module has its own memory again
    assert (
        list(network.state_dict())
        == names
        == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"]
    )
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in network.parameters())


def test_dropout_acts_in_training_and_not_in_evaluation():
    network = make_network(dropout=0.5, seed=0)
    x = torch.randn(64, 5)
    network.train()
    assert not torch.equal(network(x), network(x))  # a new mask each pass
    hidden = network.layers[0]
    h = torch.tanh(hidden(x))
    torch.manual_seed(0)
    dropped = F.dropout(h, 0.5, True)
    assert 0.3 < (dropped == 0).float().mean().item() < 0.7

    network.eval()
    without_dropout = make_network(dropout=0.0, seed=0).eval()
    assert torch.equal(network(x), network(x))
    assert torch.allclose(network(x), without_dropout(x))
    assert torch.allclose(network.evaluate(x), without_dropout(x))


def test_evaluate_ignores_training_mode():
    network = make_network(dropout=0.5).train()
    x = torch.randn(20, 5)
    assert torch.equal(network.evaluate(x), network.evaluate(x))
    assert network.training


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_curve_matches_known_derivatives(name):
    x = np.linspace(-3, 3, 61) + 0.05  # avoid the kink at 0
    y, dy = activation_curve(name, x)
    sigmoid = 1 / (1 + np.exp(-x))
    expected = {
        "relu": (np.maximum(x, 0), (x > 0).astype(float)),
        "tanh": (np.tanh(x), 1 - np.tanh(x) ** 2),
        "sigmoid": (sigmoid, sigmoid * (1 - sigmoid)),
        "linear": (x, np.ones_like(x)),
        "leaky_relu": (np.where(x > 0, x, 0.01 * x), np.where(x > 0, 1.0, 0.01)),
    }
    if name in expected:
        np.testing.assert_allclose(y, expected[name][0], atol=1e-12)
        np.testing.assert_allclose(dy, expected[name][1], atol=1e-12)
    else:  # gelu: check the derivative numerically
        h = 1e-6
        np.testing.assert_allclose(
            dy, (activation_curve(name, x + h)[0] - activation_curve(name, x - h)[0]) / (2 * h), atol=1e-6
        )


def test_activation_curve_rejects_unknown_names():
    with pytest.raises(ValueError, match="activation must be one of"):
        activation_curve("swish", [0.0])


def test_dropout_masks_come_from_the_given_generator_only():
    network = make_network(("relu", "tanh"), dropout=0.5).train()
    x, y = torch.randn(32, 5), torch.randint(0, 2, (32,)).float()
    engine = StackedMLP(network)

    def backprop_logits(seed):
        torch.manual_seed(seed)  # the global generator moves on: it must not matter
        return engine.backprop(x.unsqueeze(0), y.view(1, 32, 1), 1 / 32, torch.Generator().manual_seed(3))

    assert torch.equal(backprop_logits(0), backprop_logits(1))
    first = network.stochastic_logits(x, torch.Generator().manual_seed(3))
    torch.manual_seed(1)
    assert torch.equal(first, network.stochastic_logits(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, network.stochastic_logits(x, torch.Generator().manual_seed(4)))
    assert not torch.equal(first, network.evaluate(x))  # dropout really acts


def test_stochastic_logits_leave_the_module_in_evaluation_mode():
    network = make_network(dropout=0.5).eval()
    network.stochastic_logits(torch.randn(4, 5), torch.Generator().manual_seed(0))
    assert not network.training
