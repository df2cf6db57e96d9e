"""Malformed and hostile input across the four doors a user can push on: an uploaded CSV,
the patient form, a network configuration and a saved model bundle.

Each case expects the documented answer -- a refused ImportResult whose report names the
column or file and the problem, a PatientCheck error for the field, a ConfigError naming
the field, a BundleError naming the file -- and nothing else (no raw traceback).
Each case asserts the documented error type and a message that names what is wrong.
"""

import contextlib
import gzip
import io
import json
import math
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from model.clinic.risk import PatientError, check_patient, predict_risk
from model.data.csv_import import read_user_csv, validate_frame
from model.data.schema import COLUMNS, FEATURE_NAMES, FEATURES
from model.nn.config import ANNConfig, ConfigError
from model.runtime.limits import MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_UNITS_PER_LAYER
from model.serving.bundle import (
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    CONFIG_FILE,
    MAX_JSON_BYTES,
    MAX_WEIGHTS_BYTES,
    METADATA_FILE,
    PREPROCESSING_FILE,
    WEIGHTS_FILE,
    BundleError,
    load_bundle,
    load_bundle_archive,
    save_bundle,
)

# ============================================================================= upload (read_user_csv)

HEADER = ",".join(COLUMNS)
ROWS = (  # four real Cleveland patients in UCI coding
    "63,1,1,145,233,1,2,150,0,2.3,3,0,6,0",
    "67,1,4,160,286,0,2,108,1,1.5,2,3,3,1",
    "37,1,3,130,250,0,0,187,0,3.5,3,0,3,0",
    "41,0,2,130,204,0,2,172,0,1.4,1,0,3,0",
)


def csv_text(rows=ROWS, header=HEADER) -> str:
    return "\n".join(([header] if header is not None else []) + list(rows)) + "\n"


def with_cell(column: str, value: str, row: int = 0, rows=ROWS) -> str:
    """The sample CSV with one cell replaced (row is 0-based; the report counts data rows from 1)."""
    index = COLUMNS.index(column)
    changed = [r.split(",") for r in rows]
    changed[row][index] = value
    return csv_text([",".join(r) for r in changed])


def refusal(content, **limits) -> str:
    """The report text of a file that must be refused (and nothing else may happen)."""
    result = read_user_csv(content, **limits)
    assert result.frame is None, f"accepted although it should be refused:\n{result.report.as_text()}"
    assert not result.report.ok and result.report.errors
    text = result.report.as_text()
    assert text.startswith("The file was refused")
    return text


XLSX_BYTES = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"[Content_Types].xml" + bytes(range(256)) * 4


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("heart.csv", csv_text())
    return buffer.getvalue()


def _drop_column(name: str) -> str:
    index = COLUMNS.index(name)
    keep = lambda line: ",".join(v for i, v in enumerate(line.split(",")) if i != index)  # noqa: E731
    return csv_text([keep(r) for r in ROWS], keep(HEADER))


