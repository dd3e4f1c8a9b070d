"""The CUDA seam: every CUDA call bench makes goes through ``cuda`` (tests put a fake there), plus
the cuBLAS TF32 setting and why a GPU cannot be used."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

import torch


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


cuda: CudaBackend = CudaBackend()  # tests replace this module attribute with a fake


def cuda_unavailable_reason() -> str | None:
    """Why no GPU can be used, in one line, or None when one can."""
    if not cuda.built_with():
        return f"torch {torch.__version__} was built without CUDA (install a CUDA build of torch)"
    if cuda.device_count() == 0:
        return (f"torch {torch.__version__} is built with CUDA {cuda.built_with()} but no CUDA device "
                "is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)")
    return None


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
