"""A comparison stops within one fold or epoch of a cancel, in every stage, and gives its compute slot back.

Counted in folds and epochs (the progress messages), never in seconds.
"""

from __future__ import annotations

import re
import threading

import pandas as pd
import pytest

from model.data.datasets import load_dataset
from model.evaluation.comparison import ANN_NAME, Protocol, external_validation, run_comparison
from model.nn.config import ANNConfig, LayerConfig
from model.runtime import compute_slots
from model.runtime.jobs import Cancelled, Job, JobStatus

LONG_ANN = ANNConfig(
    hidden_layers=[LayerConfig(8, "relu", 0.0)],
    optimizer="adam",
    learning_rate=0.01,
    batch_size=None,
    epochs=5_000,
    seed=0,
)  # minutes of work if nothing stopped it
EPOCH = re.compile(r"epoch (\d+) of (\d+)")
FOLD = re.compile(r"fold (\d+) of (\d+)")


@pytest.fixture(scope="module")
def frame():
    return load_dataset("cleveland")


class CancelWhen:
    """A progress callback that sets the stop event at the first message matching `trigger`, then counts
    the reports that still arrive (each later report is work done after the cancel)."""

    def __init__(self, trigger):
        self.trigger, self.event = trigger, threading.Event()
        self.messages: list[str] = []
        self.after_cancel = 0

    def __call__(self, fraction: float, message: str) -> None:
        self.messages.append(message)
        if self.event.is_set():
            self.after_cancel += 1
        elif self.trigger(message):
            self.event.set()


def test_a_cancel_during_ann_training_stops_at_the_next_epoch_and_frees_the_slot(frame):
    before = compute_slots.slots_in_use()
    progress = CancelWhen(lambda m: bool(EPOCH.search(m)) and int(EPOCH.search(m).group(1)) == 3)
    with pytest.raises(Cancelled):
        run_comparison(frame, [ANN_NAME], LONG_ANN, Protocol(5, 2, 0), progress, stop_event=progress.event)
    epochs = [int(EPOCH.search(m).group(1)) for m in progress.messages if EPOCH.search(m)]
    assert max(epochs) == 3 and progress.after_cancel == 0  # epoch 4 raised before it was reported
    assert compute_slots.slots_in_use() == before


def test_a_cancel_during_a_classical_model_stops_at_the_next_fold(frame):
    before = compute_slots.slots_in_use()
    progress = CancelWhen(lambda m: m.startswith("SVM: fold 2 of"))
    with pytest.raises(Cancelled):  # models run cheapest first: logistic regression, SVM, random forest
        run_comparison(
            frame,
            ["Random forest", "Logistic regression", "SVM"],
            LONG_ANN,
            Protocol(5, 2, 0),
            progress,
            stop_event=progress.event,
        )
    svm = [int(FOLD.search(m).group(1)) for m in progress.messages if m.startswith("SVM")]
    assert svm == [1, 2]  # fold 3 was fitted, then its report raised
    assert not any(m.startswith("Random forest") for m in progress.messages)
    assert compute_slots.slots_in_use() == before


def test_a_cancel_in_the_learning_curves_stops_inside_the_ann_training(frame):
    """The learning curves train the ANN on 30 subsets at once: each of their epochs is a cancellation point."""
    before = compute_slots.slots_in_use()
    config = LONG_ANN.replace(epochs=40)
    event = threading.Event()
    messages = []

    def progress(fraction, message):
        messages.append(message)
        if message.startswith("Learning curve: ANN"):
            event.set()  # the ANN's learning-curve training is next

    with pytest.raises(Cancelled):
        run_comparison(
            frame,
            ["Naive Bayes", ANN_NAME],
            config,
            Protocol(3, 1, 0),
            progress,
            stop_event=event,
            with_importance=False,
        )
    assert messages[-1].startswith("Learning curve: ANN")
    assert compute_slots.slots_in_use() == before


def test_a_comparison_with_a_stop_event_never_set_is_unchanged(frame):
    config = LONG_ANN.replace(epochs=20)
    plain = run_comparison(
        frame,
        ["Logistic regression", ANN_NAME],
        config,
        Protocol(3, 1, 0),
        with_learning_curve=False,
        with_importance=False,
    )
    watched = run_comparison(
        frame,
        ["Logistic regression", ANN_NAME],
        config,
        Protocol(3, 1, 0),
        with_learning_curve=False,
        with_importance=False,
        stop_event=threading.Event(),
    )
    assert (plain.result.oof[ANN_NAME] == watched.result.oof[ANN_NAME]).all()


def test_external_validation_stops_before_the_next_model():
    before = compute_slots.slots_in_use()
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        external_validation(_two_sites(), ["Logistic regression", ANN_NAME], LONG_ANN, stop_event=event)
    assert compute_slots.slots_in_use() == before


def _two_sites():
    frame = load_dataset("cleveland")
    first, second = frame.iloc[:200].copy(), frame.iloc[200:].copy()
    first["site"], second["site"] = "cleveland", "hungarian"
    return pd.concat([first, second], ignore_index=True)


def test_a_comparison_job_stopped_by_the_user_ends_within_an_epoch_and_frees_its_slot(frame):
    """The dashboard's path: a Job holding the slot, run_comparison inside it with hold_slot=False."""
    before = compute_slots.slots_in_use()
    seen: list[str] = []
    holder: dict[str, Job] = {}

    def work(progress, stop_event):
        def report(fraction, message):
            seen.append(message)
            if EPOCH.search(message) and int(EPOCH.search(message).group(1)) == 2:
                holder["job"].cancel()  # the Stop button, pressed while epoch 2 was reported
            progress(fraction, message)

        return run_comparison(
            frame, [ANN_NAME], LONG_ANN, Protocol(5, 2, 0), report, stop_event=stop_event, hold_slot=False
        )

    job = holder["job"] = Job(work, "The comparison", "busy")
    job.start()
    assert compute_slots.slots_in_use() == before + 1  # the job's own slot, not a second one inside
    assert job.join(120)
    assert job.status is JobStatus.CANCELLED
    epochs = [int(EPOCH.search(m).group(1)) for m in seen if EPOCH.search(m)]
    assert max(epochs) <= 3
    assert compute_slots.slots_in_use() == before
