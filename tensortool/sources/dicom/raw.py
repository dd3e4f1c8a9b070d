"""A minimal DICOM header walker for the common case, so a series' header scan is not pydicom-bound.

pydicom builds a Dataset of every element (pure Python, about 0.25 ms a file); a 300-slice CT
scan spent more time there than in reading its pixels. This walks the raw bytes of a Part 10
file in little-endian transfer syntax up to the pixel data, keeps the raw values of the
top-level elements asked for, and records where the pixel data starts. Anything it does not
expect (no ``DICM`` prefix handled by the caller, big-endian or deflated syntax, a VR that looks
wrong, an undefined-length non-sequence, a header larger than ``MAX_HEADER_BYTES``) makes it
return None, and the caller reads the file with pydicom instead: it is a shortcut, never a
second interpretation of odd files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Collection

from ...errors import InputError

FIRST_READ_BYTES = 16 * 1024  # a CT header is 1-4 KiB; MR headers with private blocks 10-30 KiB
MAX_HEADER_BYTES = 1 << 20
MAX_SEQUENCE_DEPTH = 64  # real files nest a handful of levels (functional groups: 3)
PIXEL_DATA = 0x7FE00010
_IMPLICIT = "1.2.840.10008.1.2"
_BIG_ENDIAN_OR_DEFLATED = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 table 7.1-1).
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")
_TAG = struct.Struct("<HH")


class _NeedMore(Exception):
    """The buffer ends inside the header: read more of the file."""


class _Unexpected(Exception):
    """Something this walker does not handle: let pydicom read the file."""


class TooDeep(Exception):
    """Sequences nested deeper than MAX_SEQUENCE_DEPTH (no real file comes near it)."""


@dataclass
class RawHeader:
    """Top-level element values (raw bytes) of one file, and where its pixel data starts."""

    transfer_syntax: str
    elements: dict[int, bytes]  # tag → raw value, for the tags asked for that are present
    pixel_offset: int | None  # file offset of the PixelData value; None when there is none
    pixel_length: int | None  # None when undefined (encapsulated, i.e. compressed)
    pixel_vr: bytes | None  # b"OW"/b"OB" in explicit VR; None in implicit VR


NOT_DICOM = "not DICOM"  # no "DICM" at byte 128: pydicom refuses such files too (without force=True)


def read_raw_header(path: str, wanted: Collection[int]) -> RawHeader | str | None:
    """The raw header of ``path``; NOT_DICOM; or None when pydicom should read the file.

    >>> read_raw_header("samples/dicom/ct/31028.dcm", {0x00280010}).elements  # Rows, 64  # doctest: +SKIP
    {2621456: b'@\\x00'}
    """
    with open(path, "rb", buffering=0) as fh:
        buf = fh.read(FIRST_READ_BYTES)
        if len(buf) < 132 or buf[128:132] != b"DICM":
            return NOT_DICOM
        while True:
            try:
                return _walk(buf, wanted)
            except _Unexpected:
                return None
            except TooDeep:
                raise InputError(f"sequences nested more than {MAX_SEQUENCE_DEPTH} levels deep", path) from None
            except _NeedMore:
                if len(buf) >= MAX_HEADER_BYTES:
                    return None
                more = fh.read(len(buf))  # double what is held
                if not more:
                    return None  # truncated header, or no pixel data: pydicom says which
                buf += more


def _walk(buf: bytes, wanted: Collection[int]) -> RawHeader:
    meta: dict[int, bytes] = {}
    pos = _elements(buf, 132, True, {0x00020010}, meta, group=0x0002)
    ts = meta.get(0x00020010, b"").decode("latin-1").strip(" \x00")
    if not ts or ts in _BIG_ENDIAN_OR_DEFLATED:
        raise _Unexpected
    explicit = ts != _IMPLICIT
    if not explicit and pos + 6 <= len(buf) and buf[pos + 4:pos + 6].isalpha() and buf[pos + 4:pos + 6].isupper():
        raise _Unexpected  # implicit syntax declared, explicit written: pydicom has heuristics for that
    elements: dict[int, bytes] = {}
    pixel = _elements(buf, pos, explicit, wanted, elements, group=None)
    if pixel is None:
        return RawHeader(ts, elements, None, None, None)
    start, hdr, length, vr = pixel
    return RawHeader(ts, elements, start + hdr, None if length == _UNDEFINED else length, vr)


def _element_header(buf: bytes, pos: int, explicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, VR or None, value length, header size) of the element at ``pos``."""
    if pos + 8 > len(buf):
        raise _NeedMore
    group, elem = _TAG.unpack_from(buf, pos)
    tag = group << 16 | elem
    if group == 0xFFFE:  # item and delimiter tags have no VR, in either syntax
        return tag, None, _U32.unpack_from(buf, pos + 4)[0], 8
    if not explicit:
        return tag, None, _U32.unpack_from(buf, pos + 4)[0], 8
    vr = buf[pos + 4:pos + 6]
    if vr in _LONG_VRS:
        if pos + 12 > len(buf):
            raise _NeedMore
        return tag, vr, _U32.unpack_from(buf, pos + 8)[0], 12
    if not (vr.isalpha() and vr.isupper()):
        raise _Unexpected
    return tag, vr, _U16.unpack_from(buf, pos + 6)[0], 8