# (id, content, limits, words that must all appear in the report)
REFUSED_UPLOADS = [
    (
        "wrong-column-names",
        csv_text(header=",".join(f"col{i}" for i in range(14))),
        {},
        ["missing column(s)", "age", "found: col0"],
    ),
    ("one-feature-missing", _drop_column("chol"), {}, ["missing column(s): chol"]),
    (
        "swapped-types-words-in-sex",
        with_cell("sex", "male"),
        {},
        ["Column 'sex'", "not a number", "'male'", "data row 1"],
    ),
    (
        "swapped-columns-age-and-chol",
        csv_text(
            [",".join([r.split(",")[4]] + r.split(",")[1:4] + [r.split(",")[0]] + r.split(",")[5:]) for r in ROWS]
        ),
        {},
        ["Column 'age'", "above the possible maximum 110", "Column 'chol'", "below the possible minimum 70"],
    ),
    ("header-only", HEADER + "\n", {}, ["header line but no data rows"]),
    ("excel-xlsx-bytes", XLSX_BYTES, {}, ["not a CSV file", "spreadsheet"]),
    ("zip-archive", _zip_bytes(), {}, ["not a CSV file", "archive"]),
    ("gzip-bytes", gzip.compress(csv_text().encode()), {}, ["not a CSV file"]),
    (
        "html-page",
        b"<!DOCTYPE html>\n<html><head><title>Heart</title></head>\n<body><table><tr><td>63</td></tr>"
        b"</table></body></html>\n",
        {},
        ["missing column(s)", "age"],
    ),
    ("nul-bytes-inside", csv_text().replace("145", "1\x0045").encode(), {}, ["not a CSV file", "binary data"]),
    (
        "negative-age",
        with_cell("age", "-63", row=2),
        {},
        ["Column 'age'", "below the possible minimum 18", "data row 3"],
    ),
    ("inf-string", with_cell("chol", "inf", row=1), {}, ["Column 'chol'", "not a finite number", "data row 2"]),
    ("minus-infinity-string", with_cell("thalach", "-Infinity"), {}, ["Column 'thalach'", "not a finite number"]),
    ("1e400-overflows-to-inf", with_cell("trestbps", "1e400"), {}, ["Column 'trestbps'", "not a finite number"]),
    ("fractional-age", with_cell("age", "50.5"), {}, ["Column 'age'", "whole number"]),
    (
        "unknown-category-code",
        with_cell("thal", "5", row=3),
        {},
        ["Column 'thal'", "not one of the codes", "data row 4"],
    ),
    ("excel-formula-cell", with_cell("oldpeak", "=1+1"), {}, ["Column 'oldpeak'", "not a number", "'=1+1'"]),
    ("python-underscore-number", with_cell("chol", "2_33"), {}, ["Column 'chol'", "not a number"]),
    ("hex-number", with_cell("chol", "0xE9"), {}, ["Column 'chol'", "not a number"]),
    ("latin-1-text-cell", with_cell("cp", "é").encode("latin-1"), {}, ["Column 'cp'", "not a number"]),
    (
        "decimal-commas-with-semicolons",
        csv_text([r.replace(",", ";").replace("2.3", "2,3") for r in ROWS], HEADER.replace(",", ";")),
        {},
        ["Column 'oldpeak'", "not a number", "'2,3'"],
    ),
    ("quoted-newline-inside-a-cell", with_cell("age", '"6\n3"'), {}, ["Column 'age'", "not a number"]),
    (
        "quoted-newline-inside-a-header-name",
        csv_text(header=HEADER.replace("age", '"a\nge"', 1)),
        {},
        ["missing column(s): age"],
    ),
    (
        "mixed-kaggle-and-uci-codings",
        csv_text([ROWS[0].replace(",1,1,145", ",1,0,145"), ROWS[1]]),
        {},
        ["mix two codings", "cp = 0", "cp = 4"],
    ),
    (
        "duplicated-column-names-differing-in-case",
        csv_text(header=HEADER.replace("chol", "AGE")),
        {},
        ["more than once: age"],
    ),
    (
        "target-with-a-third-value",
        with_cell("target", "7", row=1),
        {},
        ["Column 'target'", "not one of the codes", "data row 2"],
    ),
    (
        "uci-num-out-of-range",
        csv_text(header=HEADER.replace("target", "num"), rows=[r[: r.rfind(",")] + ",5" for r in ROWS]),
        {},
        ["Column 'num'", "0, 1, 2, 3, 4"],
    ),
    ("empty-target-cell", with_cell("target", ""), {}, ["Column 'target'", "the target is empty", "data row 1"]),
    (
        "ragged-row-with-extra-fields",
        csv_text(list(ROWS) + [ROWS[0] + ",9,9"]),
        {},
        ["could not be read as a CSV table", "line 6"],
    ),
    (
        "headerless-with-wrong-width",
        csv_text([r[: r.rfind(",", 0, r.rfind(","))] for r in ROWS], header=None),
        {},
        ["no header line and 12 columns", "or add a header line"],
    ),
    ("one-huge-number-line", csv_text(list(ROWS) + ["9" * 100_000]), {}, ["Column 'age'", "data row 5"]),
    ("over-the-row-cap", csv_text(ROWS * 3), {"max_rows": 10}, ["more than 10 data rows"]),
    ("over-the-byte-cap", csv_text(), {"max_bytes": 100}, ["larger than the upload limit"]),
    ("empty-bytes", b"", {}, ["the file is empty"]),
    ("only-blank-lines", b"\n\r\n  \n", {}, ["the file is empty"]),
    ("path-to-a-directory", Path("/"), {}, ["could not be opened"]),
    ("path-that-does-not-exist", Path("/nonexistent/heart.csv"), {}, ["could not be opened"]),
]


@pytest.mark.parametrize(
    "content, limits, words",
    [pytest.param(c.encode("utf-8") if isinstance(c, str) else c, lim, w, id=i) for i, c, lim, w in REFUSED_UPLOADS],
)
def test_malformed_upload_is_refused_with_a_clear_reason(content, limits, words):
    text = refusal(content, **limits)
    for word in words:
        assert word in text, f"{word!r} missing from:\n{text}"


