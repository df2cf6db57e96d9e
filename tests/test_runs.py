"""TrainingRun: background training that can be watched and stopped, with honest validation."""

import threading
import zipfile

import numpy as np
import pandas as pd
import pytest

from model.data.datasets import load_dataset
from model.data.schema import FEATURE_NAMES, NUMERIC
from model.nn.config import ANNConfig, LayerConfig
from model.nn.estimator import ANNClassifier
from model.nn.network import TrainingTooLargeError, check_training_work
from model.runtime import compute_slots
from model.runtime.compute_slots import ServerBusyError
from model.runtime.limits import MAX_CONCURRENT_TRAININGS, MAX_TRAINING_WORK
from model.serving.bundle import load_bundle
from model.serving.runs import RunStatus, TrainingDataError, TrainingRun, config_summary

FAST = ANNConfig(
    hidden_layers=[LayerConfig(8, "relu", 0.5)],
    optimizer="adam",
    learning_rate=0.02,
    batch_size=None,
    epochs=12,
    seed=3,
)
LONG = FAST.replace(epochs=5000, batch_size=8)


@pytest.fixture(scope="module")
def cleveland():
    return load_dataset("cleveland")


@pytest.fixture(scope="module")
def finished_run(cleveland):
    run = TrainingRun(cleveland, FAST, name="Run 1", dataset_name="Cleveland", snapshot_every=5).start()
    run.join()
    return run


def test_a_run_trains_to_the_end_and_keeps_everything_the_page_shows(finished_run):
    run = finished_run
    assert run.status is RunStatus.FINISHED, run.error
    events = run.events()
    assert [e.epoch for e in events] == list(range(1, 13))
    assert all(e.val_loss is not None and set(e.grad_norms) == {"hidden 1", "output"} for e in events)
    assert run.progress() == (1.0, 0.0)
    snapshot = run.latest_snapshot
    assert snapshot.epoch == 12  # the final state is always snapshotted
    assert snapshot.probability.shape == run.grid.shape
    assert np.all((snapshot.probability >= 0) & (snapshot.probability <= 1))
    assert snapshot.weights["hidden 1"].shape == (8 * run.pipeline.named_steps["ann"].n_features_in_,)
    assert set(run.metrics) >= {"accuracy", "roc_auc", "brier", "sensitivity", "specificity"}
    assert 0.5 < run.metrics["roc_auc"] <= 1.0
    assert run.device_label.startswith(("CPU", "GPU"))


def test_validation_split_is_stratified_and_preprocessing_sees_only_training_rows(finished_run, cleveland):
    run = finished_run
    n_val = len(run.y_validation)
    assert n_val == pytest.approx(0.2 * len(cleveland), abs=1)
    assert abs(run.y_validation.mean() - cleveland["target"].mean()) < 0.03
    assert len(run.training_index) + n_val == len(cleveland)
    scaler = run.pipeline.named_steps["preprocess"].named_transformers_["numeric"].named_steps["scale"]
    training_rows = cleveland.loc[run.training_index, NUMERIC]
    np.testing.assert_allclose(scaler.mean_, training_rows.fillna(training_rows.median()).mean(), rtol=1e-9)
    # The fitted pipeline takes raw feature rows, and its validation probabilities are the ones reported.
    assert set(run.validation_index) == set(cleveland.index.difference(run.training_index))
    validation_rows = cleveland.loc[run.validation_index, list(FEATURE_NAMES)]
    np.testing.assert_allclose(run.pipeline.predict_proba(validation_rows)[:, 1], run.validation_proba, atol=1e-6)


def test_projection_is_fitted_on_the_training_part(finished_run):
    run = finished_run
    X_train = run.pipeline.named_steps["preprocess"].transform(
        load_dataset("cleveland").loc[run.training_index, list(FEATURE_NAMES)]
    )
    np.testing.assert_allclose(run.projection.pca.mean_, X_train.mean(axis=0), atol=1e-5)
    assert run.projection.is_validation.sum() == len(run.y_validation)


