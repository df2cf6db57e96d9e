"""Hyper-parameter search (model/evaluation/search.py): scores against a fold-by-fold reference, grouped folds,
pruning by the median rule, nested CV, events and Stop, bounded inputs, and `python -m model search`."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _kaggle_copy import kaggle_1025_frame
from sklearn.model_selection import train_test_split

import model
from model.cli import main
from model.data.datasets import load_dataset
from model.data.splits import patient_groups, straddling_patients
from model.evaluation.cross_validation import make_splits, positive_proba
from model.evaluation.pipelines import pipeline_from_config
from model.evaluation.search import (
    PRUNER_STARTUP_TRIALS,
    PRUNER_WARMUP_FOLDS,
    SearchSpace,
    _grouped_splits,
    search_ann,
)
from model.nn.config import ANNConfig
from model.runtime.limits import MAX_SEARCH_TRIALS, MAX_SEARCH_UNITS

TINY_SPACE = SearchSpace(max_layers=2, max_units=8, epochs=(2, 6))
# The fewest trials that still prune one (3 folds; waves of 2; seed 1 prunes trial 6, after 6 completed): the
# search is run twice (fixture and same-seed check), and each fit costs ~0.1 s of preprocessing whatever its size.
PRUNED_SEARCH = dict(n_trials=7, n_splits=3, space=TINY_SPACE, wave_size=2, seed=1)


@pytest.fixture(scope="module")
def data():
    frame = load_dataset("cleveland")
    return frame.drop(columns="target"), frame["target"].to_numpy()


@pytest.fixture(scope="module")
def pruned_search(data):
    X, y = data
    return search_ann(X, y, **PRUNED_SEARCH)


def _reference_scores(config: ANNConfig, X, y, splits, metric):
    """Fold by fold, the obvious way: fit the pipeline on the training rows, score the test rows."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    scores = []
    for train, test in splits:
        proba = positive_proba(pipeline_from_config(config).fit(X.iloc[train], y[train]), X.iloc[test])
        scores.append(roc_auc_score(y[test], proba) if metric == "roc_auc" else brier_score_loss(y[test], proba))
    return scores


def test_each_trial_scores_the_mean_of_its_folds_as_a_plain_refit_does(pruned_search, data):
    X, y = data
    splits = make_splits(y, 3, 1, PRUNED_SEARCH["seed"], groups=patient_groups(X, y).ids)
    trials = pruned_search.study.get_trials()
    for trial in trials[:3]:
        config = ANNConfig.from_dict(trial.user_attrs["config"])
        reference = _reference_scores(config, X, y, splits, "roc_auc")
        np.testing.assert_allclose(trial.user_attrs["fold_scores"], reference, rtol=0, atol=1e-12)
        if trial.state.name == "COMPLETE":
            assert trial.value == pytest.approx(np.mean(reference), abs=1e-12)
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert pruned_search.best_value == best.value and pruned_search.best_trial == best.number
    assert pruned_search.best_config == ANNConfig.from_dict(best.user_attrs["config"])


def test_a_pruned_trial_was_below_the_median_of_the_trials_completed_before_its_wave(pruned_search):
    trials = pruned_search.study.get_trials()
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, "this seed prunes at least one trial"
    wave = PRUNED_SEARCH["wave_size"]
    for trial in pruned:
        step = max(trial.intermediate_values)
        assert PRUNER_WARMUP_FOLDS <= step < 2  # never on the first fold, never after the last
        earlier = [
            t
            for t in trials[: trial.number - trial.number % wave]
            if t.state.name == "COMPLETE" and step in t.intermediate_values
        ]
        assert len(earlier) >= PRUNER_STARTUP_TRIALS
        assert trial.intermediate_values[step] < np.median([t.intermediate_values[step] for t in earlier])
        assert len(trial.user_attrs["fold_scores"]) == step + 1


def test_the_same_seed_gives_the_same_trials(pruned_search, data):
    X, y = data
    again = search_ann(X, y, **PRUNED_SEARCH)
    columns = [c for c in again.trials.columns if c != "seconds"]
    assert again.trials[columns].equals(pruned_search.trials[columns])


def test_importances_cover_the_parameters_every_trial_has_and_sum_to_one(pruned_search):
    importances = pruned_search.importances
    assert set(importances) <= set(pruned_search.trials.columns)
    assert {"learning_rate", "optimizer", "epochs", "units_0"} <= set(importances)
    assert sum(importances.values()) == pytest.approx(1.0)


def test_every_trial_uses_grouped_folds_so_no_patient_straddles():
    frame = kaggle_1025_frame()
    X, y = frame.drop(columns="target"), frame["target"].to_numpy()
    groups = patient_groups(X, y).ids
    splits = _grouped_splits(X, y, 5, 2, 0)
    assert straddling_patients(splits, groups) == 0
    assert [t.tolist() for t, _ in splits] == [t.tolist() for t, _ in make_splits(y, 5, 2, 0, groups=groups)]


