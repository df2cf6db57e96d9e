"""Read an analyst's CSV into the package's frame, with a report in plain language.

``read_user_csv`` recognises four layouts of the same 13 features:

* UCI coding with a header (the target column called ``target`` or ``num``);
* the UCI "processed" files without a header (14 columns, ``?`` for missing);
* the Kaggle coding (303-row and 1,025-row "heart.csv"), told apart by its values;
* the TensorFlow-tutorial coding (``thal`` written as words).

It converts what it can to UCI coding and lists every conversion; it refuses a file that
is wrong with a message naming the column, the data rows and the problem. Nothing here
raises on bad input: the answer is always an ``ImportResult`` whose report says what
happened. Data row 1 is the first line after the header (the first line of a file
without one).

``bad_rows="set_aside"`` (for scoring, not training) keeps a file whose only problems are
in some rows: those rows leave the frame, ``ImportResult.set_aside`` gives each one's
reasons, and the frame's index holds the data row numbers of the rows kept.
"""
from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.codings import (
    KAGGLE_MISSING_CODE,
    KAGGLE_TO_UCI,
    TF_THAL_TO_UCI,
    allowed_kaggle_codes,
    kaggle_to_uci,
    tf_thal_to_uci,
)
from model.limits import MAX_COLUMNS, MAX_ROWS, MAX_UPLOAD_BYTES
from model.schema import COLUMNS, FEATURE_NAMES, FEATURES, TARGET, feature, short_repr

