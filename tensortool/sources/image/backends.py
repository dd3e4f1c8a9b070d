"""The decoders behind the seam: TorchCodec, torchvision and Pillow.

TorchCodec decodes JPEG, PNG, WebP and GIF when it imports with the installed torch; otherwise
torchvision does (its decoders are deprecated since 0.29). Pillow decodes every other format, and
the modes a native decoder cannot honour. ``decoder=`` or the TENSORTOOL_DECODER environment
variable forces one of them.

Each ``decode_*`` takes the file's bytes as a uint8 tensor, already sniffed and size-checked,
and returns C×H×W uint8 or uint16 with EXIF orientation applied, or None where that decoder
cannot honour the mode (the caller then asks Pillow).
"""

from __future__ import annotations

import io
import os
import threading
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from ...errors import OptionError, UsageError, q
from .constants import DECODERS
from .headers import PngInfo, check_pixels

DECODER_ENV = "TENSORTOOL_DECODER"


# --- which decoder ----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _torchcodec() -> tuple[Any, str | None]:
    """(torchcodec.decoders, its version), or (None, why it cannot be used)."""
    try:
        import torchcodec
        from torchcodec import decoders
    except Exception as exc:  # ImportError, or a native library built for another torch
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"{type(exc).__name__}: {text}"
    return decoders, getattr(torchcodec, "__version__", "?")


@lru_cache(maxsize=None)
def _torchvision_op() -> tuple[Any, str | None]:
    """(torch.ops.image.decode_image, version), or (None, why it cannot be used).

    The op itself, not torchvision.io.decode_image: that wrapper only adds a deprecation
    warning on every call to the same op."""
    try:
        import torchvision
        from torchvision.io import image
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if not image._has_image_ops():
        return None, "torchvision was built without its image decoders"
    return torch.ops.image.decode_image, torchvision.__version__


def _available(name: str) -> tuple[bool, str]:
    """(usable, version or the reason it is not)."""
    if name == "pillow":
        import PIL

        return True, PIL.__version__
    found, detail = (_torchcodec if name == "torchcodec" else _torchvision_op)()
    return found is not None, detail or "?"


def resolve_decoder(decoder: str | None = "auto") -> str:
    """The decoder to use: ``decoder`` unless "auto", then TENSORTOOL_DECODER if set, then the
    first of torchcodec, torchvision, pillow that can be used.

    >>> resolve_decoder("pillow")
    'pillow'
    """
    name = decoder or "auto"
    if name == "auto":
        name = os.environ.get(DECODER_ENV, "").strip().lower() or "auto"
        if name not in DECODERS:
            raise UsageError(f"{DECODER_ENV}={q(name)} is not a decoder; choose one of {', '.join(DECODERS)}",
                             param="decoder", allowed=DECODERS)
    if name not in DECODERS:
        raise UsageError(f"{{decoder={name}}} is not a decoder; choose one of {', '.join(DECODERS)}",
                         param="decoder", allowed=DECODERS)
    if name == "auto":
        return next(n for n in ("torchcodec", "torchvision", "pillow") if _available(n)[0])
    usable, detail = _available(name)
    if not usable:
        raise OptionError(f"{{decoder={name}}} was asked for, but it cannot be used: {detail}",
                          hint=f"install it (pip install {name}), or leave {{decoder=auto}}", param="decoder")
    return name


def decoder_label(name: str) -> str:
    """The decoder and its version, as recorded in a bundle's meta: 'torchcodec 0.17.0'."""
    return f"{name} {_available(name)[1]}"


# --- TorchCodec -------------------------------------------------------------------------------

_TC_MODES = {"rgb": "RGB", "gray": "GRAY", "rgba": "RGB_ALPHA", "unchanged": "UNCHANGED"}


def decode_torchcodec(data: torch.Tensor, kind: str, mode: str, png: PngInfo | None = None) -> torch.Tensor | None:
    """TorchCodec's decode; ``png``: the PNG's header (``headers.png_header``)."""
    if png is not None and png.exif:
        return None  # TorchCodec ignores a PNG's eXIf orientation; Pillow applies it
    tc = _torchcodec()[0]
    decode = {"jpeg": tc.decode_jpeg, "png": tc.decode_png, "gif": tc.decode_gif, "webp": tc.decode_webp}[kind]
    # "unchanged" GIF: the colours as RGB, as torchvision gives them (TorchCodec would add alpha)
    img = decode(data, mode="RGB" if kind == "gif" and mode == "unchanged" else _TC_MODES[mode], output_dtype="auto")
    if img.dim() == 4:  # animated GIF/WebP: the first frame
        img = img[0]
    if kind == "jpeg" and mode == "unchanged" and img.shape[0] == 4:
        img = decode(data, mode="RGB")  # CMYK: "unchanged" means the colours, not the inks
    return img


