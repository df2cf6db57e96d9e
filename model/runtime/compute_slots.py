"""Server-wide slots for CPU-heavy work: training runs and model comparisons share them.

At most limits.MAX_CONCURRENT_TRAININGS such jobs run at once in this process (all users of a
Streamlit server together). A slot is taken without waiting: when none is free the caller gets
ServerBusyError with a plain message to show ("try again when one ends"), never a queue that
could grow without bound.

    take_slot(message); ...; release_slot()      # a job that ends in another thread (model.runs, model.jobs)
    with compute_slot(message): ...              # a job that ends where it started (model.comparison)
    slots_in_use(), free_slots()                 # for status displays and tests
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from model.runtime.limits import MAX_CONCURRENT_TRAININGS

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)
_count_lock = threading.Lock()
_in_use = 0  # slots taken through take_slot and not yet released (kept beside the semaphore: it has no public count)


class ServerBusyError(RuntimeError):
    """Every compute slot of this server is taken; the message says so and what to do."""


def take_slot(busy_message: str) -> None:
    """Take a slot now, or raise ServerBusyError(busy_message). Pair with release_slot()."""
    global _in_use
    if not _SLOTS.acquire(blocking=False):
        raise ServerBusyError(busy_message)
    with _count_lock:
        _in_use += 1


def release_slot() -> None:
    """Give back a slot taken with take_slot (ValueError when none is taken: a pairing bug)."""
    global _in_use
    with _count_lock:
        if _in_use <= 0:
            raise ValueError("release_slot() called with no compute slot taken")
        _SLOTS.release()
        _in_use -= 1


def slots_in_use() -> int:
    """How many trainings and comparisons hold a slot now (all users of this server)."""
    with _count_lock:
        return _in_use


def free_slots() -> int:
    """How many jobs could start now."""
    return MAX_CONCURRENT_TRAININGS - slots_in_use()


@contextmanager
def compute_slot(busy_message: str):
    """Hold a slot for the block (released on exit, also after an exception)."""
    take_slot(busy_message)
    try:
        yield
    finally:
        release_slot()
