"""A named table in the Kaggle or TensorFlow-tutorial coding turned into UCI coding, every conversion listed.

``recode`` asks model/data/coding_detection.py for the file's coding and converts; rows that
do not fit that coding become errors of their rows. ``convert_target`` turns UCI's ``num``
(0-4) into the package's target (num > 0) and checks it against a ``target`` column.
"""

from __future__ import annotations

import logging

import pandas as pd

from model.data.coding_detection import AMBIGUOUS, CodingDecision, coding_name, decide_coding, pass_coding_hint
from model.data.codings import (
    KAGGLE_MISSING_CODE,
    KAGGLE_TO_UCI,
    TF_THAL_TO_UCI,
    UCI_NUM,
    UCI_NUM_CODES,
    allowed_kaggle_codes,
    kaggle_to_uci,
    tf_thal_to_uci,
)
from model.data.csv_cells import MISSING_MARKERS, numbers_of
from model.data.import_report import SHOWN_VALUES, ValidationReport, count_of, data_rows, describe_rows
from model.data.schema import FEATURE_NAMES, TARGET, feature, short_repr

logger = logging.getLogger(__name__)


def recode(frame: pd.DataFrame, report: ValidationReport, coding: str | None = None) -> pd.DataFrame | None:
    """Turn a Kaggle or TensorFlow-tutorial coded frame into UCI coding, saying so.

    The coding is `coding` when given, else what the values say (model/data/coding_detection.py);
    rows that do not fit it become errors of their rows.
    """
    if any(name not in frame for name in FEATURE_NAMES):
        return frame  # validation names the missing columns
    headerless = report.coding == "uci-processed"
    decision = decide_coding(frame, coding, num_header=UCI_NUM in frame and not headerless)
    report.coding_given = coding
    if decision.coding is None:
        _refuse_undecided(decision, report)
        return None
    for note in decision.notes:
        report.warn(None, [], note)
    if coding is not None:
        report.warn(None, [], f"read in the {coding_name(coding)} coding, as chosen (coding='{coding}')")
    if decision.strays:
        logger.info("%d row(s) do not fit the %s coding", len(decision.strays), decision.coding)
    report.rows_not_fitting(decision.stray_issues, decision.strays)
    if decision.coding == "kaggle":
        report.coding = "kaggle"
        if headerless and UCI_NUM in frame:
            frame = frame.rename(columns={UCI_NUM: TARGET.name})
        if UCI_NUM in frame:
            report.error(UCI_NUM, [], "a Kaggle-coded file should carry 'target', not UCI 'num'")
            return None
        return _convert_kaggle(frame, report)
    if decision.coding == "tensorflow":
        report.coding = "tensorflow"
        return _convert_tensorflow(frame, report)
    if not headerless:
        report.coding = "uci"
    return frame


def _refuse_undecided(decision: CodingDecision, report: ValidationReport) -> None:
    """The file-level error when the values do not decide the coding."""
    if not decision.candidates:
        report.error(None, [], decision.error or "the coding of the file cannot be told from its values")
        return
    report.candidate_codings = list(decision.candidates)
    direction = decision.direction
    if direction is None:
        target = "and there is no target with both outcomes to tell them apart"
    else:
        target = f"and the target does not tell them apart either ({direction.describe()}: not conclusive)"
    report.error(
        None,
        [],
        (
            "the coding cannot be told from the values: every code in the file is valid in both the UCI and the "
            "Kaggle coding (only the Kaggle coding uses cp = 0, slope = 0, ca = 4 or thal = 0, 1, 2; only the UCI "
            f"coding cp = 4, slope = 3 or thal = 6, 7), {target}. The two readings differ: in the UCI coding "
            "thal = 3 is a normal result and target = 1 means disease; in the Kaggle coding thal = 3 is a "
            "reversible defect, chest pain, resting ECG and ST slope are numbered differently and target = 1 means "
            f"no disease. Choose the coding: {pass_coding_hint(AMBIGUOUS)}"
        ),
    )


