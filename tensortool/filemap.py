"""Where a memory-mapped tensor's bytes sit in its file, so they can be copied file to file.

Tensors from ``torch.load(mmap=True)`` or a mapped safetensors file are views of a file mapping. Copying
their bytes with ``os.copy_file_range`` keeps the data in the kernel: no page faults, and resident
memory stays flat however large the checkpoint. Linux only (``/proc/self/maps``); elsewhere callers
fall back to writing the bytes from memory.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class _Mapping:
    start: int
    end: int
    offset: int
    path: Path


class FileMap:
    """The mappings of the given files in this process, read once from /proc/self/maps."""

    def __init__(self, files: list[Path]):
        self._fds: dict[Path, int] = {}
        self._maps: list[_Mapping] = []
        wanted = {}
        for f in files:
            try:
                st = os.stat(f)
                wanted[(st.st_dev, st.st_ino)] = Path(f)
            except OSError:
                continue
        try:
            lines = Path("/proc/self/maps").read_text().splitlines()
        except OSError:
            return
        for line in lines:
            parts = line.split(maxsplit=5)
            if len(parts) < 6:
                continue
            span, _perms, offset, dev, inode = parts[:5]
            major, minor = (int(x, 16) for x in dev.split(":"))
            key = (os.makedev(major, minor), int(inode))
            if key in wanted:
                start, end = (int(x, 16) for x in span.split("-"))
                self._maps.append(_Mapping(start, end, int(offset, 16), wanted[key]))
        self._maps.sort(key=lambda m: m.start)
        self._starts = [m.start for m in self._maps]  # bisected: a checkpoint can have 100,000 mappings

    def locate(self, t: torch.Tensor) -> tuple[Path, int] | None:
        """(file, byte offset) of a contiguous CPU tensor's data, when it is a view of a mapped file."""
        if t.device.type != "cpu" or not t.is_contiguous() or t.numel() == 0:
            return None
        return self.locate_range(t.data_ptr(), t.numel() * t.element_size())

    def locate_range(self, ptr: int, nbytes: int) -> tuple[Path, int] | None:
        """(file, byte offset) of the memory [ptr, ptr + nbytes), when one mapping of a file holds it all."""
        i = bisect.bisect_right(getattr(self, "_starts", []), ptr) - 1
        if i >= 0 and ptr + nbytes <= self._maps[i].end:
            m = self._maps[i]
            return m.path, m.offset + ptr - m.start
        return None

    def fd(self, path: Path) -> int:
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY)
        return self._fds[path]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> "FileMap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def copy_range(src_fd: int, dst_fd: int, offset: int, nbytes: int) -> None:
    """Append ``nbytes`` of ``src_fd`` from ``offset`` to ``dst_fd`` (at its current position), in the kernel."""
    while nbytes > 0:
        try:
            done = os.copy_file_range(src_fd, dst_fd, nbytes, offset)
        except (AttributeError, OSError):  # old kernel, other filesystems: plain reads and writes
            done = _copy_plain(src_fd, dst_fd, offset, nbytes)
        if done <= 0:
            raise OSError(f"could not copy {nbytes} bytes at offset {offset}: the source ended early")
        offset += done
        nbytes -= done


def _copy_plain(src_fd: int, dst_fd: int, offset: int, nbytes: int) -> int:
    chunk = os.pread(src_fd, min(nbytes, 64 << 20), offset)
    view = memoryview(chunk)
    while view:
        view = view[os.write(dst_fd, view):]
    return len(chunk)


class _Libc:
    """mmap/munmap through libc: Python's mmap module keeps a duplicate file descriptor per mapping,
    and a checkpoint with 20,000 tensors would run out of them."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.mmap = libc.mmap
        self.mmap.restype = ctypes.c_void_p
        self.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int64]
        self.munmap = libc.munmap
        self.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.memcmp = libc.memcmp  # a ctypes call lets go of the GIL while it runs
        self.memcmp.restype = ctypes.c_int
        self.memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]


_libc: _Libc | None = None


def libc() -> _Libc:
    """libc's mmap, munmap and memcmp (``OSError``/``AttributeError`` where there is no such libc)."""
    global _libc
    if _libc is None:
        _libc = _Libc()
    return _libc


def map_private(fd: int, offset: int, nbytes: int) -> ctypes.Array:
    """A private (copy-on-write) mapping of ``nbytes`` of a file from ``offset``, as a writable ctypes
    array that unmaps itself when collected (``torch.frombuffer`` keeps it alive). Holds no file
    descriptor."""
    lib = libc()
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    length = offset + nbytes - start
    addr = lib.mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE, fd, start)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    array = (ctypes.c_ubyte * nbytes).from_address(addr + offset - start)
    weakref.finalize(array, lib.munmap, addr, length)
    return array
