"""model/clinic/crude_association.py: raw disease rates beside the model's contributions, against pandas groupby."""

import math

import numpy as np
import pandas as pd
import pytest
from _predict_models import cleveland
from scipy.stats import chi2_contingency

from model.clinic.crude_association import (
    CLEAR_Z,
    N_BINS,
    SMALL_GROUP,
    CrudeAssociation,
    band_text,
    crude_association,
    crude_associations,
    disagrees,
    quantile_edges,
    unavailable_reason,
)
from model.data.schema import CATEGORICAL, FEATURE_NAMES, feature


def reference_group(frame: pd.DataFrame, name: str, value: float) -> tuple[int, int, int, int]:
    """(n, n disease, n known, n known disease) by a plain pandas groupby: by value, or by pd.qcut bin."""
    known = frame.dropna(subset=[name, "target"])
    if feature(name).categories or known[name].nunique() <= N_BINS:
        groups = known.groupby(name)["target"].agg(["size", "sum"])
        n, n_disease = (groups.loc[value]) if value in groups.index else (0, 0)
    else:
        codes, edges = pd.qcut(known[name], N_BINS, labels=False, retbins=True, duplicates="drop")
        groups = known.groupby(codes)["target"].agg(["size", "sum"])
        index = pd.cut([value], edges, labels=False, include_lowest=True)[0]
        if np.isnan(index):  # beyond the reference range: the outermost bin
            index = 0 if value < edges[0] else len(edges) - 2
        n, n_disease = groups.loc[int(index)]
    return int(n), int(n_disease), len(known), int(known["target"].sum())


def values_to_try(frame: pd.DataFrame, name: str) -> list[float]:
    """Every category; for a number: the quantile edges, values between them, and values beyond the range."""
    column = frame[name].dropna()
    feat = feature(name)
    if feat.categories:
        return [float(code) for code in feat.codes]
    edges = np.quantile(column, np.linspace(0, 1, N_BINS + 1))
    middles = (edges[:-1] + edges[1:]) / 2
    return sorted({*map(float, edges), *map(float, middles), float(column.min()) - 5, float(column.max()) + 5})


@pytest.fixture(scope="module")
def with_gaps():
    """Cleveland with some values unknown (the reference data may have gaps, like the other UCI sites)."""
    frame = cleveland().copy()
    rng = np.random.default_rng(3)
    for name in ("chol", "oldpeak", "cp"):
        frame.loc[rng.choice(frame.index, 25, replace=False), name] = np.nan
    return frame


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_counts_match_a_pandas_groupby(name, with_gaps):
    for frame in (cleveland(), with_gaps):
        for value in values_to_try(frame, name):
            association = crude_association(frame, name, value)
            expected = reference_group(frame, name, value)
            got = (association.n, association.n_disease, association.n_known, association.n_known_disease)
            assert got == expected, (name, value)
            if association.n:
                assert association.rate == pytest.approx(expected[1] / expected[0])
            assert association.overall_rate == pytest.approx(expected[3] / expected[2])


def test_numeric_bands_are_the_quintiles_pandas_cuts_at():
    for name in ("age", "trestbps", "chol", "thalach", "oldpeak"):
        _, edges = pd.qcut(cleveland()[name], N_BINS, duplicates="drop", retbins=True)
        np.testing.assert_allclose(quantile_edges(cleveland()[name]), edges)


def test_group_words():
    frame = cleveland()
    assert crude_association(frame, "cp", 1).who() == "with Chest pain type: Typical angina"
    age = crude_association(frame, "age", 50)
    assert age.banded and age.group == "46–53 years"  # (45, 53]: whole years 46 to 53
    assert crude_association(frame, "age", 20).group == "up to 45 years"  # below the data: the lowest band, open
    assert crude_association(frame, "age", 99).group == "63 years or more"
    vessels = crude_association(frame, "ca", 2)
    assert not vessels.banded and vessels.group == "2 vessels"  # four values: each is its own group
    assert crude_association(frame, "oldpeak", 0).group == "up to 0.38 mm"
    text = crude_association(frame, "cp", 1).text()
    assert text == (
        "7 of 23 reference patients with Chest pain type: Typical angina had disease (30%), against 46% of all "
        "303 (about the overall rate)."
    )


def test_band_text_in_another_unit():
    chol = feature("chol")
    assert band_text(chol, 204.0, 230.0) == "205–230 mg/dL"
    assert band_text(chol, 193.35, 232.02, 1 / 38.67, "mmol/L") == "over 5.00 up to 6.00 mmol/L"
    assert band_text(chol, None, 193.35, 1 / 38.67, "mmol/L") == "up to 5.00 mmol/L"


