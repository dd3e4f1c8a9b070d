"""Writing a shard folder: each file atomically and hashed, the manifest after each one.

A shard is a pure task: the same inputs and options give the same bytes, so a shard whose run
was killed is simply written again. There is no fsync: a shard the operating system lost in a
crash fails its SHA-256 check on the next run and is written again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch

from ..errors import OptionError, OutputError
from ..safetensors_file import write_safetensors
from ..tensorfile import META_KEY, atomic_write
from .manifest import MANIFEST_NAME, Manifest, ShardRecord, changed_options, normalized, read_manifest, shown

_CHUNK = 1 << 22


class _Hashing:
    """A write-only file that hashes and counts what passes through it.

    A large buffer is hashed on ``pool``'s thread while the same bytes are written (both release
    the GIL), so the hash costs no extra time; each hash finishes before the next write starts,
    so the digest sees the bytes in file order."""

    def __init__(self, raw: BinaryIO, pool: ThreadPoolExecutor):
        self.raw, self.pool, self.digest, self.bytes = raw, pool, hashlib.sha256(), 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.bytes += len(view)
        if len(view) < _CHUNK:
            self.digest.update(view)
            return self.raw.write(view)
        hashed = self.pool.submit(self.digest.update, view)
        try:
            return self.raw.write(view)
        finally:
            hashed.result()

    def flush(self) -> None:
        self.raw.flush()

    def fileno(self) -> int:
        return self.raw.fileno()


def _write_failed(exc: OSError, path: Path) -> OutputError:
    full = exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    return OutputError(f"cannot write: {exc.strerror or exc}", path,
                       hint="free some space, then run the same command again to resume" if full else None)


def write_file(path: str | Path, write: Callable[[BinaryIO], None]) -> tuple[int, str]:
    """Write a file atomically through ``write(fh)``; return its size and SHA-256 (hex).

    A file of the same name is replaced: a shard is the same bytes each time it is written.
    """
    out = Path(path)
    sums: list[tuple[int, str]] = []

    def run(tmp: Path) -> None:
        with open(tmp, "wb") as raw, ThreadPoolExecutor(1) as pool:
            fh = _Hashing(raw, pool)
            write(fh)
        sums.append((fh.bytes, fh.digest.hexdigest()))

    try:
        atomic_write(out, run, force=True)
    except OSError as exc:
        raise _write_failed(exc, out) from None
    return sums[0]


def write_tensors(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> tuple[int, str]:
    """A .safetensors file of ``tensors`` with ``meta`` as JSON under the ``tensortool`` key, written
    atomically straight from the tensors' memory; returns its size and SHA-256."""
    text = json.dumps(meta, sort_keys=True)
    return write_file(path, lambda fh: write_safetensors(fh, tensors, {META_KEY: text}))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_intact(folder: str | Path, record: ShardRecord) -> bool:
    """The shard file is there, of the recorded size and SHA-256."""
    path = Path(folder) / record.name
    try:
        info = path.stat()  # a regular file only: hashing a FIFO planted under a shard's name would wait forever
        return stat.S_ISREG(info.st_mode) and info.st_size == record.bytes and file_sha256(path) == record.sha256
    except OSError:
        return False


class ShardFolder:
    """A folder of shard files and its manifest, opened for writing.

    A new folder gets an empty manifest at once. An existing manifest is reused when ``kind`` and
    ``options`` are the same (its shards are checked, and the broken ones forgotten, so they are
    written again); otherwise the run is refused. ``force`` starts afresh: the shard files the
    manifest names are removed if they are still what it recorded (size and SHA-256), nothing
    else. ``resume`` insists that a manifest exists.

    >>> folder = ShardFolder("out/", kind="series", options={"window": "lung"}, planned=1)  # doctest: +SKIP
    >>> if folder.done("s-00000.safetensors") is None:  # doctest: +SKIP
    ...     folder.add(ShardRecord("s-00000.safetensors", 0, 1, *write_tensors(...)))
    >>> folder.finish({"class_names": None})  # doctest: +SKIP
    """

    def __init__(self, folder: str | Path, *, kind: str, options: dict[str, Any], force: bool = False,
                 resume: bool = False, planned: int | None = None,
                 verify: Callable[[Path, ShardRecord], bool] | None = None):
        self.path = Path(folder)
        self.options = normalized(options)
        self.resumed: list[ShardRecord] = []  # finished shards found intact
        manifest_path = self.path / MANIFEST_NAME
        if self.path.exists() and not self.path.is_dir():
            raise OutputError("exists and is not a folder", self.path)
        old = read_manifest(self.path) if manifest_path.is_file() else None
        if resume and old is None:
            raise OptionError(f"there is no {MANIFEST_NAME} to resume from", self.path, param="resume")
        if old is not None and force:
            for record in old.shards:
                # Only a file the manifest itself recorded: the manifest may come from anywhere, and
                # could name a file of someone else's (its names are plain names in the folder).
                if is_intact(self.path, record):
                    (self.path / record.name).unlink(missing_ok=True)
            manifest_path.unlink()
            old = None
        if old is None:
            self._refuse_foreign_files(force)
            self.path.mkdir(parents=True, exist_ok=True)
            self.manifest = Manifest(kind, self.options, planned=planned)
            self.save()
            return
        changes = (changed_options(old.options, self.options) if old.kind == kind
                   else [f"kind: {shown(old.kind)} then, {shown(kind)} now"])
        if changes:
            raise OptionError("this folder holds shards written with other options (" + "; ".join(changes) + ")",
                              self.path, hint="write to a new folder, or pass {force} to start it afresh")
        check = verify or (lambda folder, record: is_intact(folder, record))
        self.resumed = [r for r in old.shards if check(self.path, r)]
        self.manifest = Manifest(kind, self.options, list(self.resumed), old.info, False, planned)
        if len(self.resumed) != len(old.shards) or old.complete or old.planned != planned:
            self.save()

    def _refuse_foreign_files(self, force: bool) -> None:
        if force or not self.path.is_dir():
            return
        others = [e.name for e in os.scandir(self.path) if not e.name.startswith(".")]
        if others:
            raise OutputError(f"the folder is not empty and holds no {MANIFEST_NAME} "
                              f"(it holds {others[0]!r}{' and more' if len(others) > 1 else ''})", self.path,
                              hint="write shards to a new or empty folder")

    def done(self, name: str) -> ShardRecord | None:
        """The intact finished shard of this name, if any."""
        return next((r for r in self.manifest.shards if r.name == name), None)

    def add(self, record: ShardRecord) -> None:
        """Record a finished shard (its file already in place) and save the manifest."""
        self.manifest.shards = sorted([r for r in self.manifest.shards if r.name != record.name] + [record],
                                      key=lambda r: r.index)
        self.save()

    def finish(self, info: dict[str, Any]) -> Manifest:
        """Mark the folder complete with what the writer says of the whole."""
        self.manifest.info, self.manifest.complete = info, True
        self.save()
        return self.manifest

    def save(self) -> None:
        text = json.dumps(self.manifest.to_json(), indent=1) + "\n"
        path = self.path / MANIFEST_NAME
        try:
            atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=True)
        except OSError as exc:
            raise _write_failed(exc, path) from None
