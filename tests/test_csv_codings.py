"""Ambiguous and self-contradicting files (issue 11, section 5) and the zeros batch scoring must refuse.

The files are built the way the public copies are: the Kaggle 303- and 1,025-row "heart.csv"
(``uci_to_kaggle`` of the built-in patients), a TensorFlow-tutorial-like copy with its six
Kaggle-coded rows (data rows 248-253, Kaggle copies of rows 242-247), and the four UCI files.
"""

import numpy as np
import pandas as pd
import pytest

from model.clinic.risk import check_patient
from model.data.coding_choice import PREVIEW_COLUMNS, labelled_rows, read_candidates
from model.data.coding_detection import decide_coding, target_direction
from model.data.codings import KAGGLE_MISSING_CODE, KAGGLE_TO_UCI, UCI_TO_KAGGLE, uci_to_kaggle
from model.data.csv_cells import numbers_of
from model.data.csv_import import read_user_csv, set_aside_bad_rows, validate_frame
from model.data.datasets import load_dataset, read_uci_processed
from model.data.schema import COLUMNS, FEATURE_NAMES, feature

TF_THAL_WORDS = {3: "normal", 6: "fixed", 7: "reversible"}
SITES = ("cleveland", "hungarian", "switzerland", "va")
TF_KAGGLE_ROWS = [248, 249, 250, 251, 252, 253]  # 1-based data rows of the tutorial's file


@pytest.fixture(scope="module")
def cleveland() -> pd.DataFrame:
    return load_dataset("cleveland")


@pytest.fixture(scope="module")
def kaggle_303(cleveland) -> pd.DataFrame:
    return uci_to_kaggle(cleveland)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def assert_same_patients(frame, expected):
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)


def fits_both(kaggle: pd.DataFrame) -> pd.Series:
    """Kaggle rows whose every code is also a valid UCI code (no cp 0, slope 0, ca 4, thal 0/1/2)."""
    return (kaggle["cp"] != 0) & (kaggle["slope"] != 0) & (kaggle["ca"] != 4) & ~kaggle["thal"].isin([0, 1, 2])


def uci_reference(shared_data_dir, site: str = "cleveland") -> pd.DataFrame:
    """A UCI processed file with its num column (read_uci_processed folds num into target)."""
    return pd.read_csv(
        shared_data_dir / f"processed.{site}.data", header=None, names=list(FEATURE_NAMES) + ["num"], na_values="?"
    )


def tensorflow_copy(shared_data_dir) -> pd.DataFrame:
    """Like the tutorial's heart.csv: UCI codes, thal in words, target = num >= 2, and data rows 248-253
    replaced by Kaggle-coded copies of rows 242-247 (cp, restecg, slope in Kaggle codes, thal the Kaggle
    digit or the word 'normal', target 0), as in the published file."""
    raw = uci_reference(shared_data_dir)
    tf = raw.drop(columns="num").assign(target=(raw["num"] >= 2).astype(int)).astype(object)
    tf["thal"] = raw["thal"].map(TF_THAL_WORDS).astype(object)
    for offset, row in enumerate(TF_KAGGLE_ROWS):
        copy = raw.iloc[row - 7].astype(object)
        for column in ("cp", "restecg", "slope"):
            copy[column] = UCI_TO_KAGGLE[column][int(copy[column])]
        thal = UCI_TO_KAGGLE["thal"][int(copy["thal"])]
        copy["thal"] = str(thal) if offset in (0, 5) else "normal"
        tf.iloc[row - 1] = list(copy.drop("num")) + [0]
    return tf


# ============================================================================= ambiguous codings


def test_kaggle_rows_that_fit_both_codings_are_not_read_as_uci(kaggle_303):
    rows = kaggle_303[fits_both(kaggle_303)].head(12)
    for content in (csv_bytes(rows), csv_bytes(rows.drop(columns="target"))):
        for bad_rows in ("refuse", "set_aside"):
            result = read_user_csv(content, bad_rows=bad_rows)
            report = result.report
            assert result.frame is None and report.refuses
            assert report.candidate_codings == ["uci", "kaggle"]
            assert "pass coding='uci' or coding='kaggle' to read_user_csv" in report.as_text()
            assert report.summary().startswith("The file was not read: its values fit both the UCI and the Kaggle")


