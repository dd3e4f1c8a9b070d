"""`tensortool ckpt inspect|convert` through CliRunner, and the entry point in a subprocess."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tensortool.cli.app import app

runner = CliRunner()


@pytest.fixture
def train(tmp_path):
    torch.manual_seed(0)
    w = torch.randn(8, 4)
    state = {"module.embed.weight": w, "module.head.weight": w, "module.norm.bias": torch.zeros(4)}
    opt = {"state": {0: {"exp_avg": torch.ones(8, 4), "step": torch.tensor(1.0)}},
           "param_groups": [{"lr": 0.01, "params": [0]}]}
    path = tmp_path / "train.pth"
    torch.save({"model": state, "optimizer": opt, "epoch": 2, "args": argparse.Namespace(seed=1)}, path)
    return path


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_inspect_table_and_json(train):
    refused = runner.invoke(app, ["ckpt", "inspect", str(train)])
    assert refused.exit_code == 1 and "argparse.Namespace" in refused.stderr and "Traceback" not in refused.output
    args = ["ckpt", "inspect", str(train), "--allow-global", "argparse.Namespace"]
    table = runner.invoke(app, args + ["--depth", "2"])
    assert table.exit_code == 0
    assert "module.embed.weight = module.head.weight" in table.stdout and "--strip-prefix module." in table.stdout
    doc = _json(runner.invoke(app, args + ["--json", "--tensors", "--stats", "--filter", "embed"]))
    assert doc["count"] == 1 and doc["tensors"][0]["name"] == "module.embed.weight"
    assert doc["tensors"][0]["stats"]["max"] == pytest.approx(torch.load(train, weights_only=False)["model"]
                                                               ["module.embed.weight"].max().item())
    assert doc["other"]["epoch"] == 2 and doc["other"]["optimizer"]["lr"] == [0.01]
    trusted = runner.invoke(app, ["ckpt", "inspect", str(train), "--trust-pickle", "--key", "model", "--json"])
    assert _json(trusted)["count"] == 3 and "trust-pickle" in trusted.stderr


def test_convert_options(train, tmp_path):
    base = ["ckpt", "convert", str(train)]
    allow = ["--allow-global", "argparse.Namespace"]
    out = tmp_path / "m.safetensors"
    doc = _json(runner.invoke(app, base + [str(out), *allow, "--strip-prefix", "module.", "--dtype", "bf16", "--json"]))
    assert doc["verified"] is True and doc["aliases"] == {"head.weight": "embed.weight"}
    assert "optimizer" in doc["left_out"] and doc["dtype"] == "bfloat16"
    assert set(load_file(out)) == {"embed.weight", "norm.bias"}
    again = runner.invoke(app, base + [str(out), *allow])
    assert again.exit_code == 1 and "--force" in again.stderr
    forced = runner.invoke(app, base + [str(out), *allow, "--force", "--include-optimizer", "--no-verify"])
    assert forced.exit_code == 0 and "not verified" in forced.stdout
    assert any(k.startswith("optimizer.") for k in load_file(out))
    shards = tmp_path / "shards"
    sharded = runner.invoke(app, base + [str(shards), *allow, "--max-shard-size", "100B", "--key", "model"])
    assert sharded.exit_code == 0, sharded.output
    assert (shards / "model.safetensors.index.json").exists()
    back = runner.invoke(app, ["ckpt", "convert", str(shards), str(tmp_path / "back.pt")])
    assert back.exit_code == 0 and "tied" in back.stdout
    state = torch.load(tmp_path / "back.pt", weights_only=True)
    assert state["module.head.weight"].data_ptr() == state["module.embed.weight"].data_ptr()
    trusted = runner.invoke(app, base + [str(tmp_path / "t.safetensors"), "--trust-pickle"])
    assert trusted.exit_code == 0


def test_convert_errors_are_one_line(tmp_path, train):
    # Problems with the files exit 1 with one line; bad option values exit 2 with Click's usage message.
    for code, args in ((1, ["ckpt", "convert", str(tmp_path / "missing.pth"), str(tmp_path / "o.safetensors")]),
                       (1, ["ckpt", "convert", str(train), str(tmp_path / "o.txt"), "--allow-global",
                            "argparse.Namespace"]),
                       (2, ["ckpt", "convert", str(train), str(tmp_path / "o.pt"), "--max-shard-size", "1GB"]),
                       (2, ["ckpt", "convert", str(train), str(tmp_path / "o.safetensors"), "--max-shard-size", "lots"])):
        result = runner.invoke(app, args)
        assert result.exit_code == code, args
        assert "Traceback" not in result.output
        if code == 1:
            assert len(result.stderr.strip().splitlines()) == 1
        else:
            assert "Usage:" in result.stderr and "--max-shard-size" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.pth"]


def test_entry_point_in_a_subprocess(tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "w.pth")
    script = Path(sys.executable).with_name("tensortool")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "tensortool"]
    done = subprocess.run(cmd + ["ckpt", "convert", str(tmp_path / "w.pth"), str(tmp_path / "w.safetensors"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verified"] is True
    assert torch.equal(load_file(tmp_path / "w.safetensors")["w"], torch.ones(3))
