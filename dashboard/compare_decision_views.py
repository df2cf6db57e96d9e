"""Figures, tables and sentences of the comparison page's "Decision curves" and "Subgroups" tabs.

Pure builders over model.evaluation.decision_curves and model.evaluation.subgroups: they take the
comparison's outcomes and out-of-fold predictions (ComparisonResult.y and .oof, one row per repeat) and return
Plotly figures, pandas tables or Stylers, and plain sentences. No widgets here; dashboard.compare_panels
places them. Models keep the colours of dashboard.compare_views.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import apply_theme
from dashboard.compare_views import LEGEND_BELOW, MODEL_COLORS
from model.evaluation.comparison import DEEP_LEARNING_NAMES
from model.evaluation.decision_curves import (
    TREAT_ALL,
    TREAT_NONE,
    DecisionCurve,
    decision_curves,
    operating_point_at,
    threshold_from_harm_ratio,
)
from model.evaluation.subgroups import ALL_PATIENTS, TOO_SMALL, groups_of_cross_validated

DEFAULT_HARM_RATIO = 9  # a missed case 9 times worse than an unneeded test: threshold 10%
TOO_SMALL_ROW = "background-color: #f1f1f4; color: #6b6b76; font-style: italic"
TREAT_ALL_LINE = dict(color="#5c5c5c", width=1.6, dash="dash")
TREAT_NONE_LINE = dict(color="#262730", width=1.2, dash="dot")
OTHER_MODEL_COLOR = "#5c5c5c"


def percent(share: float) -> str:
    """0.1 -> "10%", 0.125 -> "12.5%", 1/3 -> "33.3%": a share with at most one decimal, no trailing ".0"."""
    return f"{share:.1%}".replace(".0%", "%")


def _model_line(model: str, chosen: bool) -> dict:
    # The deep-learning models are drawn thicker on every comparison chart; the chosen one stands out too.
    width = 3.2 if model in DEEP_LEARNING_NAMES else 1.8
    return dict(color=MODEL_COLORS.get(model, OTHER_MODEL_COLOR), width=width + (1.0 if chosen else 0.0))


def _translucent(color: str, alpha: float = 0.18) -> str:
    """'#3a6ea5' -> 'rgba(58,110,165,0.18)': the model's colour as a light band."""
    red, green, blue = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({red},{green},{blue},{alpha})"


# ------------------------------------------------------------------ decision curves
def comparison_decision_curves(y, oof: Mapping[str, np.ndarray], models: list[str]) -> DecisionCurve:
    """The decision curve of every model of a comparison: mean net benefit over its repeats, with their range."""
    return decision_curves(y, {model: oof[model] for model in models})


def net_benefit_axis_range(prevalence: float) -> tuple[float, float]:
    """From a little below 0 to a little above the prevalence, the highest net benefit any strategy can reach.

    Treat all falls steeply below zero at high thresholds; without a floor it would squash every curve flat.
    """
    top = max(float(prevalence), 0.01)
    return -0.1 * top, 1.05 * top


def decision_curve_figure(
    curve: DecisionCurve, prevalence: float, chosen: str, threshold: float | None = None
) -> go.Figure:
    """Net benefit against threshold probability: every model (mean over repeats), a light band from the
    lowest to the highest repeat for the `chosen` model only, treat all and treat none; `threshold` marked."""
    if chosen not in curve.models:
        raise ValueError(f"{chosen} is not one of the compared models ({', '.join(curve.models)})")
    x = curve.thresholds
    color = MODEL_COLORS.get(chosen, OTHER_MODEL_COLOR)
    fig = go.Figure()
    if curve.n_repeats[chosen] > 1:
        # Upper edge first, then the lower edge filled up to it ("tonexty").
        fig.add_trace(
            go.Scatter(
                x=x,
                y=curve.net_benefit_max[chosen],
                mode="lines",
                line=dict(width=0, color=color),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=chosen,
                name=f"{chosen}: highest repeat",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=curve.net_benefit_min[chosen],
                mode="lines",
                line=dict(width=0, color=color),
                fill="tonexty",
                fillcolor=_translucent(color),
                hoverinfo="skip",
                legendgroup=chosen,
                name=f"{chosen}: range over {curve.n_repeats[chosen]} repeats",
            )
        )
    for model in curve.models:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=curve.net_benefit[model],
                mode="lines",
                name=model,
                legendgroup=model,
                line=_model_line(model, model == chosen),
                opacity=1.0 if model == chosen else 0.75,
                hovertemplate="threshold %{x:.0%}: net benefit %{y:.3f}<extra>" + model + "</extra>",
            )
        )
    for name, values, line in (
        (TREAT_ALL, curve.treat_all, TREAT_ALL_LINE),
        (TREAT_NONE, np.zeros_like(x), TREAT_NONE_LINE),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=values,
                mode="lines",
                name=name,
                line=line,
                hovertemplate="threshold %{x:.0%}: net benefit %{y:.3f}<extra>" + name + "</extra>",
            )
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line=dict(color="#9a9aa6", width=1),
            annotation_text=f"your threshold {percent(threshold)}",
            annotation_position="top right",
        )
    # Short lines: a phone's chart is ~350 px wide and Plotly does not wrap titles.
    fig.update_xaxes(title_text="risk threshold for testing", range=[0, 1])
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(title_text="net benefit")  # defined in words under "How is this computed?"
    fig.update_yaxes(range=list(net_benefit_axis_range(prevalence)))
    fig.update_layout(
        title="Decision curves<br><sup>out-of-fold predictions, mean over repeats</sup>",
        height=520,
        legend={**LEGEND_BELOW, "y": -0.18},
    )
    return apply_theme(fig)


