"""How many threads small numerical work may use: one place for the BLAS and torch limits.

Heart-disease data are a few hundred rows. Splitting a 300×20 matrix product (numpy/scipy
BLAS, or a torch kernel) across cores costs more in hand-offs than it saves, and on a shared
host waiting for a busy core can make each fit several times slower (3× measured for the
comparison's classical models under load). Both limits are process-wide: they are restored
when the last of the overlapping contexts (trainings in several threads) ends.

    with one_thread():                   # BLAS and torch: fold-by-fold fits of small models
    with one_thread(torch_ops=False):    # BLAS only: torch work sizes itself with threads_for
    with threads_for(device, work):      # torch only, and only for small CPU work
"""
from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager, nullcontext

import torch
from threadpoolctl import threadpool_limits

# rows × widest layer below which torch training runs on one CPU thread (see threads_for)
SMALL_WORK = 2_000_000

# The limits are process-wide while the contexts overlap in time (trainings in threads):
# the first context in lowers a limit and keeps the original, the last one out restores it.
# Restoring on each exit instead would let an early exit undo a later one's limit, or a
# late exit "restore" the lowered value for good.
_LOCK = threading.Lock()
_HOLDERS = {"blas": 0, "torch": 0}
_ORIGINALS: dict[str, object] = {}


def _lower(kind: str):
    """Set one thread for `kind`; return what restores it."""
    if kind == "blas":
        return threadpool_limits(limits=1, user_api="blas")  # applied now; restore_original_limits() undoes it
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


def _restore(kind: str, original) -> None:
    if kind == "blas":
        original.restore_original_limits()
    elif torch.get_num_threads() != original:
        torch.set_num_threads(original)


@contextmanager
def _single_thread(kind: str):
    with _LOCK:
        if _HOLDERS[kind] == 0:
            _ORIGINALS[kind] = _lower(kind)
        _HOLDERS[kind] += 1
    try:
        yield
    finally:
        with _LOCK:
            _HOLDERS[kind] -= 1
            if _HOLDERS[kind] == 0:
                _restore(kind, _ORIGINALS.pop(kind))


@contextmanager
def one_thread(*, blas: bool = True, torch_ops: bool = True):
    """Limit BLAS thread pools (threadpoolctl) and/or torch's intra-op threads to one, then restore
    them when the last overlapping context (in any thread) ends."""
    with ExitStack() as stack:
        if blas:
            stack.enter_context(_single_thread("blas"))
        if torch_ops:
            stack.enter_context(_single_thread("torch"))
        yield


def threads_for(device: torch.device, work: int):
    """One torch thread for small CPU problems (work = rows × widest layer); unchanged otherwise."""
    small = device.type == "cpu" and work < SMALL_WORK
    return one_thread(blas=False) if small else nullcontext()
