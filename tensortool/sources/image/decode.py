"""The decoder seam: encoded image bytes into a C×H×W uint8 or uint16 tensor.

torchvision's decoders (libjpeg-turbo, libpng, libwebp, giflib) handle JPEG, PNG, WebP and GIF;
Pillow handles the rest. torchvision 0.29 deprecates these decoders in favour of TorchCodec;
swapping the backend means changing this module only.

Hostile files: every path reads the image size from the header and refuses more than
``max_pixels`` before anything is allocated. torchvision's PNG decoder crashes the process when
libpng reports an error while reading rows (damaged zlib data, too little data, a bad filter
byte, an IDAT CRC error), so PNG image data is checked here first (see ``_checked_png``).
"""

from __future__ import annotations

import io
import re
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import torch

from ...errors import InputError
from ...safety import jpeg_frame

from .constants import DEFAULT_MAX_PIXELS  # noqa: F401  (re-exported)


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


def _check_pixels(pixels: int, what: str, path, max_pixels: int) -> None:
    if max_pixels and pixels > max_pixels:
        raise InputError(f"refusing a {what}: {pixels:,} pixels, more than the limit of {max_pixels:,}", path,
                         hint="--max-pixels N raises the limit, 0 removes it")


# --- PNG: libpng must never meet bad image data inside torchvision ----------------------------

_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_IEND = b"\0\0\0\0IEND\xaeB`\x82"


def _crc_ok(mv: memoryview, start: int, end: int) -> bool:
    """The chunk whose type starts at ``start`` and whose CRC starts at ``end``."""
    return zlib.crc32(mv[start:end]) == int.from_bytes(mv[end:end + 4], "big")


def _stored_zlib(raw: bytes, start: int, end: int, first: bool, last: bool) -> bytes:
    """``raw[start:end]`` as part of a zlib stream of stored (uncompressed) deflate blocks; the
    first part has the zlib header, the last the final block and the Adler-32 of all of ``raw``.
    Built by hand: deflateInit at level 0 costs more than the copy for small images."""
    parts = [b"\x78\x01"] if first else []
    view = memoryview(raw)
    for at in range(start, end, 0xFFFF):
        size = min(0xFFFF, end - at)
        parts.append(struct.pack("<BHH", 1 if last and at + size >= end else 0, size, size ^ 0xFFFF))
        parts.append(view[at:at + size])
    if last:
        parts.append(struct.pack(">I", zlib.adler32(view[:end])))
    return b"".join(parts)


