"""Background jobs (model.jobs) and the server's compute slots: life cycle, cancellation, the heartbeat watchdog.

Count-based: no test asserts how long anything took; joins have generous timeouts only so a
broken job fails the test instead of hanging it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from model.runtime import compute_slots, jobs, limits
from model.runtime.compute_slots import ServerBusyError
from model.runtime.jobs import Cancelled, Job, JobStatus, raise_if_cancelled

JOIN = 120.0  # seconds: a safety net, never a measurement
REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def in_thread(function) -> None:
    """Call `function` from a thread that then ends, as a Streamlit session's script thread does after a run."""
    thread = threading.Thread(target=function)
    thread.start()
    thread.join()


def counting_work(steps: int, on_step=None):
    """Work of `steps` reports; records how many ran."""
    done = []

    def work(progress, stop_event):
        for i in range(steps):
            done.append(i)
            if on_step is not None:
                on_step(i)
            progress((i + 1) / steps, f"step {i + 1} of {steps}")
        return len(done)

    return work, done


def test_slots_in_use_is_public_and_counts_takes_and_releases():
    before = compute_slots.slots_in_use()
    compute_slots.take_slot("busy")
    try:
        assert compute_slots.slots_in_use() == before + 1
        assert compute_slots.free_slots() == compute_slots.MAX_CONCURRENT_TRAININGS - before - 1
    finally:
        compute_slots.release_slot()
    assert compute_slots.slots_in_use() == before
    with compute_slots.compute_slot("busy"):
        assert compute_slots.slots_in_use() == before + 1
    assert compute_slots.slots_in_use() == before


def test_releasing_a_slot_nobody_took_is_an_error_not_a_silent_extra_slot(monkeypatch):
    monkeypatch.setattr(compute_slots, "_SLOTS", threading.BoundedSemaphore(compute_slots.MAX_CONCURRENT_TRAININGS))
    monkeypatch.setattr(compute_slots, "_in_use", 0)  # a server where nothing runs
    with pytest.raises(ValueError, match="no compute slot taken"):
        compute_slots.release_slot()
    assert compute_slots.free_slots() == compute_slots.MAX_CONCURRENT_TRAININGS


def test_a_job_runs_to_done_with_its_result_and_frees_its_slot():
    before = compute_slots.slots_in_use()
    work, done = counting_work(5)
    job = Job(work, "Test job", "busy")
    assert job.status is JobStatus.QUEUED and job.status.words == "waiting to start"
    job.start()
    assert job.join(JOIN)
    assert job.status is JobStatus.DONE and job.status.words == "finished"
    assert job.result == 5 and job.fraction == 1.0 and job.message == "step 5 of 5"
    assert "finished" in job.describe()
    assert compute_slots.slots_in_use() == before


def test_a_failing_job_says_why_and_frees_its_slot():
    before = compute_slots.slots_in_use()

    def work(progress, stop_event):
        raise ValueError("the data have no target column")

    job = Job(work, "Test job", "busy").start()
    assert job.join(JOIN)
    assert job.status is JobStatus.FAILED
    assert job.error == "the data have no target column" and isinstance(job.exception, ValueError)
    assert "failed: the data have no target column" in job.describe()
    assert compute_slots.slots_in_use() == before


def test_stop_takes_effect_at_the_next_report_and_frees_the_slot():
    before = compute_slots.slots_in_use()
    holder = {}
    work, done = counting_work(1_000, on_step=lambda i: holder["job"].cancel() if i == 3 else None)
    job = holder["job"] = Job(work, "Test job", "busy")
    job.start()
    assert job.join(JOIN)
    assert job.status is JobStatus.CANCELLED and job.cancel_reason == "stopped by you"
    assert len(done) == 4  # the report right after the cancel raised: not one step more
    assert job.result is None
    assert "cancelled (stopped by you)" in job.describe()
    assert compute_slots.slots_in_use() == before


def test_work_that_returns_early_on_its_own_after_a_cancel_counts_as_cancelled():
    def work(progress, stop_event):
        stop_event.set()  # e.g. a training loop that checks the event and returns its partial model
        return "partial"

    job = Job(work, "Test job", "busy").start()
    assert job.join(JOIN)
    assert job.status is JobStatus.CANCELLED and job.result is None