CODINGS = {
    "uci": "UCI coding (with a header)",
    "uci-processed": "UCI processed format (no header)",
    "kaggle": "Kaggle coding",
    "tensorflow": "TensorFlow-tutorial coding",
    "unknown": "unknown coding",
}
MISSING_MARKERS = ("", "?", "na", "n/a", "nan", "null", "none")
# Values of 0 that the UCI files use for "not measured" (every Swiss chol, 49 VA chol, 1 VA trestbps).
ZERO_MEANS_MISSING = ("trestbps", "chol")
SHOWN_ROWS = 5
SHOWN_VALUES = 3
SHOWN_NAMES = 20
SHOWN_NAME_LENGTH = 40
# A byte-order mark says which Unicode encoding a file uses (Excel's "Unicode text" is UTF-16).
# UTF-32 first: its little-endian mark begins with UTF-16's.
BOM_ENCODINGS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                 (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
BAD_ROWS = ("refuse", "set_aside")
ROW = "row"  # name of the index of a set-aside mode frame: the 1-based data row numbers
LEAK_WARNING = (
    "duplicate rows leak across a train/test split: the same patient can land in both "
    "the training and the test part, which makes the measured accuracy too optimistic"
)


def describe_rows(rows: list[int]) -> str:
    """'data rows 3, 8, 12 and 4 more (7 rows in all)' -- first few row numbers plus the count."""
    if not rows:
        return ""
    shown = ", ".join(str(r) for r in rows[:SHOWN_ROWS])
    if len(rows) == 1:
        return f"data row {shown}"
    if len(rows) <= SHOWN_ROWS:
        return f"data rows {shown}"
    return f"data rows {shown} and {len(rows) - SHOWN_ROWS} more ({len(rows)} rows in all)"


@dataclass
class Issue:
    """One problem or remark: the column it concerns (None: the whole file), the 1-based
    data rows, and what is wrong in plain words."""

    column: str | None
    rows: list[int]
    message: str

    def __str__(self) -> str:
        where = f"Column '{self.column}': " if self.column else ""
        rows = describe_rows(self.rows)
        return f"{where}{self.message}" + (f" — {rows}." if rows else "")


@dataclass
class ValidationReport:
    coding: str = "unknown"
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    conversions: list[str] = field(default_factory=list)
    duplicate_rows: list[int] = field(default_factory=list)
    n_rows: int = 0
    has_target: bool = False
    bad_rows: str = "refuse"
    set_aside: dict[int, list[str]] = field(default_factory=dict)  # data row -> reasons ("set_aside" mode)
    row_errors: int = 0  # how many of `errors` concern rows only

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def refuses(self) -> bool:
        """True when the file cannot be used: any error, or in "set_aside" mode a file-level one."""
        return bool(self.errors) and (self.bad_rows == "refuse" or len(self.errors) > self.row_errors)

    def error(self, column, rows, message) -> None:
        self.errors.append(Issue(column, _as_rows(rows), message))

    def row_error(self, column, mask: pd.Series, message: str, reason_of_row) -> None:
        """An error in the rows where mask is true; in "set_aside" mode each such row is set
        aside with reason_of_row(position) (0-based position in the frame checked)."""
        rows = _positions(mask)
        self.error(column, rows, message)
        self.row_errors += 1
        if self.bad_rows == "set_aside":
            for row in rows:
                self.set_aside.setdefault(row, []).append(reason_of_row(row - 1))

    def warn(self, column, rows, message) -> None:
        self.warnings.append(Issue(column, _as_rows(rows), message))

    def summary(self) -> str:
        if self.refuses:
            return f"The file was refused: {len(self.errors)} problem(s) to fix."
        if self.set_aside:
            return (f"Read {self.n_rows - len(self.set_aside)} of {self.n_rows} rows in the "
                    f"{CODINGS.get(self.coding, self.coding)}; {len(self.set_aside)} row(s) set aside for the "
                    f"problems below (as training data the file would be refused).")
        target = "with a target column" if self.has_target else "without a target column (usable for predictions only)"
        return f"Read {self.n_rows} rows in the {CODINGS.get(self.coding, self.coding)}, {target}."

    def _sections(self):
        yield "Problems (fix these and upload again)", [str(i) for i in self.errors]
        yield "Warnings", [str(i) for i in self.warnings]
        yield "Conversions made", list(self.conversions)

    def as_text(self) -> str:
        lines = [self.summary()]
        for title, items in self._sections():
            if items:
                lines += ["", f"{title}:"] + [f"  - {item}" for item in items]
        return "\n".join(lines)

    def as_markdown(self) -> str:
        lines = [f"**{self.summary()}**"]
        for title, items in self._sections():
            if items:
                lines += ["", f"**{title}**", ""] + [f"- {_escape_markdown(item)}" for item in items]
        return "\n".join(lines)


@dataclass
class ImportResult:
    frame: pd.DataFrame | None
    report: ValidationReport

    @property
    def has_target(self) -> bool:
        return self.frame is not None and TARGET.name in self.frame

    @property
    def set_aside(self) -> dict[int, list[str]]:
        """Data row -> reasons, for each row left out of `frame` (read with bad_rows="set_aside")."""
        return self.report.set_aside


def describe_names(names) -> str:
    """The first few column names, each cut short, plus how many more: a header can be anything."""
    names = [str(n) for n in names]
    shown = [n if len(n) <= SHOWN_NAME_LENGTH else n[: SHOWN_NAME_LENGTH - 1] + "…" for n in names[:SHOWN_NAMES]]
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return ", ".join(shown) + more


def repeated_names(names) -> list[str]:
    """Non-empty names that occur more than once, sorted."""
    return sorted(n for n, count in Counter(names).items() if count > 1 and n)


def _escape_markdown(text: str) -> str:
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


def _as_rows(rows) -> list[int]:
    return [int(r) for r in rows]


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


def _cell_number(value) -> float | None:
    """A cell as a float: NaN when it marks a missing value, None when it is no number."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return math.nan
    if isinstance(value, (complex, np.complexfloating)):  # float() would drop the imaginary part
        return None
    if isinstance(value, (int, float, np.number, np.bool_)):  # bool too: True/False is 1/0
        try:
            return float(value)
        except OverflowError:  # an int beyond float range, e.g. 10**400
            return math.inf if value > 0 else -math.inf
    text = str(value).strip()
    if text.lower() in MISSING_MARKERS:
        return math.nan
    if "_" in text:  # Python's float() accepts 1_000; a CSV reader must not
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _parse_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers as float64 with NaN for missing, mask of cells that are not numbers).

    Each distinct cell is parsed once: real files repeat few distinct values, so this
    stays fast at the row cap.
    """
    column = column.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_complex_dtype(column):
        return column.astype("float64"), pd.Series(False, index=column.index)
    cells = column.to_numpy(dtype=object)
    try:
        codes, distinct = pd.factorize(cells)  # missing cells get code -1
    except TypeError:  # unhashable cells (a list or dict, from a frame built in a notebook) are no numbers
        codes, distinct = pd.factorize(np.array(
            [v if isinstance(v, Hashable) else repr(v) for v in cells], dtype=object))
    parsed = [_cell_number(value) for value in distinct]
    # index -1 picks the appended entry: a missing cell is NaN and not a "non-number"
    numbers = np.array([math.nan if v is None else v for v in parsed] + [math.nan], dtype="float64")
    not_number = np.array([v is None for v in parsed] + [False], dtype=bool)
    return pd.Series(numbers[codes], index=column.index), pd.Series(not_number[codes], index=column.index)


def _numbers(column: pd.Series) -> pd.Series:
    """Numeric view of a column; missing markers and non-numbers become NaN."""
    return _parse_numbers(column)[0]


def _present_values(frame: pd.DataFrame, name: str) -> set[float]:
    return set(_numbers(frame[name]).dropna().unique()) if name in frame else set()


def _thal_is_words(frame: pd.DataFrame) -> bool:
    words = frame["thal"].astype("string").str.strip().str.lower()
    return bool(words.isin(list(TF_THAL_TO_UCI)).any())


def detect_coding(frame: pd.DataFrame) -> tuple[str, list[str], list[str]]:
    """('kaggle'|'uci'|'tensorflow'|'unknown', signs of Kaggle, signs of UCI) from the values."""
    if "thal" in frame and _thal_is_words(frame):
        return "tensorflow", [], []
    cp, slope, thal, ca = (_present_values(frame, n) for n in ("cp", "slope", "thal", "ca"))
    kaggle = [sign for sign, seen in (
        ("cp = 0", 0 in cp), ("slope = 0", 0 in slope), ("thal = 0, 1 or 2", bool(thal & {0, 1, 2})),
        ("ca = 4", 4 in ca)) if seen]
    uci = [sign for sign, seen in (
        ("cp = 4", 4 in cp), ("slope = 3", 3 in slope), ("thal = 6 or 7", bool(thal & {6, 7}))) if seen]
    if kaggle and not uci:
        return "kaggle", kaggle, uci
    if uci and not kaggle:
        return "uci", kaggle, uci
    return "unknown", kaggle, uci


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
    out = frame.copy()
    words = frame["thal"].astype("string").str.strip()
    thal = tf_thal_to_uci(words)
    stray = thal.isna() & words.notna() & ~words.str.lower().isin(MISSING_MARKERS)
    out["thal"] = thal
    report.conversions.append(
        "Thallium stress test (thal): words turned into UCI codes ("
        + ", ".join(f"{w}→{c}" for w, c in TF_THAL_TO_UCI.items()) + ")")
    if stray.any():
        seen = ", ".join(sorted(set(words[stray].tolist()))[:SHOWN_VALUES])
        report.warn("thal", _positions(stray),
                    f"values that are no thallium result ({seen}) are treated as missing")
    # The tutorial file carries a few codes that are not UCI codes either: same treatment.
    for f in FEATURES:
        if f.categories and f.name != "thal":
            values = _numbers(out[f.name])
            stray = values.notna() & ~values.isin(f.codes)
            if stray.any():
                shown = ", ".join(f"{v:g}" for v in sorted(values[stray].unique())[:SHOWN_VALUES])
                report.warn(f.name, _positions(stray),
                            f"codes that the TensorFlow-tutorial copy carries but no UCI coding uses ({shown}) "
                            "are treated as missing")
                out[f.name] = values.mask(stray)
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
    """A UCI ``num`` column (0-4) becomes target = num > 0; so does a 'target' holding 0-4."""
    if "num" in frame:
        num = _numbers(frame["num"])
        bad = num.notna() & ~num.isin([0, 1, 2, 3, 4])
        if bad.any():
            report.row_error("num", bad, "UCI 'num' must be one of 0, 1, 2, 3, 4",
                             lambda i: f"UCI 'num' must be one of 0, 1, 2, 3, 4, not {num[i]:g}")
        frame = frame.drop(columns=[c for c in ("num", TARGET.name) if c in frame])
        frame[TARGET.name] = (num > 0).astype(float).mask(num.isna())
        report.conversions.append("target = 1 where UCI num > 0 (disease present), 0 where num = 0")
    elif TARGET.name in frame:
        target = _numbers(frame[TARGET.name])
        if target.isin([2, 3, 4]).any() and target.isin([0, 1, 2, 3, 4]).all():
            frame = frame.copy()
            frame[TARGET.name] = (target > 0).astype(float).mask(target.isna())
            report.conversions.append(
                "target held values 0-4, i.e. UCI num: now target = 1 where it was above 0")
    return frame


# ----------------------------------------------------------------------------- validation


def _count(mask: pd.Series, noun: str) -> str:
    """'1 such value is' / '3 such values are'."""
    n = int(mask.sum())
    return f"{n} {noun} is" if n == 1 else f"{n} {noun}s are"


def _positions(mask: pd.Series) -> list[int]:
    """1-based data row numbers where mask is true (its index: 0-based positions in the file)."""
    return (mask.index[mask.to_numpy(dtype=bool)] + 1).tolist()


def _check_column(column: pd.Series, name: str, report: ValidationReport) -> pd.Series:
    """Report non-numbers and impossible values in one column; return it as float64."""
    f = feature(name)
    column = column.reset_index(drop=True)
    numbers, not_number = _parse_numbers(column)
    if not_number.any():
        shown = ", ".join(list(dict.fromkeys(map(short_repr, column[not_number].tolist())))[:SHOWN_VALUES])
        report.row_error(name, not_number, f"{f.label}: not a number (for example {shown})",
                         lambda i: f"{f.label}: {short_repr(column[i])} is not a number")
    if name in ZERO_MEANS_MISSING:
        zero = numbers == 0
        if zero.any():
            report.conversions.append(
                f"{f.label} ({name}): 0 means 'not measured' in the UCI files; "
                f"{_count(zero, 'such value')} now empty — {describe_rows(_positions(zero))}")
            numbers = numbers.mask(zero)
    problems = {}
    for value in numbers.dropna().unique():
        message = f.check(float(value))
        if message:
            problems[value] = message
    if problems:
        bad = numbers.isin(list(problems))
        messages = list(problems.values())[:SHOWN_VALUES]
        more = f" (and {len(problems) - SHOWN_VALUES} other values)" if len(problems) > SHOWN_VALUES else ""
        report.row_error(name, bad, "; ".join(messages) + more, lambda i: _plain_check(f, numbers[i]))
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
                  bad_rows: str = "refuse") -> ImportResult:
    """Read a CSV (bytes, a path or a file object such as Streamlit's UploadedFile).

    Never raises on bad content: the report lists the problems, and ``frame`` is None
    when the file is refused. ``bad_rows="refuse"`` refuses the file for any bad cell
    (right for training data); ``"set_aside"`` refuses it only for file-level problems
    and leaves rows with impossible or non-numeric cells out of the frame (index: data
    row numbers), listing each with its reasons in ``ImportResult.set_aside``.
    """
    if bad_rows not in BAD_ROWS:
        raise ValueError(f"bad_rows must be one of {BAD_ROWS}, not {bad_rows!r}")
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
    frame = _recode(frame, report)
    if frame is None:
        return ImportResult(None, report)
    return ImportResult(validated_frame(frame, report), report)


def _recode(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame | None:
    """Turn a Kaggle or TensorFlow-tutorial coded frame into UCI coding, saying so."""
    if any(name not in frame for name in FEATURE_NAMES):
        return frame  # _validate names the missing columns
    coding, kaggle_signs, uci_signs = detect_coding(frame)
    headerless = report.coding == "uci-processed"
    if coding == "unknown" and kaggle_signs and uci_signs:
        report.error(None, [],
                     f"the values mix two codings: {', '.join(kaggle_signs)} belong to the Kaggle coding but "
                     f"{', '.join(uci_signs)} to the UCI coding. Use one coding for the whole file")
        return None
    if coding == "kaggle":
        report.coding = "kaggle"
        if headerless and "num" in frame:
            frame = frame.rename(columns={"num": TARGET.name})
        if "num" in frame:
            report.error("num", [], "a Kaggle-coded file should carry 'target', not UCI 'num'")
            return None
        return _convert_kaggle(frame, report)
    if coding == "tensorflow":
        report.coding = "tensorflow"
        return _convert_tensorflow(frame, report)
    if coding == "unknown":
        report.warn(None, [], "the values fit both the UCI and the Kaggle coding; the file was read as UCI coding")
    if not headerless:
        report.coding = "uci"
    return frame
