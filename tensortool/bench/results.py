"""What a bench run found: one CaseResult per op, size, dtype and device; transfers; notes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .._version import __version__


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
