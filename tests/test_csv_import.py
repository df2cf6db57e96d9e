"""read_user_csv and validate_frame: the codings it recognises and every refusal it promises."""

import io

import numpy as np
import pandas as pd
import pytest

from model.data.codings import KAGGLE_TO_UCI, uci_to_kaggle
from model.data.csv_import import ImportResult, describe_rows, read_user_csv, validate_frame
from model.data.datasets import load_dataset, read_uci_processed
from model.data.schema import COLUMNS, FEATURE_NAMES

TF_THAL_WORDS = {3: "normal", 6: "fixed", 7: "reversible"}


@pytest.fixture(scope="module")
def cleveland() -> pd.DataFrame:
    return load_dataset()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def assert_same_patients(frame, expected):
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)


def messages(report) -> str:
    return report.as_text()


def refused(content, **limits) -> str:
    result = read_user_csv(content, **limits)
    assert result.frame is None and not result.report.ok
    return messages(result.report)


# ----------------------------------------------------------------------------- codings recognised


def test_uci_coding_with_a_header_is_read_as_is(cleveland):
    result = read_user_csv(csv_bytes(cleveland))
    assert isinstance(result, ImportResult) and result.report.ok and result.has_target
    assert result.report.coding == "uci" and result.report.conversions == []
    assert_same_patients(result.frame, cleveland)
    assert result.frame.dtypes["target"] == "int64"


def test_uci_num_column_becomes_target(cleveland):
    frame = cleveland.drop(columns="target").assign(num=cleveland["target"] * np.resize([1, 2, 3, 4], len(cleveland)))
    result = read_user_csv(csv_bytes(frame))
    assert result.report.ok and result.frame["target"].tolist() == cleveland["target"].tolist()
    assert "target = 1 where UCI num > 0" in messages(result.report)


def test_uci_processed_file_without_header(shared_data_dir):
    path = shared_data_dir / "processed.hungarian.data"
    result = read_user_csv(path.read_bytes())
    assert result.report.coding == "uci-processed" and result.report.ok
    assert_same_patients(result.frame, read_uci_processed(path))
    assert "UCI processed format (no header)" in result.report.as_text()


@pytest.mark.parametrize("site", ["cleveland", "hungarian", "switzerland", "va"])
def test_every_reference_file_is_accepted_as_an_upload(shared_data_dir, site):
    result = read_user_csv(shared_data_dir / f"processed.{site}.data")
    assert result.report.ok, result.report.as_text()


def test_kaggle_coding_round_trip(cleveland):
    kaggle = uci_to_kaggle(cleveland)
    assert set(kaggle["cp"]) == {0, 1, 2, 3} and kaggle["ca"].max() == 4
    result = read_user_csv(csv_bytes(kaggle))
    assert result.report.coding == "kaggle" and result.report.ok
    assert_same_patients(result.frame, cleveland)
    text = messages(result.report)
    assert "inverted" in text and "Kaggle code 4 stands for a missing value; 5 such values are now empty" in text
    for column in KAGGLE_TO_UCI:
        assert f"({column}): Kaggle codes turned into UCI codes" in text


def test_kaggle_rows_hand_checked_against_the_readme_mapping():
    # The first two lines of the Kaggle copy, and a row with both hidden missing values.
    content = (
        b"age,sex,cp,trestbps,chol,fbs,restecg,thalach,exang,oldpeak,slope,ca,thal,target\n"
        b"63,1,3,145,233,1,0,150,0,2.3,0,0,1,1\n"
        b"37,1,2,130,250,0,1,187,0,3.5,0,0,2,1\n"
        b"52,1,0,128,204,1,1,156,1,1.0,1,0,0,0\n"
        b"38,1,2,138,175,0,1,173,0,0.0,2,4,2,1\n"
    )
    result = read_user_csv(content)
    assert result.report.coding == "kaggle"
    rows = result.frame.astype(float).fillna(-1).values.tolist()
    assert rows == [
        [63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6, 0],  # UCI processed.cleveland.data row 1
        [37, 1, 3, 130, 250, 0, 0, 187, 0, 3.5, 3, 0, 3, 0],  # row 3
        [52, 1, 4, 128, 204, 1, 0, 156, 1, 1.0, 2, 0, -1, 1],  # row 282: thal missing
        [38, 1, 3, 138, 175, 0, 0, 173, 0, 0.0, 1, -1, 3, 0],  # row 303: ca missing
    ]


