"""Server-wide slots for CPU-heavy work: training runs and model comparisons share them.

At most limits.MAX_CONCURRENT_TRAININGS such jobs run at once in this process (all users of a
Streamlit server together). A slot is taken without waiting: when none is free the caller gets
ServerBusyError with a plain message to show ("try again when one ends"), never a queue that
could grow without bound.

    take_slot(message); ...; release_slot()      # a job that ends in another thread (model.runs)
    with compute_slot(message): ...              # a job that ends where it started (model.comparison)
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from model.limits import MAX_CONCURRENT_TRAININGS

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)


class ServerBusyError(RuntimeError):
    """Every compute slot of this server is taken; the message says so and what to do."""


def take_slot(busy_message: str) -> None:
    """Take a slot now, or raise ServerBusyError(busy_message). Pair with release_slot()."""
    if not _SLOTS.acquire(blocking=False):
        raise ServerBusyError(busy_message)


def release_slot() -> None:
    _SLOTS.release()


def free_slots() -> int:
    """How many jobs could start now (for tests and status displays)."""
    return _SLOTS._value


@contextmanager
def compute_slot(busy_message: str):
    """Hold a slot for the block (released on exit, also after an exception)."""
    take_slot(busy_message)
    try:
        yield
    finally:
        release_slot()
