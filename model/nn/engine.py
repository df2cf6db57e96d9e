"""The training engine: K networks of one architecture, trained together by one hand-written backprop.

A single fit is K = 1 (model.nn.training.train, behind ANNClassifier and the live training page);
cross-validation trains its K fold networks at once (model.batched_cv). Both run this one
forward/backward pass, so the two cannot drift apart.

Layout: the parameters of all K networks live in one buffer of shape (2, K, P): θ = buffer[0]
and g = buffer[1], row k holding network k's P parameters layer by layer (weight, then bias).
Layer l's weights are the view W_l = θ[:, a:b].view(K, out, in) and its biases b_l (K, out), so
a forward pass is one batched matrix product per layer, h ← f(h W_lᵀ + b_l) on (K, rows, units),
and one update of θ from g (model/nn/optimizers.py) updates every network. The fold-major rows make
per-network optimizer state (a step count per row, bias corrections as a (K, 1) column) simple.

For K = 1 the engine can `bind` a model.nn.network.MLP: the module's parameters are registered as
views of θ, so a reader of the module (live histograms, the decision boundary, evaluation
between epochs) always sees the current weights without copies.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from model.nn.network import ACTIVATION_DERIVATIVES, ACTIVATION_FUNCTIONS, MLP, dropout_mask


class StackedMLP:
    """K copies of an MLP's architecture with separate weights: W_l (K, out, in), b_l (K, out).

    Every copy starts with `template`'s weights (an MLP built from the config with its seed, as a
    fold-by-fold fit starts), on `device` (default: the template's) in the template's dtype.
    """

    def __init__(self, template: MLP, n_models: int = 1, device: torch.device | str | None = None):
        if not isinstance(n_models, int) or n_models < 1:
            raise ValueError(f"n_models must be a positive whole number; got {n_models!r}")
        params = [p for layer in template.linears for p in (layer.weight, layer.bias)]
        device = torch.device(device) if device is not None else params[0].device
        self.template = template
        self.n_models = n_models
        self.activations = list(template.activations)
        self.dropouts = list(template.dropouts)
        self.functions = [ACTIVATION_FUNCTIONS[name] for name in self.activations]
        self.derivatives = [ACTIVATION_DERIVATIVES[name] for name in self.activations]
        sizes = [p.numel() for p in params]
        self.buffer = torch.zeros(2, n_models, sum(sizes), dtype=params[0].dtype, device=device)
        self.theta, self.grad = self.buffer[0], self.buffer[1]
        with torch.no_grad():
            self.theta.copy_(torch.cat([p.detach().reshape(-1) for p in params]).to(device))  # row broadcast

        self.weights: list[torch.Tensor] = []  # W_l views of θ, (K, out, in)
        self.biases: list[torch.Tensor] = []  # b_l views of θ, (K, out)
        self.weight_grads: list[torch.Tensor] = []  # the same views of g
        self.bias_grads: list[torch.Tensor] = []
        decayed: list[torch.Tensor] = []
        layer_of_entry: list[torch.Tensor] = []
        offset = 0
        for i, (p, n) in enumerate(zip(params, sizes, strict=True)):
            shape = (n_models, *p.shape)
            value, gradient = (
                self.theta[:, offset : offset + n].view(shape),
                self.grad[:, offset : offset + n].view(shape),
            )
            (self.weights if i % 2 == 0 else self.biases).append(value)
            (self.weight_grads if i % 2 == 0 else self.bias_grads).append(gradient)
            decayed.append(torch.full((n,), i % 2 == 0))  # L2 acts on weights, never on biases
            layer_of_entry.append(torch.full((n,), i // 2))
            offset += n
        self.decayed = torch.cat(decayed).to(device)  # (P,) bool
        self.layer_of_entry = torch.cat(layer_of_entry).to(device)  # (P,) layer index of every entry
        # The views the matrix products take, made once rather than on every pass.
        self._weights_t = [W.transpose(1, 2) for W in self.weights]
        self._bias_rows = [b.unsqueeze(1) for b in self.biases]

    @classmethod
    def bound_to(cls, network: MLP) -> StackedMLP:
        """A K = 1 engine holding `network`'s current weights, with `network`'s parameters made views of it."""
        engine = cls(network, 1)
        engine.bind(network)
        return engine

    @property
    def device(self) -> torch.device:
        return self.theta.device

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    # ---- the passes ---------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluation-mode logits (K, rows) for inputs (K, rows, d), without autograd."""
        with torch.no_grad():
            a = x
            # strict=False: the output layer (last weights, no activation) is applied after the loop
            for Wt, b, f in zip(self._weights_t, self._bias_rows, self.functions, strict=False):
                a = f(torch.baddbmm(b, a, Wt))
            return torch.baddbmm(self._bias_rows[-1], a, self._weights_t[-1]).squeeze(-1)

    def backprop(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        scale: torch.Tensor | float,
        generator: torch.Generator | None = None,
        training: bool = True,
    ) -> torch.Tensor:
        """One forward and backward pass by the chain rule, written out by hand; returns the logits (K, rows, 1).

        x: (K, rows, d) inputs; y: (K, rows, 1) 0/1 targets; scale: (K, rows, 1) or a number, the weight
        of each row's loss. Loss of network k: L_k = Σ_i scale[k, i] · BCE(σ(z[k, i]), y[k, i]); with
        scale = class weight / rows of k's batch (0 for padding rows) it is k's mean weighted BCE.
        Going backwards, δ = ∂L/∂z of a layer gives ∂L/∂W = δᵀ a_prev and ∂L/∂b = Σ δ per network, and
        δ_prev = (δ W) ⊙ f'(z_prev). The gradients are *written* (not accumulated) into g. Tested equal
        to autograd; used because autograd's bookkeeping costs more than the arithmetic for layers this
        small. With `training`, dropout masks (inverted dropout, as F.dropout) are drawn from `generator`
        (the training's own, so concurrent trainings cannot disturb each other's random streams).
        """
        inputs: list[torch.Tensor] = []
        pre_activations: list[torch.Tensor] = []
        outputs: list[torch.Tensor] = []
        masks: list[torch.Tensor | None] = []
        with torch.no_grad():
            a = x
            # strict=False: the output layer (last weights, no activation) is applied after the loop
            for Wt, b, f, p in zip(self._weights_t, self._bias_rows, self.functions, self.dropouts, strict=False):
                inputs.append(a)
                z = torch.baddbmm(b, a, Wt)
                a = f(z)
                pre_activations.append(z)
                outputs.append(a)
                mask = None
                if p > 0.0 and training:
                    mask = dropout_mask(a, p, generator)
                    a = a * mask
                masks.append(mask)
            logits = torch.baddbmm(self._bias_rows[-1], a, self._weights_t[-1])

            delta = torch.sigmoid(logits).sub_(y).mul_(scale)  # ∂BCE/∂z = σ(z) − y, times each row's weight
            torch.bmm(delta.transpose(1, 2), a, out=self.weight_grads[-1])
            torch.sum(delta, 1, out=self.bias_grads[-1])
            for i in range(len(self.functions) - 1, -1, -1):
                delta = torch.bmm(delta, self.weights[i + 1])  # ∂L/∂a of hidden layer i
                mask = masks[i]
                if mask is not None:
                    delta.mul_(mask)
                derivative = self.derivatives[i](pre_activations[i], outputs[i])
                if derivative is not None:
                    delta.mul_(derivative)
                torch.bmm(delta.transpose(1, 2), inputs[i], out=self.weight_grads[i])
                torch.sum(delta, 1, out=self.bias_grads[i])
        return logits

    # ---- the networks as modules --------------------------------------------------
    def bind(self, network: MLP) -> None:
        """Register `network`'s parameters as views of θ[0] (K = 1): the module then always shows the
        engine's current weights. Public module attribute assignment, no `.data` rebinding."""
        if self.n_models != 1:
            raise ValueError("only a single-network engine (K = 1) can be bound to a module")
        for layer, W, b in zip(network.linears, self.weights, self.biases, strict=True):
            layer.weight = nn.Parameter(W[0], requires_grad=layer.weight.requires_grad)
            layer.bias = nn.Parameter(b[0], requires_grad=layer.bias.requires_grad)

    @staticmethod
    def unbind(network: MLP) -> None:
        """Give a bound module's parameters their own memory again (the engine can then be dropped)."""
        for layer in network.linears:
            layer.weight = nn.Parameter(layer.weight.detach().clone(), requires_grad=layer.weight.requires_grad)
            layer.bias = nn.Parameter(layer.bias.detach().clone(), requires_grad=layer.bias.requires_grad)

    def network(self, k: int) -> MLP:
        """Network k as a plain MLP with its own weights, on the CPU, in evaluation mode."""
        net = copy.deepcopy(self.template).cpu()
        with torch.no_grad():
            for layer, W, b in zip(net.linears, self.weights, self.biases, strict=True):
                layer.weight.copy_(W[k])
                layer.bias.copy_(b[k])
        return net.eval()
