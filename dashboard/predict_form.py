"""The patient form, built field by field from model/data/schema.py.

Each field's widget is chosen from the schema entry: named categories (never raw codes)
in a select box, small whole-number ranges (vessels 0–3) in a select box, everything
else in a number box without a widget clamp, so an impossible value reaches
``model.clinic.patient_checks.check_patient`` and its message is shown right under the field. "Unknown"
is offered where the schema allows it (``unknown_allowed``): a select box has an Unknown
option, and a number box can be cleared — an empty box is Unknown (or, for a value that
is required, "… is required"), never 0. Cholesterol can be entered in mg/dL or mmol/L.
Every key is an explicit constant; values persist for the browser session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from dashboard.state import KEY_MOMENT
from model.clinic.cholesterol_units import CHOLESTEROL_MGDL_PER_MMOL, CHOLESTEROL_UNITS, mgdl_to_mmol, mmol_to_mgdl
from model.clinic.patient_checks import PatientCheck, check_patient
from model.data.schema import FEATURES, MOMENTS_OF_CARE, WITH_IMAGING, Feature, feature, moment_of_care

FIELD_PREFIX = "predict.field."  # + feature name (+ "." + unit for cholesterol)
KEY_CHOL_UNIT = "predict.chol_unit"
KEY_CHOL_UNIT_NOTE = "predict.chol_unit_note"  # why the last unit switch was refused
CHOLESTEROL = "chol"
UNKNOWN = "Unknown"
UNKNOWN_OPTION = f"{UNKNOWN} (averaged over plausible values)"
SELECT_MAX_VALUES = 10  # a whole-number range this short is a select box
N_FORM_COLUMNS = 3
PERSIST = "session"  # keep the patient when the user visits another page
# The mmol/L box accepts up to 10x the schema's possible range, so a typo such as 25 mmol/L still reaches
# check_patient (and its message) while absurd numbers (1e308, whose mg/dL would overflow) cannot be typed.
MMOL_BOX_HEADROOM = 10


def field_key(name: str, prefix: str = FIELD_PREFIX) -> str:
    return prefix + name


def chol_key(unit: str, prefix: str = FIELD_PREFIX) -> str:
    return f"{prefix}{CHOLESTEROL}.{unit}"


def choices(feat: Feature) -> list | None:
    """The options of a select box for `feat`, or None when it is a number box."""
    if feat.categories:
        options = list(feat.codes)
    elif (
        feat.integer
        and feat.hard_min is not None
        and feat.hard_max is not None
        and feat.hard_max - feat.hard_min <= SELECT_MAX_VALUES
    ):
        options = list(range(int(feat.hard_min), int(feat.hard_max) + 1))
    else:
        return None
    return options + ([None] if feat.unknown_allowed else [])


def _option_label(feat: Feature):
    def label(option) -> str:
        if option is None:
            return UNKNOWN_OPTION
        return feat.category_label(option) if feat.categories else f"{option:g}"  # the unit is in the label

    return label


def field_help(feat: Feature) -> str:
    """The field's description, then one line for each category label the schema explains."""
    lines = [f"- **{feat.category_label(code)}**: {text}" for code, text in feat.category_help.items()]
    return feat.description + ("\n\n" + "\n".join(lines) if lines else "")


def _number_value(feat: Feature, value):
    """Whole numbers as int (an integer number box), other values as float."""
    if value is None:
        return None
    return int(round(value)) if feat.integer else round(float(value), 2)