def test_the_chosen_coding_reads_ambiguous_rows(cleveland, kaggle_303):
    chosen = fits_both(kaggle_303)
    rows = kaggle_303[chosen].head(12)
    as_kaggle = read_user_csv(csv_bytes(rows), coding="kaggle")
    assert as_kaggle.report.ok and as_kaggle.report.coding == "kaggle"
    assert_same_patients(as_kaggle.frame, cleveland[chosen].head(12))
    assert "read in the Kaggle coding, as chosen (coding='kaggle')" in as_kaggle.report.as_text()
    as_uci = read_user_csv(csv_bytes(rows), coding="uci")
    assert as_uci.report.ok and as_uci.report.coding == "uci"
    assert_same_patients(as_uci.frame, rows)  # read as it is: nothing decoded, target not inverted


def test_a_conclusive_target_direction_decides_an_ambiguous_file(cleveland, kaggle_303):
    chosen = fits_both(kaggle_303)
    rows = kaggle_303[chosen]  # 35 patients, 17 with disease: enough for the target to speak
    result = read_user_csv(csv_bytes(rows))
    assert result.report.ok and result.report.coding == "kaggle"
    assert_same_patients(result.frame, cleveland[chosen])
    text = result.report.as_text()
    assert "the target decided" in text and "if that is wrong, pass coding='uci'" in text
    # the same rows in UCI coding (their UCI reading: target 1 = disease) are read as UCI
    uci = read_user_csv(csv_bytes(rows.assign(target=1 - rows["target"])))
    assert uci.report.coding == "uci" and uci.report.ok


def test_a_num_column_says_uci_coding(kaggle_303):
    rows = kaggle_303[fits_both(kaggle_303)].head(8).rename(columns={"target": "num"})
    result = read_user_csv(csv_bytes(rows))
    assert result.report.ok and result.report.coding == "uci"
    assert "because it has UCI's 'num' column" in result.report.as_text()


def test_coding_must_be_known():
    with pytest.raises(ValueError, match="coding must be None"):
        read_user_csv(b"age\n1\n", coding="spss")


@pytest.mark.parametrize("site", SITES)
def test_target_direction_of_the_uci_sites(shared_data_dir, site):
    raw = uci_reference(shared_data_dir, site)
    direction = target_direction({c: raw[c] for c in FEATURE_NAMES}, (raw["num"] > 0).astype(float))
    # Switzerland: 115 of 123 with disease, too few without it for a conclusive direction
    assert direction.verdict == ("disease" if site != "switzerland" else None)
    assert direction.auc > 0.5
    result = read_user_csv(shared_data_dir / f"processed.{site}.data")
    assert result.report.ok and "CHECK THE TARGET" not in result.report.as_text()


def test_public_copies_are_read_in_their_coding_without_doubt(cleveland, kaggle_303):
    for frame, coding in (
        (cleveland, "uci"),
        (kaggle_303, "kaggle"),
        (pd.concat([kaggle_303] * 3 + [kaggle_303.head(116)]), "kaggle"),
    ):
        result = read_user_csv(csv_bytes(frame))
        assert result.report.ok and result.report.coding == coding
        assert not result.report.candidate_codings and "CHECK THE TARGET" not in result.report.as_text()
    kaggle_direction = target_direction({c: numbers_of(kaggle_303[c]) for c in FEATURE_NAMES}, kaggle_303["target"])
    assert kaggle_direction.verdict == "no disease" and kaggle_direction.auc < 0.2


def test_a_target_against_its_coding_is_flagged(cleveland, kaggle_303):
    already_inverted = kaggle_303.assign(target=1 - kaggle_303["target"])
    text = read_user_csv(csv_bytes(already_inverted)).report.as_text()
    assert "CHECK THE TARGET: in the Kaggle coding target = 1 means no disease" in text
    inverted_uci = cleveland.assign(target=1 - cleveland["target"])
    text = read_user_csv(csv_bytes(inverted_uci)).report.as_text()
    assert "CHECK THE TARGET: in the UCI coding target = 1 means disease" in text and "looks inverted" in text


def test_readings_for_a_choice_show_decoded_rows_and_prevalence(kaggle_303):
    rows = kaggle_303[fits_both(kaggle_303)].head(12)
    uci, kaggle = read_candidates(csv_bytes(rows), ["uci", "kaggle"])
    assert (uci.name, kaggle.name) == ("UCI", "Kaggle")
    n_one = int(rows["target"].sum())
    assert uci.prevalence == (n_one, 12) and kaggle.prevalence == (12 - n_one, 12)
    assert kaggle.prevalence_text() == f"disease in {12 - n_one} of 12 patients ({100 * (12 - n_one) / 12:.1f} %)"
    # thal 3 is "Normal" read as UCI and "Reversible defect" read as Kaggle
    assert set(uci.preview()["Thallium stress test"]) == {"Normal"}
    assert set(kaggle.preview()["Thallium stress test"]) == {"Reversible defect"}
    assert list(kaggle.preview().index) == [1, 2, 3, 4, 5]
    assert set(PREVIEW_COLUMNS) >= set(KAGGLE_TO_UCI) | set(KAGGLE_MISSING_CODE) | {"target"}
    assert labelled_rows(pd.DataFrame({"cp": [4.0, np.nan]}))["Chest pain type"].tolist() == ["Asymptomatic", "Unknown"]


