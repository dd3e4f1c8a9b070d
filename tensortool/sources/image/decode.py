"""The decoder seam: encoded image bytes into a C×H×W uint8 or uint16 tensor.

The file's format is sniffed from its first bytes and its size read from its header (refused
beyond ``max_pixels`` before anything is allocated). Then the chosen decoder (``backends``:
TorchCodec, else torchvision) decodes JPEG, PNG, WebP and GIF, and Pillow everything else, the
modes those cannot honour, and any file they reject that Pillow can read.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ...errors import InputError
from .backends import decode_pil as _decode_pil
from .backends import decode_torchcodec as _decode_torchcodec
from .backends import decode_torchvision as _decode_torchvision
from .backends import resolve_decoder
from .headers import check_header, checked_png, png_header, sniff

from .constants import DEFAULT_MAX_PIXELS  # noqa: F401  (re-exported)

__all__ = ["DEFAULT_MAX_PIXELS", "decode_image"]


def _clean(message: str) -> str:
    """Native decoders' errors start with 'function, /source/path.cpp:line, '; keep the rest."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    return re.sub(r"^[\w]+, \S+\.cpp:\d+, ", "", first)


def _decode_error(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    return f"cannot decode this image: {type(exc).__name__}: {_clean(str(exc))}"


def _decode_native(data: torch.Tensor, kind: str, mode: str, path, max_pixels: int,
                   decoder: str) -> torch.Tensor | None:
    """TorchCodec's or torchvision's decode after the header checks; None: ask Pillow."""
    if decoder == "torchcodec":
        png = png_header(data, path, max_pixels) if kind == "png" else None
        if png is None:
            check_header(data, kind, path, max_pixels)
        return _decode_torchcodec(data, kind, mode, png)
    png = None
    if kind == "png":  # libpng inside torchvision must never meet bad image data
        data, png = checked_png(data, path, max_pixels)
    else:
        check_header(data, kind, path, max_pixels)
    return _decode_torchvision(data, kind, mode, png)


def decode_image(data: torch.Tensor, mode: str = "rgb", path: str | Path | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, decoder: str = "auto") -> torch.Tensor:
    """Decode encoded image bytes (a uint8 tensor) into C×H×W uint8 or uint16, EXIF applied.

    ``decoder``: "auto" (TorchCodec if it imports, else torchvision; TENSORTOOL_DECODER
    overrides), "torchcodec", "torchvision" or "pillow". Pillow decodes the formats the others
    lack (BMP, TIFF, PPM...), and any file they reject but Pillow can read. An image of more
    than ``max_pixels`` pixels (0: no limit; a GIF counts every frame) is refused from its
    header. Any failure raises InputError naming ``path``.

    >>> decode_image(torch.frombuffer(bytearray(open("samples/special/gray.png", "rb").read()),
    ...              dtype=torch.uint8), "rgb").shape  # doctest: +SKIP
    torch.Size([3, 48, 64])
    """
    from PIL import Image, UnidentifiedImageError

    decoder = resolve_decoder(decoder)
    kind = sniff(bytes(data[:12].numpy())) if decoder != "pillow" else None
    first_error = None
    if kind:
        try:
            img = _decode_native(data, kind, mode, path, max_pixels, decoder)
            if img is not None:
                return img
        except InputError:
            raise
        except RuntimeError as exc:
            first_error = _clean(str(exc))
        except Exception as exc:  # a decoder bug must not escape as anything but a bad file
            raise InputError(_decode_error(exc), path) from None
    try:
        return _decode_pil(data.numpy().tobytes(), mode, path, max_pixels)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("not an image file (unrecognised format)", path) from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"refusing a suspiciously large image: {_clean(str(exc))}", path) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        detail = first_error or _clean(str(exc))
        raise InputError(f"corrupt or truncated image: {detail}", path) from None
    except Exception as exc:
        raise InputError(_decode_error(exc), path) from None
