"""What a table file needs before parsing: decompression, preamble and comment lines, whitespace runs.

A plain file is parsed where it lies (the fast paths mmap it). A compressed file (gzip, bzip2,
xz, zip: found by its magic bytes, not its name), or one with rows to skip, comment lines or
runs of spaces as the delimiter, is first streamed into a temporary plain file, at most
``max_bytes`` of it. Removed lines are remembered so that errors still name the line of the
original (decompressed) text.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ...errors import InputError, OptionError

DEFAULT_MAX_BYTES = 4 * 1024**3  # decompressed text, at most
WHITESPACE = " "  # the delimiter that stands for runs of spaces and tabs
_CHUNK = 1 << 20
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".data", ".tab", ".psv")
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"),
          (b"PK\x05\x06", "zip"))


@dataclass(frozen=True)
class Opened:
    """The file to parse, and the original line numbers of the lines removed from it."""

    path: Path
    removed: tuple[int, ...] = ()
    compression: str | None = None


def compression_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return None  # sniff() names the problem
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _zip_member(archive: zipfile.ZipFile, path: Path) -> zipfile.ZipInfo:
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) == 1:
        return members[0]
    tables = [m for m in members if m.filename.lower().endswith(_TABLE_SUFFIXES)]
    if len(tables) == 1:
        return tables[0]
    names = ", ".join(m.filename for m in members[:10]) + (", …" if len(members) > 10 else "")
    if not members:
        raise InputError("the zip archive is empty", path)
    raise InputError(f"the zip archive holds {len(members)} files, {len(tables)} of them tables: {names}", path,
                     hint="extract the one to load")


@contextmanager
def _decompressed(path: Path, kind: str) -> Iterator[BinaryIO]:
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            member = _zip_member(archive, path)
            with archive.open(member) as fh:
                yield fh
        return
    opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    with opener(path, "rb") as fh:
        yield fh


def _lines(path: Path, kind: str | None, max_bytes: int) -> Iterator[bytes]:
    """The file's lines (with their endings), decompressed, never more than ``max_bytes`` in all."""
    total = 0
    with (_decompressed(path, kind) if kind else open(path, "rb")) as fh:
        rest = b""
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise InputError(f"decompresses to more than {max_bytes:,} bytes", path,
                                 hint="raise the limit with {max_bytes} if the file is genuine", param="max_bytes")
            lines = (rest + chunk).splitlines(keepends=True)
            rest = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
            yield from lines
        if rest:
            yield rest


def _ascii_compatible(encoding: str) -> bool:
    return "#,; \t\n".encode(encoding, errors="replace") == b"#,; \t\n"


@contextmanager
def opened(path: Path, *, skip_rows: int = 0, comment: str | None = None, whitespace: bool = False,
           encoding: str = "utf-8", max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Opened]:
    """The file ready to parse (``path`` itself when nothing needs doing); a temporary copy is deleted
    on leaving. ``whitespace`` turns runs of spaces and tabs into one space (the delimiter)."""
    kind = compression_of(path)
    if kind is None and not skip_rows and not comment and not whitespace:
        yield Opened(path)
        return
    if (skip_rows or comment or whitespace) and not _ascii_compatible(encoding):
        raise OptionError(f"{{skip_rows}}, {{comment}} and whitespace-delimited files need an ASCII-compatible "
                          f"encoding, not {encoding}", path, param="encoding")
    fd, name = tempfile.mkstemp(prefix="tensortool-", suffix=".csv")
    tmp = Path(name)
    try:
        removed = _copy(path, kind, fd, skip_rows=skip_rows, marker=comment.encode(encoding) if comment else None,
                        whitespace=whitespace, max_bytes=max_bytes)
        yield Opened(tmp, removed, kind)
    finally:
        tmp.unlink(missing_ok=True)


def _copy(path: Path, kind: str | None, fd: int, *, skip_rows: int, marker: bytes | None, whitespace: bool,
          max_bytes: int) -> tuple[int, ...]:
    removed: list[int] = []
    try:
        with os.fdopen(fd, "wb") as out:
            for number, line in enumerate(_lines(path, kind, max_bytes), 1):
                if number <= skip_rows or (marker is not None and line.lstrip(b" \t\xef\xbb\xbf").startswith(marker)):
                    removed.append(number)
                    continue
                if whitespace:
                    body = line.rstrip(b"\r\n")
                    line = b" ".join(body.split()) + line[len(body):]
                out.write(line)
    except InputError:
        raise
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read the {kind or 'file'}{' data' if kind else ''}: {text}", path) from None
    return tuple(removed)


def original_line(line: int, removed: tuple[int, ...]) -> int:
    """The line of the original text that is ``line`` of the file with ``removed`` lines taken out."""
    for r in removed:
        if r <= line:
            line += 1
        else:
            break
    return line