# --- torchvision ------------------------------------------------------------------------------

_UNCHANGED, _GRAY, _RGB, _RGBA = 0, 1, 3, 4  # torchvision's ImageReadMode values


def _torchvision_mode(kind: str, mode: str, png: PngInfo | None) -> int:
    if mode != "unchanged":
        return {"rgb": _RGB, "gray": _GRAY, "rgba": _RGBA}[mode]
    if png is not None and png.palette:  # torchvision's UNCHANGED gives the palette indices
        return _RGBA if png.trns else _RGB
    return _RGB if kind == "gif" else _UNCHANGED


def decode_torchvision(data: torch.Tensor, kind: str, mode: str, png: PngInfo | None = None) -> torch.Tensor | None:
    """torchvision's decode; a PNG must come from ``headers.checked_png``, with its header."""
    if (kind == "webp" and mode == "gray") or (kind == "gif" and mode in ("gray", "rgba")):
        return None  # torchvision's WebP and GIF decoders ignore these modes and return RGB
    op = _torchvision_op()[0]
    # RGB plus an opaque alpha where torchvision's RGB_ALPHA fails: JPEG (refused) and palette
    # PNGs without transparency (torchvision 0.29 returns uninitialised memory for the alpha).
    add_alpha = mode == "rgba" and (kind == "jpeg" or (png is not None and png.palette and not png.trns))
    img = op(data, _RGB if add_alpha else _torchvision_mode(kind, mode, png), True)
    if img.dim() == 4:  # animated GIF/WebP: the first frame
        img = img[0]
    if kind == "jpeg" and mode == "unchanged" and img.shape[0] == 4:
        img = op(data, _RGB, True)  # CMYK: "unchanged" means the colours, not the inks
    if add_alpha:
        img = torch.cat([img, torch.full_like(img[:1], 255)])
    return img


# --- Pillow -----------------------------------------------------------------------------------

def _pil_target(im, mode: str) -> str:
    """The PIL mode to convert ``im`` to."""
    if mode != "unchanged":
        return {"rgb": "RGB", "gray": "L", "rgba": "RGBA"}[mode]
    if im.mode in ("P", "PA"):
        return "RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB"
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return im.mode
    # 1 bit as L, premultiplied as straight alpha; CMYK, YCbCr, LAB, HSV, RGBX: the colours as RGB
    return {"1": "L", "La": "LA", "RGBa": "RGBA"}.get(im.mode, "RGB")


def _pil_array(im, mode: str) -> np.ndarray:
    """An H×W×C uint8 or uint16 array from a PIL image, in ``mode``."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if im.mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError("32-bit integer images are not supported (values beyond 16 bits)")
        gray = arr.astype(np.uint16)[..., None]
        if mode == "rgb":
            return np.repeat(gray, 3, axis=2)
        if mode == "rgba":
            return np.concatenate([np.repeat(gray, 3, axis=2), np.full_like(gray, 65535)], axis=2)
        return gray
    if im.mode == "F":
        raise ValueError("floating-point images are not supported")
    target = _pil_target(im, mode)
    arr = np.asarray(im.convert(target) if im.mode != target else im)
    return arr[..., None] if arr.ndim == 2 else arr


_PIL_LIMIT_LOCK = threading.Lock()


def _open_pil(data: bytes, path, max_pixels: int):
    """Image.open with our limit in place of Pillow's (which refuses twice its own on open)."""
    from PIL import Image

    if max_pixels and max_pixels <= (Image.MAX_IMAGE_PIXELS or 0):
        im = Image.open(io.BytesIO(data))
    else:  # a raised limit: Pillow's global check is switched off only while the header is read
        with _PIL_LIMIT_LOCK:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                im = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    width, height = im.size
    try:
        check_pixels(width * height, f"{width}x{height} {im.format or 'image'}", path, max_pixels)
    except Exception:
        im.close()
        raise
    return im


def decode_pil(data: bytes, mode: str, path=None, max_pixels: int = 0) -> torch.Tensor:
    """Pillow's decode of any format it reads: the first frame, EXIF orientation applied."""
    from PIL import ImageOps

    with _open_pil(data, path, max_pixels) as im:
        im.seek(0)
        upright = ImageOps.exif_transpose(im)
        arr = _pil_array(upright, mode)
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))  # a writable copy
