"""One patient's report as a single self-contained HTML file (no scripts, no external links).

A header with the optional patient identifier, clinician and date; inputs (cholesterol in
the unit it was entered in), risk with its band and thresholds, natural frequency,
uncertainty interval (and its method), the per-feature contributions as an inline SVG bar
chart with the raw disease rate beside each (model/clinic/crude_association.py), the
position in the reference population, the model card and the disclaimer. Opens in any
browser and prints on A4 from there (print styles: black on white, no table or chart split
across pages).

The identifier and clinician fields are bounded and checked here (``clean_report_field``)
and escaped like every other text; this module neither stores nor logs them.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from collections.abc import Mapping
from html import escape

from model.clinic.cholesterol_units import CHOLESTEROL_MGDL_PER_MMOL, CHOLESTEROL_UNITS, mgdl_to_mmol
from model.clinic.crude_association import ASSOCIATION_NOTE, CrudeAssociation, band_text, disagrees
from model.clinic.explain import Explanation
from model.clinic.model_card import ModelCard
from model.clinic.patient_checks import PatientCheck, format_value, imputation_note
from model.clinic.risk import RiskResult, WhatIf
from model.clinic.risk_bands import BAND_RATIONALE, RISK_BANDS
from model.data.schema import FEATURES, feature

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
.header{border:1px solid #bbb;padding:6px 10px;margin:0 0 12px}.header td,.header th{border:0;padding:2px 8px}
.header th{width:7em}
.blank{display:inline-block;min-width:14em;border-bottom:1px solid #666}
.opposite{font-weight:bold}
svg{max-width:100%;height:auto}
@page{size:A4;margin:18mm 15mm}
@media print{
body{max-width:none;margin:0;padding:0;color:#000;background:#fff;font-size:10.5pt}
p,td,th,li,h1,h2,h3,.muted,.warn,.disclaimer,.header{color:#000;background:#fff}
.warn,.disclaimer,.header{border:1px solid #000;border-left-width:4px}
table,tr,svg,.header,.warn,.disclaimer{break-inside:avoid;page-break-inside:avoid}
h2,h3{break-after:avoid;page-break-after:avoid}
svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""
MAX_FIELD_LENGTH = 80  # characters of the patient identifier and the clinician fields


class ReportFieldError(ValueError):
    """A patient identifier or clinician field that cannot go into the report; the message says why."""


def clean_report_field(label: str, text: str | None) -> str:
    """The field as it goes into the report: surrounding spaces removed; "" when empty.

    Raises ReportFieldError (a message for the user) when it is longer than MAX_FIELD_LENGTH characters or holds
    a control character (a line break, a tab): the header has one line per field. Quotes and angle brackets are
    allowed (O'Brien, <ward 3>): they are escaped in the HTML."""
    cleaned = (text or "").strip()
    if len(cleaned) > MAX_FIELD_LENGTH:
        raise ReportFieldError(
            f"{label} is {len(cleaned)} characters long; at most {MAX_FIELD_LENGTH} fit in the report header."
        )
    if any(unicodedata.category(char).startswith("C") for char in cleaned):
        raise ReportFieldError(f"{label} holds a line break, tab or other control character; use one plain line.")
    return cleaned


def contributions_svg(
    explanation: Explanation, width: int = 760, bar_height: int = 22, shown_values: Mapping[str, str] | None = None
) -> str:
    """Horizontal bars from a centre line: right (red) raises the risk, left (green) lowers it. `shown_values`
    replaces a feature's value text (cholesterol in the unit it was entered in)."""
    table = explanation.table()
    if shown_values:
        table["value"] = [
            shown_values.get(str(name), value) for name, value in zip(table["feature"], table["value"], strict=True)
        ]
    labels = [f"{label}: {value}" for label, value in zip(table["label"], table["value"], strict=True)]
    # About 6.3 px a character at 12 px Helvetica: room for the longest label (the not-given row is long), within
    # the width.
    label_width, value_width = int(min(max(300, 6.3 * max(map(len, labels), default=0) + 12), width / 2)), 70
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
        parts.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{escape(labels[i])}</text>')
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


CHOLESTEROL = "chol"
NOT_USED = "Not used by this model"


def cholesterol_shown(mgdl: float, unit: str, entered: float | None = None) -> str:
    """Cholesterol as the report shows it: in mg/dL, or in mmol/L as entered with the mg/dL the model used."""
    if unit not in CHOLESTEROL_UNITS:
        raise ValueError(f"cholesterol unit {unit!r} is not one of {', '.join(CHOLESTEROL_UNITS)}")
    feat = feature(CHOLESTEROL)
    if unit == "mg/dL" or mgdl != mgdl:  # NaN: unknown reads the same in any unit
        return format_value(feat, mgdl)
    mmol = mgdl_to_mmol(mgdl) if entered is None else float(entered)
    return f"{mmol:.2f} mmol/L ({format_value(feat, mgdl)} for the model)"


def _header_html(patient_id: str, clinician: str, created: _dt.datetime) -> str:
    """Patient, clinician and date at the top; an empty field is a line to write on once printed."""

    def field(text: str) -> str:
        return escape(text, quote=True) if text else "<span class='blank'>&nbsp;</span>"

    rows = (
        ("Patient", field(patient_id)),
        ("Clinician", field(clinician)),
        ("Date", escape(created.strftime("%Y-%m-%d"))),
    )
    return "<table class='header'>" + "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows) + "</table>"


def _association_cell(association: CrudeAssociation | None, unit: str) -> str:
    """The raw rate beside one bar: rate, counts, group (a cholesterol band in the unit it was entered in)."""
    if association is None:
        return "no raw rate for this value"
    group = None
    if association.feature == CHOLESTEROL and unit == "mmol/L" and association.banded:
        group = band_text(
            feature(CHOLESTEROL), association.lower, association.upper, 1 / CHOLESTEROL_MGDL_PER_MMOL, "mmol/L"
        )
    return escape(association.text(group))


def _associations_html(
    explanation: Explanation, associations: Mapping[str, CrudeAssociation], shown_values: Mapping[str, str], unit: str
) -> list[str]:
    """A table: each bar's value and contribution beside the raw disease rate, and the note where they disagree."""
    table = explanation.table()
    rows, opposite = [], []
    for row in table[~table["neutral"].to_numpy(dtype=bool)].itertuples():
        association = associations.get(str(row.feature))
        clash = disagrees(row.contribution, association)
        if clash:
            opposite.append(row.label)
        value = shown_values.get(str(row.feature), row.value)
        rows.append(
            f"<tr><td>{escape(row.label)}: {escape(value)}</td><td>{100 * row.contribution:+.1f}</td>"
            f"<td>{_association_cell(association, unit)}"
            + (" <span class='opposite'>Opposite directions.</span>" if clash else "")
            + "</td></tr>"
        )
    html = [
        "<h3>Beside each contribution: the raw rate in the reference data</h3>",
        "<p class='muted'>How often reference patients who share the patient's value had heart disease, against "
        "all of them: not adjusted for any other value.</p>",
        "<table><tr><th>Value</th><th>Model (pp)</th><th>Raw disease rate among reference patients</th></tr>"
        + "".join(rows)
        + "</table>",
    ]
    if opposite:
        html.append(
            f"<div class='warn'><b>Why the model and the raw rate point different ways for "
            f"{escape(', '.join(opposite))}.</b> {escape(ASSOCIATION_NOTE)}</div>"
        )
    return html


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
    patient_id: str | None = None,
    clinician: str | None = None,
    cholesterol_unit: str = "mg/dL",
    cholesterol_entered: float | None = None,
    associations: Mapping[str, CrudeAssociation] | None = None,
) -> str:
    """The whole report as one HTML string.

    `patient_id`, `clinician`: optional header fields (checked by ``clean_report_field``: ReportFieldError when
    too long or not one line). `cholesterol_unit`: the unit cholesterol was entered in ("mg/dL" or "mmol/L"),
    `cholesterol_entered` the value as typed in it. `associations`: the raw disease rate beside each contribution
    (model.clinic.crude_association.crude_associations)."""
    patient_id = clean_report_field("The patient identifier", patient_id)
    clinician = clean_report_field("The clinician", clinician)
    created = created or _dt.datetime.now()
    chol_text = cholesterol_shown(patient.values.get(CHOLESTEROL, float("nan")), cholesterol_unit, cholesterol_entered)
    # The bar's label stays short (the inputs table gives the mg/dL the model used).
    shown_values = {CHOLESTEROL: chol_text.split(" (")[0]} if cholesterol_unit == "mmol/L" else {}
    # A feature neither explained nor unknown is one the model does not use (before imaging: vessels, thallium).
    not_used = {
        feat.name
        for feat in FEATURES
        if feat.name not in explanation.contributions.index and feat.name not in explanation.unknown
    }
    inputs = [
        (
            f"{feat.label} ({cholesterol_unit})" if feat.name == CHOLESTEROL else feat.label_with_unit(),
            NOT_USED
            if feat.name in not_used
            else chol_text
            if feat.name == CHOLESTEROL
            else format_value(feat, patient.values.get(feat.name)),
        )
        for feat in FEATURES
    ]
    html = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Heart-disease risk report</title>",
        f"<style>{_STYLE}</style></head><body>",
        _header_html(patient_id, clinician, created),
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
    html.append(contributions_svg(explanation, shown_values=shown_values))
    if associations is not None:
        html += _associations_html(explanation, associations, shown_values, cholesterol_unit)
    html += [
        "<h2>Model card</h2>",
        _model_card_html(card),
        f"<div class='disclaimer'>{escape(card.disclaimer)}</div>",
        "</body></html>",
    ]
    return "\n".join(html)