def test_unknown_unreadable_and_absent_values_get_no_association():
    frame = cleveland()
    for value in (np.nan, None, float("inf"), "abc", pd.NA):
        assert crude_association(frame, "chol", value) is None
    patient = dict(frame[list(FEATURE_NAMES)].iloc[0])
    patient["chol"] = np.nan
    del patient["ca"], patient["thal"]  # a model for the moment before imaging never sees them
    got = crude_associations(frame, patient)
    assert set(got) == set(FEATURE_NAMES) - {"chol", "ca", "thal"}
    assert set(crude_associations(frame, patient, ["age", "cp"])) == {"age", "cp"}


def test_a_value_no_reference_patient_has():
    frame = cleveland()
    association = crude_association(frame[frame["ca"] != 3], "ca", 3)
    assert association.n == 0 and association.rate is None and association.direction == 0
    assert association.text().startswith("No reference patient with Major vessels coloured: 3 vessels")


def test_tiny_groups_are_flagged_and_get_no_direction():
    frame = cleveland()
    tiny = pd.concat([frame[frame["cp"] != 1], frame[(frame["cp"] == 1) & (frame["target"] == 1)].head(5)])
    association = crude_association(tiny, "cp", 1)
    assert association.n == 5 < SMALL_GROUP and association.small
    assert association.rate == 1.0 and association.direction == 0  # 100 % of 5 says little
    assert "only 5 patients: too few to say" in association.text()


@pytest.mark.parametrize("name", ["age", "sex", "cp", "oldpeak", "thal", "ca", "restecg"])
def test_direction_is_the_two_proportion_test_of_the_group_against_the_rest(name):
    frame = cleveland().dropna(subset=[name])
    for value in values_to_try(frame, name):
        association = crude_association(frame, name, value)
        if association.n == 0 or association.n == association.n_known:
            continue
        n_rest = association.n_known - association.n
        rest_disease = association.n_known_disease - association.n_disease
        table = [[association.n_disease, association.n - association.n_disease], [rest_disease, n_rest - rest_disease]]
        if min(map(sum, table)) == 0 or association.n_known_disease in (0, association.n_known):
            continue
        chi2 = chi2_contingency(table, correction=False)[0]  # = z² of the pooled two-proportion test
        expected = 0
        if not association.small and math.sqrt(chi2) >= CLEAR_Z:
            expected = 1 if association.n_disease / association.n > rest_disease / n_rest else -1
        assert association.direction == expected, (name, value, chi2)


def test_the_cleveland_directions_a_clinician_would_check():
    frame = cleveland()
    assert crude_association(frame, "cp", 4).direction == 1  # asymptomatic: 73 % of 143 (the referral paradox)
    assert crude_association(frame, "cp", 1).direction == 0  # typical angina: 30 % of 23, within chance
    assert crude_association(frame, "age", 60).direction == 1  # 59–62 years: 70 % of 44
    assert crude_association(frame, "thal", 3).direction == -1


def test_opposite_directions():
    def association(n_disease: int) -> CrudeAssociation:
        return CrudeAssociation("age", "63 years or more", n=100, n_disease=n_disease, n_known=300, n_known_disease=150)

    higher, same, lower = association(70), association(52), association(30)
    assert (higher.direction, same.direction, lower.direction) == (1, 0, -1)
    assert disagrees(-0.03, higher) and disagrees(0.03, lower)
    assert not disagrees(0.03, higher) and not disagrees(-0.03, same)
    assert not disagrees(-0.001, higher)  # a negligible contribution points nowhere
    assert not disagrees(-0.03, None)


def test_reference_data_without_outcomes():
    frame = cleveland().drop(columns="target")
    assert "no outcome column" in unavailable_reason(frame)
    assert crude_association(frame, "age", 50) is None and crude_associations(frame, {"age": 50}) == {}
    unknown = cleveland().assign(target=np.nan)
    assert "no reference patient has a known outcome" in unavailable_reason(unknown)
    assert crude_association(unknown, "age", 50) is None
    assert unavailable_reason(cleveland()) is None


def test_every_categorical_value_in_cleveland_is_a_group():
    for name in CATEGORICAL:
        total = sum(crude_association(cleveland(), name, code).n for code in feature(name).codes)
        assert total == cleveland()[name].notna().sum()
