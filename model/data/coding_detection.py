"""Which coding an uploaded file is in: decided only on consistent evidence, row by row.

The UCI, Kaggle and TensorFlow-tutorial copies of the Cleveland data share column names,
and many Kaggle rows hold only codes that are valid UCI codes too (a Kaggle "3" in thal is
a reversible defect, a UCI "3" is normal). The evidence, strongest first:

* codes that only one coding uses (``KAGGLE_ONLY``, ``UCI_ONLY``; thal written as words is
  the TensorFlow tutorial's). A file's coding is the one that at most ``MAX_STRAY_SHARE``
  of the rows carrying such codes contradict; those rows "do not fit" and are reported
  with their row numbers. With more contradiction than that the file mixes codings and no
  coding is decided;
* a row that repeats another row's patient (same values in every column that both
  codings write alike) with cp, restecg and slope translated into the other coding: the
  TensorFlow-tutorial copy carries six such Kaggle rows (its data rows 248-253);
* a ``num`` column header: UCI's name for the outcome (the Kaggle copies call it ``target``);
* the direction of the target (``target_direction``): in the Kaggle copies target = 1 means
  *no* disease. Features coded alike in every copy go with disease the same way at every
  UCI site, so a target that goes with fewer signs of disease is an inverted one. Used
  only when it is conclusive: both classes large enough, significant, and every one of
  those features pointing the same way.

When nothing decides between UCI and Kaggle the decision names the candidates, and the
caller asks the user to choose (``read_user_csv(..., coding=...)``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.data.codings import KAGGLE_MISSING_CODE, KAGGLE_TO_UCI, TF_THAL_TO_UCI, UCI_TO_KAGGLE
from model.data.csv_cells import numbers_of
from model.data.import_report import CODING_NAMES, describe_rows
from model.data.schema import feature

CODING_CHOICES = ("uci", "kaggle", "tensorflow")
# Files whose values fit both codings: the user chooses between these.
AMBIGUOUS = ("uci", "kaggle")
# At most this share of the rows that carry codes of only one coding may contradict the file's coding.
MAX_STRAY_SHARE = 0.1
# (column, code) used by only one of the two numeric codings.
KAGGLE_ONLY = (("cp", 0), ("slope", 0), ("ca", 4), ("thal", 0), ("thal", 1), ("thal", 2))
UCI_ONLY = (("cp", 4), ("slope", 3), ("thal", 6), ("thal", 7))
# Columns written alike in every coding, and the coded ones that a Kaggle twin of a row translates.
UNCODED = ("age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak", "ca")
TWIN_CODED = ("cp", "restecg", "slope")
# Features coded alike in every copy, and the direction in which each goes with disease at every UCI site.
DISEASE_DIRECTION = {"age": 1, "sex": 1, "exang": 1, "oldpeak": 1, "ca": 1, "thalach": -1}
DIRECTION_WORDS = (
    "older age, male sex, exercise angina, more ST depression, more vessels coloured, lower maximum heart rate"
)
MIN_PER_CLASS = 10
DIRECTION_P_VALUE = 0.01
DIRECTION_MAX_ROWS = 20_000
_NO_VALUE = -1e300  # stands for a missing value in twin keys (NaN does not compare equal)


def coding_name(coding: str) -> str:
    return CODING_NAMES.get(coding, coding)


def pass_coding_hint(codings) -> str:
    """ "pass coding='uci' or coding='kaggle' to read_user_csv" for the given codings."""
    return "pass " + " or ".join(f"coding='{c}'" for c in codings) + " to read_user_csv"


def _meaning(column: str, code: int, coding: str) -> str:
    """'cp = 0 is the Kaggle code for Asymptomatic' and the like."""
    if coding == "kaggle":
        if KAGGLE_MISSING_CODE.get(column) == code:
            return f"{column} = {code} is the Kaggle code for a missing value"
        return f"{column} = {code} is the Kaggle code for {feature(column).category_label(KAGGLE_TO_UCI[column][code])}"
    return f"{column} = {code} is the UCI code for {feature(column).category_label(code)}"


# ----------------------------------------------------------------------------- target direction


@dataclass(frozen=True)
class TargetDirection:
    """How target = 1 goes with the signs of disease that every coding writes alike.

    ``auc``: probability that a patient with target = 1 has a higher disease score than one
    with target = 0 (0.5: no relation; near 1: 1 = disease; near 0: 1 = no disease).
    """

    auc: float
    p_value: float
    n_one: int
    n_zero: int
    against: tuple[str, ...]  # features pointing the other way from the overall direction

    @property
    def verdict(self) -> str | None:
        """ "disease" (target 1 = disease), "no disease" (inverted), or None when not conclusive."""
        if min(self.n_one, self.n_zero) < MIN_PER_CLASS or not self.p_value < DIRECTION_P_VALUE or self.against:
            return None
        return "disease" if self.auc > 0.5 else "no disease"

    def describe(self) -> str:
        way = "more" if self.auc > 0.5 else "fewer"
        p_text = "p < 0.0001" if self.p_value < 1e-4 else f"p = {self.p_value:.2g}"
        return (
            f"patients with target = 1 show {way} signs of disease ({DIRECTION_WORDS}) than those with "
            f"target = 0 (AUC {self.auc:.2f}, {p_text}, {self.n_one} against {self.n_zero} patients)"
        )


def _auc(score: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """(AUC, two-sided p) of score for positive against the others (Mann-Whitney U)."""
    from scipy.stats import mannwhitneyu

    ones, zeros = score[positive], score[~positive]
    if len(ones) == 0 or len(zeros) == 0:
        return 0.5, 1.0
    test = mannwhitneyu(ones, zeros, alternative="two-sided")
    p_value = float(test.pvalue) if math.isfinite(test.pvalue) else 1.0
    return float(test.statistic) / (len(ones) * len(zeros)), p_value


def target_direction(numbers: dict[str, pd.Series], target: pd.Series) -> TargetDirection | None:
    """The direction of a 0/1 target (NaN: unknown) against DISEASE_DIRECTION; None without both classes.

    Files larger than DIRECTION_MAX_ROWS are measured on that many rows drawn with a fixed seed: far
    more than a conclusive answer needs, and the rank tests stay fast at the row cap.
    """
    known = np.flatnonzero(target.isin([0, 1]).to_numpy())
    n_one = int((target.to_numpy()[known] == 1).sum())
    n_zero = len(known) - n_one
    if n_one == 0 or n_zero == 0:
        return None
    if len(known) > DIRECTION_MAX_ROWS:
        known = np.sort(np.random.default_rng(0).choice(known, DIRECTION_MAX_ROWS, replace=False))
    positive = target.to_numpy()[known] == 1
    score = np.zeros(len(known))
    signed_values = {}
    for name, sign in DISEASE_DIRECTION.items():
        values = numbers[name].to_numpy(dtype=float)[known]
        values = np.where(np.isfinite(values), values, np.nan)  # "inf" in a cell: checked (and refused) later
        if name == "ca":
            values = np.where(values > 3, np.nan, values)  # the Kaggle copies' 4 is a missing value
        spread = np.nanstd(values) if np.isfinite(values).sum() > 1 else 0.0
        if not spread > 0:
            continue
        signed_values[name] = sign * values
        score += np.where(np.isfinite(values), sign * (values - np.nanmean(values)) / spread, 0.0)
    if not signed_values:
        return None
    auc, p_value = _auc(score, positive)
    against: tuple[str, ...] = ()
    if p_value < DIRECTION_P_VALUE:  # only a direction that may count needs every feature's own check
        # each feature's direction: the difference of its means between target 1 and target 0
        gaps = {
            name: np.nanmean(values[positive]) - np.nanmean(values[~positive])
            for name, values in signed_values.items()
            if np.isfinite(values[positive]).any() and np.isfinite(values[~positive]).any()
        }
        against = tuple(name for name, gap in gaps.items() if gap * (auc - 0.5) < 0)
    return TargetDirection(auc, p_value, n_one, n_zero, against)


def _target_of(frame: pd.DataFrame) -> pd.Series | None:
    """The outcome as 0/1 (UCI num 0-4 folded to num > 0), NaN where unknown; None when there is none."""
    name = "num" if "num" in frame else "target" if "target" in frame else None
    if name is None:
        return None
    values = numbers_of(frame[name])
    if values.dropna().isin([0, 1]).all():
        return values.where(values.isin([0, 1]))
    if values.dropna().isin([0, 1, 2, 3, 4]).all():
        return (values > 0).astype(float).where(values.notna())
    return None


# ----------------------------------------------------------------------------- the decision


@dataclass
class CodingDecision:
    """What the values say about a file's coding.

    ``coding`` is None when no coding was decided: then either ``candidates`` (the values
    fit each of them) or ``error`` (the values mix codings) says why. ``strays``: 0-based
    rows that do not fit ``coding``, each with its reason; ``stray_issues`` groups them
    for the report as (message, 0-based rows).
    """

    coding: str | None
    candidates: tuple[str, ...] = ()
    error: str | None = None
    strays: dict[int, str] = field(default_factory=dict)
    stray_issues: list[tuple[str, list[int]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    direction: TargetDirection | None = None


class _Evidence:
    """The per-row signs of each coding in one frame (columns already lower-case)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame.reset_index(drop=True)
        names = set(UNCODED) | set(TWIN_CODED) | set(DISEASE_DIRECTION) | {"thal"}
        self.numbers = {name: numbers_of(self.frame[name]) for name in names}
        self.kaggle = {(c, v): self.numbers[c] == v for c, v in KAGGLE_ONLY}
        self.uci = {(c, v): self.numbers[c] == v for c, v in UCI_ONLY}
        self.any_kaggle = _any(self.kaggle.values(), self.frame.index)
        self.any_uci = _any(self.uci.values(), self.frame.index)
        text = self.frame["thal"].astype("string").str.strip()
        self.thal_text = text
        self.thal_words = text.str.lower().isin(list(TF_THAL_TO_UCI)).fillna(False).astype(bool)
        self.thal_numbers = self.numbers["thal"].notna()
        target = _target_of(self.frame)
        self.direction = None if target is None else target_direction(self.numbers, target)

    def signs(self, masks: dict, rows: pd.Series) -> list[str]:
        """['cp = 0', 'thal = 1 or 2']: the one-coding codes that occur in `rows`."""
        seen: dict[str, list[str]] = defaultdict(list)
        for (column, code), mask in masks.items():
            if (mask & rows).any():
                seen[column].append(str(code))
        return [f"{column} = {' or '.join(codes)}" for column, codes in seen.items()]

    def twins(self, stray_coding: str) -> dict[int, int]:
        """Rows (0-based) that repeat another row's patient with cp, restecg and slope written in
        `stray_coding` while the other row uses the other numeric coding -> that other row."""
        keys = pd.DataFrame({c: self.numbers[c].fillna(_NO_VALUE) for c in UNCODED})
        patient = pd.util.hash_pandas_object(keys, index=False).to_numpy()
        written = np.column_stack([self.numbers[c].to_numpy(dtype=float) for c in TWIN_CODED])
        in_kaggle = np.column_stack([self.numbers[c].map(UCI_TO_KAGGLE[c]).to_numpy(dtype=float) for c in TWIN_CODED])
        # A Kaggle-written stray equals the Kaggle translation of its twin; a UCI-written stray
        # translates into what its twin says.
        stray_side, twin_side = (written, in_kaggle) if stray_coding == "kaggle" else (in_kaggle, written)
        stray_key, twin_key = _code_key(stray_side), _code_key(twin_side)
        strays = np.flatnonzero(stray_key >= 0)
        twins = np.flatnonzero(twin_key >= 0)
        if not len(strays) or not len(twins):
            return {}
        candidates = pd.MultiIndex.from_arrays([patient[twins], twin_key[twins]])
        found = pd.MultiIndex.from_arrays([patient[strays], stray_key[strays]]).isin(candidates)
        if not found.any():
            return {}
        first_twin: dict[tuple[int, int], int] = {}
        twin_keys = zip(patient[twins].tolist(), twin_key[twins].tolist(), strict=True)
        for row, key in zip(twins.tolist(), twin_keys, strict=True):
            first_twin.setdefault(key, row)
        values = keys.to_numpy()
        pairs = {}
        for row in strays[found].tolist():
            twin = first_twin[(int(patient[row]), int(stray_key[row]))]
            if twin != row and np.array_equal(values[row], values[twin]):  # a hash match is checked value by value
                pairs[row] = twin
        return pairs


