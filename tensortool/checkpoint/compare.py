"""Comparing two files' byte ranges at memory speed: ``memcmp`` over short-lived read-only mappings.

Right after a conversion both files are in the page cache, so comparing them is bound by memory
bandwidth, not by copies: a window of each file is mapped (its pages populated in one call),
compared with libc's ``memcmp`` and unmapped again, so resident memory stays at two windows however
large the checkpoint. Without libc's mmap the ranges are read and compared instead.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from concurrent.futures import Executor, ThreadPoolExecutor

from ..filemap import libc

WINDOW_BYTES = 8 << 20  # mapped at a time from each file, per thread
COMPARE_THREADS = 8  # at most; memory bandwidth, not cores, is the limit
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


class _Window:
    """``nbytes`` of a file from ``offset``, mapped read-only from ``address``."""

    def __init__(self, fd: int, offset: int, nbytes: int):
        lib = libc()
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        self.length = offset + nbytes - start
        self.base = lib.mmap(None, self.length, mmap.PROT_READ, mmap.MAP_SHARED | _POPULATE, fd, start)
        if self.base is None or self.base == ctypes.c_void_p(-1).value:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.address = self.base + offset - start

    def __enter__(self) -> "_Window":
        return self

    def __exit__(self, *exc: object) -> None:
        libc().munmap(self.base, self.length)


def _same_window(fd_a: int, offset_a: int, fd_b: int, offset_b: int, size: int) -> bool:
    try:
        lib = libc()
        with _Window(fd_a, offset_a, size) as a, _Window(fd_b, offset_b, size) as b:
            return lib.memcmp(a.address, b.address, size) == 0
    except (OSError, AttributeError):  # no libc mmap, or a file system that cannot map: read and compare
        return os.pread(fd_a, size, offset_a) == os.pread(fd_b, size, offset_b)


def same_range(fd_a: int, offset_a: int, fd_b: int, offset_b: int, nbytes: int,
               pool: Executor | None = None) -> bool:
    """Whether ``nbytes`` of file ``fd_a`` from ``offset_a`` equal those of ``fd_b`` from ``offset_b``.

    False when either file is too short to hold its range (checked first: touching a mapping past
    the end of a file faults). With ``pool``, windows are compared on its threads at once (memcmp
    runs without the GIL): resident memory is then two windows per thread.
    """
    if nbytes <= 0:
        return True
    if offset_a + nbytes > os.fstat(fd_a).st_size or offset_b + nbytes > os.fstat(fd_b).st_size:
        return False
    starts = range(0, nbytes, WINDOW_BYTES)
    sizes = [min(WINDOW_BYTES, nbytes - start) for start in starts]
    if pool is None or len(sizes) == 1:
        return all(_same_window(fd_a, offset_a + start, fd_b, offset_b + start, size)
                   for start, size in zip(starts, sizes))
    return all(pool.map(lambda start, size: _same_window(fd_a, offset_a + start, fd_b, offset_b + start, size),
                        starts, sizes))


def comparing_pool() -> ThreadPoolExecutor:
    """Threads for :func:`same_range` (``COMPARE_THREADS`` at most, one per core)."""
    return ThreadPoolExecutor(max_workers=min(COMPARE_THREADS, os.cpu_count() or 1),
                              thread_name_prefix="tensortool-compare")