def test_kaggle_1025_row_version_reports_its_duplicates(cleveland):
    repeated = pd.concat([uci_to_kaggle(cleveland)] * 3 + [uci_to_kaggle(cleveland).head(116)], ignore_index=True)
    assert len(repeated) == 1025
    result = read_user_csv(csv_bytes(repeated))
    report = result.report
    assert report.ok and report.coding == "kaggle" and len(result.frame) == 1025
    assert len(report.duplicate_rows) == 1025 - 302 and report.duplicate_rows[0] == 165
    assert "leak across a train/test split" in messages(report)
    assert "723 row(s) repeat an earlier row exactly" in messages(report)


def tensorflow_coding(cleveland) -> pd.DataFrame:
    """UCI numbers, thal as words with two stray digits, target = num >= 2 (faked here)."""
    tf = cleveland.copy()
    tf["thal"] = tf["thal"].map(TF_THAL_WORDS).astype(object)
    tf.loc[[10, 20], "thal"] = ["1", "2"]
    return tf


def test_tensorflow_coding_converts_features_and_refuses_its_target(cleveland):
    tf = tensorflow_coding(cleveland).drop(index=[10, 20])
    result = read_user_csv(csv_bytes(tf))
    report = result.report
    assert report.coding == "tensorflow" and report.ok
    assert not result.has_target and "target" not in result.frame
    assert_same_patients(result.frame, cleveland.drop(columns="target").drop(index=[10, 20]))
    text = messages(report)
    assert "Column 'target': NOT USED" in text and "num ≥ 2" in text and "different question" in text
    assert "words turned into UCI codes (normal→3, fixed→6, reversible→7)" in text


def test_tensorflow_rows_with_stray_thal_digits_do_not_fit_and_are_named(cleveland):
    # Changed with issue 11: the digits were "treated as missing"; they are Kaggle codes, so the rows are refused
    # (training) or set aside (scoring) with the reason.
    content = csv_bytes(tensorflow_coding(cleveland))
    refused = read_user_csv(content)
    assert refused.frame is None and refused.report.coding == "tensorflow"
    assert "these rows use codes of the Kaggle coding (thal = 1 or 2)" in messages(refused.report)
    assert refused.report.errors[0].rows == [11, 21]
    kept = read_user_csv(content, bad_rows="set_aside")
    assert list(kept.set_aside) == [11, 21] and len(kept.frame) == len(cleveland) - 2
    assert kept.set_aside[11] == [
        "does not fit the file's TensorFlow-tutorial coding: thal = 1 is the Kaggle code for Fixed defect"
    ]


def test_tensorflow_rows_with_kaggle_codes_in_other_columns_are_set_aside(cleveland):
    # Changed with issue 11: a cp of 0 was "treated as missing"; the row is in the Kaggle coding, so it is set aside.
    tf = tensorflow_coding(cleveland).drop(index=[10, 20]).reset_index(drop=True)
    tf.loc[4, "cp"] = 0
    result = read_user_csv(csv_bytes(tf), bad_rows="set_aside")
    assert not result.report.refuses and list(result.set_aside) == [5]
    assert "cp = 0 is the Kaggle code for Asymptomatic" in result.set_aside[5][0]


def test_file_without_target_is_fine_for_prediction(cleveland):
    result = read_user_csv(csv_bytes(cleveland.drop(columns="target").head(3)))
    assert result.report.ok and not result.has_target and not result.report.has_target
    assert list(result.frame.columns) == list(FEATURE_NAMES)
    assert "no target column: the file can be used for predictions" in messages(result.report)
    assert "without a target column" in result.report.summary()


