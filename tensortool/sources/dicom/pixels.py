"""Pixels of one DICOM file: the uncompressed fast path, pydicom's decoders, and their guards.

Native little-endian grey pixels are read with one system call into a reusable buffer; the rest
goes through pydicom, with the checks that keep malformed files from hanging or exhausting a
decoder (JP2 boxes of length 0, segmented palettes that expand without end).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from ...errors import InputError
from .codestream import bound_frame_sizes
from .headers import SliceHeader, _library_errors, pydicom_errors

EXTRA_HINT = 'pip install "tensortool[dicom]"'


def _check_decoder(header: SliceHeader) -> None:
    """A compressed transfer syntax without an installed decoder: one line naming both."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(header.transfer_syntax)
    if not uid.is_transfer_syntax:
        raise InputError(f"unknown transfer syntax {uid} in TransferSyntaxUID (0002,0010)", header.path)
    if not uid.is_compressed:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise InputError(f"pixel data in {uid.name} ({uid}) cannot be decoded by pydicom", header.path) from None
    if not decoder.is_available:
        raise InputError(f"no decoder installed for {uid.name} ({uid}) pixel data", header.path,
                         hint=EXTRA_HINT)


def _read_native(header: SliceHeader, buffers: threading.local | None = None) -> np.ndarray:
    """Uncompressed grey pixels straight from the file, as pydicom would return them.

    With ``buffers``, the values land in that thread's reusable buffer (valid until its next
    call): no allocation per slice, one read system call.
    """
    offset, dtype, unused_bits = header.native
    count = header.rows * header.columns
    nbytes = count * np.dtype(dtype).itemsize
    buf = getattr(buffers, "buf", None) if buffers is not None else None
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(nbytes, dtype=np.uint8)
        if buffers is not None:
            buffers.buf = buf
    view = buf[:nbytes]
    try:
        with open(header.path, "rb", buffering=0) as fh:
            fh.seek(offset)
            got = fh.readinto(view)
            while got and got < nbytes:  # a short read is legal; carry on to the end of the file
                more = fh.readinto(view[got:])
                if not more:
                    break
                got += more
    except OSError as exc:
        raise InputError(f"cannot read the pixel data: {exc}", header.path) from None
    arr = view.view(dtype)
    if got != nbytes:
        raise InputError(f"truncated pixel data: {got // arr.itemsize} of {count} values", header.path)
    if unused_bits:  # pydicom's correction: ignore the bits above BitsStored (sign-extending if signed)
        np.left_shift(arr, unused_bits, out=arr)
        np.right_shift(arr, unused_bits, out=arr)
    return arr.reshape(header.rows, header.columns)


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "  # the 8 bytes pydicom takes for a JP2 header


def _j2k_parameters_bounded(original: Callable[[bytes], dict]) -> Callable[[bytes], dict]:
    """pydicom's JPEG 2000 parameter parser, refusing a JP2 box of length 0 before it loops.

    pydicom walks the JP2 boxes in front of the codestream by their lengths; a box of length 0
    before the codestream box leaves it at the same offset forever, in a decoder thread nothing
    can interrupt. The same walk here stops there (and anywhere else every step moves forward),
    so pydicom's own parse that follows always ends.
    """

    def parse(codestream: bytes) -> dict:
        if codestream[:8] == _JP2_SIGNATURE:
            offset, end = 12, len(codestream)
            while offset < end and codestream[offset + 4:offset + 8] != b"jp2c":
                length = int.from_bytes(codestream[offset:offset + 4], "big")
                if length == 0:
                    raise ValueError("a JPEG 2000 frame has a JP2 box of length 0 before the codestream")
                offset += length
        return original(codestream)

    parse.bounded = True  # type: ignore[attr-defined]
    return parse


def _bound_j2k_parser() -> None:
    """Install the bounded parser where pydicom's decoders look it up (once; it only adds a check)."""
    from pydicom.pixels.decoders import base

    if not getattr(base.get_j2k_parameters, "bounded", False):
        base.get_j2k_parameters = _j2k_parameters_bounded(base.get_j2k_parameters)


