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

import math
import os
import platform
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

from .._version import __version__
from .constants import DTYPES, OPS
from .cases import Case, case_names, check_case, make_cases, make_inputs, memory_needed
from .peaks import cpu_info, cpu_peak_tflops, gpu_peak_tflops
from ..cores import usable_cores
from ..errors import OptionError, UsageError

DEFAULT_SIZES = {"cpu": ((256, 256, 256), (512, 512, 512), (1024, 1024, 1024)),
                 "cuda": ((1024, 1024, 1024), (4096, 4096, 4096), (8192, 8192, 8192))}
DEFAULT_DTYPES = {"cpu": ("float32",), "cuda": ("float32", "tf32", "bfloat16")}
BLOCK_SECONDS = 1e-3   # CPU: one sample is a block of calls lasting at least this long
TRANSFER_BYTES = 256 * 2**20
CUDA_WARMUP_SECONDS = 0.1


# ----------------------------------------------------------------------------------------- results

@dataclass
class CaseResult:
    """One op at one size and dtype on one device. Times are seconds per call."""
    device: str
    name: str                  # "matmul", "einsum ij,jk->ik", ...
    op: str                    # the ops group: matmul, bmm or einsum
    shape: str                 # operand shapes, e.g. "1024x1024 @ 1024x1024"
    size: tuple[int, int, int]
    dtype: str
    flops: int
    baseline: str | None = None      # einsum: the matmul/bmm case it is paired with
    status: str = "ok"               # ok | skipped | wrong
    note: str | None = None
    memory_bytes: int = 0
    repeats: int = 0
    calls_per_repeat: int = 0
    median_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    iqr_s: float | None = None
    min_s: float | None = None
    tflops: float | None = None
    peak_tflops: float | None = None
    percent_of_peak: float | None = None
    max_error: float | None = None
    error_bound: float | None = None
    cuda_fp32_precision: str | None = None  # GPU rows: "tf32" or "ieee" while the case ran
    einsum_overhead: float | None = None  # einsum median / baseline median
    speedup: float | None = None          # GPU row: CPU median / GPU median for the same case


@dataclass
class TransferResult:
    device: str
    direction: str   # "host→device" | "device→host"
    memory: str      # "pageable" | "pinned"
    bytes: int
    median_s: float
    gib_per_s: float


@dataclass
class BenchResult:
    environment: dict[str, Any]
    cases: list[CaseResult] = field(default_factory=list)
    transfers: list[TransferResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """One JSON-able object: environment, cases (every figure), transfers, notes."""
        return {"environment": self.environment, "cases": [asdict(c) for c in self.cases],
                "transfers": [asdict(t) for t in self.transfers], "notes": list(self.notes),
                "tensortool_version": __version__}

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status == "wrong"]


# ------------------------------------------------------------------------------------ the CUDA seam