def test_a_job_cancelled_before_it_runs_never_starts_its_work():
    work, done = counting_work(3)
    job = Job(work, "Test job", "busy")
    job.cancel("changed my mind")
    job.start()
    assert job.join(JOIN)
    assert job.status is JobStatus.CANCELLED and job.cancel_reason == "changed my mind" and done == []


def test_a_busy_server_refuses_at_start_and_leaks_nothing():
    taken = 0
    try:
        while compute_slots.free_slots():
            compute_slots.take_slot("taken by the test")
            taken += 1
        work, done = counting_work(3)
        job = Job(work, "Test job", "Every slot is taken; try again soon.")
        with pytest.raises(ServerBusyError, match="try again soon"):
            job.start()
        assert job.status is JobStatus.QUEUED and done == []
        assert compute_slots.slots_in_use() == taken
    finally:
        for _ in range(taken):
            compute_slots.release_slot()


def test_cancelled_passes_through_except_exception_blocks():
    """Model code wraps failures with `except Exception`; a cancel must not become a 'model failed'."""
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        try:
            raise_if_cancelled(event)
        except Exception:  # what model.evaluation does around each model
            pytest.fail("Cancelled was caught as an ordinary error")
    raise_if_cancelled(None)
    raise_if_cancelled(threading.Event())


# ---- the heartbeat watchdog, on an injected clock ---------------------------------------------
def blocking_work(release: threading.Event):
    """Reports in a loop until cancelled (or released), as a long comparison would."""

    def work(progress, stop_event):
        count = 0
        while not release.is_set():
            count += 1
            progress(0.5, f"report {count}")
            stop_event.wait(0.01)
        return count

    return work


def test_the_watchdog_cancels_only_after_the_heartbeat_timeout():
    clock, release = FakeClock(), threading.Event()
    before = compute_slots.slots_in_use()
    job = Job(
        blocking_work(release), "Test job", "busy", heartbeat_timeout=20.0, clock=clock, watchdog_poll=3600.0
    )  # the check is driven by hand below
    in_thread(job.start)
    try:
        clock.advance(15.0)
        assert not job.check_heartbeat() and job.is_active
        in_thread(job.heartbeat)  # the page is still open: the silence starts again
        clock.advance(15.0)
        assert not job.check_heartbeat() and job.is_active
        clock.advance(5.1)  # 20.1 s without a heartbeat
        assert job.check_heartbeat()
        assert job.join(JOIN)
        assert job.status is JobStatus.CANCELLED
        assert "no sign of life for 20 s" in job.cancel_reason
        assert not job.check_heartbeat()  # once only
    finally:
        release.set()
    assert compute_slots.slots_in_use() == before


def test_the_watchdog_thread_cancels_a_job_whose_session_went_silent(caplog):
    clock, release = FakeClock(), threading.Event()
    before = compute_slots.slots_in_use()
    job = Job(blocking_work(release), "Test job", "busy", heartbeat_timeout=10.0, clock=clock, watchdog_poll=0.01)
    with caplog.at_level("WARNING", logger="model.runtime.jobs"):
        in_thread(job.start)
        try:
            for _ in range(20):  # heartbeats keep it alive, however long it runs
                clock.advance(5.0)
                in_thread(job.heartbeat)
            assert not job.join(0.2) and job.is_active
            clock.advance(10.5)  # the browser closed: no more heartbeats
            assert job.join(JOIN)
        finally:
            release.set()
    assert job.status is JobStatus.CANCELLED and "browser session" in job.cancel_reason
    assert any("no heartbeat" in record.getMessage() for record in caplog.records)
    assert compute_slots.slots_in_use() == before


def test_a_job_without_a_timeout_has_no_watchdog():
    clock, release = FakeClock(), threading.Event()
    job = Job(blocking_work(release), "Test job", "busy", heartbeat_timeout=None, clock=clock)
    job.start()
    clock.advance(1e6)
    assert not job.check_heartbeat() and job.is_active
    release.set()
    assert job.join(JOIN) and job.status is JobStatus.DONE