@dataclass(frozen=True)
class RepeatedDecisionPoint:
    """Testing at P(disease) >= threshold, averaged over the comparison's repeats (each one complete set of
    out-of-fold predictions), so that its net benefit is the point of the mean curve at that threshold.

    tests_per_case  total tests / total cases found over the repeats: inf when tests are done but find no
                    case, None when no one is tested in any repeat
    """

    threshold: float
    sensitivity: float
    specificity: float
    tests_per_case: float | None
    net_benefit: float
    treat_all: float
    n_repeats: int


def repeated_decision_point(y, oof_rows, threshold: float) -> RepeatedDecisionPoint:
    """One model's sensitivity, specificity, tests per case found and net benefit at `threshold`, over its repeats."""
    points = [operating_point_at(y, row, threshold) for row in np.atleast_2d(np.asarray(oof_rows, dtype=float))]
    tested = sum(p.tp + p.fp for p in points)
    found = sum(p.tp for p in points)
    per_case: float | None
    if tested == 0:
        per_case = None
    elif found == 0:
        per_case = math.inf
    else:
        per_case = tested / found
    return RepeatedDecisionPoint(
        threshold=float(threshold),
        sensitivity=float(np.mean([p.sensitivity for p in points])),
        specificity=float(np.mean([p.specificity for p in points])),
        tests_per_case=per_case,
        net_benefit=float(np.mean([p.net_benefit for p in points])),
        treat_all=float(np.mean([p.treat_all for p in points])),
        n_repeats=len(points),
    )


def threshold_sentence(harm_ratio: float) -> str:
    """What a harm ratio N implies: the threshold 1/(1+N), in words."""
    threshold = threshold_from_harm_ratio(harm_ratio)
    return (
        f"A missed case {harm_ratio:g} times worse than an unneeded test means testing every patient whose "
        f"predicted risk is at least **{percent(threshold)}** (threshold 1 / (1 + {harm_ratio:g}))."
    )


def tests_per_case_sentence(tests_per_case: float | None) -> str:
    """The number needed to test in words, including the two cases without a number."""
    if tests_per_case is None:
        return "No one is tested at this threshold: every predicted risk lies below it, so no case is found."
    if math.isinf(tests_per_case):
        return "The patients tested at this threshold include no one with disease: no number of tests finds a case."
    return f"Test **{tests_per_case:.1f}** patients to find one with disease (number needed to test)."


def net_benefit_sentence(point: RepeatedDecisionPoint, model: str) -> str:
    """The model's net benefit against treat all and treat none at the threshold, per 100 patients."""
    best_default = max(point.treat_all, 0.0)
    gain = point.net_benefit - best_default
    default_name = "testing everyone" if point.treat_all > 0 else "testing no one"
    if gain > 0:
        comparison = (
            f"the equivalent of {gain * 100:.1f} more cases found per 100 patients than {default_name}, "
            "with no more unneeded tests"
        )
    elif gain < 0:
        comparison = f"the equivalent of {-gain * 100:.1f} fewer cases found per 100 patients than {default_name}"
    else:
        comparison = f"no better than {default_name}"
    return (
        f"Net benefit of {model}: **{point.net_benefit:.3f}**, against {point.treat_all:.3f} for treat all and "
        f"0 for treat none: {comparison}."
    )


# ------------------------------------------------------------------ subgroups
def mean_out_of_fold(oof_rows) -> np.ndarray:
    """Each patient's out-of-fold P(disease) averaged over the repeats (a model that never saw them, every time)."""
    return np.atleast_2d(np.asarray(oof_rows, dtype=float)).mean(axis=0)


def comparison_groups(frame: pd.DataFrame, y) -> dict[str, pd.Series]:
    """All patients, sex, age band and site (when present), one label per row of the comparison's `y`; a
    ValueError when `frame` is not the data the comparison ran on (model.evaluation.subgroups)."""
    return groups_of_cross_validated(frame, y, "comparison")


def _with_interval(value: float, low: float, high: float, digits: int) -> str:
    if not np.isfinite(value):
        return "—"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}–{high:.{digits}f}]"


SUBGROUP_COLUMNS = {
    "grouping": "Grouping",
    "subgroup": "Subgroup",
    "n": "Patients",
    "events": "With disease",
    "auc": "ROC AUC [95% interval]",
    "oe": "Observed / expected [95% interval]",
    "verdict": "Verdict",
}


