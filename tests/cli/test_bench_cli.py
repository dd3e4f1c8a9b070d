"""`tensortool bench` through CliRunner (every option), and its entry point in a subprocess."""

from __future__ import annotations

import builtins
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import ROOT
from tensortool.bench import gpu, run as bench_lib
from tensortool.cli.app import app

runner = CliRunner()
QUICK = ["--size", "32", "--repeat", "2", "--warmup", "1", "-q"]


class NoGpu(gpu.CudaBackend):
    """This machine's situation, whatever machine runs the tests: a CUDA build, no device."""

    def built_with(self):
        return "12.4"

    def device_count(self):
        return 0


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    monkeypatch.setattr(gpu, "cuda", NoGpu())


def invoke(*args: str):
    return runner.invoke(app, ["bench", *args])


def test_table_and_gpu_skipped_note():
    result = invoke("--op", "matmul", *QUICK)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "matmul" in out and "TFLOP/s" in out and "%peak" in out and "ok 0." in out
    assert "thread(s)" in out and "GPU skipped" in out and "no CUDA device is visible" in out


def test_json_has_every_figure_and_options_reach_the_library():
    result = invoke("--device", "cpu", "--op", "bmm", "--size", "32,16x24x40", "--dtype", "float64,float32",
                    "--repeat", "3", "--warmup", "0", "--threads", "1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["environment"]["cpu"]["threads"] == 1 and doc["environment"]["timing"]["warmup_calls"] == 0
    cases = doc["cases"]
    assert [(c["name"], c["size"], c["dtype"]) for c in cases] == [
        ("bmm", [32, 32, 32], "float64"), ("bmm", [32, 32, 32], "float32"),
        ("bmm", [16, 24, 40], "float64"), ("bmm", [16, 24, 40], "float32")]
    assert all(c["repeats"] == 3 for c in cases) and not any("skipped" in n for n in doc["notes"])
    assert cases[2]["flops"] == 2 * 8 * 8 * 12 * 20  # batch 8 of M/2 × N/2 × K/2


def test_op_einsum_pairs_and_min_time():
    doc = json.loads(invoke("--device", "cpu", "--op", "einsum", "--size", "16", "--min-time", "0.01",
                            "--warmup", "1", "--json").stdout)
    names = [c["name"] for c in doc["cases"]]
    assert len(names) == 8 and all(c["repeats"] >= 5 for c in doc["cases"])
    overhead = {c["name"]: c["einsum_overhead"] for c in doc["cases"]}
    assert overhead["einsum bhqd,bhkd->bhqk"] > 0 and overhead["q @ kᵀ"] is None


def test_cold_and_tf32_on_cpu_are_explained():
    result = invoke("--device", "cpu", "--cold", "--dtype", "tf32,float32", "--op", "matmul", *QUICK)
    assert result.exit_code == 0
    assert "tf32 skipped on CPU" in result.stdout and "on CPU it does nothing" in result.stdout


def test_device_cuda_without_gpu_is_one_line_exit_1():
    for device in ("cuda", "cuda:1"):
        result = invoke("--device", device, *QUICK)
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "no CUDA device is visible" in lines[0] and result.stdout == ""


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_output_files_atomic_and_no_overwrite(tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    args = ["--device", "cpu", "--op", "matmul", "--size", "16,32", *QUICK[2:], "-o", str(out)]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    if suffix == ".json":
        written = json.loads(out.read_text())
        assert written["cases"] == doc["cases"] and written["environment"] == doc["environment"]
    else:
        rows = list(csv.DictReader(out.open()))
        assert [r["size"] for r in rows] == ["16x16x16", "32x32x32"]
        assert [float(r["median_s"]) for r in rows] == [c["median_s"] for c in doc["cases"]]
    before = out.read_bytes()
    result = invoke(*args)
    assert result.exit_code == 1 and "already exists" in result.stderr and out.read_bytes() == before
    assert invoke(*args, "--force").exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_bad_output_suffix_refused_before_timing(tmp_path):
    result = invoke("--device", "cpu", *QUICK, "-o", str(tmp_path / "r.txt"))
    assert result.exit_code == 1 and ".csv or .json" in result.stderr and not list(tmp_path.iterdir())


def test_plot(tmp_path):
    png = tmp_path / "bench.png"
    result = invoke("--device", "cpu", "--op", "matmul", "--size", "16,32", *QUICK[2:], "--plot", str(png))
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "wrote" in result.stdout
    before = png.read_bytes()
    result = invoke("--device", "cpu", *QUICK, "--plot", str(png))
    assert result.exit_code == 1 and "already exists" in result.stderr and png.read_bytes() == before
    result = invoke("--device", "cpu", *QUICK, "--plot", str(tmp_path / "bench.jpg"))
    assert result.exit_code == 1 and "PNG" in result.stderr and "TFLOP/s" not in result.stdout


def test_plot_without_matplotlib_is_one_clear_line(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = invoke("--device", "cpu", *QUICK, "--plot", str(tmp_path / "b.png"))
    assert result.exit_code == 1 and "needs matplotlib" in result.stderr and "tensortool[plot]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2():
    for args in (["--size", "12x"], ["--size", "0"], ["--dtype", "int8"], ["--op", "conv"], ["--repeat", "0"]):
        assert invoke(*args).exit_code == 2, args


def test_wrong_result_exits_1(monkeypatch):
    real = bench_lib.make_cases

    def broken(size, names):
        cases = real(size, names)
        for c in cases:
            c.run = lambda t: torch.zeros(t[0].shape[0], t[1].shape[-1], dtype=t[0].dtype)
        return cases

    monkeypatch.setattr(bench_lib, "make_cases", broken)
    result = invoke("--device", "cpu", "--op", "matmul", *QUICK)
    assert result.exit_code == 1 and "wrong" in result.stdout and "gave wrong results" in result.stderr


def _tensortool() -> list[str]:
    script = Path(sys.executable).with_name("tensortool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tensortool"]


def test_entry_point_end_to_end():
    done = subprocess.run(_tensortool() + ["bench", "--device", "cpu", "--op", "matmul", "--size", "32",
                                           "--repeat", "2", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cases"][0]["status"] == "ok"
    if torch.cuda.is_available():
        return
    bad = subprocess.run(_tensortool() + ["bench", "--device", "cuda"], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "no CUDA device is visible" in bad.stderr or "built without CUDA" in bad.stderr


def test_gpu_report_with_a_fake_device(monkeypatch):
    from tests.bench.test_run import FakeCuda

    monkeypatch.setattr(gpu, "cuda", FakeCuda())
    monkeypatch.setattr(bench_lib, "TRANSFER_BYTES", 2**20)
    result = invoke("--op", "matmul", "--size", "32", "--dtype", "float32,tf32", "--repeat", "2", "--warmup", "1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cuda:0 NVIDIA H100 80GB HBM3, 132 SMs, sm_9.0" in out and "clocks n/a" in out
    assert "float32 rows with TF32 off, tf32 rows with TF32 on" in out
    assert "GPU×" in out and "transfers" in out and "pinned" in out and "host→device" in out
    doc = json.loads(invoke("--op", "matmul", "--size", "32", "--dtype", "tf32", "--repeat", "2", "--json").stdout)
    assert {c["device"] for c in doc["cases"]} == {"cuda:0"} and len(doc["transfers"]) == 4
    assert doc["cases"][0]["peak_tflops"] == pytest.approx(494.7)
