"""model/clinic/tripod.py: every TRIPOD+AI item is answered from the card and its metadata, or says why not."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from _predict_models import ann_with_dropout, cleveland, logistic
from sklearn.linear_model import LogisticRegression

from model.clinic.model_card import DISCLAIMER, build_model_card
from model.clinic.tripod import KNOWN, NOT_APPLICABLE, NOT_KNOWN, TRIPOD_ITEMS, checklist_summary, tripod_checklist
from model.data.preprocessing import features_and_target
from model.data.schema import FEATURE_NAMES, feature
from model.evaluation.classical import with_preprocessing
from model.evaluation.cross_validation import cross_validate_models
from model.evaluation.validation_summary import validation_summary

DEFAULT_METADATA = Path(__file__).resolve().parents[1] / "model" / "resources" / "default_bundle" / "metadata.json"
BEFORE_IMAGING = [name for name in FEATURE_NAMES if name not in ("ca", "thal")]


@cache
def summary(with_sites: bool = False) -> dict:
    frame = cleveland()
    if with_sites:
        frame = frame.assign(site=np.where(np.arange(len(frame)) % 3 == 0, "hungarian", "cleveland"))
    X, y = features_and_target(frame)
    result = cross_validate_models(
        {"ANN": with_preprocessing(LogisticRegression(max_iter=2000))}, X, y, n_splits=5, n_repeats=2
    )
    return validation_summary(result, "ANN", frame, n_bootstrap=50)


def shipped_metadata() -> dict:
    return json.loads(DEFAULT_METADATA.read_text(encoding="utf-8"))


def items_of(metadata, pipeline=None) -> dict:
    card = build_model_card("Model", pipeline or ann_with_dropout(), metadata)
    return {item.item: item for item in card.tripod}


def test_the_checklist_has_every_item_of_tripod_ai_in_order():
    numbers = [number for number, _ in TRIPOD_ITEMS]
    assert len(numbers) == len(set(numbers)) == 52
    assert sorted({int("".join(c for c in n if c.isdigit())) for n in numbers}) == list(range(1, 28))
    card = build_model_card("Model", ann_with_dropout(), shipped_metadata())
    assert [item.item for item in card.tripod] == numbers


@pytest.mark.parametrize("metadata", [{}, "shipped", "shipped+summary"])
def test_each_item_is_filled_or_says_not_known_or_not_applicable(metadata):
    meta = {} if metadata == {} else shipped_metadata()
    if metadata == "shipped+summary":
        meta["validation_summary"] = summary()
    for item in items_of(meta).values():
        assert item.status in (KNOWN, NOT_KNOWN, NOT_APPLICABLE)
        assert item.text.strip()
        if item.status == NOT_KNOWN:
            assert item.answer().startswith("Not known: ")
        if item.status == NOT_APPLICABLE:
            assert item.answer().startswith("Not applicable: ")


def test_items_read_from_the_metadata_are_not_known_without_it():
    empty, shipped = items_of({}), items_of(shipped_metadata())
    for number in ("5a", "10", "12a", "16", "20a", "21", "23a"):
        assert empty[number].status == NOT_KNOWN, number
        assert shipped[number].status == KNOWN, number
    assert "303 patients (138 with disease)" in shipped["10"].text and "22 network inputs" in shipped["10"].text
    assert "5-fold cross-validation repeated 10 times" in shipped["12a"].text
    auc = shipped_metadata()["metrics"]["roc_auc"]["mean"]
    assert f"{auc:.3f}" in shipped["23a"].text  # the shipped ROC AUC, from the metadata
    assert "about 242 and tests on about 61" in shipped["21"].text
    assert shipped["18e"].status == KNOWN and "heart_cleveland.csv" in shipped["18e"].text
    assert empty["18e"].status == NOT_KNOWN


def test_texts_come_from_the_card_not_a_second_copy():
    meta = shipped_metadata()
    card = build_model_card("Model", ann_with_dropout(), meta)
    items = {item.item: item for item in card.tripod}
    assert items["26"].text == " ".join(card.limits)
    assert card.validation in items["12a"].text and card.model in items["22"].text
    assert card.intended_use in items["3b"].text
    assert DISCLAIMER not in items["26"].text  # the disclaimer is the card's own line, not a limit


def test_predictors_follow_the_moment_of_care():
    meta = {**shipped_metadata(), "moment_of_care": {"name": "before-imaging", "features": BEFORE_IMAGING}}
    items = items_of(meta)
    assert items["9a"].status == KNOWN and "Before imaging" in items["9a"].text
    definitions = items["9b"].text
    for name in FEATURE_NAMES:
        assert (feature(name).label + ":" in definitions) == (name in BEFORE_IMAGING), name
    assert "11 features" in items["27b"].text
    all13 = items_of(shipped_metadata())
    assert all(feature(name).label + ":" in all13["9b"].text for name in FEATURE_NAMES)


def test_an_unreadable_moment_of_care_makes_the_predictors_not_known():
    items = items_of({"moment_of_care": {"name": "before-imaging", "features": ["age", "blood type"]}})
    assert items["9a"].status == NOT_KNOWN and items["9b"].status == NOT_KNOWN
    assert "could not be read" in items["9a"].text


def test_class_weighting_is_read_from_the_fitted_pipeline():
    assert items_of({})["13"].text.startswith("None: no class weighting")
    data = cleveland()
    balanced = with_preprocessing(LogisticRegression(max_iter=2000, class_weight="balanced"))
    balanced.fit(data[list(FEATURE_NAMES)], data["target"])
    assert "'balanced'" in items_of({}, balanced)["13"].text
    assert items_of({}, logistic())["13"].text.startswith("None")
    card = build_model_card("Model", logistic(), {})
    assert {i.item: i for i in tripod_checklist(card, {}, pipeline=None)}["13"].status == NOT_KNOWN


def test_subgroups_sites_and_recalibration_fill_their_items():
    plain = items_of({**shipped_metadata(), "validation_summary": summary()})
    assert "sex and age band" in plain["14"].text and plain["12d"].status == NOT_KNOWN
    assert "decision curve" in plain["12e"].text
    sites = items_of({**shipped_metadata(), "validation_summary": summary(with_sites=True)})
    assert sites["12d"].status == KNOWN and sites["23b"].status == KNOWN
    assert "Hungarian Institute of Cardiology, Budapest: ROC AUC" in sites["23b"].text
    assert "Cleveland Clinic Foundation" in sites["6a"].text
    recalibrated = {
        **shipped_metadata(),
        "recalibration": {
            "site": "V.A. Medical Center, Long Beach",
            "cross_validated": {"brier_before": 0.25, "brier_after": 0.2},
        },
    }
    items = items_of(recalibrated)
    assert items["12f"].status == KNOWN and "Long Beach" in items["12f"].text
    assert "0.250 before, 0.200 after" in items["24"].text
    assert items_of(shipped_metadata())["24"].status == NOT_APPLICABLE


def test_hostile_metadata_values_give_not_known_not_errors():
    hostile = {
        "data": {"name": 5, "n_rows": -1, "prevalence": "half"},
        "cv": {"n_splits": True, "method": ["x"]},
        "training": {"epochs_run": "many", "best_epoch": None},
        "recalibration": "yes",
        "created": 12,
        "data_fingerprint": None,
        "n_inputs": 10**400,
    }
    items = items_of(hostile)
    assert items["10"].status == NOT_KNOWN and items["21"].status == NOT_KNOWN
    assert items["12f"].status == NOT_APPLICABLE


def test_checklist_summary_counts_the_known_items():
    card = build_model_card("Model", ann_with_dropout(), shipped_metadata())
    known = sum(item.status == KNOWN for item in card.tripod)
    assert checklist_summary(card.tripod).startswith(f"{known} of 52 items")
