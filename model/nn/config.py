"""The ANN configuration: what a user can choose, its validation and its JSON form.

Validation never raises anything but ConfigError, whose `field` names the offending
entry (e.g. "learning_rate" or "hidden_layers[1].dropout") so the UI can show each
message next to its widget. Resource caps come from model/runtime/limits.py.
Presets live in model/nn/presets.py (it imports this module, not the reverse).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model.data.schema import short_repr
from model.runtime.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "leaky_relu", "gelu")
INITS = ("normal", "xavier", "kaiming")
OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adam", "adagrad", "rmsprop")
CLASS_WEIGHTS = (None, "balanced")
DEVICES = ("auto", "cpu", "cuda", "mps")

OPTIMIZER_LABELS = {
    "gd": "Full-batch gradient descent",
    "sgd": "Mini-batch SGD",
    "momentum": "SGD with momentum",
    "nesterov": "SGD with Nesterov momentum",
    "adam": "Adam",
    "adagrad": "AdaGrad",
    "rmsprop": "RMSProp",
}
# The hyper-parameters each optimizer reads, so a form can show only those.
OPTIMIZER_PARAMS = {
    "gd": ("learning_rate",),
    "sgd": ("learning_rate", "batch_size"),
    "momentum": ("learning_rate", "batch_size", "momentum"),
    "nesterov": ("learning_rate", "batch_size", "momentum"),
    "adam": ("learning_rate", "batch_size", "betas", "eps"),
    "adagrad": ("learning_rate", "batch_size", "eps"),
    "rmsprop": ("learning_rate", "batch_size", "alpha", "eps", "momentum"),
}

# Numeric ranges: (low, high, low inclusive, high inclusive). Wide enough for any
# sensible experiment, narrow enough to reject typos such as a negative rate.
_RANGES = {
    "init_sigma": (0.0, 10.0, False, True),
    "learning_rate": (0.0, 10.0, False, True),
    "momentum": (0.0, 1.0, True, False),
    "eps": (0.0, 1.0, False, True),
    "alpha": (0.0, 1.0, True, False),
    "weight_decay": (0.0, 10.0, True, True),
    "validation_fraction": (0.05, 0.5, True, True),
}
_SEED_MAX = 2**32 - 1


class ConfigError(ValueError):
    """A configuration problem tied to one field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class LayerConfig:
    """One hidden layer: `units` neurons, each computing activation(w·x + b), then dropout.

    Frozen: a layer is a value, shared freely between configurations; edit with dataclasses.replace.
    """

    units: int = 16
    activation: str = "relu"
    dropout: float = 0.0


_DEFAULT_LAYERS = (LayerConfig(32, "relu", 0.0), LayerConfig(16, "relu", 0.0))


