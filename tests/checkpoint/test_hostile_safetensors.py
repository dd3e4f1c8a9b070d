"""Crafted .safetensors files: hostile headers and hostile tensortool skeleton metadata.

Every one must give an ``InputError`` naming the file (and the key), write nothing, and never put
bytes into an output that were not in the source file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tensortool import convert_checkpoint, inspect_checkpoint
from tensortool.checkpoint import convert as convert_module
from tensortool.safetensors_file import read_header
from tensortool.errors import InputError, OutputError
from tensortool.tensorfile import read_bundle

META = "tensortool.checkpoint"


def crafted(path: Path, record: object, tensors: dict[str, torch.Tensor] | None = None,
            extra_meta: dict | None = None) -> Path:
    """A valid safetensors file whose skeleton record is ``record`` (a dict, or raw JSON text)."""
    tensors = {"w": torch.arange(4, dtype=torch.float32)} if tensors is None else tensors
    meta = {META: record if isinstance(record, str) else json.dumps(record), **(extra_meta or {})}
    save_file(tensors, str(path), metadata=meta)
    return path


def raw(path: Path, header: dict | bytes, data: bytes = b"") -> Path:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body)) + body + data)
    return path


TREE = {"$dict": [["w", {"$tensor": "w"}], ["a", {"$tensor": "a"}]]}


def alias(**info):
    base = {"of": "w", "offset": 0, "shape": [4], "stride": [1]}
    base.update(info)
    return {"tree": TREE, "aliases": {"a": base}}


def with_entry(node):
    return {"tree": {"$dict": [["w", {"$tensor": "w"}], ["x", node]]}}


HOSTILE_RECORDS = {
    "alias larger than its tensor": alias(shape=[1_000_000]),
    "alias past the end": alias(offset=3, shape=[2]),
    "alias with a negative offset": alias(offset=-20, shape=[20]),
    "alias with a negative stride": alias(offset=3, stride=[-1]),
    "alias with a zero stride": alias(shape=[10**12], stride=[0]),
    "alias overlapping itself": alias(shape=[4, 4], stride=[1, 1]),
    "alias stride and shape lengths differ": alias(shape=[2, 2], stride=[1]),
    "alias of a missing tensor": alias(of="nope"),
    "alias with a float offset": alias(offset=1.5),
    "alias with a bool in its shape": alias(shape=[True]),
    "alias with a string stride": alias(stride=["1"]),
    "alias with extra keys": alias(dtype="F64"),
    "alias not an object": {"tree": TREE, "aliases": {"a": [1]}},
    "aliases not an object": {"tree": TREE, "aliases": [1]},
    "alias hides a stored tensor": {"tree": TREE, "aliases": {"w": {"of": "w", "offset": 0, "shape": [4], "stride": [1]}}},
    "alias of an alias": {"tree": TREE, "aliases": {"a": {"of": "b", "offset": 0, "shape": [1], "stride": [1]},
                                                    "b": {"of": "w", "offset": 0, "shape": [2], "stride": [1]}}},
    "alias with a huge shape": alias(shape=[2**62, 2**62, 0], stride=[1, 1, 1]),
    "bad device": with_entry({"$device": "quantum:7"}),
    "device not text": with_entry({"$device": [1]}),
    "dtype naming a function": with_entry({"$dtype": "load"}),
    "dtype not text": with_entry({"$dtype": 5}),
    "size too large": with_entry({"$size": [2**70]}),
    "size negative": with_entry({"$size": [-1]}),
    "size of text": with_entry({"$size": "abc"}),
    "bytes not base64": with_entry({"$bytes": "!!!"}),
    "bytes not text": with_entry({"$bytes": 7}),
    "complex of text": with_entry({"$complex": "ab"}),
    "complex of three": with_entry({"$complex": [1, 2, 3]}),
    "float of garbage": with_entry({"$float": "abc"}),
    "float of a list": with_entry({"$float": [1]}),
    "set of lists": with_entry({"$set": [[1], [2]]}),
    "set not a list": with_entry({"$set": 3}),
    "namespace of a list": with_entry({"$namespace": [1]}),
    "namespace with int keys": with_entry({"$namespace": {"$dict": [[1, 2]]}}),
    "dict of non-pairs": with_entry({"$dict": [1, 2]}),
    "dict with list keys": with_entry({"$dict": [[[1], 2]]}),
    "dict not a list": with_entry({"$dict": 5}),
    "tuple not a list": with_entry({"$tuple": 5}),
    "unknown tag": with_entry({"$evil": 1}),
    "two tags": with_entry({"$tuple": [], "$set": []}),
    "empty object": with_entry({}),
    "missing tensor": with_entry({"$tensor": "missing"}),
    "tensor name not text": with_entry({"$tensor": [1]}),
    "no tree": {"aliases": {}},
    "record not an object": [1, 2],
    "record a number": 5,
    "deep nesting": '{"tree": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "deep tags": json.dumps({"tree": _deep}) if (_deep := None) else
        '{"tree": ' + '{"$tuple": [' * 5000 + "]}" * 5000 + "}",
    "5000-digit integer": '{"tree": {"$dict": [["w", {"$tensor": "w"}], ["e", ' + "1" * 5000 + "]]}}",
    "not JSON": "{tree",
}


@pytest.mark.parametrize("case", list(HOSTILE_RECORDS))
def test_hostile_skeleton_is_an_input_error_and_writes_nothing(tmp_path, case):
    src = crafted(tmp_path / "in.safetensors", HOSTILE_RECORDS[case])
    for out in (tmp_path / "out.pth", tmp_path / "out2.safetensors"):
        with pytest.raises(InputError) as err:
            convert_checkpoint(src, out)
        assert str(src) in str(err.value) and "\n" not in str(err.value)
        assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(InputError):
        inspect_checkpoint(src)


def test_alias_errors_name_the_alias(tmp_path):
    src = crafted(tmp_path / "in.safetensors", alias(shape=[1_000_000]))
    with pytest.raises(InputError, match="'a'"):
        convert_checkpoint(src, tmp_path / "out.pth")


def test_valid_aliases_still_round_trip(tmp_path):
    """Aliases that stay inside their tensor: a tie, a slice, a transpose and a broadcast that is
    no larger than what it views."""
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    ckpt = {"w": w, "tie": w, "row": w[1], "t": w.t(), "b": w[0:1].expand(3, 4)}
    torch.save(ckpt, tmp_path / "src.pth")
    convert_checkpoint(tmp_path / "src.pth", tmp_path / "mid.safetensors")
    result = convert_checkpoint(tmp_path / "mid.safetensors", tmp_path / "back.pth")
    assert result.verified
    back = torch.load(tmp_path / "back.pth", weights_only=True)
    for k, v in ckpt.items():
        assert torch.equal(back[k], v), k
    assert back["tie"].data_ptr() == back["w"].data_ptr()


def test_broadcast_larger_than_its_base_is_stored_as_a_copy(tmp_path):
    w = torch.arange(4, dtype=torch.float32)
    ckpt = {"w": w, "big": w[:1].expand(1000)}
    torch.save(ckpt, tmp_path / "src.pth")
    result = convert_checkpoint(tmp_path / "src.pth", tmp_path / "mid.safetensors")
    assert "big" not in result.aliases
    convert_checkpoint(tmp_path / "mid.safetensors", tmp_path / "back.pth")
    back = torch.load(tmp_path / "back.pth", weights_only=True)
    assert torch.equal(back["big"], ckpt["big"])


def test_verify_compares_aliases_with_the_source_file(tmp_path, monkeypatch):
    """A wrong reconstruction must fail verify: the expected bytes come from the source file."""
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    torch.save({"w": w, "t": w.t(), "tie": w}, tmp_path / "src.pth")
    convert_checkpoint(tmp_path / "src.pth", tmp_path / "mid.safetensors")
    real = convert_module.restore_named

    def wrong(tensors, aliases):  # the tree to be saved gets wrong bytes in every alias
        named = real(tensors, aliases)
        return {n: t.clone().fill_(7) if n in aliases else t for n, t in named.items()}

    monkeypatch.setattr(convert_module, "restore_named", wrong)
    with pytest.raises(OutputError, match="verify failed"):
        convert_checkpoint(tmp_path / "mid.safetensors", tmp_path / "back.pth")
    assert not (tmp_path / "back.pth").exists()


E = {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}

HOSTILE_HEADERS = {
    "deeply nested": (b'{"__metadata__": {"k": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", b""),
    "5000-digit shape": (b'{"a": {"dtype": "U8", "shape": [' + b"1" * 5000 + b'], "data_offsets": [0, 1]}}', b"\0"),
    "5000-digit offset": (b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, ' + b"1" * 5000 + b"]}}", b"\0"),
    "lone surrogate name": (b'{"a\\ud800": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"),
    "lone surrogate metadata": (b'{"__metadata__": {"k": "\\udc00"}, "a": {"dtype": "U8", "shape": [1], '
                                b'"data_offsets": [0, 1]}}', b"\0"),
    "metadata 0": ({"__metadata__": 0, "a": E}, b"\0"),
    "metadata false": ({"__metadata__": False, "a": E}, b"\0"),
    "metadata empty text": ({"__metadata__": "", "a": E}, b"\0"),
    "metadata list": ({"__metadata__": [], "a": E}, b"\0"),
    "shape product overflows before a zero": ({"a": {"dtype": "U8", "shape": [2**62, 2**62, 0],
                                                     "data_offsets": [0, 0]}}, b""),
    "shape dimension past int64": ({"a": {"dtype": "U8", "shape": [2**63, 0], "data_offsets": [0, 0]}}, b""),
    "NaN in shape": (b'{"a": {"dtype": "U8", "shape": [NaN], "data_offsets": [0, 1]}}', b"\0"),
    "trailing NUL": (b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}\0', b"\0"),
}


@pytest.mark.parametrize("case", list(HOSTILE_HEADERS))
def test_hostile_headers_are_input_errors(tmp_path, case):
    header, data = HOSTILE_HEADERS[case]
    path = raw(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(Exception):
        load_file(str(path))  # the reference rejects each of these too
    with pytest.raises(InputError) as err:
        read_header(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError):
        convert_checkpoint(path, tmp_path / "out.pth")
    with pytest.raises(InputError):
        read_bundle(path)
    assert not (tmp_path / "out.pth").exists()


def test_metadata_null_is_accepted_as_the_reference_does(tmp_path):
    path = raw(tmp_path / "ok.safetensors", {"__metadata__": None, "a": E}, b"\0")
    load_file(str(path))
    assert read_header(path).metadata == {}


def test_bundle_metadata_that_is_not_an_object_is_an_input_error(tmp_path):
    path = tmp_path / "b.safetensors"
    save_file({"x": torch.ones(2)}, str(path), metadata={"tensortool": "[1]", "other": "v"})
    with pytest.raises(InputError):
        read_bundle(path)
    save_file({"x": torch.ones(2)}, str(path), metadata={"tensortool": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(InputError):
        read_bundle(path)


def test_twenty_thousand_tensors_convert_to_pth(tmp_path):
    n = 20_000
    tensors = {f"layer{i}.w": torch.full((2,), float(i)) for i in range(n)}
    save_file(tensors, str(tmp_path / "many.safetensors"))
    result = convert_checkpoint(tmp_path / "many.safetensors", tmp_path / "many.pth")
    assert result.verified and result.tensors == n
    back = torch.load(tmp_path / "many.pth", weights_only=True, mmap=True)
    assert len(back) == n and torch.equal(back["layer19999.w"], torch.full((2,), 19999.0))


@pytest.mark.parametrize("shape, want", [([1], [2.0]), ([0], [])])
def test_tiny_alias_with_an_odd_stride_round_trips(tmp_path, shape, want):
    """Found by fuzzing: a view of zero or one element may carry any stride; verify compares its bytes."""
    src = crafted(tmp_path / "in.safetensors", alias(offset=2, shape=shape, stride=[9]))
    result = convert_checkpoint(src, tmp_path / "out.pth")
    assert result.verified
    assert torch.load(tmp_path / "out.pth", weights_only=True)["a"].tolist() == want
