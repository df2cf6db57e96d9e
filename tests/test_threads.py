"""model/threads.py: one place limits BLAS and torch threads for small work, and restores them."""
import torch

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