def test_paths_file_objects_semicolons_and_extra_columns(cleveland, tmp_path):
    path = tmp_path / "patients.csv"
    cleveland.head(5).assign(patient_id=range(5)).to_csv(path, index=False, sep=";")
    for source in (path, str(path), io.BytesIO(path.read_bytes())):
        result = read_user_csv(source)
        assert result.report.ok and len(result.frame) == 5
        assert "ignored column(s) that the model does not use: patient_id" in messages(result.report)


def test_header_names_are_matched_without_case_and_spaces(cleveland):
    content = csv_bytes(cleveland.head(3)).replace(b"age,sex", b" Age , SEX", 1)
    assert read_user_csv(content).report.ok


# ----------------------------------------------------------------------------- refusals


def test_missing_columns_are_named(cleveland):
    text = refused(csv_bytes(cleveland.drop(columns=["chol", "thal"])))
    assert "missing column(s): chol, thal" in text and "found: age, sex" in text


def test_non_numeric_values_name_column_and_rows(cleveland):
    frame = cleveland.head(10).astype(object)
    frame.loc[[2, 6], "trestbps"] = ["high", "120 mmHg"]
    text = refused(csv_bytes(frame))
    assert (
        "Column 'trestbps': Resting blood pressure: not a number (for example 'high', '120 mmHg') — data rows 3, 7."
        in text
    )


def test_values_outside_the_hard_limits_are_refused(cleveland):
    frame = cleveland.head(10).copy()
    frame.loc[[1, 4], "chol"] = [900, 1200]
    frame.loc[8, "age"] = 3
    text = refused(csv_bytes(frame))
    assert "Column 'chol': Serum cholesterol: 900.0 is above the possible maximum 700 mg/dL" in text
    assert "— data rows 2, 5." in text
    assert "Column 'age': Age: 3.0 is below the possible minimum 18 years — data row 9." in text


def test_many_bad_rows_are_summarised(cleveland):
    frame = cleveland.head(20).copy()
    frame["thalach"] = 400
    text = refused(csv_bytes(frame))
    assert "data rows 1, 2, 3, 4, 5 and 15 more (20 rows in all)" in text


def test_target_that_is_not_zero_or_one(cleveland):
    frame = cleveland.head(5).copy()
    frame.loc[3, "target"] = 7
    assert "Column 'target': Heart disease: 7.0 is not one of the codes" in refused(csv_bytes(frame))


def test_empty_target_cells_are_refused(cleveland):
    frame = cleveland.head(5).astype(object)
    frame.loc[2, "target"] = ""
    assert "Column 'target': the target is empty" in refused(csv_bytes(frame))


def test_mixed_codings_are_refused(cleveland):
    frame = cleveland.head(20).copy()
    frame.loc[0, "cp"] = 0
    text = refused(csv_bytes(frame))
    # Changed with issue 11: the file's coding (UCI) is decided and the row that does not fit it is named.
    assert (
        "the values mix two codings: these rows use codes of the Kaggle coding (cp = 0) while the file is read "
        "in the UCI coding (the others use cp = 4"
    ) in text and "— data row 1." in text


def test_kaggle_codes_out_of_range_are_named(cleveland):
    frame = uci_to_kaggle(cleveland.head(10))
    frame.loc[3, "restecg"] = 5
    assert "Column 'restecg': not a code of the Kaggle coding (which uses 0, 1, 2) — data row 4." in refused(
        csv_bytes(frame)
    )


def test_kaggle_target_must_be_binary(cleveland):
    frame = uci_to_kaggle(cleveland.head(10))
    frame.loc[[0, 9], "target"] = 3
    assert "Column 'target': the Kaggle target must be 0 (disease) or 1 (no disease) — data rows 1, 10." in refused(
        csv_bytes(frame)
    )


