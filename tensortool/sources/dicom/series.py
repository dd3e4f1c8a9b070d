"""DICOM headers into series: find files, scan headers, group, detect localizers, order slices.

Only headers are read here, up to the pixel data (``dicom_raw``'s walker for common files,
pydicom's ``stop_before_pixels`` for the rest), in one thread by default. Grouping follows what
dcm2niix and GDCM do: SeriesInstanceUID first, then PixelSpacing and ImageOrientationPatient
(with a tolerance), so that a localizer or an orientation change inside one UID becomes its
own group and is never stacked into a volume. Positions and directions are in the patient
coordinate system of DICOM (LPS, millimetres).
"""

from __future__ import annotations

import os
import statistics
import struct
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ...errors import InputError, OptionError
from .raw import NOT_DICOM, RawHeader, read_raw_header

ORIENTATION_TOLERANCE = 1e-2  # max abs difference of direction cosines (about 0.6 degrees)
SPACING_TOLERANCE = 1e-3  # relative, for PixelSpacing
GAP_TOLERANCE = 0.05  # relative difference of a slice step from the median step
DUPLICATE_MM = 1e-3  # positions closer than this along the normal are the same slice position
TILT_DEGREES = 0.1  # below this, a stack is considered untilted
# Decoded pixels may outgrow a compressed file by this factor at most (beyond MIN_PIXEL_BUDGET):
# zlib tops out near 1032:1, RLE at 64:1; JPEG 2000 of a blank slice reaches a few thousand.
MAX_EXPANSION = 4096
MIN_PIXEL_BUDGET = 256 << 20  # bytes of decoded pixels any file may claim, whatever its size

Progress = Callable[[int, int], None]


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
            return int.from_bytes(raw[:2], "little")
        text = raw.decode("latin-1").strip(" \x00")
        if keyword in _MULTI:
            return [v.strip(" \x00") for v in text.split("\\")] if text else default
        return text if text else default


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


@dataclass
class Series:
    """A group of slices that can form one volume (or a localizer group that never does)."""

    index: int
    uid: str
    slices: list[SliceHeader]
    localizer: str | None = None  # why it is a localizer, or None for a volume candidate
    odd_files: list[str] = field(default_factory=list)  # slices whose Rows/Columns differ

    @property
    def first(self) -> SliceHeader:
        return self.slices[0]

    @property
    def size(self) -> tuple[int, int]:
        return Counter((s.rows, s.columns) for s in self.slices).most_common(1)[0][0]

    def orientation_label(self) -> str:
        return orientation_label(self.first.orientation)

    def row(self) -> dict[str, Any]:
        """What ``--list`` shows: no patient identifiers."""
        s = self.first
        spacing = s.pixel_spacing
        z = None
        if self.localizer is None and len(self.slices) > 1 and all(x.position and x.orientation for x in self.slices):
            steps = np.diff(np.sort(_distances(self.slices)))
            steps = steps[steps > DUPLICATE_MM]
            z = round(float(np.median(steps)), 3) if steps.size else None
        return {
            "index": self.index, "modality": s.modality, "description": s.description,
            "series_number": s.series_number, "slices": len(self.slices),
            "rows": self.size[0], "columns": self.size[1], "samples": s.samples,
            "orientation": self.orientation_label(),
            "spacing_mm": [z, *(round(v, 3) for v in spacing)] if spacing else None,
            "kind": "localizer" if self.localizer else ("mixed sizes" if self.odd_files else "volume"),
            "note": self.localizer or (f"Rows/Columns differ in {len(self.odd_files)} file(s)" if self.odd_files
                                       else ""),
            "series_uid": self.uid,
        }


