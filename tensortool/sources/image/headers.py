"""What an image's header says, read before any decoder allocates: the format, the pixel count
(refused beyond ``max_pixels``), and for PNG a checked copy of the image data.

torchvision's PNG decoder crashes the process when libpng reports an error while reading rows
(damaged zlib data, too little data, a bad filter byte, an IDAT CRC error), so for torchvision
the PNG image data is checked here first (see ``checked_png``). TorchCodec's decoder reports
those errors as exceptions and needs only the size check (``png_header``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import torch

from ...errors import InputError
from ...safety import jpeg_frame


def sniff(head: bytes) -> str | None:
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


def check_pixels(pixels: int, what: str, path, max_pixels: int) -> None:
    if max_pixels and pixels > max_pixels:
        raise InputError(f"refusing a {what}: {pixels:,} pixels, more than the limit of {max_pixels:,}", path,
                         hint="raise {max_pixels}, or set it to 0 for no limit", param="max_pixels")


# --- PNG --------------------------------------------------------------------------------------

_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_IEND = b"\0\0\0\0IEND\xaeB`\x82"


@dataclass
class PngInfo:
    """What the chunks before the image data say."""

    width: int
    height: int
    depth: int
    color: int
    interlace: int
    palette: bool = False
    trns: bool = False
    exif: bool = False  # an eXIf chunk before the image data, which libpng reads
    first_idat: int = 0  # offset of the first IDAT chunk
    idat: list = field(default_factory=list)  # the IDAT bodies (only when checked)


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


def _png_ihdr(mv: memoryview, path, max_pixels: int) -> PngInfo:
    if len(mv) < 33 or mv[8:16] != b"\0\0\0\rIHDR":
        raise InputError("corrupt PNG: it does not start with a 13-byte IHDR chunk", path)
    w, h, depth, color, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", mv, 16)
    check_pixels(w * h, f"{w}x{h} PNG", path, max_pixels)
    if (not (0 < w < 2**31 and 0 < h < 2**31) or depth not in _PNG_DEPTHS.get(color, ())
            or compression or filtering or interlace > 1):
        raise InputError(f"corrupt PNG header: {w}x{h}, bit depth {depth}, colour type {color}, "
                         f"interlace {interlace}", path)
    if not _crc_ok(mv, 12, 29):
        raise InputError("corrupt PNG: CRC error in IHDR", path)
    return PngInfo(w, h, depth, color, interlace, palette=color == 3)


def png_header(data: torch.Tensor, path, max_pixels: int, check_idat: bool = False) -> PngInfo:
    """The IHDR (size refused beyond ``max_pixels``) and the chunks up to the image data.

    ``check_idat``: also check every IDAT's CRC and collect the bodies (for ``checked_png``);
    otherwise the walk stops at the first IDAT, as libpng's header read does.
    """
    mv = memoryview(data.numpy())
    info = _png_ihdr(mv, path, max_pixels)
    pos, n = 33, len(mv)
    while pos + 8 <= n:
        length, kind = struct.unpack_from(">I4s", mv, pos)
        end = pos + 8 + length
        if kind == b"IDAT":
            info.first_idat = info.first_idat or pos
            if not check_idat:
                break
            if end + 4 > n:
                raise InputError("truncated PNG: the image data is cut short", path)
            if not _crc_ok(mv, pos + 4, end):
                raise InputError("corrupt PNG: CRC error in the image data (IDAT)", path)
            info.idat.append(mv[pos + 8:end])
        elif info.first_idat:
            break  # the image data ends at the first other chunk, as libpng reads it
        elif end + 4 > n:
            break
        elif kind == b"tRNS":
            info.trns = True
        elif kind == b"eXIf":
            info.exif = True
        pos = end + 4
    if not info.first_idat:
        raise InputError("truncated PNG: no image data (IDAT)", path)
    return info


def _png_rows(info: PngInfo) -> list[tuple[int, int]]:
    """(rows, bytes per row with its filter byte) of each pass."""
    bits = info.depth * _PNG_CHANNELS[info.color]
    w, h = info.width, info.height
    if info.interlace:
        passes = [((h - ys + dy - 1) // dy, (w - xs + dx - 1) // dx) for xs, ys, dx, dy in ADAM7]
    else:
        passes = [(h, w)]
    return [(r, 1 + (c * bits + 7) // 8) for r, c in passes if r > 0 and c > 0]


def checked_png(data: torch.Tensor, path, max_pixels: int) -> tuple[torch.Tensor, PngInfo]:
    """The PNG rewritten so that libpng cannot fail after its header, and its header.

    torchvision's decode_png survives libpng errors in the header but not while reading rows
    (the process dies). So the image data is inflated here, checked (length, filter bytes,
    IDAT CRCs), and handed to libpng re-packed as stored deflate blocks: libpng then only copies
    it, which keeps one inflate per file, and the chunks before the data are passed unchanged.
    """
    info = png_header(data, path, max_pixels, check_idat=True)
    rows = _png_rows(info)
    expected = sum(r * stride for r, stride in rows)
    idat = info.idat
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
    out = bytearray(memoryview(data.numpy())[:info.first_idat])
    for at in range(0, expected, 1 << 30):  # a chunk holds at most 2**31 - 1 bytes
        piece = _stored_zlib(raw, at, min(expected, at + (1 << 30)), at == 0, at + (1 << 30) >= expected)
        out += struct.pack(">I4s", len(piece), b"IDAT")
        out += piece
        out += struct.pack(">I", zlib.crc32(piece, zlib.crc32(b"IDAT")))
    out += _IEND
    info.idat = []
    return torch.frombuffer(out, dtype=torch.uint8), info


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


def check_header(data: torch.Tensor, kind: str, path, max_pixels: int) -> None:
    """Refuse more than ``max_pixels`` from the JPEG/GIF/WebP header, before torchvision allocates."""
    if not max_pixels:
        return
    head = data.numpy().tobytes()
    if kind == "gif":
        found = _gif_pixels(head)
        if found is None:
            raise InputError("corrupt GIF: the header is cut short", path)
        check_pixels(found[1], found[0], path, max_pixels)
        return
    size = _jpeg_size(head) if kind == "jpeg" else _webp_size(head)
    if size is None:
        raise InputError(f"corrupt {kind.upper()}: no image size in the header", path)
    check_pixels(size[0] * size[1], f"{size[0]}x{size[1]} {kind.upper()}", path, max_pixels)