def _convert_kaggle(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    numbers = frame.copy()
    for name in KAGGLE_TO_UCI.keys() | KAGGLE_MISSING_CODE.keys():
        numbers[name] = numbers_of(frame[name])
    for name in KAGGLE_TO_UCI:
        codes = numbers[name]
        bad = codes.notna() & ~codes.isin(allowed_kaggle_codes(name))
        if bad.any():
            allowed = ", ".join(f"{int(c):d}" for c in sorted(allowed_kaggle_codes(name)))
            message = f"not a code of the Kaggle coding (which uses {allowed})"
            report.row_error(
                name,
                bad,
                message,
                lambda i, name=name, codes=codes, message=message: f"{name}: {codes[i]:g} is {message}",
            )
    if TARGET.name in numbers:
        target = numbers[TARGET.name] = numbers_of(frame[TARGET.name])
        bad = target.notna() & ~target.isin([0, 1])
        if bad.any():
            message = "the Kaggle target must be 0 (disease) or 1 (no disease)"
            report.row_error(TARGET.name, bad, message, lambda i: f"{message}, not {target[i]:g}")
    if report.refuses:
        return None
    for name, code in KAGGLE_MISSING_CODE.items():
        hidden = numbers[name] == code
        if hidden.any():
            report.conversions.append(
                f"{feature(name).label} ({name}): the Kaggle code {code} stands for a missing value; "
                f"{count_of(hidden, 'such value')} now empty — {describe_rows(data_rows(hidden))}"
            )
    for name, mapping in KAGGLE_TO_UCI.items():
        pairs = ", ".join(f"{k}→{v}" for k, v in sorted(mapping.items()))
        report.conversions.append(f"{feature(name).label} ({name}): Kaggle codes turned into UCI codes ({pairs})")
    if TARGET.name in numbers:
        report.conversions.append(
            "target: inverted, because in the Kaggle coding 1 means no disease; now 1 = disease (UCI num > 0)"
        )
    return kaggle_to_uci(numbers)


def _convert_tensorflow(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """thal words -> UCI codes; the target (num >= 2 in the tutorial) is dropped.

    Rows with a number in thal or a code of another coding elsewhere do not fit this coding
    (model/data/coding_detection.py) and are already reported; any other value in thal is an error
    of its row, never a silent missing value.
    """
    out = frame.copy()
    words = frame["thal"].astype("string").str.strip()
    thal = tf_thal_to_uci(words)
    out["thal"] = thal
    report.conversions.append(
        "Thallium stress test (thal): words turned into UCI codes ("
        + ", ".join(f"{w}→{c}" for w, c in TF_THAL_TO_UCI.items())
        + ")"
    )
    other = (thal.isna() & words.notna() & ~words.str.lower().isin(MISSING_MARKERS)).fillna(False).astype(bool)
    if other.any():
        seen = ", ".join(sorted(set(words[other].tolist()))[:SHOWN_VALUES])
        message = (
            f"values that are no thallium result ({seen}); the TensorFlow-tutorial coding writes normal, "
            "fixed or reversible"
        )
        report.row_error(
            "thal",
            other.reset_index(drop=True),
            message,
            lambda i: f"thal: {short_repr(words[i])} is no thallium result (normal, fixed or reversible)",
        )
    if TARGET.name in out:
        report.warn(
            TARGET.name,
            [],
            "NOT USED: in the TensorFlow-tutorial coding 'target' means severe disease (UCI num ≥ 2), not "
            "disease present (num > 0) as everywhere in this tool. A model trained on it would answer a different "
            "question, so the column was dropped: the file can be used for predictions, not for training. "
            "To train, supply the UCI 'num' column or a target that means num > 0",
        )
        out = out.drop(columns=TARGET.name)
    return out


def convert_target(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """A UCI ``num`` column (0-4) becomes target = num > 0; so does a 'target' holding 0-4.

    A file with both ``num`` and ``target`` must say the same in both: each row where they
    disagree is an error of that row, named with its values.
    """
    if UCI_NUM in frame:
        num = numbers_of(frame[UCI_NUM]).reset_index(drop=True)
        bad = num.notna() & ~num.isin(UCI_NUM_CODES)
        if bad.any():
            report.row_error(
                UCI_NUM,
                bad,
                "UCI 'num' must be one of 0, 1, 2, 3, 4",
                lambda i: f"UCI 'num' must be one of 0, 1, 2, 3, 4, not {num[i]:g}",
            )
        derived = (num > 0).astype(float).mask(num.isna())
        if TARGET.name in frame:
            _check_num_against_target(num, derived, frame[TARGET.name], report)
        frame = frame.drop(columns=[c for c in (UCI_NUM, TARGET.name) if c in frame])
        frame[TARGET.name] = derived.set_axis(frame.index)
        report.conversions.append("target = 1 where UCI num > 0 (disease present), 0 where num = 0")
    elif TARGET.name in frame:
        target = numbers_of(frame[TARGET.name])
        if target.isin([2, 3, 4]).any() and target.isin(UCI_NUM_CODES).all():
            frame = frame.copy()
            frame[TARGET.name] = (target > 0).astype(float).mask(target.isna())
            report.conversions.append("target held values 0-4, i.e. UCI num: now target = 1 where it was above 0")
    return frame


def _check_num_against_target(num: pd.Series, derived: pd.Series, column: pd.Series, report: ValidationReport) -> None:
    """Report the rows where 'target' is not num > 0 (the file contradicts itself there)."""
    target = numbers_of(column).reset_index(drop=True)
    disagree = num.isin(UCI_NUM_CODES) & target.notna() & (target != derived)
    if not disagree.any():
        if target.notna().any():
            report.conversions.append(
                "'num' and 'target' agree in every row (target = 1 where num > 0); target is taken from num"
            )
        return
    patterns = []
    if (target == 1 - derived)[disagree].all():
        patterns.append("the opposite of num > 0 (an inverted target, 1 = no disease, as in the Kaggle copies)")
    if (target == (num >= 2).astype(float))[disagree].all():
        patterns.append("num ≥ 2 (severe disease, the TensorFlow tutorial's target)")
    explain = f"; where they differ, target is {' or '.join(patterns)}" if patterns else ""
    message = (
        f"'num' and 'target' disagree: target should be 1 where num > 0 (disease) and 0 where num = 0"
        f"{explain}. Keep only the column that is right"
    )
    report.row_error(
        TARGET.name,
        disagree,
        message,
        lambda i: f"'num' and 'target' disagree: num = {num[i]:g} but target = {target[i]:g}",
    )