def _code_key(codes: np.ndarray) -> np.ndarray:
    """cp, restecg and slope as one number (cp * 100 + restecg * 10 + slope); -1 where any is no code 0-9."""
    valid = np.isfinite(codes).all(axis=1)
    valid &= (np.nan_to_num(codes) == np.round(np.nan_to_num(codes))).all(axis=1)
    valid &= ((codes >= 0) & (codes <= 9)).all(axis=1)
    key = np.where(valid[:, None], np.nan_to_num(codes), 0) @ np.array([100.0, 10.0, 1.0])
    return np.where(valid, key, -1).astype(np.int64)


def _any(masks, index) -> pd.Series:
    out = pd.Series(False, index=index)
    for mask in masks:
        out |= mask
    return out


def _rows(mask) -> list[int]:
    return np.flatnonzero(np.asarray(mask, dtype=bool)).tolist()


def _describe_rows(rows: list[int]) -> str:
    return describe_rows([r + 1 for r in rows])


def _strays(evidence: _Evidence, coding: str) -> tuple[dict[int, str], list[tuple[str, list[int]]]]:
    """Rows that do not fit `coding`, each with one reason, and the issues that group them."""
    reasons: dict[int, list[str]] = defaultdict(list)
    issues: list[tuple[str, list[int]]] = []
    foreign = "kaggle" if coding in ("uci", "tensorflow") else "uci"
    masks = evidence.kaggle if foreign == "kaggle" else evidence.uci
    coded_rows = np.zeros(len(evidence.frame), dtype=bool)
    for (column, code), mask in masks.items():
        for row in _rows(mask):
            reasons[row].append(_meaning(column, code, foreign))
        coded_rows |= mask.to_numpy()
    if coded_rows.any():
        own = evidence.uci if foreign == "kaggle" else evidence.kaggle
        own_signs = evidence.signs(own, ~pd.Series(coded_rows))
        rest = f" (the others use {', '.join(own_signs)})" if own_signs else ""
        issues.append(
            (
                f"the values mix two codings: these rows use codes of the {coding_name(foreign)} coding "
                f"({', '.join(evidence.signs(masks, pd.Series(coded_rows)))}) while the file is read in the "
                f"{coding_name(coding)} coding{rest}",
                _rows(coded_rows),
            )
        )
    if coding == "tensorflow":
        numeric = evidence.thal_numbers & ~evidence.any_kaggle
        for row in _rows(numeric):
            reasons[row].append(
                f"thal = {evidence.thal_text[row]} is a number where the file writes thal as words "
                "(normal, fixed, reversible)"
            )
        if numeric.any():
            issues.append(
                (
                    "thal is a number in these rows but a word (normal, fixed, reversible) in the rest of "
                    "the file, as in the TensorFlow-tutorial coding; the number's meaning differs between "
                    "codings (3 is UCI 'normal' but Kaggle 'reversible defect')",
                    _rows(numeric),
                )
            )
    elif evidence.thal_words.any():
        for row in _rows(evidence.thal_words):
            reasons[row].append(
                f"thal = '{evidence.thal_text[row]}' is a word of the TensorFlow-tutorial coding "
                f"where the file writes thal as numbers"
            )
        issues.append(
            (
                f"thal is written as a word (TensorFlow-tutorial coding) in these rows but as a number in the "
                f"rest of the file, which is read in the {coding_name(coding)} coding",
                _rows(evidence.thal_words),
            )
        )
    twins = evidence.twins(foreign) if coding in ("uci", "tensorflow", "kaggle") else {}
    for row, twin in twins.items():
        reasons[row].append(
            f"it repeats the patient of data row {twin + 1} with cp, restecg and slope written in "
            f"the {coding_name(foreign)} coding"
        )
    if twins:
        issues.append(
            (
                f"these rows repeat the patient of another row (same age, sex, blood pressure, cholesterol, "
                f"blood sugar, heart rate, angina, ST depression and vessels) with chest pain, resting ECG "
                f"and ST slope written in the {coding_name(foreign)} coding",
                sorted(twins),
            )
        )
    prefix = f"does not fit the file's {coding_name(coding)} coding: "
    return {row: prefix + "; ".join(found) for row, found in sorted(reasons.items())}, issues


