"""model.exploration: statistics of the Data Exploration page, checked against independent peers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.data import exploration as ex
from model.data.datasets import combine_sites, load_dataset, read_uci_processed
from model.data.schema import COLUMNS, FEATURE_NAMES, FEATURES, TARGET, feature


@pytest.fixture(scope="module")
def cleveland() -> pd.DataFrame:
    return load_dataset("cleveland")


def test_numeric_association_matches_pingouin_mann_whitney(cleveland):
    table = ex.associations(cleveland).set_index("feature")
    for name in ("age", "thalach", "oldpeak"):
        data = cleveland[[name, TARGET.name]].dropna()
        peer = pg.mwu(data.loc[data.target == 1, name], data.loc[data.target == 0, name])
        assert table.loc[name, "test"] == "Mann–Whitney U"
        assert table.loc[name, "p_value"] == pytest.approx(peer["p_val"].iloc[0], rel=1e-9)
        assert table.loc[name, "effect_size"] == pytest.approx(peer["RBC"].iloc[0], rel=1e-9)
    # Maximum heart rate is lower with disease: the sign says so.
    assert table.loc["thalach", "effect_size"] < 0


def test_categorical_association_matches_pingouin_chi_square(cleveland):
    table = ex.associations(cleveland).set_index("feature")
    for name in ("cp", "sex", "thal"):
        _, _, peer = pg.chi2_independence(cleveland.dropna(subset=[name]), name, TARGET.name, correction=False)
        pearson = peer.set_index("test").loc["pearson"]
        assert table.loc[name, "p_value"] == pytest.approx(pearson["pval"], rel=1e-9)
        assert table.loc[name, "effect_size"] == pytest.approx(pearson["cramer"], rel=1e-9)
        assert table.loc[name, "effect_measure"] == "Cramér's V"


def test_every_feature_is_tested_and_holm_adjusted(cleveland):
    table = ex.associations(cleveland)
    assert list(table["feature"]) == list(FEATURE_NAMES)
    expected = pg.multicomp(table["p_value"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(table["p_holm"], expected, rtol=1e-12)
    assert (table["p_holm"] >= table["p_value"]).all()


def test_holm_ignores_untestable_features():
    adjusted = ex.holm_adjust([0.01, np.nan, 0.04, 0.03])
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2, 3]], [0.03, 0.06, 0.06])


def test_a_feature_with_one_outcome_only_gets_no_p_value():
    frame = pd.DataFrame({"age": [50.0, 60, 70], "sex": [1.0, 0, 1], TARGET.name: [1, 1, 1]})
    table = ex.associations(frame).set_index("feature")
    assert table["p_value"].isna().all()
    assert "both outcomes" in table.loc["sex", "detail"]


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(FEATURE_NAMES),
    value=st.one_of(
        st.floats(min_value=-1e4, max_value=1e4),
        st.sampled_from([math.inf, -math.inf, 0.5, 2.5]),
        st.integers(min_value=-10, max_value=800),
        st.sampled_from(["abc", "", "7"]),
    ),
)
def test_vectorised_limit_check_agrees_with_the_schema(name, value):
    item = feature(name)
    flagged = bool(ex.invalid_mask(pd.Series([value], dtype=object), item).iloc[0])
    if value == "":
        return  # an empty string is "missing" to pandas but "not a number" to check(); the loader maps it to NaN
    assert flagged == (item.check(value) is not None), (name, value, item.check(value))


def test_quality_report_finds_impossible_values_zeros_gaps_and_duplicates(cleveland):
    frame = cleveland.head(10).copy()
    frame.loc[0, "age"] = 200  # above the hard limit
    frame.loc[1, "cp"] = 9  # not a code
    frame.loc[2, "chol"] = 0  # "not measured" written as 0
    frame.loc[3, "thalach"] = np.nan
    frame = pd.concat([frame, frame.iloc[[5, 5]]], ignore_index=True)  # two copies of row 5
    report = ex.quality_report(frame)
    problems = report.out_of_limits.set_index("column")["rows"]
    assert problems.to_dict() == {"age": 1, "cp": 1, "chol": 1}
    assert report.impossible_zeros.set_index("column")["rows"].to_dict() == {"chol": 1}
    words = report.out_of_limits_examples.set_index("column")["problem"]
    assert words["age"] == feature("age").check(200)
    assert report.n_missing == int(frame[list(COLUMNS)].isna().sum().sum())
    assert report.n_duplicate_rows == 2
    assert len(report.duplicate_examples) == 3
    assert not report.is_clean


def test_clean_data_reads_clean():
    frame = pd.DataFrame([{f.name: (f.codes[0] if f.categories else f.typical_min) for f in FEATURES}])
    frame[TARGET.name] = 1
    assert ex.quality_report(frame).is_clean


def test_overview_counts(cleveland):
    summary = ex.overview(cleveland)
    assert summary.n_rows == len(cleveland)
    assert summary.n_features == 13
    assert summary.n_missing_cells == int(cleveland[list(FEATURE_NAMES)].isna().sum().sum())
    assert summary.n_duplicate_rows == int(cleveland.duplicated().sum())
    balance = summary.class_balance.set_index("outcome")["patients"]
    assert balance[1] == int((cleveland.target == 1).sum())
    assert balance.sum() == len(cleveland)


def test_filters_select_age_range_and_sex(cleveland):
    selected = ex.filter_frame(cleveland, age_range=(40, 50), sexes=[0])
    assert len(selected) == int(((cleveland.age >= 40) & (cleveland.age <= 50) & (cleveland.sex == 0)).sum())
    assert selected.age.between(40, 50).all() and (selected.sex == 0).all()
    assert len(ex.filter_frame(cleveland)) == len(cleveland)
    assert ex.filter_frame(cleveland, sexes=[]).empty


def test_disease_rate_per_category_lists_missing_and_stray_codes(cleveland):
    frame = cleveland.copy()
    frame.loc[frame.index[0], "thal"] = 5  # not a thal code
    rates = ex.disease_rate_by_category(frame, "thal")
    assert rates["patients"].sum() == len(frame)
    assert "Missing" in set(rates["category"])
    assert any("not a valid code" in c for c in rates["category"])
    normal = rates.set_index("category").loc["Normal"]
    in_group = frame[frame.thal == 3]
    assert normal["disease rate"] == pytest.approx(in_group.target.mean())


def test_correlation_matrix_is_a_correlation_matrix(cleveland):
    matrix = ex.correlation_matrix(cleveland)
    assert list(matrix.columns) == list(COLUMNS)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix, matrix.T)
    assert matrix.loc["age", "thalach"] == pytest.approx(
        cleveland[["age", "thalach"]].corr(method="spearman").iloc[0, 1]
    )
    with pytest.raises(ValueError, match="method"):
        ex.correlation_matrix(cleveland, "magic")


def test_pca_is_fitted_on_the_rows_given(cleveland):
    women = cleveland[cleveland.sex == 0]
    projection = ex.pca_projection(women)
    assert list(projection.points.index) == list(women.index)
    # Fitted on these rows: the coordinates are centred on them.
    np.testing.assert_allclose(projection.points[["pc1", "pc2"]].mean(), 0.0, atol=1e-9)
    first, second = projection.explained_variance
    assert 0 < second <= first < 1
    assert "sex" in projection.constant_features or projection.loadings.loc["binary__sex"].abs().max() < 1e-9
    assert projection.axis_labels()[0].startswith("PC 1")


def test_pca_holds_an_entirely_missing_feature_constant(cleveland):
    frame = cleveland.assign(thal=np.nan, ca=np.nan)
    projection = ex.pca_projection(frame)
    assert set(projection.constant_features) == {"thal", "ca"}
    assert np.isfinite(projection.points[["pc1", "pc2"]].to_numpy()).all()


def test_pca_refuses_too_few_patients(cleveland):
    with pytest.raises(ex.ProjectionError, match="at least 3"):
        ex.pca_projection(cleveland.head(2))


def test_plots_sample_with_a_fixed_seed(cleveland):
    big = pd.concat([cleveland] * 30, ignore_index=True)
    first, sampled = ex.sample_rows(big, max_rows=1000)
    again, _ = ex.sample_rows(big, max_rows=1000)
    assert sampled and len(first) == 1000
    assert first.index.equals(again.index)
    small, sampled_small = ex.sample_rows(cleveland, max_rows=1000)
    assert not sampled_small and len(small) == len(cleveland)


def test_fingerprint_sees_every_cell_of_a_large_frame(cleveland):
    big = pd.concat([cleveland] * 200, ignore_index=True)  # 60,000 rows: Streamlit's own hash samples these
    changed = big.copy()
    changed.loc[len(big) - 7, "chol"] += 1
    assert ex.frame_fingerprint(big) == ex.frame_fingerprint(big.copy())
    assert ex.frame_fingerprint(big) != ex.frame_fingerprint(changed)


def test_codebook_restates_nothing_but_the_schema():
    book = ex.codebook().set_index("column")
    assert list(book.index) == list(COLUMNS)
    assert book.loc["cp", "values"].startswith("1 = " + feature("cp").categories[1])
    assert book.loc["chol", "unit"] == feature("chol").unit


def test_site_summary_of_the_four_uci_sites(shared_data_dir):
    frames = {
        site: read_uci_processed(shared_data_dir / f"processed.{site}.data", site=site)
        for site in ("cleveland", "hungarian", "switzerland", "va")
    }
    combined = combine_sites(frames)
    summary = ex.site_summary(combined).set_index("site")
    assert summary["patients"].to_dict() == {"cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
    assert summary.loc["switzerland", "disease rate"] == pytest.approx(115 / 123)
    assert summary.loc["switzerland", "chol missing"] == 1.0  # every Swiss cholesterol is "0" = not measured
    # Filtering to one site and projecting works although some of its columns are entirely missing.
    swiss = ex.filter_frame(combined, sites=["switzerland"])
    assert "chol" in ex.pca_projection(swiss).constant_features


# --------------------------------------------------------------------------- removing repeated patients


def _with_repeats(cleveland: pd.DataFrame) -> pd.DataFrame:
    """The built-in rows, 40 of them again, and one repeat whose outcome disagrees with its first copy."""
    again = cleveland.iloc[10:50]
    flipped = cleveland.iloc[[5]].assign(target=1 - cleveland["target"].iloc[5])
    return pd.concat([cleveland, again, flipped], ignore_index=True)


def test_deduplicate_keeps_the_first_copy_of_each_patient(cleveland):
    frame = _with_repeats(cleveland)
    result = ex.deduplicate(frame)
    distinct = frame.drop_duplicates(subset=list(FEATURE_NAMES))
    assert len(result.kept) == len(distinct) == len(cleveland) - 1  # the built-in copy repeats one patient
    pd.testing.assert_frame_equal(result.kept, distinct.reset_index(drop=True))
    assert result.n_removed == len(frame) - len(distinct) == 42
    assert not result.kept.duplicated(subset=list(FEATURE_NAMES)).any()
    assert result.n_conflicting_patients == 1
    assert list(result.conflicts["row"]) == [5, len(frame) - 1] and set(result.conflicts["target"]) == {0, 1}
    assert "Removed 42 rows" in result.summary() and "first copy (and its outcome) was kept" in result.summary()


def test_deduplicate_can_drop_every_copy_of_a_patient_with_both_outcomes(cleveland):
    frame = _with_repeats(cleveland)
    result = ex.deduplicate(frame, ex.DROP_ALL)
    assert result.n_removed == 43 and len(result.kept) == len(frame) - 43
    assert not (result.kept[list(FEATURE_NAMES)] == frame.loc[5, list(FEATURE_NAMES)]).all(axis=1).any()
    assert "every copy of the 1 patient recorded with both outcomes" in result.summary()
    with pytest.raises(ValueError, match="conflict_policy"):
        ex.deduplicate(frame, "toss a coin")


def test_quality_report_counts_repeated_patients_and_their_outcome_conflicts(cleveland):
    report = ex.quality_report(_with_repeats(cleveland))
    assert report.n_duplicate_rows == 41  # exact copies, outcome included
    assert report.n_repeated_patient_rows == 42  # the same 13 values, whatever the outcome
    assert report.outcome_conflicts["patient"].tolist() == [1, 1]
    clean = ex.quality_report(ex.deduplicate(cleveland).kept)
    assert clean.n_repeated_patient_rows == 0 and clean.outcome_conflicts.empty