# ============================================================================= mixed codings


def test_a_word_in_a_numeric_thal_column_is_that_row_only(cleveland):
    frame = cleveland.astype({"thal": object})
    frame.loc[4, "thal"] = "normal"
    refused = read_user_csv(csv_bytes(frame))
    assert refused.frame is None and refused.report.coding == "uci"
    assert "thal is written as a word (TensorFlow-tutorial coding) in these rows" in refused.report.as_text()
    assert [issue.rows for issue in refused.report.errors] == [[5]]
    kept = read_user_csv(csv_bytes(frame), bad_rows="set_aside")
    assert kept.report.coding == "uci" and list(kept.set_aside) == [5]
    assert "thal = 'normal' is a word of the TensorFlow-tutorial coding" in kept.set_aside[5][0]
    assert kept.has_target and len(kept.frame) == len(cleveland) - 1  # the target is kept


def test_half_words_half_numbers_in_thal_is_refused_with_rows(cleveland):
    frame = cleveland.head(10).astype({"thal": object})
    frame.loc[:4, "thal"] = frame.loc[:4, "thal"].map(TF_THAL_WORDS)
    for bad_rows in ("refuse", "set_aside"):
        text = read_user_csv(csv_bytes(frame), bad_rows=bad_rows).report.as_text()
        assert (
            "thal mixes two codings: words (TensorFlow-tutorial coding) in data rows 1, 2, 3, 4, 5, numbers in "
            "data rows 6, 7, 8, 9, 10" in text
        )


def test_uci_rows_in_a_kaggle_file_are_named(cleveland, kaggle_303):
    frame = kaggle_303.copy()
    frame.iloc[[10, 42]] = cleveland.iloc[[10, 42]].to_numpy()  # two rows pasted in UCI coding (cp = 4)
    refused = read_user_csv(csv_bytes(frame))
    assert refused.frame is None and refused.report.coding == "kaggle"
    assert "these rows use codes of the UCI coding (cp = 4" in refused.report.as_text()
    assert refused.report.errors[0].rows == [11, 43]
    kept = read_user_csv(csv_bytes(frame), bad_rows="set_aside")
    assert list(kept.set_aside) == [11, 43]
    assert kept.set_aside[11][0].startswith("does not fit the file's Kaggle coding: cp = 4 is the UCI code for")
    assert_same_patients(kept.frame, cleveland.drop(index=[10, 42]))


def test_a_file_without_a_clear_majority_coding_is_refused_with_both_row_lists(cleveland, kaggle_303):
    frame = pd.concat([kaggle_303.head(10), cleveland.iloc[10:20]])
    text = read_user_csv(csv_bytes(frame), bad_rows="set_aside").report.as_text()
    assert "the values mix two codings: codes of the Kaggle coding (cp = 0" in text
    assert "in data rows 1, 2, 3, 4, 5 and 3 more (8 rows in all)" in text
    assert "codes of the UCI coding (cp = 4, slope = 3) in data rows 11, 18, 19" in text
    assert "pass coding='uci' or coding='kaggle'" in text


def test_num_and_target_that_disagree_are_reported_with_rows(cleveland, shared_data_dir):
    raw = uci_reference(shared_data_dir)
    agree = raw.assign(target=(raw["num"] > 0).astype(int))
    result = read_user_csv(csv_bytes(agree))
    assert result.report.ok and "'num' and 'target' agree in every row" in result.report.as_text()
    disagree = agree.copy()
    disagree.loc[[2, 6], "target"] = 1 - disagree.loc[[2, 6], "target"]
    result = read_user_csv(csv_bytes(disagree))
    assert result.frame is None
    issue = next(i for i in result.report.errors if i.column == "target")
    assert issue.rows == [3, 7] and "'num' and 'target' disagree" in issue.message
    kept = read_user_csv(csv_bytes(disagree), bad_rows="set_aside")
    assert list(kept.set_aside) == [3, 7]
    assert kept.set_aside[3] == [
        f"'num' and 'target' disagree: num = {raw.loc[2, 'num']:g} but target = {disagree.loc[2, 'target']:g}"
    ]
    inverted = agree.assign(target=1 - agree["target"])
    assert "an inverted target, 1 = no disease" in read_user_csv(csv_bytes(inverted)).report.as_text()
    severe = agree.assign(target=(agree["num"] >= 2).astype(int))
    assert "num ≥ 2 (severe disease" in read_user_csv(csv_bytes(severe)).report.as_text()