def _mixed(evidence: _Evidence, what: str) -> str:
    kaggle_rows, uci_rows = evidence.any_kaggle, evidence.any_uci
    return (
        f"the values mix two codings{what}: codes of the Kaggle coding "
        f"({', '.join(evidence.signs(evidence.kaggle, kaggle_rows))}) in {_describe_rows(_rows(kaggle_rows))}, "
        f"codes of the UCI coding ({', '.join(evidence.signs(evidence.uci, uci_rows))}) in "
        f"{_describe_rows(_rows(uci_rows))}. Use one coding for the whole file, or "
        f"{pass_coding_hint(AMBIGUOUS)} to read it in one coding: the rows that do not fit it are then "
        "refused (or set aside when scoring)"
    )


def _direction_note(coding: str, direction: TargetDirection | None) -> str | None:
    """A warning when a conclusive target direction contradicts the coding decided from the codes."""
    if direction is None or direction.verdict is None or coding == "tensorflow":
        return None
    if coding == "uci" and direction.verdict == "no disease":
        return (
            f"CHECK THE TARGET: in the UCI coding target = 1 means disease, but here {direction.describe()}. "
            "It looks inverted (1 = no disease, as in the Kaggle copies); invert it before training"
        )
    if coding == "kaggle" and direction.verdict == "disease":
        return (
            f"CHECK THE TARGET: in the Kaggle coding target = 1 means no disease and is inverted on reading, "
            f"but here {direction.describe()}. Was it inverted already? Then the reading inverts it back"
        )
    return None