def test_stop_ends_the_loop_and_keeps_the_partial_curves_and_model(cleveland):
    run = TrainingRun(cleveland, LONG, name="long").start()
    while run.epochs_done < 3 and run.is_active:
        threading.Event().wait(0.02)
    run.stop()
    run.join()
    assert run.status is RunStatus.STOPPED
    assert 3 <= run.epochs_done < LONG.epochs
    assert run.pipeline is not None and run.validation_proba is not None and run.metrics
    assert run.latest_snapshot is not None


def test_watching_does_not_change_what_the_network_learns(cleveland, finished_run):
    headless = TrainingRun(cleveland, FAST, live=False).start()
    headless.join()
    assert headless.status is RunStatus.FINISHED, headless.error
    assert headless.latest_snapshot is None and headless.events() == []
    np.testing.assert_allclose(headless.validation_proba, finished_run.validation_proba, atol=1e-6)


def test_readers_in_another_thread_see_a_growing_consistent_history(cleveland):
    run = TrainingRun(cleveland, FAST.replace(epochs=40), snapshot_every=3).start()
    seen = []
    while run.is_active or not seen:
        events = run.events()
        seen.append([e.epoch for e in events])
        snapshot = run.latest_snapshot
        if snapshot is not None:
            assert snapshot.epoch <= 40
    run.join()
    # A run that failed before its first epoch would show an empty, trivially consistent history.
    assert run.status is RunStatus.FINISHED, run.error
    assert run.events() and [e.epoch for e in run.events()] == list(range(1, 41))
    assert all(epochs == list(range(1, len(epochs) + 1)) for epochs in seen)
    assert [len(s) for s in seen] == sorted(len(s) for s in seen)


def test_a_run_that_fails_says_why_and_logs_the_traceback(cleveland, monkeypatch, caplog):
    from model.serving import runs

    def broken_pipeline(*args, **kwargs):
        raise RuntimeError("the network could not be built")

    monkeypatch.setattr(runs, "pipeline_from_config", broken_pipeline)
    before = compute_slots.slots_in_use()
    with caplog.at_level("ERROR", logger="model.serving.runs"):
        run = TrainingRun(cleveland, FAST, name="Broken").start()
        run.join()
    assert run.status is RunStatus.FAILED
    assert run.error == "RuntimeError: the network could not be built"
    assert run.pipeline is None and run.events() == []
    failures = [record for record in caplog.records if "Broken" in record.getMessage()]
    assert failures and failures[0].exc_info is not None  # the traceback is in the log, not only the status
    assert compute_slots.slots_in_use() == before


def test_the_server_trains_at_most_the_limit_at_once(cleveland):
    acquired = 0
    try:
        while compute_slots.free_slots():  # occupy every free slot, as other sessions would
            compute_slots.take_slot("taken by the test")
            acquired += 1
        with pytest.raises(ServerBusyError, match=f"already training {MAX_CONCURRENT_TRAININGS} networks"):
            TrainingRun(cleveland, FAST).start()
    finally:
        for _ in range(acquired):
            compute_slots.release_slot()
    run = TrainingRun(cleveland, FAST.replace(epochs=2)).start()  # a slot is free again
    run.join()
    assert run.status is RunStatus.FINISHED


def test_a_finished_or_failed_run_gives_its_slot_back(cleveland):
    before = compute_slots.slots_in_use()
    run = TrainingRun(cleveland, FAST.replace(epochs=2)).start()
    run.join()
    assert compute_slots.slots_in_use() == before


def test_data_that_cannot_be_trained_on_gets_a_plain_message(cleveland):
    few_sick = pd.concat([cleveland[cleveland["target"] == 0].head(50), cleveland[cleveland["target"] == 1].head(2)])
    with pytest.raises(TrainingDataError, match="2 patient\\(s\\) with outcome 'Disease'.*at least 4"):
        TrainingRun(few_sick, FAST)
    with pytest.raises(TrainingDataError, match="lacks the column\\(s\\) chol"):
        TrainingRun(cleveland.drop(columns="chol"), FAST)


