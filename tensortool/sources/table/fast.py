"""The plain numeric table, read by our own small C parser (``tensortool/sources/table/_numcsv.c``).

Most numeric CSVs are plain: ASCII decimals, one delimiter, no quotes, no missing cells. For
those, a parser that knows nothing else beats pyarrow's general reader (which still reads every
other file, and any file this one refuses, so errors and their line numbers stay pyarrow's and
the ``csv`` module's). Values round exactly as pyarrow rounds them: the C side takes only
decimals it can round correctly and refuses the rest. Without the extension (no C compiler at
install), this path is simply off.
"""

from __future__ import annotations

import codecs
import mmap
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...cores import usable_cores as _cores
from .read import Dialect, is_number

try:
    from . import _numcsv
except ImportError:
    _numcsv = None

# ASCII-compatible encodings: digits, signs, points and delimiters are the same bytes in all.
_ENCODINGS = {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}
_PART_BYTES = 4 << 20
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # below this, one thread: starting a second costs more than it saves


def _parts(data: bytes, start: int) -> list[tuple[int, int]]:
    """Split data[start:] into up to one part per core, each ending after a newline."""
    count = max(1, min(_cores(), (len(data) - start) // _PART_BYTES))
    bounds = [start]
    for i in range(1, count):
        cut = data.find(b"\n", start + (len(data) - start) * i // count)
        if cut < 0 or cut + 1 <= bounds[-1]:
            break
        bounds.append(cut + 1)
    bounds.append(len(data))
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def read_plain_numeric(path: Path, dialect: Dialect, *, columns: Sequence[str], float32: Sequence[str],
                       missing: Sequence[str]):
    """``columns`` of a plain numeric file as a pyarrow Table (``float32`` ones as float32, the
    rest float64), or None when the file is not plain or the extension is missing."""
    if (_numcsv is None or codecs.lookup(dialect.encoding).name not in _ENCODINGS
            or len(dialect.delimiter) != 1 or not 0 < ord(dialect.delimiter) < 128
            or dialect.delimiter in '"0123456789.-+eE \r\n' or any(is_number(m) for m in missing)
            or not set(columns) <= set(dialect.names) or len(set(dialect.names)) != len(dialect.names)):
        return None
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return None
        # Mapped, not read: no 20 MB copy to fault in; populated up front where Linux allows.
        data = (mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ)
                if _POPULATE else mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    try:
        return _read(data, dialect, columns, float32)
    finally:
        data.close()


def _read(data: mmap.mmap, dialect: Dialect, columns: Sequence[str], float32: Sequence[str]):
    if data.find(b'"') >= 0:
        return None
    start = 0
    if dialect.header:
        start = data.find(b"\n") + 1
        if start == 0:
            return None
    wanted = set(columns)
    kinds = bytes(4 if name in float32 else 8 if name in wanted else 0 for name in dialect.names)
    parsed = [name for name in dialect.names if name in wanted]
    parts = _parts(data, start)
    if not parts:  # a header and no rows
        return None
    # One buffer per parsed column, each part writing its rows at its own offset. A row takes at
    # least a byte per delimiter and per parsed cell (skipped cells may be empty), so these
    # bounds hold, and the parser stops at them anyway. Pages past the rows parsed are never
    # touched: the generous bounds cost no memory, and counting newlines would hold the GIL.
    shortest_row = len(kinds) - 1 + len(parsed)
    bounds = [(b - a) // shortest_row + 1 for a, b in parts]
    offsets = [sum(bounds[:i]) for i in range(len(parts))]
    capacity = sum(bounds)
    # torch's allocator, not numpy's: numpy asks for huge pages on large arrays, and on a
    # fragmented machine their first touch stalled one thread for 40 ms of a 20 ms parse.
    out = torch.empty(sum(kinds) * capacity, dtype=torch.uint8).numpy()
    rows = [0] * len(parts)

    def parse(i: int) -> None:
        try:
            rows[i] = _numcsv.parse(data, *parts[i], ord(dialect.delimiter), kinds, out, capacity, offsets[i],
                                    bounds[i])
        except ValueError:  # not expected; pyarrow then reads the file
            rows[i] = -1

    threads = [threading.Thread(target=parse, args=(i,)) for i in range(1, len(parts))]
    for t in threads:
        t.start()
    parse(0)
    for t in threads:
        t.join()
    if min(rows) < 0 or sum(rows) == 0:
        return None
    import pyarrow as pa

    arrays, at = {}, 0
    for name in parsed:
        size = 4 if name in float32 else 8
        column = out[at:at + size * capacity].view(np.float32 if size == 4 else np.float64)
        at += size * capacity
        done = rows[0]
        for offset, count in zip(offsets[1:], rows[1:]):  # close the gaps between the parts
            column[done:done + count] = column[offset:offset + count]
            done += count
        arrays[name] = pa.array(column[:done])
    return pa.table({name: arrays[name] for name in columns})
