"""model/runtime/threads.py: one process-wide torch thread policy, one thread for small work, and limits that
hold with real concurrent threads (torch's intra-op count is per thread; BLAS's is process-wide)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from model.nn.estimator import ANNClassifier
from model.nn.training import Callback
from model.runtime.threads import SMALL_WORK, configure_threads, one_thread, threads_for

POLICY = 2  # more than one, so that a thread left on one thread shows, also on a one-core machine
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def policy():
    original = configure_threads()
    configure_threads(POLICY)
    yield POLICY
    configure_threads(original)


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def _in_new_thread(work: Callable[[], object]) -> object:
    """work() in a thread created now, as a Streamlit script run or a new training would be."""
    result = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join()
    return result[0]


def test_one_thread_limits_torch_and_returns_to_the_policy_also_after_an_error():
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == POLICY
    with pytest.raises(ValueError, match="inside"), one_thread(blas=False):
        raise ValueError("inside")
    assert torch.get_num_threads() == POLICY
    with one_thread(torch_ops=False):
        assert torch.get_num_threads() == POLICY  # BLAS only
    with one_thread():
        with threads_for(CPU, SMALL_WORK):  # an enclosing one-thread context wins
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == POLICY


def test_threads_for_limits_only_small_cpu_work():
    with threads_for(CPU, SMALL_WORK - 1):
        assert torch.get_num_threads() == 1
        with threads_for(CPU, SMALL_WORK - 1):  # nested (the estimator around the loop)
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    with threads_for(CPU, SMALL_WORK):
        assert torch.get_num_threads() == POLICY
    assert torch.get_num_threads() == POLICY


def test_overlapping_blas_limits_are_restored_when_the_last_one_ends():
    """Process-wide BLAS: enter A, enter B, exit A, exit B. Restoring on each exit would leave the
    process on one BLAS thread for good (B "restores" the 1 it saw on entering)."""
    blas_before = _blas_threads()
    first, second = one_thread(torch_ops=False), one_thread(torch_ops=False)
    first.__enter__()
    second.__enter__()
    assert all(n == 1 for n in _blas_threads())
    first.__exit__(None, None, None)
    assert all(n == 1 for n in _blas_threads())  # the second job still runs: its limit stays
    second.__exit__(None, None, None)
    assert _blas_threads() == blas_before


def test_overlapping_torch_only_and_blas_only_contexts_each_restore_their_own_limit():
    blas_before = _blas_threads()
    with one_thread(torch_ops=False):
        with one_thread(blas=False):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == POLICY and all(n == 1 for n in _blas_threads())
    assert _blas_threads() == blas_before


@pytest.mark.parametrize("first_out", ["A", "B"])
def test_one_thread_contexts_in_two_threads_hold_and_leave_every_thread_on_the_policy(first_out):
    """Two jobs in threads that already ran torch: A enters, B enters, one leaves, the other leaves.
    Each must run on one thread inside, and afterwards both, the main thread and any thread created
    later must run on the policy count (reference-counting torch's per-thread limit failed both)."""
    entered = {"A": threading.Event(), "B": threading.Event()}
    left = {"A": threading.Event(), "B": threading.Event()}
    torch_started = threading.Barrier(2)
    inside, after = {}, {}
    second_out = "B" if first_out == "A" else "A"

    def job(name: str, enter_after: str | None, leave_after: str | None) -> None:
        torch.get_num_threads()  # this thread runs torch before the other one lowers anything
        torch_started.wait(timeout=30)
        if enter_after:
            assert entered[enter_after].wait(timeout=30)
        with one_thread():
            inside[name] = torch.get_num_threads()
            entered[name].set()
            assert entered["A"].wait(timeout=30) and entered["B"].wait(timeout=30)
            if leave_after:
                assert left[leave_after].wait(timeout=30)
        left[name].set()
        assert left["A"].wait(timeout=30) and left["B"].wait(timeout=30)
        after[name] = torch.get_num_threads()

    leave_after = {first_out: None, second_out: first_out}
    threads = [
        threading.Thread(target=job, args=("A", None, leave_after["A"])),
        threading.Thread(target=job, args=("B", "A", leave_after["B"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    seen = {
        "inside": inside,
        "after": after,
        "main": torch.get_num_threads(),
        "created later": _in_new_thread(torch.get_num_threads),
    }
    assert seen == {
        "inside": {"A": 1, "B": 1},
        "after": {"A": POLICY, "B": POLICY},
        "main": POLICY,
        "created later": POLICY,
    }


def test_a_thread_born_while_another_holds_the_limit_gets_the_policy_back():
    """A thread that first touches torch while another thread is inside one_thread inherits torch's
    last setting (one thread). Large work and configure_threads() (each Streamlit run) restore it."""
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with one_thread(blas=False):
            holding.set()
            assert release.wait(timeout=30)

    holder_thread = threading.Thread(target=holder)
    holder_thread.start()
    try:
        assert holding.wait(timeout=30)

        def large_training() -> int:
            with threads_for(CPU, SMALL_WORK):
                return torch.get_num_threads()

        def script_run() -> int:
            configure_threads()
            return torch.get_num_threads()

        def small_training() -> tuple[int, int]:
            with threads_for(CPU, SMALL_WORK - 1):
                during = torch.get_num_threads()
            return during, torch.get_num_threads()

        assert _in_new_thread(large_training) == POLICY
        assert _in_new_thread(script_run) == POLICY
        assert _in_new_thread(small_training) == (1, POLICY)
    finally:
        release.set()
        holder_thread.join(timeout=30)
    assert _in_new_thread(torch.get_num_threads) == POLICY


class _Meet(Callback):
    """Holds two trainings inside their thread limits at once, and lets this one end only after
    `wait_for` has ended, so the overlap and the order of leaving are fixed."""

    def __init__(self, both_training: threading.Barrier, wait_for: threading.Event | None):
        self.both_training, self.wait_for, self.threads = both_training, wait_for, None

    def on_train_begin(self, info) -> None:
        self.threads = torch.get_num_threads()
        self.both_training.wait(timeout=30)

    def on_train_end(self, history) -> None:
        if self.wait_for is not None:
            assert self.wait_for.wait(timeout=30)


def test_two_small_trainings_at_once_then_a_third_thread_all_run_on_the_intended_counts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    torch_started, both_training = threading.Barrier(2), threading.Barrier(2)
    first_done = threading.Event()
    callbacks = [_Meet(both_training, None), _Meet(both_training, first_done)]
    after, errors = [None, None], []

    def train(slot: int) -> None:
        try:
            torch.get_num_threads()  # both threads run torch before either training lowers its limit
            torch_started.wait(timeout=30)
            ANNClassifier(hidden_units=(8,), epochs=3, batch_size=32, device="cpu", callbacks=[callbacks[slot]]).fit(
                X, y
            )
            if slot == 0:
                first_done.set()
            after[slot] = torch.get_num_threads()
        except Exception as error:  # kept for the assertion below; re-raised so its traceback is printed
            errors.append(error)
            first_done.set()
            raise

    threads = [threading.Thread(target=train, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    seen = {
        "training": [callback.threads for callback in callbacks],
        "after": after,
        "main": torch.get_num_threads(),
        "created later": _in_new_thread(torch.get_num_threads),
    }
    # small problems train on one thread each; a later training or script run gets the policy
    assert seen == {"training": [1, 1], "after": [POLICY, POLICY], "main": POLICY, "created later": POLICY}


def test_configure_threads_is_idempotent_and_refuses_a_bad_count():
    assert configure_threads() == POLICY == configure_threads()
    with pytest.raises(ValueError, match="at least 1"):
        configure_threads(0)
    assert configure_threads() == POLICY