def test_over_the_byte_cap_from_a_file_object_and_a_path(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(csv_text(ROWS * 50))
    for source in (path, str(path), io.BytesIO(path.read_bytes())):
        assert "larger than the upload limit of" in refusal(source, max_bytes=1024)


# Files that are odd but fine: accepted, and the report says what was done.
ACCEPTED_UPLOADS = [
    ("utf-8-bom", "\ufeff" + csv_text(), []),
    ("windows-line-endings", csv_text().replace("\n", "\r\n"), []),
    ("old-mac-line-endings", csv_text().replace("\n", "\r"), []),
    ("extra-columns", csv_text([r + ",x" for r in ROWS], HEADER + ",comment"), ["ignored column(s)", "comment"]),
    ("nan-string-is-a-missing-value", with_cell("chol", "NaN"), ["missing values", "chol 1"]),
    ("question-mark-is-a-missing-value", with_cell("ca", "?", row=1), ["missing values", "ca 1"]),
    ("header-in-capitals-with-spaces", csv_text(header=", ".join(c.upper() for c in COLUMNS)), []),
    ("semicolon-separated", csv_text([r.replace(",", ";") for r in ROWS], HEADER.replace(",", ";")), []),
    ("uci-num-becomes-target", csv_text(header=HEADER.replace("target", "num")), ["UCI num > 0"]),
    ("no-target-column", _drop_column("target"), ["no target column"]),
]


@pytest.mark.parametrize("content, words", [pytest.param(c, w, id=i) for i, c, w in ACCEPTED_UPLOADS])
def test_odd_but_valid_upload_is_accepted_and_explained(content, words):
    result = read_user_csv(content.encode("utf-8"))
    assert result.report.ok, result.report.as_text()
    assert list(result.frame.columns[:13]) == list(FEATURE_NAMES) and len(result.frame) == len(ROWS)
    for word in words:
        assert word in result.report.as_text()


def test_utf16_csv_is_read_or_refused_naming_the_encoding():
    result = read_user_csv(csv_text().encode("utf-16"))
    if result.frame is None:
        assert "UTF-16" in result.report.as_text() or "encoding" in result.report.as_text()


WIDE = 2_000


def test_very_wide_header_is_refused_with_a_short_message():
    header = ",".join(f"c{i}" for i in range(WIDE))
    text = refusal((header + "\n" + ",".join("1" for _ in range(WIDE)) + "\n").encode())
    assert "columns" in text and len(text) < 2_000


def test_million_column_header_is_refused():
    header = ",".join(f"c{i}" for i in range(10**6))
    assert "columns" in refusal((header + "\n").encode())


# ============================================================================= validate_frame on odd frames


def sample_frame() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv_text()))


def test_validate_frame_with_names_equal_after_case_folding():
    frame = sample_frame().assign(AGE=50)
    report = validate_frame(frame)
    assert not report.ok and "more than once" in report.as_text() and "age" in report.as_text()


def test_validate_frame_with_unhashable_cells():
    frame = sample_frame().astype({"age": object})
    frame.at[0, "age"] = [63]
    report = validate_frame(frame)
    assert not report.ok and "Column 'age'" in report.as_text() and "not a number" in report.as_text()


def test_validate_frame_with_an_integer_beyond_float_range():
    frame = sample_frame().astype({"chol": object})
    frame.at[0, "chol"] = 10**400
    report = validate_frame(frame)
    assert not report.ok and "Column 'chol'" in report.as_text()


# ============================================================================= the patient form (check_patient)

TYPICAL = {
    "age": 54,
    "sex": 1,
    "cp": 4,
    "trestbps": 130,
    "chol": 240,
    "fbs": 0,
    "restecg": 0,
    "thalach": 150,
    "exang": 0,
    "oldpeak": 1.0,
    "slope": 2,
    "ca": 0,
    "thal": 3,
}


def test_the_typical_patient_passes():
    checked = check_patient(TYPICAL)
    assert checked.ok and not checked.warnings and checked.imputed == ()


# (id, changes, field, words in the field's message)
BAD_PATIENTS = [
    ("age-below-possible", {"age": 5}, "age", ["Age", "below the possible minimum 18"]),
    ("age-above-possible", {"age": 200}, "age", ["Age", "above the possible maximum 110"]),
    ("age-negative", {"age": -40}, "age", ["below the possible minimum"]),
    ("age-fraction", {"age": 54.5}, "age", ["whole number"]),
    ("age-text", {"age": "fifty"}, "age", ["'fifty' is not a number"]),
    ("age-empty-text", {"age": ""}, "age", ["Age"]),
    ("age-list", {"age": [54]}, "age", ["not a number"]),
    ("age-infinite", {"age": math.inf}, "age", ["not a finite number"]),
    ("age-missing-where-required", {"age": None}, "age", ["Age is required"]),
    ("bp-nan-where-required", {"trestbps": math.nan}, "trestbps", ["Resting blood pressure is required"]),
    ("key-absent-where-required", {"cp": "<absent>"}, "cp", ["Chest pain type is required"]),
    ("sex-code-2", {"sex": 2}, "sex", ["not one of the codes", "0 = Female"]),
    ("cp-kaggle-code-0", {"cp": 0}, "cp", ["Chest pain type", "not one of the codes"]),
    ("thal-kaggle-code-2", {"thal": 2}, "thal", ["Thallium", "3 = Normal"]),
    ("ca-four-vessels", {"ca": 4}, "ca", ["above the possible maximum 3"]),
    ("oldpeak-below-possible", {"oldpeak": -5.0}, "oldpeak", ["ST depression", "below"]),
    ("trestbps-as-a-boolean", {"trestbps": True}, "trestbps", ["below the possible minimum 60"]),
    ("thalach-text-with-unit", {"thalach": "150 bpm"}, "thalach", ["not a number"]),
]


