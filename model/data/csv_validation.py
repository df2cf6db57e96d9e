"""Checks of a frame in UCI coding, cell by cell and row by row, typed for the model.

``validated_frame`` is the one check behind every way in: a file read by ``read_user_csv``,
the UCI site files (model/data/datasets.py) and a frame built in a notebook
(``validate_frame``, ``set_aside_bad_rows``).

In "set_aside" mode (``ValidationReport.bad_rows``, for scoring) the rows with bad cells
leave the frame, ``ValidationReport.set_aside`` lists each one's reasons, and the frame's
index, named ``ROW``, holds the 1-based data row numbers of the rows kept. There a blood
pressure or cholesterol of 0 is refused in the patient form's words (``Feature.check``);
for training ("refuse") it keeps its documented UCI meaning, "not measured".
"""

from __future__ import annotations

import pandas as pd

from model.data.csv_cells import parse_numbers
from model.data.csv_columns import report_repeated_names
from model.data.csv_recoding import convert_target
from model.data.import_report import (
    SHOWN_VALUES,
    ValidationReport,
    count_of,
    data_rows,
    describe_names,
    describe_rows,
)
from model.data.schema import COLUMNS, FEATURE_NAMES, TARGET, Feature, feature, short_repr

ZERO_MEANS_MISSING = ("trestbps", "chol")
ROW = "row"  # name of the index of a set-aside mode frame: the 1-based data row numbers
LEAK_WARNING = (
    "duplicate rows leak across a train/test split: the same patient can land in both "
    "the training and the test part, which makes the measured accuracy too optimistic"
)


def set_aside_bad_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame | None, ValidationReport]:
    """A frame built in a notebook (UCI coding), checked as ``read_user_csv(..., bad_rows="set_aside")``
    checks a file: (the good rows indexed by 1-based row number, or None when refused; the report,
    whose ``set_aside`` gives each row left out with its reasons)."""
    report = ValidationReport(coding="uci", bad_rows="set_aside")
    return validated_frame(frame.reset_index(drop=True), report), report


def validate_frame(frame: pd.DataFrame) -> ValidationReport:
    """Check a data frame that is meant to be in UCI coding (13 features, optional target)."""
    report = ValidationReport(coding="uci")
    validated_frame(frame, report)
    return report


