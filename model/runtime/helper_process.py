"""A second core for the comparison's per-fold work: one helper process beside this one.

Fitting a random forest or gradient boosting is mostly Python (scikit-learn's bookkeeping around each
tree), so threads in this process would take turns on the GIL; a separate process really runs at the
same time. `share_work` splits a list of independent tasks between this thread and the helper: this
thread takes tasks from the front, the helper from the back, and the results come back in task order,
so they are those of running every task here (each task must be deterministic on its own).

The helper is loky's reusable process pool (joblib.externals.loky.get_reusable_executor, the engine behind
joblib and scikit-learn's n_jobs): started with a fresh interpreter (never a fork of a server that holds
threads and torch) and without re-running the caller's main script, reused by later comparisons, and shut
down after IDLE_SECONDS without work, so an idle server does not keep it. It imports only what its tasks
need (numpy, pandas, scikit-learn; no torch). `warm_up()` starts it; until it has started (a second or
two) every task runs here, so the first results never wait for it. A helper that dies (e.g. killed for
memory) costs nothing but time: its task runs here.

HEART_ANN_HELPER_PROCESSES=0 turns it off (everything runs in this process, as before); so does a
machine with one core (=1 turns it on there; any other value is said in the log and the default used).
Plain Python, no Streamlit; the tasks' functions must be picklable top-level functions of modules that do
not import torch (model.evaluation.fold_tasks).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from concurrent.futures.process import BrokenProcessPool  # loky's own is a subclass
from typing import Any

from model.runtime.limits import number_from_environment

logger = logging.getLogger(__name__)

HELPER_PROCESSES_ENV = "HEART_ANN_HELPER_PROCESSES"
TASKS_AHEAD = 2  # tasks queued for the helper at once: one running, one waiting, so it never idles
IDLE_SECONDS = 300  # the helper exits after this long without work (loky restarts it on demand)
MAX_HELPER_PROCESSES = 1  # share_work keeps TASKS_AHEAD tasks in flight: enough for one helper, not more
CHECK_EVERY_SECONDS = 0.2  # while waiting for the helper, `check` (e.g. Stop) is asked this often

_lock = threading.Lock()
_ready: Future | None = None  # the latest warm-up task: done once the helper is running


def helper_count() -> int:
    """How many helper processes to use: 1 on a machine with two or more cores, unless the environment says
    (0 or 1; anything else is said in the log, once per value, and the default used)."""
    return _helper_count_for(os.environ.get(HELPER_PROCESSES_ENV, "").strip())


@functools.lru_cache(maxsize=8)  # asked before every task: a bad setting is logged once, not per task
def _helper_count_for(text: str) -> int:
    default = 1 if (os.cpu_count() or 1) >= 2 else 0
    return int(number_from_environment(HELPER_PROCESSES_ENV, default, 0, MAX_HELPER_PROCESSES, whole=True))


def _limit_threads() -> None:
    """The helper's start: one BLAS thread (its tasks are small; this process's thread uses the other core)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _started(modules: Sequence[str]) -> bool:
    """The helper's first task: import what the coming tasks need, so the first of them does not pay for it."""
    for name in modules:
        importlib.import_module(name)
    return True


def _executor():
    from joblib.externals.loky import get_reusable_executor  # here: importing this module stays cheap

    return get_reusable_executor(max_workers=helper_count(), timeout=IDLE_SECONDS, initializer=_limit_threads)


def warm_up(modules: Sequence[str] = ()) -> None:
    """Start the helper now, in the background, if it is used (a no-op while it runs), and have it import
    `modules` (the ones the tasks to come will need); it counts as ready once it has."""
    global _ready
    if helper_count() == 0:
        return
    with _lock:
        if _ready is None or _ready.done():  # after an idle exit, loky starts a new helper for this task
            try:
                _ready = _executor().submit(_started, tuple(modules))
            except (BrokenProcessPool, RuntimeError, OSError):  # e.g. no process can be started here
                logger.warning("the helper process could not start; all work runs in this process", exc_info=True)
                _ready = None


def ready_pool():
    """The helper's executor once it has started (None before, or when it is not used)."""
    if helper_count() == 0:
        return None
    with _lock:
        if _ready is None or not _ready.done() or _ready.exception() is not None:
            return None
    return _executor()


def _forget_helper() -> None:
    """A helper died: the next warm_up starts a new one (loky replaces a broken executor)."""
    global _ready
    with _lock:
        _ready = None


def share_work(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    on_result: Callable[[int, Any], None] | None = None,
    check: Callable[[], None] | None = None,
) -> list[Any]:
    """[fn(*task) for task in tasks], computed here and in the helper at once; results in task order.

    on_result(index, result) is called in this thread as each result arrives (any order); `check()` before
    each task run here and while waiting (e.g. raise model.runtime.jobs.Cancelled). A task that failed in the
    helper (it died, or the task could not be sent there) is run again here, so an exception raised by fn
    propagates from this process, as if everything had run here.
    """
    results: list[Any] = [None] * len(tasks)
    inflight: deque[tuple[int, Future]] = deque()
    front, back = 0, len(tasks)

    def record(index: int, result: Any) -> None:
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    def collect(block: bool) -> None:
        """Results the helper has finished (waiting for the oldest when `block`, asking `check` meanwhile)."""
        while inflight and (block or inflight[0][1].done()):
            index, future = inflight[0]
            if not future.done():
                wait([future], timeout=CHECK_EVERY_SECONDS)
                if check is not None:
                    check()
                continue
            inflight.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                logger.warning("the helper process died; running its task here", exc_info=True)
                _forget_helper()
                result = fn(*tasks[index])
            except Exception:  # run it here: a real failure raises again, with this process's traceback
                result = fn(*tasks[index])
                logger.warning("a task failed in the helper process but not here", exc_info=True)
            record(index, result)
            block = False

    try:
        while front < back:
            pool = ready_pool()
            while pool is not None and len(inflight) < TASKS_AHEAD and back - 1 > front:
                try:
                    future = pool.submit(fn, *tasks[back - 1])
                except BrokenProcessPool:
                    logger.warning("the helper process died; running the rest here", exc_info=True)
                    _forget_helper()
                    break
                back -= 1
                inflight.append((back, future))
            collect(block=False)
            if check is not None:
                check()
            record(front, fn(*tasks[front]))
            front += 1
        while inflight:
            if check is not None:
                check()
            collect(block=True)
    finally:
        for _, future in inflight:  # cancelled or failed here: the helper's queued tasks are not wanted
            future.cancel()
    return results
