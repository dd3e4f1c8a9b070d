"""The plain-numeric CSV parser against pyarrow's and pandas' correctly rounding parsers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import tensortool.sources.table.fast as table_fast
from tensortool import InputError, load_csv
from tensortool.sources.table.read import sniff


@pytest.fixture(autouse=True)
def needs_extension():
    if table_fast._numcsv is None:
        pytest.fail("the C extension tensortool.sources.table._numcsv was not built (no C compiler at install?)")


def fast(path, float32=True):
    dialect = sniff(path)
    names = list(dialect.names)
    return table_fast.read_plain_numeric(path, dialect, columns=names, float32=names if float32 else (),
                                         missing=[""])


def arrow_reference(path, float32=True, header=True) -> np.ndarray:
    """pyarrow's own float parse (fast_float: correctly rounded, straight to float32)."""
    kind = pa.float32() if float32 else pa.float64()
    read = pacsv.ReadOptions(autogenerate_column_names=not header)
    names = pacsv.read_csv(path, read_options=read).column_names
    table = pacsv.read_csv(path, read_options=read, convert_options=pacsv.ConvertOptions(
        column_types={n: kind for n in names}))
    return np.column_stack([c.to_numpy() for c in table.columns])


def as_matrix(table) -> np.ndarray:
    return np.column_stack([c.to_numpy() for c in table.columns])


def write(path, rows: list[list[str]], header=True, newline="\n", delimiter=",", trailing=True) -> None:
    lines = ([delimiter.join(f"c{j}" for j in range(len(rows[0])))] if header else [])
    lines += [delimiter.join(r) for r in rows]
    path.write_bytes((newline.join(lines) + (newline if trailing else "")).encode())


