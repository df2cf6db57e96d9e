"""model/threads.py: one place limits BLAS and torch threads for small work, and restores them."""
import torch
from threadpoolctl import threadpool_info

from model.threads import SMALL_WORK, one_thread, threads_for


def test_one_thread_limits_torch_and_restores_it_also_after_an_error():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        try:
            with one_thread(blas=False):
                raise ValueError("inside")
        except ValueError:
            pass
        assert torch.get_num_threads() == 2
        with one_thread(torch_ops=False):
            assert torch.get_num_threads() == 2  # BLAS only
    finally:
        torch.set_num_threads(previous)


def test_threads_for_limits_only_small_cpu_work():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threads_for(torch.device("cpu"), SMALL_WORK - 1):
            assert torch.get_num_threads() == 1
        with threads_for(torch.device("cpu"), SMALL_WORK):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_overlapping_contexts_restore_the_limits_when_the_last_one_ends():
    """Jobs in two threads: enter A, enter B, exit A, exit B. Restoring on each exit would leave
    the process on one thread for good (B "restores" the 1 it saw on entering)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    blas_before = _blas_threads()
    try:
        first, second = one_thread(), one_thread()
        first.__enter__()
        second.__enter__()
        assert torch.get_num_threads() == 1 and all(n == 1 for n in _blas_threads())
        first.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # the second job still runs: its limit stays
        assert all(n == 1 for n in _blas_threads())
        second.__exit__(None, None, None)
        assert torch.get_num_threads() == 2
        assert _blas_threads() == blas_before
    finally:
        torch.set_num_threads(previous)


def test_overlapping_torch_only_and_blas_only_contexts_each_restore_their_own_limit():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    blas_before = _blas_threads()
    try:
        with one_thread(torch_ops=False):
            with one_thread(blas=False):
                assert torch.get_num_threads() == 1
            assert torch.get_num_threads() == 2 and all(n == 1 for n in _blas_threads())
        assert _blas_threads() == blas_before
    finally:
        torch.set_num_threads(previous)
