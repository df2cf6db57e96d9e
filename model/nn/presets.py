"""Ready-made network configurations.

RECOMMENDED is tuned for the built-in Cleveland data with 5x10 repeated stratified
cross-validation (benchmarks/bench_cv_quality.py): one small hidden layer, strong
regularisation (dropout and L2 weight decay) and a modest number of full-batch
Adam steps, which is both well calibrated and fast. The other presets illustrate
ideas: the single perceptron (logistic regression by another name), one hidden
layer, and a deep network that relies on dropout.
"""

from __future__ import annotations

from model.nn.config import OPTIMIZER_PARAMS, ANNConfig, LayerConfig

# Chosen with benchmarks/bench_cv_quality.py (5x10 CV, three split seeds): 8 units beat 16
# and two layers; weight decay 0.01 gives a calibration slope near 1 (0.03: too timid);
# 80 full-batch steps are enough and keep one fit around 0.1 s. Early stopping would cost
# a fifth of ~240 training rows for a noisy validation loss, so it is off here.
RECOMMENDED = ANNConfig(
    hidden_layers=[LayerConfig(8, "relu", 0.2)],
    init="normal",
    init_sigma=0.1,
    optimizer="adam",
    learning_rate=0.01,
    batch_size=None,
    epochs=80,
    weight_decay=0.01,
    early_stopping=False,
    seed=0,
)

PRESETS: dict[str, ANNConfig] = {
    "perceptron": ANNConfig(
        hidden_layers=[], optimizer="adam", learning_rate=0.01, batch_size=None, epochs=200, weight_decay=1e-3, seed=0
    ),
    "one_hidden": ANNConfig(
        hidden_layers=[LayerConfig(16, "relu", 0.0)],
        optimizer="adam",
        learning_rate=0.01,
        batch_size=32,
        epochs=100,
        seed=0,
    ),
    "deep_dropout": ANNConfig(
        hidden_layers=[LayerConfig(64, "relu", 0.5), LayerConfig(32, "relu", 0.5), LayerConfig(16, "relu", 0.5)],
        init="kaiming",
        optimizer="adam",
        learning_rate=0.001,
        batch_size=32,
        epochs=200,
        weight_decay=1e-4,
        early_stopping=True,
        patience=20,
        seed=0,
    ),
    "recommended": RECOMMENDED,
}

PRESET_DESCRIPTIONS = {
    "perceptron": "No hidden layer: one neuron, p = sigmoid(w·x + b). A linear boundary, like logistic regression.",
    "one_hidden": "One hidden layer of 16 ReLU units, mini-batch Adam, no regularisation: can overfit.",
    "deep_dropout": "Three hidden layers (64-32-16) with dropout 0.5 and early stopping: regularisation at work.",
    "recommended": "The project's default: 8 ReLU units, dropout 0.2, weight decay 0.01, 80 full-batch Adam steps.",
}


def _as_trained(config: ANNConfig) -> ANNConfig:
    """`config` with every setting that training would not read put back to ANNConfig's default:
    the hyper-parameters of other optimizers, the batch size of full-batch GD, the patience without
    early stopping and the σ of a Xavier or Kaiming start. Two configurations equal after this train alike."""
    from dataclasses import fields

    defaults = {f.name: getattr(ANNConfig(), f.name) for f in fields(ANNConfig)}
    reads = OPTIMIZER_PARAMS.get(config.optimizer)
    if reads is None:  # an unknown optimizer: nothing can be said about what it ignores
        return config
    unread = [name for name in ("momentum", "betas", "eps", "alpha", "batch_size") if name not in reads]
    if config.early_stopping is not True:
        unread.append("patience")
    if config.init != "normal":
        unread.append("init_sigma")
    return config.replace(**{name: defaults[name] for name in unread})


def matching_preset(config: ANNConfig) -> str | None:
    """The name of the preset `config` trains exactly like (settings training ignores aside), or None."""
    trained = _as_trained(config)
    return next((name for name, preset in PRESETS.items() if _as_trained(preset) == trained), None)
