"""Where independent pieces of work run: in this process (local) or on a Dask distributed cluster.

A backend runs a list of tasks — a picklable top-level function applied to picklable arguments —
and hands back each task's outcome as it finishes. It is the engine's own machinery, not a queue of
ours: the local backend is a plain loop in this process; the Dask backend submits one future per
task to the cluster's scheduler (`distributed.Client.submit`) and reads them with `as_completed`.
The scheduler places tasks on workers, moves the data, and re-runs a task whose worker died on
another worker (up to its `distributed.scheduler.allowed-failures`, then the task fails with
KilledWorker and only that task is lost).

    with backend_from_choice("dask", "tcp://host:8786") as backend:
        for index, outcome in backend.run(fn, [args0, args1, ...]):
            ...   # outcome is fn(*args) or the exception it raised (TaskFailed)

Results never depend on the backend: callers give every task its own seed and put results back in
task order (see model.evaluation.search for how the hyper-parameter search stays deterministic).

Choosing: `--backend dask --scheduler tcp://host:8786` on the CLI, `backend="dask", scheduler=...`
in a notebook, or the environment variable HEART_ANN_DASK_SCHEDULER for the dashboard
(backend_from_environment). Dask is imported only when the Dask backend is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

logger = logging.getLogger(__name__)

DASK_SCHEDULER_ENV = "HEART_ANN_DASK_SCHEDULER"
BACKEND_NAMES = ("local", "dask")
CONNECT_TIMEOUT_S = 10  # a scheduler that does not answer in this long is reported, not waited for
_STOP_POLL_S = 0.5  # how often a wait for cluster results looks at the stop event


class StopSignal(Protocol):
    """Anything with is_set(): a threading.Event (the dashboard's Stop) or a deadline."""

    def is_set(self) -> bool: ...


class BackendError(ValueError):
    """A backend cannot be used as asked (unknown name, no scheduler, scheduler unreachable)."""


class TaskFailed(Exception):
    """A task raised (or its worker was lost for good); `cause` is the original exception."""

    def __init__(self, index: int, cause: BaseException):
        super().__init__(f"task {index} failed: {type(cause).__name__}: {cause}")
        self.index = index
        self.cause = cause


class Backend:
    """Runs tasks; subclasses say where. A backend is a context manager that closes what it opened."""

    name = "local"

    def run(
        self, fn: Callable[..., Any], tasks: Sequence[tuple], stop_event: StopSignal | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(task index, fn(*task) or TaskFailed) for every task, in the order they finish.

        Once `stop_event` is set no further task starts; tasks already finished are still yielded."""
        raise NotImplementedError

    @property
    def workers(self) -> int:
        """How many tasks can run at once."""
        return 1

    def describe(self) -> str:
        return "this process"

    def share(self, value: Any) -> Any:
        """`value` as an argument for many tasks: sent to the workers once, not with every task."""
        return value

    def close(self) -> None:
        """Release what the backend opened (a cluster connection); idempotent."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class LocalBackend(Backend):
    """Every task in this process, one after another, in task order."""

    def run(self, fn, tasks, stop_event=None):
        for index, args in enumerate(tasks):
            if stop_event is not None and stop_event.is_set():
                return
            try:
                outcome = fn(*args)
            except Exception as exc:  # the caller decides what a failed task means; the cause travels with it
                logger.warning("task %d failed in this process", index, exc_info=True)
                outcome = TaskFailed(index, exc)
            yield index, outcome


class DaskBackend(Backend):
    """Tasks as futures on a Dask distributed cluster.

    Given a `client` (e.g. `distributed.Client(LocalCluster(...))`), the caller owns it; given an
    `address`, this backend connects and closes the connection on close()."""

    name = "dask"

    def __init__(self, client=None, address: str | None = None):
        if (client is None) == (address is None):
            raise BackendError("give a Dask client or a scheduler address, not both or neither")
        self._owned = client is None
        if client is None:
            client = _connect(str(address))
        self.client = client

    @property
    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def describe(self) -> str:
        workers = self.client.nthreads()
        return f"Dask cluster at {self.client.scheduler.address} ({len(workers)} workers, {self.workers} threads)"

    def share(self, value):
        # scatter: one copy per worker; a future given as a task argument is replaced by its value there
        return self.client.scatter([value], broadcast=True, hash=False)[0]  # a list: never split `value` itself

    def run(self, fn, tasks, stop_event=None):
        from distributed import wait

        # pure=False: identical arguments are still separate tasks (two trials may share a config)
        futures = [self.client.submit(fn, *args, pure=False) for args in tasks]
        index_of = {future.key: index for index, future in enumerate(futures)}
        remaining = set(futures)
        try:
            while remaining:
                if stop_event is not None and stop_event.is_set():
                    return
                try:  # wake every _STOP_POLL_S to look at the stop event
                    done, remaining = wait(remaining, timeout=_STOP_POLL_S, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    continue
                for future in sorted(done, key=lambda f: index_of[f.key]):
                    index = index_of[future.key]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # raised by the task, or KilledWorker: lose this task only
                        logger.warning("task %d failed on the cluster", index, exc_info=True)
                        outcome = TaskFailed(index, exc)
                    yield index, outcome
        finally:
            # Stopped or abandoned: tasks not yet finished are withdrawn from the cluster.
            self.client.cancel([future for future in futures if not future.done()])

    def close(self) -> None:
        if self._owned:
            self.client.close()
            self._owned = False


def _connect(address: str):
    from distributed import Client

    if not address.strip():
        raise BackendError("the Dask scheduler address is empty; give one such as tcp://host:8786")
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise BackendError(
            f"cannot reach the Dask scheduler at {address} ({exc}); start one with `dask scheduler` and "
            "`dask worker <address>`, or run locally"
        ) from exc


def backend_from_choice(name: str | Backend | None = "local", scheduler: str | None = None) -> Backend:
    """The backend a user chose: "local" (default), "dask" with a scheduler address (or, without one,
    the HEART_ANN_DASK_SCHEDULER variable), or a Backend object as it is."""
    if isinstance(name, Backend):
        return name
    name = name or "local"
    if name not in BACKEND_NAMES:
        raise BackendError(f"backend must be one of {', '.join(BACKEND_NAMES)}; got {name!r}")
    if name == "local":
        if scheduler:
            raise BackendError("a scheduler address needs backend 'dask'")
        return LocalBackend()
    address = scheduler or os.environ.get(DASK_SCHEDULER_ENV, "")
    if not address:
        raise BackendError(
            f"backend 'dask' needs a scheduler address (--scheduler tcp://host:8786 or {DASK_SCHEDULER_ENV})"
        )
    return DaskBackend(address=address)


def backend_from_environment() -> Backend:
    """For the dashboard: the Dask cluster named by HEART_ANN_DASK_SCHEDULER, else this process."""
    address = os.environ.get(DASK_SCHEDULER_ENV, "").strip()
    return DaskBackend(address=address) if address else LocalBackend()
