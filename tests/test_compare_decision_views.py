"""The comparison page's decision-curve and subgroup builders: traces, reference lines, the band, sentences,
interval formatting and the rows too small to judge."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import compare_decision_views as dv
from model.data.datasets import load_dataset
from model.evaluation.decision_curves import TREAT_ALL, TREAT_NONE, operating_point_at
from model.evaluation.subgroups import COLUMNS, TOO_SMALL, subgroup_performance

N_PATIENTS, N_REPEATS = 200, 3


def _outcomes_and_oof() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Two models with 3 repeats of predictions: one informative, one noise."""
    rng = np.random.default_rng(0)
    y = (rng.random(N_PATIENTS) < 0.4).astype(int)
    good = np.clip(0.25 + 0.45 * y + rng.normal(0, 0.15, (N_REPEATS, N_PATIENTS)), 0.01, 0.99)
    noise = rng.uniform(0.05, 0.95, (N_REPEATS, N_PATIENTS))
    return y, {"Logistic regression": good, "Naive Bayes": noise}


def _figure(chosen: str = "Logistic regression", threshold: float | None = 0.1):
    y, oof = _outcomes_and_oof()
    curve = dv.comparison_decision_curves(y, oof, list(oof))
    return dv.decision_curve_figure(curve, float(y.mean()), chosen, threshold), curve, y


# ------------------------------------------------------------------ decision curves
def test_every_model_and_both_references_are_drawn():
    fig, curve, _ = _figure()
    names = [trace.name for trace in fig.data if trace.showlegend is not False]
    for expected in ("Logistic regression", "Naive Bayes", TREAT_ALL, TREAT_NONE):
        assert expected in names
    treat_all = next(t for t in fig.data if t.name == TREAT_ALL)
    np.testing.assert_allclose(treat_all.y, curve.treat_all)
    treat_none = next(t for t in fig.data if t.name == TREAT_NONE)
    assert np.all(np.asarray(treat_none.y) == 0)
    model = next(t for t in fig.data if t.name == "Naive Bayes")
    np.testing.assert_allclose(model.y, curve.net_benefit["Naive Bayes"])


@pytest.mark.parametrize("chosen", ["Logistic regression", "Naive Bayes"])
def test_the_band_is_drawn_for_the_chosen_model_only(chosen):
    fig, curve, _ = _figure(chosen)
    filled = [t for t in fig.data if t.fill == "tonexty"]
    assert len(filled) == 1 and filled[0].legendgroup == chosen
    np.testing.assert_allclose(filled[0].y, curve.net_benefit_min[chosen])
    upper = fig.data[list(fig.data).index(filled[0]) - 1]  # filled up to the trace before it
    np.testing.assert_allclose(upper.y, curve.net_benefit_max[chosen])
    assert not any(t.fill for t in fig.data if t.legendgroup not in (None, chosen))


def test_one_repeat_has_no_band():
    y, oof = _outcomes_and_oof()
    curve = dv.comparison_decision_curves(y, {m: rows[:1] for m, rows in oof.items()}, list(oof))
    fig = dv.decision_curve_figure(curve, float(y.mean()), "Naive Bayes")
    assert not any(t.fill for t in fig.data)


def test_the_axis_runs_from_a_little_below_zero_to_the_prevalence_and_the_legend_sits_below():
    fig, _, y = _figure()
    low, high = fig.layout.yaxis.range
    assert -0.1 < low < 0 and y.mean() <= high <= 1.1 * y.mean()
    assert fig.layout.legend.y < 0 and fig.layout.legend.orientation == "h"
    assert any("10%" in (a.text or "") for a in fig.layout.annotations)  # the chosen threshold is marked


def test_an_unknown_model_is_refused():
    y, oof = _outcomes_and_oof()
    curve = dv.comparison_decision_curves(y, oof, list(oof))
    with pytest.raises(ValueError, match="not one of the compared models"):
        dv.decision_curve_figure(curve, 0.4, "Random forest")


def test_the_repeated_point_is_the_mean_curve_at_that_threshold():
    y, oof = _outcomes_and_oof()
    curve = dv.comparison_decision_curves(y, oof, list(oof))
    index = int(np.flatnonzero(np.isclose(curve.thresholds, 0.1))[0])
    point = dv.repeated_decision_point(y, oof["Logistic regression"], 0.1)
    assert point.net_benefit == pytest.approx(curve.net_benefit["Logistic regression"][index])
    assert point.treat_all == pytest.approx(curve.treat_all[index])
    singles = [operating_point_at(y, row, 0.1) for row in oof["Logistic regression"]]
    assert point.sensitivity == pytest.approx(np.mean([p.sensitivity for p in singles]))
    tested, found = sum(p.tp + p.fp for p in singles), sum(p.tp for p in singles)
    assert point.tests_per_case == pytest.approx(tested / found) and point.n_repeats == N_REPEATS


def test_no_one_tested_and_no_case_found_are_told_in_words():
    y = np.array([1, 0, 0, 1])
    nobody = dv.repeated_decision_point(y, np.full((2, 4), 0.05), 0.5)
    assert nobody.tests_per_case is None
    assert "No one is tested" in dv.tests_per_case_sentence(nobody.tests_per_case)
    only_healthy = dv.repeated_decision_point(y, [0.1, 0.9, 0.9, 0.1], 0.5)
    assert math.isinf(only_healthy.tests_per_case)
    assert "no number of tests finds a case" in dv.tests_per_case_sentence(only_healthy.tests_per_case)
    assert dv.tests_per_case_sentence(2.5) == "Test **2.5** patients to find one with disease (number needed to test)."


