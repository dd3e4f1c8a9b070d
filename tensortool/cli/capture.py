"""What C libraries write straight to stderr while images decode, said afterwards as warnings."""

from __future__ import annotations

import bisect
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .output import one_line, warn

NATIVE_LINES = 20  # distinct lines from C libraries shown; the rest are counted
NATIVE_BYTES = 1 << 20


class _Owners:
    """Which file was being read while each stretch of the captured output was written: a stretch
    written while exactly one file was in flight belongs to it; with several (threads), to none."""

    def __init__(self, fd: int):
        self.fd, self.lock = fd, threading.Lock()
        self.in_flight: list[Path] = []
        self.mark = 0
        self.stretches: list[tuple[int, int, Path | None]] = []

    def __call__(self, path: Path, started: bool) -> None:
        with self.lock:
            if started and not self.in_flight:
                # Nothing decodes between one file's end and the next one's start: the position
                # taken at that end still holds, and one system call per file is saved.
                self.in_flight.append(path)
                return
            end = os.fstat(self.fd).st_size
            if end > self.mark:
                self.stretches.append((self.mark, end, self.in_flight[0] if len(self.in_flight) == 1 else None))
                self.mark = end
            if started:
                self.in_flight.append(path)
            elif path in self.in_flight:
                self.in_flight.remove(path)

    def owner(self, offset: int) -> Path | None:
        at = bisect.bisect_right(self.stretches, offset, key=lambda s: s[0]) - 1
        return self.stretches[at][2] if at >= 0 and offset < self.stretches[at][1] else None


@contextmanager
def native_stderr() -> Iterator[None]:
    """Capture what C libraries write straight to file descriptor 2 (libpng's "iCCP: known
    incorrect sRGB profile", libjpeg-turbo's "Corrupt JPEG data: ...") and say it afterwards as
    warning lines naming the file where one was being read alone, so none lands inside the
    progress bar or between our lines.

    Python's own writes (the bar, warnings, the error line) keep going to the real stderr: while
    the descriptor points at a temporary file, ``sys.stderr`` is a stream on a copy of the
    original one. A stderr without a descriptor (a test runner's buffer) is left alone."""
    from ..sources.image.load import watch_files

    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    if fd != 2:
        yield
        return
    original = sys.stderr
    try:
        capture = tempfile.TemporaryFile()
    except OSError:  # no writable temporary folder: decoders keep writing to stderr
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed (2>&-): nothing to protect
        capture.close()
        yield
        return
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=getattr(original, "encoding", None) or "utf-8",
                           errors="backslashreplace", closefd=False)
    os.dup2(capture.fileno(), 2)
    owners = _Owners(capture.fileno())
    try:
        with watch_files(owners):
            yield
    finally:
        os.dup2(saved, 2)
        try:
            sys.stderr.flush()
        finally:
            sys.stderr = original
            os.close(saved)
        owners(Path(), False)  # closes the last stretch
        capture.seek(0)
        data = capture.read(NATIVE_BYTES)
        capture.close()
        _say(data, owners)


def _say(data: bytes, owners: _Owners) -> None:
    """The captured lines as warnings: each distinct line once, naming its file where known."""
    said: dict[str, list[Path | None]] = {}
    offset = 0
    for raw in data.splitlines(keepends=True):
        # "libpng warning: iCCP: ..." → "libpng: iCCP: ...": the line is already a warning
        line = re.sub(r"^(\w+) warning: ", r"\1: ", one_line(raw.decode("utf-8", "replace")))
        if line:
            said.setdefault(line, []).append(owners.owner(offset))
        offset += len(raw)
    for i, (line, paths) in enumerate(said.items()):
        if i == NATIVE_LINES:
            warn(f"… {len(said) - NATIVE_LINES} more distinct message(s) from the decoders")
            break
        named = [p for p in paths if p is not None]
        if len(paths) == 1 and named:
            warn(f"{named[0]}: {line}")
        else:
            example = f", e.g. {named[0]}" if named else ""
            warn(f"{line} (said by a decoder{f' {len(paths)} times' if len(paths) > 1 else ''}{example})")
