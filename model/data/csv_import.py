"""Read an analyst's CSV into the package's frame, with a report in plain language.

``read_user_csv`` recognises four layouts of the same 13 features:

* UCI coding with a header (the target column called ``target`` or ``num``);
* the UCI "processed" files without a header (14 columns, ``?`` for missing);
* the Kaggle coding (303-row and 1,025-row "heart.csv"), told apart by its values;
* the TensorFlow-tutorial coding (``thal`` written as words).

The coding is decided only on consistent evidence (model/data/coding_detection.py): rows that
do not fit the file's coding are errors of those rows, a file that mixes codings is
refused with the rows of each, and a file whose values fit both the UCI and the Kaggle
coding is refused with ``ValidationReport.candidate_codings`` until the caller chooses
(``coding="uci"`` or ``"kaggle"``). A file with both ``num`` and ``target`` must say the
same in both.

It converts what it can to UCI coding and lists every conversion; it refuses a file that
is wrong with a message naming the column, the data rows and the problem. Nothing here
raises on bad input: the answer is always an ``ImportResult`` whose report says what
happened. Data row 1 is the first line after the header (the first line of a file
without one).

``bad_rows="set_aside"`` (for scoring, not training) keeps a file whose only problems are
in some rows: those rows leave the frame, ``ImportResult.set_aside`` gives each one's
reasons, and the frame's index holds the data row numbers of the rows kept. There a blood
pressure or cholesterol of 0 is refused in the patient form's words (``Feature.check``);
for training ("refuse") it keeps its documented UCI meaning, "not measured", and the
conversion is listed with its rows.
"""
from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re

import pandas as pd

from model.data.coding_detection import (
    AMBIGUOUS,
    CODING_CHOICES,
    CodingDecision,
    coding_name,
    decide_coding,
    pass_coding_hint,
)
from model.data.codings import (
    KAGGLE_MISSING_CODE,
    KAGGLE_TO_UCI,
    TF_THAL_TO_UCI,
    allowed_kaggle_codes,
    kaggle_to_uci,
    tf_thal_to_uci,
)
from model.data.csv_cells import MISSING_MARKERS, cell_number, numbers_of, parse_numbers
from model.data.import_report import (  # noqa: F401  (part of this module's API since before the split)
    BAD_ROWS,
    CODINGS,
    ImportResult,
    Issue,
    ValidationReport,
    _positions,
    describe_names,
    describe_rows,
    repeated_names,
)
from model.runtime.limits import MAX_COLUMNS, MAX_ROWS, MAX_UPLOAD_BYTES
from model.data.schema import COLUMNS, FEATURE_NAMES, TARGET, feature, short_repr

logger = logging.getLogger(__name__)

