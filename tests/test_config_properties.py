"""Property tests of the parsers and validators that hostile input reaches first.

Whatever the value, each answers in its documented way -- a valid object, a ConfigError
naming the field, a message string, a ValidationReport -- and never raises anything else.
(tests/test_csv_import_properties.py covers read_user_csv on arbitrary bytes; not repeated here.)
Values that are known to break a property today are kept out of the strategies here and
checked case by case in tests/test_hostile_inputs.py.
"""

import json
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.data.csv_import import ValidationReport, validate_frame
from model.data.schema import COLUMNS, FEATURES, TARGET, feature
from model.nn.config import ACTIVATIONS, INITS, OPTIMIZERS, ANNConfig, ConfigError, LayerConfig
from model.runtime.limits import MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAMES = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONFIG_FIELDS = list(ANNConfig().to_dict())
LAYER_FIELDS = list(LayerConfig().__dict__)

# Integers stay inside float range: beyond it Python raises OverflowError on float(),
# a known bug pinned by test_hostile_inputs.py::test_integer_beyond_float_range...
FLOAT_SAFE = 10**300
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-FLOAT_SAFE, FLOAT_SAFE)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["adam", "relu", "balanced", "auto", "normal", "", "NaN", "1e400"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
layer_like = st.dictionaries(st.sampled_from(LAYER_FIELDS + ["size", "Units"]), json_scalars, max_size=4)


def assert_config_or_config_error(parse, *args):
    """parse(*args) is a valid ANNConfig, or raises a ConfigError with a field and a message."""
    try:
        config = parse(*args)
    except ConfigError as error:
        # field is "" only for an unknown key "" (pinned in test_hostile_inputs.py)
        assert isinstance(error.field, str)
        assert isinstance(error.message, str) and error.message
        assert str(error).startswith(error.field)
        return None
    assert isinstance(config, ANNConfig)
    assert config.errors() == []
    return config


def top_field(field: str) -> str:
    """'hidden_layers[1].dropout' -> 'hidden_layers'; 'betas[0]' -> 'betas'."""
    return field.split("[")[0].split(".")[0]


# ----------------------------------------------------------------------------- from_json / from_dict


@PROPERTY
@given(st.text(max_size=60))
def test_any_text_is_a_config_or_a_config_error(text):
    assert_config_or_config_error(ANNConfig.from_json, text)


@PROPERTY
@given(st.binary(max_size=60))
def test_any_bytes_are_a_config_or_a_config_error(data):
    assert_config_or_config_error(ANNConfig.from_json, data)


@PROPERTY
@given(json_values)
def test_any_json_document_is_a_config_or_a_config_error(document):
    """Any top level: object, list, string, number, null, NaN/Infinity (Python's json writes them)."""
    assert_config_or_config_error(ANNConfig.from_json, json.dumps(document))
    if not isinstance(document, dict):
        with pytest.raises(ConfigError) as raised:
            ANNConfig.from_dict(document)
        assert raised.value.field == "config" and "JSON object" in raised.value.message


@PROPERTY
@given(st.sampled_from(CONFIG_FIELDS), json_values)
def test_one_bad_field_is_named_by_the_error(name, value):
    """Changing one field of a valid config either keeps it valid or yields an error about that field."""
    data = ANNConfig().to_dict()
    data[name] = value
    try:
        config = ANNConfig.from_dict(data)
    except ConfigError as error:
        assert top_field(error.field) == name, (error.field, name, value)
        assert error.message
    else:
        assert config.errors() == []
        assert getattr(config, name) == value or name in ("betas", "hidden_layers")


@PROPERTY
@given(st.lists(layer_like | json_scalars, max_size=MAX_HIDDEN_LAYERS + 2))
def test_any_layer_list_is_a_config_or_an_error_naming_the_layer(layers):
    try:
        config = ANNConfig.from_dict({"hidden_layers": layers})
    except ConfigError as error:
        assert top_field(error.field) == "hidden_layers"
        if error.field != "hidden_layers":  # a problem inside one layer says which one
            index = int(error.field.split("[")[1].split("]")[0])
            assert 0 <= index < len(layers)
    else:
        assert len(config.hidden_layers) == len(layers) <= MAX_HIDDEN_LAYERS
        for layer in config.hidden_layers:
            assert 1 <= layer.units <= MAX_UNITS_PER_LAYER and layer.activation in ACTIVATIONS
            assert 0.0 <= layer.dropout < 1.0


@PROPERTY
@given(st.dictionaries(st.text(max_size=12) | st.sampled_from(CONFIG_FIELDS), json_scalars, max_size=6))
def test_unknown_keys_are_named(data):
    unknown = sorted(set(data) - set(CONFIG_FIELDS))
    try:
        ANNConfig.from_dict(data)
    except ConfigError as error:
        if unknown:
            assert error.field in (unknown[0], repr(unknown[0])) and "unknown field" in error.message
    else:
        assert not unknown


@PROPERTY
@given(st.integers(0, 4), json_values)
def test_nesting_up_to_a_few_levels_is_refused_cleanly(depth, value):
    nested = value
    for _ in range(depth):
        nested = {"epochs": nested} if depth % 2 else [nested]
    assert_config_or_config_error(ANNConfig.from_json, json.dumps({"epochs": nested}))


# ----------------------------------------------------------------------------- errors() / validate()

python_scalars = (
    json_scalars
    | st.binary(max_size=4)
    | st.complex_numbers(allow_nan=True)
    | st.just(object())
    | st.sets(st.integers(0, 3), max_size=3)
)
python_values = (
    json_values
    | st.tuples(json_scalars, json_scalars)
    | st.sets(st.integers(0, 3), max_size=3)
    | st.binary(max_size=4)
    | st.complex_numbers(allow_nan=True)
    | st.just(object())
    | st.builds(LayerConfig)
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(CONFIG_FIELDS), python_values, max_size=5))
def test_errors_lists_config_errors_and_validate_raises_the_first(fields):
    """A config built directly in Python (a notebook) with any values: errors() never raises."""
    config = ANNConfig(**fields)
    problems = config.errors()
    assert all(isinstance(p, ConfigError) and p.field and p.message for p in problems)
    if problems:
        with pytest.raises(ConfigError) as raised:
            config.validate()
        assert raised.value.field == problems[0].field
        assert {top_field(p.field) for p in problems} <= set(fields)  # only what we changed is blamed
    else:
        assert config.validate() is config


