"""`tensortool info`, and the installed entry point in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from tests.conftest import PHOTOS, ROOT
from tensortool.cli.app import app

runner = CliRunner()


def test_info_lists_tensors_and_meta(tmp_path):
    out = tmp_path / "b.safetensors"
    assert runner.invoke(app, ["load-image", str(PHOTOS), "-o", str(out)]).exit_code == 0
    result = runner.invoke(app, ["info", str(out)])
    assert result.exit_code == 0
    for words in ("images", "labels", "9×3×192×256", "class_names", "cat"):
        assert words in result.stdout
    doc = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    assert doc["tensors"]["labels"]["dtype"] == "int64" and doc["tensors"]["images"]["bytes"] == 9 * 3 * 192 * 256 * 4
    assert doc["meta"]["layout"] == "nchw"


def test_info_numpy(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.int16).reshape(2, 3))
    doc = json.loads(runner.invoke(app, ["info", str(tmp_path / "a.npy"), "--json"]).stdout)
    assert doc["tensors"]["array"] == {"shape": [2, 3], "dtype": "int16", "bytes": 12,
                                       "min": 0.0, "max": 5.0, "mean": 2.5}


def test_info_refuses_pickle_payload(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    result = runner.invoke(app, ["info", str(tmp_path / "evil.pt")])
    assert result.exit_code == 1 and "refusing to unpickle" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_info_missing_file():
    result = runner.invoke(app, ["info", "/nonexistent.pt"])
    assert result.exit_code == 1 and "/nonexistent.pt: no such file" in result.stderr


def _tensortool() -> list[str]:
    script = Path(sys.executable).with_name("tensortool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tensortool"]


def test_entry_point_end_to_end(tmp_path):
    out = tmp_path / "batch.pt"
    done = subprocess.run(_tensortool() + ["load-image", str(PHOTOS), "-o", str(out), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == str(out)
    assert torch.load(out, weights_only=True)["images"].shape == (9, 3, 192, 256)
    bad = subprocess.run(_tensortool() + ["load-image", "/nonexistent"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_python_dash_m_version():
    done = subprocess.run([sys.executable, "-m", "tensortool", "--version"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("tensortool ")
