"""`tensortool load-text` through CliRunner: every option reaches the library; errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import ROOT, SAMPLES
from tensortool import load_text
from tensortool.cli.app import app

runner = CliRunner()
PRIDE = SAMPLES / "text" / "pride-and-prejudice-ch1.txt"


def run(*args: str):
    return runner.invoke(app, ["load-text", *map(str, args)])


def test_default_summary_and_pt_output(tmp_path):
    result = run(PRIDE, "-o", tmp_path / "t.pt")
    assert result.exit_code == 0, result.stderr
    assert "tokens" in result.stdout and "vocab_size" in result.stdout
    saved = torch.load(tmp_path / "t.pt", weights_only=True)
    ref = load_text(PRIDE)
    for name in ("tokens", "lengths", "mask"):
        assert torch.equal(saved[name], ref[name])
    assert saved["meta"]["vocab"]["tokens"] == ref.meta["vocab"]["tokens"]


def test_options_reach_the_library(tmp_path):
    result = run(PRIDE, "--level", "char", "--charset", "corpus", "--no-lower", "--unit", "paragraph",
                 "--min-freq", "2", "--max-vocab", "30", "--max-len", "50", "--encoding", "utf-8",
                 "--errors", "replace", "--save-vocab", tmp_path / "v.json", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    ref = load_text(PRIDE, level="char", charset="corpus", lower=False, unit="paragraph", min_freq=2, max_vocab=30,
                    max_len=50)
    assert doc["meta"]["vocab"] == ref.meta["vocab"] and doc["tensors"]["tokens"]["shape"] == list(ref["tokens"].shape)
    assert json.loads((tmp_path / "v.json").read_text())["tokens"] == ref.meta["vocab"]["tokens"]
    again = json.loads(run(PRIDE, "--level", "char", "--unit", "paragraph", "--vocab", tmp_path / "v.json",
                           "--max-len", "50", "--json").stdout)
    assert again["tensors"]["tokens"] == doc["tensors"]["tokens"]
    words = json.loads(run(PRIDE, "--no-strip-punct", "--json").stdout)
    assert "bennet," in words["meta"]["vocab"]["tokens"]


def test_one_hot_memory_first_and_refusal(tmp_path):
    result = run(PRIDE, "--level", "char", "--charset", "ascii", "--one-hot", "--json")
    assert result.exit_code == 0 and "dense one-hot" in result.stderr
    assert json.loads(result.stdout)["tensors"]["onehot"]["shape"][2] == 128
    result = run(PRIDE, "--one-hot", "--max-bytes", "1000000", "-o", tmp_path / "o.pt")
    assert result.exit_code == 1 and "above --max-bytes" in result.stderr and "nn.Embedding" in result.stderr
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
def test_sparse_only_to_pt(tmp_path):
    result = run(PRIDE, "--sparse", "-o", tmp_path / "s.safetensors")
    assert result.exit_code == 1 and "sparse tensors can only be written to .pt" in result.stderr
    result = run(PRIDE, "--sparse", "-o", tmp_path / "s.pt")
    assert result.exit_code == 0, result.stderr
    onehot = torch.load(tmp_path / "s.pt", weights_only=True)["onehot"]
    assert onehot.is_sparse and torch.equal(onehot.to_dense(), load_text(PRIDE, one_hot=True)["onehot"])


def test_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff\xfe")
    for args in ([tmp_path / "none.txt"], [bad]):
        result = run(*args)
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert run(PRIDE, "--one-hot", "--sparse").exit_code == 2  # options that do not go together: usage
    assert "byte offset 3" in run(bad).stderr
    assert run(PRIDE, "--level", "sentence").exit_code == 2


def test_entry_point_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tensortool", "load-text", str(PRIDE), "--unit", "paragraph",
                           "-o", str(tmp_path / "t.safetensors"), "--json"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tensors"]["lengths"]["dtype"] == "int64"
