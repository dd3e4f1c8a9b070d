"""Where a memory-mapped tensor's bytes sit in its file, so they can be copied file to file.

Tensors from ``torch.load(mmap=True)`` or a mapped safetensors file are views of a file mapping. Copying
their bytes with ``os.copy_file_range`` keeps the data in the kernel: no page faults, and resident
memory stays flat however large the checkpoint. Linux only (``/proc/self/maps``); elsewhere callers
fall back to writing the bytes from memory.
"""

from __future__ import annotations

import os
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

    def locate(self, t: torch.Tensor) -> tuple[Path, int] | None:
        """(file, byte offset) of a contiguous CPU tensor's data, when it is a view of a mapped file."""
        if t.device.type != "cpu" or not t.is_contiguous() or t.numel() == 0:
            return None
        ptr, nbytes = t.data_ptr(), t.numel() * t.element_size()
        for m in self._maps:
            if m.start <= ptr and ptr + nbytes <= m.end:
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
