"""A playground setup as URL query parameters, and back, so a setup can be shared as a link.

`encode(setup)` gives short, readable, stable keys, e.g.
``data=spiral&n=200&noise=0.1&dseed=0&layers=8tanh,8tanh&drop=0,0&opt=adam&lr=0.01&batch=32&wd=0&epochs=300&seed=0``;
the main knobs are always present, every other ANNConfig field only when it differs from ANNConfig().

`decode(params)` never raises: a link is typed, pasted and edited by hand, so anything in it may be
wrong. Each bad parameter falls back to its default (or is bounded to its limit) and is described in
one plain sentence. Echoed values are cut short and keep only letters, digits, spaces and ``. , _ + -``,
so a problem line is safe to show as Markdown. Keys that are not ours are ignored: they may belong
to another page.

Pure functions: no Streamlit here, so the page's only job is
``st.query_params.from_dict(encode(setup))`` and ``decode(st.query_params.to_dict())``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from model.data.schema import NUMERIC
from model.data.toy_datasets import MAX_TOY_SAMPLES, MIN_TOY_SAMPLES, TOY_DATASETS, toy_dataset
from model.nn.config import ACTIVATIONS, CLASS_WEIGHTS, DEVICES, INITS, OPTIMIZERS, ANNConfig, LayerConfig
from model.runtime.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER

logger = logging.getLogger(__name__)

HEART = "heart"  # the session's heart data, all features
HEART_PAIR = "heart_pair"  # two numeric heart features: a plane whose decision boundary can be drawn
DATA_KINDS: tuple[str, ...] = (HEART, HEART_PAIR, *TOY_DATASETS)
PAIR_FEATURES: tuple[str, ...] = tuple(NUMERIC)

# toy_dataset's own defaults; heart data has no such knobs, so they stay at these values there.
DEFAULT_TOY_SAMPLES = 200
DEFAULT_TOY_NOISE = 0.1
DEFAULT_TOY_SEED = 0

MAX_ECHO_CHARS = 40  # of a value quoted back in a problem line
# The longest value encode() writes is the dropout list of the widest network (8 × 22 characters);
# anything much longer is not ours, and is refused before it is parsed.
MAX_VALUE_CHARS = 256
# The largest allowed setup encodes to about 900 characters of query string; browsers, proxies and
# servers all accept URLs of 2,000 characters.
MAX_QUERY_CHARS = 1_500

_NO_LAYERS = "none"  # a perceptron: an empty value would be easy to lose in a hand-edited link
_FULL_BATCH = "full"
_NO_CLASS_WEIGHT = "none"
_TRUE_WORDS = ("yes", "true", "on", "1")
_FALSE_WORDS = ("no", "false", "off", "0")
_LAYER_TOKEN = re.compile(r"([0-9]+)\s*([a-z_]+)", re.ASCII)
_SAFE_PUNCTUATION = frozenset(" ._,+-")
_INTERNAL_ERROR = "This link could not be read (an internal error, logged); the default setup is used."


@dataclass(frozen=True)
class DataChoice:
    """Which data the playground trains on.

    kind is "heart" (the session's heart data, every feature), "heart_pair" (two numeric heart
    features, named in `features`) or a toy data set name from TOY_DATASETS, which alone reads
    n_samples, noise and seed. Fields a kind does not read stay at their defaults, so two equal
    choices are equal values. Build with DataChoice.heart(), .heart_pair(a, b) or .toy(name, ...).
    """

    kind: str = HEART
    n_samples: int = DEFAULT_TOY_SAMPLES
    noise: float = DEFAULT_TOY_NOISE
    seed: int = DEFAULT_TOY_SEED
    features: tuple[str, str] | None = None

    @classmethod
    def heart(cls) -> DataChoice:
        return cls(HEART)

    @classmethod
    def heart_pair(cls, first: str, second: str) -> DataChoice:
        return cls(HEART_PAIR, features=(first, second))

    @classmethod
    def toy(
        cls,
        name: str,
        n_samples: int = DEFAULT_TOY_SAMPLES,
        noise: float = DEFAULT_TOY_NOISE,
        seed: int = DEFAULT_TOY_SEED,
    ) -> DataChoice:
        return cls(name, n_samples=n_samples, noise=noise, seed=seed)

    @property
    def is_toy(self) -> bool:
        return self.kind in TOY_DATASETS

    def validate(self) -> DataChoice:
        """Raise ValueError saying what is allowed; return self when valid."""
        if not isinstance(self.kind, str) or self.kind not in DATA_KINDS:
            raise ValueError(f"unknown data {_echo(self.kind)}; choose one of: {', '.join(DATA_KINDS)}")
        if self.is_toy:
            if not _is_int(self.n_samples) or not MIN_TOY_SAMPLES <= self.n_samples <= MAX_TOY_SAMPLES:
                raise ValueError(
                    f"the number of points must be a whole number from {MIN_TOY_SAMPLES} to {MAX_TOY_SAMPLES:,}; "
                    f"got {_echo(self.n_samples)}"
                )
            # toy_dataset is the one place that knows the noise and seed ranges: asking it for the
            # smallest set checks them (in microseconds) without restating them here.
            toy_dataset(self.kind, MIN_TOY_SAMPLES, self.noise, self.seed)
        elif (self.n_samples, self.noise, self.seed) != (DEFAULT_TOY_SAMPLES, DEFAULT_TOY_NOISE, DEFAULT_TOY_SEED):
            raise ValueError("the number of points, the noise and the data seed apply only to the toy data sets")
        if self.kind == HEART_PAIR:
            _check_pair(self.features)
        elif self.features is not None:
            raise ValueError("a pair of features applies only to the heart_pair data")
        return self


@dataclass(frozen=True)
class PlaygroundSetup:
    """A network configuration and the data it is trained on: everything a share link carries."""

    config: ANNConfig = field(default_factory=ANNConfig)
    data: DataChoice = field(default_factory=DataChoice.heart)

    def validate(self) -> PlaygroundSetup:
        """Raise ValueError (ConfigError for the network) on the first problem; return self when valid."""
        self.data.validate()
        self.config.validate()
        return self


DEFAULT_SETUP = PlaygroundSetup(ANNConfig(), DataChoice.heart())


def default_setup() -> PlaygroundSetup:
    return DEFAULT_SETUP


@dataclass(frozen=True)
class DecodeResult:
    """setup is None when the parameters hold none of ours; otherwise it is valid (validate() passes).

    problems has one plain sentence per parameter that could not be used as given.
    """

    setup: PlaygroundSetup | None
    problems: list[str] = field(default_factory=list)


# ---- the configuration fields: key, field, how to write and read the value --------------------------
@dataclass(frozen=True)
class _ConfigKey:
    key: str
    field: str
    write: Callable[[Any], str]
    read: Callable[[str], Any]  # raises ValueError with the reason, phrased to follow "key=value "
    always: bool = False  # a main knob: written even at its default, so a link shows it
    upper: int | None = None  # a size bounded to this limit rather than refused


def _write_float(value: Any) -> str:
    text = repr(float(value))  # shortest text that reads back to the same float
    return text[:-2] if text.endswith(".0") else text


def _write_int(value: Any) -> str:
    return str(int(value))


def _write_batch(value: Any) -> str:
    return _FULL_BATCH if value is None else str(int(value))


def _write_bool(value: Any) -> str:
    return "yes" if value else "no"


def _write_class_weight(value: Any) -> str:
    return _NO_CLASS_WEIGHT if value is None else str(value)


def _write_betas(value: Any) -> str:
    return ",".join(_write_float(beta) for beta in value)


def _read_float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not math.isfinite(number):
        raise ValueError("is not a finite number")
    return number


def _read_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    number = _read_float(text)  # "1e3" is a whole number too
    if not number.is_integer():
        raise ValueError("is not a whole number")
    return int(number)


def _read_batch(text: str) -> int | None:
    return None if text.lower() == _FULL_BATCH else _read_int(text)


def _read_bool(text: str) -> bool:
    word = text.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError("is not yes or no")


def _choice_reader(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def read(text: str) -> str:
        word = text.lower()
        if word not in allowed:
            raise ValueError(f"is not one of {', '.join(allowed)}")
        return word

    return read


def _read_class_weight(text: str) -> str | None:
    named = tuple(w for w in CLASS_WEIGHTS if w is not None)
    word = text.lower()
    if word == _NO_CLASS_WEIGHT:
        return None
    if word not in named:
        raise ValueError(f"is not one of {', '.join((_NO_CLASS_WEIGHT, *named))}")
    return word


def _read_betas(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError("is not two numbers separated by a comma")
    return _read_float(parts[0]), _read_float(parts[1])


_CONFIG_KEYS: tuple[_ConfigKey, ...] = (
    _ConfigKey("opt", "optimizer", str, _choice_reader(OPTIMIZERS), always=True),
    _ConfigKey("lr", "learning_rate", _write_float, _read_float, always=True),
    _ConfigKey("batch", "batch_size", _write_batch, _read_batch, always=True, upper=MAX_BATCH_SIZE),
    _ConfigKey("wd", "weight_decay", _write_float, _read_float, always=True),
    _ConfigKey("epochs", "epochs", _write_int, _read_int, always=True, upper=MAX_EPOCHS),
    _ConfigKey("seed", "seed", _write_int, _read_int, always=True),
    _ConfigKey("init", "init", str, _choice_reader(INITS)),
    _ConfigKey("sigma", "init_sigma", _write_float, _read_float),
    _ConfigKey("mom", "momentum", _write_float, _read_float),
    _ConfigKey("betas", "betas", _write_betas, _read_betas),
    _ConfigKey("eps", "eps", _write_float, _read_float),
    _ConfigKey("alpha", "alpha", _write_float, _read_float),
    _ConfigKey("early", "early_stopping", _write_bool, _read_bool),
    _ConfigKey("patience", "patience", _write_int, _read_int),
    _ConfigKey("val", "validation_fraction", _write_float, _read_float),
    _ConfigKey("cw", "class_weight", _write_class_weight, _read_class_weight),
    _ConfigKey("device", "device", str, _choice_reader(DEVICES)),
)
_KEY_OF_FIELD = {spec.field: spec.key for spec in _CONFIG_KEYS}
DATA_KEYS: tuple[str, ...] = ("data", "feat", "n", "noise", "dseed")
LAYER_KEYS: tuple[str, ...] = ("layers", "drop")
PARAMETER_KEYS: tuple[str, ...] = DATA_KEYS + LAYER_KEYS + tuple(spec.key for spec in _CONFIG_KEYS)


# ---- encode -----------------------------------------------------------------------------------------
def encode(setup: PlaygroundSetup) -> dict[str, str]:
    """Query parameters for a valid setup, in a fixed order; raises ValueError if the setup is invalid."""
    setup.validate()
    data, config = setup.data, setup.config
    params: dict[str, str] = {"data": data.kind}
    if data.kind == HEART_PAIR and data.features is not None:
        params["feat"] = ",".join(data.features)
    if data.is_toy:
        params["n"] = str(data.n_samples)
        params["noise"] = _write_float(data.noise)
        params["dseed"] = str(data.seed)
    layers = tuple(config.hidden_layers)
    params["layers"] = _write_layers(layers)
    if layers:
        params["drop"] = ",".join(_write_float(layer.dropout) for layer in layers)
    defaults = ANNConfig()
    for spec in _CONFIG_KEYS:
        value = getattr(config, spec.field)
        if spec.always or value != getattr(defaults, spec.field):
            params[spec.key] = spec.write(value)
    return params


# ---- decode -----------------------------------------------------------------------------------------
def decode(params: Mapping[str, str | list[str]]) -> DecodeResult:
    """The setup a link describes, and what in it could not be used. Never raises."""
    if params is None:
        return DecodeResult(None, [])
    if not isinstance(params, Mapping):
        return DecodeResult(None, [f"The link parameters are a {type(params).__name__}, not named values; ignored."])
    try:
        # A snapshot of our keys only: whatever else the mapping holds, and however it misbehaves, stays out.
        given = {key: params[key] for key in PARAMETER_KEYS if key in params}
    except Exception:  # a caller's odd mapping; the page must still load
        logger.warning("could not read the link parameters", exc_info=True)
        return DecodeResult(DEFAULT_SETUP, ["The link parameters could not be read; the default setup is used."])
    if not given:
        return DecodeResult(None, [])
    try:
        return _decode(given)
    except Exception:  # a bug here must not stop the page from loading; the link's setup is replaced
        logger.exception("decoding a share link failed")
        return DecodeResult(DEFAULT_SETUP, [_INTERNAL_ERROR])


def _decode(given: dict[str, Any]) -> DecodeResult:
    problems: list[str] = []
    texts: dict[str, str] = {}
    for key, raw in given.items():
        text = _single_text(key, raw, problems)
        if text is not None:
            texts[key] = text
    data = _decode_data(texts, problems)
    config = _decode_config(texts, problems)
    return DecodeResult(PlaygroundSetup(config, data), problems)


def _single_text(key: str, raw: Any, problems: list[str]) -> str | None:
    """The one text a parameter holds, or None (with a problem line) when it holds no usable text."""
    if isinstance(raw, (list, tuple)):
        if not raw:
            problems.append(f"{key} has no value; its default is used")
            return None
        if len(raw) > 1:
            problems.append(f"{key} is given {len(raw)} times; the last one is used")
        raw = raw[-1]
    if not isinstance(raw, str):
        problems.append(f"{key} is not text ({type(raw).__name__}); its default is used")
        return None
    if len(raw) > MAX_VALUE_CHARS:
        problems.append(f"{key} is {len(raw):,} characters long, too long to be ours; its default is used")
        return None
    text = raw.strip()
    if not text:
        problems.append(f"{key} is empty; its default is used")
        return None
    return text


def _decode_data(texts: dict[str, str], problems: list[str]) -> DataChoice:
    kind = HEART
    if "data" in texts:
        word = texts["data"].lower()
        if word in DATA_KINDS:
            kind = word
        else:
            problems.append(
                f"data={_echo(texts['data'])} is not one of {', '.join(DATA_KINDS)}; the default {HEART} is used"
            )
    choice = DataChoice(kind)
    if kind in TOY_DATASETS:
        choice = _decode_toy(kind, texts, problems)
    else:
        for key in ("n", "noise", "dseed"):
            if key in texts:
                problems.append(f"{key}={_echo(texts[key])} applies only to the toy data sets; it is ignored")
    if kind == HEART_PAIR:
        choice = DataChoice.heart_pair(*_decode_pair(texts, problems))
    elif "feat" in texts:
        problems.append(f"feat={_echo(texts['feat'])} applies only to data={HEART_PAIR}; it is ignored")
    try:
        return choice.validate()
    except ValueError:  # every field was checked above; this is a last line of defence
        logger.warning("decoded data choice %r is invalid", choice, exc_info=True)
        problems.append(f"the data choice could not be used; the default data ({HEART}) is used")
        return DataChoice.heart()


def _decode_toy(kind: str, texts: dict[str, str], problems: list[str]) -> DataChoice:
    n_samples, noise, seed = DEFAULT_TOY_SAMPLES, DEFAULT_TOY_NOISE, DEFAULT_TOY_SEED
    if "n" in texts:
        try:
            value = _read_int(texts["n"])
        except ValueError as exc:
            problems.append(f"n={_echo(texts['n'])} {exc}; the default {n_samples} is used")
        else:
            if value > MAX_TOY_SAMPLES:
                problems.append(
                    f"n={_echo(texts['n'])} is more than the {MAX_TOY_SAMPLES:,} points allowed; "
                    f"{MAX_TOY_SAMPLES:,} are used"
                )
                n_samples = MAX_TOY_SAMPLES
            elif value < MIN_TOY_SAMPLES:
                problems.append(
                    f"n={_echo(texts['n'])} is fewer than the {MIN_TOY_SAMPLES} points needed; "
                    f"the default {n_samples} is used"
                )
            else:
                n_samples = value
    if "noise" in texts:
        noise = _checked_toy_value(kind, "noise", texts["noise"], _read_float, noise, problems)
    if "dseed" in texts:
        seed = _checked_toy_value(kind, "dseed", texts["dseed"], _read_int, seed, problems)
    return DataChoice.toy(kind, n_samples, noise, seed)


def _checked_toy_value(
    kind: str, key: str, text: str, read: Callable[[str], Any], default: Any, problems: list[str]
) -> Any:
    """noise or dseed of a toy set: its value, or the default with a problem line."""
    try:
        value = read(text)
    except ValueError as exc:
        problems.append(f"{key}={_echo(text)} {exc}; the default {default} is used")
        return default
    probe = DataChoice.toy(kind, noise=value) if key == "noise" else DataChoice.toy(kind, seed=value)
    try:
        probe.validate()
    except ValueError as exc:
        problems.append(
            f"{key}={_echo(text)} is out of range ({_without_value(str(exc))}); the default {default} is used"
        )
        return default
    return value


def _decode_pair(texts: dict[str, str], problems: list[str]) -> tuple[str, str]:
    default = (PAIR_FEATURES[0], PAIR_FEATURES[1])
    shown_default = ",".join(default)
    if "feat" not in texts:
        problems.append(f"data={HEART_PAIR} needs feat (two features); the default {shown_default} is used")
        return default
    names = tuple(part.strip().lower() for part in texts["feat"].split(","))
    try:
        _check_pair(names)
    except ValueError as exc:
        problems.append(f"feat={_echo(texts['feat'])}: {exc}; the default {shown_default} is used")
        return default
    return names[0], names[1]


def _check_pair(features: Any) -> None:
    if not isinstance(features, tuple) or len(features) != 2:
        raise ValueError(f"choose exactly two of the numeric features {', '.join(PAIR_FEATURES)}")
    for name in features:
        if name not in PAIR_FEATURES:
            raise ValueError(f"{_echo(name)} is not one of the numeric features {', '.join(PAIR_FEATURES)}")
    if features[0] == features[1]:
        raise ValueError("the two features must differ")


def _decode_config(texts: dict[str, str], problems: list[str]) -> ANNConfig:
    defaults = ANNConfig()
    values: dict[str, Any] = {"hidden_layers": _decode_layers(texts, problems)}
    for spec in _CONFIG_KEYS:
        if spec.key in texts:
            values[spec.field] = _decode_config_value(spec, texts[spec.key], problems)
    config = defaults.replace(**values)
    # Each value passed on its own; a few only fail together (Nesterov with momentum 0): reset those.
    for _ in range(len(_CONFIG_KEYS)):
        errors = config.errors()
        if not errors:
            return config
        error = errors[0]
        name = re.split(r"[.\[]", error.field, maxsplit=1)[0]
        if name == "hidden_layers" or not hasattr(defaults, name):
            break
        key = _KEY_OF_FIELD.get(name, name)
        default = getattr(defaults, name)
        problems.append(f"{key}: {_without_value(error.message)}; the default {_shown_default(key, default)} is used")
        config = config.replace(**{name: default})
    logger.warning("decoded configuration still invalid: %s", config.errors())
    problems.append("the network settings could not be used together; the default settings are used")
    return defaults


def _decode_config_value(spec: _ConfigKey, text: str, problems: list[str]) -> Any:
    default = getattr(ANNConfig(), spec.field)
    shown_default = _shown_default(spec.key, default)
    try:
        value = spec.read(text)
    except ValueError as exc:
        problems.append(f"{spec.key}={_echo(text)} {exc}; the default {shown_default} is used")
        return default
    if spec.upper is not None and isinstance(value, int) and value > spec.upper:
        problems.append(f"{spec.key}={_echo(text)} is more than the limit {spec.upper:,}; {spec.upper:,} is used")
        return spec.upper
    errors = [e for e in ANNConfig().replace(**{spec.field: value}).errors() if _belongs_to(e.field, spec.field)]
    if errors:
        problems.append(
            f"{spec.key}={_echo(text)} is not allowed ({_without_value(errors[0].message)}); "
            f"the default {shown_default} is used"
        )
        return default
    return value


def _decode_layers(texts: dict[str, str], problems: list[str]) -> tuple[LayerConfig, ...]:
    layers = tuple(ANNConfig().hidden_layers)
    if "layers" in texts:
        layers = _parse_layers(texts["layers"], problems)
    if "drop" in texts:
        layers = _apply_dropout(layers, texts["drop"], problems)
    return layers


def _parse_layers(text: str, problems: list[str]) -> tuple[LayerConfig, ...]:
    default_layers = tuple(ANNConfig().hidden_layers)
    shown_default = _write_layers(default_layers)
    if text.lower() == _NO_LAYERS:
        return ()
    tokens = [token.strip().lower() for token in text.split(",")]
    if len(tokens) > MAX_HIDDEN_LAYERS:
        problems.append(
            f"layers has {len(tokens)} layers, more than the {MAX_HIDDEN_LAYERS} allowed; "
            f"the first {MAX_HIDDEN_LAYERS} are used"
        )
        tokens = tokens[:MAX_HIDDEN_LAYERS]
    parsed: list[tuple[int, str]] = []
    for token in tokens:
        match = _LAYER_TOKEN.fullmatch(token)
        if match is None:
            problems.append(
                f"layers={_echo(text)}: {_echo(token)} is not a size followed by an activation (such as 8tanh); "
                f"the default {shown_default} is used"
            )
            return default_layers
        parsed.append((int(match.group(1)), match.group(2)))
    default_layer = LayerConfig()
    layers = []
    for position, (units, activation) in enumerate(parsed, start=1):
        if units > MAX_UNITS_PER_LAYER:
            problems.append(
                f"layers: layer {position} has {_echo(str(units))} units, more than the {MAX_UNITS_PER_LAYER} allowed; "
                f"{MAX_UNITS_PER_LAYER} are used"
            )
            units = MAX_UNITS_PER_LAYER
        elif units < 1:
            problems.append(f"layers: layer {position} has no units; the default {default_layer.units} is used")
            units = default_layer.units
        if activation not in ACTIVATIONS:
            problems.append(
                f"layers: layer {position}: {_echo(activation)} is not one of the activations "
                f"{', '.join(ACTIVATIONS)}; "
                f"{default_layer.activation} is used"
            )
            activation = default_layer.activation
        layers.append(LayerConfig(units, activation))
    return tuple(layers)


def _apply_dropout(layers: tuple[LayerConfig, ...], text: str, problems: list[str]) -> tuple[LayerConfig, ...]:
    default_dropout = LayerConfig().dropout
    parts = [part.strip() for part in text.split(",")]
    if not layers:
        problems.append(f"drop={_echo(text)} has no layers to apply to; it is ignored")
        return layers
    if len(parts) != len(layers):
        problems.append(
            f"drop has {len(parts)} values for {len(layers)} layers; "
            f"{'the extra ones are ignored' if len(parts) > len(layers) else 'the missing ones are 0'}"
        )
    result = []
    for position, layer in enumerate(layers, start=1):
        dropout = default_dropout
        if position <= len(parts):
            part = parts[position - 1]
            try:
                dropout = _read_float(part)
            except ValueError as exc:
                problems.append(f"drop of layer {position} ({_echo(part)}) {exc}; 0 is used")
            else:
                probe = ANNConfig(hidden_layers=(dataclasses.replace(layer, dropout=dropout),))
                errors = [e for e in probe.errors() if e.field.endswith(".dropout")]
                if errors:
                    problems.append(
                        f"drop of layer {position} ({_echo(part)}) is not allowed "
                        f"({_without_value(errors[0].message)}); 0 is used"
                    )
                    dropout = default_dropout
        result.append(dataclasses.replace(layer, dropout=dropout))
    return tuple(result)


# ---- small helpers ----------------------------------------------------------------------------------
def _write_layers(layers: tuple[LayerConfig, ...]) -> str:
    return ",".join(f"{layer.units}{layer.activation}" for layer in layers) or _NO_LAYERS


def _shown_default(key: str, default: Any) -> str:
    spec = next((s for s in _CONFIG_KEYS if s.key == key), None)
    return spec.write(default) if spec is not None else str(default)


def _belongs_to(error_field: str, name: str) -> bool:
    """ConfigError fields name a field or one of its parts: "betas[0]" belongs to "betas"."""
    return error_field == name or error_field.startswith((name + "[", name + "."))


def _without_value(message: str) -> str:
    """A validation message without its closing "; got <value>": the value is echoed, capped, by the caller."""
    for marker in ("; got ", ", got "):
        head, found, _ = message.partition(marker)
        if found:
            return head
    return message[:200]


def _echo(value: Any) -> str:
    """A value quoted back to the user: at most MAX_ECHO_CHARS, and only characters harmless in Markdown."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and value.bit_length() > 128:  # repr of a huge int is long, or even refused
        text = "a very large number"
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = type(value).__name__
    cut = text[:MAX_ECHO_CHARS]
    safe = "".join(c if c.isalnum() or c in _SAFE_PUNCTUATION else "?" for c in cut)
    return safe + ("…" if len(text) > MAX_ECHO_CHARS else "")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
