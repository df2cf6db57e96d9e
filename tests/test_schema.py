"""The one feature schema: its API, its checks, and that the real UCI data fits it."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.data.schema import (
    BINARY,
    CATEGORICAL,
    COLUMNS,
    FEATURE_NAMES,
    FEATURES,
    NUMERIC,
    TARGET,
    codebook_markdown,
    feature,
)

REPO_DATA_README = Path(__file__).resolve().parents[1] / "data" / "README.md"
UCI_COLUMNS = list(FEATURE_NAMES) + ["num"]


def test_thirteen_features_and_the_target():
    assert len(FEATURES) == 13
    assert COLUMNS == FEATURE_NAMES + ("target",)
    assert sorted(NUMERIC + BINARY + CATEGORICAL) == sorted(FEATURE_NAMES)
    assert TARGET.codes == (0, 1)


def test_every_feature_is_fully_described():
    for f in FEATURES:
        assert f.label and f.description
        if f.kind == "numeric":
            assert f.unit and f.hard_min < f.hard_max
            assert f.hard_min <= f.typical_min < f.typical_max <= f.hard_max
        else:
            assert f.categories, f.name


def test_feature_lookup_names_the_known_columns():
    assert feature("chol").unit == "mg/dL"
    with pytest.raises(KeyError, match="known: age, sex"):
        feature("cholesterol")


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, 233, 233.0, "233", np.int64(233)])
def test_check_accepts_possible_and_missing_values(value):
    assert feature("chol").check(value) is None


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("chol", 900, "above the possible maximum 700 mg/dL"),
        ("chol", 10, "below the possible minimum 70 mg/dL"),
        ("age", 41.5, "must be a whole number"),
        ("age", "forty", "is not a number"),
        ("oldpeak", float("inf"), "not a finite number"),
        ("cp", 0, "not one of the codes (1 = Typical angina, 2 = Atypical angina"),
        ("thal", 2, "3 = Normal, 6 = Fixed defect, 7 = Reversible defect"),
        ("ca", 4, "above the possible maximum 3"),
        ("target", 2, "not one of the codes (0 = No disease, 1 = Disease)"),
    ],
)
def test_check_names_the_feature_and_the_problem(name, value, expected):
    message = feature(name).check(value)
    assert message.startswith(feature(name).label)
    assert expected in message


def test_atypical_values_and_labels():
    thalach = feature("thalach")
    assert thalach.is_atypical(60) and not thalach.is_atypical(150) and not thalach.is_atypical(float("nan"))
    assert not feature("cp").is_atypical(4)
    assert feature("cp").category_label(4) == "Asymptomatic"
    assert feature("cp").category_label(9) == "9"
    assert feature("chol").label_with_unit() == "Serum cholesterol (mg/dL)"
    assert feature("sex").label_with_unit() == "Sex"


def test_every_value_of_the_four_uci_files_fits_the_schema(shared_data_dir):
    """Hard limits are set so that all real patients are possible (0 = not measured aside)."""
    for path in sorted(shared_data_dir.glob("processed.*.data")):
        frame = pd.read_csv(path, header=None, names=UCI_COLUMNS, na_values="?")
        for f in FEATURES:
            values = frame[f.name]
            if f.name in ("chol", "trestbps"):
                values = values.mask(values == 0)
            problems = {v: f.check(v) for v in values.dropna().unique() if f.check(v)}
            assert not problems, (path.name, problems)


def test_typical_range_is_the_cleveland_span(shared_data_dir):
    frame = pd.read_csv(shared_data_dir / "processed.cleveland.data", header=None, names=UCI_COLUMNS, na_values="?")
    for name in NUMERIC:
        f = feature(name)
        assert (frame[name].min(), frame[name].max()) == (f.typical_min, f.typical_max), name


def test_data_readme_embeds_the_codebook_generated_from_the_schema():
    assert codebook_markdown() in REPO_DATA_README.read_text(encoding="utf-8")
