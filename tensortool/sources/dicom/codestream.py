"""The image size a compressed DICOM frame declares, checked before any decoder allocates for it.

A JPEG, JPEG-LS or JPEG 2000 decoder allocates what the frame's own codestream declares (SOF or
SIZ), not what the DICOM header says: a 3 KB file whose SIZ claims 2 GB of pixels would be decoded
before pydicom notices the mismatch. So each frame's declared width × height × components must fit
in the header's Rows × Columns × SamplesPerPixel first.
"""

from __future__ import annotations

from typing import Any, Callable

from ...safety import JPEG_LS_SOF, JPEG_SOF, jpeg_frame

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


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


def jpeg_declared(src: bytes, ls: bool = False) -> tuple[int, int, int] | None:
    """(height, width, components) from the first frame header of a JPEG (``ls``: JPEG-LS) stream."""
    if src[:2] != b"\xff\xd8":
        return None
    return jpeg_frame(src, JPEG_LS_SOF if ls else JPEG_SOF)


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
        elif self.transfer_syntax in JPEGLSTransferSyntaxes:
            check_declared(jpeg_declared(src, ls=True), self.rows, self.columns, self.samples_per_pixel)
        elif self.transfer_syntax in JPEGTransferSyntaxes:
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
