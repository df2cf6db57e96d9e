"""Give freed heap memory back to the operating system after big work ends (glibc's malloc_trim).

A comparison or a training allocates and frees many arrays across worker threads. glibc keeps what was freed
in per-thread arenas for reuse, so the server's resident memory stays at its peak long after the work ended
(tens of MB per finished job on this dashboard's server). malloc_trim(0) returns the free pages of every
arena; it changes no live object. Elsewhere than glibc (macOS, musl, Windows) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)


def _load_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim with
        logger.info("malloc_trim is not available: freed memory stays with the allocator", exc_info=True)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def release_free_memory() -> bool:
    """Return the allocator's free pages to the operating system; True when it could (glibc)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
