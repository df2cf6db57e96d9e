"""Total cholesterol in mg/dL (the model's unit, as in the UCI data) and mmol/L (the form's other unit).

1 mmol/L of total cholesterol = 38.67 mg/dL: the molar mass of cholesterol, 386.65 g/mol,
divided by 10 for dL.
"""

from __future__ import annotations

CHOLESTEROL_MGDL_PER_MMOL = 38.67  # total cholesterol: 1 mmol/L = 38.67 mg/dL
CHOLESTEROL_UNITS = ("mg/dL", "mmol/L")


def mmol_to_mgdl(mmol_per_l: float) -> float:
    """Total cholesterol in mmol/L -> mg/dL (exact factor 38.67)."""
    return float(mmol_per_l) * CHOLESTEROL_MGDL_PER_MMOL


def mgdl_to_mmol(mg_per_dl: float) -> float:
    """Total cholesterol in mg/dL -> mmol/L (exact factor 38.67)."""
    return float(mg_per_dl) / CHOLESTEROL_MGDL_PER_MMOL