class CudaBackend:
    """Every CUDA call bench makes, in one place, so tests substitute a fake and run without a GPU."""

    def built_with(self) -> str | None:
        return torch.version.cuda

    def device_count(self) -> int:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def device(self, index: int) -> torch.device:
        return torch.device("cuda", index)

    def properties(self, index: int) -> dict[str, Any]:
        props = torch.cuda.get_device_properties(index)
        info: dict[str, Any] = {"name": props.name, "sm_count": props.multi_processor_count,
                                "capability": f"{props.major}.{props.minor}",
                                "total_memory_bytes": props.total_memory,
                                "l2_cache_bytes": getattr(props, "L2_cache_size", None),
                                # the CUDA runtime's figure (kHz): the boost clock, not the current one
                                "max_sm_clock_mhz": getattr(props, "clock_rate", 0) // 1000 or None}
        pci = None
        if hasattr(props, "pci_bus_id"):
            pci = f"{getattr(props, 'pci_domain_id', 0):08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
        info.update(_nvml_clocks(index, pci))
        return info

    def free_bytes(self, index: int) -> int:
        return torch.cuda.mem_get_info(index)[0]

    def synchronize(self, index: int) -> None:
        torch.cuda.synchronize(index)

    def event(self) -> Any:
        """An object with record() and elapsed_time(end) in milliseconds (torch.cuda.Event)."""
        return torch.cuda.Event(enable_timing=True)

    def pin(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.pin_memory()


NVIDIA_VERSION_FILE = "/proc/driver/nvidia/version"


def _driver_version() -> str | None:
    """The NVIDIA kernel driver's version from /proc (Linux), without NVML."""
    try:
        text = open(NVIDIA_VERSION_FILE, encoding="utf-8", errors="replace").read()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    return match.group(1) if match else None


def _nvml_clocks(index: int, pci_bus_id: str | None) -> dict[str, Any]:
    """Driver version and SM clocks through NVML when pynvml is installed; otherwise the driver
    from /proc only. NVML numbers devices ignoring CUDA_VISIBLE_DEVICES, so the device is found by
    its PCI bus id when torch gives one."""
    info: dict[str, Any] = {"driver": _driver_version()}
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        if pci_bus_id:
            handle = pynvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
        else:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        driver = pynvml.nvmlSystemGetDriverVersion()
        info.update(driver=driver.decode() if isinstance(driver, bytes) else driver,
                    sm_clock_mhz=pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
                    max_sm_clock_mhz=pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM))
    except Exception:  # not installed, no driver, a MIG slice: clocks are optional context
        pass
    return info


cuda: CudaBackend = CudaBackend()  # tests monkeypatch this module attribute


def cuda_unavailable_reason() -> str | None:
    """Why no GPU can be used, in one line, or None when one can."""
    if not cuda.built_with():
        return f"torch {torch.__version__} was built without CUDA (install a CUDA build of torch)"
    if cuda.device_count() == 0:
        return (f"torch {torch.__version__} is built with CUDA {cuda.built_with()} but no CUDA device "
                "is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)")
    return None


# ------------------------------------------------------------------------------- precision, threads

def _tf32_api() -> str:
    return "fp32_precision" if hasattr(torch.backends.cuda.matmul, "fp32_precision") else "allow_tf32"


def tf32_setting() -> str:
    """The cuBLAS float32 matmul precision in force: "tf32", "ieee" or "none" (torch's default)."""
    matmul = torch.backends.cuda.matmul
    if _tf32_api() == "fp32_precision":
        return str(matmul.fp32_precision)
    return "tf32" if matmul.allow_tf32 else "ieee"


@contextmanager
def matmul_precision(dtype: str) -> Iterator[str]:
    """Set cuBLAS TF32 for ``dtype`` ("tf32": on; anything else: off), restore it afterwards.

    Uses torch's fp32_precision API where it exists: mixing it with the legacy allow_tf32 flag makes
    torch refuse to read the flag, and round-tripping fp32_precision leaves either API readable.

    >>> with matmul_precision("tf32") as mode:
    ...     mode
    'tf32'
    """
    matmul = torch.backends.cuda.matmul
    api = _tf32_api()
    saved = getattr(matmul, api)
    wanted = "tf32" if dtype == "tf32" else "ieee"
    setattr(matmul, api, wanted if api == "fp32_precision" else wanted == "tf32")
    try:
        yield wanted
    finally:
        setattr(matmul, api, saved)


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """torch's intra-op thread count set to ``threads`` (None: leave it) and restored."""
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(saved)


# ------------------------------------------------------------------------------------------ timing

def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) with linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(samples)

    def q(p: float) -> float:
        pos = p * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


@dataclass
class Timing:
    """How long to measure: ``warmup`` calls, then ``repeat`` samples or samples until ``min_time``."""
    warmup: int = 3
    repeat: int | None = None
    min_time: float = 0.5
    min_repeat: int = 5
    max_repeat: int = 10_000
    cold: bool = False


