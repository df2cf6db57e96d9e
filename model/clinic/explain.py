"""Why the model gave this patient this risk: one contribution per clinical feature.

Two methods, both measured in probability (percentage points of risk) against a reference
patient built from a reference data set (the built-in data or the dataset in use):

- **Integrated Gradients** when the pipeline ends in our torch network: gradients of
  P(disease) are integrated along the straight line from the *average* preprocessed
  reference patient to this patient, over the network's preprocessed inputs. One-hot
  columns are then summed back into their clinical feature. By IG's completeness
  property the contributions add up to P(patient) − P(average patient).
- **Shapley value sampling** (model-agnostic) for any other pipeline: features of the
  *typical* reference patient (median / most frequent value) are swapped for this
  patient's in random orders, through the whole pipeline; the contributions add up to
  P(patient) − P(typical patient) exactly (each walk telescopes). Implemented here in
  numpy rather than with Captum's ShapleyValueSampling, which calls the pipeline once
  per permutation: a scikit-learn pipeline call costs milliseconds of overhead, so one
  batched call is about 20 times faster. A network is explained this way too when
  Integrated Gradients cannot be used (its preprocessing does not name its columns by
  feature, or the model changes the network's output): that fallback is logged and
  ``Explanation.fallback_reason`` says why, for the page to show.

**Unknown values** are never credited: the patient is explained as the average of its
plausible fillings (model/clinic/imputation.py, the same fillings the risk averages over), and
what the unknown features add up to is shown as one neutral row, "not given: averaged
over plausible values", never as a signed bar of a feature the user did not give. The
contributions still add up to P(patient) − P(reference).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from model.clinic.patient_checks import format_value, typical_patient
from model.clinic.probabilities import features_used, network_inputs, positive_probability, split_network
from model.clinic.reference import TrainingReference
from model.clinic.unknown_averaging import plausible_fillings, resolve_reference
from model.data.preprocessing import feature_groups
from model.data.schema import FEATURE_NAMES, feature

logger = logging.getLogger(__name__)

IG_STEPS = 50
SHAPLEY_PERMUTATIONS = 200
_TOLERANCE = 1e-4  # the network's own probability must match the pipeline's before we explain it
NOT_GIVEN = "(not given)"  # the `feature` of the neutral row of unknown features
NOT_GIVEN_VALUE = "averaged over plausible values"
INTEGRATED_GRADIENTS = "Integrated Gradients"
SHAPLEY_SAMPLING = "Shapley value sampling"
# Why a network was explained by Shapley value sampling instead of Integrated Gradients.
UNGROUPED_INPUTS = (
    "its preprocessing does not say which of the network's inputs belong to which of the 13 features, so "
    "gradients on those inputs cannot be summed back into clinical features"
)
POSTPROCESSED_OUTPUT = (
    "the model changes the network's output before reporting it (e.g. a calibration step), so the network's "
    "gradients would explain a different number than the risk shown"
)


@dataclass(frozen=True)
class Explanation:
    contributions: pd.Series  # feature name (schema order) -> contribution to P(disease), probability units
    probability: float  # this patient's P(disease)
    baseline_probability: float  # the reference patient's P(disease)
    method: str  # how the contributions were computed
    reference: str  # who the reference patient is
    patient: dict  # this patient's values (UCI coding; NaN = unknown)
    unknown: tuple[str, ...] = ()  # features not given: not credited, summed into one neutral row
    unknown_contribution: float = 0.0  # what averaging over their plausible values adds up to
    # Why a network was not explained by Integrated Gradients, its usual method (None when it was, and for a
    # model that is not a network: Shapley value sampling is its method, not a fallback).
    fallback_reason: str | None = None

    def table(self) -> pd.DataFrame:
        """Given features ranked by the size of their contribution, with clinical labels and values; then
        one neutral row for the features not given (``neutral`` True)."""
        rows = []
        for name, value in self.contributions.items():
            feat = feature(str(name))
            rows.append(
                {
                    "feature": name,
                    "label": feat.label,
                    "value": format_value(feat, self.patient.get(str(name))),
                    "contribution": float(value),
                    "neutral": False,
                }
            )
        table = pd.DataFrame(rows, columns=["feature", "label", "value", "contribution", "neutral"])
        order = table["contribution"].abs().sort_values(ascending=False, kind="stable").index
        table = table.loc[order].reset_index(drop=True)
        if self.unknown:
            row = {
                "feature": NOT_GIVEN,
                "label": self.unknown_label(),
                "value": NOT_GIVEN_VALUE,
                "contribution": float(self.unknown_contribution),
                "neutral": True,
            }
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        return table

    def unknown_label(self) -> str:
        return "Not given (" + ", ".join(feature(name).label for name in self.unknown) + ")"

    def fallback_text(self) -> str | None:
        """The fallback in words, for the page and the report (None when there was none)."""
        if self.fallback_reason is None:
            return None
        return (
            f"{INTEGRATED_GRADIENTS}, the usual method for a neural network, could not be used: "
            f"{self.fallback_reason}. The contributions come from {SHAPLEY_SAMPLING} through the whole model "
            "instead, compared with the typical rather than the average patient."
        )

    @property
    def total(self) -> float:
        return float(self.contributions.sum()) + float(self.unknown_contribution)


def integrated_gradients(
    forward, inputs: torch.Tensor, baselines: torch.Tensor, n_steps: int = IG_STEPS
) -> torch.Tensor:
    """Integrated Gradients (Sundararajan et al., 2017) of `forward` (one output per row) at each row of `inputs`,
    from the same row of `baselines`: the path integral by Gauss–Legendre quadrature with `n_steps` points.

    The computation of Captum's ``IntegratedGradients(forward).attribute(inputs, baselines, n_steps=n_steps,
    method="gausslegendre")``, operation for operation (tests/test_explain.py checks they are equal), written out
    here because importing ``captum.attr`` also imports matplotlib and IPython: about 48 MB of the server's resident
    memory for this one call.
    """
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    step_sizes, alphas = (0.5 * weights).tolist(), (0.5 * (1 + nodes)).tolist()
    # Every point of every path in one batch: step-major, like Captum, so the sum below runs in the same order.
    scaled = torch.cat([baselines + alpha * (inputs - baselines) for alpha in alphas], dim=0).requires_grad_()
    with torch.autograd.set_grad_enabled(True):
        (gradients,) = torch.autograd.grad(torch.unbind(forward(scaled)), scaled)
    step_weights = torch.tensor(step_sizes).float().view(n_steps, 1).to(gradients.device)
    weighted = gradients.contiguous().view(n_steps, -1) * step_weights
    path_integral = torch.sum(weighted.reshape((n_steps, inputs.shape[0]) + tuple(inputs.shape[1:])), dim=0)
    return path_integral * (inputs - baselines)


class Explainer:
    """Explains one patient at a time for a fitted pipeline; built once per (model, reference data)."""

    def __init__(
        self,
        pipeline,
        reference: pd.DataFrame,
        reference_name: str = "the reference data",
        training_reference: TrainingReference | None = None,
    ):
        """`reference`: the data the reference patient is built from; `training_reference`
        (model.clinic.reference.TrainingReference): where unknown values are filled from (default: the model's own)."""
        self.pipeline = pipeline
        self.training_reference = training_reference
        # Features the model cannot depend on (e.g. the imaging results, before imaging): neither credited nor
        # counted as unknown; their contribution is exactly zero.
        self.left_out = tuple(name for name in FEATURE_NAMES if name not in features_used(pipeline))
        features = reference[list(FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce")
        self._preprocess, self._network = split_network(pipeline)
        self._groups: dict[str, list[int]] | None = None
        self._baseline: torch.Tensor | None = None
        self.gradients_unavailable: str | None = None  # why Integrated Gradients cannot explain this network
        if self._network is not None:
            try:
                self._groups = feature_groups(self._preprocess[-1])
            except (AttributeError, KeyError):
                # AttributeError: no get_feature_names_out (or not fitted); KeyError: an output column that
                # belongs to none of the 13 features (e.g. a PCA step).
                self.gradients_unavailable = UNGROUPED_INPUTS
                logger.warning(
                    "%s: falling back from %s to %s for %s",
                    UNGROUPED_INPUTS,
                    INTEGRATED_GRADIENTS,
                    SHAPLEY_SAMPLING,
                    type(self._network).__name__,
                    exc_info=True,
                )
            else:
                self._baseline = network_inputs(self._preprocess, self._network, features).mean(dim=0, keepdim=True)
        typical = typical_patient(features)
        self._typical = np.array([typical[name] for name in FEATURE_NAMES], dtype=float)
        self.reference_name = reference_name

    @property
    def uses_gradients(self) -> bool:
        """True when this pipeline's network can be explained by Integrated Gradients (checked again per patient)."""
        return self._groups is not None

    # -- Integrated Gradients on the network ---------------------------------------
    def _integrated_gradients(self, patient: pd.DataFrame, probability: float) -> Explanation | None:
        """IG of each row of `patient` (the plausible fillings of one patient, or the patient), averaged;
        None when the network's own probability is not the pipeline's (``POSTPROCESSED_OUTPUT``)."""
        network, groups, baseline = self._network, self._groups, self._baseline
        if network is None or groups is None or baseline is None:
            raise RuntimeError("Integrated Gradients needs a network whose inputs are grouped by feature")
        if network.training:  # never switch a shared model; explain a private copy instead
            import copy

            network = copy.deepcopy(network).eval()
        inputs = network_inputs(self._preprocess, network, patient)
        baselines = baseline.expand(len(inputs), -1)
        with torch.no_grad():
            own = float(network.predict_proba(inputs).reshape(-1).mean())
            base = float(network.predict_proba(baseline).reshape(-1)[0])
        if abs(own - probability) > _TOLERANCE:
            return None
        attributions = integrated_gradients(lambda x: network.predict_proba(x).reshape(-1), inputs, baselines)
        per_column = attributions.detach().cpu().double().numpy().mean(axis=0)
        contributions = pd.Series({name: float(per_column[idx].sum()) for name, idx in groups.items()})
        method = (
            f"{INTEGRATED_GRADIENTS} ({IG_STEPS} Gauss–Legendre steps, as Captum computes it) on the network's "
            "preprocessed inputs; one-hot columns summed into their feature"
        )
        reference = f"the average patient of {self.reference_name}"
        return Explanation(contributions, probability, base, method, reference, {})

    # -- Shapley value sampling through the whole pipeline -------------------------
    def _shapley_sampling(self, patient: pd.DataFrame, probability: float) -> Explanation:
        """Permutation sampling (Strumbelj & Kononenko, 2014), all permutations in one pipeline call.

        Each permutation walks from the typical patient to this patient, switching one
        feature at a time; a feature's contribution is the mean change in P(disease)
        when it is switched. One batched call keeps a black-box pipeline fast. With several
        rows (the plausible fillings of one patient) permutation i walks to row i mod rows,
        so the result is the average of their Shapley values.
        """
        n_features = len(FEATURE_NAMES)
        rows = patient[list(FEATURE_NAMES)].to_numpy(dtype=float)
        orders = np.random.default_rng(0).permuted(np.tile(np.arange(n_features), (SHAPLEY_PERMUTATIONS, 1)), axis=1)
        x = rows[np.arange(SHAPLEY_PERMUTATIONS) % len(rows)][:, None, :]  # (perm, 1, feature)
        position = np.argsort(orders, axis=1)  # where each feature enters
        steps = np.arange(n_features + 1)[None, :, None]
        switched = position[:, None, :] < steps  # (perm, step, feature)
        walk = np.where(switched, x, self._typical).reshape(-1, n_features)
        risk = positive_probability(self.pipeline, pd.DataFrame(walk, columns=list(FEATURE_NAMES)))
        gains = np.diff(risk.reshape(SHAPLEY_PERMUTATIONS, n_features + 1), axis=1)
        totals = np.zeros(n_features)
        np.add.at(totals, orders, gains)
        contributions = pd.Series(totals / SHAPLEY_PERMUTATIONS, index=list(FEATURE_NAMES))
        base = float(risk[0])
        method = (
            f"{SHAPLEY_SAMPLING} ({SHAPLEY_PERMUTATIONS} random feature orders) through the whole "
            "pipeline (model-agnostic)"
        )
        reference = f"the typical patient of {self.reference_name} (median or most frequent value of each feature)"
        return Explanation(contributions, probability, base, method, reference, {})

    def _explained_rows(self, row: pd.DataFrame, unknown: tuple[str, ...], fillings: pd.DataFrame | None):
        """The rows whose contributions are averaged: the patient, or the plausible fillings of its unknowns."""
        if not unknown:
            return row
        if fillings is None:
            fillings = plausible_fillings(resolve_reference(self.pipeline, self.training_reference), row)
        return fillings[list(FEATURE_NAMES)].astype("float64")

    def explain(self, patient: pd.DataFrame, fillings: pd.DataFrame | None = None) -> Explanation:
        """Contributions for the first row of `patient` (13 feature columns; NaN = unknown).

        Unknown values are averaged over `fillings` (its plausible fillings, as
        ``RiskResult.fillings``; computed from the training reference when not given) and
        credited to no feature: they make up the neutral row. A network is explained by
        Integrated Gradients; when that cannot be done the fallback to Shapley value
        sampling is logged and ``Explanation.fallback_reason`` says why.
        """
        row = patient[list(FEATURE_NAMES)].iloc[:1].astype("float64")
        unknown = tuple(name for name in FEATURE_NAMES if np.isnan(row[name].iloc[0]) and name not in self.left_out)
        explained = self._explained_rows(row, unknown, fillings)
        probability = float(positive_probability(self.pipeline, explained).mean())
        fallback = self.gradients_unavailable
        result = self._integrated_gradients(explained, probability) if self.uses_gradients else None
        if self.uses_gradients and result is None:
            fallback = POSTPROCESSED_OUTPUT
            logger.warning(
                "%s: falling back from %s to %s for %s",
                POSTPROCESSED_OUTPUT,
                INTEGRATED_GRADIENTS,
                SHAPLEY_SAMPLING,
                type(self.pipeline[-1]).__name__,
            )
        if result is None:
            result = self._shapley_sampling(explained, probability)
        values = {name: float(row[name].iloc[0]) for name in FEATURE_NAMES}
        given = [name for name in FEATURE_NAMES if name not in unknown and name not in self.left_out]
        return Explanation(
            result.contributions.reindex(given),
            result.probability,
            result.baseline_probability,
            result.method,
            result.reference,
            values,
            unknown,
            float(result.contributions.reindex(list(unknown)).sum()),
            fallback,
        )


def explain_patient(
    pipeline,
    patient: pd.DataFrame,
    reference: pd.DataFrame,
    reference_name: str = "the reference data",
    training_reference: TrainingReference | None = None,
) -> Explanation:
    """One-off explanation (the page keeps an Explainer instead, to reuse its reference)."""
    return Explainer(pipeline, reference, reference_name, training_reference).explain(patient)


def contributions_are_complete(explanation: Explanation, tolerance: float = 0.02) -> bool:
    """Do the contributions add up to P(patient) − P(reference)? (IG: exactly up to quadrature error.)"""
    gap = explanation.probability - explanation.baseline_probability
    return bool(np.isclose(explanation.total, gap, atol=tolerance))