def test_an_invalid_config_is_refused_before_any_thread_starts(cleveland):
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingRun(cleveland, FAST.replace(learning_rate=-1.0))


def test_the_bundle_download_loads_back_to_the_same_model(finished_run, tmp_path, cleveland):
    archive_path = tmp_path / "bundle.zip"
    archive_path.write_bytes(finished_run.bundle_zip())
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        assert all(name.startswith(f"{finished_run.bundle_name}/") for name in names)
        archive.extractall(tmp_path)
    loaded = load_bundle(tmp_path / finished_run.bundle_name)
    rows = cleveland[list(FEATURE_NAMES)].head(20)
    np.testing.assert_allclose(loaded.predict_proba(rows), finished_run.pipeline.predict_proba(rows), atol=1e-6)
    assert loaded.metadata["run"] == "Run 1"
    assert loaded.metadata["validation_metrics"]["roc_auc"] == pytest.approx(finished_run.metrics["roc_auc"])


def test_config_summary_names_the_architecture_and_the_optimizer():
    assert config_summary(FAST) == "8 relu (drop 0.5), adam lr 0.02, full batch, 12 epochs"
    assert config_summary(ANNConfig(hidden_layers=[], optimizer="gd", batch_size=32)).startswith(
        "perceptron, gd lr 0.01, full batch"
    )


def test_with_early_stopping_the_validation_part_is_only_watched(cleveland):
    config = FAST.replace(epochs=400, early_stopping=True, patience=5)
    run = TrainingRun(cleveland, config, live=False).start()
    run.join()
    assert run.status is RunStatus.FINISHED, run.error
    history = run.history
    # Early stopping decided on rows held out from the training part, not on the validation part...
    assert history.inner_holdout == int(np.ceil(0.2 * len(run.training_index)))
    assert history.stopped_early and history.best_epoch < len(history)
    # ...whose curve (val_loss) is only reported: it differs from the loss that chose the epoch.
    assert history.column("stop_loss") != history.column("val_loss")
    # The validation part changed nothing: a network fitted on the training part alone, which never
    # saw it, is the same network.
    preprocess = run.pipeline.named_steps["preprocess"]
    alone = ANNClassifier.from_config(config).fit(
        preprocess.transform(cleveland.loc[run.training_index, list(FEATURE_NAMES)]),
        cleveland.loc[run.training_index, "target"].to_numpy(),
    )
    validation_rows = preprocess.transform(cleveland.loc[run.validation_index, list(FEATURE_NAMES)])
    np.testing.assert_array_equal(alone.predict_proba(validation_rows)[:, 1], run.validation_proba)
    assert alone.history_.best_epoch == history.best_epoch


def test_a_training_too_large_in_total_is_refused_naming_the_three_factors(cleveland):
    huge = FAST.replace(hidden_layers=[LayerConfig(512, "relu")] * 8, epochs=5_000)  # every single cap is met
    before = compute_slots.slots_in_use()
    with pytest.raises(TrainingTooLargeError, match=r"training rows × .* network parameters × 5,000 epochs") as error:
        TrainingRun(cleveland, huge).start()
    assert "fewer epochs" in str(error.value) and "fewer or narrower hidden layers" in str(error.value)
    assert compute_slots.slots_in_use() == before  # refused before taking a compute slot
    # The review's example passes every individual cap but not the total; a classroom demo passes.
    with pytest.raises(TrainingTooLargeError):
        check_training_work(huge, 200_000, 22)
    check_training_work(FAST.replace(epochs=5_000), 242, 22)
    check_training_work(FAST.replace(hidden_layers=[LayerConfig(64, "relu")] * 2, epochs=200), 200_000, 22)
    assert 10**11 < MAX_TRAINING_WORK < 10**14
