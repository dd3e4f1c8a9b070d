"""`tensortool load-csv` through CliRunner: every option reaches the library; errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.conftest import ROOT, SAMPLES
from tensortool import load_csv
from tensortool.cli.app import app

runner = CliRunner()
WINE = SAMPLES / "tables" / "winequality-sample.csv"
BIKE = SAMPLES / "tables" / "bike-hourly.csv"


def run(*args: str):
    return runner.invoke(app, ["load-csv", *map(str, args)])


def test_wine_summary_and_outputs(tmp_path):
    result = run(WINE, "--target", "quality", "--one-hot", "--normalize", "zscore", "-o", tmp_path / "w.pt")
    assert result.exit_code == 0, result.stderr
    assert "target_kind class" in result.stdout and "auto: integer values" in result.stdout
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    ref = load_csv(WINE, target="quality", one_hot=True, normalize="zscore")
    for name in ("features", "target", "target_onehot"):
        assert torch.equal(saved[name], ref[name])
    assert run(WINE, "--target", "quality", "-o", tmp_path / "w.pt").exit_code == 1  # exists, no --force
    assert run(WINE, "--target", "quality", "-o", tmp_path / "w.safetensors").exit_code == 0
    assert load_file(tmp_path / "w.safetensors")["features"].shape == (300, 11)


def test_json_and_options_reach_the_library(tmp_path):
    result = run(WINE, "--target", "11", "--drop", "pH,density", "--columns", "alcohol", "--columns", "pH",
                 "--normalize", "minmax", "--dtype", "float64", "--target-kind", "regression", "--json")
    assert result.exit_code == 2 and "--columns and --drop: give one" in result.stderr
    result = run(WINE, "--target", "11", "--columns", "alcohol", "--columns", "pH", "--normalize", "zscore",
                 "--unbiased", "--dtype", "float64", "--target-kind", "regression", "--delimiter", ";", "--header",
                 "--encoding", "utf-8", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    ref = load_csv(WINE, target=11, columns=["alcohol", "pH"], normalize="zscore", unbiased=True, dtype="float64",
                   target_kind="regression")
    assert doc["meta"]["columns"] == ["alcohol", "pH"] and doc["meta"]["normalize"] == ref.meta["normalize"]
    assert doc["tensors"]["features"]["dtype"] == "float64" and doc["meta"]["target_kind"] == "regression"
    assert doc["tensors"]["features"]["channel_mean"] == pytest.approx([0, 0], abs=1e-12)


def test_categorical_missing_na_skip_bad(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,c,y\n1,a,0\n2,NA,1\nbad row\n4,b,1\n5,a,0\n,b,1\n")
    result = run(path, "--target", "y", "--categorical", "c")
    assert result.exit_code == 1 and "line 4: expected 3 fields" in result.stderr
    result = run(path, "--target", "y", "--categorical", "auto", "--skip-bad", "--json")
    assert result.exit_code == 1 and "line 7, column 'x': missing value" in result.stderr
    result = run(path, "--target", "y", "--categorical", "c", "--skip-bad", "--na", "NA", "--missing", "zero", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["meta"]["columns"] == ["x", "c=a", "c=b"] and doc["meta"]["skipped_rows"] == 1
    assert doc["tensors"]["features"]["shape"] == [5, 3] and doc["meta"]["missing"]["cells"] == 2


def test_state_round_trip_and_unknown(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("x,c,y\n1,a,3\n2,b,4\n3,a,3\n")
    test.write_text("x,c,y\n5,z,4\n6,a,3\n")
    assert run(train, "--target", "y", "--categorical", "c", "--normalize", "zscore",
               "--save-state", tmp_path / "s.json").exit_code == 0
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["target"]["classes"] == [3, 4] and state["features"][0]["center"] == 2.0
    result = run(test, "--state", tmp_path / "s.json")
    assert result.exit_code == 1 and "line 2, column 'c': category 'z' was not seen" in result.stderr
    result = run(test, "--state", tmp_path / "s.json", "--unknown", "ignore", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["meta"]["state_from"] == str(tmp_path / "s.json")
    assert doc["tensors"]["target"]["min"] == 0 and doc["tensors"]["target"]["max"] == 1


def test_num_classes_and_one_based_labels(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("x,y\n1,1\n2,2\n3,3\n")
    result = run(path, "--target", "y", "--num-classes", "3")
    assert result.exit_code == 1 and "line 4: label 3 in 'y' is outside 0..2" in result.stderr
    result = run(path, "--target", "y", "--num-classes", "4", "--one-hot", "--json")
    assert json.loads(result.stdout)["tensors"]["target_onehot"]["shape"] == [3, 4]


def test_period_layout_time_col_pad(tmp_path):
    result = run(BIKE, "--target", "cnt", "--time-col", "timestamp", "--period", "24", "--categorical", "weathersit",
                 "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["tensors"]["features"]["shape"] == [14, 12, 24]
    assert doc["meta"]["layout"] == "nct" and len(doc["tensors"]["features"]["channel_mean"]) == 12
    result = run(BIKE, "--target", "cnt", "--drop", "timestamp", "--period", "10", "--layout", "npf", "--json")
    assert result.exit_code == 1 and "do not divide" in result.stderr
    result = run(BIKE, "--target", "cnt", "--drop", "timestamp", "--period", "10", "--layout", "npf", "--pad", "--json")
    doc = json.loads(result.stdout)
    assert doc["tensors"]["features"]["shape"] == [34, 10, 9] and doc["tensors"]["mask"]["shape"] == [34, 10]


def test_stats_per_column_on_load_csv_output(tmp_path):
    assert run(WINE, "--target", "quality", "-o", tmp_path / "f.pt").exit_code == 0
    result = runner.invoke(app, ["stats", str(tmp_path / "f.pt"), "--key", "features", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    x = pd.read_csv(WINE, sep=";").drop(columns="quality").to_numpy(np.float32).astype(np.float64)
    assert doc["mean"] == pytest.approx(list(x.mean(0)), rel=1e-9) and doc["std"] == pytest.approx(list(x.std(0)), rel=1e-9)
    # the period layout (nct) also gives per-feature statistics
    assert run(BIKE, "--target", "cnt", "--time-col", "timestamp", "--period", "24", "-o", tmp_path / "b.pt").exit_code == 0
    doc = json.loads(runner.invoke(app, ["stats", str(tmp_path / "b.pt"), "--json"]).stdout)
    ref = pd.read_csv(BIKE).drop(columns=["timestamp", "cnt"]).to_numpy(np.float32).astype(np.float64).mean(0)
    assert doc["mean"] == pytest.approx(list(ref), rel=1e-9)


def test_errors_are_one_line(tmp_path):
    for args in ([tmp_path / "none.csv"], [WINE, "--target", "nope"], [WINE, "-o", tmp_path / "x.txt"]):
        result = run(*args)
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "x.txt").exists()
    assert run(WINE, "--delimiter", ";;").exit_code == 2


def test_entry_point_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tensortool", "load-csv", str(WINE), "--target", "quality",
                           "-o", str(tmp_path / "w.npz"), "--json"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "w.npz") as npz:
        assert npz["features"].shape == (300, 11) and json.loads(str(npz["meta"]))["target"] == "quality"


def test_delimiter_tab_and_no_header(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\t2\n3\t4\n")
    doc = json.loads(run(path, "--delimiter", "tab", "--no-header", "--categorical", "auto", "--json").stdout)
    assert doc["meta"]["header"] is False and doc["meta"]["delimiter"] == "\t"
    assert doc["meta"]["columns"] == ["0=1", "0=3", "0=a", "1=2", "1=4", "1=b"]
    doc = json.loads(run(path, "--json").stdout)
    assert doc["meta"]["header"] is True and doc["tensors"]["features"]["shape"] == [2, 2]
