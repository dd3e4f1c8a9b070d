""".npy holds one array: a result of several tensors is refused (pointing to .npz), before any work
where the command can tell; one tensor is written, with a warning that its metadata is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tensortool.bundle import Bundle
from tensortool.cli.app import app
from tensortool.errors import OutputError
from tensortool.tensorfile import write_bundle

runner = CliRunner()


def test_write_bundle_refuses_several_tensors_as_npy(tmp_path):
    bundle = Bundle({"x": torch.ones(2), "labels": torch.zeros(2, dtype=torch.int64)}, {"layout": None}, "x")
    with pytest.raises(OutputError, match=r"\.npz") as err:
        write_bundle(bundle, tmp_path / "x.npy")
    assert "labels" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_write_bundle_one_tensor_npy_warns_that_meta_is_not_stored(tmp_path):
    bundle = Bundle({"x": torch.arange(3.0)}, {"layout": "n", "warnings": []}, "x")
    write_bundle(bundle, tmp_path / "x.npy")
    assert np.load(tmp_path / "x.npy").tolist() == [0.0, 1.0, 2.0]
    assert any(".npz" in w and "metadata" in w for w in bundle.meta["warnings"])
    write_bundle(Bundle({"x": torch.ones(1)}, {}, "x"), tmp_path / "y.npy")  # no meta, nothing to say


def test_load_image_tree_to_npy_is_refused_before_decoding(tree, tmp_path):
    (tree / "a_cat" / "zz_bad.jpg").write_bytes(b"\xff\xd8\xffnot a jpeg")  # decoding would fail on it
    out = tmp_path / "x.npy"
    result = runner.invoke(app, ["load-image", str(tree), "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert ".npz" in result.stderr and "labels" in result.stderr and "zz_bad" not in result.stderr
    assert not out.exists()


def test_load_image_flat_to_npy_writes_and_warns(flat, tmp_path):
    out = tmp_path / "x.npy"
    result = runner.invoke(app, ["load-image", str(flat), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (4, 3, 20, 30)
    assert "warning:" in result.stderr and ".npz" in result.stderr


def test_load_csv_with_targets_to_npy_is_refused(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("a,b,y\n1,2,0\n3,4,1\n")
    out = tmp_path / "t.npy"
    result = runner.invoke(app, ["load-csv", str(src), "--target", "y", "-o", str(out), "-q"])
    assert result.exit_code == 1 and ".npz" in result.stderr, result.output
    assert not out.exists()