def test_set_aside_mode_keeps_the_good_rows_and_lists_the_bad_ones(cleveland):
    frame = uci_to_kaggle(cleveland.head(10)).astype(object)
    frame.loc[3, "restecg"] = 5
    frame.loc[6, "age"] = "old"
    frame.loc[6, "chol"] = 5000
    result = read_user_csv(csv_bytes(frame), bad_rows="set_aside")
    assert result.report.coding == "kaggle" and not result.report.refuses
    assert list(result.frame.index) == [1, 2, 3, 5, 6, 8, 9, 10] and result.frame.index.name == "row"
    assert list(result.set_aside) == [4, 7]
    # ImportResult.set_aside is the one record of the rows left out: the frame carries no copy in attrs.
    assert result.frame.attrs == {}
    assert result.set_aside[4] == ["restecg: 5 is not a code of the Kaggle coding (which uses 0, 1, 2)"]
    assert result.set_aside[7] == [
        "Age: 'old' is not a number",
        "Serum cholesterol: 5000 is above the possible maximum 700 mg/dL",
    ]
    assert "2 row(s) set aside" in result.report.summary()
    # the default still refuses the whole file; file-level problems refuse it in both modes
    assert read_user_csv(csv_bytes(frame)).frame is None
    missing = read_user_csv(csv_bytes(frame.drop(columns="age")), bad_rows="set_aside")
    assert missing.frame is None and "missing column" in messages(missing.report)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (",".join(COLUMNS).encode() + b"\n", "has a header line but no data rows"),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)),
            "not a CSV file: it contains binary data",
        ),
        (bytes(range(1, 32)) * 40, "not a CSV file"),
        (b"a,b\n1,2,3,4\n", "could not be read as a CSV table"),
        (b"1,2,3\n4,5,6\n", "no header line and 3 columns"),
        (b"age,age\n1,2\n", "names these columns more than once: age"),
    ],
)
def test_broken_files_are_refused_with_a_reason(content, message):
    assert message in refused(content)


def test_row_cap(cleveland):
    assert "more than 100 data rows" in refused(csv_bytes(cleveland.head(101)), max_rows=100)
    assert read_user_csv(csv_bytes(cleveland.head(100)), max_rows=100).report.ok


def test_byte_cap(cleveland):
    content = csv_bytes(cleveland)
    assert "larger than the upload limit" in refused(content, max_bytes=len(content) - 1)
    assert "larger than the upload limit" in refused(io.BytesIO(content), max_bytes=1000)
    assert read_user_csv(content, max_bytes=len(content)).report.ok


def test_unreadable_sources_give_a_report(tmp_path):
    assert "could not be opened" in refused(tmp_path / "absent.csv")
    assert "cannot read a int" in refused(42)


# ----------------------------------------------------------------------------- validate_frame and the report


def test_validate_frame_flags_the_documented_duplicate(cleveland):
    report = validate_frame(cleveland)
    assert report.ok and report.has_target and report.n_rows == 303
    assert report.duplicate_rows == [165]


def test_validate_frame_accepts_a_boolean_target(cleveland):
    report = validate_frame(cleveland.assign(target=cleveland["target"] == 1))
    assert report.ok and report.has_target


def test_validate_frame_on_a_bad_frame(cleveland):
    frame = cleveland.head(4).copy()
    frame.loc[0, "slope"] = 5
    report = validate_frame(frame.drop(columns="fbs"))
    assert not report.ok and "missing column(s): fbs" in report.as_text()
    report = validate_frame(frame)
    assert [(i.column, i.rows) for i in report.errors] == [("slope", [1])]


def test_report_as_text_and_markdown_carry_every_issue(cleveland):
    frame = uci_to_kaggle(cleveland.head(30)).assign(extra="x")
    report = read_user_csv(csv_bytes(frame)).report
    text, markdown = report.as_text(), report.as_markdown()
    assert text.startswith("Read 30 rows in the Kaggle coding, with a target column.")
    assert markdown.startswith("**Read 30 rows in the Kaggle coding")
    for item in report.warnings:
        assert str(item) in text
    assert markdown.count("\n- ") == len(report.warnings) + len(report.conversions)
    bad = read_user_csv(b"").report
    assert bad.as_text().startswith("The file was refused: 1 problem(s) to fix.")
    assert "**Problems (fix these and upload again)**" in bad.as_markdown()


def test_describe_rows():
    assert describe_rows([]) == ""
    assert describe_rows([4]) == "data row 4"
    assert describe_rows([1, 2, 3]) == "data rows 1, 2, 3"
    assert describe_rows(list(range(1, 9))) == "data rows 1, 2, 3, 4, 5 and 3 more (8 rows in all)"
