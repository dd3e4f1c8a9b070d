"""The output batch: allocated when the first image arrives, then filled slot by slot from
the decoding threads, already converted to the output dtype and layout."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...errors import OptionError
from ...shaping import Normalization, convert_into


def _size_text(shape: tuple[int, ...], channels: bool = False) -> str:
    c, h, w = shape
    return f"{h}x{w} with {c} channel{'s' if c > 1 else ''}" if channels else f"{h}x{w}"


def _memory_limit() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


class Batch:
    """The output tensor, allocated by the first image that arrives; later ones fill slots."""

    def __init__(self, files: Sequence[Path], *, layout: str, dtype: torch.dtype, scale: bool,
                 normalization: Normalization | None):
        self.files, self.layout, self.dtype, self.scale = files, layout, dtype, scale
        self.normalization = normalization
        self.lock = threading.Lock()
        self.out: torch.Tensor | None = None
        self.shape: tuple[int, ...] | None = None
        self.norm: tuple[torch.Tensor, torch.Tensor] | None = None

    def _allocate(self, shape: tuple[int, ...]) -> None:
        c, h, w = shape
        per_image = (h, w, c) if self.layout in ("nhwc", "hwc") else (c, h, w)
        needed = len(self.files) * c * h * w * torch.empty((), dtype=self.dtype).element_size()
        limit = _memory_limit()
        if limit and needed > limit:
            raise OptionError(f"this batch needs {needed / 2**30:.1f} GiB ({len(self.files)} images of "
                              f"{_size_text(shape, True)}) but the machine has {limit / 2**30:.1f} GiB",
                              hint="use {resize}, fewer files, or dataset statistics (stats), which stream")
        if self.normalization is not None:
            self.norm = self.normalization.for_channels(c)
        self.out = torch.empty((len(self.files), *per_image), dtype=self.dtype)
        self.shape = shape

    def place(self, i: int, img: torch.Tensor) -> tuple[tuple[int, ...], int]:
        shape, bits = tuple(img.shape), 8 if img.dtype == torch.uint8 else 16
        if bits == 16 and self.dtype == torch.uint8 and not self.scale:
            raise OptionError("16-bit image, but {dtype=uint8} keeps raw 8-bit values", self.files[i],
                              hint="add {scale=True} to map 0..65535 to 0..255, or use a float {dtype}", param="scale")
        with self.lock:
            if self.out is None:
                self._allocate(shape)
        if shape == self.shape:
            if self.dtype == torch.float32:
                _to_float32(self.out[i], img, self.layout, self.scale, self.norm)
            elif self.dtype == torch.uint8:
                _to_uint8(self.out[i], img, self.layout)
            else:
                convert_into(self.out[i], img, layout=self.layout, scale=self.scale, normalization=self.norm)
        return shape, bits


def _to_float32(out: torch.Tensor, img: torch.Tensor, layout: str, scale: bool,
                norm: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    """``shaping.convert_into`` for a float32 slot, computed by numpy: the same float32 operations
    (so the same bits), on this thread alone. torch would start an OpenMP team for each image
    from each decoding thread; with every core already decoding, the teams wait on each other
    (measured: up to 40x slower on a busy 2-core machine)."""
    src = img.numpy()
    if layout in ("nhwc", "hwc"):
        src = src.transpose(1, 2, 0)
    dst = out.numpy()
    if scale:
        np.divide(src, np.float32(255 if img.dtype == torch.uint8 else 65535), out=dst, dtype=np.float32)
    else:
        np.copyto(dst, src, casting="safe")
    if norm is not None:
        shape = (-1, 1, 1) if layout in ("nchw", "chw") else (1, 1, -1)
        mean, std = (t.to(torch.float32).numpy().reshape(shape) for t in norm)
        np.subtract(dst, mean, out=dst)
        np.divide(dst, std, out=dst)


def _to_uint8(out: torch.Tensor, img: torch.Tensor, layout: str) -> None:
    """``shaping.convert_into`` for a uint8 slot, in numpy on this thread (see ``_to_float32``:
    torch's copy of an image-sized tensor also starts an OpenMP team). 8-bit values are copied;
    a 16-bit image (only with scale, checked by the caller) becomes round(x / 257), rounding
    half to even as torch.round does."""
    src = img.numpy()
    if layout in ("nhwc", "hwc"):
        src = src.transpose(1, 2, 0)
    dst = out.numpy()
    if img.dtype == torch.uint8:
        np.copyto(dst, src)
    else:
        np.copyto(dst, np.round(np.divide(src, np.float32(257.0), dtype=np.float32)), casting="unsafe")


def size_error(files: Sequence[Path], shapes: list[tuple[int, ...] | None]) -> OptionError:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        if shape is not None:
            groups.setdefault(shape, []).append(i)
    by_size = len({(s[1], s[2]) for s in groups}) > 1
    parts = [f"{_size_text(s, not by_size)} ({len(ix)} file{'s' if len(ix) > 1 else ''}, e.g. {files[ix[0]]})"
             for s, ix in sorted(groups.items(), key=lambda kv: kv[1][0])]
    if by_size:
        return OptionError("the images differ in size: " + "; ".join(parts),
                           hint="pass {resize} and/or {center_crop} to make them one size")
    return OptionError("the images differ in channel count: " + "; ".join(parts),
                       hint="pass {mode=rgb}, gray or rgba to give every image the same channels")


def value_range(dtype: torch.dtype, scale: bool, depths: set[int], normalized: bool) -> str:
    if dtype == torch.uint8:
        text = "0..255 (raw 8-bit values)" if not scale or depths == {8} else "0..255 (16-bit images as round(x/257))"
    elif scale:
        text = "0..1 (x/255 for 8-bit, x/65535 for 16-bit images)"
    else:
        text = {frozenset({8}): "0..255 (raw)", frozenset({16}): "0..65535 (raw)"}.get(
            frozenset(depths), "raw: 0..255 (8-bit), 0..65535 (16-bit)")
    return f"(x - mean) / std of {text}" if normalized else text
