"""Crafted tables: every answer is a result or one clear line, never a crash or a misreading."""

from __future__ import annotations

import numpy as np
import pytest

from tensortool import InputError, OptionError, load_csv


def test_cells_numpy_would_strip_are_their_own_category(tmp_path):
    # numpy's fixed-width strings drop trailing NULs: "\0\0" and "" must not be merged.
    path = tmp_path / "t.csv"
    path.write_bytes(b"c,x\nA,1\n\x00\x00,2\nA\x00,3\n")
    bundle = load_csv(path, categorical=["c"])
    assert bundle.meta["categorical"]["c"] == ["A", "A\x00", "\x00\x00"] or \
        sorted(bundle.meta["categorical"]["c"]) == sorted(["A", "A\x00", "\x00\x00"])
    assert bundle["features"][:, :3].sum(dim=1).tolist() == [1.0, 1.0, 1.0]


def test_names_with_newlines_keep_errors_on_one_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'"a\nb",c\n1,2\n')
    with pytest.raises(OptionError) as info:
        load_csv(path, target="nope")
    assert "\n" not in str(info.value)


def test_unseen_categories_with_newlines_keep_errors_on_one_line(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_bytes(b'c,x\n"p\nq",1\nr,2\n')
    test.write_bytes(b'c,x\n"s\nt",1\n')
    state = load_csv(train, categorical=["c"]).meta["state"]
    with pytest.raises(InputError) as info:
        load_csv(test, state=state)
    assert "\n" not in str(info.value)
    warned = load_csv(test, state=state, unknown="ignore").meta["warnings"]
    assert all("\n" not in w for w in warned)


def test_integers_past_2_53_become_the_nearest_double(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('c,x,y\na,1,11111111111100085\n"b",2,3\n')  # a text column: pyarrow, not the C parser
    bundle = load_csv(path, target="y", dtype="float64", target_kind="regression", categorical=["c"])
    assert bundle["target"].tolist() == [float(11111111111100085), 3.0]


def test_a_field_longer_than_the_readers_blocks_is_one_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n" + b"1" * 20_000_000 + b",2\n")  # pyarrow: "straddles two blocks"
    with pytest.raises(InputError) as info:
        load_csv(path)
    assert "line 3" in str(info.value) and "\n" not in str(info.value)


def test_a_header_wider_than_the_sniffed_block_loads_like_numpy(tmp_path):
    path = tmp_path / "t.csv"
    width = 20_000  # a header of ~128 KB, two sniffing blocks
    rng = np.random.default_rng(0)
    values = rng.integers(-1000, 1000, size=(3, width)).astype(np.float32) / 8
    path.write_text(",".join(f"c{i}" for i in range(width)) + "\n"
                    + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in values))
    bundle = load_csv(path)
    assert bundle.meta["columns"][-1] == f"c{width - 1}"
    np.testing.assert_array_equal(bundle["features"].numpy(), np.loadtxt(path, delimiter=",", skiprows=1,
                                                                          dtype=np.float32))


def test_a_first_line_past_the_header_limit_is_refused(tmp_path, monkeypatch):
    from tensortool.sources.table import read as table_read

    monkeypatch.setattr(table_read, "HEADER_MAX_BYTES", 256 * 1024)
    path = tmp_path / "t.csv"
    path.write_text(",".join(f"c{i}" for i in range(60_000)) + "\n1\n")
    with pytest.raises(InputError) as info:
        load_csv(path)
    assert "line 1" in str(info.value) and "\n" not in str(info.value)