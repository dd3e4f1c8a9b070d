"""Verification after a conversion: one flipped byte anywhere in a tensor's data fails it, whether the
byte is flipped in the output or in the (memory-mapped) source, and nothing is left behind."""

from __future__ import annotations

import os
import random

import pytest
import torch
from safetensors.torch import save_file

import tensortool.checkpoint.compare as compare
import tensortool.checkpoint.convert as convert
from tensortool import convert_checkpoint
from tensortool.errors import OutputError


@pytest.fixture(autouse=True)
def _small_windows(monkeypatch):
    """Windows of a few pages, so that a flip lands past the first window of a tensor."""
    monkeypatch.setattr(compare, "WINDOW_BYTES", 3 * 4096)


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    emb = torch.randn(300, 64)  # 76,800 bytes: several windows
    return {"emb": emb, "head": emb, "bias": torch.randn(64), "w": torch.randn(64, 100)}


def _source(tmp_path, kind: str):
    state = _state()
    path = tmp_path / f"src.{kind}"
    if kind == "pth":
        torch.save(state, path)  # a zip checkpoint: loaded memory-mapped
    else:
        save_file({k: v for k, v in state.items() if k != "head"}, path)
    return path, state


def _flip(path, needle: bytes, at: int) -> None:
    """Flip one bit of the byte ``at`` bytes into the first place ``needle`` occurs in the file."""
    data = path.read_bytes()
    start = data.find(needle)
    assert start >= 0, "the tensor's bytes are not in the file"
    with open(path, "r+b") as fh:
        fh.seek(start + at)
        byte = fh.read(1)
        fh.seek(start + at)
        fh.write(bytes([byte[0] ^ 0x10]))


def _refused(tmp_path, src, out, name: str) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OutputError) as err:
        convert_checkpoint(src, out)
    assert "verify failed" in str(err.value) and repr(name) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p for p in before if p != out.name]


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
@pytest.mark.parametrize("at", [0, 40_000, 76_799])
def test_a_byte_flipped_in_the_safetensors_output_fails(tmp_path, monkeypatch, kind, at):
    src, state = _source(tmp_path, kind)
    needle = state["emb"].numpy().tobytes()
    real = convert.write_safetensors

    def flipped(fh, tensors, metadata, cast=None, files=None):
        real(fh, tensors, metadata, cast, files)
        fh.flush()
        _flip(type(src)(fh.name), needle, at)

    monkeypatch.setattr(convert, "write_safetensors", flipped)
    _refused(tmp_path, src, tmp_path / "out.safetensors", "emb")


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_a_byte_flipped_in_the_mapped_source_after_the_copy_fails(tmp_path, monkeypatch, kind):
    """The comparison reads the source file itself, not what was handed to the writer."""
    src, state = _source(tmp_path, kind)
    needle = state["w"].numpy().tobytes()
    real = convert.write_safetensors

    def then_flip_source(fh, tensors, metadata, cast=None, files=None):
        real(fh, tensors, metadata, cast, files)
        _flip(src, needle, 12_345)

    monkeypatch.setattr(convert, "write_safetensors", then_flip_source)
    _refused(tmp_path, src, tmp_path / "out.safetensors", "w")


def test_a_byte_flipped_in_the_pickle_output_fails(tmp_path, monkeypatch):
    src, state = _source(tmp_path, "safetensors")
    needle = state["emb"].numpy().tobytes()
    real_save = torch.save

    def flipped(obj, fh):
        real_save(obj, fh)
        fh.flush()
        _flip(type(src)(fh.name), needle, 50_000)

    monkeypatch.setattr(torch, "save", flipped)
    _refused(tmp_path, src, tmp_path / "out.pt", "emb")


def test_an_unflipped_conversion_verifies(tmp_path):
    for kind in ("pth", "safetensors"):
        src, _ = _source(tmp_path, kind)
        assert convert_checkpoint(src, tmp_path / f"ok-{kind}.safetensors").verified
        assert convert_checkpoint(src, tmp_path / f"ok-{kind}.pt").verified


def test_same_range_agrees_with_comparing_the_bytes(tmp_path):
    rng = random.Random(1)
    a, b = tmp_path / "a", tmp_path / "b"
    data = bytes(rng.randrange(256) for _ in range(100_000))
    a.write_bytes(data)
    b.write_bytes(b"xyz" + data)
    fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
    try:
        with compare.comparing_pool() as pool:
            for i in range(200):
                n = rng.randrange(0, 60_000)
                oa = rng.randrange(0, len(data) - n + 1)
                ob = oa + 3 if rng.random() < 0.5 else rng.randrange(0, len(data) - n + 4)
                expected = data[oa:oa + n] == (b"xyz" + data)[ob:ob + n]
                assert compare.same_range(fa, oa, fb, ob, n, pool if i % 2 else None) == expected, (oa, ob, n)
            assert not compare.same_range(fa, 99_000, fb, 99_003, 2_000, pool)  # past the end of a: never mapped
    finally:
        os.close(fa)
        os.close(fb)


def test_same_range_reads_where_files_cannot_be_mapped(tmp_path, monkeypatch):
    def refuse(*args):
        raise OSError(19, "No such device")

    monkeypatch.setattr(compare._Window, "__init__", refuse)
    (tmp_path / "a").write_bytes(b"\1\2\3" * 10_000)
    (tmp_path / "b").write_bytes(b"\1\2\3" * 9_999 + b"\1\2\4")
    fa, fb = os.open(tmp_path / "a", os.O_RDONLY), os.open(tmp_path / "b", os.O_RDONLY)
    try:
        assert compare.same_range(fa, 0, fb, 0, 29_997)
        assert not compare.same_range(fa, 0, fb, 0, 30_000)
    finally:
        os.close(fa)
        os.close(fb)
