"""The comparison's time estimate (model.estimates): the cost model on injected machine speeds, and calibration.

How close the estimate comes to a measured run is for benchmarks/bench_estimate.py (no clock here).
"""

from __future__ import annotations

import math

import pytest

from model.data.preprocessing import output_feature_names
from model.evaluation import estimates
from model.evaluation.comparison import ANN_NAME, CLASSICAL_NAMES, DEFAULT_MODELS, PERCEPTRON_NAME
from model.evaluation.estimates import (
    MachineSpeed,
    ann_training_seconds,
    classical_fold_seconds,
    describe_seconds,
    estimate_comparison,
)
from model.nn.config import ANNConfig, LayerConfig
from model.nn.network import parameter_count

SPEED = MachineSpeed(
    step_seconds=1e-3,
    unit_seconds=1e-9,
    preprocess_seconds_per_row=1e-5,
    classical_fold_seconds={name: 0.01 for name in CLASSICAL_NAMES} | {"Random forest": 0.2},
    shuffled_predict_seconds={name: 0.001 for name in CLASSICAL_NAMES},
    reference_rows=240,
    reference_test_rows=60,
)
NET = ANNConfig(hidden_layers=[LayerConfig(16, "relu", 0.0)], optimizer="adam", batch_size=None, epochs=100)
D = len(output_feature_names())


def test_one_stacked_training_is_epochs_times_steps_and_arithmetic():
    parameters = parameter_count(NET, D)
    # Full batch: one step per epoch, every row of the data in the arithmetic of each of the K folds.
    assert ann_training_seconds(NET, 10, 240, 300, SPEED) == pytest.approx(100 * (1e-3 + 10 * 300 * parameters * 1e-9))
    # Mini-batch 32 on 240 rows: 8 steps per epoch, the fold's rows in the arithmetic.
    assert ann_training_seconds(NET.replace(batch_size=32), 10, 240, 300, SPEED) == pytest.approx(
        100 * (8 * 1e-3 + 10 * 240 * parameters * 1e-9)
    )
    # Early stopping holds out a fifth of the rows: fewer steps.
    stopped = NET.replace(batch_size=32, early_stopping=True, validation_fraction=0.2)
    assert ann_training_seconds(stopped, 10, 240, 300, SPEED) == pytest.approx(
        100 * (math.ceil(192 / 32) * 1e-3 + 10 * 192 * parameters * 1e-9)
    )


def test_the_ann_part_grows_with_folds_epochs_and_parameters():
    base = estimate_comparison(303, [ANN_NAME], NET, 5, 2, False, False, speed=SPEED).parts[ANN_NAME]
    assert estimate_comparison(303, [ANN_NAME], NET, 5, 4, False, False, speed=SPEED).parts[ANN_NAME] > base
    assert estimate_comparison(303, [ANN_NAME], NET.replace(epochs=1000), 5, 2, False, False, speed=SPEED).parts[
        ANN_NAME
    ] == pytest.approx(10 * base)
    wide = NET.replace(hidden_layers=[LayerConfig(256, "relu", 0.0), LayerConfig(256, "relu", 0.0)])
    assert estimate_comparison(303, [ANN_NAME], wide, 5, 2, False, False, speed=SPEED).parts[ANN_NAME] > 10 * base


def test_classical_models_scale_from_their_calibration_fold():
    assert classical_fold_seconds("Random forest", 240, SPEED) == pytest.approx(0.2)
    for name, exponent in estimates.ROW_EXPONENTS.items():  # as measured on this machine
        assert classical_fold_seconds(name, 480, SPEED) == pytest.approx(
            SPEED.classical_fold_seconds[name] * 2**exponent
        )
    assert classical_fold_seconds("Naive Bayes", 480, SPEED) == pytest.approx(0.02)  # linear when not measured
    n_fits = 50
    guess = estimate_comparison(300, ["Random forest"], NET, 5, 10, False, False, speed=SPEED)
    assert guess.parts["Random forest"] == pytest.approx(n_fits * 0.2)