class SeriesChoiceError(OptionError):
    """Several volume candidates and no choice: carries them so the CLI can list them."""

    def __init__(self, message: str, series: list[Series], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.series = series


# ---------------------------------------------------------------- finding and scanning files

def find_dicom_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files named, and every file under folders named (recursively, sorted, hidden skipped).

    DICOMDIR index files are skipped: they describe files, they are not images.
    """
    files: list[tuple[Path, str]] = []  # (path, real path: the same file named twice is read once)
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                real_root = os.path.realpath(root)  # once per folder; per file only for links
                for n in sorted(names):
                    if n.startswith(".") or n.upper() == "DICOMDIR":
                        continue
                    path = os.path.join(root, n)
                    files.append((Path(path), os.path.realpath(path) if os.path.islink(path)
                                  else os.path.join(real_root, n)))
        elif p.is_file():
            files.append((p, os.path.realpath(p)))
        else:
            raise InputError("no such file or folder", p)
    seen, unique = set(), []
    for f, key in files:
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


MAX_COORDINATE_MM = 1e9  # positions and spacings beyond this (or NaN, inf) are treated as absent


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
        if keyword in _US:
            return int.from_bytes(value[:2], "little")
        text = value.decode("latin-1").strip(" \x00")
        if keyword in _MULTI:
            return [v.strip(" \x00") for v in text.split("\\")] if text else default
        return text if text else default


def _from_raw(raw: RawHeader, path: Path) -> list[SliceHeader] | None:
    """One plane from the raw walker's values, or None when pydicom must read the file.

    Only single-frame files whose values decode the same without pydicom take this path: no
    multi-frame (functional groups), no RT dose scaling, a SeriesDescription in plain ASCII
    (other character sets and multi-valued text are pydicom's to decode), US values of 2 bytes.
    """
    el = raw.elements
    if 0x00280010 not in el or 0x00280011 not in el:
        return None  # pydicom decides whether this is an image at all
    if _DOSE_UNITS in el or _DOSE_SCALING in el or any(len(el.get(t, b"..")) < 2 for t in _US.values()):
        return None
    if not all(0x20 <= b < 0x7F and b != 0x5C for b in el.get(_DESCRIPTION, b"")):
        return None
    h = _RawGetter(raw)
    if (_int(h.get("NumberOfFrames")) or 1) != 1:
        return None
    return _planes(h, None, path, raw.transfer_syntax, _raw_native(h, raw))


def _raw_native(h: _RawGetter, raw: RawHeader) -> tuple[int, str, int] | None:
    """As ``_native_pixels``, from where the raw walker found the PixelData element."""
    explicit = _NATIVE_SYNTAXES.get(raw.transfer_syntax)
    if explicit is None or raw.pixel_offset is None or raw.pixel_length is None:
        return None
    if explicit and raw.pixel_vr not in (b"OW", b"OB"):
        return None
    return _native_check(h, raw.pixel_offset, raw.pixel_length)


def read_headers(path: Path) -> list[SliceHeader] | None:
    """The planes of one file (one per frame), or None when the file is not DICOM.

    Common single-frame little-endian files are read by ``dicom_raw``'s walker; the rest by pydicom.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        raw = read_raw_header(str(path), _WANTED)
    except OSError as exc:
        raise InputError(f"unreadable DICOM header: {exc}", path) from None
    if raw is NOT_DICOM:
        return None
    if isinstance(raw, RawHeader):
        planes = _from_raw(raw, path)
        if planes is not None:
            return planes
    # Everything that touches the Dataset stays inside the boundary: pydicom converts values lazily.
    with pydicom_errors(path):
        try:
            with open(path, "rb") as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
                native = _native_pixels(_Header(ds, path), fh)
        except InvalidDicomError:
            return None
        if "Rows" not in ds or "Columns" not in ds:
            return None  # not an image (structured report, RT plan, DICOMDIR under another name)
        ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "1.2.840.10008.1.2")
        return _planes(_Header(ds, path), ds, path, ts, native)


_TRANSFER_SYNTAX_TAG = "TransferSyntaxUID (0002,0010)"


def _required(h: Any, keyword: str, path: Path, *, low: int = 1) -> int:
    """A header number that sizes work: present, an integer, at least ``low``."""
    value = h.get(keyword)
    number = _int(value)
    if number is None or number < low:
        shown = "empty" if value in (None, "") else f"{value!r}"[:40]
        raise InputError(f"{_keyword_tag(keyword)} is {shown}: expected an integer of at least {low}", path)
    return number


def _frame_count(h: Any, path: Path) -> int:
    """NumberOfFrames (1 when absent), refused unless a whole number of at least 1."""
    value = h.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    frames = _int(value)
    if frames is None:  # IS written as "2e3" or "10.0": pydicom reads those as numbers too
        number = _number(value)
        frames = int(number) if number is not None and np.isfinite(number) and number == int(number) else None
    if frames is None or frames < 1:
        raise InputError(f"NumberOfFrames (0028,0008) is {str(value)[:40]!r}: expected a whole number of at "
                         "least 1", path)
    return frames


@lru_cache(maxsize=64)
def _syntax_kind(ts: str) -> str | None:
    """"plain" (uncompressed, not deflated), "packed" (compressed, deflated or unknown), None: not a UID."""
    from pydicom.uid import UID

    uid = UID(ts)
    if not uid.is_valid:
        return None
    return "plain" if uid.is_transfer_syntax and not uid.is_compressed and not uid.is_deflated else "packed"


def _check_image(h: Any, path: Path, ts: str, frames: int) -> tuple[int, int]:
    """Rows and Columns, after checking every value that sizes pixel work against the file's size.

    O(1): a NumberOfFrames of two billion, or 65535×65535 pixels in a small file, is refused here,
    before anything loops over frames or allocates for them.
    """
    rows, columns = _required(h, "Rows", path), _required(h, "Columns", path)
    samples = _int(h.get("SamplesPerPixel")) or 1
    if not 1 <= samples <= 4:
        raise InputError(f"{_keyword_tag('SamplesPerPixel')} is {samples}: expected 1 to 4", path)
    bits = _int(h.get("BitsAllocated"))
    if bits is not None and not (bits == 1 or bits in (8, 16, 24, 32, 40, 48, 56, 64)):
        raise InputError(f"{_keyword_tag('BitsAllocated')} is {bits}: expected 1 or a multiple of 8 up to 64",
                         path)
    stored = _int(h.get("BitsStored"))
    if stored is not None and bits is not None and not 1 <= stored <= bits:
        raise InputError(f"{_keyword_tag('BitsStored')} is {stored}, BitsAllocated {bits}", path)
    kind = _syntax_kind(ts)
    if kind is None:
        raise InputError(f"{_TRANSFER_SYNTAX_TAG} {ts[:64]!r} is not a UID", path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc}", path) from None
    # YBR_FULL_422 stores two values a pixel (chroma shared by pixel pairs), even uncompressed.
    values = 2 if samples == 3 and str(h.get("PhotometricInterpretation", "")).upper() == "YBR_FULL_422" else samples
    need = -(-frames * rows * columns * values * (bits or 1) // 8)  # bytes of decoded pixels
    if kind == "plain":
        budget, how = size, "holds"
    else:  # compressed, deflated, or a syntax pydicom does not know
        if frames * 8 > size:  # each frame needs an item header at least
            raise InputError(f"{_keyword_tag('NumberOfFrames')} is {frames}, more than a "
                             f"{size}-byte file can hold", path)
        budget, how = max(size * MAX_EXPANSION, MIN_PIXEL_BUDGET), "can decode to"
    if need > budget:
        raise InputError(f"the header claims {need} bytes of pixels ({frames} frame(s) of {rows}×{columns}, "
                         f"{samples} sample(s) of {bits or 1} bits; NumberOfFrames (0028,0008), Rows (0028,0010), "
                         f"Columns (0028,0011)) but the {size}-byte file {how} at most {budget}", path)
    return rows, columns


def _planes(h: Any, ds: Any, path: Path, ts: str, native: tuple[int, str, int] | None) -> list[SliceHeader]:
    """SliceHeaders from a header getter (``ds`` is pydicom's Dataset, or None on the raw path)."""
    frames = _frame_count(h, path)
    rows, columns = _check_image(h, path, ts, frames)
    window = (_number(_first(h.get("WindowCenter"))), _number(_first(h.get("WindowWidth"))))
    palette = str(h.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR"
    common = dict(
        path=str(path), series_uid=str(h.get("SeriesInstanceUID", "") or f"(no SeriesInstanceUID) {path}"),
        study_uid=str(h.get("StudyInstanceUID", "")), modality=str(h.get("Modality", "")),
        description=str(h.get("SeriesDescription", "")), series_number=_int(h.get("SeriesNumber")),
        instance=_int(h.get("InstanceNumber")), rows=rows, columns=columns,
        image_type=tuple(str(v).upper() for v in (h.get("ImageType") or ())),
        samples=3 if palette else _int(h.get("SamplesPerPixel")) or 1, palette=palette,
        rescale_type=str(h.get("RescaleType", "") or (ds.get("DoseUnits", "") if ds is not None else "")),  # RT dose
        transfer_syntax=ts, slice_thickness=_length(h.get("SliceThickness")),
        acquisition_time=str(h.get("AcquisitionTime", "") or ""),
        window=window if None not in window and window[1] > 0 else None,
    )
    spacing = _spacing(h.get("PixelSpacing"))
    orientation = _floats(h.get("ImageOrientationPatient"), 6)
    position = _floats(h.get("ImagePositionPatient"), 3)
    slope = _number(h.get("RescaleSlope"))
    intercept = _number(h.get("RescaleIntercept"))
    if slope is None and ds is not None and "DoseGridScaling" in ds:  # RT dose: Gy per stored unit
        slope = _number(ds.DoseGridScaling)
    echo, temporal = _number(_first(h.get("EchoNumbers"))), _number(h.get("TemporalPositionIdentifier"))
    if frames == 1:
        return [SliceHeader(frame=None, pixel_spacing=spacing, orientation=orientation, position=position,
                            slope=1.0 if slope is None else slope, intercept=intercept or 0.0,
                            echo=echo, temporal=temporal, native=native, **common)]
    # Multi-frame: enhanced (per-frame functional groups) or legacy (GridFrameOffsetVector).
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    offsets = _floats(ds.get("GridFrameOffsetVector"), frames)
    headers = []
    for k in range(frames):
        group = per_frame[k] if per_frame and k < len(per_frame) else None
        f_spacing, f_orient, f_pos, f_slope, f_icpt = spacing, orientation, position, slope, intercept
        f_echo, f_temporal = echo, temporal
        for g in (shared, group):  # per-frame values override shared ones
            if g is None:
                continue
            measures = _item(g, "PixelMeasuresSequence")
            if measures is not None:
                f_spacing = _spacing(measures.get("PixelSpacing")) or f_spacing
            orient = _item(g, "PlaneOrientationSequence")
            if orient is not None:
                f_orient = _floats(orient.get("ImageOrientationPatient"), 6) or f_orient
            pos = _item(g, "PlanePositionSequence")
            if pos is not None:
                f_pos = _floats(pos.get("ImagePositionPatient"), 3) or f_pos
            rescale = _item(g, "PixelValueTransformationSequence")
            if rescale is not None:
                f_slope = _number(rescale.get("RescaleSlope")) or f_slope
                f_icpt = _number(rescale.get("RescaleIntercept")) if "RescaleIntercept" in rescale else f_icpt
            mr = _item(g, "MREchoSequence")
            if mr is not None:
                f_echo = _number(mr.get("EffectiveEchoTime")) or f_echo
            content = _item(g, "FrameContentSequence")
            if content is not None:
                f_temporal = _number(content.get("TemporalPositionIndex")) or f_temporal
        if group is None and offsets and f_pos and f_orient:
            normal = np.cross(f_orient[:3], f_orient[3:])
            f_pos = tuple(float(v) for v in np.asarray(position) + (offsets[k] - offsets[0]) * normal)
        headers.append(SliceHeader(frame=k, pixel_spacing=f_spacing, orientation=f_orient, position=f_pos,
                                   slope=1.0 if f_slope is None else f_slope, intercept=f_icpt or 0.0,
                                   echo=f_echo, temporal=f_temporal, **{**common, "instance": k + 1}))
    return headers


def scan_headers(files: Sequence[Path], *, workers: int | None = None, skip_bad: bool = False,
                 progress: Progress | None = None) -> tuple[list[SliceHeader], int, list[dict[str, str]]]:
    """Headers of every file: (planes, number of non-DICOM files, skipped bad files).

    Serial unless ``workers`` > 1: the scan is pure Python (GIL-bound) with files in the page
    cache, where two threads took twice the time of one; threads pay off only on slow storage.
    """
    workers = workers or 1

    def one(path: Path) -> list[SliceHeader] | None | InputError:
        try:
            return read_headers(path)
        except InputError as exc:
            return exc

    planes: list[SliceHeader] = []
    not_dicom, bad = 0, []
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        for k, result in enumerate(pool.map(one, files) if pool else map(one, files)):
            if isinstance(result, InputError):
                if not skip_bad:
                    raise result
                bad.append({"file": result.path or "", "error": result.message})
            elif result is None:
                not_dicom += 1
            else:
                planes.extend(result)
            if progress:
                progress(k + 1, len(files))
    return planes, not_dicom, bad


# ---------------------------------------------------------------- grouping

def _close(a: tuple[float, ...] | None, b: tuple[float, ...] | None, tol: float, relative: bool = False) -> bool:
    if a is None or b is None:
        return a is b
    x, y = np.asarray(a), np.asarray(b)
    limit = tol * np.maximum(np.abs(x), np.abs(y)) if relative else tol
    return bool(np.all(np.abs(x - y) <= limit))


def group_series(planes: Iterable[SliceHeader]) -> list[Series]:
    """Group planes into series; mark localizers; number them in a stable order.

    Within one SeriesInstanceUID, planes go to the same group when their PixelSpacing and
    ImageOrientationPatient agree within a tolerance. ImageType LOCALIZER, or an orientation
    other than that of the UID's largest group, makes a group a localizer. Rows/Columns that
    differ inside a group are recorded (loading it is an error naming the odd files).
    """
    by_uid: dict[str, list[SliceHeader]] = {}
    for p in planes:
        by_uid.setdefault(p.series_uid, []).append(p)
    series: list[Series] = []
    for uid, members in by_uid.items():
        groups: list[list[SliceHeader]] = []
        scouts = [p for p in members if "LOCALIZER" in p.image_type]
        for p in members:
            if "LOCALIZER" in p.image_type:
                continue
            for g in groups:
                if (_close(g[0].orientation, p.orientation, ORIENTATION_TOLERANCE)
                        and _close(g[0].pixel_spacing, p.pixel_spacing, SPACING_TOLERANCE, relative=True)):
                    g.append(p)
                    break
            else:
                groups.append([p])
        groups.sort(key=len, reverse=True)
        orientations = [g for g in groups if not _close(g[0].orientation, groups[0][0].orientation,
                                                        ORIENTATION_TOLERANCE)]
        no_majority = bool(orientations) and len(orientations[0]) == len(groups[0])
        for k, g in enumerate(groups):
            s = Series(0, uid, g)
            if no_majority and any(x is g for x in orientations) or no_majority and k == 0:
                s.localizer = "several orientations, none in the majority (a multi-plane pilot)"
            elif any(x is g for x in orientations):
                s.localizer = f"orientation differs from the other {len(groups[0])} slice(s) of its series"
            sizes = Counter((x.rows, x.columns) for x in g)
            if len(sizes) > 1:
                main = sizes.most_common(1)[0][0]
                s.odd_files = sorted({x.path for x in g if (x.rows, x.columns) != main})
            series.append(s)
        if scouts:
            series.append(Series(0, uid, scouts, localizer="ImageType LOCALIZER"))
    # Groups of one UID stay together, ordered by the UID's lowest SeriesNumber; volumes before localizers.
    number: dict[str, int] = {}
    for s in series:
        n = min((x.series_number for x in s.slices if x.series_number is not None), default=1 << 30)
        number[s.uid] = min(number.get(s.uid, n), n)
    series.sort(key=lambda s: (s.first.study_uid, number[s.uid], s.uid, s.localizer is not None, -len(s.slices)))
    for k, s in enumerate(series):
        s.index = k
        s.slices.sort(key=lambda x: (x.path, x.frame or 0))
    return series


def orientation_label(orientation: tuple[float, ...] | None) -> str:
    """axial / coronal / sagittal when the slice normal is within 10 degrees of an axis; else oblique."""
    if orientation is None:
        return "unknown"
    normal = np.cross(orientation[:3], orientation[3:])
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < np.cos(np.radians(10)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def choose_series(series: list[Series], choice: str | int | None) -> Series:
    """The series a user asked for (index or SeriesInstanceUID), or the only volume candidate."""
    candidates = [s for s in series if s.localizer is None]
    if choice is not None:
        text = str(choice)
        for s in series:
            if text == str(s.index) or text == s.uid:
                matches = [x for x in series if x.uid == s.uid and x.localizer is None] if text == s.uid else [s]
                if len(matches) > 1:
                    raise SeriesChoiceError(f"SeriesInstanceUID {text} holds {len(matches)} volume groups",
                                            series, hint="choose one by its index")
                chosen = matches[0] if matches else s
                if chosen.localizer:
                    raise OptionError(f"series {chosen.index} is a localizer ({chosen.localizer}); "
                                      "it is not stacked into a volume")
                return chosen
        raise SeriesChoiceError(f"no series {text!r}", series,
                                hint="give an index or a SeriesInstanceUID from --list")
    if not candidates:
        raise InputError("no image series found (only localizers or no images)")
    if len(candidates) > 1:
        raise SeriesChoiceError(f"{len(candidates)} series could be loaded as volumes", series,
                                hint="choose one with --series INDEX or --series UID, or load them all "
                                     "with --all-series")
    return candidates[0]


# ---------------------------------------------------------------- geometry

def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    n = np.cross(orientation[:3], orientation[3:])
    return n / np.linalg.norm(n)


def _distances(slices: Sequence[SliceHeader]) -> np.ndarray:
    """d = (row × column direction) · ImagePositionPatient, per slice."""
    n = _normal(slices[0].orientation)
    return np.array([float(np.dot(n, s.position)) for s in slices])


@dataclass
class Geometry:
    """Where the slices lie: order, spacing, gaps, tilt, affine (LPS, mm)."""

    slices: list[SliceHeader]
    spacing_mm: tuple[float, float, float]  # (z, y, x)
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...]  # 3×3 row-major; columns: x (w), y (h), z (d) axes in LPS
    affine_lps: list[list[float]]  # (d, h, w, 1) voxel index -> (L, P, S, 1) mm
    positions_mm: list[float]  # distance of each slice along the normal
    gaps: list[dict[str, Any]]
    tilt_deg: float
    warnings: list[str]
    repeats: int = 1  # planes per position when split along time/echo


def slice_geometry(slices: list[SliceHeader], *, order: str = "position",
                   split_duplicates: bool = False) -> Geometry:
    """Order slices and work out spacing, gaps, tilt and the affine.

    ``order="position"`` sorts by the distance along the slice normal, ascending;
    ``"instance"`` by InstanceNumber. Duplicate positions are an error unless
    ``split_duplicates`` and every position repeats the same number of times.
    """
    warnings: list[str] = []
    first = slices[0]
    ps = first.pixel_spacing or (1.0, 1.0)
    if first.pixel_spacing is None:
        warnings.append("no PixelSpacing: 1 mm assumed in-plane")
    have_geometry = all(s.position is not None and s.orientation is not None for s in slices)
    if not have_geometry:
        ordered = sorted(slices, key=lambda s: (s.instance if s.instance is not None else 0, s.path, s.frame or 0))
        z = first.slice_thickness or 1.0
        if len(slices) > 1:
            warnings.append(f"no ImagePositionPatient/ImageOrientationPatient: slices ordered by InstanceNumber, "
                            f"slice spacing taken from SliceThickness ({z:g} mm)")
        direction = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        affine = [[0.0, 0.0, ps[1], 0.0], [0.0, ps[0], 0.0, 0.0], [z, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
        return Geometry(ordered, (z, ps[0], ps[1]), (0.0, 0.0, 0.0), direction, affine,
                        [k * z for k in range(len(ordered))], [], 0.0, warnings)

    d = _distances(slices)
    if order == "instance":
        idx = sorted(range(len(slices)), key=lambda k: (slices[k].instance if slices[k].instance is not None else 0,
                                                        d[k], slices[k].path))
    else:  # position, ties broken by time/echo then instance, so repeats come out in acquisition order
        idx = sorted(range(len(slices)), key=lambda k: (round(d[k] / DUPLICATE_MM), _repeat_key(slices[k])))
    ordered = [slices[k] for k in idx]
    dist = d[idx]

    # Duplicate positions: 4-D (time), multi-echo, or repeated acquisitions.
    # a set, not np.unique (like np.median, its first call imports numpy.ma: 8 ms, a tenth of a load)
    unique_positions = set(np.round(dist / DUPLICATE_MM).tolist())
    repeats = 1
    if len(unique_positions) < len(ordered):
        counts = Counter(np.round(dist / DUPLICATE_MM).tolist())
        sizes = set(counts.values())
        if not split_duplicates or len(sizes) != 1 or order != "position":
            worst = max(counts, key=counts.get)
            example = [s.path for s, v in zip(ordered, np.round(dist / DUPLICATE_MM)) if v == worst][:3]
            raise InputError(
                f"{len(ordered) - len(counts)} slice(s) share a position with another slice "
                f"(up to {counts[worst]} at {worst * DUPLICATE_MM:.3f} mm, e.g. {', '.join(example)})",
                hint="a 4-D or multi-echo series: --split-duplicates stacks the repeats along the first axis"
                     if len(sizes) == 1 else "the repeats are uneven; pick the files of one acquisition")
        repeats = sizes.pop()
        # Keep the first repeat for the geometry; the loader reads the rest in the same order.
    geo_slices = ordered[::repeats]
    geo_dist = dist[::repeats]

    row = np.asarray(first.orientation[:3], dtype=np.float64)
    col = np.asarray(first.orientation[3:], dtype=np.float64)
    normal = _normal(first.orientation)
    positions = np.array([s.position for s in geo_slices], dtype=np.float64)
    n = len(geo_slices)
    gaps: list[dict[str, Any]] = []
    tilt = 0.0
    if n > 1:
        steps = np.diff(geo_dist)
        step = float(statistics.median(np.abs(steps).tolist()))  # np.median's first call imports numpy.ma
        z = step
        for k, s in enumerate(np.abs(steps)):
            if abs(s - step) > GAP_TOLERANCE * step:
                gaps.append({"between": [k, k + 1], "files": [geo_slices[k].path, geo_slices[k + 1].path],
                             "expected_mm": round(step, 4), "found_mm": round(float(s), 4)})
        for g in gaps:
            warnings.append(f"uneven slice spacing between slices {g['between'][0]} and {g['between'][1]} "
                            f"({g['files'][0]} → {g['files'][1]}): expected {g['expected_mm']:g} mm, "
                            f"found {g['found_mm']:g} mm; spacing_mm and affine_lps use the median step, "
                            "slice_positions_mm holds each slice's real position (resample with those)")
        through = positions[-1] - positions[0]
        cos = abs(float(np.dot(through, normal))) / max(float(np.linalg.norm(through)), 1e-12)
        tilt = float(np.degrees(np.arccos(min(1.0, cos))))
        # The affine's slice step is the median step, the same as spacing_mm's z: the mean step
        # (first to last over n-1) would fold any gap into every slice. With a gap, only
        # slice_positions_mm places every slice; the affine is exact up to the first gap.
        span = float(geo_dist[-1] - geo_dist[0])
        signed = step if span >= 0 else -step
        if tilt < TILT_DEGREES:
            tilt = 0.0
            slice_vec = normal * signed
        else:
            # Gantry tilt: the stack is sheared; the affine follows the slices' real positions.
            slice_vec = through * (signed / span) if span else through / (n - 1)
            warnings.append(f"gantry tilt of {tilt:.2f} degrees: the volume is sheared; the affine follows the "
                            "slice positions (ITK and SimpleITK ignore the shear)")
    else:
        z = first.slice_thickness or 1.0
        slice_vec = normal * z
    origin = positions[0]
    # SimpleITK's direction: columns are the unit vectors of the x (column), y (row), z (slice) axes.
    zdir = slice_vec / max(np.linalg.norm(slice_vec), 1e-12)
    direction = np.stack([row, col, zdir if tilt == 0.0 else normal * np.sign(np.dot(slice_vec, normal) or 1)], 1)
    affine = np.eye(4)
    affine[:3, 0] = slice_vec  # d
    affine[:3, 1] = col * ps[0]  # h: next row
    affine[:3, 2] = row * ps[1]  # w: next column
    affine[:3, 3] = origin
    return Geometry(
        ordered, (float(z), float(ps[0]), float(ps[1])), tuple(float(v) for v in origin),
        tuple(float(v) for v in direction.reshape(-1)), [[float(v) for v in r] for r in affine],
        [float(v) for v in geo_dist], gaps, round(tilt, 4), warnings, repeats)


def _repeat_key(s: SliceHeader) -> tuple:
    return (s.temporal if s.temporal is not None else 0.0, s.echo if s.echo is not None else 0.0,
            s.acquisition_time, s.instance if s.instance is not None else 0, s.path, s.frame or 0)
