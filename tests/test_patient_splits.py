"""Repeated patients never straddle a training and a test part (model.splits and every split that uses it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _kaggle_copy import kaggle_1025_frame, seen_test_rows, total_seen
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES
from model.data.splits import (
    grouped_holdout,
    patient_groups,
    seen_patients,
    straddling_patients,
    stratified_group_splits,
)
from model.evaluation.cross_validation import make_splits
from model.serving.runs import split_frame


@pytest.fixture(scope="module")
def kaggle():
    return kaggle_1025_frame()


@pytest.fixture(scope="module")
def distinct():
    """The built-in data without its one repeated patient: clean data."""
    frame = load_dataset("cleveland")
    return frame.drop_duplicates(subset=list(FEATURE_NAMES)).reset_index(drop=True)


def test_groups_number_patients_by_first_row_and_treat_missing_values_as_equal():
    X = pd.DataFrame({"a": [1.0, 2.0, 1.0, np.nan, np.nan, 2.0], "b": [0, 0, 0, 5, 5, 1]})
    groups = patient_groups(X, [0, 1, 0, 1, 0, 1])
    assert groups.ids.tolist() == [0, 1, 0, 2, 2, 3]
    assert (groups.n_patients, groups.n_repeated_rows) == (4, 2)
    assert groups.conflicts == ((3, 4),)  # same values, outcomes 1 and 0
    text = groups.describe("kept together")
    assert "2 rows that repeat an earlier patient" in text and "4 distinct patients in 6 rows" in text
    assert "1 patient appears with both outcomes (rows 4, 5)" in text and "kept together" in text
    assert patient_groups(X.drop_duplicates()).describe("x") is None


def test_groups_use_the_13_features_only_when_a_frame_has_them(kaggle):
    groups = patient_groups(kaggle, kaggle["target"])  # the target column is not part of a patient
    assert (groups.n_rows, groups.n_patients, groups.n_repeated_rows) == (1025, 302, 723)
    assert groups.conflicts == ()
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        patient_groups(np.zeros((3, 2)), [0, 1])


def test_without_repeats_make_splits_is_exactly_repeated_stratified_k_fold(distinct):
    y = distinct["target"].to_numpy()
    ids = patient_groups(distinct, y).ids
    expected = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=4).split(np.zeros(len(y)), y)
    for (train, test), (train_0, test_0) in zip(make_splits(y, 5, 3, 4, groups=ids), expected, strict=True):
        assert np.array_equal(train, train_0) and np.array_equal(test, test_0)


def test_grouped_repeated_folds_keep_patients_together_and_test_every_row_once_per_repeat(kaggle):
    y = kaggle["target"].to_numpy()
    ids = patient_groups(kaggle, y).ids
    splits = make_splits(y, 5, 3, 0, groups=ids)
    assert len(splits) == 15
    assert straddling_patients(splits, ids) == 0
    assert total_seen(kaggle[list(FEATURE_NAMES)], splits) == 0  # the slow reference agrees
    for repeat in range(3):
        tested = np.concatenate([test for _, test in splits[5 * repeat : 5 * repeat + 5]])
        assert np.array_equal(np.sort(tested), np.arange(len(y)))
    for train, test in splits:  # stratified: every fold within 6 points of the overall prevalence
        assert abs(y[test].mean() - y.mean()) < 0.06 and len(np.intersect1d(train, test)) == 0
    firsts = [tuple(test) for _, test in splits[0:5]]
    assert [tuple(test) for _, test in splits[5:10]] != firsts  # each repeat shuffles anew
    again = make_splits(y, 5, 3, 0, groups=ids)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))  # and the seed fixes them
    assert [tuple(t) for _, t in make_splits(y, 5, 1, 1, groups=ids)] != firsts


def test_grouped_folds_need_enough_distinct_patients_per_class():
    X = pd.DataFrame({"a": [1, 1, 1, 2, 3, 4, 5, 6]})
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])  # 4 rows with disease but only 2 distinct patients
    with pytest.raises(ValueError, match="at least 3 distinct patients in each class.*has only 2"):
        make_splits(y, 3, 1, groups=patient_groups(X, y).ids)
    assert len(make_splits(y, 2, 1, groups=patient_groups(X, y).ids)) == 2


def test_grouped_holdout_keeps_patients_on_one_side_near_the_asked_size(kaggle):
    y = kaggle["target"].to_numpy()
    groups = patient_groups(kaggle, y)
    biggest = np.bincount(groups.ids).max()
    for seed in range(5):
        train, test = grouped_holdout(y, groups.ids, 0.2, seed)
        assert len(np.intersect1d(groups.ids[train], groups.ids[test])) == 0
        assert seen_test_rows(kaggle[list(FEATURE_NAMES)], train, test) == 0
        assert abs(len(test) - np.ceil(0.2 * len(y))) <= biggest
        assert abs(y[test].mean() - y.mean()) < 0.05
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    first = grouped_holdout(y, groups.ids, 0.2, 0)
    assert np.array_equal(first[1], grouped_holdout(y, groups.ids, 0.2, 0)[1])
    assert not np.array_equal(first[1], grouped_holdout(y, groups.ids, 0.2, 1)[1])


def test_split_frame_groups_repeats_and_is_train_test_split_on_clean_data(kaggle, distinct):
    X_train, X_val, y_train, y_val = split_frame(kaggle, 0.2, 0)
    assert len(X_train) + len(X_val) == 1025
    assert (
        seen_test_rows(
            pd.concat([X_train, X_val], ignore_index=True), np.arange(len(X_train)), np.arange(len(X_train), 1025)
        )
        == 0
    )
    X = distinct[list(FEATURE_NAMES)]
    y = distinct["target"].astype(int).to_numpy()
    expected = train_test_split(X, y, test_size=0.25, random_state=3, stratify=y)
    for ours, theirs in zip(split_frame(distinct, 0.25, 3), expected, strict=True):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs), equal_nan=True)
    mixed = split_frame(kaggle, 0.2, 0, keep_patients_together=False)  # the old way, kept on request
    assert (
        seen_test_rows(
            pd.concat([mixed[0], mixed[1]], ignore_index=True), np.arange(len(mixed[0])), np.arange(len(mixed[0]), 1025)
        )
        > 100
    )


def test_training_run_knows_its_repeats(kaggle):
    from model.nn.presets import RECOMMENDED
    from model.serving.runs import TrainingRun, repeats_note

    run = TrainingRun(kaggle, RECOMMENDED)
    assert run.patients.n_repeated_rows == 723
    assert "same side of the training/validation split" in repeats_note(run.patients)
    assert repeats_note(TrainingRun(load_dataset("cleveland").drop_duplicates(), RECOMMENDED).patients) is None


def test_seen_patients_matches_the_row_by_row_reference(kaggle):
    X = kaggle[list(FEATURE_NAMES)]
    seen = seen_patients(X.iloc[500:], X.iloc[:500])
    assert int(seen.sum()) == seen_test_rows(X, np.arange(500), np.arange(500, len(X))) > 0
    assert not seen_patients(X.iloc[:0], X).any() and len(seen_patients(X.iloc[:0], X)) == 0


def test_stratified_group_splits_say_so_when_a_fold_is_unusable():
    y = np.array([0, 0, 0, 1, 1, 1])
    groups = np.array([0, 0, 0, 1, 1, 1])  # one patient per class: a 2-fold split tests a whole class
    with pytest.raises(ValueError, match="without test patients or without both outcomes"):
        stratified_group_splits(y, groups, 2, 1, 0)


def test_the_train_page_says_how_repeats_were_split(kaggle):
    from dashboard.train_panels import validation_caption
    from model.nn.config import ANNConfig, LayerConfig
    from model.serving.runs import TrainingRun

    tiny = ANNConfig(hidden_layers=[LayerConfig(4, "relu", 0.0)], epochs=3, batch_size=None, device="cpu")
    run = TrainingRun(kaggle, tiny, live=False).start()
    assert run.join(120) and run.error is None
    assert len(np.intersect1d(run.patients.ids[run.training_index], run.patients.ids[run.validation_index])) == 0
    caption = validation_caption(run)
    assert "723 rows that repeat an earlier patient" in caption and "no validation patient was seen" in caption
