"""The cases `bench` times: matmul, bmm and four einsums, each with its inputs, FLOP count, output
shape, memory need and a float64 check of a slice of its result.

>>> [c.name for c in make_cases((64, 64, 64), case_names(["bmm"]))]
['bmm']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

TORCH_DTYPES = {"float32": torch.float32, "tf32": torch.float32, "float16": torch.float16,
                "bfloat16": torch.bfloat16, "float64": torch.float64}
# Allowed error, in units of the typical magnitude of an output element (√R · Π rms(operand) for a
# contraction of length R): ~10 × the unit roundoff of what the op computes in (tf32 rounds inputs
# to 10 mantissa bits; fp16/bf16 round the output). A wrong result is off by about 1 unit.
TOLERANCE = {"float64": 1e-11, "float32": 1e-5, "tf32": 5e-3, "float16": 5e-3, "bfloat16": 3e-2}
CHECK_ROWS = 64        # the slice checked against float64


@dataclass
class Case:
    """A runnable case: how to make its inputs, run it, and check a slice against float64."""
    name: str
    op: str
    baseline: str | None
    shapes: list[tuple[int, ...]]
    flops: int
    reduction: int                         # contraction length R, for the tolerance
    run: Callable[[list[torch.Tensor]], torch.Tensor]
    check: Callable[[list[torch.Tensor], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    out_shape: tuple[int, ...] = ()
    extra_elems: int = 0                   # intermediates (the bilinear form's x·W), in elements
    size: tuple[int, int, int] = (0, 0, 0)  # the size item it was made from

    @property
    def shape_text(self) -> str:
        return " · ".join("x".join(map(str, s)) for s in self.shapes)

    @property
    def elements(self) -> int:
        """Elements a call holds at once: operands, output, intermediates."""
        return sum(math.prod(s) for s in self.shapes) + math.prod(self.out_shape) + self.extra_elems


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64)


BMM_BATCH = 8
ATTENTION_HEADS, ATTENTION_HEAD_DIM = 16, 64
BILINEAR_BATCH, BILINEAR_OUT = 64, 16


def _bilinear_matmul(t: list[torch.Tensor]) -> torch.Tensor:
    x, w, y = t  # (b,i) (i,j,k) (b,j): the same contraction as a matmul then a bmm
    i, j, k = w.shape
    xw = (x @ w.reshape(i, j * k)).view(-1, j, k)
    return torch.bmm(y.unsqueeze(1), xw).squeeze(1)


def make_cases(size: tuple[int, int, int], names: set[str]) -> list[Case]:
    """The cases of one size: matmul M×K @ K×N; bmm and its einsum: a batch of 8 of M/2×K/2 @ K/2×N/2
    (the same FLOPs as the matmul); attention scores: 1×16 heads, q=M, k=N, d=64; bilinear form
    bi,ijk,bj->bk: b=64, i=M, j=N, k=16. Each einsum is paired with its matmul/bmm form."""
    m, n, k = size
    s = CHECK_ROWS
    hm, hn, hk = max(m // 2, 1), max(n // 2, 1), max(k // 2, 1)
    h, d, b, o = ATTENTION_HEADS, ATTENTION_HEAD_DIM, BILINEAR_BATCH, BILINEAR_OUT

    def mm_check(t, out):
        a, w = t
        return out[:s, :s], _f64(a[:s]) @ _f64(w[:, :s])

    def bmm_check(t, out):
        a, w = t
        return out[[0, -1], :s, :s], _f64(a[[0, -1], :s]) @ _f64(w[[0, -1], :, :s])

    def attn_check(t, out):
        q, kk = t
        return out[0, [0, -1], :s, :s], _f64(q[0, [0, -1], :s]) @ _f64(kk[0, [0, -1], :s]).transpose(-1, -2)

    def bil_check(t, out):
        # Outputs 0 and last, W read in row chunks: a float64 copy of all of W would need 8 GiB at 8192.
        x, w, y = _f64(t[0][:s]), t[1], _f64(t[2][:s])
        cols = [0, w.shape[2] - 1]
        acc = torch.zeros(x.shape[0], w.shape[1], len(cols), dtype=torch.float64, device=w.device)
        for i0 in range(0, w.shape[0], 1024):
            acc += torch.einsum("bi,ijk->bjk", x[:, i0:i0 + 1024], _f64(w[i0:i0 + 1024][:, :, cols]))
        return out[:s][:, cols], torch.einsum("bjk,bj->bk", acc, y)

    all_cases = [
        Case("matmul", "matmul", None, [(m, k), (k, n)], 2 * m * n * k, k,
             lambda t: torch.matmul(t[0], t[1]), mm_check, (m, n)),
        Case("einsum ij,jk->ik", "einsum", "matmul", [(m, k), (k, n)], 2 * m * n * k, k,
             lambda t: torch.einsum("ij,jk->ik", t[0], t[1]), mm_check, (m, n)),
        Case("bmm", "bmm", None, [(BMM_BATCH, hm, hk), (BMM_BATCH, hk, hn)], 2 * BMM_BATCH * hm * hn * hk, hk,
             lambda t: torch.bmm(t[0], t[1]), bmm_check, (BMM_BATCH, hm, hn)),
        Case("einsum bij,bjk->bik", "einsum", "bmm", [(BMM_BATCH, hm, hk), (BMM_BATCH, hk, hn)],
             2 * BMM_BATCH * hm * hn * hk, hk, lambda t: torch.einsum("bij,bjk->bik", t[0], t[1]), bmm_check,
             (BMM_BATCH, hm, hn)),
        Case("q @ kᵀ", "einsum", None, [(1, h, m, d), (1, h, n, d)], 2 * h * m * n * d, d,
             lambda t: torch.matmul(t[0], t[1].transpose(-1, -2)), attn_check, (1, h, m, n)),
        Case("einsum bhqd,bhkd->bhqk", "einsum", "q @ kᵀ", [(1, h, m, d), (1, h, n, d)], 2 * h * m * n * d, d,
             lambda t: torch.einsum("bhqd,bhkd->bhqk", t[0], t[1]), attn_check, (1, h, m, n)),
        Case("bilinear matmul+bmm", "einsum", None, [(b, m), (m, n, o), (b, n)], 2 * b * m * n * o + 2 * b * n * o,
             m * n, _bilinear_matmul, bil_check, (b, o), extra_elems=b * n * o),
        Case("einsum bi,ijk,bj->bk", "einsum", "bilinear matmul+bmm", [(b, m), (m, n, o), (b, n)],
             2 * b * m * n * o + 2 * b * n * o, m * n,
             lambda t: torch.einsum("bi,ijk,bj->bk", t[0], t[1], t[2]), bil_check, (b, o),
             extra_elems=b * n * o),
    ]
    for case in all_cases:
        case.size = size
    return [c for c in all_cases if c.name in names]


def case_names(ops: Sequence[str]) -> set[str]:
    """Op groups → case names; einsum brings the matmul/bmm form each einsum is compared with."""
    names: set[str] = set()
    for op in ops:
        if op in ("matmul", "all"):
            names.add("matmul")
        if op in ("bmm", "all"):
            names.add("bmm")
        if op in ("einsum", "all"):
            names.update(["matmul", "einsum ij,jk->ik", "bmm", "einsum bij,bjk->bik", "q @ kᵀ",
                          "einsum bhqd,bhkd->bhqk", "bilinear matmul+bmm", "einsum bi,ijk,bj->bk"])
    return names


def memory_needed(case: Case, dtype: str) -> int:
    """Bytes a case allocates: operands, output and intermediates (a second output while the
    previous one is freed is covered by the 10% headroom kept by the caller)."""
    itemsize = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    return case.elements * itemsize


def make_inputs(case: Case, dtype: str, device: torch.device, seed: int = 0) -> list[torch.Tensor]:
    """Normal inputs scaled by R^(-1/(2·operands)) so outputs are of order 1 whatever the size
    (float16 does not overflow at 8192 and the tolerance is the same for every size)."""
    # Drawn on the device, in the dtype: no host copy of a multi-GiB operand, no transfer.
    gen = torch.Generator(device=device).manual_seed(seed)
    scale = case.reduction ** (-1.0 / (2 * len(case.shapes)))
    return [torch.randn(s, generator=gen, device=device, dtype=TORCH_DTYPES[dtype]).mul_(scale)
            for s in case.shapes]


def _rms(t: torch.Tensor, chunk: int = 2**24) -> float:
    """Root mean square in float32 chunks (summed in Python floats): no full-size copy of a
    multi-GiB operand, whatever a reduction's dtype argument does internally."""
    flat = t.reshape(-1)
    total = sum(torch.linalg.vector_norm(flat[i:i + chunk].float()).item() ** 2
                for i in range(0, flat.numel(), chunk))
    return math.sqrt(total / max(flat.numel(), 1))


def check_case(case: Case, inputs: list[torch.Tensor], out: torch.Tensor, dtype: str) -> tuple[float, float]:
    """Max abs error of a slice of ``out`` against float64, and the bound it must stay under."""
    got, ref = case.check(inputs, out)
    err = (_f64(got.cpu()) - ref.cpu()).abs().max().item()
    typical = math.sqrt(case.reduction) * math.prod(_rms(t) for t in inputs)
    bound = TOLERANCE[dtype] * typical
    if not math.isfinite(err):
        err = math.inf
    return err, bound
