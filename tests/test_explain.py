"""model/clinic/explain.py: per-feature contributions, grouped one-hot columns, the model-agnostic fallback."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _predict_models import ann_with_dropout, ann_with_nameless_preprocessing, cleveland, logistic
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from model.clinic.explain import (
    IG_STEPS,
    NOT_GIVEN,
    POSTPROCESSED_OUTPUT,
    UNGROUPED_INPUTS,
    Explainer,
    contributions_are_complete,
    explain_patient,
    integrated_gradients,
)
from model.clinic.patient_checks import check_patient, typical_patient
from model.data.preprocessing import feature_groups
from model.data.schema import FEATURE_NAMES


@pytest.fixture(scope="module")
def patient():
    values = dict(typical_patient(cleveland()), cp=4, thalach=120, ca=None, oldpeak=2.5)
    return check_patient(values).frame()


def test_network_gets_integrated_gradients_with_one_value_per_feature(patient):
    explanation = explain_patient(ann_with_dropout(), patient, cleveland(), "Cleveland")
    assert "Integrated Gradients" in explanation.method
    # One-hot columns grouped back; the unknown vessels count is credited nothing (its own neutral row).
    assert list(explanation.contributions.index) == [name for name in FEATURE_NAMES if name != "ca"]
    assert explanation.unknown == ("ca",)
    assert "average patient of Cleveland" in explanation.reference
    # Completeness: the contributions add up to P(patient) - P(average patient).
    assert contributions_are_complete(explanation, tolerance=0.01)
    assert explanation.patient["oldpeak"] == 2.5 and np.isnan(explanation.patient["ca"])


def test_grouping_covers_every_network_input_once():
    groups = feature_groups(ann_with_dropout()[0])
    indices = sorted(i for idx in groups.values() for i in idx)
    assert indices == list(range(ann_with_dropout()[-1].n_features_in_))
    assert len(groups["cp"]) == 4 and len(groups["age"]) == 1


def test_table_ranks_by_size_and_names_values_clinically(patient):
    table = explain_patient(ann_with_dropout(), patient, cleveland()).table()
    sizes = table.loc[~table["neutral"], "contribution"].abs().to_numpy()
    assert np.all(sizes[:-1] >= sizes[1:])
    row = table.set_index("feature").loc["cp"]
    assert row["label"] == "Chest pain type" and row["value"] == "Asymptomatic"
    # The unknown vessels are credited nothing: one neutral row at the bottom stands for them.
    assert "ca" not in set(table["feature"]) and table.iloc[-1]["feature"] == NOT_GIVEN
    assert table.iloc[-1]["value"] == "averaged over plausible values"


def test_other_pipelines_get_exact_shapley_sampling(patient):
    explanation = explain_patient(logistic(), patient, cleveland(), "Cleveland")
    assert "Shapley" in explanation.method and "typical patient" in explanation.reference
    # Every sampled walk telescopes, so the sum is exact.
    assert explanation.total == pytest.approx(explanation.probability - explanation.baseline_probability, abs=1e-9)


def test_a_feature_equal_to_the_reference_gets_nothing():
    typical = typical_patient(cleveland())
    one_change = check_patient(dict(typical, thalach=100)).frame()
    explanation = Explainer(logistic(), cleveland()).explain(one_change)
    others = explanation.contributions.drop("thalach")
    assert np.allclose(others, 0.0)
    assert explanation.contributions["thalach"] == pytest.approx(explanation.total)


def test_explanations_are_reproducible(patient):
    first = explain_patient(logistic(), patient, cleveland()).contributions
    again = explain_patient(logistic(), patient, cleveland()).contributions
    pd.testing.assert_series_equal(first, again)


@pytest.mark.parametrize("make", [ann_with_dropout, logistic])
def test_reference_data_without_a_feature_still_explains(patient, make):
    # e.g. the Swiss site never records cholesterol: the reference patient's value is imputed.
    reference = cleveland().assign(chol=np.nan)
    explanation = Explainer(make(), reference, "no cholesterol").explain(patient)
    assert np.isfinite(explanation.contributions).all()
    assert np.isnan(typical_patient(reference)["chol"])


# ---- a network explained by Shapley value sampling says so, and the log says why -----------------------


def _explainer_warnings(caplog):
    return [r for r in caplog.records if r.name == "model.clinic.explain" and r.levelno == logging.WARNING]


def test_gradients_are_the_method_for_a_network_and_no_fallback_is_reported(patient, caplog):
    with caplog.at_level(logging.WARNING, logger="model.clinic.explain"):
        explanation = explain_patient(ann_with_dropout(), patient, cleveland())
    assert "Integrated Gradients" in explanation.method
    assert explanation.fallback_reason is None and explanation.fallback_text() is None
    assert _explainer_warnings(caplog) == []


def test_a_logistic_model_uses_shapley_sampling_as_its_method_not_as_a_fallback(patient, caplog):
    with caplog.at_level(logging.WARNING, logger="model.clinic.explain"):
        explanation = explain_patient(logistic(), patient, cleveland())
    assert "Shapley" in explanation.method and explanation.fallback_reason is None
    assert _explainer_warnings(caplog) == []


def test_a_network_whose_inputs_cannot_be_grouped_falls_back_loudly(patient, caplog):
    with caplog.at_level(logging.WARNING, logger="model.clinic.explain"):
        explainer = Explainer(ann_with_nameless_preprocessing(), cleveland(), "Cleveland")
        explanation = explainer.explain(patient)
    assert not explainer.uses_gradients
    assert "Shapley" in explanation.method and explanation.fallback_reason == UNGROUPED_INPUTS
    assert "Integrated Gradients" in explanation.fallback_text() and "Shapley" in explanation.fallback_text()
    assert contributions_are_complete(explanation, tolerance=1e-9)
    (record,) = _explainer_warnings(caplog)
    assert "Shapley" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is AttributeError  # the swallowed error, with traceback


class HalvedOutput(ClassifierMixin, BaseEstimator):
    """A final step that reports its network's probability changed, as a calibration step would."""

    def __init__(self, inner=None):
        self.inner = inner

    def fit(self, X, y):
        return self

    def __sklearn_is_fitted__(self):
        return True

    @property
    def network_(self):
        return self.inner.network_

    @property
    def classes_(self):
        return self.inner.classes_

    def predict_proba(self, X):
        disease = 0.5 * self.inner.predict_proba(X)[:, 1]
        return np.column_stack([1.0 - disease, disease])


