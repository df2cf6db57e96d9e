"""Long jobs with a life cycle: queued → running → done / failed / cancelled. Plain Python, no Streamlit.

A Job runs one piece of work in a background thread while holding one of the server's
compute slots (model.compute_slots). The work gets two things:

    work(progress, stop_event) -> result
      progress(fraction, message)  records how far it is; raises Cancelled once the job is
                                   cancelled, so a cancel takes effect at the next report
      stop_event                   a threading.Event for loops that check it themselves
                                   (e.g. ANNClassifier's training loop, between batches)

Whoever watches the job (a browser session) calls `heartbeat()` every few seconds. A watchdog
thread cancels the job when no heartbeat arrived for `heartbeat_timeout` seconds: a job whose
session has gone (browser closed) stops within seconds and frees its slot instead of running
to the end for nobody. A session that is busy is not gone: while the thread that sent the last
heartbeat is still running (a Streamlit session's script thread lives while a page run, or a
queue of them, is going on; it ends when the session is idle), the silence is only counted from
when that thread was last seen running, up to `busy_limit` seconds. A slow page on a loaded
server therefore does not cancel its own session's job. `cancel()` is the user's Stop. Readers in
other threads poll the plain attributes (status, fraction, message, result, error, cancel_reason) at
whatever rate they like.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from model.runtime.compute_slots import release_slot, take_slot
from model.runtime.limits import number_from_environment
from model.runtime.memory import release_free_memory

logger = logging.getLogger(__name__)

# No sign of the watching session for this long: it has gone. A loaded server delays signs, so not too short;
# an operator may set it (HEART_ANN_HEARTBEAT_TIMEOUT_S) within the range: below it a live job would be cancelled.
HEARTBEAT_TIMEOUT_ENV = "HEART_ANN_HEARTBEAT_TIMEOUT_S"
DEFAULT_HEARTBEAT_TIMEOUT_S = 45.0
HEARTBEAT_TIMEOUT_RANGE_S = (5.0, 3_600.0)
HEARTBEAT_TIMEOUT_S = number_from_environment(
    HEARTBEAT_TIMEOUT_ENV, DEFAULT_HEARTBEAT_TIMEOUT_S, *HEARTBEAT_TIMEOUT_RANGE_S
)
BUSY_LIMIT_S = 600.0  # a session still running one script this long after its last heartbeat: gone too
WATCHDOG_POLL_S = 1.0  # how often the watchdog looks at the heartbeat

ProgressCallback = Callable[[float, str], None]
Work = Callable[[ProgressCallback, threading.Event], Any]


class Cancelled(BaseException):
    """Raised inside the work when its job was cancelled.

    A BaseException, like asyncio.CancelledError, so that the `except Exception` blocks that
    turn a model's failure into a named error (model.evaluation) let a cancel pass through.
    """


def raise_if_cancelled(stop_event: threading.Event | None) -> None:
    if stop_event is not None and stop_event.is_set():
        raise Cancelled()


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def words(self) -> str:
        """The status in plain words, for people."""
        return {
            JobStatus.QUEUED: "waiting to start",
            JobStatus.RUNNING: "running",
            JobStatus.DONE: "finished",
            JobStatus.FAILED: "failed",
            JobStatus.CANCELLED: "cancelled",
        }[self]


class Job:
    """One piece of work in a background thread, holding a compute slot, cancellable, watched by heartbeats."""

    def __init__(
        self,
        work: Work,
        name: str,
        busy_message: str,
        heartbeat_timeout: float | None = HEARTBEAT_TIMEOUT_S,
        estimate_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        watchdog_poll: float = WATCHDOG_POLL_S,
        busy_limit: float = BUSY_LIMIT_S,
    ):
        self.work, self.name, self.busy_message = work, name, busy_message
        self.heartbeat_timeout = heartbeat_timeout
        self.estimate_seconds = estimate_seconds
        self.clock, self.watchdog_poll, self.busy_limit = clock, watchdog_poll, busy_limit
        self.status = JobStatus.QUEUED
        self.fraction, self.message = 0.0, "waiting to start"
        self.result: Any = None
        self.error: str | None = None
        self.exception: Exception | None = None  # what failed, for callers that explain kinds of failure
        self.cancel_reason: str | None = None
        self.stop_event = threading.Event()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._last_beat = clock()
        self._beat_thread: threading.Thread | None = None  # the thread that sent the last heartbeat
        self._last_seen_busy = self._last_beat
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None

    # ---- control --------------------------------------------------------------------------
    def start(self) -> Job:
        """Take a compute slot (ServerBusyError when none is free) and start the work and its watchdog."""
        if self._thread is not None:
            raise RuntimeError("this job has already been started")
        take_slot(self.busy_message)
        self.heartbeat()  # starting it is a sign of life
        self.started_at = self._last_beat
        self._thread = threading.Thread(target=self._run, name=f"job {self.name}", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            release_slot()
            raise
        if self.heartbeat_timeout is not None:
            self._watchdog = threading.Thread(target=self._watch, name=f"watchdog {self.name}", daemon=True)
            self._watchdog.start()
        return self

    def heartbeat(self) -> None:
        """The watching session is still there (call it from the session's own thread)."""
        self._beat_thread = threading.current_thread()
        self._last_beat = self._last_seen_busy = self.clock()

    def cancel(self, reason: str = "stopped by you") -> None:
        """Ask the work to stop at its next check; the first reason given is kept."""
        if self.is_active and self.cancel_reason is None:
            self.cancel_reason = reason
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the work to end; True when it has."""
        return self._ended.wait(timeout) if self._thread is not None else True

    # ---- reading (any thread) -------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at if self.finished_at is not None else self.clock()) - self.started_at

    @property
    def seconds_since_heartbeat(self) -> float:
        return self.clock() - self._last_beat

    def seconds_silent(self) -> float:
        """Seconds since the last heartbeat, or since its thread was last seen still running (a busy session)."""
        now = self.clock()
        thread = self._beat_thread
        if thread is not None and thread.is_alive() and now - self._last_beat <= self.busy_limit:
            self._last_seen_busy = now
        return now - max(self._last_beat, self._last_seen_busy)

    def remaining_seconds(self) -> float | None:
        """What is left of the estimate (None without one); never below 0."""
        if self.estimate_seconds is None:
            return None
        return max(self.estimate_seconds - self.elapsed, 0.0)

    def describe(self) -> str:
        """One line for people: the status, and why it ended when it did not finish."""
        if self.status is JobStatus.CANCELLED:
            return f"{self.name} was cancelled ({self.cancel_reason or 'stopped'}) after {self.elapsed:.0f} s."
        if self.status is JobStatus.FAILED:
            return f"{self.name} failed: {self.error}"
        if self.status is JobStatus.DONE:
            return f"{self.name} finished in {self.elapsed:.0f} s."
        return f"{self.name} is {self.status.words}: {self.message}"

    # ---- the watchdog ---------------------------------------------------------------------
    def check_heartbeat(self) -> bool:
        """Cancel the job when its session has been silent too long; True when it did so now."""
        if self.heartbeat_timeout is None or not self.is_active or self.stop_event.is_set():
            return False
        silent = self.seconds_silent()
        if silent <= self.heartbeat_timeout:
            return False
        logger.warning(
            "%s: no heartbeat from its browser session for %.0f s (limit %.0f s); cancelling it",
            self.name,
            silent,
            self.heartbeat_timeout,
        )
        self.cancel(f"its browser session sent no sign of life for {silent:.0f} s: closed or asleep")
        return True

    def _watch(self) -> None:
        while not self._ended.wait(self.watchdog_poll):
            self.check_heartbeat()

    # ---- the work -------------------------------------------------------------------------
    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message
        raise_if_cancelled(self.stop_event)

    def _run(self) -> None:
        try:
            raise_if_cancelled(self.stop_event)
            self.status, self.message = JobStatus.RUNNING, "starting"
            result = self.work(self._progress, self.stop_event)
            raise_if_cancelled(self.stop_event)  # work that noticed the stop itself and returned early
            self.result, self.fraction = result, 1.0
            self.status = JobStatus.DONE
        except Cancelled:
            logger.info("%s cancelled (%s) after %.1f s", self.name, self.cancel_reason, self.elapsed)
            self.status = JobStatus.CANCELLED
        except Exception as error:  # reported to the user as the job's status, logged in full
            logger.exception("%s failed", self.name)
            self.error = str(error) or type(error).__name__
            self.exception = error
            self.status = JobStatus.FAILED
        finally:
            self.finished_at = self.clock()
            release_slot()
            release_free_memory()  # the work's temporary arrays are gone: give their pages back (model.runtime.memory)
            self._ended.set()