@pytest.mark.parametrize("changes, field, words", [pytest.param(c, f, w, id=i) for i, c, f, w in BAD_PATIENTS])
def test_bad_form_value_is_refused_for_its_field(changes, field, words):
    values = {**TYPICAL, **changes}
    values = {k: v for k, v in values.items() if v != "<absent>"}
    checked = check_patient(values)
    assert not checked.ok and set(checked.errors) == {field}, checked.errors
    for word in words:
        assert word in checked.errors[field]
    assert math.isnan(checked.values[field])


def test_unknown_is_imputed_only_where_allowed():
    checked = check_patient({**TYPICAL, "ca": None, "thal": math.nan})
    assert checked.ok and checked.imputed == ("ca", "thal")
    # Only what a clinician always has is required (issue 11: lab and exercise-test values may be unknown).
    assert [f.name for f in FEATURES if not f.unknown_allowed] == ["age", "sex", "cp", "trestbps"]


def test_unknown_form_keys_are_ignored_and_all_problems_listed_at_once():
    checked = check_patient({**TYPICAL, "smoker": "yes", "age": 5, "sex": 7, "trestbps": None})
    assert set(checked.errors) == {"age", "sex", "trestbps"}


def test_form_integer_beyond_float_range():
    checked = check_patient({**TYPICAL, "age": 10**400})
    assert "age" in checked.errors and "finite" in checked.errors["age"]


# ============================================================================= configuration (ANNConfig)


def config_with(**changes) -> dict:
    data = ANNConfig().to_dict()
    data.update(changes)
    return data


def layer(**changes) -> list:
    return [{"units": 8, "activation": "relu", "dropout": 0.0, **changes}]


# (id, JSON text or dict, field, words in the message)
BAD_CONFIGS = [
    (
        "zero-units",
        config_with(hidden_layers=layer(units=0)),
        "hidden_layers[0].units",
        [f"from 1 to {MAX_UNITS_PER_LAYER}"],
    ),
    (
        "a-billion-units",
        config_with(hidden_layers=layer(units=10**9)),
        "hidden_layers[0].units",
        [f"from 1 to {MAX_UNITS_PER_LAYER}", "1000000000"],
    ),
    ("units-as-text", config_with(hidden_layers=layer(units="16")), "hidden_layers[0].units", ["whole number"]),
    ("units-fractional", config_with(hidden_layers=layer(units=2.5)), "hidden_layers[0].units", ["whole number"]),
    (
        "nine-layers",
        config_with(hidden_layers=layer() * (MAX_HIDDEN_LAYERS + 1)),
        "hidden_layers",
        [f"at most {MAX_HIDDEN_LAYERS} hidden layers", "got 9"],
    ),
    (
        "unknown-activation",
        config_with(hidden_layers=layer(activation="swish")),
        "hidden_layers[0].activation",
        ["must be one of", "'relu'", "'swish'"],
    ),
    (
        "activation-wrong-case",
        config_with(hidden_layers=layer(activation="ReLU")),
        "hidden_layers[0].activation",
        ["must be one of"],
    ),
    ("dropout-one", config_with(hidden_layers=layer(dropout=1.0)), "hidden_layers[0].dropout", ["[0, 1)"]),
    ("dropout-negative", config_with(hidden_layers=layer(dropout=-0.1)), "hidden_layers[0].dropout", ["[0, 1)"]),
    (
        "unknown-layer-key",
        config_with(hidden_layers=layer(neurons=3)),
        "hidden_layers[0].neurons",
        ["unknown field", "units"],
    ),
    ("layer-not-an-object", config_with(hidden_layers=[16, 8]), "hidden_layers[0]", ["must be an object"]),
    ("layers-as-an-object", config_with(hidden_layers={"units": 8}), "hidden_layers", ["must be a list"]),
    ("learning-rate-zero", config_with(learning_rate=0), "learning_rate", ["(0, 10]"]),
    ("learning-rate-negative", config_with(learning_rate=-0.01), "learning_rate", ["(0, 10]", "-0.01"]),
    ("learning-rate-nan", '{"learning_rate": NaN}', "learning_rate", ["finite number"]),
    ("learning-rate-infinity", '{"learning_rate": Infinity}', "learning_rate", ["finite number"]),
    ("learning-rate-text", config_with(learning_rate="0.01"), "learning_rate", ["finite number"]),
    ("epochs-zero", config_with(epochs=0), "epochs", [f"from 1 to {MAX_EPOCHS}"]),
    ("epochs-ten-million", config_with(epochs=10**7), "epochs", [f"from 1 to {MAX_EPOCHS}", "10000000"]),
    ("epochs-boolean", config_with(epochs=True), "epochs", ["whole number"]),
    ("batch-size-zero", config_with(batch_size=0), "batch_size", ["or None for the full batch"]),
    ("batch-size-negative", config_with(batch_size=-32), "batch_size", ["whole number"]),
    ("unknown-optimizer", config_with(optimizer="adamw"), "optimizer", ["must be one of", "'adam'", "'adamw'"]),
    ("optimizer-null", config_with(optimizer=None), "optimizer", ["must be one of"]),
    ("beta1-is-one", config_with(betas=[1.0, 0.999]), "betas[0]", ["[0, 1)"]),
    ("beta2-negative", config_with(betas=[0.9, -0.1]), "betas[1]", ["[0, 1)"]),
    ("betas-one-number", config_with(betas=[0.9]), "betas", ["pair"]),
    ("betas-as-text", config_with(betas="0.9,0.999"), "betas", ["pair"]),
    ("momentum-one", config_with(momentum=1.0), "momentum", ["[0, 1)"]),
    ("nesterov-without-momentum", config_with(optimizer="nesterov", momentum=0.0), "momentum", ["Nesterov"]),
    ("seed-negative", config_with(seed=-1), "seed", ["whole number from 0"]),
    ("seed-too-large", config_with(seed=2**32), "seed", ["whole number from 0"]),
    ("early-stopping-as-text", config_with(early_stopping="yes"), "early_stopping", ["true or false"]),
    ("validation-fraction-too-large", config_with(validation_fraction=0.9), "validation_fraction", ["[0.05, 0.5]"]),
    ("unknown-class-weight", config_with(class_weight="auto"), "class_weight", ["'balanced'"]),
    ("unknown-device", config_with(device="tpu"), "device", ["'cuda'"]),
    ("patience-zero", config_with(patience=0), "patience", ["whole number"]),
    ("weight-decay-negative", config_with(weight_decay=-1e-4), "weight_decay", ["[0, 10]"]),
    ("unknown-top-level-key", '{"dropout": 0.5}', "dropout", ["unknown field", "hidden_layers"]),
    ("json-list", "[1, 2, 3]", "config", ["JSON object", "list"]),
    ("json-string", '"adam"', "config", ["JSON object", "str"]),
    ("json-null", "null", "config", ["JSON object", "NoneType"]),
    ("truncated-json", '{"epochs": 10, "hidden_layers": [{"units": 8', "config", ["not valid JSON"]),
    ("json-with-comments", '{\n  // the default network\n  "epochs": 10\n}', "config", ["not valid JSON"]),
    ("json-with-trailing-comma", '{"epochs": 10,}', "config", ["not valid JSON"]),
    ("python-literal-not-json", "{'epochs': 10}", "config", ["not valid JSON"]),
    ("empty-text", "", "config", ["not valid JSON"]),
    ("undecodable-bytes", b"\xff\xfe\x00{", "config", ["not valid JSON"]),
    ("too-many-digits", '{"epochs": 1' + "0" * 5000 + "}", "config", ["not valid JSON"]),
]