def subgroup_display(table: pd.DataFrame) -> pd.DataFrame:
    """subgroup_performance's table as text: "0.85 [0.78–0.91]" cells; a too-small subgroup says so, and why."""
    shown = pd.DataFrame(
        {
            SUBGROUP_COLUMNS["grouping"]: table["grouping"],
            SUBGROUP_COLUMNS["subgroup"]: table["subgroup"],
            SUBGROUP_COLUMNS["n"]: table["n"].astype(int),
            SUBGROUP_COLUMNS["events"]: table["events"].astype(int),
            SUBGROUP_COLUMNS["auc"]: [
                TOO_SMALL if verdict == TOO_SMALL else _with_interval(auc, low, high, 2)
                for auc, low, high, verdict in zip(
                    table["roc_auc"], table["auc_low"], table["auc_high"], table["verdict"], strict=True
                )
            ],
            SUBGROUP_COLUMNS["oe"]: [
                _with_interval(ratio, low, high, 2)
                for ratio, low, high in zip(table["observed_expected"], table["oe_low"], table["oe_high"], strict=True)
            ],
            SUBGROUP_COLUMNS["verdict"]: [
                f"⚠ {TOO_SMALL} ({reason})" if verdict == TOO_SMALL else "enough patients to judge"
                for verdict, reason in zip(table["verdict"], table["reason"], strict=True)
            ],
        }
    )
    return shown.reset_index(drop=True)


def subgroup_row_styles(shown: pd.DataFrame) -> list[list[str]]:
    """CSS per cell of subgroup_display's table: too-small rows greyed and italic, the others plain."""
    small = shown[SUBGROUP_COLUMNS["verdict"]].str.startswith(f"⚠ {TOO_SMALL}")
    return [[TOO_SMALL_ROW if is_small else ""] * shown.shape[1] for is_small in small]


def subgroup_styler(table: pd.DataFrame):
    """subgroup_display with the too-small rows visibly marked."""
    shown = subgroup_display(table)
    styles = pd.DataFrame(subgroup_row_styles(shown), index=shown.index, columns=shown.columns)
    return shown.style.apply(lambda _: styles, axis=None)


def _row_label(grouping: str, subgroup: str) -> str:
    return subgroup if grouping == ALL_PATIENTS else f"{grouping}: {subgroup}"


def subgroup_forest_figure(table: pd.DataFrame, model: str) -> go.Figure:
    """ROC AUC with its 95% interval per subgroup, top to bottom in the table's order; the all-patients AUC as a
    reference line; subgroups too small to judge listed with the words instead of a point."""
    labels = [_row_label(g, s) for g, s in zip(table["grouping"], table["subgroup"], strict=True)]
    judged = (table["verdict"] != TOO_SMALL).to_numpy()
    color = MODEL_COLORS.get(model, OTHER_MODEL_COLOR)
    shown = table[judged]
    fig = go.Figure(
        go.Scatter(
            x=shown["roc_auc"],
            y=[label for label, ok in zip(labels, judged, strict=True) if ok],
            mode="markers",
            name=f"{model}: ROC AUC [95% interval]",
            marker=dict(color=color, size=[max(6.0, min(16.0, 2.0 * math.sqrt(n))) for n in shown["n"]]),
            error_x=dict(
                type="data",
                symmetric=False,
                array=shown["auc_high"] - shown["roc_auc"],
                arrayminus=shown["roc_auc"] - shown["auc_low"],
                color=color,
                thickness=1.5,
                width=5,
            ),
            customdata=np.column_stack([shown["auc_low"], shown["auc_high"], shown["n"]]),
            hovertemplate="%{y}: ROC AUC %{x:.3f} [%{customdata[0]:.3f}–%{customdata[1]:.3f}], "
            "%{customdata[2]:.0f} patients<extra></extra>",
        )
    )
    lows = shown["auc_low"].to_numpy(dtype=float)
    left = min(0.5, float(np.nanmin(lows)) if np.isfinite(lows).any() else 0.5) - 0.02
    if not judged.all():
        fig.add_trace(
            go.Scatter(
                x=[left + 0.01] * int((~judged).sum()),
                y=[label for label, ok in zip(labels, judged, strict=True) if not ok],
                mode="text",
                text=[TOO_SMALL] * int((~judged).sum()),
                textposition="middle right",
                textfont=dict(color="#6b6b76", size=12),
                name=TOO_SMALL,
                hoverinfo="skip",
            )
        )
    overall = table[table["grouping"] == ALL_PATIENTS]
    if len(overall) and np.isfinite(overall["roc_auc"].iloc[0]):
        fig.add_vline(
            x=float(overall["roc_auc"].iloc[0]),
            line=dict(color="#9a9aa6", width=1, dash="dash"),
            annotation_text="all patients",
            annotation_position="top",
        )
    fig.add_vline(x=0.5, line=dict(color="#c8c8d0", width=1))
    fig.update_xaxes(title_text="ROC AUC (0.5: chance)", range=[left, 1.0])
    # Categories listed top to bottom in the table's order.
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed", title_text="")
    fig.update_layout(
        title=f"Discrimination by subgroup<br><sup>{model}</sup>",
        height=140 + 34 * len(labels),
        showlegend=False,
    )
    return apply_theme(fig)