def test_a_network_whose_output_is_changed_falls_back_loudly(patient, caplog):
    fitted = ann_with_dropout()
    pipeline = Pipeline([("preprocess", fitted[:-1]), ("halved", HalvedOutput(fitted[-1]))])
    with caplog.at_level(logging.WARNING, logger="model.clinic.explain"):
        explanation = Explainer(pipeline, cleveland(), "Cleveland").explain(patient)
    assert "Shapley" in explanation.method and explanation.fallback_reason == POSTPROCESSED_OUTPUT
    assert explanation.total == pytest.approx(explanation.probability - explanation.baseline_probability, abs=1e-9)
    (record,) = _explainer_warnings(caplog)
    assert "Shapley" in record.getMessage() and "HalvedOutput" in record.getMessage()


# ---- our Integrated Gradients against Captum's (the reference it replaces, for memory) ------------------------
@pytest.mark.parametrize("n_rows", [1, 7])
def test_integrated_gradients_equal_captums_on_the_shipped_kind_of_network(patient, n_rows):
    from captum.attr import IntegratedGradients

    from model.clinic.probabilities import network_inputs, split_network

    preprocess, network = split_network(ann_with_dropout())
    network = network.eval()
    rows = pd.concat([patient.fillna(0.0)] + [cleveland().sample(n_rows - 1, random_state=0)] * (n_rows > 1))
    inputs = network_inputs(preprocess, network, rows)
    baselines = network_inputs(preprocess, network, cleveland()).mean(dim=0, keepdim=True).expand(len(inputs), -1)

    def forward(x):
        return network.predict_proba(x).reshape(-1)

    ours = integrated_gradients(forward, inputs, baselines)
    captums = IntegratedGradients(forward).attribute(
        inputs, baselines=baselines, n_steps=IG_STEPS, method="gausslegendre"
    )
    assert ours.shape == captums.shape == inputs.shape
    assert torch.equal(ours, captums)


@pytest.mark.parametrize("n_steps", [1, 5, 50])
def test_integrated_gradients_equal_captums_on_a_random_network_and_are_complete(n_steps):
    from captum.attr import IntegratedGradients

    torch.manual_seed(n_steps)
    network = torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.Tanh(), torch.nn.Linear(9, 1), torch.nn.Sigmoid())

    def forward(x):
        return network(x).reshape(-1)

    inputs, baselines = torch.randn(4, 6), torch.randn(4, 6)
    ours = integrated_gradients(forward, inputs, baselines, n_steps=n_steps)
    captums = IntegratedGradients(forward).attribute(
        inputs, baselines=baselines, n_steps=n_steps, method="gausslegendre"
    )
    assert torch.equal(ours, captums)
    if n_steps == 50:  # completeness: each row's attributions add up to f(input) - f(baseline)
        with torch.no_grad():
            gap = forward(inputs) - forward(baselines)
        assert torch.allclose(ours.sum(dim=1), gap, atol=1e-4)


def test_explaining_a_network_does_not_import_captum(tmp_path):
    """captum.attr imports matplotlib and IPython (about 48 MB of the dashboard server's memory)."""
    script = tmp_path / "explain_once.py"
    script.write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]\n"
        "from _predict_models import ann_with_dropout, cleveland\n"
        "from model.clinic.explain import explain_patient\n"
        "from model.clinic.patient_checks import typical_patient, check_patient\n"
        "patient = check_patient(typical_patient(cleveland())).frame()\n"
        "explanation = explain_patient(ann_with_dropout(), patient, cleveland(), 'Cleveland')\n"
        "assert 'Integrated Gradients' in explanation.method, explanation.method\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'captum', 'matplotlib', 'IPython'}))\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
