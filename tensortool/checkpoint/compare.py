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

from .filemap import libc

WINDOW_BYTES = 32 << 20  # mapped at a time from each file
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


def same_range(fd_a: int, offset_a: int, fd_b: int, offset_b: int, nbytes: int) -> bool:
    """Whether ``nbytes`` of file ``fd_a`` from ``offset_a`` equal those of ``fd_b`` from ``offset_b``.

    False when either file is too short to hold its range (checked first: touching a mapping past
    the end of a file faults).
    """
    if nbytes <= 0:
        return True
    if offset_a + nbytes > os.fstat(fd_a).st_size or offset_b + nbytes > os.fstat(fd_b).st_size:
        return False
    try:
        lib = libc()
    except (OSError, AttributeError):
        lib = None
    for start in range(0, nbytes, WINDOW_BYTES):
        size = min(WINDOW_BYTES, nbytes - start)
        if lib is None:
            equal = os.pread(fd_a, size, offset_a + start) == os.pread(fd_b, size, offset_b + start)
        else:
            with _Window(fd_a, offset_a + start, size) as a, _Window(fd_b, offset_b + start, size) as b:
                equal = lib.memcmp(a.address, b.address, size) == 0
        if not equal:
            return False
    return True
