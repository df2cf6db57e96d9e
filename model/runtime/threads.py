"""How many threads numerical work may use: one process-wide policy, one thread for small problems.

Heart-disease data are a few hundred rows. Splitting a 300×20 matrix product (numpy/scipy
BLAS, or a torch kernel) across cores costs more in hand-offs than it saves, and on a shared
host waiting for a busy core can make each fit several times slower (3× measured for the
comparison's classical models under load). So small work runs on one thread; everything else
runs on the process's policy count, fixed once at start-up.

What the limits really are (measured with torch 2.13 CPU, OpenMP backend, OpenBLAS/pthreads):
- torch's intra-op count is per thread. `torch.set_num_threads(1)` in thread A changes A only —
  not a thread B that already ran torch, not the main thread — but it also becomes the seed
  for every thread that first touches torch later (Streamlit script runs, new trainings), which
  keep it for life. CPU backward runs in the calling thread, so the caller's count holds there.
- The BLAS limit (threadpoolctl, OpenBLAS) is process-wide: set in any thread, seen by all.
So the torch limit here is per thread (set on entering, the policy count set again on leaving,
which also resets the seed), and the BLAS limit is reference-counted across threads (the first
context in lowers it, the last one out restores it). Reference-counting torch's limit — as this
module once did — left every later thread on one thread after two overlapping trainings.

    configure_threads()                  # start-up and each Streamlit run: the policy, in this thread
    with one_thread():                   # BLAS and torch (this thread): fold-by-fold fits of small models
    with one_thread(torch_ops=False):    # BLAS only: torch work sizes itself with threads_for
    with threads_for(device, work):      # torch in this thread: one thread for small CPU work, else the policy

To change the count, call configure_threads(n) rather than torch.set_num_threads: the contexts
return each thread to the policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

# rows × widest layer below which torch training runs on one CPU thread (see threads_for)
SMALL_WORK = 2_000_000
# The dashboard server's policy (app.py): one intra-op thread per thread, since its sessions already
# run in parallel threads; the CLI and notebooks keep torch's default.
SERVER_TORCH_THREADS = 1

_POLICY_LOCK = threading.Lock()
_policy: int | None = None  # torch intra-op threads outside one-thread contexts, for every thread
_this_thread = threading.local()  # .depth: one-thread torch contexts open in this thread

# BLAS: process-wide while the contexts overlap in time (trainings in threads): the first context
# in lowers the limit and keeps the original, the last one out restores it. Restoring on each exit
# instead would let an early exit undo a later one's limit, or a late exit "restore" the lowered value.
_BLAS_LOCK = threading.Lock()
_blas_holders = 0
_blas_original = None


def configure_threads(torch_threads: int | None = None) -> int:
    """Fix the process's torch thread policy and apply it to the calling thread; return it.

    The first call fixes the policy: `torch_threads`, or else the count this process started
    with (torch's default, or OMP_NUM_THREADS). Later calls without an argument only apply it to
    the calling thread (cheap; idempotent), so call this at start-up and at the start of each
    thread that may have been born while another thread held a one-thread limit."""
    global _policy
    if torch_threads is not None and torch_threads < 1:
        raise ValueError(f"torch_threads must be at least 1, got {torch_threads}")
    with _POLICY_LOCK:
        if _policy is None or (torch_threads is not None and torch_threads != _policy):
            previous, _policy = _policy, torch_threads or torch.get_num_threads()
            logger.info("torch thread policy: %d intra-op threads per thread (was %s)", _policy, previous)
        policy = _policy
    if getattr(_this_thread, "depth", 0) == 0 and torch.get_num_threads() != policy:
        torch.set_num_threads(policy)
    return policy


def thread_policy() -> int:
    """The torch intra-op thread count every thread runs with outside one-thread contexts."""
    return _policy if _policy is not None else configure_threads()


@contextmanager
def _torch_one_thread() -> Iterator[None]:
    """This thread's torch work on one thread; back to the policy when its outermost context ends."""
    depth = getattr(_this_thread, "depth", 0)
    if depth == 0:
        torch.set_num_threads(1)
    _this_thread.depth = depth + 1
    try:
        yield
    finally:
        _this_thread.depth = depth
        if depth == 0:
            torch.set_num_threads(thread_policy())


@contextmanager
def _torch_policy_threads() -> Iterator[None]:
    """This thread's torch work on the policy count (unless an enclosing context asked for one thread):
    a thread seeded with one thread while another held the limit gets the policy back here."""
    if getattr(_this_thread, "depth", 0) == 0:
        configure_threads()
    yield


@contextmanager
def _blas_one_thread() -> Iterator[None]:
    global _blas_holders, _blas_original
    with _BLAS_LOCK:
        if _blas_holders == 0:
            _blas_original = threadpool_limits(limits=1, user_api="blas")  # applied now
        _blas_holders += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_holders -= 1
            if _blas_holders == 0 and _blas_original is not None:  # set by the first holder, under this lock
                _blas_original.restore_original_limits()
                _blas_original = None


@contextmanager
def one_thread(*, blas: bool = True, torch_ops: bool = True) -> Iterator[None]:
    """One thread for BLAS (process-wide, restored when the last overlapping context in any thread
    ends) and/or for torch in the calling thread (back to the policy when this thread's outermost
    context ends). Safe to enter from any thread, nested or overlapping in any order."""
    with ExitStack() as stack:
        if blas:
            stack.enter_context(_blas_one_thread())
        if torch_ops:
            stack.enter_context(_torch_one_thread())
        yield


def threads_for(device: torch.device, work: int):
    """Torch threads for work in the calling thread (work = rows × widest layer): one for small CPU
    problems, the process policy otherwise. BLAS limits are left alone."""
    small = device.type == "cpu" and work < SMALL_WORK
    return one_thread(blas=False) if small else _torch_policy_threads()


configure_threads()  # the policy is the count this process started with, fixed on first import
