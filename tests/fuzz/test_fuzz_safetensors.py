"""Property tests: the safetensors header reader, the skeleton reconstruction (convert to .pth,
inspect) and a differential against the safetensors library's own loader."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import torch
from hypothesis import given, strategies as st
from safetensors.torch import load_file

from tests.fuzz.contract import FUZZ, check
from tensortool.checkpoint.convert import convert_checkpoint
from tensortool.checkpoint.inspect import inspect_checkpoint
from tensortool.safetensors_file import read_header
from tensortool.errors import TensortoolError

META = "tensortool.checkpoint"
DTYPES = ["F32", "F16", "BF16", "U8", "I64", "BOOL", "F64", "XX", "F4", ""]
NUMBERS = st.one_of(st.integers(-3, 40), st.integers(-2**65, 2**65), st.just(2**64 - 1), st.just(2**63),
                    st.floats(allow_nan=False, allow_infinity=False, width=16))
JSONISH = st.recursive(st.none() | st.booleans() | NUMBERS | st.text(max_size=6),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                      max_size=3), max_leaves=8)


def _pack(body: bytes, data: bytes) -> bytes:
    return struct.pack("<Q", len(body)) + body + data


@st.composite
def headers(draw) -> bytes:
    """Mostly-valid headers with one field at a time made hostile, plus byte-level mutations."""
    n = draw(st.integers(0, 3))
    header: dict = {}
    data = b""
    for i in range(n):
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        nbytes = 4 * (torch.Size(shape).numel())
        header[draw(st.sampled_from([f"t{i}", "", "a\ud800", "__metadata__x", f"t{i}.w"]))] = {
            "dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + nbytes]}
        data += b"\x01" * nbytes
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.one_of(st.dictionaries(st.text(max_size=4), st.text(max_size=4),
                                                                max_size=2), JSONISH))
    if header and draw(st.booleans()):
        name = draw(st.sampled_from(sorted(header)))
        if name != "__metadata__":
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra"]))
            header[name][field] = draw(st.one_of(JSONISH, st.sampled_from(DTYPES),
                                                 st.lists(NUMBERS, max_size=3)))
    body = json.dumps(header).encode("utf-8", "surrogatepass").replace(b"\xed\xa0\x80", b"\\ud800")
    if draw(st.booleans()):
        body = body.replace(b"]", b"]" * draw(st.integers(1, 2)), 1) if draw(st.booleans()) else \
            b" " * draw(st.integers(0, 2)) + body
    raw = bytearray(_pack(body, data + b"\0" * draw(st.integers(0, 1))))
    for _ in range(draw(st.integers(0, 2))):
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)


@FUZZ
@given(headers())
def test_header_reader_holds_the_contract(data):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "x.safetensors")
        src.write_bytes(data)
        check(lambda: read_header(src))


@FUZZ
@given(headers())
def test_we_refuse_whatever_the_reference_refuses(data):
    """Differential: where safetensors' own loader rejects a file, so do we. (We also refuse some
    files it takes: duplicate names, entries with unknown keys, dtypes this torch lacks.)"""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "x.safetensors")
        src.write_bytes(data)
        try:
            load_file(str(src))
            reference_ok = True
        except Exception:
            reference_ok = False
        ours = check(lambda: read_header(src))
        if not reference_ok:
            assert isinstance(ours, TensortoolError), "the reference refuses this file, we accept it"


ALIAS = st.fixed_dictionaries({"of": st.sampled_from(["w", "v", "nope", 1]), "offset": NUMBERS,
                               "shape": st.lists(NUMBERS, max_size=3), "stride": st.lists(NUMBERS, max_size=3)})
TAGS = ["$tensor", "$dict", "$odict", "$tuple", "$float", "$size", "$dtype", "$device", "$set", "$bytes",
        "$complex", "$namespace", "$other"]
NODES = st.recursive(
    JSONISH | st.builds(lambda t: {"$tensor": t}, st.sampled_from(["w", "v", "a", "missing"])),
    lambda inner: st.builds(lambda tag, value: {tag: value}, st.sampled_from(TAGS),
                            inner | st.lists(st.lists(inner, max_size=2), max_size=2)
                            | st.sampled_from(["cpu", "cuda:x", "float16", "load", "AAAA", "!!", "nan"])),
    max_leaves=10)


@st.composite
def records(draw):
    tree = {"$dict": [["w", {"$tensor": "w"}], ["a", {"$tensor": "a"}], ["x", draw(NODES)]]}
    record = {"version": 1, "tree": tree, "aliases": {"a": draw(ALIAS)}}
    if draw(st.booleans()):
        record = draw(st.one_of(JSONISH, st.just({"tree": draw(NODES)})))
    text = json.dumps(record)
    if draw(st.integers(0, 9)) == 0:
        text = "[" * 3000 + text + "]" * 3000
    return text


@FUZZ
@given(records())
def test_hostile_skeleton_holds_the_contract(text):
    with tempfile.TemporaryDirectory() as tmp:
        from safetensors.torch import save_file
        src = Path(tmp, "x.safetensors")
        save_file({"w": torch.arange(6, dtype=torch.float32), "v": torch.ones(2, 2)}, str(src),
                  metadata={META: text})
        out = Path(tmp, "out.pth")
        result = check(lambda: convert_checkpoint(src, out), outputs=[out])
        if not isinstance(result, TensortoolError):
            # Whatever was written holds only bytes of the source: every tensor is within w or v.
            loaded = torch.load(out, weights_only=True, mmap=True)
            source = set(torch.arange(6, dtype=torch.float32).tolist()) | {1.0}
            stack = [loaded]
            while stack:
                node = stack.pop()
                if isinstance(node, torch.Tensor):
                    assert set(node.reshape(-1).tolist()) <= source
                elif isinstance(node, dict):
                    stack.extend(node.values())
                elif isinstance(node, (list, tuple, set)):
                    stack.extend(node)
        check(lambda: inspect_checkpoint(src))