def _elements(buf: bytes, pos: int, explicit: bool, wanted: Collection[int], out: dict[int, bytes],
              group: int | None) -> int | tuple[int, int, int, bytes | None] | None:
    """Walk top-level elements from ``pos``, keeping wanted values.

    With ``group``: stop at the first element of another group, return its position (file meta).
    Without: stop at PixelData and return (position, header size, length, VR); the end of the
    data without PixelData raises _NeedMore (the caller reads more, then gives up).
    """
    end = len(buf)
    while True:
        if group is not None:
            if pos + 2 > end:
                raise _NeedMore
            if _U16.unpack_from(buf, pos)[0] != group:
                return pos
        tag, vr, length, hdr = _element_header(buf, pos, explicit)
        if group is None:
            if tag == PIXEL_DATA:
                return pos, hdr, length, vr
            if tag > PIXEL_DATA or tag >> 16 == 0xFFFE:
                raise _Unexpected  # no pixel data, or a stray delimiter
        start = pos + hdr
        if length == _UNDEFINED:
            if vr not in (b"SQ", None):
                raise _Unexpected  # e.g. UN of undefined length (an implicit-VR sequence inside)
            pos = _skip_sequence(buf, start, explicit)
            continue
        pos = start + length
        if tag in wanted:
            if pos > end:
                raise _NeedMore
            out[tag] = buf[start:pos]


def _skip_sequence(buf: bytes, pos: int, explicit: bool) -> int:
    """Past an undefined-length sequence starting at ``pos`` (its first item).

    A loop with an explicit stack, not recursion: every step moves at least one element header
    forward, and nesting deeper than MAX_SEQUENCE_DEPTH is handed to pydicom (which refuses it).
    """
    depth = 1  # open sequences
    in_item: list[bool] = [False]  # per open sequence: inside an undefined-length item?
    while True:
        tag, vr, length, hdr = _element_header(buf, pos, explicit)
        pos += hdr
        if not in_item[-1]:  # between items of the innermost sequence
            if tag == _SEQUENCE_END:
                depth -= 1
                in_item.pop()
                if not depth:
                    return pos
                continue
            if tag != _ITEM:
                raise _Unexpected
            if length != _UNDEFINED:
                pos += length
            else:
                in_item[-1] = True
            continue
        if tag == _ITEM_END:  # an undefined-length item ends
            in_item[-1] = False
        elif length == _UNDEFINED:
            if vr not in (b"SQ", None):
                raise _Unexpected
            depth += 1
            if depth > MAX_SEQUENCE_DEPTH:
                raise TooDeep
            in_item.append(False)
        else:
            pos += length
