"""What a loaded stack becomes: a display window, the output dtype and the layout of the axes."""

from __future__ import annotations

import numpy as np
import torch

from ...errors import UsageError, q
from .constants import VOLUME_DTYPE_NAMES, VOLUME_LAYOUTS  # noqa: F401  (VOLUME_LAYOUTS: re-exported)

VOLUME_DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in VOLUME_DTYPE_NAMES}
# (center, width) in HU. Radiology's usual values (e.g. Radiopaedia's "windowing (CT)").
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
}


def parse_window(spec: str | tuple[float, float] | None) -> tuple[float, float, str | None] | None:
    """A preset name or ``CENTER,WIDTH`` → (center, width, preset name or None).

    >>> parse_window("lung")
    (-600.0, 1500.0, 'lung')
    """
    if spec is None:
        return None
    name = None
    if isinstance(spec, tuple):
        center, width = map(float, spec)
        name = None
    elif spec.lower() in WINDOW_PRESETS:
        center, width = WINDOW_PRESETS[spec.lower()]
        name = spec.lower()
    else:
        try:
            center, width = (float(v) for v in spec.split(","))
        except ValueError:
            raise UsageError(f"{{window}} {q(spec)}: expected CENTER,WIDTH (e.g. 40,400) or one of "
                             f"{', '.join(WINDOW_PRESETS)}", param="window", allowed=list(WINDOW_PRESETS)) from None
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise UsageError(f"{{window}} {q(spec)}: the width must be a positive number", param="window")
    return center, width, name


def window_meta(win: tuple[float, float, str | None] | None) -> dict | None:
    """The window as recorded in meta: center, width, preset and the value range it maps to [0, 1]."""
    if win is None:
        return None
    return {"center": win[0], "width": win[1], "preset": win[2], "range": [win[0] - win[1] / 2, win[0] + win[1] / 2]}


def shape_volume(volume: torch.Tensor, *, window: tuple[float, float, str | None] | None, out_dtype: torch.dtype,
                 channels: int, layout: str) -> torch.Tensor:
    """A (T, D, H, W[, C]) stack windowed, cast and laid out as ``layout`` (contiguous).

    The window clips to [center - width/2, center + width/2] and scales that to [0, 1], in place.
    """
    if window is not None:
        center, width, _ = window
        volume.sub_(center - width / 2).div_(width).clamp_(0.0, 1.0)
    if volume.dtype != out_dtype:
        volume = volume.to(out_dtype)
    if channels == 3:  # (T, D, H, W, C) -> (T, C, D, H, W)
        volume = volume.permute(0, 4, 1, 2, 3)
    else:
        volume = volume.unsqueeze(1)
    if layout == "cdhw":
        volume = volume[0]
    elif layout == "ndhw":
        volume = volume[:, 0]
    elif layout == "dhw":
        volume = volume[0, 0]
    return volume.contiguous()
