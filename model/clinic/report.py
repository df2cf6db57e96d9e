"""One patient's report as a single self-contained HTML file (no scripts, no external links).

Inputs, risk with its band and thresholds, natural frequency, uncertainty interval
(and its method), the per-feature contributions as an inline SVG bar chart, the
position in the reference population, the model card and the disclaimer. Opens in
any browser and prints to PDF from there.
"""

from __future__ import annotations

import datetime as _dt
from html import escape

from model.clinic.explain import Explanation
from model.clinic.model_card import ModelCard
from model.clinic.patient_checks import PatientCheck, format_value, imputation_note
from model.clinic.risk import RiskResult, WhatIf
from model.clinic.risk_bands import BAND_RATIONALE, RISK_BANDS
from model.data.schema import FEATURES

RAISES_COLOR = "#d1495b"  # pushes the risk up (the app's "disease" red)
LOWERS_COLOR = "#2a9d8f"  # pushes the risk down (the app's "no disease" green)
NEUTRAL_COLOR = "#9aa5b1"  # the "not given" row: averaged over plausible values, credits no feature

_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;color:#262730;max-width:820px;margin:24px auto;padding:0 16px;
line-height:1.45}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}
td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
.risk{font-size:2.2em;font-weight:bold}.band{font-weight:bold}.muted{color:#666;font-size:.9em}
.warn{background:#fff6e0;border-left:4px solid #e9a03b;padding:6px 10px;margin:6px 0}
.disclaimer{background:#fdecea;border-left:4px solid #d1495b;padding:8px 12px;margin:16px 0}
"""


def contributions_svg(explanation: Explanation, width: int = 760, bar_height: int = 22) -> str:
    """Horizontal bars from a centre line: right (red) raises the risk, left (green) lowers it."""
    table = explanation.table()
    label_width, value_width = 300, 70
    plot_width = width - label_width - value_width
    centre = label_width + plot_width / 2
    largest = max(float(table["contribution"].abs().max()), 1e-9)
    height = bar_height * len(table) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Per-feature contributions" '
        'font-family="Helvetica,Arial,sans-serif" font-size="12">'
    ]
    for i, row in enumerate(table.itertuples()):
        y = 4 + i * bar_height
        length = (plot_width / 2 - 4) * abs(row.contribution) / largest
        x = centre if row.contribution >= 0 else centre - length
        color = NEUTRAL_COLOR if row.neutral else RAISES_COLOR if row.contribution >= 0 else LOWERS_COLOR
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">'
            f"{escape(row.label)}: {escape(row.value)}</text>"
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 3}" width="{max(length, 0.5):.1f}" height="{bar_height - 6}" fill="{color}"/>'
        )
        parts.append(f'<text x="{width - 4}" y="{y + 15}" text-anchor="end">{100 * row.contribution:+.1f} pp</text>')
    axis_y = 4 + len(table) * bar_height
    parts.append(f'<line x1="{centre}" y1="2" x2="{centre}" y2="{axis_y}" stroke="#888"/>')
    parts.append(
        f'<text x="{centre - 6}" y="{axis_y + 16}" text-anchor="end" fill="{LOWERS_COLOR}">← lowers the risk</text>'
    )
    parts.append(f'<text x="{centre + 6}" y="{axis_y + 16}" fill="{RAISES_COLOR}">raises the risk →</text>')
    parts.append("</svg>")
    return "".join(parts)


def _uncertainty_text(risk: RiskResult) -> str:
    interval = risk.interval
    if not interval.available:
        return interval.text()
    return f"{interval.text()}. {interval.detail[:1].upper()}{interval.detail[1:]}"


def _rows(pairs) -> str:
    return "".join(f"<tr><th>{escape(str(a))}</th><td>{escape(str(b))}</td></tr>" for a, b in pairs)


def _model_card_html(card: ModelCard) -> str:
    out = [f"<p><b>{escape(card.name)}</b></p>"]
    for title, body in card.sections():
        if isinstance(body, str):
            out.append(f"<p><b>{escape(title)}.</b> {escape(body)}</p>")
        elif body and isinstance(body[0], tuple):
            out.append(f"<p><b>{escape(title)}</b></p><table>{_rows(body)}</table>")
        else:
            out.append(
                f"<p><b>{escape(title)}</b></p><ul>" + "".join(f"<li>{escape(item)}</li>" for item in body) + "</ul>"
            )
    return "".join(out)


def patient_report_html(
    patient: PatientCheck,
    risk: RiskResult,
    explanation: Explanation,
    card: ModelCard,
    *,
    percentile: float | None = None,
    population_name: str | None = None,
    what_if: WhatIf | None = None,
    cholesterol_unit_note: str | None = None,
    created: _dt.datetime | None = None,
) -> str:
    """The whole report as one HTML string."""
    created = created or _dt.datetime.now()
    inputs = [(feat.label_with_unit(), format_value(feat, patient.values[feat.name])) for feat in FEATURES]
    html = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Heart-disease risk report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Estimated probability of heart disease</h1>",
        f"<p class='muted'>Report created {escape(created.strftime('%Y-%m-%d %H:%M'))} · model: "
        f"{escape(card.name)}</p>",
        f"<div class='disclaimer'><b>Not a medical device.</b> {escape(card.disclaimer)}</div>",
        "<h2>Result</h2>",
        f"<p><span class='risk'>{risk.percent:.0f} %</span> &nbsp; risk band: "
        f"<span class='band'>{escape(risk.band.name)}</span> ({escape(risk.band.range_text)})</p>",
        f"<p>{escape(risk.natural_frequency_text())}</p>",
        f"<p><b>Uncertainty.</b> {escape(_uncertainty_text(risk))}</p>",
    ]
    if percentile is not None:
        html.append(
            f"<p><b>Population.</b> Higher than {percentile:.0f} % of the patients in "
            f"{escape(population_name or 'the reference data')}.</p>"
        )
    if what_if is not None:
        html.append(f"<p><b>What-if.</b> {escape(what_if.text())}</p>")
    notes = [
        risk.reference_note,
        risk.atypical_text(),
        risk.unknown_range.text() if risk.unknown_range is not None else None,
        imputation_note(patient.imputed),
    ] + list(risk.warnings)
    html += [f"<div class='warn'>{escape(note)}</div>" for note in notes if note]
    bands = [(f"{band.name} ({band.range_text})", band.meaning) for band in RISK_BANDS]
    html += ["<h3>Risk bands</h3>", f"<table>{_rows(bands)}</table>", f"<p class='muted'>{escape(BAND_RATIONALE)}</p>"]
    html += ["<h2>Patient inputs</h2>", f"<table>{_rows(inputs)}</table>"]
    if cholesterol_unit_note:
        html.append(f"<p class='muted'>{escape(cholesterol_unit_note)}</p>")
    html += [
        "<h2>What drove this estimate</h2>",
        f"<p>Contribution of each feature in percentage points (pp) of risk, compared with "
        f"{escape(explanation.reference)} (estimated risk {explanation.baseline_probability:.0%}). "
        f"The contributions add up to {100 * explanation.total:+.1f} pp. Method: {escape(explanation.method)}."
        + (
            " The grey row is what the values not given add when averaged over their plausible values; it credits "
            "no feature."
            if explanation.unknown
            else ""
        )
        + "</p>",
    ]
    if explanation.fallback_reason is not None:
        html.append(f"<div class='warn'>{escape(explanation.fallback_text() or '')}</div>")
    html += [
        contributions_svg(explanation),
        "<h2>Model card</h2>",
        _model_card_html(card),
        f"<div class='disclaimer'>{escape(card.disclaimer)}</div>",
        "</body></html>",
    ]
    return "\n".join(html)