def _checked_png(data: torch.Tensor, path, max_pixels: int) -> tuple[torch.Tensor, tuple[bool, bool]]:
    """The PNG rewritten so that libpng cannot fail after its header, and (palette, tRNS).

    torchvision's decode_png survives libpng errors in the header but not while reading rows
    (the process dies). So the image data is inflated here, checked (length, filter bytes,
    IDAT CRCs), and handed to libpng re-packed as stored deflate blocks: libpng then only copies
    it, which keeps one inflate per file, and the chunks before the data are passed unchanged.
    """
    mv = memoryview(data.numpy())
    n = len(mv)
    if n < 33 or mv[8:16] != b"\0\0\0\rIHDR":
        raise InputError("corrupt PNG: it does not start with a 13-byte IHDR chunk", path)
    w, h, depth, color, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", mv, 16)
    _check_pixels(w * h, f"{w}x{h} PNG", path, max_pixels)
    if (not (0 < w < 2**31 and 0 < h < 2**31) or depth not in _PNG_DEPTHS.get(color, ())
            or compression or filtering or interlace > 1):
        raise InputError(f"corrupt PNG header: {w}x{h}, bit depth {depth}, colour type {color}, "
                         f"interlace {interlace}", path)
    if not _crc_ok(mv, 12, 29):
        raise InputError("corrupt PNG: CRC error in IHDR", path)
    pos, first, idat, trns = 33, 0, [], False
    while pos + 8 <= n:
        length, kind = struct.unpack_from(">I4s", mv, pos)
        end = pos + 8 + length
        if kind == b"IDAT":
            if end + 4 > n:
                raise InputError("truncated PNG: the image data is cut short", path)
            if not _crc_ok(mv, pos + 4, end):
                raise InputError("corrupt PNG: CRC error in the image data (IDAT)", path)
            first = first or pos
            idat.append(mv[pos + 8:end])
        elif first:
            break  # the image data ends at the first other chunk, as libpng reads it
        elif end + 4 > n:
            break
        elif kind == b"tRNS":
            trns = True
        pos = end + 4
    if not first:
        raise InputError("truncated PNG: no image data (IDAT)", path)
    bits = depth * _PNG_CHANNELS[color]
    if interlace:
        passes = [((h - ys + dy - 1) // dy, (w - xs + dx - 1) // dx) for xs, ys, dx, dy in _ADAM7]
    else:
        passes = [(h, w)]
    rows = [(r, 1 + (c * bits + 7) // 8) for r, c in passes if r > 0 and c > 0]
    expected = sum(r * stride for r, stride in rows)
    try:
        raw = zlib.decompressobj().decompress(idat[0] if len(idat) == 1 else b"".join(idat), expected)
    except zlib.error as exc:
        raise InputError(f"corrupt PNG image data: {exc}", path) from None
    if len(raw) < expected:
        raise InputError(f"truncated PNG: {len(raw):,} of {expected:,} bytes of image data", path)
    offset = 0
    for r, stride in rows:  # each row starts with its filter type, 0 to 4
        if raw[offset:offset + r * stride:stride].translate(None, b"\0\1\2\3\4"):
            raise InputError("corrupt PNG image data: a row has an unknown filter type", path)
        offset += r * stride
    out = bytearray(mv[:first])
    for at in range(0, expected, 1 << 30):  # a chunk holds at most 2**31 - 1 bytes
        piece = _stored_zlib(raw, at, min(expected, at + (1 << 30)), at == 0, at + (1 << 30) >= expected)
        out += struct.pack(">I4s", len(piece), b"IDAT")
        out += piece
        out += struct.pack(">I", zlib.crc32(piece, zlib.crc32(b"IDAT")))
    out += _IEND
    return torch.frombuffer(out, dtype=torch.uint8), (color == 3, trns)


# --- the size in the header of the other formats ----------------------------------------------

def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first frame header."""
    frame = jpeg_frame(head)
    return None if frame is None else (frame[1], frame[0])


def _gif_pixels(head: bytes) -> tuple[str, int] | None:
    """torchvision decodes every frame into one N×C×H×W tensor, a frame larger than the logical
    screen widening it: frames × the widest × the tallest of screen and frames."""
    if len(head) < 13:
        return None
    width, height, flags = struct.unpack_from("<HHB", head, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames, wide, tall, n = 0, width, height, len(head)
    while pos < n and head[pos] != 0x3B:
        if head[pos] == 0x2C:  # an image: descriptor, local colour table, LZW data
            if pos + 10 > n:
                break
            fw, fh, fflags = struct.unpack_from("<4xHHB", head, pos + 1)
            frames, wide, tall = frames + 1, max(wide, fw), max(tall, fh)
            pos += 10 + (3 << ((fflags & 7) + 1) if fflags & 0x80 else 0) + 1
        elif head[pos] == 0x21:
            pos += 2
        else:
            break
        while pos < n and head[pos]:  # data sub-blocks
            pos += head[pos] + 1
        pos += 1
    text = f"{wide}x{tall} GIF" + (f" of {frames} frames" if frames > 1 else "")
    return text, max(frames, 1) * wide * tall


def _webp_size(head: bytes) -> tuple[int, int] | None:
    kind = head[12:16]
    if kind == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if kind == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack_from("<HH", head, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


def _check_header(data: torch.Tensor, kind: str, path, max_pixels: int) -> None:
    """Refuse more than ``max_pixels`` from the JPEG/GIF/WebP header, before torchvision allocates."""
    if not max_pixels:
        return
    head = data.numpy().tobytes()
    if kind == "gif":
        found = _gif_pixels(head)
        if found is None:
            raise InputError("corrupt GIF: the header is cut short", path)
        _check_pixels(found[1], found[0], path, max_pixels)
        return
    size = _jpeg_size(head) if kind == "jpeg" else _webp_size(head)
    if size is None:
        raise InputError(f"corrupt {kind.upper()}: no image size in the header", path)
    _check_pixels(size[0] * size[1], f"{size[0]}x{size[1]} {kind.upper()}", path, max_pixels)


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


def _decode_torchvision(data: torch.Tensor, kind: str, mode: str,
                        palette: tuple[bool, bool] = (False, False)) -> torch.Tensor | None:
    """torchvision's decode, or None where it cannot honour ``mode`` (then PIL decodes).

    ``palette``: (a palette PNG, with a tRNS chunk); a PNG must come from ``_checked_png``.
    """
    from torchvision.io import ImageReadMode, decode_image as tv_decode

    if kind == "webp" and mode == "gray":
        return None  # torchvision's WebP decoder ignores GRAY and returns the colours
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
        _check_pixels(width * height, f"{width}x{height} {im.format or 'image'}", path, max_pixels)
    except InputError:
        im.close()
        raise
    return im


def _decode_pil(data: bytes, mode: str, path=None, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    from PIL import ImageOps

    with _open_pil(data, path, max_pixels) as im:
        im.seek(0)
        upright = ImageOps.exif_transpose(im)
        arr = _pil_array(upright, mode)
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))  # a writable copy


def _decode_error(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    return f"cannot decode this image: {type(exc).__name__}: {_clean(str(exc))}"


def decode_image(data: torch.Tensor, mode: str = "rgb", path: str | Path | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Decode encoded image bytes (a uint8 tensor) into C×H×W uint8 or uint16, EXIF applied.

    torchvision decodes JPEG, PNG, WebP and GIF; PIL the rest (BMP, TIFF, PPM...), and any
    file torchvision rejects but PIL can read. An image of more than ``max_pixels`` pixels
    (0: no limit; a GIF counts every frame) is refused from its header. Any failure raises
    InputError naming ``path``.
    """
    from PIL import Image, UnidentifiedImageError

    kind = _sniff(bytes(data[:12].numpy()))
    first_error = None
    if kind:
        try:
            palette = (False, False)
            if kind == "png":
                data, palette = _checked_png(data, path, max_pixels)
            else:
                _check_header(data, kind, path, max_pixels)
            img = _decode_torchvision(data, kind, mode, palette)
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