def test_threshold_and_net_benefit_sentences():
    assert "**10%**" in dv.threshold_sentence(9) and "1 / (1 + 9)" in dv.threshold_sentence(9)
    assert "**25%**" in dv.threshold_sentence(3)
    assert "**50%**" in dv.threshold_sentence(1)
    with pytest.raises(ValueError):
        dv.threshold_sentence(101)
    better = dv.RepeatedDecisionPoint(0.1, 0.9, 0.5, 2.0, 0.30, 0.25, 1)
    assert "5.0 more cases found per 100 patients than testing everyone" in dv.net_benefit_sentence(better, "M")
    worse = dv.RepeatedDecisionPoint(0.5, 0.9, 0.5, 2.0, -0.02, -0.1, 1)
    assert "2.0 fewer cases found per 100 patients than testing no one" in dv.net_benefit_sentence(worse, "M")
    assert [dv.percent(p) for p in (0.1, 0.125, 1 / 3, 0.5)] == ["10%", "12.5%", "33.3%", "50%"]


# ------------------------------------------------------------------ subgroups
def _table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            [dv.ALL_PATIENTS, dv.ALL_PATIENTS, 303, 139, 0.46, 0.9, 0.86, 0.93, 1.0, 0.84, 1.18, 0.0, "ok", ""],
            ["Sex", "Female", 97, 25, 0.26, 0.851, 0.78, 0.912, 0.83, 0.54, 1.22, -0.2, "ok", ""],
            ["Site", "Tiny", 12, 5, 0.42, np.nan, np.nan, np.nan, 1.5, 0.49, 3.5, 0.4, TOO_SMALL, "12 patients"],
        ],
        columns=list(COLUMNS),
    )


def test_the_table_shows_intervals_as_text_and_says_too_small():
    shown = dv.subgroup_display(_table())
    auc, oe, verdict = (dv.SUBGROUP_COLUMNS[c] for c in ("auc", "oe", "verdict"))
    assert shown.loc[1, auc] == "0.85 [0.78–0.91]"
    assert shown.loc[1, oe] == "0.83 [0.54–1.22]"
    assert shown.loc[2, auc] == TOO_SMALL
    assert shown.loc[2, oe] == "1.50 [0.49–3.50]"  # O/E's exact interval holds at any size
    assert shown.loc[2, verdict].startswith("⚠ too small to say") and "12 patients" in shown.loc[2, verdict]
    assert list(shown[dv.SUBGROUP_COLUMNS["n"]]) == [303, 97, 12]


def test_too_small_rows_are_styled_and_the_others_are_not():
    styles = dv.subgroup_row_styles(dv.subgroup_display(_table()))
    assert all(cell == "" for cell in styles[0] + styles[1])
    assert all(cell == dv.TOO_SMALL_ROW for cell in styles[2])
    html = dv.subgroup_styler(_table()).to_html()
    assert "font-style: italic" in html


def test_the_forest_plot_has_one_point_per_judged_subgroup_and_words_for_the_rest():
    fig = dv.subgroup_forest_figure(_table(), "Logistic regression")
    points = fig.data[0]
    assert list(points.y) == [dv.ALL_PATIENTS, "Sex: Female"]
    np.testing.assert_allclose(points.error_x.array, [0.03, 0.061])
    np.testing.assert_allclose(points.error_x.arrayminus, [0.04, 0.071])
    words = next(t for t in fig.data if t.mode == "text")
    assert list(words.y) == ["Site: Tiny"] and list(words.text) == [TOO_SMALL]
    assert list(fig.layout.yaxis.categoryarray) == [dv.ALL_PATIENTS, "Sex: Female", "Site: Tiny"]


def test_groups_line_up_with_the_comparison_and_mismatches_are_refused():
    frame = load_dataset()
    y = frame["target"].to_numpy()
    groups = dv.comparison_groups(frame, y)
    assert list(groups) == [dv.ALL_PATIENTS, "Sex", "Age"]  # no site column in the Cleveland data
    with_site = frame.assign(site="cleveland")
    assert "Site" in dv.comparison_groups(with_site, y)
    with pytest.raises(ValueError, match="patients"):
        dv.comparison_groups(frame.iloc[:-1], y)
    with pytest.raises(ValueError, match="not the ones"):
        dv.comparison_groups(frame.iloc[::-1], y)
    table = subgroup_performance(y, np.full(len(y), y.mean()), groups, n_bootstrap=50)
    assert table.loc[0, "subgroup"] == dv.ALL_PATIENTS and table.loc[0, "n"] == len(y)
    fig = dv.subgroup_forest_figure(table, "Naive Bayes")
    assert len(fig.data[0].y) == len(table)


def test_mean_out_of_fold_averages_the_repeats():
    np.testing.assert_allclose(dv.mean_out_of_fold([[0.2, 0.4], [0.4, 0.8]]), [0.3, 0.6])
    np.testing.assert_allclose(dv.mean_out_of_fold([0.2, 0.4]), [0.2, 0.4])
