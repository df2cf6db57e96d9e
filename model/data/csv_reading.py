"""The bytes of an uploaded CSV as a table of strings: size bound, encoding, delimiter, width.

Nothing here interprets a header or a value; ``read_table`` answers every cell as a string
(header=None) or None with the reason in the report.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re

import pandas as pd

from model.data.import_report import ValidationReport
from model.runtime.limits import MAX_COLUMNS

logger = logging.getLogger(__name__)

# A byte-order mark says which Unicode encoding a file uses (Excel's "Unicode text" is UTF-16).
# UTF-32 first: its little-endian mark begins with UTF-16's.
BOM_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
NOT_CSV = "this is not a CSV file: it contains binary data (is it a spreadsheet or an archive?)"
# Control characters are looked for in this many leading characters; more than 1 % of them means binary data.
CONTROL_SAMPLE = 65536
CONTROL_SHARE = 0.01
SNIFFED_LINES = 20


def read_table(source, max_rows: int, max_bytes: int, report: ValidationReport) -> pd.DataFrame | None:
    """Every cell of the source as a string (at most max_rows + 2 lines); None, with the reason, when unreadable."""
    data = read_bytes(source, max_bytes, report)
    text = None if data is None else decode(data, report)
    return None if text is None else parse(text, max_rows, report)


def read_bytes(source, max_bytes: int, report: ValidationReport) -> bytes | None:
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
        logger.warning("an uploaded file could not be opened", exc_info=True)
        report.error(None, [], f"the file could not be opened ({exc.strerror or exc})")
        return None
    if len(data) > max_bytes:
        report.error(None, [], f"the file is larger than the upload limit of {max_bytes / 2**20:g} MB")
        return None
    return data


def decode(data: bytes, report: ValidationReport) -> str | None:
    """The text of the file: a byte-order mark's encoding, else UTF-8, else Latin-1; None for binary data."""
    encoding = next((name for bom, name in BOM_ENCODINGS if data.startswith(bom)), None)
    if encoding:
        try:
            data = data.decode(encoding).encode("utf-8")
        except UnicodeDecodeError:
            logger.warning("a file with a %s byte-order mark could not be decoded", encoding, exc_info=True)
            report.error(
                None,
                [],
                f"the file starts like {encoding.upper()} text but cannot be decoded as such; save it as CSV UTF-8",
            )
            return None
    if not data.strip():
        report.error(None, [], "the file is empty")
        return None
    if b"\x00" in data:
        report.error(None, [], NOT_CSV)
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Not an error: files saved by older spreadsheets are Latin-1, which decodes any byte.
        logger.debug("not UTF-8; read as Latin-1", exc_info=True)
        text = data.decode("latin-1")
    control = sum(1 for ch in text[:CONTROL_SAMPLE] if ord(ch) < 32 and ch not in "\t\r\n")
    if control > CONTROL_SHARE * min(len(text), CONTROL_SAMPLE):
        report.error(None, [], NOT_CSV)
        return None
    return text


def delimiter(text: str) -> str:
    """Comma unless the first lines clearly use semicolons or tabs (spreadsheet exports)."""
    sample = "\n".join(text.splitlines()[:SNIFFED_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        logger.debug("no delimiter stands out; comma assumed", exc_info=True)
        return ","


def too_wide(text: str, report: ValidationReport) -> bool:
    """True (and an error) when the first line has more than MAX_COLUMNS fields.

    Checked on the raw line before parsing: a header of a million names would otherwise
    cost the parser and every later step time and memory.
    """
    first_line = re.split(r"[\r\n]", text, maxsplit=1)[0]
    width = 1 + max(first_line.count(sep) for sep in ",;\t")
    if width > MAX_COLUMNS:
        report.error(
            None,
            [],
            f"the first line has {width:,} columns; this tool reads at most {MAX_COLUMNS} "
            f"columns (the 13 features, the target and a few others)",
        )
        return True
    return False


def parse(text: str, max_rows: int, report: ValidationReport) -> pd.DataFrame | None:
    """All cells as strings, no header interpretation yet (header=None)."""
    if too_wide(text, report):
        return None
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=object,
            keep_default_na=False,
            sep=delimiter(text),
            skipinitialspace=True,
            nrows=max_rows + 2,
        )
    except pd.errors.EmptyDataError:
        logger.warning("an uploaded CSV has no cells", exc_info=True)
        report.error(None, [], "the file is empty")
        return None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        logger.warning("an uploaded file could not be parsed as CSV", exc_info=True)
        report.error(None, [], f"this file could not be read as a CSV table ({str(exc).strip()})")
        return None
    return raw  # cells keep trailing spaces; every reader of a cell strips it
