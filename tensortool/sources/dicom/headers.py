"""One image plane's header: the SliceHeader record and how its values are decoded.

Values come from pydicom's Dataset (``_Header``) or from ``raw``'s walker (``_RawGetter``); both
decode the common elements from their raw bytes the same way, so the two paths give equal
SliceHeaders. Positions and directions are in the patient coordinate system of DICOM (LPS, mm).
"""

from __future__ import annotations

import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import InputError
from .raw import RawHeader

MAX_COORDINATE_MM = 1e9  # positions and spacings beyond this (or NaN, inf) are treated as absent


@dataclass
class SliceHeader:
    """One image plane: a single-frame file, or one frame of a multi-frame file."""

    path: str
    frame: int | None
    series_uid: str
    study_uid: str
    modality: str
    description: str
    series_number: int | None
    instance: int | None
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) in mm
    orientation: tuple[float, ...] | None  # ImageOrientationPatient: row direction, column direction
    position: tuple[float, float, float] | None  # ImagePositionPatient, mm
    image_type: tuple[str, ...]
    samples: int
    slope: float
    intercept: float
    rescale_type: str
    transfer_syntax: str
    slice_thickness: float | None
    echo: float | None
    temporal: float | None
    acquisition_time: str
    window: tuple[float, float] | None
    # (byte offset, numpy dtype, unused high bits) of uncompressed little-endian grey pixels, so
    # they can be read with one np.fromfile instead of parsing the file a second time.
    native: tuple[int, str, int] | None = None
    palette: bool = False  # PALETTE COLOR: one stored index a pixel, read out as RGB through the palette


_NATIVE_SYNTAXES = {"1.2.840.10008.1.2": False, "1.2.840.10008.1.2.1": True}  # implicit, explicit VR LE


# Top-level elements read from their raw bytes: pydicom's general value conversion is most of
# the header scan's time (pure Python, so threads do not help when files are in the page cache).
_TEXT = {"SeriesInstanceUID": 0x0020000E, "StudyInstanceUID": 0x0020000D, "Modality": 0x00080060,
         "SeriesNumber": 0x00200011, "InstanceNumber": 0x00200013, "RescaleType": 0x00281054,
         "SliceThickness": 0x00180050, "AcquisitionTime": 0x00080032, "RescaleSlope": 0x00281053,
         "RescaleIntercept": 0x00281052, "NumberOfFrames": 0x00280008, "TemporalPositionIdentifier": 0x00200100,
         "PhotometricInterpretation": 0x00280004}
_MULTI = {"ImageType": 0x00080008, "PixelSpacing": 0x00280030, "ImageOrientationPatient": 0x00200037,
          "ImagePositionPatient": 0x00200032, "WindowCenter": 0x00281050, "WindowWidth": 0x00281051,
          "EchoNumbers": 0x00180086}
