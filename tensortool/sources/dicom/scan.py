"""Find DICOM files and scan their headers into planes (SliceHeaders); no pixels are read.

Only headers are read, up to the pixel data (``raw``'s walker for common files, pydicom's
``stop_before_pixels`` for the rest), in one thread by default. Every value that sizes pixel
work is checked against the file's size here, before anything allocates for it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import InputError
from .headers import (_DESCRIPTION, _DOSE_SCALING, _DOSE_UNITS, _US, _WANTED, SliceHeader, _first, _floats,
                      _Header, _int, _item, _keyword_tag, _length, _native_pixels, _number, _raw_native,
                      _RawGetter, _spacing, pydicom_errors)
from .raw import NOT_DICOM, RawHeader, read_raw_header

# Decoded pixels may outgrow a compressed file by this factor at most (beyond MIN_PIXEL_BUDGET):
# zlib tops out near 1032:1, RLE at 64:1; JPEG 2000 of a blank slice reaches a few thousand.
MAX_EXPANSION = 4096
MIN_PIXEL_BUDGET = 256 << 20  # bytes of decoded pixels any file may claim, whatever its size

Progress = Callable[[int, int], None]


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
    top = dict(pixel_spacing=_spacing(h.get("PixelSpacing")), orientation=_floats(h.get("ImageOrientationPatient"), 6),
               position=_floats(h.get("ImagePositionPatient"), 3), slope=_number(h.get("RescaleSlope")),
               intercept=_number(h.get("RescaleIntercept")))
    if top["slope"] is None and ds is not None and "DoseGridScaling" in ds:  # RT dose: Gy per stored unit
        top["slope"] = _number(ds.DoseGridScaling)
    top.update(echo=_number(_first(h.get("EchoNumbers"))), temporal=_number(h.get("TemporalPositionIdentifier")))
    if frames == 1:
        return [SliceHeader(frame=None, native=native, **_rescale_defaults(top), **common)]
    return _frame_headers(ds, frames, common, top)


def _rescale_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """No RescaleSlope means 1, no RescaleIntercept 0."""
    return {**values, "slope": 1.0 if values["slope"] is None else values["slope"],
            "intercept": values["intercept"] or 0.0}


def _frame_headers(ds: Any, frames: int, common: dict[str, Any], top: dict[str, Any]) -> list[SliceHeader]:
    """One SliceHeader per frame of a multi-frame file: enhanced (per-frame functional groups
    override shared ones, which override the top level) or legacy (GridFrameOffsetVector)."""
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    offsets = _floats(ds.get("GridFrameOffsetVector"), frames)
    headers = []
    for k in range(frames):
        group = per_frame[k] if per_frame and k < len(per_frame) else None
        f = dict(top)
        for g in (shared, group):  # per-frame values override shared ones
            if g is not None:
                _apply_group(g, f)
        if group is None and offsets and f["position"] and f["orientation"]:
            normal = np.cross(f["orientation"][:3], f["orientation"][3:])
            f["position"] = tuple(float(v) for v in np.asarray(top["position"]) + (offsets[k] - offsets[0]) * normal)
        headers.append(SliceHeader(frame=k, **_rescale_defaults(f), **{**common, "instance": k + 1}))
    return headers


def _apply_group(g: Any, f: dict[str, Any]) -> None:
    """The values one functional group item sets, written over ``f``."""
    measures = _item(g, "PixelMeasuresSequence")
    if measures is not None:
        f["pixel_spacing"] = _spacing(measures.get("PixelSpacing")) or f["pixel_spacing"]
    orient = _item(g, "PlaneOrientationSequence")
    if orient is not None:
        f["orientation"] = _floats(orient.get("ImageOrientationPatient"), 6) or f["orientation"]
    pos = _item(g, "PlanePositionSequence")
    if pos is not None:
        f["position"] = _floats(pos.get("ImagePositionPatient"), 3) or f["position"]
    rescale = _item(g, "PixelValueTransformationSequence")
    if rescale is not None:
        f["slope"] = _number(rescale.get("RescaleSlope")) or f["slope"]
        if "RescaleIntercept" in rescale:
            f["intercept"] = _number(rescale.get("RescaleIntercept"))
    mr = _item(g, "MREchoSequence")
    if mr is not None:
        f["echo"] = _number(mr.get("EffectiveEchoTime")) or f["echo"]
    content = _item(g, "FrameContentSequence")
    if content is not None:
        f["temporal"] = _number(content.get("TemporalPositionIndex")) or f["temporal"]


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


