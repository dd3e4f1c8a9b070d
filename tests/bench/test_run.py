"""bench: FLOP counts against torch's FlopCounterMode, timing against torch.utils.benchmark.Timer,
quartiles against numpy, the peak table against the datasheet figures, TF32 toggling, the float64
check, memory skips, the JSON schema, and the CUDA path through a fake backend (no GPU needed)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tensortool.bench import gpu as bench_gpu, run as bench, timing as bench_timing
from tensortool.bench.run import (Timing, cpu_threads, matmul_precision, quartiles, resolve_devices, run_bench,
                              tf32_setting)
from tensortool.bench.cases import case_names, make_cases, make_inputs
from tensortool.bench.peaks import cpu_peak_tflops, gpu_model, gpu_peak_tflops
from tensortool.errors import OptionError

ALL = case_names(["all"])
QUICK = Timing(warmup=1, repeat=3)


@pytest.mark.parametrize("size", [(8, 12, 16), (32, 32, 32), (10, 6, 4)])
def test_flops_match_torch_flop_counter(size):
    for case in make_cases(size, ALL):
        inputs = make_inputs(case, "float32", torch.device("cpu"))
        with FlopCounterMode(display=False) as counter:
            case.run(inputs)
        assert case.flops == counter.get_total_flops(), case.name


def test_einsum_cases_are_paired_with_their_matmul_form():
    cases = {c.name: c for c in make_cases((16, 16, 16), ALL)}
    assert len(cases) == 8
    for case in cases.values():
        if case.baseline:
            base = cases[case.baseline]
            assert base.flops == case.flops and base.shapes == case.shapes
    assert case_names(["matmul"]) == {"matmul"} and case_names(["bmm"]) == {"bmm"}
    assert {"matmul", "bmm", "q @ kᵀ", "bilinear matmul+bmm"} < case_names(["einsum"])


def test_quartiles_match_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 6, 101):
        x = rng.random(n).tolist()
        assert quartiles(x) == pytest.approx(tuple(np.percentile(x, [25, 50, 75])))


def test_peak_table_datasheet_figures():
    # Dense = half the datasheets' "with sparsity" tensor figures.
    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3", "bfloat16") == pytest.approx(1979 / 2, rel=1e-3)
    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3", "tf32") == pytest.approx(989 / 2, rel=1e-3)
    assert gpu_peak_tflops("NVIDIA H100 PCIe", "bfloat16") == pytest.approx(1513 / 2, rel=1e-3)
    assert gpu_peak_tflops("NVIDIA H200", "float32") == 67.0
    assert gpu_peak_tflops("NVIDIA A100-SXM4-80GB", "tf32") == 156.0
    assert gpu_peak_tflops("NVIDIA A100 80GB PCIe", "float16") == 312.0
    assert gpu_peak_tflops("NVIDIA L4", "bfloat16") == pytest.approx(242 / 2, rel=1e-3)
    assert gpu_peak_tflops("NVIDIA GeForce RTX 4090", "bfloat16") == 165.2
    assert gpu_peak_tflops("NVIDIA L4", "float64") is None
    assert gpu_peak_tflops("Tesla T4", "float32") is None and gpu_model("NVIDIA H100 NVL") is None
    assert gpu_model("NVIDIA L40S") is None  # not an L4


def test_cpu_peak_estimate():
    # 4 cores × 3 GHz × 16 float32 lanes × 2 (FMA) × 2 units = 0.768 TFLOP/s.
    assert cpu_peak_tflops("float32", 4, {"mhz": 3000.0, "flags": {"avx512f", "avx2", "fma"}}) == pytest.approx(0.768)
    assert cpu_peak_tflops("float64", 4, {"mhz": 3000.0, "flags": {"avx2", "fma"}}) == pytest.approx(0.192)
    assert cpu_peak_tflops("float32", 4, {"mhz": None, "flags": {"avx512f"}}) is None
    assert cpu_peak_tflops("float32", 4, {"mhz": 3000.0, "flags": {"sse2"}}) is None
    assert cpu_peak_tflops("bfloat16", 4, {"mhz": 3000.0, "flags": {"avx512f"}}) is None


def test_tf32_toggle_and_restore():
    matmul = torch.backends.cuda.matmul
    before = tf32_setting()
    saved = matmul.fp32_precision
    try:
        with matmul_precision("tf32") as mode:
            assert mode == "tf32" and tf32_setting() == "tf32"
            with matmul_precision("float32"):
                assert tf32_setting() == "ieee"
            assert tf32_setting() == "tf32"
        assert tf32_setting() == before
        with pytest.raises(RuntimeError), matmul_precision("bfloat16"):
            raise RuntimeError("boom")
        assert tf32_setting() == before
        # A user on the legacy flag can still read it after a bench (torch refuses mixed APIs).
        matmul.allow_tf32 = True
        with matmul_precision("float32"):
            pass
        assert matmul.allow_tf32 is True
    finally:
        matmul.fp32_precision = saved


def test_threads_set_and_restored():
    before = torch.get_num_threads()
    with cpu_threads(1) as used:
        assert used == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def _timer(a, b, threads):
    from torch.utils.benchmark import Timer

    return Timer("torch.matmul(a, b)", globals={"a": a, "b": b, "torch": torch},
                 num_threads=threads).blocked_autorange(min_run_time=0.2)


def test_median_agrees_with_torch_benchmark_timer(monkeypatch):
    # Same op, same thread count, same block length as Timer's blocks (bench's default 1 ms blocks
    # report the op's own speed on a busy machine, where Timer's ≥ 10 ms blocks also count the time
    # other processes hold the CPU: 2× apart at a load of 4 on 2 cores). Three interleaved rounds
    # each, so drift hits both alike; one retry absorbs a burst that hit one side only.
    case = make_cases((256, 256, 256), {"matmul"})[0]
    a, b = make_inputs(case, "float32", torch.device("cpu"))
    ratios = []
    for _attempt in range(2):
        ours, theirs = [], []
        for _round in range(3):
            measurement = _timer(a, b, 1)
            theirs.append(measurement.median)
            monkeypatch.setattr(bench_timing, "BLOCK_SECONDS", measurement.number_per_run * measurement.median)
            result = run_bench(["cpu"], ["matmul"], [(256, 256, 256)], ["float32"], threads=1,
                               timing=Timing(warmup=3, min_time=0.2), transfers=False)
            ours.append(result.cases[0].median_s)
        ratios.append(float(np.median(ours) / np.median(theirs)))
        if 0.8 <= ratios[-1] <= 1.25:
            break
    assert 0.8 <= ratios[-1] <= 1.25, ratios


def test_every_dtype_passes_its_check_and_a_wrong_result_is_not_timed(monkeypatch):
    result = run_bench(["cpu"], ["all"], [(48, 40, 56)], ["float32", "float64", "bfloat16", "float16"],
                       timing=QUICK)
    assert all(c.status == "ok" and c.max_error <= c.error_bound for c in result.cases)

    real = bench.make_cases

    def broken(size, names):
        cases = real(size, names)
        for c in cases:
            if c.name == "matmul":
                c.run = lambda t: torch.matmul(t[0], t[1].T.contiguous())  # a transposition bug
            if c.name == "bmm":
                c.run = lambda t: torch.full_like(torch.bmm(t[0], t[1]), float("nan"))
        return cases

    monkeypatch.setattr(bench, "make_cases", broken)
    result = run_bench(["cpu"], ["matmul", "bmm"], [(64, 64, 64)], ["bfloat16"], timing=QUICK)
    assert [c.status for c in result.cases] == ["wrong", "wrong"]
    assert all(c.median_s is None and "not timed" in c.note for c in result.cases)
    assert result.failed == result.cases


def test_case_that_does_not_fit_is_skipped(monkeypatch):
    monkeypatch.setattr(bench, "_available_ram_bytes", lambda: 1_000_000)
    result = run_bench(["cpu"], ["matmul"], [(128, 128, 128), (512, 512, 512)], ["float32"], timing=QUICK)
    small, big = result.cases
    assert small.status == "ok" and small.memory_bytes == 3 * 128 * 128 * 4
    assert big.status == "skipped" and "needs" in big.note and big.median_s is None


def test_json_schema():
    result = run_bench(["cpu"], ["einsum"], [(32, 32, 32)], ["float32", "tf32"], timing=QUICK)
    doc = json.loads(json.dumps(result.to_json()))
    assert set(doc) == {"environment", "cases", "transfers", "notes", "tensortool_version"}
    env = doc["environment"]
    assert {"torch", "cuda_build", "cpu", "gpus", "timing", "tf32_setting_outside_bench"} <= set(env)
    assert {"threads", "isa", "peak_tflops_float32"} <= set(env["cpu"])
    assert len(doc["cases"]) == 8 and any("tf32 skipped on CPU" in n for n in doc["notes"])
    numeric = ("median_s", "q1_s", "q3_s", "iqr_s", "min_s", "tflops", "max_error", "error_bound")
    for c in doc["cases"]:
        assert c["device"] == "cpu" and c["dtype"] == "float32" and c["status"] == "ok"
        assert all(isinstance(c[k], float) for k in numeric)
        assert c["q1_s"] <= c["median_s"] <= c["q3_s"] and c["iqr_s"] == pytest.approx(c["q3_s"] - c["q1_s"])
        assert c["tflops"] == pytest.approx(c["flops"] / c["median_s"] / 1e12)
        assert c["repeats"] == 3 and c["calls_per_repeat"] >= 1
        assert (c["einsum_overhead"] is not None) == c["name"].startswith("einsum")
        assert c["speedup"] is None


def test_unknown_op_and_dtype_are_option_errors():
    with pytest.raises(OptionError):
        run_bench(["cpu"], ["conv"], [(8, 8, 8)])
    with pytest.raises(OptionError):
        run_bench(["cpu"], ["matmul"], [(8, 8, 8)], ["int8"])


# ----------------------------------------------------------------------------- CUDA through a fake

class FakeEvent:
    """Records the host clock (the fake "GPU" runs synchronously on the CPU) and the TF32 mode."""

    log: list[str] = []

    def record(self):
        self.t = time.perf_counter()
        FakeEvent.log.append(tf32_setting())

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


class FakeCuda(bench_gpu.CudaBackend):
    def __init__(self, count=1, built="12.4", free=64 * 2**30, name="NVIDIA H100 80GB HBM3"):
        self.count, self.built, self.free, self.name = count, built, free, name
        self.syncs = 0
        self.pinned = 0

    def built_with(self):
        return self.built

    def device_count(self):
        return self.count

    def device(self, index):
        return torch.device("cpu")

    def properties(self, index):
        return {"name": self.name, "sm_count": 132, "capability": "9.0", "total_memory_bytes": 80 * 2**30,
                "l2_cache_bytes": 50 * 2**20}

    def free_bytes(self, index):
        return self.free

    def synchronize(self, index):
        self.syncs += 1

    def event(self):
        return FakeEvent()

    def pin(self, tensor):
        self.pinned += 1
        return tensor


def test_device_resolution_without_a_gpu(monkeypatch):
    monkeypatch.setattr(bench_gpu, "cuda", FakeCuda(count=0))
    assert resolve_devices("cpu") == (["cpu"], [])
    devices, notes = resolve_devices("all")
    assert devices == ["cpu"] and "GPU skipped" in notes[0] and "no CUDA device is visible" in notes[0]
    with pytest.raises(OptionError, match="built with CUDA 12.4 but no CUDA device is visible"):
        resolve_devices("cuda")
    monkeypatch.setattr(bench_gpu, "cuda", FakeCuda(count=0, built=None))
    with pytest.raises(OptionError, match="built without CUDA"):
        resolve_devices("cuda:0")
    monkeypatch.setattr(bench_gpu, "cuda", FakeCuda(count=2))
    assert resolve_devices("cuda:1") == (["cuda:1"], []) and resolve_devices("all")[0] == ["cpu", "cuda:0"]
    with pytest.raises(OptionError, match="only 2 CUDA device"):
        resolve_devices("cuda:2")
    with pytest.raises(OptionError):
        resolve_devices("tpu")


def test_cuda_path_with_a_fake_device(monkeypatch):
    fake = FakeCuda()
    flushes = []
    monkeypatch.setattr(bench_gpu, "cuda", fake)
    monkeypatch.setattr(bench, "TRANSFER_BYTES", 2**20)
    monkeypatch.setattr(bench, "_l2_flusher", lambda device, l2: lambda: flushes.append(l2))
    FakeEvent.log = []
    outside = tf32_setting()
    result = run_bench("all", ["matmul"], [(64, 64, 64)], ["float32", "tf32", "bfloat16"],
                       timing=Timing(warmup=1, repeat=4, cold=True))
    gpu = {c.dtype: c for c in result.cases if c.device == "cuda:0"}
    cpu = {c.dtype: c for c in result.cases if c.device == "cpu"}
    assert set(gpu) == {"float32", "tf32", "bfloat16"} and set(cpu) == {"float32", "bfloat16"}
    assert all(c.status == "ok" and c.repeats == 4 and c.calls_per_repeat == 1 for c in gpu.values())
    # The peak comes from the H100 SXM line; % of peak and the speedup follow from the medians.
    assert gpu["bfloat16"].peak_tflops == pytest.approx(989.4)
    assert gpu["float32"].peak_tflops == 67.0 and gpu["tf32"].peak_tflops == pytest.approx(494.7)
    assert gpu["tf32"].percent_of_peak == pytest.approx(100 * gpu["tf32"].tflops / 494.7)
    assert gpu["float32"].speedup == pytest.approx(cpu["float32"].median_s / gpu["float32"].median_s)
    assert gpu["tf32"].speedup is None  # no CPU tf32 case to compare with
    # TF32 was on while the tf32 case ran and off for float32; restored afterwards.
    assert "tf32" in FakeEvent.log and "ieee" in FakeEvent.log, FakeEvent.log
    assert tf32_setting() == outside
    # --cold flushed L2 before each of the 4 samples of each GPU case (and no CPU samples).
    assert len(flushes) == 3 * 4 and flushes[0] == 50 * 2**20
    assert fake.syncs >= 3 * 3  # after warm-up, the probe and the samples of every case
    assert [(t.direction, t.memory) for t in result.transfers] == [
        ("host→device", "pageable"), ("device→host", "pageable"),
        ("host→device", "pinned"), ("device→host", "pinned")]
    assert fake.pinned == 1 and all(t.gib_per_s > 0 and t.bytes == 2**20 for t in result.transfers)
    assert result.environment["gpus"]["cuda:0"]["sm_count"] == 132


def test_cuda_memory_check_and_min_time_budget(monkeypatch):
    monkeypatch.setattr(bench_gpu, "cuda", FakeCuda(free=10 * 2**20))
    result = run_bench(["cuda:0"], ["matmul"], [(256, 256, 256), (2048, 2048, 2048)], ["float32"],
                       timing=Timing(warmup=1, min_time=0.05), transfers=True)
    small, big = result.cases
    assert small.status == "ok" and small.repeats >= 5
    assert big.status == "skipped" and "GiB free on cuda:0" in big.note
    assert result.transfers == [] and "transfers skipped" in result.notes[0]


def test_busy_machine_is_noted(monkeypatch):
    monkeypatch.setattr(bench.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (3.9, 3.0, 2.0))
    result = run_bench(["cpu"], ["matmul"], [(16, 16, 16)], timing=QUICK)
    assert any("load average 3.9 on 2 CPUs" in n for n in result.notes)
    assert result.environment["load_average_1min"] == 3.9
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (0.4, 0.3, 0.2))
    assert not any("busy" in n for n in run_bench(["cpu"], ["matmul"], [(16, 16, 16)], timing=QUICK).notes)


def test_device_lists_are_checked_too(monkeypatch):
    monkeypatch.setattr(bench_gpu, "cuda", FakeCuda(count=0))
    with pytest.raises(OptionError, match="no CUDA device is visible"):
        run_bench(["cpu", "cuda:0"], ["matmul"], [(8, 8, 8)], timing=QUICK)
    monkeypatch.setattr(bench_gpu, "cuda", FakeCuda(count=1))
    result = run_bench(["cuda:0", "cpu", "cuda:0"], ["matmul"], [(8, 8, 8)], ["float32", "tf32"],
                       timing=QUICK, transfers=False)
    assert [(c.device, c.dtype, c.cuda_fp32_precision) for c in result.cases] == [
        ("cuda:0", "float32", "ieee"), ("cuda:0", "tf32", "tf32"), ("cpu", "float32", None)]


def test_output_shapes_match_what_the_cases_return():
    for case in make_cases((24, 40, 16), ALL):
        out = case.run(make_inputs(case, "float32", torch.device("cpu")))
        assert tuple(out.shape) == case.out_shape, case.name


def test_driver_version_from_proc(tmp_path, monkeypatch):
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  "
                       "(dvs-builder@U16-I3-B03-4-3)  Thu Jan 23 2025\nGCC version:  gcc version 12.2.0\n")
    monkeypatch.setattr(bench_gpu, "NVIDIA_VERSION_FILE", str(version))
    assert bench_gpu._driver_version() == "570.86.15"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
    assert bench_gpu._driver_version() == "535.104.05"
    monkeypatch.setattr(bench_gpu, "NVIDIA_VERSION_FILE", str(tmp_path / "missing"))
    assert bench_gpu._driver_version() is None


def test_rms_in_chunks_matches_numpy():
    from tensortool.bench.cases import _rms

    x = torch.randn(1000, 37, dtype=torch.bfloat16)
    ref = float(np.sqrt(np.mean(x.double().numpy() ** 2)))
    assert _rms(x, chunk=999) == pytest.approx(ref, rel=1e-5) and _rms(x) == pytest.approx(ref, rel=1e-5)
