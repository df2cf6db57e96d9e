"""Tasks for the helper process in tests/test_comparison_streaming.py: a module that imports nothing heavy, so the
helper unpickles them at once (a task defined in the test module would make it import torch and the whole
comparison first)."""

import os
import time


def pid_and_square(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


def slow_in_the_helper(value: int, parent: int) -> int:
    if os.getpid() != parent:
        time.sleep(5)  # a long task in the helper: Stop must not wait for it
    return value


def dies_in_the_helper(value: int, parent: int) -> int:
    if os.getpid() != parent:
        os._exit(1)  # the helper is killed (e.g. for memory) in the middle of a task
    return value + 1
