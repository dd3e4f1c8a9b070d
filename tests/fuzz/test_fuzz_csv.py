"""load_csv and the C fast path under the hostile-input contract (tests/fuzz/contract.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from tests.fuzz.contract import FUZZ, check, seeds, mutate, mutations
from hypothesis import given
from hypothesis import strategies as st

from tensortool.errors import TensortoolError
from tensortool.sources.table import fast as table_fast
from tensortool.sources.table.load import load_csv
from tensortool.sources.table.read import sniff
from tensortool.tensorfile import write_bundle

SEEDS = [s[:3000] for s in seeds("tables/*.csv")]
SPECIAL = [b"", b",", b";", b"\t", b"\n", b"\r\n", b"\r", b'"', b'""', b"\x00", b"\xef\xbb\xbf", b"\xff\xfe",
           b"nan", b"-inf", b"1e400", b"1e-400", b"99999999999999999999", b"-0", b"0x1p3", b"1_000", b"\xc3\xa9",
           b"\xe2\x80\x94", b"NA", b"true", b" ", b"1e", b".", b"-", b"+1", b"12345678901234567890.5e-3"]

mutation = mutations(SPECIAL, ("flip", "insert", "delete", "truncate", "repeat"))


options = st.fixed_dictionaries({}, optional={
    "target": st.sampled_from(["0", "-1", "1", "quality", "cnt"]),
    "normalize": st.sampled_from(["zscore", "minmax"]),
    "missing": st.sampled_from(["drop", "mean", "median", "zero"]),
    "skip_bad": st.booleans(),
    "header": st.booleans(),
    "delimiter": st.sampled_from([",", ";", "\t", "|"]),
    "dtype": st.sampled_from(["float64", "float16", "bfloat16"]),
    "categorical": st.just(["auto"]),
    "na": st.just(["NA", "?"]),
})


def run(tmp_path, data: bytes, opts: dict, suffix: str = ".pt"):
    src, out = tmp_path / "in.csv", tmp_path / f"out{suffix}"
    src.write_bytes(data)
    out.unlink(missing_ok=True)
    return check(lambda: write_bundle(load_csv(src, **opts), out), outputs=[out])


@FUZZ
@given(seed=st.sampled_from(SEEDS), steps=st.lists(mutation, max_size=6), opts=options)
def test_mutated_sample_tables(tmp_path, seed, steps, opts):
    run(tmp_path, mutate(seed, steps), opts)


cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10 ** 30), 10 ** 30).map(str),
    st.sampled_from(["", "NA", "nan", "inf", "-0.0", "1e400", "1e-400", " 1", "1 ", "a,b", 'say "hi"', "x\ny",
                     "é", "\x00", "\ufeff", "—"]),
    st.text(max_size=8),
)


@st.composite
def tables(draw):
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 6))
    rows = draw(st.lists(st.lists(cell, min_size=width if draw(st.booleans()) else 0, max_size=width + 2),
                         min_size=0, max_size=12))
    header = [f"c{j}" for j in range(width)] if draw(st.booleans()) else []

    def quote(text: str) -> str:
        needs = any(ch in text for ch in (delimiter, '"', "\n", "\r")) or draw(st.booleans()) and text
        return '"' + text.replace('"', '""') + '"' if needs else text

    lines = [delimiter.join(map(quote, row)) for row in ([header] if header else []) + rows]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    return data, ("utf-8" if encoding == "utf-8-sig" else encoding)


@FUZZ
@given(table=tables(), opts=options)
def test_structured_tables(tmp_path, table, opts):
    data, encoding = table
    run(tmp_path, data, {**opts, "encoding": encoding}, suffix=".safetensors")


number = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64),
                   st.floats(allow_nan=False, allow_infinity=False, width=32),
                   st.integers(-(10 ** 20), 10 ** 20))
formats = st.sampled_from(["{!r}", "{:.6g}", "{:.3e}", "{:.20g}", "{:.1f}", "{:E}"])


@FUZZ
@given(rows=st.lists(st.lists(number, min_size=3, max_size=3), min_size=1, max_size=20), fmt=formats,
       float32=st.booleans(), header=st.booleans(), newline=st.sampled_from(["\n", "\r\n"]),
       delimiter=st.sampled_from([",", ";", "\t", "|"]))
def test_fast_path_equals_pyarrow_bit_for_bit(tmp_path, rows, fmt, float32, header, newline, delimiter):
    if table_fast._numcsv is None:
        pytest.fail("the C extension tensortool.sources.table._numcsv was not built")
    path = tmp_path / "plain.csv"
    lines = ([delimiter.join(["a", "b", "c"])] if header else []) + [
        delimiter.join(fmt.format(float(v) if isinstance(v, float) else v) for v in row) for row in rows]
    path.write_text(newline.join(lines) + newline)
    dialect = check(lambda: sniff(path, delimiter=delimiter, header=header))
    if isinstance(dialect, TensortoolError):
        return
    names = list(dialect.names)
    f32 = names[::2] if float32 else []
    got = check(lambda: table_fast.read_plain_numeric(path, dialect, columns=names, float32=f32, missing=[""]))
    if got is None:
        return
    types = {n: pa.float32() if n in f32 else pa.float64() for n in names}
    ref = pacsv.read_csv(path, read_options=pacsv.ReadOptions(skip_rows=int(header), column_names=names),
                         parse_options=pacsv.ParseOptions(delimiter=delimiter),
                         convert_options=pacsv.ConvertOptions(column_types=types))
    assert got.num_rows == ref.num_rows == len(rows)
    for n in names:
        assert got.column(n).to_numpy().tobytes() == ref.column(n).to_numpy().tobytes(), n


@FUZZ
@given(data=st.binary(max_size=300), kinds=st.binary(max_size=6), delimiter=st.integers(-2, 300),
       capacity=st.integers(-1, 30), first_row=st.integers(-1, 30), max_rows=st.integers(-1, 30),
       short=st.integers(0, 9), start=st.integers(-2, 10), back=st.integers(-2, 10))
def test_c_parser_arguments(data, kinds, delimiter, capacity, first_row, max_rows, short, start, back):
    """Any arguments: rows, a refusal (negative), or a ValueError, and nothing written past ``out``."""
    if table_fast._numcsv is None:
        pytest.fail("the C extension tensortool.sources.table._numcsv was not built")
    kinds = bytes(k % 10 for k in kinds)
    need = sum(kinds) * max(capacity, 0)
    guard = 64
    buffer = np.full(max(0, need - short) + guard, 0xAB, np.uint8)
    out = buffer[:max(0, need - short)]
    try:
        rows = table_fast._numcsv.parse(data, start, len(data) - back, delimiter, kinds, out, capacity,
                                        first_row, max_rows)
    except (ValueError, OverflowError):
        return
    assert rows < 0 or rows <= max_rows
    assert (buffer[len(out):] == 0xAB).all(), "wrote past the output buffer"