@dataclass(frozen=True)
class ANNConfig:
    """Everything that defines a network and how it is trained. No hidden layers = a perceptron.

    Frozen, so one configuration can be held by a session, a running training and a comparison at
    once without defensive copies: edit with `config.replace(...)` (dataclasses.replace). A list
    given for hidden_layers (or betas) is stored as a tuple; a value that is neither is kept as
    given, for errors() to name.
    """

    # Any sequence is accepted (a list is the natural literal) and stored as a tuple.
    hidden_layers: Sequence[LayerConfig] = _DEFAULT_LAYERS
    init: str = "normal"
    init_sigma: float = 0.1
    optimizer: str = "adam"
    learning_rate: float = 0.01
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    alpha: float = 0.99  # RMSProp smoothing constant
    batch_size: int | None = 64  # None = the full training set in one batch
    epochs: int = 200
    weight_decay: float = 0.0
    early_stopping: bool = False
    patience: int = 20
    validation_fraction: float = 0.2
    class_weight: str | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        # object.__setattr__ is the documented way for a frozen dataclass to normalise its own fields.
        if isinstance(self.hidden_layers, list):  # not any Sequence: a str or a dict stays, for errors()
            object.__setattr__(self, "hidden_layers", tuple(self.hidden_layers))
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))

    # ---- validation -------------------------------------------------------------
    def errors(self) -> list[ConfigError]:
        """Every problem, one ConfigError per field (empty when the config is valid)."""
        problems: list[ConfigError] = []
        layers = self.hidden_layers
        if not isinstance(layers, (list, tuple)):
            problems.append(ConfigError("hidden_layers", "must be a list of layers (may be empty: a perceptron)"))
            layers = []
        elif len(layers) > MAX_HIDDEN_LAYERS:
            problems.append(
                ConfigError("hidden_layers", f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(layers)}")
            )
        for i, layer in enumerate(layers):
            problems += _layer_errors(f"hidden_layers[{i}]", layer)

        problems += _choice_error("init", self.init, INITS)
        problems += _choice_error("optimizer", self.optimizer, OPTIMIZERS)
        problems += _choice_error("class_weight", self.class_weight, CLASS_WEIGHTS)
        problems += _choice_error("device", self.device, DEVICES)
        for name, (low, high, low_incl, high_incl) in _RANGES.items():
            problems += _range_error(name, getattr(self, name), low, high, low_incl, high_incl)
        problems += _betas_errors(self.betas)
        if self.batch_size is not None:
            problems += _int_error(
                "batch_size", self.batch_size, 1, MAX_BATCH_SIZE, extra=" or None for the full batch"
            )
        problems += _int_error("epochs", self.epochs, 1, MAX_EPOCHS)
        problems += _int_error("patience", self.patience, 1, MAX_EPOCHS)
        problems += _int_error("seed", self.seed, 0, _SEED_MAX)
        if not isinstance(self.early_stopping, bool):
            problems.append(ConfigError("early_stopping", f"must be true or false, got {self.early_stopping!r}"))
        if self.optimizer == "nesterov" and _is_number(self.momentum) and self.momentum == 0:
            problems.append(ConfigError("momentum", "Nesterov needs a momentum in (0, 1), got 0"))
        return problems

    def validate(self) -> ANNConfig:
        """Raise the first ConfigError (all of them are in `errors()`); return self when valid."""
        problems = self.errors()
        if problems:
            raise problems[0]
        return self

    # ---- derived ----------------------------------------------------------------
    @property
    def effective_batch_size(self) -> int | None:
        """Full-batch gradient descent ignores batch_size by definition."""
        return None if self.optimizer == "gd" else self.batch_size

    @property
    def is_perceptron(self) -> bool:
        return len(self.hidden_layers) == 0

    def replace(self, **changes: Any) -> ANNConfig:
        return dataclasses.replace(self, **changes)

    # ---- serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped: lists, not tuples, so it equals the dict a saved configuration loads back as."""
        data = dataclasses.asdict(self)
        data["hidden_layers"] = [
            dataclasses.asdict(layer) if isinstance(layer, LayerConfig) else layer for layer in self.hidden_layers
        ]
        data["betas"] = list(self.betas)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> ANNConfig:
        """Build and validate; anything malformed becomes a ConfigError naming the field."""
        if not isinstance(data, dict):
            raise ConfigError("config", f"must be a JSON object of fields, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(map(str, data)) - known)
        if unknown:
            # Quote the name: an empty or blank key would otherwise be invisible in the message.
            name = unknown[0] if unknown[0].strip() else repr(unknown[0])
            raise ConfigError(name, f"unknown field; allowed fields: {', '.join(sorted(known))}")
        kwargs = dict(data)
        if "hidden_layers" in kwargs:
            kwargs["hidden_layers"] = _layers_from_data(kwargs["hidden_layers"])
        if "betas" in kwargs:
            betas = kwargs["betas"]
            if not isinstance(betas, (list, tuple)) or len(betas) != 2:
                raise ConfigError("betas", f"must be a pair of numbers in [0, 1), got {betas!r}")
            kwargs["betas"] = tuple(betas)
        config = cls(**kwargs)
        return config.validate()

    @classmethod
    def from_json(cls, text: str | bytes) -> ANNConfig:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:  # JSONDecodeError and undecodable bytes
            raise ConfigError("config", f"not valid JSON ({exc})") from None
        except RecursionError:
            raise ConfigError("config", "not valid JSON (nested too deeply)") from None
        return cls.from_dict(data)


def _layers_from_data(layers: Any) -> tuple[LayerConfig, ...]:
    if not isinstance(layers, (list, tuple)):
        raise ConfigError("hidden_layers", "must be a list of layers, each {units, activation, dropout}")
    if len(layers) > MAX_HIDDEN_LAYERS:
        raise ConfigError("hidden_layers", f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(layers)}")
    allowed = {f.name for f in dataclasses.fields(LayerConfig)}
    built: list[LayerConfig] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, LayerConfig):
            built.append(layer)
            continue
        if not isinstance(layer, dict):
            raise ConfigError(f"hidden_layers[{i}]", "must be an object {units, activation, dropout}")
        unknown = sorted(set(map(str, layer)) - allowed)
        if unknown:
            raise ConfigError(
                f"hidden_layers[{i}].{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(allowed))}"
            )
        built.append(LayerConfig(**layer))
    return tuple(built)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    try:
        return _is_number(value) and math.isfinite(value)
    except OverflowError:  # a JSON integer beyond float range
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _layer_errors(prefix: str, layer: Any) -> list[ConfigError]:
    if not isinstance(layer, LayerConfig):
        return [ConfigError(prefix, "must be a LayerConfig(units, activation, dropout)")]
    return (
        _int_error(f"{prefix}.units", layer.units, 1, MAX_UNITS_PER_LAYER)
        + _choice_error(f"{prefix}.activation", layer.activation, ACTIVATIONS)
        + _range_error(f"{prefix}.dropout", layer.dropout, 0.0, 1.0, True, False)
    )


def _choice_error(name: str, value: Any, allowed: tuple) -> list[ConfigError]:
    try:
        if value in allowed:
            return []
    except TypeError:  # unhashable or incomparable values are simply not allowed
        pass
    shown = ", ".join("None" if a is None else repr(a) for a in allowed)
    return [ConfigError(name, f"must be one of {shown}; got {value!r}")]


def _range_error(name: str, value: Any, low: float, high: float, low_incl: bool, high_incl: bool) -> list[ConfigError]:
    interval = f"{'[' if low_incl else '('}{low:g}, {high:g}{']' if high_incl else ')'}"
    if not _is_finite_number(value):
        return [ConfigError(name, f"must be a finite number in {interval}; got {short_repr(value)}")]
    inside = (value >= low if low_incl else value > low) and (value <= high if high_incl else value < high)
    return [] if inside else [ConfigError(name, f"must be in {interval}; got {value!r}")]


def _int_error(name: str, value: Any, low: int, high: int, extra: str = "") -> list[ConfigError]:
    if not _is_int(value) or not low <= value <= high:
        return [ConfigError(name, f"must be a whole number from {low} to {high}{extra}; got {value!r}")]
    return []


def _betas_errors(betas: Any) -> list[ConfigError]:
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        return [ConfigError("betas", f"must be a pair of numbers in [0, 1), got {betas!r}")]
    return _range_error("betas[0]", betas[0], 0.0, 1.0, True, False) + _range_error(
        "betas[1]", betas[1], 0.0, 1.0, True, False
    )
