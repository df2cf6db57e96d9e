"""The importer's answer: a report in plain language (issues with their data rows) and the frame.

Data row 1 is the first line after the header (the first line of a file without one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from model.data.schema import TARGET

CODINGS = {
    "uci": "UCI coding (with a header)",
    "uci-processed": "UCI processed format (no header)",
    "kaggle": "Kaggle coding",
    "tensorflow": "TensorFlow-tutorial coding",
    "unknown": "unknown coding",
}
# Short names, as in "read in the Kaggle coding" or coding='kaggle'.
CODING_NAMES = {"uci": "UCI", "kaggle": "Kaggle", "tensorflow": "TensorFlow-tutorial"}
SHOWN_ROWS = 5
SHOWN_VALUES = 3  # example values named in one message
SHOWN_NAMES = 20
SHOWN_NAME_LENGTH = 40
BAD_ROWS = ("refuse", "set_aside")


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
    # Codings the values fit equally well (e.g. ["uci", "kaggle"]) when the file was refused for it:
    # read it again with read_user_csv(..., coding=one of them); a UI offers them as a choice.
    candidate_codings: list[str] = field(default_factory=list)
    coding_given: str | None = None  # the coding the caller chose (read_user_csv's `coding`), None: detected
    # Data rows that do not fit the file's coding: already reported, so later checks skip them.
    not_fitting: set[int] = field(default_factory=set)

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
        aside with reason_of_row(position) (0-based position in the frame checked). Rows that
        do not fit the file's coding are left out: their one reason is that."""
        rows = [row for row in data_rows(mask) if row not in self.not_fitting]
        if not rows:
            return
        self.error(column, rows, message)
        self.row_errors += 1
        if self.bad_rows == "set_aside":
            for row in rows:
                self.set_aside.setdefault(row, []).append(reason_of_row(row - 1))

    def rows_not_fitting(self, issues: list[tuple[str, list[int]]], reasons: dict[int, str]) -> None:
        """Rows that do not fit the file's coding: (message, 0-based rows) issues and one reason a
        0-based row. They are errors of their rows: set aside in "set_aside" mode."""
        for message, rows in issues:
            self.errors.append(Issue(None, [row + 1 for row in rows], message))
            self.row_errors += 1
        for row, reason in reasons.items():
            self.not_fitting.add(row + 1)
            if self.bad_rows == "set_aside":
                self.set_aside.setdefault(row + 1, []).append(reason)

    @property
    def needs_coding(self) -> bool:
        """True when the file was refused only because its coding cannot be told from its values."""
        return bool(self.candidate_codings)

    def warn(self, column, rows, message) -> None:
        self.warnings.append(Issue(column, _as_rows(rows), message))

    def summary(self) -> str:
        if self.needs_coding:
            names = " and the ".join(CODING_NAMES.get(c, c) for c in self.candidate_codings)
            params = " or ".join(f"coding='{c}'" for c in self.candidate_codings)
            return f"The file was not read: its values fit both the {names} coding; choose one ({params})."
        if self.refuses:
            return f"The file was refused: {len(self.errors)} problem(s) to fix."
        if self.set_aside:
            return (
                f"Read {self.n_rows - len(self.set_aside)} of {self.n_rows} rows in the "
                f"{CODINGS.get(self.coding, self.coding)}; {len(self.set_aside)} row(s) set aside for the "
                f"problems below (as training data the file would be refused)."
            )
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


def count_of(mask: pd.Series, noun: str) -> str:
    """'1 such value is' / '3 such values are': how many cells of a mask are true."""
    n = int(mask.sum())
    return f"{n} {noun} is" if n == 1 else f"{n} {noun}s are"


def _escape_markdown(text: str) -> str:
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


def _as_rows(rows) -> list[int]:
    return [int(r) for r in rows]


def data_rows(mask: pd.Series) -> list[int]:
    """1-based data row numbers where mask is true (its index: 0-based positions in the file)."""
    return (mask.index[mask.to_numpy(dtype=bool)] + 1).tolist()
