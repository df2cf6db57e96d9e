"""Two shipped models for the moment of care: before imaging (no fluoroscopy, no thallium scan) and with imaging.

The before-imaging model must not depend on the imaging results at all (any value, or none, gives the same risk),
keep that through saving, loading and refitting, say so in its metadata (checked against what its preprocessing
does), and the Patient risk page must ask for the moment and hide, then show again, the imaging fields.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from _apptest import open_page, page_text
from sklearn.base import clone

import model
from model.clinic.explain import Explainer, contributions_are_complete
from model.clinic.patient_checks import check_patient, typical_patient
from model.clinic.probabilities import features_used
from model.clinic.risk import predict_risk
from model.data.datasets import load_dataset
from model.data.preprocessing import feature_groups, make_preprocessor
from model.data.schema import (
    BEFORE_IMAGING,
    FEATURE_NAMES,
    MOMENTS_OF_CARE,
    WITH_IMAGING,
    feature,
    moment_of_care,
)
from model.evaluation.pipelines import pipeline_from_config
from model.nn.presets import RECOMMENDED
from model.serving import bundle, bundle_files, default_model
from model.serving.bundle import BundleError, load_bundle, save_bundle

PAGE = "app_pages/predict.py"
RISK_LABEL = "Estimated probability of heart disease"
EXERCISE_ECG = ("thalach", "exang", "oldpeak", "slope")


@pytest.fixture(scope="module")
def cleveland() -> pd.DataFrame:
    return load_dataset("cleveland")


@pytest.fixture(scope="module")
def X(cleveland) -> pd.DataFrame:
    return cleveland[list(FEATURE_NAMES)]


def with_imaging_values(frame: pd.DataFrame, ca, thal) -> pd.DataFrame:
    changed = frame.copy()
    changed["ca"], changed["thal"] = ca, thal
    return changed


# ---- the schema --------------------------------------------------------------------------------------------


def test_the_two_feature_sets_are_the_ones_the_issue_names():
    before, with_imaging = moment_of_care(BEFORE_IMAGING), moment_of_care(WITH_IMAGING)
    assert set(before.features) == {
        "age",
        "sex",
        "cp",
        "trestbps",
        "chol",
        "fbs",
        "restecg",
        *EXERCISE_ECG,
    }
    assert before.left_out == ("ca", "thal")
    assert with_imaging.features == FEATURE_NAMES and with_imaging.left_out == ()
    assert [m.name for m in MOMENTS_OF_CARE] == [BEFORE_IMAGING, WITH_IMAGING]
    assert all(feature(name).from_imaging for name in before.left_out)


def test_an_unknown_moment_is_a_clear_error():
    with pytest.raises(ValueError, match="before-imaging, with-imaging"):
        moment_of_care("after lunch")
    with pytest.raises(ValueError, match="unknown moment of care"):
        model.load_default_model("cpu")
    with pytest.raises(ValueError, match="unknown feature"):
        make_preprocessor(["age", "cholesterol"])


# ---- the preprocessing and the pipeline -------------------------------------------------------------------


def test_a_left_out_feature_never_reaches_the_network(X):
    preprocessor = make_preprocessor(moment_of_care(BEFORE_IMAGING).features).fit(X)
    plain = preprocessor.transform(X)
    for ca, thal in ((0, 3), (3, 7), (np.nan, np.nan)):
        assert np.array_equal(plain, preprocessor.transform(with_imaging_values(X, ca, thal)))
    # Learned from the other features exactly as the full preprocessing does: only the imaging columns differ.
    full = make_preprocessor().fit(X).transform(X)
    groups = feature_groups(preprocessor)
    kept = [index for name in moment_of_care(BEFORE_IMAGING).features for index in groups[name]]
    assert np.array_equal(plain[:, kept], full[:, kept])
    imaging = [index for name in ("ca", "thal") for index in groups[name]]
    assert np.all(plain[:, imaging] == plain[0, imaging])  # one constant for every patient


def test_leaving_out_on_purpose_does_not_warn_of_missing_training_values(X, recwarn):
    make_preprocessor(moment_of_care(BEFORE_IMAGING).features).fit(X)
    assert not [w for w in recwarn if "no training value" in str(w.message)]


def test_the_before_imaging_network_ignores_the_imaging_results_and_so_does_its_clone(X, cleveland):
    config = RECOMMENDED.replace(epochs=5)
    pipeline = pipeline_from_config(config, moment_of_care(BEFORE_IMAGING).features).fit(X, cleveland["target"])
    assert features_used(pipeline) == moment_of_care(BEFORE_IMAGING).features
    base = pipeline.predict_proba(X)[:, 1]
    assert np.array_equal(base, pipeline.predict_proba(with_imaging_values(X, 3, 7))[:, 1])
    refitted = clone(pipeline).fit(X, cleveland["target"])
    assert features_used(refitted) == moment_of_care(BEFORE_IMAGING).features
    assert features_used(pipeline_from_config(config).fit(X, cleveland["target"])) == FEATURE_NAMES


# ---- the shipped models -------------------------------------------------------------------------------------


def test_each_shipped_model_has_its_own_features_and_cross_validated_figures(X):
    before, with_imaging = model.load_default_model(BEFORE_IMAGING), model.load_default_model(WITH_IMAGING)
    assert features_used(before) == moment_of_care(BEFORE_IMAGING).features
    assert features_used(with_imaging) == FEATURE_NAMES
    assert before.metadata["moment_of_care"] == {
        "name": BEFORE_IMAGING,
        "features": list(before.metadata["moment_of_care"]["features"]),
    }
    assert before.metadata["moment_of_care"]["features"] == list(moment_of_care(BEFORE_IMAGING).features)
    for loaded in (before, with_imaging):
        assert loaded.integrity_warning is None
        assert 0.5 < loaded.metadata["metrics"]["roc_auc"]["mean"] < 1
        assert loaded.metadata["cv"]["n_splits"] == 5 and loaded.metadata["cv"]["n_repeats"] == 10
    # The imaging results carry information: leaving them out costs discrimination, as it should.
    assert before.metadata["metrics"]["roc_auc"]["mean"] < with_imaging.metadata["metrics"]["roc_auc"]["mean"]
    risks = before.predict_proba(X)[:, 1]
    assert np.array_equal(risks, before.predict_proba(with_imaging_values(X, 2, 6))[:, 1])
    assert not np.array_equal(
        with_imaging.predict_proba(X)[:, 1], with_imaging.predict_proba(with_imaging_values(X, 2, 6))[:, 1]
    )


def test_the_call_without_a_moment_keeps_todays_model():
    assert model.load_default_model().metadata["name"] == "Recommended ANN"
    assert (
        model.load_default_model().metadata["data_fingerprint"]
        == (model.load_default_model(WITH_IMAGING).metadata["data_fingerprint"])
    )


def test_the_moment_survives_saving_and_a_hand_edited_claim_is_refused(tmp_path, X, cleveland):
    pipeline = pipeline_from_config(RECOMMENDED.replace(epochs=3), moment_of_care(BEFORE_IMAGING).features)
    pipeline.fit(X, cleveland["target"])
    saved = save_bundle(pipeline, tmp_path / "before", training_data=cleveland)
    loaded = load_bundle(saved)
    assert loaded.metadata["moment_of_care"]["name"] == BEFORE_IMAGING
    assert features_used(loaded) == moment_of_care(BEFORE_IMAGING).features
    assert features_used(clone(loaded.pipeline).fit(X, cleveland["target"])) == moment_of_care(BEFORE_IMAGING).features

    metadata_file = saved / bundle.METADATA_FILE
    metadata = json.loads(metadata_file.read_text())
    metadata["moment_of_care"] = {"name": WITH_IMAGING, "features": list(FEATURE_NAMES)}
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="moment_of_care"):
        load_bundle(saved)


def test_a_preprocessing_file_whose_left_out_features_were_not_filled_is_refused(tmp_path, X, cleveland):
    pipeline = pipeline_from_config(RECOMMENDED.replace(epochs=3), moment_of_care(BEFORE_IMAGING).features)
    saved = save_bundle(pipeline.fit(X, cleveland["target"]), tmp_path / "before")
    state_file = saved / bundle.PREPROCESSING_FILE
    state = json.loads(state_file.read_text())
    state["empty_features"] = []
    state_file.write_text(json.dumps(state))
    with pytest.raises(BundleError, match="unused_features"):
        load_bundle(saved)


def test_a_damaged_before_imaging_model_is_retrained_with_its_own_features(tmp_path, monkeypatch):
    copy = tmp_path / "shipped"
    shutil.copytree(bundle.BEFORE_IMAGING_BUNDLE, copy)
    (copy / bundle.WEIGHTS_FILE).write_bytes(b"not weights")
    monkeypatch.setattr(bundle_files, "BEFORE_IMAGING_BUNDLE", copy)
    recovered, notice = default_model.load_default_model_or_recover(cache_dir=tmp_path / "cache", moment=BEFORE_IMAGING)
    assert features_used(recovered) == moment_of_care(BEFORE_IMAGING).features
    assert "before imaging" in notice and "--moment before-imaging" in notice
    assert (tmp_path / "cache" / default_model.RECOVERED_FOLDERS[BEFORE_IMAGING]).exists()
    # the with-imaging model is not taken for the before-imaging one, nor the other way round
    again, _ = default_model.load_default_model_or_recover(cache_dir=tmp_path / "cache", moment=BEFORE_IMAGING)
    assert features_used(again) == moment_of_care(BEFORE_IMAGING).features


# ---- one patient ---------------------------------------------------------------------------------------------


def test_a_patient_before_imaging_is_not_asked_for_imaging_and_gets_no_unknown_range(cleveland):
    before = model.load_default_model(BEFORE_IMAGING)
    left_out = moment_of_care(BEFORE_IMAGING).left_out
    values = typical_patient(cleveland)
    checked = check_patient({k: v for k, v in values.items() if k not in left_out}, left_out=left_out)
    assert checked.ok and checked.imputed == () and checked.left_out == left_out
    risk = predict_risk(before.pipeline, checked)
    assert risk.unknown_range is None and risk.imputed == ()
    # The same risk as the model gives with any imaging values typed in: it cannot see them.
    assert risk.probability == pytest.approx(
        float(before.predict_proba(checked.frame().fillna({"ca": 3, "thal": 7}))[0, 1])
    )
    explanation = Explainer(before.pipeline, cleveland).explain(checked.frame(), risk.fillings)
    shown = set(explanation.table()["feature"])
    assert not shown & set(left_out) and explanation.unknown == ()
    assert contributions_are_complete(explanation)


def test_an_unknown_value_before_imaging_is_averaged_and_only_it_is_called_unknown(cleveland):
    before = model.load_default_model(BEFORE_IMAGING)
    left_out = moment_of_care(BEFORE_IMAGING).left_out
    values = dict(typical_patient(cleveland), chol=None)
    checked = check_patient(values, left_out=left_out)
    risk = predict_risk(before.pipeline, checked)
    assert risk.imputed == ("chol",) and risk.unknown_range is not None
    explanation = Explainer(before.pipeline, cleveland).explain(checked.frame(), risk.fillings)
    assert explanation.unknown == ("chol",)


# ---- the page -------------------------------------------------------------------------------------------------


def shown_risk(at) -> str | None:
    values = [m.value for m in at.metric if m.label == RISK_LABEL]
    return values[0] if values else None


def expected_percent(moment: str, values: dict) -> str:
    loaded = model.load_default_model(moment)
    checked = check_patient(values, left_out=moment_of_care(moment).left_out)
    return f"{predict_risk(loaded.pipeline, checked).percent:.0f} %"


def test_the_page_asks_the_moment_and_hides_then_shows_the_imaging_fields(cleveland):
    at = open_page(PAGE)
    assert at.radio(key="predict.moment").value == WITH_IMAGING
    at.selectbox(key="predict.field.thal").set_value(7)
    at.selectbox(key="predict.field.ca").set_value(2)
    at.selectbox(key="predict.whatif.feature").set_value("thal").run()  # the what-if looks at an imaging result
    typical = typical_patient(cleveland)
    assert shown_risk(at) == expected_percent(WITH_IMAGING, dict(typical, ca=2, thal=7))

    at.radio(key="predict.moment").set_value(BEFORE_IMAGING).run()
    assert not at.exception
    keys = {widget.key for widget in at.selectbox} | {widget.key for widget in at.number_input}
    assert "predict.field.ca" not in keys and "predict.field.thal" not in keys
    assert "known only from imaging" in page_text(at)
    whatif_options = at.selectbox(key="predict.whatif.feature").options  # labels: nothing to ask "what if" of
    assert feature("thal").label not in whatif_options and feature("age").label in whatif_options
    assert shown_risk(at) == expected_percent(BEFORE_IMAGING, typical)
    sidebar = " ".join(str(element.value) for element in at.sidebar.markdown)
    assert "Shipped default model (before imaging)" in sidebar  # every page names the model that answers

    at.radio(key="predict.moment").set_value(WITH_IMAGING).run()  # back: what was entered is still there
    assert at.selectbox(key="predict.field.ca").value == 2 and at.selectbox(key="predict.field.thal").value == 7
    assert shown_risk(at) == expected_percent(WITH_IMAGING, dict(typical, ca=2, thal=7))
