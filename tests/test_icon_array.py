"""The icon array of 100 people: counts, rounding, the range shading, and its words."""

import re

import pytest

from dashboard.icon_array import (
    HATCH_ID,
    OUT_OF,
    SOURCE_INTERVAL,
    SOURCE_INTERVAL_AND_UNKNOWN,
    SOURCE_UNKNOWN,
    Icon,
    icon_array,
    icon_array_for,
    icon_array_html,
    icon_array_svg,
    icon_array_text,
)
from model.clinic.interval import NoIntervalReason, UncertaintyInterval, no_interval
from model.clinic.risk import RiskResult
from model.clinic.risk_bands import band_for
from model.clinic.unknown_averaging import UnknownRange


def highlighted(array) -> int:
    return sum(icon in (Icon.DISEASE, Icon.DISEASE_UNCERTAIN) for icon in array.icons())


def hatched(array) -> int:
    return sum(icon in (Icon.DISEASE_UNCERTAIN, Icon.HEALTHY_UNCERTAIN) for icon in array.icons())


def drawn_people(svg: str) -> int:
    """People drawn with a solid fill (the hatched overlays repeat a person with the pattern as fill)."""
    return len(re.findall(r'<g transform="translate\(\d+ \d+\)" fill="#', svg))


@pytest.mark.parametrize("probability, expected", [(0.23, 23), (0.0, 0), (1.0, 100), (0.231, 23), (0.9949, 99)])
def test_exactly_n_of_100_are_highlighted(probability, expected):
    array = icon_array(probability)
    assert array.count == expected and len(array.icons()) == OUT_OF
    assert highlighted(array) == expected and hatched(array) == 0
    svg = icon_array_svg(array)
    assert drawn_people(svg) == OUT_OF and svg.count("#d1495b") == expected
    assert HATCH_ID not in svg


@pytest.mark.parametrize("probability", [0.005, 0.015, 0.025, 0.125, 0.285, 0.495, 0.505, 0.995])
def test_the_count_rounds_as_the_shown_percentage_does(probability):
    """At half a percent the icons must agree with the "N %" metric and the "about N of 100" sentence."""
    array = icon_array(probability)
    assert array.count == int(f"{100 * probability:.0f}")
    assert (
        f"About {array.count} of 100"
        in RiskResult(
            probability, band_for(probability), no_interval(NoIntervalReason.NOT_A_NETWORK)
        ).natural_frequency_text()
    )


def test_the_range_is_hatched_and_red_stays_exactly_n():
    array = icon_array(0.23, 0.171, 0.294, SOURCE_INTERVAL)
    assert (array.low, array.count, array.high) == (17, 23, 29)
    assert array.uncertain == 12 and hatched(array) == 12 and highlighted(array) == 23
    icons = array.icons()
    assert icons[:17] == (Icon.DISEASE,) * 17 and icons[17:23] == (Icon.DISEASE_UNCERTAIN,) * 6
    assert icons[23:29] == (Icon.HEALTHY_UNCERTAIN,) * 6 and icons[29:] == (Icon.HEALTHY,) * 71
    svg = icon_array_svg(array)
    assert svg.count(f"url(#{HATCH_ID})") == 12 and drawn_people(svg) == OUT_OF
    text = icon_array_text(array)
    assert "23 of 100 people like this patient would have heart disease; 77 would not." in text
    assert "anywhere from 17 to 29 of 100" in text and "the 12 people shown hatched could go either way" in text


def test_a_range_that_misses_the_estimate_is_widened_to_hold_it():
    array = icon_array(0.40, 0.45, 0.60)
    assert (array.low, array.count, array.high) == (40, 40, 60) and highlighted(array) == 40


def test_a_range_inside_one_person_is_no_range():
    array = icon_array(0.23, 0.228, 0.232, SOURCE_INTERVAL)
    assert not array.has_range and hatched(array) == 0 and "either way" not in icon_array_text(array)


@pytest.mark.parametrize("low, high, uncertain", [(0.0, 0.03, 3), (0.97, 1.0, 3), (0.0, 1.0, 100)])
def test_ranges_reaching_0_and_100(low, high, uncertain):
    probability = (low + high) / 2
    array = icon_array(probability, low, high, SOURCE_UNKNOWN)
    assert array.uncertain == uncertain and hatched(array) == uncertain and len(array.icons()) == OUT_OF


def test_tiny_risks_say_fewer_than_one_and_the_extremes_read_right():
    assert icon_array_text(icon_array(0.004)).startswith("Fewer than 1 of 100 people")
    assert icon_array_text(icon_array(0.0)).startswith("0 of 100 people like this patient")
    assert icon_array_text(icon_array(1.0)).startswith("100 of 100 people like this patient would have heart disease")
    assert "Fewer than 1 in 100" in icon_array_html(icon_array(0.004))


@pytest.mark.parametrize("probability", [-0.01, 1.01, float("nan")])
def test_an_impossible_probability_is_refused(probability):
    with pytest.raises(ValueError, match="must lie in"):
        icon_array(probability)


def test_the_risk_result_chooses_its_range():
    interval = UncertaintyInterval(0.15, 0.31, 0.95, "Monte Carlo dropout", "how")
    unknown = UnknownRange(0.18, 0.27, 40, "the reference patients")
    none = no_interval(NoIntervalReason.NOT_A_NETWORK)
    both = icon_array_for(RiskResult(0.23, band_for(0.23), interval, unknown_range=unknown))
    assert (both.low, both.high, both.range_source) == (15, 31, SOURCE_INTERVAL_AND_UNKNOWN)
    only_interval = icon_array_for(RiskResult(0.23, band_for(0.23), interval))
    assert only_interval.range_source == SOURCE_INTERVAL
    only_unknown = icon_array_for(RiskResult(0.23, band_for(0.23), none, unknown_range=unknown))
    assert (only_unknown.low, only_unknown.high, only_unknown.range_source) == (18, 27, SOURCE_UNKNOWN)
    plain = icon_array_for(RiskResult(0.23, band_for(0.23), none))
    assert not plain.has_range and plain.count == 23


def test_the_svg_carries_its_text_alternative_and_the_legend_its_counts():
    array = icon_array(0.23, 0.17, 0.29, SOURCE_INTERVAL)
    svg = icon_array_svg(array)
    assert 'role="img"' in svg and f'aria-label="{icon_array_text(array)}"' in svg
    assert f"<title>{icon_array_text(array)}</title>" in svg
    page = icon_array_html(array)
    assert "About 23 in 100 people" in page
    assert "would have heart disease (23)" in page and "would not (77)" in page
    assert "could go either way (12)" in page
