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
reasons (the one record of the rows left out: the frame carries none), and the frame's
index holds the data row numbers of the rows kept. There a blood pressure or cholesterol
of 0 is refused in the patient form's words (``Feature.check``); for training ("refuse")
it keeps its documented UCI meaning, "not measured", and the conversion is listed with
its rows.

The steps, in order: model/data/csv_reading.py (bytes to cells: size, encoding,
delimiter), csv_columns.py (header line or UCI processed order), csv_recoding.py (the
file's coding, decided by coding_detection.py, converted to UCI coding), csv_validation.py
(cells and rows checked and typed) and import_report.py (the report and ``ImportResult``).
"""

from __future__ import annotations

from model.data.coding_detection import CODING_CHOICES
from model.data.csv_columns import name_columns
from model.data.csv_reading import read_table
from model.data.csv_recoding import recode
from model.data.csv_validation import ROW, set_aside_bad_rows, validate_frame, validated_frame
from model.data.import_report import BAD_ROWS, CODINGS, ImportResult, Issue, ValidationReport, describe_rows
from model.runtime.limits import MAX_ROWS, MAX_UPLOAD_BYTES

# The importer's API as other modules and notebooks import it from here; each name lives where its job is.
__all__ = [
    "BAD_ROWS",
    "CODINGS",
    "ROW",
    "ImportResult",
    "Issue",
    "ValidationReport",
    "describe_rows",
    "read_user_csv",
    "set_aside_bad_rows",
    "validate_frame",
    "validated_frame",
]


def read_user_csv(
    file_or_bytes,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_UPLOAD_BYTES,
    bad_rows: str = "refuse",
    coding: str | None = None,
) -> ImportResult:
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
    raw = read_table(file_or_bytes, max_rows, max_bytes, report)
    frame = None if raw is None else name_columns(raw, report)
    if frame is None:
        return ImportResult(None, report)
    report.n_rows = len(frame)
    if len(frame) == 0:
        report.error(None, [], "the file has a header line but no data rows")
        return ImportResult(None, report)
    if len(frame) > max_rows:
        report.error(None, [], f"the file has more than {max_rows:,} data rows, the most this tool accepts")
        return ImportResult(None, report)
    frame = recode(frame, report, coding)
    if frame is None:
        return ImportResult(None, report)
    return ImportResult(validated_frame(frame, report), report)
