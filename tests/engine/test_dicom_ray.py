"""load-dicom --each-series on a local Ray cluster: one series per task, the same files and
manifest as the local run, byte for byte; after a killed worker too; failures reported alike."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from tests.dicom_writer import write_export_tree
from tests.engine.test_engines import KillOnce
from tests.sharded.helpers import folder_bytes
from tensortool.cli.app import app
from tensortool.sources.dicom.export import convert_dicom_tree

runner = CliRunner()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom") / "tree"
    return root, write_export_tree(root, series=3)


@pytest.fixture(scope="module")
def local_out(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    convert_dicom_tree(tree[0], out, workers=1)
    return out


def test_the_series_files_are_byte_identical_to_the_local_run(ray_cluster, tree, local_out, tmp_path):
    result = convert_dicom_tree(tree[0], tmp_path / "out", engine="ray")
    assert folder_bytes(tmp_path / "out") == folder_bytes(local_out)
    assert result.converted == 3 and len(result.failed) == 1 and "999" in str(result.failed[0]["series_number"])
    entry = next(e for e in result.series if e["status"] == "converted" and e["series_number"] == 2)
    files = sorted(tree[0].glob("study/s002/*"))
    slices = sorted((pydicom.dcmread(f) for f in files), key=lambda ds: float(ds.ImagePositionPatient[2]))
    expected = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])
    volume = load_file(str(tmp_path / "out" / entry["file"]))["volume"]  # safetensors' own loader
    assert np.allclose(volume[0, 0], expected, atol=1e-4)


def test_a_killed_worker_leaves_the_same_files(ray_cluster, tree, local_out, tmp_path):
    convert_dicom_tree(tree[0], tmp_path / "out", engine=KillOnce(tmp_path / "killed"))
    assert (tmp_path / "killed").exists()
    assert folder_bytes(tmp_path / "out") == folder_bytes(local_out)


def test_cli_ray_reports_as_the_local_run(ray_cluster, tree, tmp_path):
    local = runner.invoke(app, ["load-dicom", str(tree[0]), "--each-series", "-o", f"{tmp_path / 'l'}/", "--json"])
    on_ray = runner.invoke(app, ["load-dicom", str(tree[0]), "--each-series", "-o", f"{tmp_path / 'r'}/", "--ray",
                                 "--json"])
    assert local.exit_code == on_ray.exit_code == 1  # the uneven series fails in both
    assert on_ray.stderr == local.stderr and "SeriesNumber 999" in on_ray.stderr
    assert json.loads(on_ray.stdout)["series"] == json.loads(local.stdout)["series"]
    assert folder_bytes(tmp_path / "l") == folder_bytes(tmp_path / "r")


def test_ray_needs_each_series(tree, tmp_path):
    result = runner.invoke(app, ["load-dicom", str(tree[0]), "-o", str(tmp_path / "v.pt"), "--ray"])
    assert result.exit_code == 2 and "--ray needs --each-series" in result.stderr
