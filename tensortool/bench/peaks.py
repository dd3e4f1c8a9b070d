"""Datasheet dense peaks of GPUs, and an estimate of a CPU's peak, for "% of peak" in `bench`.

Numbers are TFLOP/s, dense (NVIDIA's datasheets print the sparse figure with a footnote; we
halve it). float32 is the CUDA-core figure (TF32 off), tf32/float16/bfloat16 the tensor-core
figures with float32 accumulation (what torch.matmul uses), float64 the FP64 tensor-core figure
where the part has one (cuBLAS DGEMM uses it), else the FP64 vector figure.

Sources:
- H100 SXM5 and H100 PCIe: "NVIDIA H100 Tensor Core GPU" datasheet (2023): FP64 34/26,
  FP64 TC 67/51, FP32 67/51, TF32 989/756*, BF16 and FP16 1,979/1,513* (* with sparsity).
- H200 (SXM): "NVIDIA H200 Tensor Core GPU" datasheet (2024): FP64 TC 67, FP32 67,
  TF32 989*, BF16/FP16 1,979* — the H100 SXM's compute with more and faster memory.
- A100 (SXM4 and PCIe, 40 and 80 GB): "NVIDIA A100 Tensor Core GPU" datasheet (2021):
  FP64 TC 19.5, FP32 19.5, TF32 156 (312*), BF16/FP16 312 (624*).
- L4: "NVIDIA L4 Tensor Core GPU" datasheet (2023): FP32 30.3, TF32 120*, BF16/FP16 242*;
  FP64 not listed (n/a).
- GeForce RTX 4090: "NVIDIA Ada GPU Architecture" whitepaper v2.1, appendix table: FP32 82.6,
  TF32 tensor 82.6, BF16 and FP16 tensor with FP32 accumulate 165.2, FP64 1.3.
Boost clocks throughout; sustained clocks under a long GEMM are lower, so 80-90% is good.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

GPU_PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"float64": 67.0, "float32": 67.0, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "H100 PCIe": {"float64": 51.0, "float32": 51.0, "tf32": 378.0, "bfloat16": 756.5, "float16": 756.5},
    "H200": {"float64": 67.0, "float32": 67.0, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "A100": {"float64": 19.5, "float32": 19.5, "tf32": 156.0, "bfloat16": 312.0, "float16": 312.0},
    "L4": {"float32": 30.3, "tf32": 60.0, "bfloat16": 121.0, "float16": 121.0},
    "RTX 4090": {"float64": 1.3, "float32": 82.6, "tf32": 82.6, "bfloat16": 165.2, "float16": 165.2},
}

# torch.cuda.get_device_name() → table key; first match wins. NVL parts (lower clocks) and any
# other variant we have no datasheet line for fall through to n/a rather than a wrong figure.
_NAME_RULES: list[tuple[str, str | None]] = [
    (r"NVL", None),
    (r"H100.*PCIe", "H100 PCIe"),
    (r"H100", "H100 SXM"),  # "NVIDIA H100 80GB HBM3" is the SXM5 part
    (r"H200", "H200"),
    (r"A100", "A100"),
    (r"\bL4\b", "L4"),
    (r"RTX 4090", "RTX 4090"),
]


def gpu_model(device_name: str) -> str | None:
    """The peak-table key for a CUDA device name, or None when unknown.

    >>> gpu_model("NVIDIA H100 80GB HBM3"), gpu_model("NVIDIA H100 PCIe"), gpu_model("Tesla T4")
    ('H100 SXM', 'H100 PCIe', None)
    """
    for pattern, model in _NAME_RULES:
        if re.search(pattern, device_name):
            return model
    return None


def gpu_peak_tflops(device_name: str, dtype: str) -> float | None:
    """Dense datasheet peak in TFLOP/s for ``dtype`` on the named device, or None (n/a).

    >>> gpu_peak_tflops("NVIDIA A100-SXM4-80GB", "bfloat16")
    312.0
    """
    model = gpu_model(device_name)
    return None if model is None else GPU_PEAK_TFLOPS[model].get(dtype)


def cpu_info() -> dict[str, object]:
    """What /proc/cpuinfo says that a peak estimate needs (Linux x86; elsewhere mostly None)."""
    text = ""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass

    def field(name: str) -> str | None:
        match = re.search(rf"^{name}\s*:\s*(.*)$", text, re.MULTILINE)
        return match.group(1).strip() if match else None

    flags = set((field("flags") or "").split())
    mhz = field("cpu MHz")
    return {"model": field("model name"), "logical_cpus": os.cpu_count(),
            "mhz": float(mhz) if mhz else None, "flags": flags}


def cpu_peak_tflops(dtype: str, threads: int, info: dict[str, object] | None = None) -> float | None:
    """Estimated float32/float64 peak of ``threads`` cores: cores × clock × lanes × 2 (FMA) × 2 FMA
    units, with lanes from the widest vector ISA (AVX-512: 512 bits, AVX2+FMA: 256 bits).

    The two FMA units per core are an assumption (true of x86 server cores since Haswell and Zen 5;
    Zen 4 and some Xeons run 512-bit FMAs at half rate, so for them this overestimates 2×).
    The clock is /proc/cpuinfo's "cpu MHz" (often the base clock under a hypervisor). Other dtypes,
    and machines without these flags or a clock, give None (n/a).

    >>> cpu_peak_tflops("float32", 2, {"mhz": 2500.0, "flags": {"avx512f", "fma"}})
    0.32
    """
    info = cpu_info() if info is None else info
    flags, mhz = info.get("flags") or set(), info.get("mhz")
    bits = {"float32": 32, "float64": 64}.get(dtype)
    if bits is None or not mhz:
        return None
    if "avx512f" in flags:
        vector_bits = 512
    elif "avx2" in flags and "fma" in flags:
        vector_bits = 256
    else:
        return None
    flop_per_cycle = (vector_bits // bits) * 2 * 2
    return round(threads * float(mhz) * 1e6 * flop_per_cycle / 1e12, 6)
