"""What every command prints: tables within COLUMNS, plain help, one exit-code rule, honest words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torchvision
from typer.testing import CliRunner

from tests.conftest import ROOT, SAMPLES
from tensortool.bundle import Bundle
from tensortool.cli.app import app
from tensortool.tensorfile import write_bundle

runner = CliRunner()
WINE = SAMPLES / "tables" / "winequality-sample.csv"

# Every table-printing command, run in one child per width (rich reads COLUMNS when it starts).
DRIVER = textwrap.dedent("""
    import json, sys
    from rich.cells import cell_len
    from typer.testing import CliRunner
    from tensortool.cli.app import app
    out = {}
    for args in json.loads(sys.argv[1]):
        result = CliRunner().invoke(app, args)
        # Table lines: every rich table has a rule or border line as wide as the table itself.
        out[" ".join(args[:2])] = [result.exit_code, max(cell_len(l.rstrip()) for l in result.output.splitlines()
                                                         if any(c in l for c in "│┃─━"))]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("term")
    torch.save(torchvision.models.resnet18().state_dict(), tmp / "r18.pth")
    write_bundle(Bundle({"features": torch.randn(20, 150)}, {"layout": "nc"}, "features"), tmp / "t.pt")
    return tmp


@pytest.mark.parametrize("width", [80, 132])
def test_every_table_fits_columns(files, width):
    commands = [["load-csv", str(WINE), "--target", "quality"],
                ["info", str(files / "t.pt")],
                ["stats", str(SAMPLES / "images")],
                ["stats", str(files / "t.pt")],
                ["ckpt", "inspect", str(files / "r18.pth"), "--tensors", "--depth", "2"],
                ["load-dicom", str(SAMPLES / "dicom"), "--list"],
                ["bench", "--device", "cpu", "--size", "32,64x48x4096", "--repeat", "5", "--warmup", "0"]]
    env = {**os.environ, "COLUMNS": str(width), "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=True)
    for command, (code, widest) in json.loads(done.stdout).items():
        assert code == 0, command
        assert widest <= width, f"{command}: {widest} columns in a {width}-column terminal"


@pytest.mark.parametrize("command", [[], ["load-csv"], ["load-image"], ["load-text"], ["load-dicom"], ["stats"],
                                     ["info"], ["bench"], ["ckpt"], ["ckpt", "inspect"], ["ckpt", "convert"]])
def test_help_is_plain(command):
    result = runner.invoke(app, [*command, "--help"], terminal_width=80)
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "╭" not in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())


# One rule: an option value that is wrong before any data is read → exit 2, Click's usage message;
# a problem found in the data → exit 1, one line.
BAD_VALUES = [
    (["load-csv", str(WINE), "--normalize", "foo"], 2, "--normalize"),
    (["load-csv", str(WINE), "--skip-rows", "-1"], 2, "--skip-rows"),
    (["load-csv", str(WINE), "--max-bytes", "5"], 2, "--max-bytes"),
    (["load-csv", str(WINE), "--delimiter", "ab"], 2, "--delimiter"),
    (["load-csv", str(WINE), "--columns", "alcohol", "--drop", "pH"], 2, "--columns and --drop"),
    (["load-csv", str(WINE), "--time-col", "pH"], 2, "--period"),
    (["load-csv", str(WINE), "--target", "nosuch"], 1, "no such column"),
    (["load-image", str(SAMPLES / "images"), "--normalize", "foo"], 2, "--normalize"),
    (["load-image", str(SAMPLES / "images"), "--normalize", "0.5/0"], 2, "std"),
    (["load-image", str(SAMPLES / "images"), "--resize", "abc"], 2, "--resize"),
    (["load-image", str(SAMPLES / "images"), "--dtype", "uint8", "--normalize", "imagenet"], 2, "--normalize"),
    (["load-dicom", str(SAMPLES / "dicom"), "--window", "40"], 2, "--window"),
    (["load-dicom", str(SAMPLES / "dicom"), "--window", "lung", "--raw"], 2, "--window"),
    (["load-dicom", str(SAMPLES / "dicom"), "--series", "0", "--all-series"], 2, "--series"),
    (["stats", str(SAMPLES / "images"), "--shard", "3/2"], 2, "--shard"),
    (["stats", str(SAMPLES / "images"), "--shard", "x"], 2, "--shard"),
    (["bench", "--device", "tpu"], 2, "--device"),
    (["bench", "--dtype", "int4"], 2, "--dtype"),
    (["load-image", str(SAMPLES / "images"), "--center-crop", "0"], 2, "--center-crop"),
    (["bench", "--size", "0"], 2, "--size"),
    (["ckpt", "inspect", "{ckpt}", "--filter", "("], 2, "--filter"),
    (["ckpt", "inspect", "{ckpt}", "--allow-global", "nodots"], 2, "--allow-global"),
    (["ckpt", "convert", "{ckpt}", "{tmp}/o.safetensors", "--max-shard-size", "abc"], 2, "--max-shard-size"),
    (["ckpt", "convert", "{ckpt}", "{tmp}/o.safetensors", "--max-shard-size", "5"], 2, "--max-shard-size"),
    (["ckpt", "convert", "{ckpt}", "{tmp}/o.pt", "--max-shard-size", "1GB"], 2, "--max-shard-size"),
    (["ckpt", "inspect", "{ckpt}", "--key", "nosuch"], 1, "--key"),
    (["load-text", str(SAMPLES / "text"), "--one-hot", "--sparse"], 2, "--one-hot"),
    (["info", "{tmp}/missing.pt"], 1, "missing.pt"),
]