def validated_frame(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    """The checked, typed frame (None when refused); findings go into `report`."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    if report_repeated_names(frame.columns, report):
        return None
    return _validate(convert_target(frame, report), report)


def _validate(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    """Check a frame already in UCI coding; return it typed (features float64, target int64)."""
    report.n_rows = len(frame)
    absent = [name for name in FEATURE_NAMES if name not in frame]
    if absent:
        report.error(
            None,
            [],
            f"missing column(s): {', '.join(absent)}. Expected the 13 features {', '.join(FEATURE_NAMES)} "
            f"(and optionally 'target' or 'num'); found: {describe_names(frame.columns) or 'none'}",
        )
        return None
    if len(frame) == 0:
        report.error(None, [], "the table has the columns but no data rows")
        return None
    extra = [str(c) for c in frame.columns if c not in COLUMNS]
    if extra:
        report.warn(None, [], f"ignored column(s) that the model does not use: {describe_names(extra)}")
    out = pd.DataFrame({name: _check_column(frame[name], name, report) for name in FEATURE_NAMES})
    if TARGET.name in frame:
        target = _check_column(frame[TARGET.name], TARGET.name, report)
        empty = target.isna() & ~parse_numbers(frame[TARGET.name])[1]
        if empty.any():
            message = "the target is empty; fill it in, or remove the column to use the file for predictions only"
            report.row_error(TARGET.name, empty, message, lambda i: message)
        out[TARGET.name] = target
    if report.refuses:
        return None
    if report.set_aside:
        out = out.drop(index=[row - 1 for row in report.set_aside])
    if len(out):
        _warn_empty_features(out, report)
    _warn_missing_values(out, report)
    if TARGET.name in out:
        out[TARGET.name] = out[TARGET.name].astype("int64")
    report.has_target = TARGET.name in out
    _warn_duplicates(out, report)
    if not report.has_target:
        report.warn(None, [], "no target column: the file can be used for predictions, not for training or testing")
    if report.bad_rows == "set_aside":
        out.index = pd.Index(out.index + 1, name=ROW)
        report.set_aside = dict(sorted(report.set_aside.items()))
    return out


def _check_column(column: pd.Series, name: str, report: ValidationReport) -> pd.Series:
    """Report non-numbers and impossible values in one column; return it as float64."""
    f = feature(name)
    column = column.reset_index(drop=True)
    numbers, not_number = parse_numbers(column)
    if not_number.any():
        shown = ", ".join(list(dict.fromkeys(map(short_repr, column[not_number].tolist())))[:SHOWN_VALUES])
        report.row_error(
            name,
            not_number,
            f"{f.label}: not a number (for example {shown})",
            lambda i: f"{f.label}: {short_repr(column[i])} is not a number",
        )
    zero = (numbers == 0) if name in ZERO_MEANS_MISSING else None
    if zero is not None and zero.any() and report.bad_rows == "refuse":
        # Training data: the documented reading of the UCI files, where 0 means "not measured".
        report.conversions.append(
            f"{f.label} ({name}): 0 means 'not measured' in the UCI files; "
            f"{count_of(zero, 'such value')} now empty — {describe_rows(data_rows(zero))}"
        )
        numbers = numbers.mask(zero)
    # Patients to score ("set_aside"): a 0 is checked as the patient form checks it, and refused in its words.
    problems = {}
    for value in numbers.dropna().unique():
        message = f.check(float(value))
        if message:
            problems[value] = message
    if problems:
        bad = numbers.isin(list(problems))
        messages = list(problems.values())[:SHOWN_VALUES]
        more = f" (and {len(problems) - SHOWN_VALUES} other values)" if len(problems) > SHOWN_VALUES else ""
        hint = (
            " (the UCI files write 0 for 'not measured': leave such a cell empty to have the value filled in)"
            if zero is not None and zero.any()
            else ""
        )
        report.row_error(name, bad, "; ".join(messages) + more + hint, lambda i: _plain_check(f, numbers[i]))
    return numbers


def _plain_check(f: Feature, value: float) -> str:
    """Feature.check's message for one value, a whole number written without '.0'."""
    return f.check(int(value) if float(value).is_integer() else float(value)) or ""


def _warn_empty_features(out: pd.DataFrame, report: ValidationReport) -> None:
    """A feature without a single value: a model trained on this file cannot learn from it."""
    for name in FEATURE_NAMES:
        if out[name].isna().all():
            report.warn(
                name,
                [],
                f"{feature(name).label}: EVERY VALUE IS EMPTY. A model trained on this file cannot "
                "learn from this feature: it fills in one constant for every patient, whatever their "
                "value. Predictions for this file fill it in from the model's training data",
            )


def _warn_missing_values(out: pd.DataFrame, report: ValidationReport) -> None:
    missing = out[list(FEATURE_NAMES)].isna()
    if missing.any(axis=None):
        counts = ", ".join(f"{name} {int(n)}" for name, n in missing.sum().items() if n)
        report.warn(
            None,
            data_rows(missing.any(axis=1)),
            f"missing values (the model fills them in from the training data) — per column: {counts}",
        )


def _warn_duplicates(out: pd.DataFrame, report: ValidationReport) -> None:
    """Rows that repeat an earlier row exactly (their 0-based positions in the file: out's index)."""
    duplicated = out.duplicated(keep="first")
    if duplicated.any():
        report.duplicate_rows = data_rows(duplicated)
        first_copy = out.duplicated(keep=False) & ~duplicated
        report.warn(
            None,
            report.duplicate_rows,
            f"{int(duplicated.sum())} row(s) repeat an earlier row exactly (first copies: "
            f"{describe_rows(data_rows(first_copy))}); {LEAK_WARNING}",
        )
