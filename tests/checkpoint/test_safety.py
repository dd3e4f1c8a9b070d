"""Safety: pickles that would run code are refused (and never run), fakes and truncations are named."""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch

from tensortool import convert_checkpoint, inspect_checkpoint
from tensortool.errors import InputError, OptionError


class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(params=["zip", "legacy", "plain pickle"])
def evil(request, tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    obj = {"weight": torch.ones(2), "payload": _Payload(marker)}
    if request.param == "zip":
        torch.save(obj, path)
    elif request.param == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as fh:
            pickle.dump(obj, fh)
    return path, marker


def test_inspect_refuses_code_and_never_runs_it(evil):
    path, marker = evil
    with pytest.raises(InputError) as err:
        inspect_checkpoint(path)
    assert "system" in str(err.value) and "refusing" in str(err.value)
    assert "allow_globals" not in str(err.value)  # never suggest allowing os.system
    assert not marker.exists()


def test_convert_refuses_code_and_writes_nothing(evil, tmp_path):
    path, marker = evil
    out = tmp_path / "out.safetensors"
    with pytest.raises(InputError):
        convert_checkpoint(path, out)
    assert not marker.exists() and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_allowing_the_global_does_not_bypass_the_refusal_of_others(evil):
    path, marker = evil
    with pytest.raises(InputError):
        inspect_checkpoint(path, allow_globals=["argparse.Namespace"])
    assert not marker.exists()


def test_benign_custom_global_is_named_and_can_be_allowed(tmp_path):
    path = tmp_path / "args.pth"
    torch.save({"model": {"w": torch.ones(3)}, "args": argparse.Namespace(lr=0.1, depth=3)}, path)
    with pytest.raises(InputError) as err:
        inspect_checkpoint(path)
    assert "argparse.Namespace" in str(err.value) and "{allow_globals=argparse.Namespace}" in err.value.hint
    info = inspect_checkpoint(path, allow_globals=["argparse.Namespace"])
    assert info.count == 1 and "Namespace" in str(info.other["args"])
    # Carried through a conversion and back, as a Namespace again.
    convert_checkpoint(path, tmp_path / "a.safetensors", allow_globals=["argparse.Namespace"])
    convert_checkpoint(tmp_path / "a.safetensors", tmp_path / "back.pth")
    with torch.serialization.safe_globals([argparse.Namespace]):
        back = torch.load(tmp_path / "back.pth", weights_only=True)
    assert back["args"] == argparse.Namespace(lr=0.1, depth=3)


def test_trust_pickle_loads_what_weights_only_refuses(tmp_path):
    path = tmp_path / "args.pth"
    torch.save({"w": torch.ones(3), "args": argparse.Namespace(lr=0.1)}, path)
    info = inspect_checkpoint(path, trust_pickle=True)
    assert info.count == 1 and any("trust_pickle" in w for w in info.warnings)


def test_unknown_allow_global_is_an_option_error(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"w": torch.ones(1)}, path)
    with pytest.raises(OptionError):
        inspect_checkpoint(path, allow_globals=["nosuchmodule.Thing"])
    with pytest.raises(OptionError):
        inspect_checkpoint(path, allow_globals=["argparse.NoSuchThing"])


@pytest.mark.parametrize("name", ["model.safetensors", "model.pth", "model.bin"])
def test_git_lfs_pointer_is_recognised(tmp_path, name):
    path = tmp_path / name
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 440473133\n")
    for call in (lambda: inspect_checkpoint(path), lambda: convert_checkpoint(path, tmp_path / "o.pt")):
        with pytest.raises(InputError) as err:
            call()
        assert "Git LFS pointer" in str(err.value) and "git lfs pull" in str(err.value)


def test_html_page_is_recognised(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_text("<!DOCTYPE html><html><head><title>Hugging Face</title></head></html>")
    with pytest.raises(InputError) as err:
        inspect_checkpoint(path)
    assert "HTML page" in str(err.value)


@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors"])
def test_truncated_files_fail_clearly_without_output(tmp_path, fmt):
    state = {"a": torch.randn(1000), "b": torch.randn(500)}
    full = tmp_path / ("full.safetensors" if fmt == "safetensors" else "full.pth")
    if fmt == "safetensors":
        from safetensors.torch import save_file
        save_file(state, full)
    else:
        torch.save(state, full, _use_new_zipfile_serialization=fmt == "zip")
    cut = tmp_path / ("cut" + full.suffix)
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / ("out.pt" if fmt == "safetensors" else "out.safetensors")
    with pytest.raises(InputError) as err:
        convert_checkpoint(cut, out)
    assert str(cut) in str(err.value) and "\n" not in str(err.value)
    assert not out.exists()
