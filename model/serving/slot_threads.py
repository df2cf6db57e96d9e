"""Work that runs in a background thread while it holds one of the server's compute slots.

The watchable runs (model.serving.runs.TrainingRun, model.serving.plane_runs.PlaneRun and RaceRun)
share this life cycle: `start()` refuses work over the limits before anything is taken, takes a
compute slot (model.runtime.compute_slots: ServerBusyError with a plain message when none is free),
runs `_work()` in a daemon thread and gives the slot back when it ends, however it ends.
"""

from __future__ import annotations

import threading
import time
from typing import Self

from model.nn.control import TrainingControl
from model.nn.training import EpochEvent
from model.runtime.compute_slots import release_slot, take_slot
from model.runtime.limits import MAX_CONCURRENT_TRAININGS
from model.runtime.memory import release_free_memory

BUSY_MESSAGE = (
    f"The server is already training {MAX_CONCURRENT_TRAININGS} networks (its limit). "
    "Wait for one to finish and press Play again."
)


class SlotThread:
    """Base class: subclasses set `name`, implement `_work` (and `_check_work`, to refuse before starting)."""

    name: str
    thread_label = "run"  # names the thread, and the run in "already been started"
    started_at: float | None = None
    finished_at: float | None = None
    _thread: threading.Thread | None = None

    def _check_work(self) -> None:
        """Raise ValueError (plain words) when the work is over the limits; nothing is taken yet."""

    def _work(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"this {self.thread_label} has already been started")
        self._check_work()
        take_slot(BUSY_MESSAGE)
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"{self.thread_label} {self.name}", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            release_slot()
            raise
        return self

    def _run(self) -> None:
        try:
            self._work()
        finally:
            self.finished_at = time.perf_counter()
            release_slot()
            release_free_memory()  # the training's temporary arrays are gone: give their pages back

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended (or never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.perf_counter()) - self.started_at


class WatchedTraining(SlotThread):
    """A SlotThread that trains: steered by a TrainingControl, its EpochEvents kept for readers in other
    threads (a page redrawing every second, a notebook). Subclasses call `_start_watching` in __init__
    and hand each EpochEvent to `record` from the training thread."""

    control: TrainingControl

    def _start_watching(self, paused: bool) -> None:
        self.control = TrainingControl(paused=paused)
        self._events_lock = threading.Lock()
        self._events: list[EpochEvent] = []

    def record(self, event: EpochEvent) -> None:
        with self._events_lock:
            self._events.append(event)

    def events(self) -> list[EpochEvent]:
        with self._events_lock:
            return list(self._events)

    @property
    def epochs_done(self) -> int:
        with self._events_lock:
            return len(self._events)

    @property
    def is_paused(self) -> bool:
        """Training, but waiting at an epoch boundary for play or one more epoch (the loop only waits
        while it runs)."""
        return self.control.waiting
