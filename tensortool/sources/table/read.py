"""Reading delimited text: sniffing, the fast Arrow parse, and the slow diagnostic pass.

The fast path is pyarrow's multithreaded C++ CSV reader. It does not report line numbers,
so when it finds a problem (a ragged row, a missing or unparsable cell) a second pass with
Python's ``csv`` module finds the first offending cell and names its 1-based line, its column
and its raw text. Good files never pay for that pass.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ...errors import InputError, q
from .open import WHITESPACE, original_line

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024
HEADER_MAX_BYTES = 64 * 1024 * 1024  # a first line longer than this (a million+ columns) is refused
SNIFF_LINES = 20


@dataclass(frozen=True)
class Dialect:
    """What the file looks like: its encoding, delimiter, header and column names."""

    encoding: str
    delimiter: str
    header: bool
    names: tuple[str, ...]
    removed: tuple[int, ...] = ()  # lines taken out before parsing (skip_rows, comment): errors count them


def is_number(text: str) -> bool:
    """Whether a cell's text is a number as the parser reads it (Python's float syntax)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _codec(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name == "utf-8" else name  # a BOM is never part of the first column's name


def open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    try:
        return open(path, encoding=_codec(encoding), newline="")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a CSV file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None


def _head_lines(path: Path, encoding: str) -> list[str]:
    """The first lines, whole: a wide table's header may be longer than one block."""
    with open_text(path, encoding) as fh:
        try:
            text = fh.read(SNIFF_BYTES)
            full = len(text) == SNIFF_BYTES
            while full and text.count("\n", 0, len(text)) < 2 and len(text) < HEADER_MAX_BYTES:
                more = fh.read(len(text))  # doubling: a 5 MB header takes a few reads
                text += more
                full = len(more) > 0
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid {encoding} text (byte offset {exc.start} of the first block)", path,
                             hint="give the file's encoding with {encoding}, e.g. latin-1") from None
    lines = text.splitlines()
    if full and len(lines) == 1:  # its names would be cut short
        raise InputError(f"line 1: longer than {HEADER_MAX_BYTES // 2**20} MiB, more than is read to find "
                         "the delimiter, header and column names", path)
    if full and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle
    return lines[: SNIFF_LINES * 2]


def _head_rows(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    """The first rows split on ``delimiter``; none when a field passes the csv module's size limit
    (a wide header split on the wrong candidate is one huge field)."""
    try:
        rows = [row for row in csv.reader(_head_lines(path, encoding), delimiter=delimiter) if row]
    except csv.Error:
        return []
    return rows[:SNIFF_LINES]


def sniff_delimiter(path: Path, encoding: str) -> str:
    """The candidate that splits the first lines into the same number (> 1) of fields, most fields first."""
    best, best_fields = None, 1
    for delimiter in DELIMITERS:
        rows = _head_rows(path, encoding, delimiter)
        counts = {len(row) for row in rows}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = delimiter, fields
    if best is None and _whitespace_table(path, encoding):
        return WHITESPACE
    if best is None:  # nothing consistent: take the one that splits the first line most
        rows = {d: _head_rows(path, encoding, d) for d in DELIMITERS}
        best = max(DELIMITERS, key=lambda d: len(rows[d][0]) if rows[d] else 0)
    return best


def _whitespace_table(path: Path, encoding: str) -> bool:
    """Columns separated by runs of spaces or tabs (numpy.savetxt's default, R's write.table):
    the same number (> 1) of fields on every line, and a line of numbers only."""
    rows = [line.split() for line in _head_lines(path, encoding) if line.strip()]
    counts = {len(row) for row in rows}
    return (len(counts) == 1 and counts.pop() > 1
            and any(all(is_number(cell) for cell in row) for row in rows))


def sniff_header(rows: Sequence[Sequence[str]]) -> bool:
    """A header is a first row with no number in it, over a column that holds numbers below.

    A file of text only is taken to have a header (the common case); ``header=False`` overrides.
    """
    if not rows:
        return False
    first = rows[0]
    if any(is_number(cell) for cell in first if cell.strip()):
        return False
    below = rows[1:]
    if not below or not any(is_number(c) for row in below for c in row if c.strip()):
        return True
    return any(is_number(row[j]) for row in below for j in range(min(len(row), len(first))) if row[j].strip())


def check_source(src: Path, encoding: str) -> None:
    """The file exists, is a file, and ``encoding`` is one Python knows."""
    if not src.is_file():
        raise InputError("no such file" if not src.exists() else "not a file", src)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"unknown encoding {q(encoding)}", src) from None


def sniff(path: str | Path, *, delimiter: str | None = None, header: bool | None = None,
          encoding: str = "utf-8", removed: tuple[int, ...] = ()) -> Dialect:
    """Delimiter, header and column names of ``path`` (without a header: names "0", "1", ...)."""
    src = Path(path)
    check_source(src, encoding)
    delimiter = delimiter or sniff_delimiter(src, encoding)
    rows = _head_rows(src, encoding, delimiter)
    if not rows:
        raise InputError("the file has no rows", src)
    if header is None:
        header = sniff_header(rows)
    if header:
        names = tuple(name.strip() for name in rows[0])
        seen = set()
        for name in names:
            if name in seen:
                raise InputError(f"column name {q(name)} appears twice in the header", src,
                                 hint="rename one, or read with {header=False} and select columns by index")
            seen.add(name)
    else:
        names = tuple(str(i) for i in range(len(rows[0])))
    return Dialect(encoding, delimiter, header, names, removed)