# ============================================================================= the TensorFlow-tutorial copy


def test_tensorflow_copy_sets_its_kaggle_rows_aside(shared_data_dir):
    tf = tensorflow_copy(shared_data_dir)
    reference = read_uci_processed(shared_data_dir / "processed.cleveland.data").drop(columns="target")
    for coding in (None, "tensorflow"):
        kept = read_user_csv(csv_bytes(tf), bad_rows="set_aside", coding=coding)
        assert kept.report.coding == "tensorflow" and not kept.report.refuses
        assert list(kept.set_aside) == TF_KAGGLE_ROWS
        for row in TF_KAGGLE_ROWS:
            reason = kept.set_aside[row][0]
            assert reason.startswith("does not fit the file's TensorFlow-tutorial coding")
            assert (
                f"it repeats the patient of data row {row - 6} with cp, restecg and slope written in the "
                "Kaggle coding" in reason
            )
        assert f"thal = {tf.loc[247, 'thal']} is the Kaggle code for" in kept.set_aside[248][0]
        expected = reference.drop(index=[r - 1 for r in TF_KAGGLE_ROWS])
        assert_same_patients(kept.frame, expected)  # no code turned silently into a missing value
    refused = read_user_csv(csv_bytes(tf))
    assert refused.frame is None
    assert "Kaggle coding" in refused.report.as_text() and "248" in refused.report.as_text()


def test_tensorflow_thal_that_is_no_result_is_an_error_of_its_row(shared_data_dir):
    tf = tensorflow_copy(shared_data_dir)
    tf.loc[9, "thal"] = "unclear"
    kept = read_user_csv(csv_bytes(tf), bad_rows="set_aside")
    assert kept.set_aside[10] == ["thal: 'unclear' is no thallium result (normal, fixed or reversible)"]


# ============================================================================= zeros: the form's rule in batch scoring


@pytest.mark.parametrize("column", ["trestbps", "chol"])
def test_a_zero_is_set_aside_for_scoring_in_the_forms_words(cleveland, column):
    frame = cleveland.head(6).drop(columns="target")
    frame.loc[2, column] = 0
    form = check_patient({**frame.iloc[2].to_dict(), column: 0})
    kept = read_user_csv(csv_bytes(frame), bad_rows="set_aside")
    assert kept.set_aside == {3: [form.errors[column]]}
    assert form.errors[column] == feature(column).check(0)
    assert "0 for 'not measured'" in kept.report.as_text()
    assert list(kept.frame.index) == [1, 2, 4, 5, 6]
    # a frame built in a notebook is checked the same way
    good, report = set_aside_bad_rows(frame)
    assert report.set_aside == {3: [form.errors[column]]} and list(good.index) == [1, 2, 4, 5, 6]


def test_zeros_of_the_uci_files_are_missing_and_reported_for_training(shared_data_dir):
    va = shared_data_dir / "processed.va.data"
    result = read_user_csv(va)
    assert result.report.ok
    text = result.report.as_text()
    assert "Serum cholesterol (chol): 0 means 'not measured' in the UCI files; 49 such values are now empty" in text
    assert (
        "Resting blood pressure (trestbps): 0 means 'not measured' in the UCI files; 1 such value is now empty" in text
    )
    assert result.frame["chol"].isna().sum() >= 49
    scoring = read_user_csv(va, bad_rows="set_aside")
    zero_rows = {i + 1 for i in uci_reference(shared_data_dir, "va").query("chol == 0 or trestbps == 0").index}
    assert set(scoring.set_aside) == zero_rows and len(zero_rows) == 49  # the blood pressure 0 shares a row
    assert validate_frame(pd.DataFrame([[63, 1, 1, 0, 233, 1, 2, 150, 0, 2.3, 3, 0, 6, 0]], columns=COLUMNS)).ok


def test_decide_coding_without_any_evidence_names_the_candidates(kaggle_303):
    rows = kaggle_303[fits_both(kaggle_303)].head(5).astype(object)
    decision = decide_coding(rows)
    assert decision.coding is None and decision.candidates == ("uci", "kaggle")
    assert decide_coding(rows, "kaggle").coding == "kaggle"
