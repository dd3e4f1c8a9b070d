"""`run_bench`: matmul, bmm and einsum timed on CPU and GPU the way performance engineers time them.

Warm-up calls excluded; CUDA events around each call on GPU (optionally after flushing L2),
time.perf_counter around blocks of calls on CPU; median and interquartile range of the per-call
times; every case checked against a float64 reference before it is timed; TF32 set explicitly and
restored; memory needed compared with memory free before anything is allocated.

>>> result = run_bench(devices=["cpu"], ops=["matmul"], sizes=[(256, 256, 256)])  # doctest: +SKIP
>>> result.cases[0].tflops  # doctest: +SKIP
0.21
"""

from __future__ import annotations

import os
import platform
from typing import Any, Callable, Sequence

import torch

from ..cores import usable_cores
from ..errors import OptionError, UsageError, q
from . import gpu
from .cases import Case, case_names, check_case, make_cases, make_inputs, memory_needed
from .constants import DTYPES, OPS
from .gpu import CudaBackend, cuda_unavailable_reason, matmul_precision, tf32_setting  # noqa: F401  (public here)
from .peaks import cpu_info, cpu_peak_tflops, gpu_peak_tflops
from .results import BenchResult, CaseResult, TransferResult
from .timing import Timing, cpu_threads, quartiles, time_cpu, time_cuda  # noqa: F401  (public here)
from . import timing as timing_module

DEFAULT_SIZES = {"cpu": ((256, 256, 256), (512, 512, 512), (1024, 1024, 1024)),
                 "cuda": ((1024, 1024, 1024), (4096, 4096, 4096), (8192, 8192, 8192))}
DEFAULT_DTYPES = {"cpu": ("float32",), "cuda": ("float32", "tf32", "bfloat16")}
TRANSFER_BYTES = 256 * 2**20


# ------------------------------------------------------------------------------------------ devices

def resolve_devices(device: str) -> tuple[list[str], list[str]]:
    """A device choice → (devices to run, notes). "all": CPU and cuda:0 when usable (else a note);
    "cuda"/"cuda:N" without a usable GPU is an OptionError saying why."""
    device = device.strip().lower()
    reason = cuda_unavailable_reason()
    if device == "cpu":
        return ["cpu"], []
    if device == "all":
        if reason:
            return ["cpu"], [f"GPU skipped: {reason}"]
        return ["cpu", "cuda:0"], []
    if device == "cuda" or device.startswith("cuda:"):
        if reason:
            raise OptionError(f"{{device}} {device}: {reason}", param="device")
        index = 0 if device == "cuda" else _index(device)
        if index >= gpu.cuda.device_count():
            raise OptionError(f"{{device}} {device}: only {gpu.cuda.device_count()} CUDA device(s) visible "
                              f"(cuda:0..cuda:{gpu.cuda.device_count() - 1})", param="device")
        return [f"cuda:{index}"], []
    raise UsageError(f"{{device}} {q(device)}: use cpu, cuda, cuda:N or all", param="device",
                     allowed=("cpu", "cuda", "cuda:N", "all"))


def _index(device: str) -> int:
    try:
        index = int(device.split(":", 1)[1])
    except ValueError:
        raise UsageError(f"{{device}} {q(device)}: use cpu, cuda, cuda:N or all", param="device",
                         allowed=("cpu", "cuda", "cuda:N", "all")) from None
    if index < 0:
        raise UsageError(f"{{device}} {q(device)}: the index must be 0 or more", param="device")
    return index