def parse_config(source):
    return ANNConfig.from_dict(source) if isinstance(source, dict) else ANNConfig.from_json(source)


@pytest.mark.parametrize("source, field, words", [pytest.param(s, f, w, id=i) for i, s, f, w in BAD_CONFIGS])
def test_absurd_configuration_is_refused_naming_the_field(source, field, words):
    with pytest.raises(ConfigError) as raised:
        parse_config(source)
    assert raised.value.field == field
    for word in words:
        assert word in raised.value.message, raised.value.message
    assert str(raised.value).startswith(field)


def test_every_problem_of_a_config_is_listed_for_the_form():
    config = ANNConfig(epochs=0, learning_rate=-1.0, optimizer="adamw", batch_size=0)
    assert {e.field for e in config.errors()} == {"epochs", "learning_rate", "optimizer", "batch_size"}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"learning_rate": 1' + "0" * 400 + "}", id="learning-rate"),
        pytest.param('{"hidden_layers": [{"units": 8, "dropout": 1' + "0" * 400 + "}]}", id="dropout"),
        pytest.param('{"betas": [1' + "0" * 400 + ", 0.9]}", id="beta"),
    ],
)
def test_integer_beyond_float_range_in_a_config(text):
    with pytest.raises(ConfigError):
        ANNConfig.from_json(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 100_000, id="top-level"),
        pytest.param('{"epochs": ' + "[" * 100_000 + "]" * 100_000 + "}", id="in-a-field"),
    ],
)
def test_deeply_nested_json_config(text):
    with pytest.raises(ConfigError) as raised:
        ANNConfig.from_json(text)
    assert raised.value.field in ("config", "epochs")


def test_empty_key_is_named_visibly():
    with pytest.raises(ConfigError) as raised:
        ANNConfig.from_json('{"": 1}')
    assert "''" in str(raised.value) or '""' in str(raised.value)