FORMATS = ["%.6g", "%.8f", "%.3e", "%.12f", "%.15g", "%d", "%.1f", "%.4E"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("float32", [True, False])
def test_values_equal_pyarrow_bit_for_bit(tmp_path, fmt, float32):
    rng = np.random.default_rng(len(fmt))
    data = rng.normal(0, 1, (3000, 5)) * 10.0 ** rng.integers(-6, 7, (3000, 5))
    if fmt == "%d":
        data = np.round(data)
    path = tmp_path / "t.csv"
    write(path, [[fmt % v for v in row] for row in data])
    got = as_matrix(fast(path, float32))
    expected = arrow_reference(path, float32)
    assert got.dtype == expected.dtype
    assert np.array_equal(got.view(np.uint32 if float32 else np.uint64),
                          expected.view(np.uint32 if float32 else np.uint64))


def test_float64_equals_python_float(tmp_path):
    rng = np.random.default_rng(7)
    data = rng.normal(0, 1, (2000, 4)) * 10.0 ** rng.integers(-20, 20, (2000, 4))
    rows = [["%.14e" % v for v in row] for row in data] + [["%.9g" % v for v in row] for row in data]
    path = tmp_path / "t.csv"
    write(path, rows)
    got = as_matrix(fast(path, float32=False))
    assert np.array_equal(got, np.array([[float(c) for c in row] for row in rows]))  # correctly rounded


def test_decimals_next_to_float32_midpoints_round_like_a_direct_float32_parse(tmp_path):
    # The one way float32-through-double can differ from a direct float32 parse: a decimal
    # within half a double ulp of a float32 rounding midpoint. Take midpoints and print them
    # short enough for the fast path (<= 15 digits, <= 12 decimals).
    rng = np.random.default_rng(11)
    x = (rng.uniform(1e-3, 1e4, 4000)).astype(np.float32)
    mid = (x.astype(np.float64) + np.nextafter(x, np.float32(np.inf)).astype(np.float64)) / 2
    cells = []
    for m in mid:
        for digits in (7, 9, 11):
            text = f"{m:.{digits}g}"
            if "e" not in text and len(text.split(".")[-1]) <= 12:
                cells.append(text)
    cells = cells[: len(cells) // 3 * 3]
    path = tmp_path / "mid.csv"
    write(path, [cells[i:i + 3] for i in range(0, len(cells), 3)])
    got = as_matrix(fast(path))
    expected = arrow_reference(path)
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_line_endings_blank_lines_and_odd_but_valid_numbers(tmp_path, newline, trailing):
    rows = [["1.", ".5", "-0", "1e3"], ["-1.5E-3", "0.0", "7", "12345678901234"], ["3", "2", "1", "0"]]
    path = tmp_path / "t.csv"
    write(path, rows, newline=newline, trailing=trailing)
    text = path.read_bytes().replace(newline.encode(), (newline * 2).encode(), 1)  # a blank line
    path.write_bytes(text)
    got = as_matrix(fast(path))
    assert np.array_equal(got, arrow_reference(path))
    assert np.signbit(got[0, 2])  # "-0" keeps its sign, as pyarrow's does


def test_threads_split_at_line_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(table_fast, "_PART_BYTES", 1000)
    monkeypatch.setattr(table_fast, "_cores", lambda: 4)
    rng = np.random.default_rng(3)
    data = rng.normal(0, 100, (5000, 3))
    path = tmp_path / "t.csv"
    write(path, [["%.5f" % v for v in row] for row in data])
    split = []
    real_parts = table_fast._parts
    monkeypatch.setattr(table_fast, "_parts", lambda *a: split.extend(real_parts(*a)) or split)
    assert np.array_equal(as_matrix(fast(path)), arrow_reference(path))
    assert len(split) == 4


def test_empty_skipped_cells_cannot_overflow_a_part(tmp_path, monkeypatch):
    # Rows of one short parsed cell and many empty skipped ones: the shortest rows possible.
    monkeypatch.setattr(table_fast, "_PART_BYTES", 100)
    monkeypatch.setattr(table_fast, "_cores", lambda: 3)
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f\n" + "".join(f"{i % 10},,,,,\n" for i in range(600)))
    dialect = sniff(path)
    table = table_fast.read_plain_numeric(path, dialect, columns=["a"], float32=["a"], missing=["", "x"])
    assert table.column("a").to_pylist() == [float(i % 10) for i in range(600)]


@pytest.mark.parametrize("cells", [
    ['"1"', "2"],        # quotes
    ["", "2"],           # a missing cell
    ["NA", "2"],         # a missing marker or text
    ["+1", "2"],         # a plus sign (pyarrow and Python disagree on it)
    [" 1", "2"],         # spaces
    ["1", "2", "3"],     # a ragged row
    ["inf", "nan"],
    ["1e999", "1"],      # overflow: pyarrow decides
    ["0x10", "1"],
])
def test_anything_else_is_left_to_pyarrow_with_the_same_result(tmp_path, cells):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n" + ",".join(cells) + "\n3,4\n")
    assert fast(path) is None


@pytest.mark.parametrize("float32", [True, False])
def test_decimals_past_the_exact_path_round_correctly_too(tmp_path, float32):
    cells = ["0.1234567890123456789", "1.5e-13", "123456789012345678901234", "3.4028235e38",
             "0.30000000000000004", "1.17549435e-38"]
    cells += ["9.99999999e-30", "1e-30"] if float32 else ["9.999999999999999e-300", "2.5e-300"]
    path = tmp_path / "t.csv"
    write(path, [cells[i:i + 2] for i in range(0, len(cells), 2)])
    got = as_matrix(fast(path, float32))
    expected = arrow_reference(path, float32)
    assert np.array_equal(got.view(np.uint32 if float32 else np.uint64),
                          expected.view(np.uint32 if float32 else np.uint64))


def test_load_csv_gives_the_same_bundle_either_way(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    data = rng.normal(0, 1, (500, 4))
    labels = rng.integers(1, 4, 500)
    path = tmp_path / "t.csv"
    write(path, [[*("%.5f" % v for v in row), str(y)] for row, y in zip(data, labels)], delimiter=";")
    for kwargs in ({"target": "c4"}, {"target": "c4", "normalize": "zscore"}, {"drop": ["c1"]},
                   {"target": "c4", "target_kind": "regression", "dtype": "float64"}):
        a = load_csv(path, **kwargs)
        monkeypatch.setattr(table_fast, "_numcsv", None)
        b = load_csv(path, **kwargs)
        monkeypatch.undo()
        assert a.tensors.keys() == b.tensors.keys()
        for name in a.tensors:
            assert a[name].dtype == b[name].dtype and a[name].equal(b[name]), (kwargs, name)
        assert a.meta == b.meta


def test_a_numeric_missing_marker_turns_the_fast_path_off(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n-999,4\n5,6\n")
    bundle = load_csv(path, na=["-999"], missing="mean")
    assert bundle["features"][1, 0].item() == 3.0  # the mean of 1 and 5: -999 was read as missing


@pytest.mark.parametrize("data", [b"a,b\n", b"a,b", b".\x00\n", b"a\r\n"])
def test_a_header_with_no_rows_is_not_a_crash(tmp_path, data):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    dialect = sniff(path)
    if dialect.header:
        assert table_fast.read_plain_numeric(path, dialect, columns=list(dialect.names), float32=(),
                                             missing=[""]) is None
    with pytest.raises(InputError):
        load_csv(path)