def test_on_a_large_cohort_the_estimate_counts_the_samples_the_comparison_takes():
    """The SVM learns from at most SVM_MAX_TRAINING_ROWS rows and permutation importance shuffles at most
    IMPORTANCE_MAX_ROWS held-out rows per fold (model.evaluation.comparison says so on the page)."""
    from model.evaluation.classical import SVM_MAX_TRAINING_ROWS
    from model.evaluation.comparison import IMPORTANCE_MAX_ROWS

    at_cap = classical_fold_seconds("SVM", SVM_MAX_TRAINING_ROWS, SPEED)
    assert classical_fold_seconds("SVM", 16 * SVM_MAX_TRAINING_ROWS, SPEED) == pytest.approx(at_cap)

    def importance(name: str, rows: int) -> float:
        guess = estimate_comparison(rows, [name], NET, 5, 2, False, True, speed=SPEED)
        return guess.parts["permutation importance"]

    small, large = 5 * IMPORTANCE_MAX_ROWS, 50 * IMPORTANCE_MAX_ROWS  # held-out folds above the sample size
    assert importance("Random forest", large) == pytest.approx(importance("Random forest", small))
    # k-NN's prediction also grows with the rows it searches: the training rows, which are not sampled
    growth = 10 ** (estimates.ROW_EXPONENTS["k-nearest neighbours"] - 1)
    assert importance("k-nearest neighbours", large) == pytest.approx(
        growth * importance("k-nearest neighbours", small)
    )


def test_the_whole_estimate_is_the_sum_of_its_stages():
    guess = estimate_comparison(303, list(DEFAULT_MODELS) + [PERCEPTRON_NAME], NET, 5, 10, speed=SPEED)
    assert set(guess.parts) >= {
        "preprocessing",
        "one fit on all rows",
        "learning curves",
        "permutation importance",
        ANN_NAME,
        PERCEPTRON_NAME,
        *CLASSICAL_NAMES,
    }
    assert guess.seconds == pytest.approx(sum(guess.parts.values()))
    lighter = estimate_comparison(303, list(DEFAULT_MODELS), NET, 5, 10, False, False, speed=SPEED)
    assert "learning curves" not in lighter.parts and "permutation importance" not in lighter.parts
    assert lighter.seconds < guess.seconds
    with_sites = estimate_comparison(303, list(DEFAULT_MODELS), NET, 5, 10, external_rows=303, speed=SPEED)
    assert with_sites.parts["external validation"] > 0


def test_more_patients_take_longer():
    small = estimate_comparison(303, list(DEFAULT_MODELS), NET, 5, 10, speed=SPEED).seconds
    large = estimate_comparison(3_030, list(DEFAULT_MODELS), NET, 5, 10, speed=SPEED).seconds
    assert large > 5 * small


def test_the_estimate_reads_as_plain_words():
    assert describe_seconds(0.2) == "about 1 s"
    assert describe_seconds(42.4) == "about 42 s"
    assert describe_seconds(70) == "about 1 min"
    assert describe_seconds(185) == "about 3 min"
    assert describe_seconds(5400) == "about 1.5 h"


def test_the_machine_is_measured_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(estimates, "_speeds", {})
    monkeypatch.setattr(estimates, "calibrate", lambda device="auto": calls.append(device) or SPEED)
    assert estimates.machine_speed() is SPEED
    assert estimates.machine_speed() is SPEED
    assert calls == ["auto"]
    guess = estimate_comparison(303, [ANN_NAME], NET, 5, 2, False, False)  # uses the measured speed
    assert guess.seconds == pytest.approx(
        estimate_comparison(303, [ANN_NAME], NET, 5, 2, False, False, speed=SPEED).seconds
    )


def test_calibration_measures_positive_finite_constants():
    speed = estimates.calibrate("cpu")
    for value in (speed.step_seconds, speed.unit_seconds, speed.preprocess_seconds_per_row):
        assert 0 < value < math.inf
    assert set(speed.classical_fold_seconds) == set(CLASSICAL_NAMES)
    assert all(0 < s < math.inf for s in speed.classical_fold_seconds.values())
    assert speed.reference_rows > speed.reference_test_rows > 0


def test_preprocessing_is_per_row_on_small_data_and_grows_more_slowly_beyond():
    reference = SPEED.reference_rows + SPEED.reference_test_rows
    one_fold = reference * SPEED.preprocess_seconds_per_row
    assert estimates.preprocessing_seconds(reference, SPEED) == pytest.approx(one_fold)
    assert estimates.preprocessing_seconds(reference / 2, SPEED) == pytest.approx(one_fold / 2)
    grown = one_fold * 4**estimates.PREPROCESSING_EXPONENT
    assert estimates.preprocessing_seconds(4 * reference, SPEED) == pytest.approx(grown)
