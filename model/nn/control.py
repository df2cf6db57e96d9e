"""Steering a running training from another thread: pause, resume, a few epochs at a time, stop, a new rate.

A dashboard thread calls pause(), resume(), step(epochs), stop() and set_learning_rate(lr); the
training loop (model.nn.training.train, model.nn.race.race_optimizers) reads the control at every
epoch boundary (`before_epoch`, which blocks while paused) and between batches (`stop_requested`).
Everything goes through one threading.Condition, so the two sides never see half an update.

A paused training still holds one of the server's compute slots (model/runtime/compute_slots.py),
so a pause that lasts longer than `max_pause_seconds` ends the run: the loop returns the History
gathered so far (cancelled) and `pause_timed_out` tells the page why.

One control steers one training: create a new one for every run.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from model.nn.config import ANNConfig

# A paused training holds a compute slot that other users may be waiting for.
MAX_PAUSE_SECONDS = 15 * 60


class TrainingControl:
    """Play / pause / step / stop and learning-rate changes for one training, safe across threads.

    Dashboard side: pause(), resume(), step(epochs), stop(), set_learning_rate(lr), wait_until_idle().
    Loop side: before_epoch(epoch), take_learning_rate(), stop_requested(), finish().
    """

    def __init__(self, paused: bool = False, max_pause_seconds: float = MAX_PAUSE_SECONDS):
        if isinstance(max_pause_seconds, bool) or not isinstance(max_pause_seconds, (int, float)):
            raise ValueError(f"max_pause_seconds must be a positive number of seconds; got {max_pause_seconds!r}")
        if not (math.isfinite(max_pause_seconds) and max_pause_seconds > 0):
            raise ValueError(f"max_pause_seconds must be a positive number of seconds; got {max_pause_seconds!r}")
        self.max_pause_seconds = float(max_pause_seconds)
        self._condition = threading.Condition()
        self._paused = bool(paused)
        self._step_credit = 0  # epochs the loop may still run while paused
        self._stopped = False
        self._pause_timed_out = False
        self._waiting = False
        self._finished = False
        self._pending_lr: float | None = None
        self._epochs_begun = 0

    # ---- dashboard side -----------------------------------------------------------
    def pause(self) -> None:
        """Pause at the next epoch boundary (the epoch under way finishes). Cancels any steps not yet run."""
        with self._condition:
            self._paused = True
            self._step_credit = 0
            self._condition.notify_all()

    def resume(self) -> None:
        """Run on to the end (or until paused or stopped again)."""
        with self._condition:
            self._paused = False
            self._step_credit = 0
            self._condition.notify_all()

    def step(self, epochs: int = 1) -> None:
        """Run `epochs` more epochs, then be paused again; while running, the epoch under way finishes
        first. Repeated calls add up (two clicks on "one epoch" run two)."""
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"the number of epochs to step must be a whole number of at least 1; got {epochs!r}")
        with self._condition:
            self._paused = True
            self._step_credit += int(epochs)
            self._condition.notify_all()

    def stop(self) -> None:
        """End the training at the next batch (also while paused); its History is marked cancelled."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def set_learning_rate(self, lr: float) -> None:
        """The learning rate from the next epoch on. ValueError when `lr` is not one an ANNConfig accepts."""
        value = lr.item() if isinstance(lr, np.generic) else lr
        # The configuration owns the allowed range; ask it rather than repeat it here.
        problems = [error for error in ANNConfig(learning_rate=value).errors() if error.field == "learning_rate"]
        if problems:
            raise ValueError(f"the learning rate {problems[0].message}")
        with self._condition:
            self._pending_lr = float(value)
            self._condition.notify_all()

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until the loop waits at an epoch boundary with nothing to run (paused, no steps left) or
        the training has finished; False if `timeout` seconds passed first."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._finished or (self._waiting and self._step_credit == 0), timeout=timeout
            )

    # ---- what a page shows --------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Paused, or running only the epochs a step() asked for."""
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def waiting(self) -> bool:
        """True while the loop is blocked at an epoch boundary, waiting for step(), resume() or stop()."""
        return self._waiting

    @property
    def finished(self) -> bool:
        """True once the training has returned (for whatever reason)."""
        return self._finished

    @property
    def pause_timed_out(self) -> bool:
        """True when the training ended because a pause outlasted max_pause_seconds."""
        return self._pause_timed_out

    @property
    def epochs_begun(self) -> int:
        """How many epochs the loop has been allowed to start."""
        return self._epochs_begun

    @property
    def pending_learning_rate(self) -> float | None:
        """A learning rate set but not yet taken by the loop."""
        return self._pending_lr

    # ---- loop side ----------------------------------------------------------------
    def before_epoch(self, epoch: int) -> bool:
        """Called by the loop before epoch `epoch` (1-based): blocks while paused with no step left.
        False when the training must end (stopped, or the pause outlasted max_pause_seconds)."""
        with self._condition:
            if not self._stopped and self._paused and self._step_credit == 0:
                self._waiting = True
                self._condition.notify_all()  # wake wait_until_idle
                deadline = time.monotonic() + self.max_pause_seconds
                try:
                    while self._paused and self._step_credit == 0 and not self._stopped:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            self._pause_timed_out = True
                            self._stopped = True
                            break
                        self._condition.wait(remaining)
                finally:
                    self._waiting = False
            if self._stopped:
                return False
            if self._paused:
                self._step_credit -= 1
            self._epochs_begun += 1
            self._condition.notify_all()
            return True

    def take_learning_rate(self) -> float | None:
        """The learning rate set since the last call, or None; the loop applies it to this epoch on."""
        with self._condition:
            lr, self._pending_lr = self._pending_lr, None
            return lr

    def stop_requested(self) -> bool:
        """Cheap enough for every batch: a plain read (a bool attribute is read atomically)."""
        return self._stopped

    def finish(self) -> None:
        """Called once by the loop when the training returns (also after an error)."""
        with self._condition:
            self._finished = True
            self._waiting = False
            self._condition.notify_all()
