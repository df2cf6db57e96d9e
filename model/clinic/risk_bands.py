"""Risk bands (with the reasons for their cut-offs) and the natural frequency of a probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RiskBand:
    name: str
    lower: float  # inclusive
    upper: float  # exclusive (the top band includes 1.0)
    meaning: str

    def contains(self, probability: float) -> bool:
        return self.lower <= probability < self.upper or (self.upper == 1.0 and probability == 1.0)

    @property
    def range_text(self) -> str:
        if self.upper < 1.0:
            return f"{100 * self.lower:.0f} – {100 * self.upper:.0f} %"
        return f"≥ {100 * self.lower:.0f} %"


RISK_BANDS: tuple[RiskBand, ...] = (
    RiskBand("Low", 0.00, 0.15, "disease is unlikely; other causes of the symptoms come first"),
    RiskBand(
        "Intermediate",
        0.15,
        0.50,
        "disease is possible but less likely than not; non-invasive testing helps most in this range",
    ),
    RiskBand("Elevated", 0.50, 0.85, "disease is more likely than not"),
    RiskBand("High", 0.85, 1.00, "disease is very likely"),
)
BAND_RATIONALE = (
    "The 15 % and 85 % cut-offs are the pre-test probability limits of the ESC 2013 guideline on stable "
    "coronary artery disease (below 15 %: look for other causes; above 85 %: disease assumed without further "
    "non-invasive testing). The 50 % cut splits the wide middle range into less likely and more likely than not. "
    "The outcome is angiographic disease (more than 50 % narrowing of a major vessel), not a future event."
)


def band_for(probability: float) -> RiskBand:
    for band in RISK_BANDS:
        if band.contains(probability):
            return band
    raise ValueError(f"probability must lie in [0, 1]; got {probability!r}")


def band_names(probabilities) -> np.ndarray:
    """Vectorised band_for(p).name (lower edges inclusive, as in RiskBand.contains)."""
    edges = [band.lower for band in RISK_BANDS[1:]]
    names = np.array([band.name for band in RISK_BANDS], dtype=object)
    return names[np.searchsorted(edges, np.asarray(probabilities, dtype=float), side="right")]


def natural_frequency(probability: float, out_of: int = 100) -> int:
    """How many of `out_of` patients like this one would have the disease (rounded)."""
    return int(round(float(probability) * out_of))


def natural_frequency_text(probability: float, out_of: int = 100) -> str:
    count = natural_frequency(probability, out_of)
    return (
        f"About {count} of {out_of} patients like this one would have angiographic heart disease; "
        f"about {out_of - count} would not."
    )
