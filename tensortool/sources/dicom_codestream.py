"""The image size a compressed DICOM frame declares, checked before any decoder allocates for it.

A JPEG, JPEG-LS or JPEG 2000 decoder allocates what the frame's own codestream declares (SOF or
SIZ), not what the DICOM header says: a 3 KB file whose SIZ claims 2 GB of pixels would be decoded
before pydicom notices the mismatch. So each frame's declared width × height × components must fit
in the header's Rows × Columns × SamplesPerPixel first.
"""

from __future__ import annotations

from typing import Any, Callable

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}  # 0xF7: JPEG-LS
_NO_LENGTH = frozenset(range(0xD0, 0xD9)) | {0x01}  # RSTn, SOI, TEM


def j2k_declared(src: bytes) -> tuple[int, int, int] | None:
    """(height, width, components) from a JPEG 2000 codestream's SIZ, or None if it has none."""
    start = 0
    if src[:8] == _JP2_SIGNATURE:  # a JP2 file: the codestream is the 'jp2c' box
        start, end = 12, len(src)
        while start + 8 <= end and src[start + 4:start + 8] != b"jp2c":
            length = int.from_bytes(src[start:start + 4], "big")
            if length == 1:  # a 64-bit length follows the type
                length = int.from_bytes(src[start + 8:start + 16], "big")
            if length < 8:
                return None  # no codestream the decoder could find either
            start += length
        start += 16 if src[start:start + 4] == b"\x00\x00\x00\x01" else 8
    siz = src[start:start + 42]  # SOC, then SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz (4 tile fields) Csiz
    if len(siz) < 42 or siz[:4] != b"\xff\x4f\xff\x51":
        return None
    x, y, x0, y0 = (int.from_bytes(siz[i:i + 4], "big") for i in (8, 12, 16, 20))
    components = int.from_bytes(siz[40:42], "big")
    return max(y - y0, 0), max(x - x0, 0), components


def jpeg_declared(src: bytes) -> tuple[int, int, int] | None:
    """(height, width, components) from the first SOF of a JPEG or JPEG-LS stream, or None."""
    n, pos = len(src), 2
    if src[:2] != b"\xff\xd8":
        return None
    while pos + 4 <= n:
        if src[pos] != 0xFF:
            return None
        marker = src[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _NO_LENGTH:
            pos += 2
        elif marker in _SOF:
            if pos + 10 > n:
                return None
            return (int.from_bytes(src[pos + 5:pos + 7], "big"), int.from_bytes(src[pos + 7:pos + 9], "big"),
                    src[pos + 9])
        else:
            length = int.from_bytes(src[pos + 2:pos + 4], "big")
            if length < 2:
                return None
            pos += 2 + length
    return None


def check_declared(declared: tuple[int, int, int] | None, rows: int, columns: int, samples: int) -> None:
    """ValueError when the frame declares more values than the header's frame holds."""
    if declared is None:
        return
    height, width, components = declared
    if height * width * components > rows * columns * samples:
        raise ValueError(f"a compressed frame declares {width}x{height} pixels of {components} component(s), "
                         f"more than the header's {columns}x{rows}x{samples}")


def _frame_info_bounded(original: Callable[..., Any]) -> Callable[..., Any]:
    from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

    def get_frame_info(self: Any, src: bytes) -> Any:
        if self.transfer_syntax in JPEG2000TransferSyntaxes:
            check_declared(j2k_declared(src), self.rows, self.columns, self.samples_per_pixel)
        elif self.transfer_syntax in JPEGLSTransferSyntaxes or self.transfer_syntax in JPEGTransferSyntaxes:
            check_declared(jpeg_declared(src), self.rows, self.columns, self.samples_per_pixel)
        return original(self, src)

    get_frame_info.bounded = True  # type: ignore[attr-defined]
    return get_frame_info


def bound_frame_sizes() -> None:
    """Install the check where pydicom's decoders read each frame's parameters (once; it only adds
    a refusal of frames that could not be stored in the header's frame anyway)."""
    from pydicom.pixels.decoders.base import DecodeRunner

    if not getattr(DecodeRunner._get_frame_info, "bounded", False):
        DecodeRunner._get_frame_info = _frame_info_bounded(DecodeRunner._get_frame_info)