def _seed(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def mmol_box_range() -> tuple[float, float]:
    """(min, max) of the mmol/L number box: 0 to MMOL_BOX_HEADROOM x the schema's cholesterol maximum."""
    return 0.0, float(math.ceil(MMOL_BOX_HEADROOM * mgdl_to_mmol(feature(CHOLESTEROL).hard_max)))


def whole_mgdl(mmol):
    """mmol/L -> the whole mg/dL the training data were recorded in; a non-finite value is passed on
    unchanged for check_patient to report (int() of it would raise)."""
    mgdl = mmol_to_mgdl(mmol)
    return int(round(mgdl)) if math.isfinite(mgdl) else mgdl


def _convert_cholesterol(prefix: str) -> None:
    """on_change of the unit toggle: carry the value over, converted with 1 mmol/L = 38.67 mg/dL.

    A mg/dL value beyond what the mmol/L box accepts is not converted (the box would silently
    replace it): the unit stays mg/dL and a note says why, so the entered value is kept.
    """
    unit = st.session_state[KEY_CHOL_UNIT]
    mg, mmol = chol_key("mg/dL", prefix), chol_key("mmol/L", prefix)
    if unit == "mmol/L" and st.session_state.get(mg) is not None:
        converted = mgdl_to_mmol(st.session_state[mg])
        low, high = mmol_box_range()
        if not (math.isfinite(converted) and low <= converted <= high):
            st.session_state[KEY_CHOL_UNIT] = "mg/dL"
            st.session_state[KEY_CHOL_UNIT_NOTE] = (
                f"Cholesterol {st.session_state[mg]:g} mg/dL cannot be shown in mmol/L (the box takes {low:g} to "
                f"{high:g} mmol/L); correct it in mg/dL first."
            )
            return
        st.session_state[mmol] = round(converted, 2)
    elif unit == "mg/dL" and st.session_state.get(mmol) is not None:
        st.session_state[mg] = whole_mgdl(st.session_state[mmol])


def cholesterol_unit() -> str:
    return st.session_state.get(KEY_CHOL_UNIT, CHOLESTEROL_UNITS[0])


def value_widget(feat: Feature, default, prefix: str = FIELD_PREFIX, label: str | None = None):
    """Draw the widget for one feature; return its value in UCI coding (cholesterol in mg/dL)."""
    label = label or feat.label_with_unit()
    options = choices(feat)
    if options is not None:
        key = field_key(feat.name, prefix)
        _seed(key, default if default in options else options[0])
        return st.selectbox(
            label, options, format_func=_option_label(feat), key=key, persist_state=PERSIST, help=field_help(feat)
        )
    if feat.name == CHOLESTEROL:
        unit = cholesterol_unit()
        key = chol_key(unit, prefix)
        seeded = default if unit == "mg/dL" or default is None else round(mgdl_to_mmol(default), 2)
        _seed(key, _number_value(feat, seeded) if unit == "mg/dL" else seeded)
        bounds = dict(zip(("min_value", "max_value"), mmol_box_range(), strict=True)) if unit == "mmol/L" else {}
        entered = st.number_input(
            f"{feat.label} ({unit})",
            value=None,
            key=key,
            step=1 if unit == "mg/dL" else 0.1,
            placeholder=_placeholder(feat),
            format="%d" if unit == "mg/dL" else "%.2f",
            persist_state=PERSIST,
            help=f"{feat.description}. 1 mmol/L = {CHOLESTEROL_MGDL_PER_MMOL} mg/dL.",
            **bounds,
        )
        if entered is None or unit == "mg/dL":
            return entered
        return whole_mgdl(entered)  # exact conversion, then whole mg/dL
    key = field_key(feat.name, prefix)
    _seed(key, _number_value(feat, default))
    # value=None makes the box clearable: an emptied box returns None (Unknown), never a stale number or 0.
    return st.number_input(
        label,
        value=None,
        key=key,
        step=1 if feat.integer else feat.step,
        placeholder=_placeholder(feat),
        format="%d" if feat.integer else "%.1f",
        persist_state=PERSIST,
        help=feat.description,
    )


def _placeholder(feat: Feature) -> str:
    """What an empty number box means."""
    return f"{UNKNOWN} (averaged over plausible values)" if feat.unknown_allowed else "Required"


def cholesterol_message(message: str, entered_mgdl) -> str:
    """Add the mmol/L view to a cholesterol message when the user works in mmol/L."""
    if cholesterol_unit() != "mmol/L" or entered_mgdl is None:
        return message
    feat = feature(CHOLESTEROL)
    return (
        f"{message} (you entered {mgdl_to_mmol(entered_mgdl):.2f} mmol/L; possible range "
        f"{mgdl_to_mmol(feat.hard_min):.2f} – {mgdl_to_mmol(feat.hard_max):.2f} mmol/L)"
    )


@dataclass(frozen=True)
class FormResult:
    check: PatientCheck
    entered: dict  # what the widgets returned, UCI coding, cholesterol in mg/dL
    chol_unit: str


def render_moment_choice() -> str:
    """Ask which moment of care the clinician is at; return its name (model.data.schema.MOMENTS_OF_CARE)."""
    _seed(KEY_MOMENT, WITH_IMAGING)
    chosen = st.radio(
        "Moment of care",
        [m.name for m in MOMENTS_OF_CARE],
        key=KEY_MOMENT,
        horizontal=True,
        persist_state=PERSIST,
        format_func=lambda name: moment_of_care(name).label,
        help=" ".join(f"**{m.label}**: {m.description}" for m in MOMENTS_OF_CARE),
    )
    return chosen or WITH_IMAGING


def left_out_caption(left_out: tuple[str, ...]) -> str:
    """Why some fields are not asked for (the model in use does not use them)."""
    labels = ", ".join(feature(name).label for name in left_out)
    if all(feature(name).from_imaging for name in left_out):
        return (
            f"Not asked: {labels}. They are known only from imaging, so the before-imaging model does not use "
            "them (a pre-test estimate that needed them would be circular). Values entered earlier are kept."
        )
    return f"Not asked: {labels}. The model in use was trained without them, so they cannot change its estimate."


def render_patient_form(defaults: dict[str, float], left_out: tuple[str, ...] = ()) -> FormResult:
    """The fields of the features the model uses (all 13, or fewer: `left_out`) in columns, each followed by its
    error (hard limit) or warning (atypical). A left-out field keeps its value for when it is asked again."""
    st.radio(
        "Cholesterol unit",
        CHOLESTEROL_UNITS,
        key=KEY_CHOL_UNIT,
        horizontal=True,
        persist_state=PERSIST,
        on_change=_convert_cholesterol,
        args=(FIELD_PREFIX,),
        help=f"Converted exactly: 1 mmol/L = {CHOLESTEROL_MGDL_PER_MMOL} mg/dL (total cholesterol).",
    )
    refused = st.session_state.pop(KEY_CHOL_UNIT_NOTE, None)
    if refused:
        st.warning(refused, icon=":material/swap_horiz:")
    columns = st.columns(N_FORM_COLUMNS)
    asked = [feat for feat in FEATURES if feat.name not in left_out]
    per_column = -(-len(asked) // N_FORM_COLUMNS)
    entered, slots = {}, {}
    for index, feat in enumerate(asked):
        with columns[index // per_column]:
            entered[feat.name] = value_widget(feat, defaults.get(feat.name))
            slots[feat.name] = st.empty()
    if left_out:
        st.caption(left_out_caption(left_out))
    checked = check_patient(entered, left_out=left_out)
    for name, slot in slots.items():
        if name in checked.errors:
            message = checked.errors[name]
            if name == CHOLESTEROL:
                message = cholesterol_message(message, entered[name])
            slot.error(message, icon=":material/block:")
        elif name in checked.warnings:
            slot.warning(checked.warnings[name], icon=":material/warning:")
    return FormResult(checked, entered, cholesterol_unit())


def reset_form(prefix: str = FIELD_PREFIX) -> None:
    """Forget every field so the defaults (typical patient) come back."""
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[key]