def records(path: Path, dialect: Dialect) -> Iterator[tuple[int, list[str]]]:
    """(1-based line where the record starts, fields) for each data row; blank lines skipped."""
    with open_text(path, dialect.encoding) as fh:
        reader = csv.reader(fh, delimiter=dialect.delimiter)
        last = 0
        try:
            for row in reader:
                start, last = last + 1, reader.line_num
                if start == 1 and dialect.header:
                    continue
                if row:
                    yield original_line(start, dialect.removed) if dialect.removed else start, row
        except UnicodeDecodeError:
            raise InputError(f"not valid {dialect.encoding} text near line {last + 1}", path,
                             hint="give the file's encoding with {encoding}") from None
        except csv.Error as exc:  # e.g. a field past the csv module's size limit
            raise InputError(f"line {last + 1}: {exc}", path) from None


@dataclass(frozen=True)
class Problem:
    """The first bad cell or row the diagnostic pass found."""

    line: int
    column: str | None
    raw: str
    what: str

    def error(self, path: Path, hint: str | None = None) -> InputError:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column is not None else "")
        return InputError(f"{where}: {self.what}: {q(self.raw)}", path, hint=hint, line=self.line)


def first_problem(path: Path, dialect: Dialect, *, numeric: Sequence[str] = (), present: Sequence[str] = (),
                  missing: Sequence[str] = ("",), check_missing: bool = True,
                  skip_ragged: bool = False) -> Problem | None:
    """Scan ``path`` for the first ragged row, missing cell (in ``present`` or ``numeric``
    columns) or non-number (in ``numeric`` columns)."""
    width = len(dialect.names)
    index = {name: i for i, name in enumerate(dialect.names)}
    watch_missing = [(index[n], n) for n in dict.fromkeys([*numeric, *present]) if n in index] if check_missing else []
    watch_number = [(index[n], n) for n in numeric if n in index]
    nulls = set(missing)
    for line, row in records(path, dialect):
        if len(row) != width:
            if skip_ragged:  # skip_bad: the fast path skipped these rows too
                continue
            return Problem(line, None, dialect.delimiter.join(row),
                           f"expected {width} fields, found {len(row)}")
        for j, name in watch_missing:
            if row[j] in nulls:
                return Problem(line, name, row[j], "missing value")
        for j, name in watch_number:
            cell = row[j]
            if cell not in nulls and not is_number(cell):
                return Problem(line, name, cell, "not a number")
    return None


def read_table(path: Path, dialect: Dialect, *, columns: Sequence[str], text_columns: Sequence[str],
               missing: Sequence[str], skip_bad: bool, number_columns: Sequence[str] = (), float32: bool = False):
    """Read ``columns`` of ``path`` with pyarrow; ``text_columns`` stay strings, ``number_columns``
    are parsed as floats (if one holds text, the read is repeated with type inference for it).
    Returns (table, skipped rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    skipped = []

    def on_invalid(row) -> str:
        skipped.append(row.text)
        return "skip"

    read = pacsv.ReadOptions(encoding=_codec(dialect.encoding).replace("utf-8-sig", "utf8"),
                             skip_rows=1 if dialect.header else 0, column_names=list(dialect.names),
                             block_size=1 << 22)
    float_type = pa.float32() if float32 else pa.float64()

    def convert(typed: bool) -> pacsv.ConvertOptions:
        types = {name: float_type for name in number_columns} if typed else {}
        return pacsv.ConvertOptions(
            include_columns=list(columns), column_types={**types, **{name: pa.string() for name in text_columns}},
            null_values=list(missing), strings_can_be_null=True, quoted_strings_can_be_null=True,
            true_values=[], false_values=[])  # "true"/"false" stay text: no silent booleans

    def attempt(newlines: bool):
        skipped.clear()
        parse = pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=newlines,
                                   invalid_row_handler=on_invalid if skip_bad else None)
        try:
            return pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert(True))
        except pa.ArrowInvalid as exc:
            if not number_columns or "conversion error" not in str(exc):
                raise
            skipped.clear()
            return pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert(False))

    # Quoted newlines are rare and make pyarrow's block splitting ~20% slower, so they are allowed
    # only on a second try: after a parse error the csv module finds no ragged row, or skip_bad
    # skipped rows that may have been pieces of a quoted multi-line field.
    try:
        try:
            table = attempt(newlines=False)
            if skipped:
                table = attempt(newlines=True)
        except pa.ArrowInvalid:
            if first_problem(path, dialect, check_missing=False) is not None:
                raise
            table = attempt(newlines=True)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        problem = first_problem(path, dialect, check_missing=False)
        if problem is not None:
            raise problem.error(path, hint="{skip_bad=True} skips such rows and counts them") from None
        text = str(exc).splitlines()[0]
        if "UTF" in text or "decode" in text.lower():
            raise InputError(f"not valid {dialect.encoding} text: {text}", path,
                             hint="give the file's encoding with {encoding}") from None
        raise InputError(f"cannot parse: {text}", path) from None
    return table, skipped


def line_of(path: Path, dialect: Dialect, column: str, cells: set[str]) -> Problem | None:
    """The first data row whose ``column`` holds one of ``cells`` (to name a line in an error)."""
    j = dialect.names.index(column)
    for line, row in records(path, dialect):
        if j < len(row) and row[j].strip() in cells or j < len(row) and row[j] in cells:
            return Problem(line, column, row[j], "")
    return None
