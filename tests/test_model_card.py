"""model/clinic/model_card.py and dashboard/model_card_views.py: the card's decision-analysis, subgroup and predictor
sections from the metadata, and the pure builders that draw them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from _predict_models import ann_with_dropout, cleveland
from sklearn.linear_model import LogisticRegression

from dashboard import compare_decision_views
from dashboard.model_card_views import (
    SUBGROUP_COLUMNS,
    card_decision_figure,
    card_subgroup_frame,
    card_subgroup_styles,
    pairs_markdown,
    tripod_markdown,
)
from model.clinic.model_card import (
    DECISION_TITLE,
    NOT_RECORDED,
    SUBGROUPS_TITLE,
    TRAIN_WITH_CV,
    TRIPOD_TITLE,
    build_model_card,
)
from model.data.preprocessing import features_and_target
from model.data.schema import FEATURE_NAMES, feature
from model.evaluation.classical import with_preprocessing
from model.evaluation.cross_validation import cross_validate_models
from model.evaluation.decision_curves import TREAT_ALL, TREAT_NONE
from model.evaluation.subgroups import ALL_PATIENTS
from model.evaluation.validation_summary import validation_summary

DEFAULT_METADATA = Path(__file__).resolve().parents[1] / "model" / "resources" / "default_bundle" / "metadata.json"
BEFORE_IMAGING = [name for name in FEATURE_NAMES if name not in ("ca", "thal")]
# What a model trained on the Train page carries (model.serving.runs.TrainingRun.metadata): no cross-validation.
SESSION_METADATA = {
    "source": "training page",
    "run": "Run 1",
    "dataset": "Cleveland (built-in)",
    "status": "finished",
    "epochs_trained": 40,
    "validation_metrics": {"roc_auc": 0.9},
    "n_validation": 61,
    "device": "CPU",
}


@cache
def summary(min_size: int = 30) -> dict:
    frame = cleveland()
    X, y = features_and_target(frame)
    result = cross_validate_models(
        {"ANN": with_preprocessing(LogisticRegression(max_iter=2000))}, X, y, n_splits=5, n_repeats=2
    )
    return validation_summary(result, "ANN", frame, min_size=min_size, n_bootstrap=50)


def with_summary(**extra) -> dict:
    meta = json.loads(DEFAULT_METADATA.read_text(encoding="utf-8"))
    return {**meta, "validation_summary": summary(), **extra}


def test_a_session_trained_model_without_a_summary_says_how_to_get_one():
    card = build_model_card("Run 1", ann_with_dropout(), SESSION_METADATA)
    sections = dict(card.sections())
    for title in (DECISION_TITLE, SUBGROUPS_TITLE):
        assert isinstance(sections[title], str)
        assert "Not recorded" in sections[title] and TRAIN_WITH_CV in sections[title]
    assert sections["Predictors"] == [feature(name).label for name in FEATURE_NAMES]
    assert "from 13 routine clinical features" in card.intended_use
    assert card.validation_summary is None
    markdown = card.as_markdown()
    assert f"**{DECISION_TITLE}.** Not recorded" in markdown and f"**{TRIPOD_TITLE}**" in markdown


def test_the_first_sections_keep_their_order_and_kinds():
    """model/clinic/report.py reads sections(): the old sections come first, in the same order and kinds."""
    titles = [title for title, _ in build_model_card("M", ann_with_dropout(), {}).sections()]
    assert titles[:5] == ["Model", "Trained on", "Validated how", "Performance", "Calibration"]
    assert titles[-3:] == ["Intended use", "Limits", TRIPOD_TITLE]
    for title, body in build_model_card("M", ann_with_dropout(), with_summary()).sections():
        assert isinstance(body, str) or all(isinstance(item, (str, tuple)) for item in body), title
        if isinstance(body, list) and body and isinstance(body[0], tuple):
            assert all(len(pair) == 2 and all(isinstance(x, str) for x in pair) for pair in body), title


def test_decision_rows_read_the_stored_curve():
    card = build_model_card("M", ann_with_dropout(), with_summary())
    rows = dict(card.decision_section())
    curve = summary()["decision_curve"]
    at = curve["thresholds"].index(0.1)
    assert rows["Test from 10 % risk"].startswith(f"{curve['net_benefit'][at]:.3f} (testing everyone ")
    assert f"{curve['treat_all'][at]:.3f}" in rows["Test from 10 % risk"]
    assert "5-fold cross-validation repeated 2 times on 303 patients (138 with disease)" in rows["How computed"]
    assert rows["Better than testing everyone or no one"].startswith("at thresholds")
    assert "Caution" not in rows


def test_subgroup_rows_show_intervals_and_too_small():
    meta = {**with_summary(), "validation_summary": summary(min_size=60)}
    card = build_model_card("M", ann_with_dropout(), meta)
    rows = dict(card.subgroups_section())
    stored = {(r["grouping"], r["subgroup"]): r for r in summary(min_size=60)["subgroups"]["rows"]}
    everyone = stored[(ALL_PATIENTS, ALL_PATIENTS)]
    assert rows[ALL_PATIENTS].startswith("303 patients (138 with disease); ROC AUC ")
    assert f"{everyone['roc_auc']:.2f} [{everyone['auc_low']:.2f}–{everyone['auc_high']:.2f}]" in rows[ALL_PATIENTS]
    small = [key for key, r in stored.items() if r["verdict"] == "too small to say"]
    assert small
    for grouping, subgroup in small:
        assert "ROC AUC too small to say (" in rows[f"{grouping}: {subgroup}"]


def test_an_unreadable_summary_is_said_not_shown():
    meta = with_summary()
    meta["validation_summary"] = {**summary(), "n_events": 10_000}
    card = build_model_card("M", ann_with_dropout(), meta)
    text = dict(card.sections())[DECISION_TITLE]
    assert isinstance(text, str) and text.startswith("The recorded cross-validated summary could not be read")
    assert "n_events" in text and card.validation_summary is None


def test_a_recalibrated_model_warns_that_the_summary_is_of_the_original():
    card = build_model_card("M", ann_with_dropout(), with_summary(recalibration={"site": "Long Beach"}))
    assert "before its recalibration to Long Beach" in dict(card.decision_section())["Caution"]
    other = build_model_card("M", ann_with_dropout(), with_summary(n_training_rows=200))
    assert "trained on 200" in other.summary_caveat


def test_the_moment_of_care_sets_the_predictors_and_the_intended_use():
    meta = with_summary(moment_of_care={"name": "before-imaging", "features": BEFORE_IMAGING})
    card = build_model_card("M", ann_with_dropout(), meta)
    sections = dict(card.sections())
    assert sections["Predictors"] == [feature(name).label for name in BEFORE_IMAGING]
    assert sections["Moment of care"].startswith("Before imaging: ")
    assert "(not: Major vessels coloured, Thallium stress test)" in sections["Moment of care"]
    assert "from 11 routine clinical features, before imaging" in card.intended_use


@pytest.mark.parametrize(
    "record",
    [
        "before-imaging",
        {"name": "after lunch", "features": BEFORE_IMAGING},
        {"name": "before-imaging", "features": ["age", "age"]},
        {"name": "before-imaging", "features": []},
        {"name": ["x"] * 1000, "features": BEFORE_IMAGING},
        {"name": "before-imaging", "features": "age"},
    ],
)
def test_an_unreadable_moment_of_care_says_the_predictors_are_not_known(record):
    card = build_model_card("M", ann_with_dropout(), {"moment_of_care": record})
    predictors = dict(card.sections())["Predictors"]
    assert isinstance(predictors, str) and "could not be read" in predictors and len(predictors) < 600
    assert "routine clinical features." in card.intended_use and "13" not in card.intended_use


def test_markdown_table_cells_cannot_break_the_table():
    card = build_model_card("M", ann_with_dropout(), {"trained_on": "a | b", "data": {"name": "x"}})
    assert "a \\| b" in card.as_markdown()
    assert NOT_RECORDED not in dict(card.sections())["Trained on"]


# ------------------------------------------------------------------ the dashboard's pure builders
def test_the_card_uses_the_compare_pages_name_for_all_patients():
    assert ALL_PATIENTS == compare_decision_views.ALL_PATIENTS


def test_card_decision_figure_draws_the_model_and_both_defaults():
    card = build_model_card("M", ann_with_dropout(), with_summary())
    fig = card_decision_figure(card.validation_summary)
    names = [trace.name for trace in fig.data]
    assert "ANN" in names and TREAT_ALL in names and TREAT_NONE in names
    model = next(trace for trace in fig.data if trace.name == "ANN")
    np.testing.assert_array_equal(model.y, summary()["decision_curve"]["net_benefit"])
    assert fig.layout.height <= 460


def test_card_subgroup_frame_is_narrow_and_marks_too_small_rows():
    meta = {**with_summary(), "validation_summary": summary(min_size=60)}
    card = build_model_card("M", ann_with_dropout(), meta)
    frame = card_subgroup_frame(card.validation_summary)
    assert list(frame.columns) == list(SUBGROUP_COLUMNS)
    assert len(frame) == len(card.validation_summary.subgroups)
    styles = card_subgroup_styles(card.validation_summary)
    for (_, row), style, stored in zip(frame.iterrows(), styles, card.validation_summary.subgroups, strict=True):
        assert (row[SUBGROUP_COLUMNS[2]] == "too small to say") == stored.too_small
        assert bool(style[0]) == stored.too_small
    assert frame.iloc[0][SUBGROUP_COLUMNS[1]] == "303 (138)"


def test_tripod_markdown_greys_what_is_not_known():
    card = build_model_card("M", ann_with_dropout(), {"moment_of_care": {"name": "x", "features": ["[a]"]}})
    text = tripod_markdown(card.tripod)
    assert text.count("\n") == len(card.tripod) - 1
    assert "- **17 Ethical approval**: :gray[Not known: " in text
    for line in text.splitlines():
        if ":gray[" in line:
            assert line.endswith("]") and line.count("[") == line.count("]") == 1
    assert pairs_markdown([("a", "b")]) == "- **a**: b"