def _decoder_available(transfer_syntax: str) -> bool:
    """Whether pydicom has a usable decoder (its dependencies installed) for this transfer syntax."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except (NotImplementedError, ValueError, TypeError):
        return False


def _decoder_reason(exc: BaseException, limit: int = 600) -> str:
    """pydicom's decode failure on one line: each plugin's own reason, not just the heading above them.

    pydicom writes "Unable to decode as exceptions were raised by all available plugins:" and then
    one indented line per plugin; the heading alone says nothing about the data.
    """
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    text = "; ".join(lines) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


MAX_PALETTE_ENTRIES = 1 << 16  # a palette's descriptor counts at most 65536 entries
_SEGMENT_STEPS = 1 << 18  # segments visited, indirect ones included


def _check_segmented_palette(ds: Any) -> None:
    """Refuse a segmented palette that expands beyond 65536 entries, before pydicom expands it.

    pydicom expands segments into Python lists: linear segments of 65535 entries each, and
    indirect segments that re-read earlier segments, would take minutes and gigabytes for a
    palette of a few kilobytes. The same walk, counting only, stops at the limit.
    """
    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    bits = int(desc[2]) if desc is not None and len(desc) > 2 else 16
    little = ds.file_meta._tsyntax_encoding[1] if hasattr(ds, "file_meta") else ds.original_encoding[1]
    dtype = np.uint8 if bits == 8 else np.dtype("<u2" if little is not False else ">u2")
    order = (3, 2, 1, 0) if little is not False else (2, 3, 0, 1)  # pydicom's 8-bit indirect offsets
    for colour in ("Red", "Green", "Blue", "Alpha"):
        data = ds.get(f"Segmented{colour}PaletteColorLookupTableData")
        if not data:
            continue
        values = np.frombuffer(bytes(data)[:len(data) - len(data) % np.dtype(dtype).itemsize], dtype=dtype)
        steps = [0]
        if _segments_length(values.tolist(), 0, None, steps, 0, order if bits == 8 else None) > MAX_PALETTE_ENTRIES:
            raise ValueError(f"the segmented {colour} palette expands to more than {MAX_PALETTE_ENTRIES} entries")


def _segments_length(values: list[int], offset: int, count: int | None, steps: list[int], depth: int,
                     eight_bit: tuple[int, ...] | None) -> int:
    """The number of entries the segments from ``offset`` expand to (pydicom's walk, counting)."""
    total = read = 0
    while offset + 1 < len(values):
        steps[0] += 1
        if steps[0] > _SEGMENT_STEPS or depth > 16:
            raise ValueError("the segmented palette refers to itself too often")
        opcode, length = values[offset], values[offset + 1]
        offset += 2
        if opcode == 0:
            total, offset = total + length, offset + length
        elif opcode == 1:
            total, offset = total + length, offset + 1
        elif opcode == 2:
            if eight_bit:
                four = values[offset:offset + 4] + [0] * 4
                ii = [four[k] for k in eight_bit]
                target = (ii[0] << 8 | ii[1]) << 16 | (ii[2] << 8 | ii[3])
                offset += 4
            else:
                target = (values[offset + 1] << 16 | values[offset]) if offset + 1 < len(values) else len(values)
                offset += 2
            total += _segments_length(values, target, length, steps, depth + 1, eight_bit)
        else:
            return total  # pydicom refuses unknown segment types itself
        if total > MAX_PALETTE_ENTRIES:
            return total
        read += 1
        if read == count:
            break
    return total


def _decode_file(path: str, palette: bool = False) -> np.ndarray:
    """pydicom's decode of the file itself (fast, no Dataset); a parsed Dataset where that fails.

    ``pixel_array(path)`` walks the file on its own and misses cases that ``dcmread`` handles
    (a deflated dataset, an encapsulation that needs the parser's VR fix-ups): those are decoded
    from the Dataset, as ``dcmread(path).pixel_array`` would.
    """
    import pydicom
    from pydicom.pixels import apply_color_lut, pixel_array

    if palette:  # the palette lives in the header: it needs the Dataset
        ds = pydicom.dcmread(path)
        _check_segmented_palette(ds)
        return apply_color_lut(ds.pixel_array, ds)
    try:
        return pixel_array(path)
    except _library_errors():
        pass
    return pydicom.dcmread(path).pixel_array


def _read_pixels(path: str, header: SliceHeader | None = None, buffers: threading.local | None = None) -> np.ndarray:
    """All frames of one file as stored values (F×H×W[×S]).

    YBR is converted to RGB by pydicom; PALETTE COLOR is looked up in its palette (RGB).
    """
    if header is not None and header.native is not None:
        return _read_native(header, buffers)
    _bound_j2k_parser()
    bound_frame_sizes()
    try:
        with pydicom_errors(path, "truncated or unreadable pixel data"):
            arr = _decode_file(path, header is not None and header.palette)
    except MemoryError:  # the header's size passed the checks, but not this machine's memory
        raise InputError("the decoded pixel data does not fit in memory", path) from None
    except RuntimeError as exc:
        if header is not None and not _decoder_available(header.transfer_syntax):
            raise InputError(f"no decoder available: {_decoder_reason(exc)}", path, hint=EXTRA_HINT) from None
        raise InputError(f"cannot decode the pixel data: {_decoder_reason(exc)}", path) from None
    except BaseException as exc:
        # The Rust decoders (pylibjpeg-rle) panic on some malformed data: pyo3's PanicException
        # derives from BaseException, so nothing else would stop it.
        if type(exc).__name__ != "PanicException":
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else "the decoder failed"
        raise InputError(f"malformed compressed pixel data ({text})", path) from None
    return arr