# ============================================================================= saved models (load_bundle)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A real, tiny bundle (one hidden layer of 4 units, 3 epochs) for the corruption cases."""
    from model.data.datasets import load_dataset
    from model.evaluation.pipelines import ann_pipeline

    data = load_dataset().sample(80, random_state=0)
    pipeline = ann_pipeline(
        hidden_units=[4], dropout=0.5, epochs=3, optimizer="gd", batch_size=None, device="cpu", seed=0
    )
    pipeline.fit(data[list(FEATURE_NAMES)], data["target"])
    return save_bundle(pipeline, tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture
def copy_of(bundle, tmp_path):
    def make() -> Path:
        return Path(shutil.copytree(bundle, tmp_path / "bundle"))

    return make


def test_the_untouched_bundle_loads(bundle):
    assert load_bundle(bundle).metadata["bundle_format"] == BUNDLE_FORMAT


class WritesMarker:
    """Unpickling this creates `marker`: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _json_edit(name: str, edit):
    def apply(folder: Path):
        path = folder / name
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return apply


def _write(name: str, content):
    def apply(folder: Path):
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return apply


def _delete(name: str):
    return lambda folder: (folder / name).unlink()


def _truncate_weights(folder: Path):
    path = folder / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _weights(state):
    return lambda folder: torch.save(state, folder / WEIGHTS_FILE)


def _nan_weights(folder: Path):
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True)
    first = next(iter(state))
    state[first] = torch.full_like(state[first], float("nan"))
    torch.save(state, folder / WEIGHTS_FILE)


def _sparse(name: str, size: int):
    def apply(folder: Path):
        with open(folder / name, "r+b") as handle:
            handle.truncate(size)  # sparse: costs no disk

    return apply


def _replace_with_directory(name: str):
    def apply(folder: Path):
        (folder / name).unlink()
        (folder / name).mkdir()

    return apply


# (id, corruption, words in the message)
CORRUPT_BUNDLES = [
    ("missing-metadata", _delete(METADATA_FILE), [f"missing {METADATA_FILE}"]),
    ("missing-weights", _delete(WEIGHTS_FILE), [f"missing {WEIGHTS_FILE}"]),
    ("missing-config", _delete(CONFIG_FILE), [f"missing {CONFIG_FILE}"]),
    ("missing-preprocessing", _delete(PREPROCESSING_FILE), [f"missing {PREPROCESSING_FILE}"]),
    ("weights-is-a-directory", _replace_with_directory(WEIGHTS_FILE), [f"missing {WEIGHTS_FILE}"]),
    ("truncated-weights", _truncate_weights, [WEIGHTS_FILE, "corrupt"]),
    ("empty-weights", _write(WEIGHTS_FILE, b""), [WEIGHTS_FILE, "corrupt"]),
    ("text-as-weights", _write(WEIGHTS_FILE, "hello, I am not a tensor"), [WEIGHTS_FILE, "corrupt"]),
    ("weights-over-the-size-cap", _sparse(WEIGHTS_FILE, MAX_WEIGHTS_BYTES + 1), [WEIGHTS_FILE, "larger than"]),
    ("weights-hold-one-tensor", _weights(torch.zeros(3)), [WEIGHTS_FILE, "state_dict"]),
    ("weights-hold-a-list", _weights([torch.zeros(3)]), [WEIGHTS_FILE, "state_dict"]),
    ("weights-with-nan", _nan_weights, [WEIGHTS_FILE, "NaN"]),
    ("weights-of-another-shape", _weights({"layers.0.weight": torch.zeros(2, 2)}), [WEIGHTS_FILE, "does not match"]),
    ("metadata-json-garbage", _write(METADATA_FILE, "{{{ not json"), [METADATA_FILE, "not valid JSON", "line 1"]),
    ("metadata-binary", _write(METADATA_FILE, bytes(range(128, 256))), [METADATA_FILE, "not text"]),
    ("metadata-a-list", _write(METADATA_FILE, "[1, 2]"), [METADATA_FILE, "JSON object"]),
    ("metadata-over-the-size-cap", _sparse(METADATA_FILE, MAX_JSON_BYTES + 1), [METADATA_FILE, "larger than"]),
    (
        "newer-bundle-format",
        _json_edit(METADATA_FILE, lambda d: d.update(bundle_format=99)),
        ["format 99", "newer", "update the software"],
    ),
    ("bundle-format-zero", _json_edit(METADATA_FILE, lambda d: d.update(bundle_format=0)), ["unknown format 0"]),
    (
        "bundle-format-missing",
        _json_edit(METADATA_FILE, lambda d: d.pop("bundle_format")),
        [METADATA_FILE, "bundle_format"],
    ),
    (
        "bundle-format-as-text",
        _json_edit(METADATA_FILE, lambda d: d.update(bundle_format="1")),
        [METADATA_FILE, "bundle_format"],
    ),
    (
        "other-feature-schema",
        _json_edit(METADATA_FILE, lambda d: d.update(features=["age", "sex"])),
        ["other features"],
    ),
    ("config-json-garbage", _write(CONFIG_FILE, '{"epochs": '), [CONFIG_FILE, "not valid JSON"]),
    (
        "config-unknown-activation",
        _json_edit(CONFIG_FILE, lambda d: d["hidden_layers"][0].update(activation="swish")),
        [CONFIG_FILE, "not a valid network configuration", "activation"],
    ),
    (
        "config-disagrees-with-weights",
        _json_edit(CONFIG_FILE, lambda d: d["hidden_layers"][0].update(units=5)),
        [WEIGHTS_FILE, "does not match", CONFIG_FILE],
    ),
    (
        "preprocessing-other-columns",
        _json_edit(PREPROCESSING_FILE, lambda d: d["numeric"].update(columns=["x"])),
        [PREPROCESSING_FILE, "numeric columns"],
    ),
    (
        "preprocessing-zero-scale",
        _json_edit(
            PREPROCESSING_FILE, lambda d: d["numeric"].update(scale_scale=[0.0] * len(d["numeric"]["scale_scale"]))
        ),
        [PREPROCESSING_FILE, "scale_scale", "positive"],
    ),
    (
        "preprocessing-nan-median",
        _json_edit(
            PREPROCESSING_FILE,
            lambda d: d["numeric"].update(impute_median=[float("nan")] * len(d["numeric"]["impute_median"])),
        ),
        [PREPROCESSING_FILE, "finite"],
    ),
    (
        "preprocessing-other-categories",
        _json_edit(PREPROCESSING_FILE, lambda d: d["categorical"].update(categories=[[0.0, 1.0]])),
        [PREPROCESSING_FILE, "category codes"],
    ),
]


@pytest.mark.parametrize("corrupt, words", [pytest.param(c, w, id=i) for i, c, w in CORRUPT_BUNDLES])
def test_corrupt_bundle_is_refused_naming_the_file(copy_of, corrupt, words):
    folder = copy_of()
    corrupt(folder)
    with pytest.raises(BundleError) as raised:
        load_bundle(folder)
    for word in words:
        assert word in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    "where, words",
    [
        ("nowhere", "no model bundle"),
        ("empty-dir", f"missing {METADATA_FILE}"),
        ("a-csv-file", "is a file"),
    ],
)
def test_a_path_that_is_no_bundle(tmp_path, where, words):
    path = tmp_path / where
    if where == "empty-dir":
        path.mkdir()
    elif where == "a-csv-file":
        path.write_text(csv_text())
    with pytest.raises(BundleError) as raised:
        load_bundle(path)
    assert words in str(raised.value) and str(path) in str(raised.value)


# ----------------------------------------------------------------------------- zipped bundles (uploads)


def zipped(folder: Path, *, prefix: str = "", skip=(), extra=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.name not in skip:
                archive.write(path, prefix + path.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zipped_bundle_loads_from_a_path_and_from_bytes(bundle, tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(zipped(bundle, prefix="tiny/"))
    assert load_bundle(path).metadata["bundle_format"] == BUNDLE_FORMAT
    assert load_bundle_archive(path.read_bytes()).metadata["bundle_format"] == BUNDLE_FORMAT


def _zip_with_pickled_weights(bundle: Path, marker: Path) -> bytes:
    return zipped(
        bundle,
        skip=(WEIGHTS_FILE,),
        extra={WEIGHTS_FILE: pickle.dumps({"layers.0.weight": WritesMarker(marker)}, protocol=2)},
    )


def _zip_bomb(bundle: Path) -> bytes:
    return zipped(bundle, skip=(WEIGHTS_FILE,), extra={WEIGHTS_FILE: bytes(MAX_WEIGHTS_BYTES + 1)})


# (id, make zip bytes from the bundle folder, words in the message)
BAD_ZIPS = [
    ("missing-metadata", lambda b: zipped(b, skip=(METADATA_FILE,)), [f"missing {METADATA_FILE}", "the zip"]),
    ("files-nested-too-deep", lambda b: zipped(b, prefix="a/b/"), [f"missing {METADATA_FILE}"]),
    ("truncated-zip", lambda b: zipped(b)[:200], ["not a readable zip"]),
    ("random-bytes", lambda b: bytes(range(256)) * 8, ["not a readable zip"]),
    ("empty-zip", lambda b: zipped(b, skip=BUNDLE_FILES), [f"missing {METADATA_FILE}"]),
    ("compressed-weights-over-the-cap", _zip_bomb, [WEIGHTS_FILE, "larger than"]),
    (
        "corrupt-config-inside",
        lambda b: zipped(b, skip=(CONFIG_FILE,), extra={CONFIG_FILE: "{"}),
        [CONFIG_FILE, "not valid JSON"],
    ),
]


@pytest.mark.parametrize("make, words", [pytest.param(m, w, id=i) for i, m, w in BAD_ZIPS])
def test_a_bad_zipped_bundle_is_refused(bundle, make, words):
    with pytest.raises(BundleError) as raised:
        load_bundle_archive(make(bundle))
    for word in words:
        assert word in str(raised.value), str(raised.value)
    assert "/tmp" not in str(raised.value)  # speaks of the zip, not of a temporary folder


def test_a_zip_member_named_with_dot_dots_is_never_written_outside(bundle, tmp_path):
    escape = tmp_path / "escaped.txt"
    metadata = (bundle / METADATA_FILE).read_bytes()
    data = zipped(
        bundle, skip=(METADATA_FILE,), extra={f"../../../../../../../..{escape}": "x", "../" + METADATA_FILE: metadata}
    )
    with contextlib.suppress(BundleError):  # refusing the zip is fine; writing outside is not
        load_bundle_archive(data)
    assert not escape.exists()


def test_a_pickle_disguised_as_weights_in_a_zip_is_not_run(bundle, tmp_path):
    marker = tmp_path / "pickle-in-zip-was-executed"
    with pytest.raises(BundleError) as raised:
        load_bundle_archive(_zip_with_pickled_weights(bundle, marker))
    assert WEIGHTS_FILE in str(raised.value)
    assert not marker.exists()


@pytest.mark.parametrize("disguise", ["raw-pickle", "torch-save-zip"])
def test_a_pickle_disguised_as_weights_is_refused_without_running_it(copy_of, tmp_path, disguise):
    folder = copy_of()
    marker = tmp_path / "pickle-was-executed"
    payload = {"layers.0.weight": WritesMarker(marker)}
    if disguise == "raw-pickle":
        (folder / WEIGHTS_FILE).write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, folder / WEIGHTS_FILE)
    assert not marker.exists()
    with pytest.raises(BundleError) as raised:
        load_bundle(folder)
    assert not marker.exists(), "the pickle was executed"
    assert WEIGHTS_FILE in str(raised.value) and "not a torch state_dict" in str(raised.value)
    # the control: the same file really does run when unpickled carelessly
    with contextlib.suppress(RuntimeError):  # a raw pickle runs first, then fails torch's magic-number check
        torch.load(folder / WEIGHTS_FILE, weights_only=False)
    assert marker.exists()


def test_only_the_four_bundle_files_are_read(copy_of, tmp_path):
    """A stray pickle beside the bundle files is never opened."""
    folder = copy_of()
    marker = tmp_path / "stray-pickle-was-executed"
    for name in ("model.pkl", "pipeline.joblib", "weights.pt.bak"):
        (folder / name).write_bytes(pickle.dumps(WritesMarker(marker), protocol=2))
    load_bundle(folder)
    assert not marker.exists() and set(BUNDLE_FILES) <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(_json_edit(METADATA_FILE, lambda d: d.update(features=5)), id="metadata-features-a-number"),
        pytest.param(
            _json_edit(PREPROCESSING_FILE, lambda d: d["numeric"].update(columns=5)),
            id="preprocessing-columns-a-number",
        ),
        pytest.param(
            _json_edit(PREPROCESSING_FILE, lambda d: d.update(output_columns=5)),
            id="preprocessing-output-columns-a-number",
        ),
        pytest.param(_write(METADATA_FILE, "[" * 100_000), id="deeply-nested-metadata"),
        pytest.param(_write(CONFIG_FILE, '{"learning_rate": 1' + "0" * 400 + "}"), id="huge-integer-in-config"),
    ],
)
def test_bundle_json_that_breaks_the_loader(copy_of, corrupt):
    folder = copy_of()
    corrupt(folder)
    with pytest.raises(BundleError):
        load_bundle(folder)


# ============================================================================= the form through a real model


def test_predict_risk_refuses_an_impossible_patient_naming_every_field(bundle):
    pipeline = load_bundle(bundle)
    with pytest.raises(PatientError) as raised:
        predict_risk(pipeline, {**TYPICAL, "age": 500, "thal": 2}, n_passes=2)
    assert set(raised.value.errors) == {"age", "thal"}
    assert "Age" in str(raised.value) and "Thallium" in str(raised.value)


def test_training_on_a_single_class_target_is_refused():
    from model.evaluation.pipelines import ann_pipeline

    frame = pd.read_csv(io.StringIO(csv_text()))
    frame["target"] = 0
    with pytest.raises(ValueError, match="class"):
        ann_pipeline(hidden_units=[2], epochs=1, device="cpu").fit(frame[list(FEATURE_NAMES)], frame["target"])


def test_a_model_trained_with_an_all_empty_column_can_be_saved_and_loaded_back(tmp_path):
    from model.data.datasets import load_dataset
    from model.evaluation.pipelines import ann_pipeline

    data = load_dataset().sample(60, random_state=1)
    data["chol"] = np.nan
    pipeline = ann_pipeline(hidden_units=[2], epochs=2, device="cpu", seed=0)
    with pytest.warns(UserWarning):  # scikit-learn: "Skipping features without any observed values"
        pipeline.fit(data[list(FEATURE_NAMES)], data["target"])
    try:
        saved = save_bundle(pipeline, tmp_path / "empty-chol")
    except BundleError as refused:  # refusing to save, with the reason, is fine too
        assert "chol" in str(refused)
        return
    assert load_bundle(saved).predict_proba(data[list(FEATURE_NAMES)]).shape == (len(data), 2)