@PROPERTY
@given(
    st.lists(
        st.builds(LayerConfig, units=python_scalars, activation=python_scalars, dropout=python_scalars), max_size=3
    )
)
def test_layer_errors_name_layer_and_attribute(layers):
    for problem in ANNConfig(hidden_layers=layers).errors():
        prefix, _, attribute = problem.field.partition(".")
        assert prefix.startswith("hidden_layers[")
        assert attribute in LAYER_FIELDS


valid_layers = st.builds(
    LayerConfig,
    units=st.integers(1, MAX_UNITS_PER_LAYER),
    activation=st.sampled_from(ACTIVATIONS),
    dropout=st.floats(0.0, 0.99),
)
valid_configs = st.builds(
    ANNConfig,
    hidden_layers=st.lists(valid_layers, max_size=MAX_HIDDEN_LAYERS),
    init=st.sampled_from(INITS),
    init_sigma=st.floats(1e-4, 10.0),
    optimizer=st.sampled_from([o for o in OPTIMIZERS if o != "nesterov"]),
    learning_rate=st.floats(1e-6, 10.0),
    momentum=st.floats(0.0, 0.99),
    betas=st.tuples(st.floats(0.0, 0.999), st.floats(0.0, 0.999)),
    eps=st.floats(1e-12, 1.0),
    batch_size=st.none() | st.integers(1, 100_000),
    epochs=st.integers(1, MAX_EPOCHS),
    weight_decay=st.floats(0.0, 10.0),
    early_stopping=st.booleans(),
    patience=st.integers(1, MAX_EPOCHS),
    validation_fraction=st.floats(0.05, 0.5),
    class_weight=st.sampled_from([None, "balanced"]),
    seed=st.integers(0, 2**32 - 1),
    device=st.sampled_from(["auto", "cpu", "cuda", "mps"]),
)


@PROPERTY
@given(valid_configs)
def test_valid_configs_survive_the_json_round_trip(config):
    assert config.errors() == []
    assert ANNConfig.from_json(config.to_json()) == config
    assert ANNConfig.from_json(config.to_json(indent=None).encode("utf-8")) == config


# ----------------------------------------------------------------------------- Feature.check


