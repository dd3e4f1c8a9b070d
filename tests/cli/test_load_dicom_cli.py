"""`tensortool load-dicom` through Typer's CliRunner, one option at a time, and the entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tests.dicom_writer import phantom, write_localizer, write_series
from tensortool.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "dicom" / "ct"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["load-dicom", *map(str, args)])


@pytest.fixture
def two(tmp_path: Path):
    folder = tmp_path / "two"
    a = write_series(folder, phantom(5, 16, 16, seed=1), series_number=2, prefix="a", description="chest",
                     study_uid="1.2.3")
    b = write_series(folder, phantom(4, 12, 12, seed=2), series_number=3, prefix="b", description="head",
                     study_uid="1.2.3")
    write_localizer(folder, a.series_uid, "1.2.3")
    return folder, a, b


def test_sample_summary_and_output(tmp_path):
    out = tmp_path / "ct.pt"
    r = run(SAMPLE, "-o", out)
    assert r.exit_code == 0, r.output
    assert "1×1×16×64×64" in r.stdout and "spacing_mm [2.5, 0.7, 0.7]" in r.stdout and "value_unit HU" in r.stdout
    saved = torch.load(out, weights_only=True)
    assert saved["volume"].shape == (1, 1, 16, 64, 64) and saved["meta"]["orientation"] == "axial"
    r = run(SAMPLE, "-o", out)
    assert r.exit_code == 1 and "already exists" in r.stderr
    assert run(SAMPLE, "-o", out, "--force").exit_code == 0


def test_list_table_and_json(two):
    folder, a, b = two
    r = run(folder, "--list")
    assert r.exit_code == 0, r.output
    for text in ("chest", "head", "localizer", "axial", "coronal", "2.5,0.7,0.7", "16×16", "3 series, 2 volume"):
        assert text in r.stdout
    assert "SYNTHETIC" not in r.stdout  # patient name and ID are never printed
    doc = json.loads(run(folder, "--list", "--json").stdout)
    assert [s["slices"] for s in doc["series"]] == [5, 1, 4]
    assert "SYNTHETIC" not in json.dumps(doc)


def test_several_series_error_lists_them(two):
    folder, *_ = two
    r = run(folder)
    assert r.exit_code == 1
    assert "2 series could be loaded as volumes" in r.stderr and "--series INDEX" in r.stderr
    assert "chest" in r.stderr and "head" in r.stderr and "Traceback" not in r.output


def test_series_and_all_series(two, tmp_path):
    folder, a, b = two
    r = run(folder, "--series", "2", "--json")
    doc = json.loads(r.stdout)
    assert doc["tensors"]["volume"]["shape"] == [1, 1, 4, 12, 12] and doc["meta"]["series_description"] == "head"
    r = run(folder, "--series", a.series_uid, "--json")
    assert json.loads(r.stdout)["meta"]["series_description"] == "chest"
    out = tmp_path / "all.safetensors"
    r = run(folder, "--all-series", "-o", out)
    assert r.exit_code == 0, r.output
    from safetensors.torch import load_file
    assert sorted(load_file(out)) == ["volume_0", "volume_1"]
    assert run(folder, "--series", "1").exit_code == 1  # a localizer
    assert run(folder, "--series", "9").exit_code == 1


@pytest.mark.parametrize("layout,shape", [("ncdhw", [1, 1, 16, 64, 64]), ("cdhw", [1, 16, 64, 64]),
                                          ("ndhw", [1, 16, 64, 64]), ("dhw", [16, 64, 64])])
def test_layout(layout, shape):
    doc = json.loads(run(SAMPLE, "--layout", layout, "--json").stdout)
    assert doc["tensors"]["volume"]["shape"] == shape and doc["meta"]["layout"] == layout


def test_dtype_raw_window(tmp_path):
    assert json.loads(run(SAMPLE, "--dtype", "float16", "--json").stdout)["tensors"]["volume"]["dtype"] == "float16"
    raw = json.loads(run(SAMPLE, "--raw", "--json").stdout)
    assert raw["tensors"]["volume"]["dtype"] == "int16" and raw["meta"]["rescale"] is None
    hu = json.loads(run(SAMPLE, "--json").stdout)["tensors"]["volume"]
    assert hu["min"] == raw["tensors"]["volume"]["min"] - 1024
    w = json.loads(run(SAMPLE, "--window", "lung", "--json").stdout)
    assert w["tensors"]["volume"]["min"] >= 0 and w["tensors"]["volume"]["max"] <= 1
    assert w["meta"]["window"]["preset"] == "lung"
    assert json.loads(run(SAMPLE, "--window", "40,400", "--json").stdout)["meta"]["window"]["range"] == [-160, 240]
    r = run(SAMPLE, "--window", "nope")
    assert r.exit_code == 2 and "CENTER,WIDTH" in r.stderr and "Usage:" in r.stderr  # a bad option value
    assert run(SAMPLE, "--layout", "xyz").exit_code == 2


def test_order_strict_split_skip_bad_workers(tmp_path):
    doc = json.loads(run(SAMPLE, "--order", "instance", "--workers", "1", "--json").stdout)
    assert doc["meta"]["slice_positions_mm"] == sorted(doc["meta"]["slice_positions_mm"], reverse=True)
    gap = tmp_path / "gap"
    write_series(gap, phantom(6, 16, 16), missing=[2])
    r = run(gap)
    assert r.exit_code == 0 and "warning: uneven slice spacing between slices 1 and 2" in r.stderr
    r = run(gap, "--strict")
    assert r.exit_code == 1 and "expected 2.5 mm, found 5 mm" in r.stderr
    dup = tmp_path / "dup"
    write_series(dup, phantom(4, 16, 16), positions=[0, 0, 2.5, 2.5], temporal=[1, 2, 1, 2])
    r = run(dup)
    assert r.exit_code == 1 and "--split-duplicates" in r.stderr
    assert json.loads(run(dup, "--split-duplicates", "--json").stdout)["tensors"]["volume"]["shape"] == [2, 1, 2, 16, 16]
    bad = tmp_path / "bad"
    w = write_series(bad, phantom(5, 16, 16))
    w.files[1].write_bytes(w.files[1].read_bytes()[:-50])
    r = run(bad)
    assert r.exit_code == 1 and str(w.files[1]) in r.stderr
    r = run(bad, "--skip-bad", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["meta"]["skipped"][0]["file"] == str(w.files[1])


def test_preview_and_quiet(tmp_path):
    png = tmp_path / "ct.png"
    r = run(SAMPLE, "--preview", png, "--window", "abdomen", "-q")
    assert r.exit_code == 0, r.output
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > im.height
    r = run(SAMPLE, "--preview", tmp_path / "ct.jpg")
    assert r.exit_code == 1 and "PNG" in r.stderr


def test_non_dicom_input(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    r = run(tmp_path)
    assert r.exit_code == 1 and "no DICOM images found" in r.stderr


def test_entry_point_subprocess(tmp_path):
    out = tmp_path / "ct.npy"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "tensortool", "load-dicom", str(SAMPLE), "-o", str(out), "--layout", "dhw"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert np.load(out).shape == (16, 64, 64)


def test_all_series_skip_bad_goes_on_past_a_bad_series(tmp_path):
    folder = tmp_path / "d"
    write_series(folder, phantom(4, 16, 16, seed=7), positions=[0, 0, 2.5, 5], series_number=1, study_uid="1.2",
                 prefix="a")
    good = write_series(folder, phantom(5, 16, 16, seed=8), series_number=2, study_uid="1.2", prefix="b")
    out = tmp_path / "v.safetensors"
    r = run(folder, "--all-series", "--skip-bad", "-o", out, "--json")
    assert r.exit_code == 0, r.output
    assert "series 0 skipped" in r.output
    from safetensors.torch import load_file

    assert list(load_file(out)) == ["volume_0"]
    np.testing.assert_array_equal(load_file(out)["volume_0"][0, 0].numpy(), good.hu.astype(np.float32))
