"""An icon array: the patient's risk drawn as 100 people, so many of whom would have heart disease (as QRISK does).

Pure functions, testable without Streamlit: ``icon_array_for`` turns a RiskResult into counts (the highlighted
number is the same rounding as the "about N in 100" sentence), ``icon_array_html`` draws them as one SVG
image (crisp at any width, no JavaScript, one element however many icons) with a legend, and ``icon_array_text`` is
the same picture in words, for screen readers and for the page.

When the risk comes with a range (the model's uncertainty interval, or the spread over plausible values of
what was not given), the people whose fate that range leaves open are hatched: a lighter red for those
counted among the N, grey with red hatching for those who might be. Red fills stay exactly N.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from enum import StrEnum

from dashboard.charts import OUTCOME_COLORS
from model.clinic.risk import RiskResult
from model.clinic.risk_bands import natural_frequency

OUT_OF = 100
PER_ROW = 10
DISEASE = OUTCOME_COLORS[1]
DISEASE_LIGHT = "#e8949e"  # the disease red, lighter: counted among the N, but the range leaves it open
NEUTRAL = "#cfd6de"
HATCH = "#7a1f2b"  # dark red lines: visible on both the light red and the grey
HATCH_ID = "risk-icon-hatch"  # one icon array per page, so a fixed id cannot clash
CELL_W, CELL_H = 24, 28
# A person in a 24 x 28 cell: head, then shoulders and body.
HEAD = dict(cx=12, cy=6, r=4.6)
BODY = "M4 27V17q0-5 5-5h6q5 0 5 5v10z"
SOURCE_INTERVAL = "how sure the model is of its estimate"
SOURCE_INTERVAL_AND_UNKNOWN = "how sure the model is and the values not given"
SOURCE_UNKNOWN = "the values not given"


class Icon(StrEnum):
    DISEASE = "disease"
    DISEASE_UNCERTAIN = "disease, uncertain"  # counted among the N; the range's lower end leaves it open
    HEALTHY_UNCERTAIN = "no disease, uncertain"  # not counted; the range's upper end includes it
    HEALTHY = "no disease"


@dataclass(frozen=True)
class IconArray:
    count: int  # people of 100 with the disease: the rounded risk in %
    low: int  # lower end of the range, in people of 100 (== count when there is no range)
    high: int  # upper end
    range_source: str = ""  # what the range allows for, in words ("" when there is none)
    probability: float = 0.0

    @property
    def uncertain(self) -> int:
        """How many people the range leaves open (hatched)."""
        return self.high - self.low

    @property
    def has_range(self) -> bool:
        return self.uncertain > 0

    def icons(self) -> tuple[Icon, ...]:
        """The 100 icons in reading order (row by row, top left first): red first, then the open ones, then grey."""
        return (
            (Icon.DISEASE,) * self.low
            + (Icon.DISEASE_UNCERTAIN,) * (self.count - self.low)
            + (Icon.HEALTHY_UNCERTAIN,) * (self.high - self.count)
            + (Icon.HEALTHY,) * (OUT_OF - self.high)
        )


def people_of_100(probability: float) -> int:
    """A probability as people of 100, rounded as the risk sentence and the metric round it."""
    probability = float(probability)
    if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
        raise ValueError(f"a probability must lie in [0, 1]; got {probability!r}")
    return natural_frequency(probability, OUT_OF)


def icon_array(
    probability: float, low: float | None = None, high: float | None = None, range_source: str = ""
) -> IconArray:
    """Counts for `probability`, with the range [low, high] (probabilities) when there is one. The range is
    widened to hold the estimate, so red stays exactly the rounded risk and the hatched people surround it."""
    count = people_of_100(probability)
    if low is None or high is None:
        return IconArray(count, count, count, "", float(probability))
    low_count = min(people_of_100(min(low, high)), count)
    high_count = max(people_of_100(max(low, high)), count)
    source = range_source if high_count > low_count else ""
    return IconArray(count, low_count, high_count, source, float(probability))


def icon_array_for(risk: RiskResult) -> IconArray:
    """The icon array of a risk: its uncertainty interval when it has one (that interval already spreads the
    model's passes over the plausible values of what was not given), else the range over those values."""
    interval, unknown = risk.interval, risk.unknown_range
    if interval.available and interval.lower is not None and interval.upper is not None:
        source = SOURCE_INTERVAL_AND_UNKNOWN if unknown is not None else SOURCE_INTERVAL
        return icon_array(risk.probability, interval.lower, interval.upper, source)
    if unknown is not None:
        return icon_array(risk.probability, unknown.low, unknown.high, SOURCE_UNKNOWN)
    return icon_array(risk.probability)


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def headline(array: IconArray) -> str:
    """ "About N in 100", saying "fewer than 1" for a risk that rounds to 0 but is not 0."""
    if array.count == 0 and array.probability > 0:
        return "Fewer than 1 in 100"
    return f"About {array.count} in {OUT_OF}"


def icon_array_text(array: IconArray) -> str:
    """The picture in words: how many of 100 people like this patient would have heart disease, and the range."""
    if array.count == 0 and array.probability > 0:
        text = f"Fewer than 1 of {OUT_OF} people like this patient would have heart disease."
    else:
        text = (
            f"{array.count} of {OUT_OF} people like this patient would have heart disease; "
            f"{OUT_OF - array.count} would not."
        )
    if array.has_range:
        text += (
            f" Allowing for {array.range_source}, it could be anywhere from {array.low} to {array.high} of "
            f"{OUT_OF}: the {_people(array.uncertain)} shown hatched could go either way."
        )
    return text


def _person(column: int, row: int, fill: str) -> str:
    x, y = column * CELL_W, row * CELL_H
    return (
        f'<g transform="translate({x} {y})" fill="{fill}">'
        f'<circle cx="{HEAD["cx"]}" cy="{HEAD["cy"]}" r="{HEAD["r"]}"/><path d="{BODY}"/></g>'
    )


FILLS = {
    Icon.DISEASE: DISEASE,
    Icon.DISEASE_UNCERTAIN: DISEASE_LIGHT,
    Icon.HEALTHY_UNCERTAIN: NEUTRAL,
    Icon.HEALTHY: NEUTRAL,
}
HATCHED = (Icon.DISEASE_UNCERTAIN, Icon.HEALTHY_UNCERTAIN)


def _hatch_pattern() -> str:
    return (
        f'<defs><pattern id="{HATCH_ID}" width="4" height="4" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="1.6" height="4" fill="{HATCH}"/></pattern></defs>'
    )


def icon_array_svg(array: IconArray) -> str:
    """The 10 x 10 people as one SVG document; its title (and aria-label) is the text alternative."""
    label = html.escape(icon_array_text(array))
    width, height = PER_ROW * CELL_W, (OUT_OF // PER_ROW) * CELL_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        f'style="width:100%;max-width:300px;height:auto;display:block">',
        f"<title>{label}</title>",
    ]
    if array.has_range:
        parts.append(_hatch_pattern())
    for index, icon in enumerate(array.icons()):
        row, column = divmod(index, PER_ROW)
        parts.append(_person(column, row, FILLS[icon]))
        if icon in HATCHED:
            parts.append(_person(column, row, f"url(#{HATCH_ID})"))
    parts.append("</svg>")
    return "".join(parts)


def _swatch(fill: str, hatched: bool = False) -> str:
    """A small square of the legend, drawn with CSS (st.html's sanitiser keeps styles but removes inline SVG)."""
    hatch = f"repeating-linear-gradient(45deg,{HATCH} 0 1.5px,transparent 1.5px 4px)," if hatched else ""
    return (
        '<span aria-hidden="true" style="display:inline-block;width:12px;height:12px;border-radius:2px;'
        f'vertical-align:-1px;margin-right:4px;background:{hatch}{fill}"></span>'
    )


def icon_array_html(array: IconArray) -> str:
    """The icon array with its headline and a legend that says what each look means (for st.html).

    st.html sanitises with DOMPurify's HTML profile, which removes inline SVG: the SVG goes in as an image
    (a data URI, still vector and crisp) whose alt text is the picture in words."""
    legend = [
        f"{_swatch(DISEASE)}would have heart disease ({array.count})",
        f"{_swatch(NEUTRAL)}would not ({OUT_OF - array.count})",
    ]
    if array.has_range:
        legend.append(f"{_swatch(DISEASE_LIGHT, hatched=True)}hatched: could go either way ({array.uncertain})")
    items = "".join(f'<li style="margin:0 12px 2px 0;display:inline-block">{item}</li>' for item in legend)
    source = "data:image/svg+xml;base64," + base64.b64encode(icon_array_svg(array).encode()).decode("ascii")
    return (
        '<figure style="margin:0">'
        f'<div style="font-weight:600;font-size:1.05rem;margin-bottom:4px">{headline(array)} people like '
        "this patient would have heart disease</div>"
        f'<img src="{source}" alt="{html.escape(icon_array_text(array))}" '
        'style="width:100%;max-width:300px;height:auto;display:block">'
        f'<figcaption><ul style="list-style:none;padding:0;margin:6px 0 0 0;font-size:0.9rem">{items}</ul>'
        "</figcaption></figure>"
    )
