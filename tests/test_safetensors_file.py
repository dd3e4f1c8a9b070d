"""The hand-written safetensors reader/writer against the safetensors library, and every malformed case."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.checkpoint.ckpt_models import odd_tensors
from tensortool.safetensors_file import Mapped, read_header, write_safetensors
from tensortool.errors import InputError


def _raw(path: Path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> Path:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body) if length is None else length) + body + data)
    return path


def test_writer_output_reads_back_with_the_library(tmp_path):
    tensors = {k: v for k, v in odd_tensors().items()}
    out = tmp_path / "x.safetensors"
    with open(out, "wb") as fh:
        write_safetensors(fh, tensors, {"format": "pt", "note": "ünï"})
    with safe_open(str(out), framework="pt") as fh:
        assert fh.metadata() == {"format": "pt", "note": "ünï"}
        assert list(fh.keys()) == sorted(tensors) or set(fh.keys()) == set(tensors)
        for name, t in tensors.items():
            got = fh.get_tensor(name)
            assert got.dtype == t.dtype and got.shape == t.shape
            assert torch.equal(got.contiguous().reshape(-1).view(torch.uint8), t.contiguous().reshape(-1).view(torch.uint8))
    # Header order is the caller's order; data is aligned for every dtype.
    header = read_header(out)
    assert list(header.entries) == list(tensors)
    assert header.data_start % 8 == 0
    for entry in header.entries.values():
        assert entry.begin % entry.dtype.itemsize == 0


def test_reader_reads_library_files_as_views(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int16), "c": torch.randn(2).to(torch.bfloat16)}
    save_file(tensors, tmp_path / "lib.safetensors", metadata={"k": "v"})
    header = read_header(tmp_path / "lib.safetensors")
    assert header.metadata == {"k": "v"}
    mapped = Mapped(header)
    for name, t in tensors.items():
        assert torch.equal(mapped.tensor(name), t)


@pytest.mark.parametrize("case, make, message", [
    ("short", lambda p: p.write_bytes(b"\x01\x02\x03"), "shorter than the 8-byte"),
    ("huge header", lambda p: _raw(p, {}, length=200_000_000), "above the 100,000,000-byte limit"),
    ("past end", lambda p: _raw(p, {}, length=5000), "runs past the end"),
    ("not utf8", lambda p: _raw(p, b"{\"\xff\xfe\": 1}"), "not UTF-8"),
    ("not json", lambda p: _raw(p, b"{this is not json}"), "not JSON"),
    ("not object", lambda p: _raw(p, b"[1, 2]"), "not a JSON object"),
    ("unknown dtype", lambda p: _raw(p, {"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
     "unknown dtype 'F33'"),
    ("overlap", lambda p: _raw(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                   "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
     "overlap"),
    ("gap", lambda p: _raw(p, {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
     "not contiguous"),
    ("size mismatch", lambda p: _raw(p, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
     "needs 12 bytes"),
    ("overflowing shape", lambda p: _raw(p, {"a": {"dtype": "F64", "shape": [2**62, 2**62], "data_offsets": [0, 8]}},
                                         b"\0" * 8), "overflows 64 bits"),
    ("trailing bytes", lambda p: _raw(p, {"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 5),
     "3 trailing bytes"),
    ("truncated", lambda p: _raw(p, {"a": {"dtype": "U8", "shape": [100], "data_offsets": [0, 100]}}, b"\0" * 10),
     "truncated"),
    ("duplicate", lambda p: _raw(p, b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
                                    b'"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}', b"\0\0"),
     "appears twice"),
    ("bad entry", lambda p: _raw(p, {"a": {"dtype": "U8", "shape": [1]}}), "exactly dtype, shape and data_offsets"),
    ("negative shape", lambda p: _raw(p, {"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}),
     "non-negative"),
    ("metadata not strings", lambda p: _raw(p, {"__metadata__": {"a": 1}}), "map names to strings"),
])
def test_malformed_files_name_the_problem(tmp_path, case, make, message):
    path = tmp_path / "bad.safetensors"
    make(path)
    with pytest.raises(InputError) as err:
        read_header(path)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text