ZERO_MEANS_MISSING = ("trestbps", "chol")
SHOWN_VALUES = 3
# A byte-order mark says which Unicode encoding a file uses (Excel's "Unicode text" is UTF-16).
# UTF-32 first: its little-endian mark begins with UTF-16's.
BOM_ENCODINGS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                 (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
ROW = "row"  # name of the index of a set-aside mode frame: the 1-based data row numbers
LEAK_WARNING = (
    "duplicate rows leak across a train/test split: the same patient can land in both "
    "the training and the test part, which makes the measured accuracy too optimistic"
)
# Aliases of the cell parser's functions under the names this module used before the split.
_cell_number, _parse_numbers, _numbers = cell_number, parse_numbers, numbers_of


# ----------------------------------------------------------------------------- reading


def _read_bytes(source, max_bytes: int, report: ValidationReport) -> bytes | None:
    """At most max_bytes + 1 bytes of the source (enough to know it is too large)."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source[: max_bytes + 1])
        elif isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                data = handle.read(max_bytes + 1)
        elif hasattr(source, "read"):
            if hasattr(source, "seek"):
                source.seek(0)
            data = source.read(max_bytes + 1)
            if isinstance(data, str):
                data = data.encode("utf-8")
        else:
            report.error(None, [], f"cannot read a {type(source).__name__}: give a file, a path or bytes")
            return None
    except OSError as exc:
        report.error(None, [], f"the file could not be opened ({exc.strerror or exc})")
        return None
    if len(data) > max_bytes:
        report.error(None, [], f"the file is larger than the upload limit of {max_bytes / 2**20:g} MB")
        return None
    return data


def _decode(data: bytes, report: ValidationReport) -> str | None:
    encoding = next((name for bom, name in BOM_ENCODINGS if data.startswith(bom)), None)
    if encoding:
        try:
            data = data.decode(encoding).encode("utf-8")
        except UnicodeDecodeError:
            report.error(None, [], f"the file starts like {encoding.upper()} text but cannot be decoded as such; "
                                   "save it as CSV UTF-8")
            return None
    if not data.strip():
        report.error(None, [], "the file is empty")
        return None
    if b"\x00" in data:
        report.error(None, [], "this is not a CSV file: it contains binary data (is it a spreadsheet or an archive?)")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    control = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\r\n")
    if control > 0.01 * min(len(text), 65536):
        report.error(None, [], "this is not a CSV file: it contains binary data (is it a spreadsheet or an archive?)")
        return None
    return text


def _delimiter(text: str) -> str:
    """Comma unless the first lines clearly use semicolons or tabs (spreadsheet exports)."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _too_wide(text: str, report: ValidationReport) -> bool:
    """True (and an error) when the first line has more than MAX_COLUMNS fields.

    Checked on the raw line before parsing: a header of a million names would otherwise
    cost the parser and every later step time and memory.
    """
    first_line = re.match(r"[^\r\n]*", text).group()
    width = 1 + max(first_line.count(sep) for sep in ",;\t")
    if width > MAX_COLUMNS:
        report.error(None, [], f"the first line has {width:,} columns; this tool reads at most {MAX_COLUMNS} "
                               f"columns (the 13 features, the target and a few others)")
        return True
    return False


def _parse(text: str, max_rows: int, report: ValidationReport) -> pd.DataFrame | None:
    """All cells as strings, no header interpretation yet (header=None)."""
    if _too_wide(text, report):
        return None
    try:
        raw = pd.read_csv(
            io.StringIO(text), header=None, dtype=object, keep_default_na=False, sep=_delimiter(text),
            skipinitialspace=True, nrows=max_rows + 2,
        )
    except pd.errors.EmptyDataError:
        report.error(None, [], "the file is empty")
        return None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        report.error(None, [], f"this file could not be read as a CSV table ({str(exc).strip()})")
        return None
    return raw  # cells keep trailing spaces; every reader of a cell strips it


def _is_number_or_missing(value) -> bool:
    if pd.isna(value) or str(value).strip().lower() in MISSING_MARKERS:
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def _apply_header(raw: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    """Name the columns: from the header line, or UCI-processed order when there is none."""
    first = raw.iloc[0].tolist()
    if all(_is_number_or_missing(v) for v in first):
        width = raw.shape[1]
        if width not in (len(FEATURE_NAMES), len(FEATURE_NAMES) + 1):
            report.error(
                None, [],
                f"the file has no header line and {width} columns; without a header we expect the "
                f"UCI processed layout: {len(FEATURE_NAMES) + 1} columns ({', '.join(FEATURE_NAMES)}, num) "
                "— or add a header line naming the columns",
            )
            return None
        report.coding = "uci-processed"
        body = raw.copy()
        body.columns = list(FEATURE_NAMES) + (["num"] if width > len(FEATURE_NAMES) else [])
        return body.reset_index(drop=True)
    names = [str(v).strip().strip('"').strip().lower() for v in first]
    if _report_repeated_names(names, report):
        return None
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = names
    return body


def _report_repeated_names(names, report: ValidationReport) -> bool:
    """True (and an error) when column names repeat (after folding case and spaces)."""
    repeated = repeated_names(names)
    if repeated:
        report.error(None, [], f"the header names these columns more than once: {describe_names(repeated)}")
    return bool(repeated)


# ----------------------------------------------------------------------------- coding


def _convert_kaggle(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    numbers = frame.copy()
    for name in KAGGLE_TO_UCI.keys() | KAGGLE_MISSING_CODE.keys():
        numbers[name] = _numbers(frame[name])
    for name in KAGGLE_TO_UCI:
        codes = numbers[name]
        bad = codes.notna() & ~codes.isin(allowed_kaggle_codes(name))
        if bad.any():
            allowed = ", ".join(f"{int(c):d}" for c in sorted(allowed_kaggle_codes(name)))
            message = f"not a code of the Kaggle coding (which uses {allowed})"
            report.row_error(name, bad, message,
                             lambda i, name=name, codes=codes, message=message: f"{name}: {codes[i]:g} is {message}")
    if TARGET.name in numbers:
        target = numbers[TARGET.name] = _numbers(frame[TARGET.name])
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
                f"{_count(hidden, 'such value')} now empty — {describe_rows(_positions(hidden))}")
    for name, mapping in KAGGLE_TO_UCI.items():
        pairs = ", ".join(f"{k}→{v}" for k, v in sorted(mapping.items()))
        report.conversions.append(f"{feature(name).label} ({name}): Kaggle codes turned into UCI codes ({pairs})")
    if TARGET.name in numbers:
        report.conversions.append(
            "target: inverted, because in the Kaggle coding 1 means no disease; now 1 = disease (UCI num > 0)")
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
        + ", ".join(f"{w}→{c}" for w, c in TF_THAL_TO_UCI.items()) + ")")
    other = (thal.isna() & words.notna() & ~words.str.lower().isin(MISSING_MARKERS)).fillna(False).astype(bool)
    if other.any():
        seen = ", ".join(sorted(set(words[other].tolist()))[:SHOWN_VALUES])
        message = f"values that are no thallium result ({seen}); the TensorFlow-tutorial coding writes normal, " \
                  "fixed or reversible"
        report.row_error("thal", other.reset_index(drop=True), message,
                         lambda i: f"thal: {short_repr(words[i])} is no thallium result (normal, fixed or reversible)")
    if TARGET.name in out:
        report.warn(
            TARGET.name, [],
            "NOT USED: in the TensorFlow-tutorial coding 'target' means severe disease (UCI num ≥ 2), not "
            "disease present (num > 0) as everywhere in this tool. A model trained on it would answer a different "
            "question, so the column was dropped: the file can be used for predictions, not for training. "
            "To train, supply the UCI 'num' column or a target that means num > 0")
        out = out.drop(columns=TARGET.name)
    return out


def _convert_target(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """A UCI ``num`` column (0-4) becomes target = num > 0; so does a 'target' holding 0-4.

    A file with both ``num`` and ``target`` must say the same in both: each row where they
    disagree is an error of that row, named with its values.
    """
    if "num" in frame:
        num = _numbers(frame["num"]).reset_index(drop=True)
        bad = num.notna() & ~num.isin([0, 1, 2, 3, 4])
        if bad.any():
            report.row_error("num", bad, "UCI 'num' must be one of 0, 1, 2, 3, 4",
                             lambda i: f"UCI 'num' must be one of 0, 1, 2, 3, 4, not {num[i]:g}")
        derived = (num > 0).astype(float).mask(num.isna())
        if TARGET.name in frame:
            _check_num_against_target(num, derived, frame[TARGET.name], report)
        frame = frame.drop(columns=[c for c in ("num", TARGET.name) if c in frame])
        frame[TARGET.name] = derived.set_axis(frame.index)
        report.conversions.append("target = 1 where UCI num > 0 (disease present), 0 where num = 0")
    elif TARGET.name in frame:
        target = _numbers(frame[TARGET.name])
        if target.isin([2, 3, 4]).any() and target.isin([0, 1, 2, 3, 4]).all():
            frame = frame.copy()
            frame[TARGET.name] = (target > 0).astype(float).mask(target.isna())
            report.conversions.append(
                "target held values 0-4, i.e. UCI num: now target = 1 where it was above 0")
    return frame


def _check_num_against_target(num: pd.Series, derived: pd.Series, column: pd.Series,
                              report: ValidationReport) -> None:
    """Report the rows where 'target' is not num > 0 (the file contradicts itself there)."""
    target = _numbers(column).reset_index(drop=True)
    disagree = num.isin([0, 1, 2, 3, 4]) & target.notna() & (target != derived)
    if not disagree.any():
        if target.notna().any():
            report.conversions.append("'num' and 'target' agree in every row (target = 1 where num > 0); "
                                      "target is taken from num")
        return
    patterns = []
    if (target == 1 - derived)[disagree].all():
        patterns.append("the opposite of num > 0 (an inverted target, 1 = no disease, as in the Kaggle copies)")
    if (target == (num >= 2).astype(float))[disagree].all():
        patterns.append("num ≥ 2 (severe disease, the TensorFlow tutorial's target)")
    explain = f"; where they differ, target is {' or '.join(patterns)}" if patterns else ""
    message = (f"'num' and 'target' disagree: target should be 1 where num > 0 (disease) and 0 where num = 0"
               f"{explain}. Keep only the column that is right")
    report.row_error(TARGET.name, disagree, message,
                     lambda i: f"'num' and 'target' disagree: num = {num[i]:g} but target = {target[i]:g}")


# ----------------------------------------------------------------------------- validation


def _count(mask: pd.Series, noun: str) -> str:
    """'1 such value is' / '3 such values are'."""
    n = int(mask.sum())
    return f"{n} {noun} is" if n == 1 else f"{n} {noun}s are"


def _check_column(column: pd.Series, name: str, report: ValidationReport) -> pd.Series:
    """Report non-numbers and impossible values in one column; return it as float64."""
    f = feature(name)
    column = column.reset_index(drop=True)
    numbers, not_number = _parse_numbers(column)
    if not_number.any():
        shown = ", ".join(list(dict.fromkeys(map(short_repr, column[not_number].tolist())))[:SHOWN_VALUES])
        report.row_error(name, not_number, f"{f.label}: not a number (for example {shown})",
                         lambda i: f"{f.label}: {short_repr(column[i])} is not a number")
    zero = (numbers == 0) if name in ZERO_MEANS_MISSING else None
    if zero is not None and zero.any() and report.bad_rows == "refuse":
        # Training data: the documented reading of the UCI files, where 0 means "not measured".
        report.conversions.append(
            f"{f.label} ({name}): 0 means 'not measured' in the UCI files; "
            f"{_count(zero, 'such value')} now empty — {describe_rows(_positions(zero))}")
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
        hint = (" (the UCI files write 0 for 'not measured': leave such a cell empty to have the value filled in)"
                if zero is not None and zero.any() else "")
        report.row_error(name, bad, "; ".join(messages) + more + hint, lambda i: _plain_check(f, numbers[i]))
    return numbers


def _plain_check(f, value: float) -> str:
    """Feature.check's message for one value, a whole number written without '.0'."""
    return f.check(int(value) if float(value).is_integer() else float(value)) or ""


def _validate(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    """Check a frame already in UCI coding; return it typed (features float64, target int64)."""
    report.n_rows = len(frame)
    absent = [name for name in FEATURE_NAMES if name not in frame]
    if absent:
        report.error(
            None, [],
            f"missing column(s): {', '.join(absent)}. Expected the 13 features {', '.join(FEATURE_NAMES)} "
            f"(and optionally 'target' or 'num'); found: {describe_names(frame.columns) or 'none'}")
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
        empty = target.isna() & ~_parse_numbers(frame[TARGET.name])[1]
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
    missing = out[list(FEATURE_NAMES)].isna()
    if missing.any(axis=None):
        counts = ", ".join(f"{name} {int(n)}" for name, n in missing.sum().items() if n)
        report.warn(None, _positions(missing.any(axis=1)),
                    f"missing values (the model fills them in from the training data) — per column: {counts}")
    if TARGET.name in out:
        out[TARGET.name] = out[TARGET.name].astype("int64")
    report.has_target = TARGET.name in out
    duplicated = out.duplicated(keep="first")
    if duplicated.any():
        report.duplicate_rows = _positions(duplicated)
        first_copy = out.duplicated(keep=False) & ~duplicated
        report.warn(None, report.duplicate_rows,
                    f"{int(duplicated.sum())} row(s) repeat an earlier row exactly (first copies: "
                    f"{describe_rows(_positions(first_copy))}); {LEAK_WARNING}")
    if not report.has_target:
        report.warn(None, [], "no target column: the file can be used for predictions, not for training or testing")
    if report.bad_rows == "set_aside":
        out.index = pd.Index(out.index + 1, name=ROW)
        report.set_aside = dict(sorted(report.set_aside.items()))
        out.attrs["set_aside"] = report.set_aside
    return out


def _warn_empty_features(out: pd.DataFrame, report: ValidationReport) -> None:
    """A feature without a single value: a model trained on this file cannot learn from it."""
    for name in FEATURE_NAMES:
        if out[name].isna().all():
            report.warn(name, [],
                        f"{feature(name).label}: EVERY VALUE IS EMPTY. A model trained on this file cannot "
                        "learn from this feature: it fills in one constant for every patient, whatever their "
                        "value. Predictions for this file fill it in from the model's training data")


def set_aside_bad_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame | None, ValidationReport]:
    """A frame built in a notebook (UCI coding), checked as ``read_user_csv(..., bad_rows="set_aside")``
    checks a file: (the good rows indexed by 1-based row number, or None when refused; the report)."""
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
    if _report_repeated_names(frame.columns, report):
        return None
    return _validate(_convert_target(frame, report), report)


def read_user_csv(file_or_bytes, max_rows: int = MAX_ROWS, max_bytes: int = MAX_UPLOAD_BYTES,
                  bad_rows: str = "refuse", coding: str | None = None) -> ImportResult:
    """Read a CSV (bytes, a path or a file object such as Streamlit's UploadedFile).

    Never raises on bad content: the report lists the problems, and ``frame`` is None
    when the file is refused. ``bad_rows="refuse"`` refuses the file for any bad cell
    (right for training data); ``"set_aside"`` refuses it only for file-level problems
    and leaves rows with impossible or non-numeric cells out of the frame (index: data
    row numbers), listing each with its reasons in ``ImportResult.set_aside``.

    ``coding``: None detects the coding from the values (model/data/coding_detection.py); a
    file whose values fit both the UCI and the Kaggle coding is then refused, its report
    naming the candidates in ``candidate_codings``: read it again with ``coding="uci"``
    or ``coding="kaggle"``. ``"tensorflow"`` reads the TensorFlow tutorial's coding. Rows
    that do not fit the file's coding (codes of another coding) are errors of those rows.
    """
    if bad_rows not in BAD_ROWS:
        raise ValueError(f"bad_rows must be one of {BAD_ROWS}, not {bad_rows!r}")
    if coding is not None and coding not in CODING_CHOICES:
        raise ValueError(f"coding must be None (detect) or one of {CODING_CHOICES}, not {coding!r}")
    report = ValidationReport(bad_rows=bad_rows)
    data = _read_bytes(file_or_bytes, max_bytes, report)
    text = None if data is None else _decode(data, report)
    raw = None if text is None else _parse(text, max_rows, report)
    frame = None if raw is None else _apply_header(raw, report)
    if frame is None:
        return ImportResult(None, report)
    report.n_rows = len(frame)
    if len(frame) == 0:
        report.error(None, [], "the file has a header line but no data rows")
        return ImportResult(None, report)
    if len(frame) > max_rows:
        report.error(None, [], f"the file has more than {max_rows:,} data rows, the most this tool accepts")
        return ImportResult(None, report)
    frame = _recode(frame, report, coding)
    if frame is None:
        return ImportResult(None, report)
    return ImportResult(validated_frame(frame, report), report)


def _recode(frame: pd.DataFrame, report: ValidationReport, coding: str | None = None) -> pd.DataFrame | None:
    """Turn a Kaggle or TensorFlow-tutorial coded frame into UCI coding, saying so.

    The coding is `coding` when given, else what the values say (model/data/coding_detection.py);
    rows that do not fit it become errors of their rows.
    """
    if any(name not in frame for name in FEATURE_NAMES):
        return frame  # _validate names the missing columns
    headerless = report.coding == "uci-processed"
    decision = decide_coding(frame, coding, num_header="num" in frame and not headerless)
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
        if headerless and "num" in frame:
            frame = frame.rename(columns={"num": TARGET.name})
        if "num" in frame:
            report.error("num", [], "a Kaggle-coded file should carry 'target', not UCI 'num'")
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
    report.error(None, [], (
        "the coding cannot be told from the values: every code in the file is valid in both the UCI and the "
        "Kaggle coding (only the Kaggle coding uses cp = 0, slope = 0, ca = 4 or thal = 0, 1, 2; only the UCI "
        f"coding cp = 4, slope = 3 or thal = 6, 7), {target}. The two readings differ: in the UCI coding thal = 3 "
        "is a normal result and target = 1 means disease; in the Kaggle coding thal = 3 is a reversible defect, "
        "chest pain, resting ECG and ST slope are numbered differently and target = 1 means no disease. Choose the "
        f"coding: {pass_coding_hint(AMBIGUOUS)}"))