def _enough(count: int, elapsed: float, timing: Timing) -> bool:
    if timing.repeat is not None:
        return count >= timing.repeat
    return count >= timing.max_repeat or (count >= timing.min_repeat and elapsed >= timing.min_time)


def time_cpu(fn: Callable[[], Any], timing: Timing) -> tuple[list[float], int]:
    """Per-call seconds of blocks of calls (each block ≥ 1 ms, as torch.utils.benchmark does, so
    the clock's resolution and overhead vanish), after ``timing.warmup`` calls."""
    per_call = math.inf
    for _ in range(max(timing.warmup, 1)):
        start = time.perf_counter()
        fn()
        per_call = min(per_call, time.perf_counter() - start)
    number = max(1, math.ceil(BLOCK_SECONDS / max(per_call, 1e-9)))
    samples: list[float] = []
    began = time.perf_counter()
    while not _enough(len(samples), time.perf_counter() - began, timing):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return samples, number


def time_cuda(fn: Callable[[], Any], timing: Timing, index: int, flush: Callable[[], Any] | None) -> list[float]:
    """Per-call seconds between CUDA events, one call per sample (as triton's do_bench), after
    ``timing.warmup`` calls; ``flush`` (the L2 flush of ``timing.cold``) runs before each start event."""
    # Warm-up: the ``warmup`` calls, continued until CUDA_WARMUP_SECONDS have passed so the GPU's
    # clocks have left idle (as do_bench's 25 ms warm-up, longer for a cold device).
    began = time.perf_counter()
    calls = 0
    while calls < max(timing.warmup, 1) or time.perf_counter() - began < CUDA_WARMUP_SECONDS:
        fn()
        calls += 1
        if calls % 8 == 0:
            cuda.synchronize(index)  # time on the host means time on the GPU only after a sync
    cuda.synchronize(index)
    # Estimate a call's time to know how many samples the budget allows, then record them all
    # without synchronizing in between (a sync per call would add launch gaps to nothing measured).
    probe_start, probe_end = cuda.event(), cuda.event()
    probe_start.record()
    fn()
    probe_end.record()
    cuda.synchronize(index)
    estimate = max(probe_start.elapsed_time(probe_end) / 1e3, 1e-7)
    if timing.repeat is not None:
        count = timing.repeat
    else:
        count = min(timing.max_repeat, max(timing.min_repeat, math.ceil(timing.min_time / estimate)))
    pairs = [(cuda.event(), cuda.event()) for _ in range(count)]
    for start, end in pairs:
        if flush is not None:
            flush()
        start.record()
        fn()
        end.record()
    cuda.synchronize(index)
    return [start.elapsed_time(end) / 1e3 for start, end in pairs]


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
        if index >= cuda.device_count():
            raise OptionError(f"{{device}} {device}: only {cuda.device_count()} CUDA device(s) visible "
                              f"(cuda:0..cuda:{cuda.device_count() - 1})", param="device")
        return [f"cuda:{index}"], []
    raise UsageError(f"{{device}} {device!r}: use cpu, cuda, cuda:N or all", param="device",
                     allowed=("cpu", "cuda", "cuda:N", "all"))


