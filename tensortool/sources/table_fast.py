"""The plain numeric table, read by our own small C parser (``tensortool/_numcsv.c``).

Most numeric CSVs are plain: ASCII decimals, one delimiter, no quotes, no missing cells. For
those, a parser that knows nothing else beats pyarrow's general reader (which still reads every
other file, and any file this one refuses, so errors and their line numbers stay pyarrow's and
the ``csv`` module's). Values round exactly as pyarrow rounds them: the C side takes only
decimals it can round correctly and refuses the rest. Without the extension (no C compiler at
install), this path is simply off.
"""

from __future__ import annotations

import codecs
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .table_read import Dialect, is_number

try:
    from .. import _numcsv
except ImportError:
    _numcsv = None

# ASCII-compatible encodings: digits, signs, points and delimiters are the same bytes in all.
_ENCODINGS = {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}
_PART_BYTES = 4 << 20  # below this, one thread: starting a second costs more than it saves


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


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
    data = path.read_bytes()
    if b'"' in data:
        return None
    start = 0
    if dialect.header:
        start = data.find(b"\n") + 1
        if start == 0:
            return None
    wanted = set(columns)
    kinds = bytes(4 if name in float32 else 8 if name in wanted else 0 for name in dialect.names)
    parsed = [name for name in dialect.names if name in wanted]
    item_bytes = sum(kinds)
    results: list[tuple[int, list[np.ndarray]]] = []

    def parse(a: int, b: int, slot: int) -> None:
        # A row takes at least 2·columns - 1 bytes. Pages past the rows parsed are never touched,
        # so the generous bound costs no memory (and counting newlines would hold the GIL).
        capacity = (b - a) // (2 * len(kinds) - 1) + 1
        out = np.empty(item_bytes * capacity, dtype=np.uint8)
        try:
            rows = _numcsv.parse(data, a, b, ord(dialect.delimiter), kinds, out, capacity)
        except ValueError:  # not expected; pyarrow then reads the file
            rows = -1
        views, offset = [], 0
        for name in parsed:
            size = 4 if name in float32 else 8
            views.append(out[offset:offset + size * capacity].view(np.float32 if size == 4 else np.float64)[:max(rows, 0)])
            offset += size * capacity
        results[slot] = (rows, views)

    parts = _parts(data, start)
    results.extend((0, []) for _ in parts)
    threads = [threading.Thread(target=parse, args=(a, b, i)) for i, (a, b) in enumerate(parts[1:], 1)]
    for t in threads:
        t.start()
    parse(*parts[0], 0)
    for t in threads:
        t.join()
    if any(rows < 0 for rows, _ in results) or sum(rows for rows, _ in results) == 0:
        return None
    import pyarrow as pa

    arrays = {name: pa.chunked_array([pa.array(views[j]) for _, views in results])
              for j, name in enumerate(parsed)}
    return pa.table({name: arrays[name] for name in columns})
