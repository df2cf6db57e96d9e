"""Freed memory goes back to the operating system after a job (model.runtime.memory)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from model.runtime import jobs, memory


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim, read through /proc")
def test_freed_small_blocks_are_returned_to_the_system():
    # 200 MB of small blocks (below glibc's mmap threshold, so they live in the heap), then freed: without a
    # trim glibc keeps most of them; after it, the process is back near where it started.
    before = _rss_kb()
    blocks = [bytearray(64 * 1024 - 64) for _ in range(3200)]
    grown = _rss_kb()
    del blocks
    assert memory.release_free_memory() is True
    after = _rss_kb()
    assert grown - before > 150_000
    assert after - before < (grown - before) / 4


def test_a_finished_job_releases_free_memory(monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "release_free_memory", lambda: calls.append(True) or True)
    job = jobs.Job(lambda progress, stop: 42, "a job", "busy", heartbeat_timeout=None).start()
    assert job.join(timeout=30)
    assert job.result == 42 and calls == [True]
