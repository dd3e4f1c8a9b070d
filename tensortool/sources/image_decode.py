"""The decoder seam: encoded image bytes into a C×H×W uint8 or uint16 tensor.

torchvision's decoders (libjpeg-turbo, libpng, libwebp, giflib) handle JPEG, PNG, WebP and GIF;
Pillow handles the rest. torchvision 0.29 deprecates these decoders in favour of TorchCodec;
swapping the backend means changing this module only.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError


def _sniff(head: bytes) -> str | None:
    """The formats torchvision decodes, by their magic bytes."""
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _png_palette(data: torch.Tensor) -> tuple[bool, bool]:
    """(is a palette PNG, has a tRNS chunk) from the IHDR colour type and the chunk list."""
    if data.numel() <= 25 or int(data[25]) != 3:
        return False, False
    return True, b"tRNS" in bytes(data[: min(data.numel(), 1 << 16)].numpy())


def _torchvision_mode(kind: str, mode: str, palette: tuple[bool, bool]):
    from torchvision.io import ImageReadMode

    if mode != "unchanged":
        return {"rgb": ImageReadMode.RGB, "gray": ImageReadMode.GRAY, "rgba": ImageReadMode.RGB_ALPHA}[mode]
    if palette[0]:  # torchvision's UNCHANGED returns the packed palette indices, not colours
        return ImageReadMode.RGB_ALPHA if palette[1] else ImageReadMode.RGB
    if kind == "gif":
        return ImageReadMode.RGB
    return ImageReadMode.UNCHANGED


def _clean(message: str) -> str:
    """torchvision's errors start with 'function, /source/path.cpp:line, '; keep the rest."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    return re.sub(r"^[\w]+, \S+\.cpp:\d+, ", "", first)


def _decode_torchvision(data: torch.Tensor, kind: str, mode: str) -> torch.Tensor | None:
    """torchvision's decode, or None where it cannot honour ``mode`` (then PIL decodes)."""
    from torchvision.io import ImageReadMode, decode_image as tv_decode

    if kind == "webp" and mode == "gray":
        return None  # torchvision's WebP decoder ignores GRAY and returns the colours
    palette = _png_palette(data) if kind == "png" else (False, False)
    # RGB plus an opaque alpha where torchvision's RGB_ALPHA fails: JPEG (refused) and palette
    # PNGs without transparency (torchvision 0.29 returns uninitialised memory for the alpha).
    add_alpha = mode == "rgba" and (kind == "jpeg" or (palette[0] and not palette[1]))
    tv_mode = ImageReadMode.RGB if add_alpha else _torchvision_mode(kind, mode, palette)
    img = tv_decode(data, mode=tv_mode, apply_exif_orientation=True)
    if img.dim() == 4:  # animated GIF/WebP: the first frame
        img = img[0]
    if kind == "jpeg" and mode == "unchanged" and img.shape[0] == 4:
        # A CMYK JPEG; "unchanged" means the colours, not the ink separations.
        img = tv_decode(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    if add_alpha:
        img = torch.cat([img, torch.full_like(img[:1], 255)])
    return img


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
    if mode == "unchanged":
        if im.mode in ("P", "PA"):
            target = "RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB"
        elif im.mode in ("L", "LA", "RGB", "RGBA"):
            target = im.mode
        elif im.mode in ("1",):
            target = "L"
        elif im.mode in ("La",):
            target = "LA"
        elif im.mode in ("RGBa",):
            target = "RGBA"
        else:  # CMYK, YCbCr, LAB, HSV, RGBX: the colours as RGB
            target = "RGB"
    else:
        target = {"rgb": "RGB", "gray": "L", "rgba": "RGBA"}[mode]
    arr = np.asarray(im.convert(target) if im.mode != target else im)
    return arr[..., None] if arr.ndim == 2 else arr


def _decode_pil(data: bytes, mode: str) -> torch.Tensor:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)
        upright = ImageOps.exif_transpose(im)
        arr = _pil_array(upright, mode)
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))  # a writable copy


def decode_image(data: torch.Tensor, mode: str = "rgb", path: str | Path | None = None) -> torch.Tensor:
    """Decode encoded image bytes (a uint8 tensor) into C×H×W uint8 or uint16, EXIF applied.

    torchvision decodes JPEG, PNG, WebP and GIF; PIL the rest (BMP, TIFF, PPM...), and any
    file torchvision rejects but PIL can read. Raises InputError naming ``path``.
    """
    from PIL import Image, UnidentifiedImageError

    kind = _sniff(bytes(data[:12].numpy()))
    first_error = None
    if kind:
        try:
            img = _decode_torchvision(data, kind, mode)
            if img is not None:
                return img
        except RuntimeError as exc:
            first_error = _clean(str(exc))
    try:
        return _decode_pil(data.numpy().tobytes(), mode)
    except UnidentifiedImageError:
        raise InputError("not an image file (unrecognised format)", path) from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"refusing a suspiciously large image: {exc}", path) from None
    except (OSError, ValueError, SyntaxError) as exc:
        detail = first_error or _clean(str(exc))
        raise InputError(f"corrupt or truncated image: {detail}", path) from None
