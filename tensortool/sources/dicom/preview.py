"""A picture of a volume: axial, coronal and sagittal mid-slices side by side, to check orientation."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from ...bundle import Bundle
from ...errors import OutputError
from ...tensorfile import atomic_write

PANEL = 256


def _gray(plane: torch.Tensor, lo: float, hi: float):
    from PIL import Image

    x = ((plane.float() - lo) / max(hi - lo, 1e-12)).clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(x.numpy(), "L")


def write_volume_preview(bundle: Bundle, path: str | Path, *, force: bool = False,
                         inputs: Iterable[str | Path] = ()) -> Path:
    """Write a PNG of the primary volume's three mid-slices, each scaled by the voxel spacing.

    Values: the window already applied ([0,1]); otherwise the 1st to 99th percentile. Rows of
    the axial panel run top to bottom as stored (anterior at the top for a standard axial CT).

    >>> write_volume_preview(load_dicom("samples/dicom/ct"), "ct.png")  # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    if Path(path).suffix.lower() != ".png":
        raise OutputError("the preview is a PNG image; give a path ending in .png", path)
    meta = bundle.meta.get("series", [bundle.meta])[0]
    vol = bundle[bundle.primary]
    layout = meta.get("layout") or bundle.meta.get("layout", "dhw")
    if "c" in layout:  # first channel (or the mean of RGB) of the first volume
        vol = vol[0] if layout.startswith("n") else vol
        vol = vol.float().mean(0)
    elif layout.startswith("n"):
        vol = vol[0]
    vol = vol.float()
    if meta.get("window"):
        lo, hi = 0.0, 1.0
    else:
        sample = vol.flatten()[:: max(1, vol.numel() // 1_000_000)]
        lo, hi = (float(v) for v in torch.quantile(sample, torch.tensor([0.01, 0.99])))
    # Panel proportions only: a spacing that is not a positive finite number counts as 1 mm.
    dz, dy, dx = (v if isinstance(v, (int, float)) and 0 < v < float("inf") else 1.0
                  for v in (meta.get("spacing_mm") or (1.0, 1.0, 1.0)))
    d, h, w = vol.shape
    panels = [("axial (d mid)", vol[d // 2], dy, dx), ("coronal (h mid)", vol[:, h // 2].flip(0), dz, dx),
              ("sagittal (w mid)", vol[:, :, w // 2].flip(0), dz, dy)]
    images = []
    for title, plane, sy, sx in panels:
        img = _gray(plane, lo, hi)
        height_mm, width_mm = plane.shape[0] * sy, plane.shape[1] * sx
        scale = PANEL / max(height_mm, width_mm)
        img = img.resize((max(1, round(width_mm * scale)), max(1, round(height_mm * scale))), Image.BILINEAR)
        images.append((title, img))
    sheet = Image.new("RGB", (3 * (PANEL + 8) + 8, PANEL + 32), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for k, (title, img) in enumerate(images):
        x0 = 8 + k * (PANEL + 8)
        sheet.paste(img.convert("RGB"), (x0 + (PANEL - img.size[0]) // 2, 24 + (PANEL - img.size[1]) // 2))
        draw.text((x0, 6), title, fill=(230, 230, 230))
    return atomic_write(path, lambda tmp: sheet.save(tmp, format="PNG"), force=force, inputs=inputs)