@pytest.mark.parametrize("args, code, words", BAD_VALUES, ids=[" ".join(a[:1] + a[2:4]) for a, _, _ in BAD_VALUES])
def test_exit_codes(tmp_path, args, code, words):
    torch.save({"w": torch.ones(2)}, tmp_path / "c.pth")
    args = [a.format(ckpt=tmp_path / "c.pth", tmp=tmp_path) for a in args]
    if args[0] == "load-text":
        args[1:2] = sorted(str(p) for p in (SAMPLES / "text").glob("*.txt"))[:1]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    if code == 2:
        assert "Usage:" in result.output
    assert not (tmp_path / "o.safetensors").exists() and not list(tmp_path.glob("model-*"))


def test_info_shows_stored_warnings_and_no_output_line(tmp_path):
    write_bundle(Bundle({"x": torch.ones(3)}, {"warnings": ["skipped 2 row(s)"]}, "x"), tmp_path / "w.pt")
    result = runner.invoke(app, ["info", str(tmp_path / "w.pt")])
    assert result.exit_code == 0
    assert "warning:" not in result.output and "stored warning skipped 2 row(s)" in result.output
    assert "no -o" not in result.output and "output" not in result.output.splitlines()[-1]


def test_stats_words_for_a_table(tmp_path):
    write_bundle(Bundle({"features": torch.randn(30, 150)}, {"layout": "nc"}, "features"), tmp_path / "t.pt")
    result = runner.invoke(app, ["stats", str(tmp_path / "t.pt")])
    assert result.exit_code == 0
    assert "images" not in result.output and "pixels" not in result.output
    assert "rows 30" in result.output and "per-column statistics" in result.output
    assert "transforms.Normalize" not in result.output and "134 more columns" in result.output
    doc = json.loads(runner.invoke(app, ["stats", str(tmp_path / "t.pt"), "--json"]).output)
    assert doc["kind"] == "table" and len(doc["mean"]) == 150


def test_stats_still_prints_normalize_for_images():
    result = runner.invoke(app, ["stats", str(SAMPLES / "images")])
    assert result.exit_code == 0 and "transforms.Normalize(mean=[" in result.output and "images" in result.output


def test_ckpt_inspect_counts_buffers_apart(tmp_path):
    model = torchvision.models.resnet18(weights=None)
    torch.save(model.state_dict(), tmp_path / "r.pth")
    result = runner.invoke(app, ["ckpt", "inspect", str(tmp_path / "r.pth")])
    parameters = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert f"parameters {parameters:,}" in result.output and f"buffers {buffers:,}" in result.output
    assert "running_mean" in result.output  # the rule is said
    doc = json.loads(runner.invoke(app, ["ckpt", "inspect", str(tmp_path / "r.pth"), "--json"]).output)
    assert doc["parameters"] == parameters == 11_689_512 and doc["buffers"] == buffers


def test_max_shard_size_without_unit_writes_nothing(tmp_path):
    torch.save({"w": torch.ones(100)}, tmp_path / "c.pth")
    result = runner.invoke(app, ["ckpt", "convert", str(tmp_path / "c.pth"), str(tmp_path / "out"),
                                 "--max-shard-size", "5"])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
