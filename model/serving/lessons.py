"""The course in one click: ready playground scenarios, each a data set, a network and two lines of why.

Every lesson is a fact that tests/test_lessons.py checks with the lesson's own settings (a perceptron
stays below 75 % on XOR, the high learning rate diverges, ...), so a caption can never promise what
the scenario does not show. `race` lessons train several optimizers together (model.nn.race).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.data.plane_data import PlaneData, toy_plane_data
from model.nn.config import ANNConfig, LayerConfig


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    caption: str  # two sentences: what to watch, and why it happens
    dataset: str  # a model.data.toy_datasets name
    config: ANNConfig
    n_samples: int = 200
    noise: float = 0.1
    data_seed: int = 0
    race: bool = False  # the optimizer race: model.nn.race.default_race(config) on this data

    def plane_data(self) -> PlaneData:
        return toy_plane_data(
            self.dataset,
            self.n_samples,
            self.noise,
            self.data_seed,
            validation_fraction=self.config.validation_fraction,
        )


# What the lessons share unless they say otherwise: Xavier starts, full-batch Adam at 0.03, 300 epochs.
_LESSON_DEFAULTS = ANNConfig(init="xavier", optimizer="adam", learning_rate=0.03, batch_size=None, epochs=300, seed=0)


def _config(*layers: LayerConfig, **changes) -> ANNConfig:
    return _LESSON_DEFAULTS.replace(hidden_layers=tuple(layers), **changes)


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "perceptron_xor",
        "A perceptron on XOR",
        "One neuron, output = σ(w₁x₁ + w₂x₂ + b), can only draw a straight line, and no straight line separates "
        "XOR's opposite corners: accuracy stays near chance however long it trains.",
        "xor",
        _config(),
    ),
    Lesson(
        "hidden_xor",
        "One hidden layer learns XOR",
        "Eight tanh neurons each draw one straight edge (see their heatmaps); the output neuron combines them "
        "into a bent boundary, and XOR is learned.",
        "xor",
        _config(LayerConfig(8, "tanh", 0.0)),
    ),
    Lesson(
        "linear_depth",
        "Linear layers stay linear",
        "Three hidden layers with the linear activation multiply into one linear map, so the boundary stays a "
        "straight line and the circle is never enclosed. Change the activation to tanh or ReLU and it bends.",
        "circles",
        _config(*(LayerConfig(8, "linear", 0.0),) * 3),
    ),
    Lesson(
        "learning_rate_too_high",
        "A learning rate too high",
        "With η = 10 each step overshoots the minimum and the loss climbs instead of falling: training diverges "
        "and the ReLU units die. Set the learning rate to 0.1 and the same network learns.",
        "moons",
        _config(*(LayerConfig(16, "relu", 0.0),) * 2, optimizer="momentum", learning_rate=10.0, batch_size=16),
    ),
    Lesson(
        "vanishing_gradients",
        "Vanishing gradients",
        "Six sigmoid layers: each multiplies the backpropagated error by σ′ ≤ 0.25, so almost nothing reaches the "
        "first layer (see the gradient-norm chart, log scale) and the network barely learns.",
        "spiral",
        _config(
            *(LayerConfig(8, "sigmoid", 0.0),) * 6,
            init="normal",
            init_sigma=0.1,
            optimizer="sgd",
            batch_size=32,
            learning_rate=0.1,
            epochs=200,
        ),
        n_samples=300,
        noise=0.05,
    ),
    Lesson(
        "overfitting",
        "Overfitting",
        "Two layers of 64 ReLU units on 48 noisy training points: the training loss goes to zero while the "
        "validation loss turns and climbs. The network memorises the noise.",
        "moons",
        _config(*(LayerConfig(64, "relu", 0.0),) * 2, learning_rate=0.01, epochs=1000),
        n_samples=60,
        noise=0.35,
    ),
    Lesson(
        "regularisation",
        "Regularisation fixes it",
        "The same network and data with dropout 0.5, weight decay 0.01 and early stopping: the validation loss "
        "stays low and training stops when it no longer improves.",
        "moons",
        _config(
            *(LayerConfig(64, "relu", 0.5),) * 2,
            learning_rate=0.01,
            epochs=1000,
            weight_decay=0.01,
            early_stopping=True,
            patience=50,
        ),
        n_samples=60,
        noise=0.35,
    ),
    Lesson(
        "optimizer_race",
        "Gradient-descent variants race",
        "Full-batch GD, SGD, mini-batch, momentum, Adam, AdaGrad and RMSProp train the same network from the same "
        "initial weights on the same data, together; their training losses are overlaid.",
        "moons",
        _config(LayerConfig(8, "tanh", 0.0), epochs=100),
        race=True,
    ),
)

LESSONS_BY_KEY = {lesson.key: lesson for lesson in LESSONS}