def _index(device: str) -> int:
    try:
        index = int(device.split(":", 1)[1])
    except ValueError:
        raise UsageError(f"{{device}} {device!r}: use cpu, cuda, cuda:N or all", param="device",
                         allowed=("cpu", "cuda", "cuda:N", "all")) from None
    if index < 0:
        raise UsageError(f"{{device}} {device!r}: the index must be 0 or more", param="device")
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
        "torch": torch.__version__, "cuda_build": cuda.built_with(), "python": platform.python_version(),
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
                   "cpu": f"time.perf_counter around blocks of calls lasting ≥ {BLOCK_SECONDS * 1e3:g} ms",
                   "cuda": "CUDA events around each call", "iqr": "q3 − q1, linear interpolation"},
    }
    for dev in devices:
        if dev.startswith("cuda"):
            env["gpus"][dev] = cuda.properties(int(dev.split(":")[1]))
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
    free = _available_ram_bytes() if index is None else cuda.free_bytes(index)
    if free is not None and result.memory_bytes > 0.9 * free:
        result.status = "skipped"
        result.note = (f"needs {result.memory_bytes / 2**30:.2f} GiB, {free / 2**30:.2f} GiB free "
                       f"on {dev}")
        return result
    device = torch.device("cpu") if index is None else cuda.device(index)
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
    device = cuda.device(index)
    results = []
    dev_buf = torch.empty(nbytes, dtype=torch.uint8, device=device)
    for memory in ("pageable", "pinned"):
        host = torch.empty(nbytes, dtype=torch.uint8)
        host.fill_(1)  # touch the pages: first-touch faults are not transfer time
        if memory == "pinned":
            host = cuda.pin(host)
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
    notes: list[str] = []
    if isinstance(devices, str):
        devices, notes = resolve_devices(devices)
    else:  # names such as "cpu", "cuda:1": each must be usable (one line says why not)
        resolved: list[str] = []
        for name in devices:
            for dev in resolve_devices(name)[0]:
                if dev not in resolved:
                    resolved.append(dev)
        devices = resolved
    for op in ops:
        if op not in OPS:
            raise UsageError(f"{{op}} {op!r}: use one of {', '.join(OPS)}", param="op", allowed=OPS)
    for dtype in dtypes or ():
        if dtype not in DTYPES:
            raise UsageError(f"{{dtype}} {dtype!r}: use one of {', '.join(DTYPES)}", param="dtype", allowed=DTYPES)
    names = case_names(ops)
    if only is not None:  # a subset of the cases by name, e.g. ["einsum bij,bjk->bik"]
        names &= set(only)
    with cpu_threads(threads) as used_threads:
        busy = _busy_note(used_threads) if "cpu" in devices else None
        result = BenchResult(environment(devices, used_threads, timing), notes=[*notes, *([busy] if busy else [])])
        plan = []
        for dev in devices:
            kind = "cpu" if dev == "cpu" else "cuda"
            for size in sizes or DEFAULT_SIZES[kind]:
                for dtype in dtypes or DEFAULT_DTYPES[kind]:
                    if kind == "cpu" and dtype == "tf32":
                        continue  # one note below rather than a skipped row per case
                    for case in make_cases(tuple(size), names):
                        plan.append((dev, dtype, case))
        if "cpu" in devices and "tf32" in (dtypes or ()):
            result.notes.append("tf32 skipped on CPU: it is a CUDA tensor-core mode (CPU float32 rows are IEEE float32)")
        flushers: dict[str, Callable[[], Any] | None] = {}
        for done, (dev, dtype, case) in enumerate(plan):
            if dev not in flushers:
                flushers[dev] = None
                if dev != "cpu" and timing.cold:
                    props = result.environment["gpus"][dev]
                    flushers[dev] = _l2_flusher(cuda.device(int(dev.split(":")[1])), props.get("l2_cache_bytes"))
            gpu_name = result.environment["gpus"].get(dev, {}).get("name")
            result.cases.append(_run_case(case, dtype, dev, timing, used_threads, flushers[dev], gpu_name))
            if progress:
                progress(done + 1, len(plan))
        flushers.clear()
        if timing.cold and "cpu" in devices:
            result.notes.append("cold (an L2 flush between samples) is for GPUs; on CPU it does nothing (n/a)")
        if transfers:
            for dev in devices:
                if dev.startswith("cuda"):
                    index = int(dev.split(":")[1])
                    if cuda.free_bytes(index) > 1.1 * TRANSFER_BYTES:
                        result.transfers.extend(measure_transfers(index))
                    else:
                        result.notes.append(f"transfers skipped on {dev}: less than 256 MiB free")
    _pair_up(result.cases)
    return result


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
