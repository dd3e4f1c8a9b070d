"""A contact sheet of a batch: a grid of thumbnails captioned by class or file name."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from ...bundle import Bundle
from ...errors import OptionError, OutputError, q
from ...shaping import from_layout
from ...tensorfile import atomic_write

THUMB = 128
CAPTION = 16


def _display_uint8(bundle: Bundle, limit: int) -> torch.Tensor:
    """The first ``limit`` images as N×C×H×W uint8, normalization undone, for showing."""
    meta = bundle.meta
    images = bundle[bundle.primary]
    layout = meta.get("layout", "nchw")
    if layout in ("chw", "hwc"):
        images = images.unsqueeze(0)
        layout = "n" + layout
    x = from_layout(images[:limit], layout)
    if x.dim() != 4:
        raise OptionError(f"a preview needs images; {q(bundle.primary)} has shape {list(images.shape)}")
    if x.dtype == torch.uint8:
        return x
    x = x.to(torch.float32)
    norm = meta.get("normalize")
    if norm:
        c = x.shape[1]
        mean = torch.tensor(norm["mean"], dtype=torch.float32).expand(c).view(1, -1, 1, 1)
        std = torch.tensor(norm["std"], dtype=torch.float32).expand(c).view(1, -1, 1, 1)
        x = x * std + mean
    if meta.get("scaled"):
        x = x * 255
    elif meta.get("bit_depths") == [16]:
        x = x / 257
    return x.round().clamp(0, 255).to(torch.uint8)


def contact_sheet(images: torch.Tensor, captions: list[str], total: int):
    """A PIL image: thumbnails of N×C×H×W uint8 ``images`` in a grid, one caption each."""
    from PIL import Image, ImageDraw, ImageFont

    n = images.shape[0]
    cols = min(8, n)
    rows = -(-n // cols)
    header = CAPTION if total > n else 0
    sheet = Image.new("RGB", (cols * (THUMB + 4) + 4, header + rows * (THUMB + CAPTION + 4) + 4), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if header:
        draw.text((4, 2), f"first {n} of {total} images", fill=(230, 230, 230), font=font)
    for k in range(n):
        arr = images[k].permute(1, 2, 0).contiguous().numpy()
        c = arr.shape[2]
        if c == 1 or c == 2:
            tile = Image.fromarray(arr[..., 0], "L").convert("RGB")
        elif c == 3:
            tile = Image.fromarray(arr, "RGB")
        else:  # alpha shown over a checkerboard
            rgba = Image.fromarray(arr[..., :4], "RGBA")
            board = Image.new("RGB", rgba.size, (200, 200, 200))
            square = Image.new("RGB", (8, 8), (150, 150, 150))
            for y in range(0, rgba.size[1], 16):
                for x in range(0, rgba.size[0], 16):
                    board.paste(square, (x, y))
                    board.paste(square, (x + 8, y + 8))
            board.paste(rgba, (0, 0), rgba)
            tile = board
        tile.thumbnail((THUMB, THUMB))
        col, row = k % cols, k // cols
        x0, y0 = 4 + col * (THUMB + 4), header + 4 + row * (THUMB + CAPTION + 4)
        sheet.paste(tile, (x0 + (THUMB - tile.size[0]) // 2, y0 + (THUMB - tile.size[1]) // 2))
        text = captions[k]
        while len(text) > 3 and draw.textlength(text, font=font) > THUMB:
            text = text[:-2] + "…"  # drop a character, keep the ellipsis
        draw.text((x0, y0 + THUMB + 2), text, fill=(230, 230, 230), font=font)
    return sheet


def write_preview(bundle: Bundle, path: str | Path, *, force: bool = False, max_images: int = 64,
                  inputs: Iterable[str | Path] = ()) -> Path:
    """Write a PNG contact sheet of the first ``max_images`` images of an image bundle.

    Captions are class names when the bundle has ``labels``, file names otherwise.

    >>> write_preview(load_images("samples/images"), "sheet.png")  # doctest: +SKIP
    """
    if Path(path).suffix.lower() != ".png":
        raise OutputError("the preview is a PNG image; give a path ending in .png", path)
    images = _display_uint8(bundle, max_images)
    n = images.shape[0]
    files = bundle.meta.get("files") or []
    names = bundle.meta.get("class_names")
    if names and "labels" in bundle.tensors:
        labels = bundle["labels"].reshape(-1).tolist()
        captions = [names[labels[k]] for k in range(n)]
    else:
        captions = [Path(files[k]).name if k < len(files) else str(k) for k in range(n)]
    total = bundle.meta.get("count", n)
    sheet = contact_sheet(images, captions, total)
    return atomic_write(path, lambda tmp: sheet.save(tmp, format="PNG"), force=force, inputs=inputs)
