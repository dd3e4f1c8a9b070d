"""Writers (four formats, atomic, no clobbering) and safe readers."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from tensortool import Bundle, InputError, OutputError, read_bundle, write_bundle
from tensortool.tensorfile import atomic_write


@pytest.fixture
def bundle() -> Bundle:
    return Bundle({"images": torch.rand(2, 3, 4, 5), "labels": torch.tensor([0, 1])},
                  {"layout": "nchw", "class_names": ["a", "b"]}, primary="images")


def test_pt_loads_with_weights_only(tmp_path, bundle):
    write_bundle(bundle, tmp_path / "b.pt")
    data = torch.load(tmp_path / "b.pt", weights_only=True)
    assert torch.equal(data["images"], bundle["images"]) and torch.equal(data["labels"], bundle["labels"])
    assert data["meta"] == bundle.meta


def test_safetensors_with_meta_in_header(tmp_path, bundle):
    from safetensors import safe_open
    from safetensors.torch import load_file

    write_bundle(bundle, tmp_path / "b.safetensors")
    data = load_file(tmp_path / "b.safetensors")
    assert torch.equal(data["images"], bundle["images"]) and torch.equal(data["labels"], bundle["labels"])
    with safe_open(str(tmp_path / "b.safetensors"), framework="pt") as fh:
        assert json.loads(fh.metadata()["tensortool"]) == bundle.meta


def test_npy_holds_one_tensor_and_npz_all(tmp_path, bundle):
    write_bundle(Bundle({"images": bundle["images"]}), tmp_path / "b.npy")
    assert np.array_equal(np.load(tmp_path / "b.npy", allow_pickle=False), bundle["images"].numpy())
    write_bundle(bundle, tmp_path / "b.npz")
    with np.load(tmp_path / "b.npz", allow_pickle=False) as npz:
        assert np.array_equal(npz["images"], bundle["images"].numpy())
        assert np.array_equal(npz["labels"], bundle["labels"].numpy())
        assert json.loads(str(npz["meta"])) == bundle.meta


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".npy", ".npz"])
def test_read_bundle_round_trip(tmp_path, bundle, suffix):
    if suffix == ".npy":  # one array: several tensors are refused (tests/test_npy_output.py)
        bundle = Bundle({"images": bundle["images"]}, bundle.meta)
    write_bundle(bundle, tmp_path / f"b{suffix}")
    back = read_bundle(tmp_path / f"b{suffix}")
    if suffix == ".npy":
        assert torch.equal(back["array"], bundle["images"])
    else:
        assert torch.equal(back["images"], bundle["images"]) and back.meta == bundle.meta


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_bfloat16_to_numpy_is_a_clear_error(tmp_path, suffix):
    b = Bundle({"images": torch.zeros(2, dtype=torch.bfloat16)})
    with pytest.raises(OutputError, match="numpy has no bfloat16"):
        write_bundle(b, tmp_path / f"x{suffix}")
    assert os.listdir(tmp_path) == []


def test_existing_output_needs_force(tmp_path, bundle):
    target = tmp_path / "b.pt"
    target.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists"):
        write_bundle(bundle, target)
    assert target.read_bytes() == b"precious"
    write_bundle(bundle, target, force=True)
    assert torch.equal(torch.load(target, weights_only=True)["images"], bundle["images"])


def test_output_that_is_an_input_is_refused_even_with_force(tmp_path, bundle):
    source = tmp_path / "in.npy"
    source.write_bytes(b"input data")
    with pytest.raises(OutputError, match="one of the inputs"):
        write_bundle(bundle, source, force=True, inputs=[source])
    assert source.read_bytes() == b"input data"


def test_failed_write_leaves_nothing(tmp_path):
    def explode(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x.pt", explode)
    assert os.listdir(tmp_path) == []


def test_unknown_suffix(tmp_path, bundle):
    with pytest.raises(OutputError, match="unknown output format"):
        write_bundle(bundle, tmp_path / "b.h5")


def test_missing_folder(tmp_path, bundle):
    with pytest.raises(OutputError, match="does not exist"):
        write_bundle(bundle, tmp_path / "nope" / "b.pt")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.ones(2), "x": _Payload(marker)}, path)
    with pytest.raises(InputError) as info:
        read_bundle(path)
    assert "refusing to unpickle" in str(info.value) and "system" in str(info.value)
    assert not marker.exists()


def test_legacy_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(InputError):
        read_bundle(path)
    assert not marker.exists()


def test_npy_with_objects_is_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled"):
        read_bundle(tmp_path / "o.npy")


def test_git_lfs_pointer_is_named(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    with pytest.raises(InputError, match="Git LFS pointer"):
        read_bundle(path)


def test_user_state_dict_is_flattened(tmp_path):
    torch.save({"model": {"fc.weight": torch.ones(2, 2)}, "epoch": 3}, tmp_path / "ckpt.pt")
    back = read_bundle(tmp_path / "ckpt.pt")
    assert list(back.tensors) == ["model.fc.weight"] and back.meta["other"] == {"epoch": 3}


def test_corrupt_safetensors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(InputError, match="safetensors"):
        read_bundle(tmp_path / "bad.safetensors")