def test_a_session_busy_with_a_long_page_run_is_not_taken_for_gone():
    """Its script thread is still running (a slow page on a loaded server): the silence counts from when that
    thread was last seen running; once the thread has ended, the usual timeout applies."""
    clock, release, page_run_done = FakeClock(), threading.Event(), threading.Event()
    job = Job(
        blocking_work(release),
        "Test job",
        "busy",
        heartbeat_timeout=20.0,
        clock=clock,
        watchdog_poll=3600.0,
        busy_limit=300.0,
    )

    def long_page_run():
        job.start()  # the page starts the job, then keeps running for a long time
        page_run_done.wait()

    page_run = threading.Thread(target=long_page_run)
    page_run.start()
    try:
        while not job.is_active or job.status.value == "queued":
            release.wait(0.01)
        for _ in range(10):  # 100 s without a heartbeat, but the session's thread is busy all along
            clock.advance(10.0)
            assert not job.check_heartbeat()
        page_run_done.set()
        page_run.join()
        clock.advance(15.0)
        assert not job.check_heartbeat()  # 15 s since it was last seen busy
        clock.advance(6.0)
        assert job.check_heartbeat()
        assert job.join(JOIN) and job.status is JobStatus.CANCELLED
    finally:
        page_run_done.set()
        release.set()


def test_a_thread_busy_for_longer_than_the_busy_limit_counts_as_gone():
    clock, release, hold = FakeClock(), threading.Event(), threading.Event()
    job = Job(
        blocking_work(release),
        "Test job",
        "busy",
        heartbeat_timeout=20.0,
        clock=clock,
        watchdog_poll=3600.0,
        busy_limit=300.0,
    )
    stuck = threading.Thread(target=lambda: (job.start(), hold.wait()))
    stuck.start()
    try:
        for _ in range(30):
            clock.advance(10.0)
            assert not job.check_heartbeat()  # within the busy limit
        clock.advance(25.0)  # 325 s since the last heartbeat: the busy allowance is over
        assert job.check_heartbeat()
        assert job.join(JOIN) and job.status is JobStatus.CANCELLED
    finally:
        hold.set()
        release.set()
        stuck.join()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, 45.0),
        ("20", 20.0),
        (" 7.5 ", 7.5),
        ("1", 45.0),  # below the range: for the heartbeat, shorter than its interval would cancel live jobs
        ("nan", 45.0),
        ("a minute", 45.0),
        ("1e9", 45.0),
    ],
)
def test_an_operator_setting_is_read_within_its_bounds_or_refused_in_the_log(monkeypatch, caplog, text, expected):
    name = jobs.HEARTBEAT_TIMEOUT_ENV
    if text is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, text)
    with caplog.at_level(logging.WARNING, logger=limits.__name__):
        assert limits.number_from_environment(name, 45.0, *jobs.HEARTBEAT_TIMEOUT_RANGE_S) == expected
    refused = text is not None and expected == 45.0
    assert (name in caplog.text) == refused


@pytest.mark.parametrize(("text", "expected"), [("3", 3.0), ("2.5", 4.0), ("0", 4.0)])
def test_a_whole_number_setting_refuses_a_fraction_in_the_log(monkeypatch, caplog, text, expected):
    monkeypatch.setenv(limits.CONCURRENT_TRAININGS_ENV, text)
    with caplog.at_level(logging.WARNING, logger=limits.__name__):
        assert limits.number_from_environment(limits.CONCURRENT_TRAININGS_ENV, 4, 1, 64, whole=True) == expected
    assert ("whole number" in caplog.text) == (expected == 4.0)


def test_the_training_cap_and_the_silence_allowed_are_read_when_a_server_starts():
    env = {**os.environ, limits.CONCURRENT_TRAININGS_ENV: "2", jobs.HEARTBEAT_TIMEOUT_ENV: "15"}
    code = "from model.runtime import jobs, limits; print(limits.MAX_CONCURRENT_TRAININGS, jobs.HEARTBEAT_TIMEOUT_S)"
    shown = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    assert shown.stdout.split() == ["2", "15.0"]