def _available_ram_bytes() -> int | None:
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _busy_note(threads: int) -> str | None:
    """A note when other processes already load the CPU: a multi-threaded CPU matmul then waits for
    its descheduled threads, and its times say more about the neighbours than about the machine."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    cpus = usable_cores()
    if load > 0.5 * cpus:
        advice = "rerun when it is idle" + (", or with fewer threads" if threads > 1 else "")
        return (f"the machine is busy (1-minute load average {load:.1f} on {cpus} CPUs): CPU figures will "
                f"be low and noisy; {advice}")
    return None


def environment(devices: Sequence[str], threads: int, timing: Timing) -> dict[str, Any]:
    """What a reader needs to judge the numbers: versions, devices, threads, precision, method."""
    info = cpu_info()
    env: dict[str, Any] = {
        "torch": torch.__version__, "cuda_build": gpu.cuda.built_with(), "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cpu": {"model": info["model"], "logical_cpus": info["logical_cpus"], "mhz": info["mhz"],
                "isa": torch.backends.cpu.get_cpu_capability(), "threads": threads,
                "peak_tflops_float32": cpu_peak_tflops("float32", threads, info),
                "peak_tflops_float64": cpu_peak_tflops("float64", threads, info)},
        "gpus": {},
        "tf32_setting_outside_bench": tf32_setting(),
        "timing": {"warmup_calls": timing.warmup, "repeat": timing.repeat, "min_time_s": timing.min_time,
                   "min_repeat": timing.min_repeat, "cold_l2": timing.cold,
                   "cpu": f"time.perf_counter around blocks of calls lasting ≥ {timing_module.BLOCK_SECONDS * 1e3:g} ms",
                   "cuda": "CUDA events around each call", "iqr": "q3 − q1, linear interpolation"},
    }
    for dev in devices:
        if dev.startswith("cuda"):
            env["gpus"][dev] = gpu.cuda.properties(int(dev.split(":")[1]))
    return env


# ------------------------------------------------------------------------------------------ running

def _l2_flusher(device: torch.device, l2_bytes: int | None) -> Callable[[], Any]:
    # Writing a buffer larger than L2 evicts the operands (triton's do_bench uses 256 MB of zeros).
    buffer = torch.empty(max(l2_bytes or 0, 2**28) // 4, dtype=torch.int32, device=device)
    return buffer.zero_


def _run_case(case: Case, dtype: str, dev: str, timing: Timing, threads: int,
              flush: Callable[[], Any] | None, gpu_name: str | None) -> CaseResult:
    index = int(dev.split(":")[1]) if dev.startswith("cuda") else None
    result = CaseResult(device=dev, name=case.name, op=case.op, shape=case.shape_text,
                        size=case.size, dtype=dtype, flops=case.flops, baseline=case.baseline)
    result.memory_bytes = memory_needed(case, dtype)
    free = _available_ram_bytes() if index is None else gpu.cuda.free_bytes(index)
    if free is not None and result.memory_bytes > 0.9 * free:
        result.status = "skipped"
        result.note = (f"needs {result.memory_bytes / 2**30:.2f} GiB, {free / 2**30:.2f} GiB free "
                       f"on {dev}")
        return result
    device = torch.device("cpu") if index is None else gpu.cuda.device(index)
    inputs = make_inputs(case, dtype, device)
    with matmul_precision(dtype) as mode:
        if index is not None:
            result.cuda_fp32_precision = mode
        out = case.run(inputs)
        err, bound = check_case(case, inputs, out, dtype)
        result.max_error, result.error_bound = err, bound
        if not err <= bound:
            result.status = "wrong"
            result.note = f"max error {err:.3g} exceeds {bound:.3g} against float64: not timed"
            return result
        del out

        def call() -> Any:
            return case.run(inputs)

        if index is None:
            samples, number = time_cpu(call, timing)
        else:
            samples, number = time_cuda(call, timing, index, flush), 1
    q1, median, q3 = quartiles(samples)
    result.repeats, result.calls_per_repeat = len(samples), number
    result.median_s, result.q1_s, result.q3_s, result.iqr_s = median, q1, q3, q3 - q1
    result.min_s = min(samples)
    result.tflops = case.flops / median / 1e12
    if index is None:
        result.peak_tflops = cpu_peak_tflops(dtype, threads)
    else:
        result.peak_tflops = gpu_peak_tflops(gpu_name or "", dtype)
    if result.peak_tflops:
        result.percent_of_peak = 100.0 * result.tflops / result.peak_tflops
    return result


def measure_transfers(index: int, nbytes: int | None = None, timing: Timing | None = None) -> list[TransferResult]:
    """Host→device and device→host bandwidth, pageable and pinned host memory, median of repeats."""
    nbytes = TRANSFER_BYTES if nbytes is None else nbytes
    timing = timing or Timing(warmup=2, repeat=10)
    device = gpu.cuda.device(index)
    results = []
    dev_buf = torch.empty(nbytes, dtype=torch.uint8, device=device)
    for memory in ("pageable", "pinned"):
        host = torch.empty(nbytes, dtype=torch.uint8)
        host.fill_(1)  # touch the pages: first-touch faults are not transfer time
        if memory == "pinned":
            host = gpu.cuda.pin(host)
        for direction, dst, src in (("host→device", dev_buf, host), ("device→host", host, dev_buf)):
            samples = time_cuda(lambda d=dst, s=src: d.copy_(s), timing, index, None)
            median = quartiles(samples)[1]
            results.append(TransferResult(f"cuda:{index}", direction, memory, nbytes, median,
                                          nbytes / median / 2**30))
    return results


def run_bench(devices: Sequence[str] | str = "all", ops: Sequence[str] = ("all",),
              sizes: Sequence[tuple[int, int, int]] | None = None, dtypes: Sequence[str] | None = None,
              *, threads: int | None = None, timing: Timing | None = None, transfers: bool = True,
              only: Sequence[str] | None = None, progress: Callable[[int, int], None] | None = None) -> BenchResult:
    """Time matmul/bmm/einsum cases on each device; see the module docstring for the method.

    ``devices``: "cpu", "cuda", "cuda:N", "all" or a list of resolved names ("cpu", "cuda:0").
    ``sizes``/``dtypes``: None picks per device (CPU 256–1024 and float32; CUDA 1024–8192 and
    float32, tf32, bfloat16). Cases that do not fit in free memory, or tf32 on CPU, are skipped
    with a note; a case whose result fails its float64 check is marked "wrong" and not timed.
    ``only`` keeps the cases with these names (see ``case_names``).

    >>> r = run_bench("cpu", ["matmul"], [(128, 128, 128)], timing=Timing(repeat=5))  # doctest: +SKIP
    >>> r.cases[0].median_s > 0  # doctest: +SKIP
    True
    """
    timing = timing or Timing()
    devices, notes = _usable_devices(devices)
    for op in ops:
        if op not in OPS:
            raise UsageError(f"{{op}} {q(op)}: use one of {', '.join(OPS)}", param="op", allowed=OPS)
    for dtype in dtypes or ():
        if dtype not in DTYPES:
            raise UsageError(f"{{dtype}} {q(dtype)}: use one of {', '.join(DTYPES)}", param="dtype", allowed=DTYPES)
    names = case_names(ops)
    if only is not None:  # a subset of the cases by name, e.g. ["einsum bij,bjk->bik"]
        names &= set(only)
    with cpu_threads(threads) as used_threads:
        busy = _busy_note(used_threads) if "cpu" in devices else None
        result = BenchResult(environment(devices, used_threads, timing), notes=[*notes, *([busy] if busy else [])])
        if "cpu" in devices and "tf32" in (dtypes or ()):
            result.notes.append("tf32 skipped on CPU: it is a CUDA tensor-core mode (CPU float32 rows are IEEE float32)")
        _run_plan(result, _plan(devices, sizes, dtypes, names), timing, used_threads, progress)
        if timing.cold and "cpu" in devices:
            result.notes.append("cold (an L2 flush between samples) is for GPUs; on CPU it does nothing (n/a)")
        if transfers:
            _add_transfers(result, devices)
    _pair_up(result.cases)
    return result


def _usable_devices(devices: Sequence[str] | str) -> tuple[list[str], list[str]]:
    """A choice ("all", "cuda") or a list of names ("cpu", "cuda:1"), each checked usable; and notes."""
    if isinstance(devices, str):
        return resolve_devices(devices)
    resolved: list[str] = []
    for name in devices:
        for dev in resolve_devices(name)[0]:
            if dev not in resolved:
                resolved.append(dev)
    return resolved, []


def _plan(devices: Sequence[str], sizes: Sequence[tuple[int, int, int]] | None, dtypes: Sequence[str] | None,
          names: set[str]) -> list[tuple[str, str, Case]]:
    """(device, dtype, case) in the order they run; tf32 on CPU left out (one note says so)."""
    plan = []
    for dev in devices:
        kind = "cpu" if dev == "cpu" else "cuda"
        for size in sizes or DEFAULT_SIZES[kind]:
            for dtype in dtypes or DEFAULT_DTYPES[kind]:
                if kind == "cpu" and dtype == "tf32":
                    continue
                for case in make_cases(tuple(size), names):
                    plan.append((dev, dtype, case))
    return plan


def _run_plan(result: BenchResult, plan: list[tuple[str, str, Case]], timing: Timing, threads: int,
              progress: Callable[[int, int], None] | None) -> None:
    flushers: dict[str, Callable[[], Any] | None] = {}
    for done, (dev, dtype, case) in enumerate(plan):
        if dev not in flushers:
            flushers[dev] = None
            if dev != "cpu" and timing.cold:
                props = result.environment["gpus"][dev]
                flushers[dev] = _l2_flusher(gpu.cuda.device(int(dev.split(":")[1])), props.get("l2_cache_bytes"))
        gpu_name = result.environment["gpus"].get(dev, {}).get("name")
        result.cases.append(_run_case(case, dtype, dev, timing, threads, flushers[dev], gpu_name))
        if progress:
            progress(done + 1, len(plan))
    flushers.clear()  # the L2 buffers go before the transfers allocate theirs


def _add_transfers(result: BenchResult, devices: Sequence[str]) -> None:
    for dev in devices:
        if dev.startswith("cuda"):
            index = int(dev.split(":")[1])
            if gpu.cuda.free_bytes(index) > 1.1 * TRANSFER_BYTES:
                result.transfers.extend(measure_transfers(index))
            else:
                result.notes.append(f"transfers skipped on {dev}: less than 256 MiB free")


def _pair_up(cases: list[CaseResult]) -> None:
    """Fill einsum_overhead (einsum / its matmul form) and speedup (CPU / GPU for the same case)."""
    by_key = {(c.device, c.name, c.size, c.dtype): c for c in cases if c.median_s}
    for c in cases:
        if c.median_s is None:
            continue
        if c.baseline:
            base = by_key.get((c.device, c.baseline, c.size, c.dtype))
            if base:
                c.einsum_overhead = c.median_s / base.median_s
        if c.device != "cpu":
            cpu = by_key.get(("cpu", c.name, c.size, c.dtype))
            if cpu:
                c.speedup = cpu.median_s / c.median_s
