"""ANNClassifier: the PyTorch MLP as a scikit-learn binary classifier.

Parameters are the ANNConfig fields flattened (hidden layers as `hidden_units`, with
`activation` and `dropout` given once or per layer), so clone, get_params/set_params,
Pipeline, cross_validate and GridSearchCV work as with any sklearn model. Input X is
numeric and already preprocessed (numpy or DataFrame).

clone() deep-copies `callbacks` as scikit-learn copies every parameter: each clone (a fold of
cross_validate, a candidate of GridSearchCV, possibly fitted at once in threads) reports to
callbacks of its own, so no callback ever sees two trainings' events interleaved. Callbacks are
therefore per-fit observers of the estimator they were given to; one that must not be copied
(it holds a lock, or feeds a live chart) belongs on an estimator that is fitted, not cloned.
`stop_event` alone is shared by clones, on purpose: a threading.Event is thread-safe and only
read, and one Cancel must stop every fold of a search.
A TrainingControl (pause, step, learning-rate changes) steers one training, so it is a fit
argument (`fit(X, y, control=...)`), not a parameter: clones and get_params never carry it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from model.nn.config import ANNConfig, ConfigError, LayerConfig
from model.nn.control import TrainingControl
from model.nn.network import MLP, check_training_work, layer_sizes
from model.nn.training import History, predict_logits, train
from model.runtime.device import resolve_device
from model.runtime.threads import threads_for

# Parameters a clone shares with its original instead of copying (see the module docstring).
_SHARED_PARAMS = ("stop_event",)


class ANNClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier; fitted state (set by fit or from_state) is in the attributes ending in `_`."""

    # Declared for type checkers only: none exists before fit, which is how check_is_fitted tells.
    classes_: np.ndarray
    n_features_in_: int
    device_: torch.device
    network_: MLP
    history_: History | None  # None for a classifier rebuilt by from_state

    def __init__(
        self,
        hidden_units=(32, 16),
        activation="relu",
        dropout=0.0,
        init="normal",
        init_sigma=0.1,
        optimizer="adam",
        learning_rate=0.01,
        momentum=0.9,
        betas=(0.9, 0.999),
        eps=1e-8,
        alpha=0.99,
        batch_size=64,
        epochs=200,
        weight_decay=0.0,
        early_stopping=False,
        patience=20,
        validation_fraction=0.2,
        class_weight=None,
        seed=0,
        device="auto",
        callbacks=None,
        stop_event=None,
    ):
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.init = init
        self.init_sigma = init_sigma
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.betas = betas
        self.eps = eps
        self.alpha = alpha
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.seed = seed
        self.device = device
        self.callbacks = callbacks
        self.stop_event = stop_event

    # ---- config <-> params --------------------------------------------------------
    def config(self) -> ANNConfig:
        """The ANNConfig these parameters describe (not yet validated: see ANNConfig.errors())."""
        units = self.hidden_units
        if isinstance(units, (int, np.integer)) and not isinstance(units, bool):
            units = [int(units)]
        if not isinstance(units, (list, tuple, np.ndarray)):
            raise ConfigError("hidden_units", f"must be a list of layer sizes (may be empty); got {units!r}")
        units = [_python_scalar(u) for u in units]
        activations = [_python_scalar(a) for a in _per_layer("activation", self.activation, len(units))]
        dropouts = [_python_scalar(d) for d in _per_layer("dropout", self.dropout, len(units))]
        layers = [LayerConfig(u, a, d) for u, a, d in zip(units, activations, dropouts, strict=True)]
        fields = {name: _python_scalar(getattr(self, name)) for name in _CONFIG_FIELDS}
        fields["betas"] = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else self.betas
        return ANNConfig(hidden_layers=layers, **fields)

    @classmethod
    def from_config(cls, config: ANNConfig, **extra: Any) -> ANNClassifier:
        """An unfitted classifier with the config's settings (extra: callbacks, stop_event)."""
        layers = config.hidden_layers
        activations = [layer.activation for layer in layers]
        dropouts = [layer.dropout for layer in layers]
        params = {name: getattr(config, name) for name in _CONFIG_FIELDS}
        return cls(
            hidden_units=tuple(layer.units for layer in layers),
            activation=_collapse(activations, "relu"),
            dropout=_collapse(dropouts, 0.0),
            betas=tuple(config.betas),
            **params,
            **extra,
        )

    def __sklearn_clone__(self) -> ANNClassifier:
        """An unfitted copy: every parameter cloned as scikit-learn does (callbacks deep-copied), except
        the shared stop_event."""
        params = self.get_params(deep=False)
        copied = {}
        for name, value in params.items():
            if name in _SHARED_PARAMS:
                copied[name] = value
                continue
            try:
                copied[name] = clone(value, safe=False)
            except (TypeError, copy.Error) as error:  # e.g. a callback holding a lock
                raise TypeError(
                    f"cannot clone ANNClassifier: its {name!r} cannot be deep-copied ({error}). "
                    "Each clone needs callbacks of its own; fit this estimator itself rather than "
                    "a clone, or give callbacks that can be copied."
                ) from error
        return type(self)(**copied)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = self.device != "cpu"  # GPU kernels may differ in the last bits
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        # The network, not any `_` attribute: a fit that failed after setting classes_ leaves none.
        return hasattr(self, "network_")

    # ---- fitting ------------------------------------------------------------------
    def fit(
        self, X, y, X_val=None, y_val=None, monitor=None, *, control: TrainingControl | None = None
    ) -> ANNClassifier:
        """Train on (X, y); y must hold exactly two classes. Optional (X_val, y_val) is
        the validation set for early stopping and the validation curves (with early
        stopping and none given, part of X is held out for it). Optional monitor=(X, y)
        is a set only watched: the curves' validation metrics come from it, and it never
        influences the weights or when training stops. Optional `control` (model.nn.control.TrainingControl)
        pauses, steps, re-rates or stops this training from another thread."""
        try:
            return self._fit(X, y, X_val, y_val, monitor, control)
        finally:
            if control is not None:  # also when the data are refused: a page waiting on it must not hang
                control.finish()

    def _fit(self, X, y, X_val, y_val, monitor, control: TrainingControl | None) -> ANNClassifier:
        config = self.config().validate()  # ConfigError is a ValueError naming the field
        X, y = validate_data(self, X, y, dtype=np.float32)
        # The wording follows scikit-learn's ("Unknown label type", "Only binary classification is
        # supported", "one class") so tools that match on it recognise the problem.
        target_type = type_of_target(y, input_name="y", raise_unknown=True)
        if target_type != "binary":
            raise ValueError(
                f"Only binary classification is supported; the type of the target is {target_type}. "
                "ANNClassifier needs a target with exactly two classes (patients with and without "
                f"disease); got {_some_values(y)}"
            )
        classes, y_codes = np.unique(y, return_inverse=True)
        if len(classes) != 2:  # type_of_target calls a constant target "binary" too
            raise ValueError(
                f"ANNClassifier needs a target with exactly two classes (patients with and without "
                f"disease); got one class only: {classes!r}"
            )
        self.classes_ = classes
        check_training_work(config, len(X), self.n_features_in_)
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = self._held_out(X_val, y_val)
        if monitor is not None:
            monitor = self._held_out(*monitor)
        self.device_ = resolve_device(config.device)
        work = len(X) * max(layer_sizes(config, self.n_features_in_))
        with threads_for(self.device_, work):  # also for building the network, not only the loop
            self.network_ = MLP(config, self.n_features_in_)
            self.history_ = train(
                self.network_,
                X,
                y_codes,
                config,
                callbacks=self.callbacks or (),
                X_val=X_val,
                y_val=y_val,
                stop_event=self.stop_event,
                device=self.device_,
                monitor=monitor,
                control=control,
            )
        return self

    def _held_out(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """A held-out set as the loop takes it: validated features, labels as class indices."""
        return validate_data(self, X, reset=False, dtype=np.float32), np.searchsorted(self.classes_, np.asarray(y))

    # ---- prediction ---------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """The output logit w·h + b (positive: predicted class classes_[1])."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return predict_logits(self.network_, X, self.device_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """[P(classes_[0]), P(classes_[1])] per row."""
        p1 = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p1, p1])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log predict_proba, computed from the logit so it stays finite for confident predictions."""
        logit = self.decision_function(X)
        # log σ(z) = −log(1 + e^(−z)), log(1 − σ(z)) = −log(1 + e^z)
        return np.column_stack([-np.logaddexp(0.0, logit), -np.logaddexp(0.0, -logit)])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)  # before reading classes_, which an unfitted estimator lacks
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    # ---- state for saving without pickle --------------------------------------------
    def get_state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """(config dict, CPU state_dict) — JSON + torch.save(weights), loadable with weights_only=True."""
        check_is_fitted(self)
        state = {k: v.detach().cpu().clone() for k, v in self.network_.state_dict().items()}
        return self.config().to_dict(), state

    @classmethod
    def from_state(
        cls,
        config_dict: Mapping,
        state_dict: Mapping[str, torch.Tensor],
        n_features_in: int,
        classes: Sequence = (0, 1),
        device: str = "cpu",
    ) -> ANNClassifier:
        """A fitted classifier rebuilt from get_state()'s output. Raises ConfigError / ValueError
        with a clear message when the weights do not fit the config."""
        config = ANNConfig.from_dict(dict(config_dict))
        estimator = cls.from_config(config)
        network = MLP(config, int(n_features_in))
        try:
            network.load_state_dict(dict(state_dict), strict=True)
        except RuntimeError as exc:
            raise ValueError(f"saved weights do not match the saved configuration: {exc}") from None
        estimator.device_ = resolve_device(device)
        estimator.network_ = network.to(estimator.device_).eval()
        estimator.n_features_in_ = int(n_features_in)
        estimator.classes_ = np.asarray(classes)
        estimator.history_ = None
        return estimator


_CONFIG_FIELDS = (
    "init",
    "init_sigma",
    "optimizer",
    "learning_rate",
    "momentum",
    "eps",
    "alpha",
    "batch_size",
    "epochs",
    "weight_decay",
    "early_stopping",
    "patience",
    "validation_fraction",
    "class_weight",
    "seed",
    "device",
)


def _some_values(y: np.ndarray, shown: int = 10) -> str:
    """A few of y's distinct values, for an error message about a target of thousands of rows."""
    try:
        values = np.unique(y)
    except TypeError:  # mixed types that do not sort
        return f"values such as {list(y[:shown])!r}"
    more = f" and {len(values) - shown} more" if len(values) > shown else ""
    return f"the values {list(values[:shown])!r}{more}"


def _python_scalar(value: Any) -> Any:
    """numpy scalars (e.g. from a GridSearchCV grid built with np.arange) as plain Python."""
    return value.item() if isinstance(value, np.generic) else value


def _per_layer(name: str, value: Any, n_layers: int) -> list:
    """A single value for every layer, or one per layer."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != n_layers:
            raise ConfigError(
                name, f"give one value for all layers or one per hidden layer ({n_layers}); got {len(value)}"
            )
        return list(value)
    return [value] * n_layers


def _collapse(values: list, default: Any) -> Any:
    """Per-layer values back to one value when they agree (keeps get_params readable)."""
    if not values:
        return default
    return values[0] if all(v == values[0] for v in values) else list(values)