def test_brier_is_minimised(data):
    X, y = data
    result = search_ann(X, y, n_trials=2, n_splits=2, space=TINY_SPACE, objective="brier", prune=False)
    complete = result.trials[result.trials["state"] == "COMPLETE"]
    assert result.direction == "minimize" and result.best_value == complete["value"].min()


def test_nested_cv_scores_each_winner_on_an_outer_fold_it_never_saw(data):
    X, y = data
    events = []
    result = search_ann(
        X, y, n_trials=2, n_splits=2, space=TINY_SPACE, nested=True, outer_folds=2, prune=False, on_event=events.append
    )
    nested = result.nested
    assert nested is not None and nested.complete and len(nested.folds) == 2
    outer = make_splits(y, 2, 1, 0, groups=patient_groups(X, y).ids)
    for row, (train, test) in zip(nested.folds.itertuples(), outer, strict=True):
        config = ANNConfig.from_json(row.config)
        proba = positive_proba(pipeline_from_config(config).fit(X.iloc[train], y[train]), X.iloc[test])
        from sklearn.metrics import roc_auc_score

        assert row.outer_score == pytest.approx(roc_auc_score(y[test], proba), abs=1e-12)
        assert row.n_train == len(train) and row.n_test == len(test)
    assert nested.optimism == pytest.approx(nested.inner_mean - nested.outer_mean)
    assert "unseen outer fold" in nested.text()
    done = [e.trials_done for e in events if e.kind == "trial"]
    assert done == list(range(1, 7)) and events[-1].kind == "done" and events[-1].trials_total == 6  # 2 x (1 + 2)


def test_stop_ends_the_search_after_the_running_trial(data):
    X, y = data
    stop = threading.Event()

    def stop_after_two(event):
        if event.kind == "trial" and event.trials_done == 2:
            stop.set()

    result = search_ann(
        X, y, n_trials=8, n_splits=2, space=TINY_SPACE, wave_size=4, on_event=stop_after_two, stop_event=stop
    )
    assert result.stopped
    assert result.trials["state"].tolist() == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]  # the rest were never asked
    assert "stopped" in result.study.trials[2].user_attrs["error"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_trials": 0}, "n_trials must be a whole number from 1"),
        ({"n_trials": MAX_SEARCH_TRIALS + 1}, "n_trials must be"),
        ({"objective": "accuracy"}, "objective must be one of roc_auc, brier"),
        ({"timeout_minutes": 0}, "timeout_minutes must be more than 0"),
        ({"wave_size": 0}, "wave_size must be"),
        ({"nested": True, "outer_folds": 1}, "outer_folds must be"),
        ({"space": SearchSpace(max_units=MAX_SEARCH_UNITS + 1)}, "units must be whole numbers"),
        ({"space": SearchSpace(optimizers=())}, "optimizers must be a non-empty choice"),
        ({"space": SearchSpace(learning_rate=(0.0, 0.1))}, "learning rate must be numbers with 0 < low"),
        ({"backend": "ray"}, "backend must be one of local, dask"),
    ],
)
def test_bad_arguments_get_plain_messages_before_any_training(data, arguments, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        search_ann(X, y, **{"n_trials": 2, **arguments})


def test_the_notebook_api_exports_the_search():
    assert model.search_ann is search_ann and model.SearchSpace is SearchSpace


def test_cli_search_writes_a_config_that_train_reads(tmp_path, capsys):
    # The CLI searches the full default space (up to 300 epochs): 60 patients, not 303, keep that a second.
    frame = load_dataset("cleveland").dropna()
    small, _ = train_test_split(frame, train_size=60, stratify=frame["target"], random_state=0)
    data = tmp_path / "sixty.csv"
    small.to_csv(data, index=False)
    out = tmp_path / "best.json"
    arguments = ["--data", str(data), "--coding", "uci", "--folds", "2", "--device", "cpu", "--wave", "2"]
    code = main(["search", "--trials", "2", "--out", str(out), *arguments])
    assert code == 0
    config = ANNConfig.from_json(out.read_text())
    assert config.device == "cpu"
    assert "Wrote the best configuration" in capsys.readouterr().out
    from model.cli import read_config

    assert read_config(str(out)) == config


def test_cli_search_bad_input_exits_2(tmp_path, capsys):
    assert main(["search", "--trials", "2", "--out", str(tmp_path / "none" / "x.json")]) == 2
    assert "--out must be a file in an existing folder" in capsys.readouterr().err
    assert main(["search", "--trials", "2", "--out", str(tmp_path / "x.json"), "--backend", "dask"]) == 2
    assert "needs a scheduler address" in capsys.readouterr().err
    assert main(["search", "--trials", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert "n_trials must be" in capsys.readouterr().err