_US = {"Rows": 0x00280010, "Columns": 0x00280011, "SamplesPerPixel": 0x00280002, "BitsAllocated": 0x00280100,
       "BitsStored": 0x00280101, "PixelRepresentation": 0x00280103}


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _keyword_tag(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return f"{keyword} {_tag(tag)}" if tag is not None else keyword


# What pydicom (and the zlib, struct and decoder modules under it) raise on malformed input.
def _library_errors() -> tuple[type[BaseException], ...]:
    from pydicom.errors import BytesLengthException

    return (BytesLengthException, NotImplementedError, struct.error, zlib.error, RecursionError, ValueError,
            TypeError, KeyError, AttributeError, IndexError, OverflowError, UnicodeError, LookupError,
            OSError, EOFError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@contextmanager
def pydicom_errors(path: str | Path, what: str = "unreadable DICOM header") -> Iterator[None]:
    """pydicom's failures on a malformed file as one InputError naming the file (pydicom names the tag)."""
    try:
        yield
    except InputError:
        raise
    except _library_errors() as exc:
        raise InputError(f"{what}: {_first_line(exc)}", path) from None


class _Header:
    """``ds.get(keyword, default)`` that decodes the common numeric/UID elements from raw bytes."""

    def __init__(self, ds: Any, path: str | Path = ""):
        self.ds = ds
        self.path = path

    def _library_get(self, keyword: str, default: Any) -> Any:
        try:
            return self.ds.get(keyword, default)
        except _library_errors() as exc:
            raise InputError(f"unreadable {_keyword_tag(keyword)}: {_first_line(exc)}", self.path) from None

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = _TEXT.get(keyword) or _MULTI.get(keyword) or _US.get(keyword)
        if tag is None:
            return self._library_get(keyword, default)
        try:
            elem = self.ds.get_item(tag)
        except (KeyError, AttributeError):
            elem = None
        if elem is None:
            return default
        raw = elem.value
        if not isinstance(raw, (bytes, bytearray)):
            return self._library_get(keyword, default)
        if keyword in _US:
            if len(raw) < 2 or not getattr(elem, "is_little_endian", True):
                return self._library_get(keyword, default)
        return _decode(keyword, raw, default)


def _native_pixels(ds: Any, fh: Any) -> tuple[int, str, int] | None:
    """Where the pixel values of a simple single-frame file start, or None (then pydicom decodes).

    dcmread(stop_before_pixels) leaves the file at the PixelData tag; its header is checked here.
    """
    ts = str(getattr(getattr(ds.ds, "file_meta", None), "TransferSyntaxUID", ""))
    if ts not in _NATIVE_SYNTAXES:
        return None
    try:
        start = fh.tell()
        head = fh.read(12)
        if head[:4] != b"\xe0\x7f\x10\x00":
            return None
        if _NATIVE_SYNTAXES[ts]:
            if head[4:6] not in (b"OW", b"OB"):
                return None
            length, offset = int.from_bytes(head[8:12], "little"), start + 12
        else:
            length, offset = int.from_bytes(head[4:8], "little"), start + 8
    except (AttributeError, TypeError, ValueError, OSError):
        return None
    return _native_check(ds, offset, length)


def _native_check(h: Any, offset: int, length: int) -> tuple[int, str, int] | None:
    """(offset, dtype, unused bits) when the pixel data is simple single-frame grey values, else None."""
    try:
        if (int(h.get("NumberOfFrames") or 1) != 1 or int(h.get("SamplesPerPixel", 1)) != 1
                or not str(h.get("PhotometricInterpretation", "")).startswith("MONOCHROME")):
            return None
        bits = int(h.get("BitsAllocated"))
        stored = int(h.get("BitsStored", bits))
        signed = int(h.get("PixelRepresentation", 0)) == 1
        if bits not in (8, 16, 32) or not 0 < stored <= bits:
            return None
        need = int(h.get("Rows")) * int(h.get("Columns")) * bits // 8
    except (AttributeError, TypeError, ValueError):
        return None
    if length not in (need, need + 1):
        return None
    return offset, f"<{'i' if signed else 'u'}{bits // 8}", bits - stored


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    """``n`` finite numbers, or None: NaN or 1e308 in a position would poison the geometry."""
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(values) != n or not all(abs(v) <= MAX_COORDINATE_MM for v in values):  # NaN fails too
        return None
    if n == 6 and np.linalg.norm(np.cross(values[:3], values[3:])) < 1e-6:
        return None  # row and column directions that span no plane have no slice normal
    return values


def _length(value: Any) -> float | None:
    """A distance in mm that scales the geometry: positive and finite, else None (as if absent)."""
    number = _number(value)
    return number if number is not None and 0 < number <= MAX_COORDINATE_MM else None


def _spacing(value: Any) -> tuple[float, float] | None:
    spacing = _floats(value, 2)
    return spacing if spacing is not None and min(spacing) > 0 else None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _first(value: Any) -> Any:
    """The first value of a multi-valued element (WindowCenter may hold several)."""
    if value is None:
        return None
    try:
        return value[0] if not isinstance(value, (str, bytes)) and len(value) else value
    except TypeError:
        return value


def _item(ds: Any, *keywords: str) -> Any:
    """ds.A[0].B[0]... or None: functional groups are nested one-item sequences."""
    for kw in keywords:
        seq = getattr(ds, kw, None) if ds is not None else None
        if not seq:
            return None
        ds = seq[0]
    return ds

_DESCRIPTION, _DOSE_UNITS, _DOSE_SCALING = 0x0008103E, 0x30040002, 0x3004000E
_WANTED = frozenset({*_TEXT.values(), *_MULTI.values(), *_US.values(), _DESCRIPTION, _DOSE_UNITS, _DOSE_SCALING})


class _RawGetter:
    """``get(keyword, default)`` over a RawHeader, decoding exactly as ``_Header`` does with pydicom's raw values."""

    def __init__(self, raw: RawHeader):
        self.elements = raw.elements

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = _TEXT.get(keyword) or _MULTI.get(keyword) or _US.get(keyword)
        if keyword == "SeriesDescription":
            tag = _DESCRIPTION
        value = self.elements.get(tag) if tag is not None else None
        if value is None:
            return default
        if keyword == "SeriesDescription":  # pydicom: decoded, trailing spaces/NULs stripped
            return value.decode("ascii").rstrip("\0 ")
        return _decode(keyword, value, default)


def _decode(keyword: str, raw: bytes, default: Any) -> Any:
    """A US value (2 bytes, little-endian), a text value, or a list of a multi-valued one, from its bytes."""
    if keyword in _US:
        return int.from_bytes(raw[:2], "little")
    text = raw.decode("latin-1").strip(" \x00")
    if keyword in _MULTI:
        return [v.strip(" \x00") for v in text.split("\\")] if text else default
    return text if text else default


def _raw_native(h: _RawGetter, raw: RawHeader) -> tuple[int, str, int] | None:
    """As ``_native_pixels``, from where the raw walker found the PixelData element."""
    explicit = _NATIVE_SYNTAXES.get(raw.transfer_syntax)
    if explicit is None or raw.pixel_offset is None or raw.pixel_length is None:
        return None
    if explicit and raw.pixel_vr not in (b"OW", b"OB"):
        return None
    return _native_check(h, raw.pixel_offset, raw.pixel_length)

