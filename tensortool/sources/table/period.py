"""Rows of a time series cut into fixed-length periods: (N/P, F, P) or (N/P, P, F)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError, q

IGNORE_INDEX = -100  # padded class targets: the default ignore_index of nn.CrossEntropyLoss


def _slots(times: np.ndarray | None, n: int, pad: bool, src: Path, time_name: str | None) -> tuple[np.ndarray, int]:
    """Each row's step in the time column (gaps need ``pad``), and how many steps are missing."""
    if times is None or n <= 1:
        return np.arange(n), 0
    steps = np.diff(times)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise InputError(f"time column {q(time_name)} is not increasing at data row {i + 2}", src)
    step = Counter(steps.tolist()).most_common(1)[0][0]
    if (steps % step).any():
        i = int(np.flatnonzero(steps % step)[0])
        raise InputError(f"time column {q(time_name)}: an irregular step after data row {i + 1}", src)
    slots = (times - times[0]) // step
    gaps = int(slots[-1] + 1 - n)
    if gaps and not pad:
        i = int(np.flatnonzero(steps != step)[0])
        raise InputError(f"time column {q(time_name)}: {gaps} missing step(s), the first after data row {i + 1}",
                         src, hint="{pad=True} fills missing steps with zeros and marks them in 'mask'")
    return slots, gaps


def by_period(tensors: dict[str, torch.Tensor], times: np.ndarray | None, period: int, layout: str, pad: bool,
              src: Path, time_name: str | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Rows → (N/P, F, P) or (N/P, P, F); gaps in the time column and a short tail need ``pad``."""
    n = len(next(iter(tensors.values())))
    slots, padded = _slots(times, n, pad, src, time_name)
    total = int(slots[-1]) + 1 if n else 0
    if total % period and not pad:
        raise InputError(f"{total} rows do not divide into periods of {period} ({total % period} left over)", src,
                         hint="{pad=True} completes the last period with zeros and marks it in 'mask'")
    full = -(-total // period) * period
    padded += full - total
    out: dict[str, torch.Tensor] = {}
    index = torch.from_numpy(slots)
    for name, t in tensors.items():
        fill = IGNORE_INDEX if name == "target" and t.dtype == torch.int64 else 0
        grid = torch.full((full, *t.shape[1:]), fill, dtype=t.dtype)
        grid[index] = t
        grid = grid.reshape(full // period, period, *t.shape[1:])
        if name == "features" and layout == "nfp":
            grid = grid.permute(0, 2, 1).contiguous()
        out[name] = grid
    meta: dict[str, Any] = {"layout": "nct" if layout == "nfp" else "ntc", "period": period, "padded_rows": padded}
    if pad:
        mask = torch.zeros(full, dtype=torch.bool)
        mask[index] = True
        out["mask"] = mask.reshape(full // period, period)
    return out, meta
