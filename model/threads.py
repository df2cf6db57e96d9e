"""How many threads small numerical work may use: one place for the BLAS and torch limits.

Heart-disease data are a few hundred rows. Splitting a 300×20 matrix product (numpy/scipy
BLAS, or a torch kernel) across cores costs more in hand-offs than it saves, and on a shared
host waiting for a busy core can make each fit several times slower (3× measured for the
comparison's classical models under load). Both limits are process-wide and restored on exit.

    with one_thread():                   # BLAS and torch: fold-by-fold fits of small models
    with one_thread(torch_ops=False):    # BLAS only: torch work sizes itself with threads_for
    with threads_for(device, work):      # torch only, and only for small CPU work
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager, nullcontext

import torch
from threadpoolctl import threadpool_limits

# rows × widest layer below which torch training runs on one CPU thread (see threads_for)
SMALL_WORK = 2_000_000


@contextmanager
def _torch_single_thread():
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def one_thread(*, blas: bool = True, torch_ops: bool = True):
    """Limit BLAS thread pools (threadpoolctl) and/or torch's intra-op threads to one, then restore them."""
    with ExitStack() as stack:
        if blas:
            stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        if torch_ops:
            stack.enter_context(_torch_single_thread())
        yield


def threads_for(device: torch.device, work: int):
    """One torch thread for small CPU problems (work = rows × widest layer); unchanged otherwise."""
    small = device.type == "cpu" and work < SMALL_WORK
    return one_thread(blas=False) if small else nullcontext()