class Unfloatable:
    def __float__(self):
        raise ValueError("no float for you")


odd_objects = (
    st.none()
    | st.booleans()
    | st.integers(-FLOAT_SAFE, FLOAT_SAFE)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
    | st.binary(max_size=6)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.fractions(-(10**6), 10**6)
    | st.complex_numbers(allow_nan=True)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)
    | st.sampled_from([pd.NA, pd.NaT, float("-inf"), "1e400", " 50 ", "5O", Unfloatable(), object()])
)


@PROPERTY
@given(st.sampled_from(FEATURES + (TARGET,)), odd_objects)
def test_feature_check_of_any_object_is_none_or_a_message_with_the_label(f, value):
    message = f.check(value)
    assert message is None or (isinstance(message, str) and message.startswith(f.label + ":"))


@PROPERTY
@given(st.sampled_from(FEATURES + (TARGET,)), st.floats(allow_nan=False, allow_infinity=False))
def test_feature_check_on_finite_numbers_matches_the_schema_limits(f, x):
    """The exact oracle: codes for coded features, hard limits (and wholeness) for the others."""
    expected_ok = x in f.codes if f.categories else (f.hard_min <= x <= f.hard_max) and (not f.integer or x == int(x))
    assert (f.check(x) is None) == expected_ok, (f.name, x, f.check(x))
    if expected_ok:
        assert isinstance(f.is_atypical(x), bool)


@PROPERTY
@given(st.sampled_from(FEATURES), st.sampled_from([float("inf"), float("-inf"), "inf", "-Infinity", "1e400"]))
def test_infinite_values_are_never_accepted(f, value):
    message = f.check(value)
    assert message is not None and "finite" in message


# ----------------------------------------------------------------------------- validate_frame


def header_variants(name: str):
    return st.sampled_from([name, name.upper(), f" {name} ", name.title()])


# One spelling per column so that names stay distinct after validate_frame folds case and
# spaces (duplicates after folding are a known bug: see test_hostile_inputs.py).
column_sets = st.lists(
    st.sampled_from(list(COLUMNS) + ["num", "extra", "Unnamed: 0", "0"]), unique=True, max_size=16
).flatmap(lambda names: st.tuples(*[header_variants(n) for n in names]) if names else st.just(()))
frame_cells = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "?", "NA", "nan", "inf", "1", "3", "7", " 4 ", "1e400", "1_000", "male", "-0"])
    | st.text(max_size=5)
)


@st.composite
def small_frames(draw):
    columns = list(draw(column_sets))
    if draw(st.booleans()):  # often: all 13 features present, so the per-cell checks run
        columns = [c for c in columns if c.strip().lower() not in COLUMNS + ("num",)] + [f.name for f in FEATURES]
        if draw(st.booleans()):
            columns.append(draw(st.sampled_from([TARGET.name, "num"])))
    n_rows = draw(st.integers(0, 5))
    rows = [[draw(frame_cells) for _ in columns] for _ in range(n_rows)]
    return pd.DataFrame(rows, columns=columns, dtype=object)


@FRAMES
@given(small_frames())
def test_validate_frame_on_any_small_frame_gives_a_report(frame):
    report = validate_frame(frame)
    assert isinstance(report, ValidationReport)
    assert isinstance(report.as_text(), str) and isinstance(report.as_markdown(), str)
    assert report.ok == (not report.errors)
    normalised = {str(c).strip().lower() for c in frame.columns}
    absent = [f.name for f in FEATURES if f.name not in normalised]
    if absent:
        assert not report.ok and any(absent[0] in issue.message for issue in report.errors)
    for issue in report.errors + report.warnings:
        assert issue.column is None or issue.column in COLUMNS + ("num",)
        assert all(1 <= row <= len(frame) for row in issue.rows)


@FRAMES
@given(small_frames())
def test_every_value_validate_frame_accepts_is_possible(frame):
    from model.data.csv_import import validated_frame

    report = ValidationReport(coding="uci")
    checked = validated_frame(frame, report)
    assert (checked is None) == (not report.ok)
    if checked is None:
        return
    assert len(checked) == len(frame)
    for name in checked.columns:
        for value in checked[name].dropna().unique():
            assert feature(name).check(float(value)) is None, (name, value)
            assert math.isfinite(float(value))