def decide_coding(frame: pd.DataFrame, given: str | None = None, *, num_header: bool = False) -> CodingDecision:
    """The coding of `frame` (raw cells, lower-case column names, every feature present).

    `given`: the coding the user chose (None: decide from the values). `num_header`: the
    file itself names a column 'num' (UCI's name for the outcome).
    """
    evidence = _Evidence(frame)
    direction = evidence.direction
    notes: list[str] = []
    if given is not None:
        coding = given
    else:
        words, numbers = int(evidence.thal_words.sum()), int(evidence.thal_numbers.sum())
        # Rows with codes of one coding only; a row with codes of both fits neither and supports neither.
        kaggle = int((evidence.any_kaggle & ~evidence.any_uci).sum())
        uci = int((evidence.any_uci & ~evidence.any_kaggle).sum())
        signed = int((evidence.any_kaggle | evidence.any_uci).sum())
        if words and numbers > MAX_STRAY_SHARE * (words + numbers) and words > MAX_STRAY_SHARE * (words + numbers):
            return CodingDecision(
                None,
                error=(
                    f"thal mixes two codings: words (TensorFlow-tutorial coding) in "
                    f"{_describe_rows(_rows(evidence.thal_words))}, numbers in "
                    f"{_describe_rows(_rows(evidence.thal_numbers))}. Write thal one way in the whole file"
                ),
                direction=direction,
            )
        if words and numbers <= MAX_STRAY_SHARE * (words + numbers):
            if kaggle > MAX_STRAY_SHARE * signed:
                return CodingDecision(
                    None,
                    error=_mixed(
                        evidence, " (thal is written as words, as in the TensorFlow-tutorial coding, which is UCI's)"
                    ),
                    direction=direction,
                )
            coding = "tensorflow"
        elif signed == 0:
            if num_header:
                coding = "uci"
                notes.append(
                    "the codes fit both the UCI and the Kaggle coding; the file was read in the UCI coding "
                    "because it has UCI's 'num' column (the Kaggle copies call the outcome 'target')"
                )
            elif direction is not None and direction.verdict is not None:
                coding = "uci" if direction.verdict == "disease" else "kaggle"
                meaning = (
                    "1 = disease, as in the UCI coding"
                    if coding == "uci"
                    else "1 = no disease, as in the Kaggle coding, where it is inverted on reading"
                )
                notes.append(
                    f"the codes fit both the UCI and the Kaggle coding; the target decided: "
                    f"{direction.describe()}, so target {meaning}. The file was read in the "
                    f"{coding_name(coding)} coding; if that is wrong, "
                    f"{pass_coding_hint([c for c in AMBIGUOUS if c != coding])}"
                )
            else:
                return CodingDecision(None, candidates=AMBIGUOUS, direction=direction)
        elif uci > kaggle and kaggle <= MAX_STRAY_SHARE * signed:
            coding = "uci"
        elif kaggle > uci and uci <= MAX_STRAY_SHARE * signed:
            coding = "kaggle"
        else:
            return CodingDecision(None, error=_mixed(evidence, ""), direction=direction)
    note = _direction_note(coding, direction)
    if note:
        notes.append(note)
    strays, issues = _strays(evidence, coding)
    return CodingDecision(coding, strays=strays, stray_issues=issues, notes=notes, direction=direction)
