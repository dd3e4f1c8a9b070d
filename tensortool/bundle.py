"""The Bundle: named tensors plus a dict of plain JSON-able metadata, and its summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .moments import Moments


@dataclass
class Bundle:
    """Named tensors and their metadata; what every reader returns and every writer takes.

    ``primary`` names the main tensor (the one a single-array format such as .npy holds).
    ``meta`` holds only JSON-able values (layout, source files, normalization, class names...).

    >>> b = Bundle({"images": torch.zeros(2, 3, 4, 4)}, {"layout": "nchw"})
    >>> b.primary, tuple(b["images"].shape)
    ('images', (2, 3, 4, 4))
    """

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    primary: str = ""

    def __post_init__(self) -> None:
        if not self.primary and self.tensors:
            self.primary = next(iter(self.tensors))

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]


def channel_dim(layout: str | None, ndim: int) -> int | None:
    """Index of the channel axis for a layout string such as 'nchw', or None."""
    if not layout or len(layout) != ndim or "c" not in layout:
        return None
    return layout.index("c")


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return float(value) if math.isfinite(value) else None


def tensor_summary(t: torch.Tensor, channel_axis: int | None = None) -> dict[str, Any]:
    """Shape, dtype, bytes, min, max, mean and (with ``channel_axis``) per-channel mean/std.

    Statistics are computed in float64 in bounded chunks; std is the population std (ddof=0).
    """
    info: dict[str, Any] = {
        "shape": list(t.shape),
        "dtype": str(t.dtype).removeprefix("torch."),
        "bytes": t.numel() * t.element_size(),
        "min": None, "max": None, "mean": None,
    }
    if t.layout == torch.sparse_coo:  # what it holds: indices and values, not the dense size
        c = t.coalesce()
        info["bytes"] = c.indices().numel() * 8 + c.values().numel() * c.values().element_size()
    if t.numel() == 0 or t.is_complex() or t.layout != torch.strided:
        return info
    x = t.detach().cpu()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    per = Moments.of(x, channel_axis if x.dim() > 1 else None)
    whole = per.pooled()
    info.update(min=_number(whole.min.item()), max=_number(whole.max.item()),
                mean=_number(whole.mean.item()))
    if channel_axis is not None and x.dim() > 1:
        info["channel_mean"] = [_number(v) for v in per.mean.tolist()]
        info["channel_std"] = [_number(v) for v in per.std().tolist()]
    return info


def summarize(bundle: Bundle) -> dict[str, dict[str, Any]]:
    """Summary of every tensor in the bundle; the primary one gets per-channel figures."""
    layout = bundle.meta.get("layout") if isinstance(bundle.meta, dict) else None
    out = {}
    for name, t in bundle.tensors.items():
        axis = channel_dim(layout, t.dim()) if name == bundle.primary else None
        out[name] = tensor_summary(t, axis)
    return out
