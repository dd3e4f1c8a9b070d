"""DICOM series into volume tensors: pixels, per-slice rescale (Hounsfield units for CT), windows, layouts.

Headers are scanned and grouped in ``dicom_series``; here the chosen series' pixels are read in
a thread pool, each slice rescaled straight into its slot of a preallocated float32 volume
(``stored * slope + intercept`` computed in float32, so no integer type can overflow).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..._version import __version__
from ...bundle import Bundle
from ...errors import InputError, OptionError, UsageError
from .codestream import bound_frame_sizes
from .constants import VOLUME_DTYPE_NAMES, VOLUME_LAYOUTS
from .series import (Series, SeriesChoiceError, SliceHeader, choose_series, find_dicom_files,
                           group_series, pydicom_errors, scan_headers, slice_geometry)

VOLUME_DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in VOLUME_DTYPE_NAMES}
# (center, width) in HU. Radiology's usual values (e.g. Radiopaedia's "windowing (CT)").
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 400.0),
}
EXTRA_HINT = 'pip install "tensortool[dicom]"'
Progress = Callable[[int, int], None]

__all__ = ["VOLUME_LAYOUTS", "WINDOW_PRESETS", "SeriesChoiceError", "list_dicom_series", "load_dicom",
           "parse_window"]


def parse_window(spec: str | tuple[float, float] | None) -> tuple[float, float, str | None] | None:
    """A preset name or ``CENTER,WIDTH`` → (center, width, preset name or None).

    >>> parse_window("lung")
    (-600.0, 1500.0, 'lung')
    """
    if spec is None:
        return None
    name = None
    if isinstance(spec, tuple):
        center, width = map(float, spec)
        name = None
    elif spec.lower() in WINDOW_PRESETS:
        center, width = WINDOW_PRESETS[spec.lower()]
        name = spec.lower()
    else:
        try:
            center, width = (float(v) for v in spec.split(","))
        except ValueError:
            raise UsageError(f"--window {spec!r}: expected CENTER,WIDTH (e.g. 40,400) or one of "
                              f"{', '.join(WINDOW_PRESETS)}") from None
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise UsageError(f"--window {spec!r}: the width must be a positive number")
    return center, width, name


def _scan(paths: Sequence[str | os.PathLike], workers: int | None, skip_bad: bool,
          progress: Progress | None) -> tuple[list[Series], dict[str, Any]]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise InputError("no input given")
    files = find_dicom_files(paths)
    planes, not_dicom, bad = scan_headers(files, workers=workers, skip_bad=skip_bad, progress=progress)
    if not planes:
        where = ", ".join(map(str, paths))
        raise InputError(f"no DICOM images found ({len(files)} file(s) looked at, {not_dicom} not DICOM images)",
                         where)
    return group_series(planes), {"not_dicom": not_dicom, "skipped": bad, "files_seen": len(files)}


def list_dicom_series(paths: Sequence[str | os.PathLike] | str | os.PathLike, *, workers: int | None = None,
                      skip_bad: bool = False) -> list[dict[str, Any]]:
    """The series found under ``paths``, one dict each (what ``load-dicom --list`` shows); no pixels read.

    Keys: index, modality, description, series_number, slices, rows, columns, samples,
    orientation (axial/coronal/sagittal/oblique), spacing_mm (z, y, x), kind, series_uid.
    No patient identifiers.

    >>> [s["slices"] for s in list_dicom_series("samples/dicom/ct")]  # doctest: +SKIP
    [16]
    """
    series, _ = _scan(paths, workers, skip_bad, None)
    return [s.row() for s in series]


def load_dicom(paths: Sequence[str | os.PathLike] | str | os.PathLike, *, series: str | int | None = None,
               all_series: bool = False, order: str = "position", dtype: str | None = None, raw: bool = False,
               window: str | tuple[float, float] | None = None, layout: str = "ncdhw", strict: bool = False,
               skip_bad: bool = False, split_duplicates: bool = False, workers: int | None = None,
               progress: Progress | None = None) -> Bundle:
    """Read a DICOM series (a folder, a list of files or one multi-frame file) into a volume.

    The volume is ``volume`` (1×1×D×H×W float32 by default), slices ordered by position along
    the slice normal, values rescaled per slice (Hounsfield units for CT). With ``all_series``
    every volume candidate becomes ``volume_0``, ``volume_1``, ... and ``meta["series"]`` holds
    each one's meta; with ``skip_bad`` too, a series that cannot be loaded is left out and listed
    in ``meta["skipped_series"]`` (its index, UID, description and the reason). ``workers``:
    threads for reading pixels (default: the cores, up to 8) and, only when given, for the
    header scan (one by default: it is pure Python). PALETTE COLOR and YBR images come back as
    RGB (3 channels). ``meta["resample_with"]`` names the geometry that places every slice:
    ``affine_lps`` for evenly spaced slices, ``slice_positions_mm`` after a gap (``spacing_mm``
    and the affine then use the median step).

    >>> vol = load_dicom("samples/dicom/ct")  # doctest: +SKIP
    >>> vol["volume"].shape, vol.meta["spacing_mm"]  # doctest: +SKIP
    (torch.Size([1, 1, 16, 64, 64]), [2.5, 0.7, 0.7])
    """
    if layout not in VOLUME_LAYOUTS:
        raise OptionError(f"unknown layout {layout!r}; choose one of {', '.join(VOLUME_LAYOUTS)}")
    if order not in ("position", "instance"):
        raise OptionError(f"unknown order {order!r}; choose position or instance")
    if dtype is not None and dtype not in VOLUME_DTYPES:
        raise OptionError(f"unknown dtype {dtype!r}; choose one of {', '.join(VOLUME_DTYPES)}")
    win = parse_window(window)
    if win and raw:
        raise UsageError("--window applies to rescaled values; it cannot be combined with --raw")
    if series is not None and all_series:
        raise UsageError("--series and --all-series do not go together")
    if split_duplicates and layout in ("dhw", "cdhw"):
        raise UsageError("--split-duplicates stacks repeats along the first axis; use --layout ncdhw or ndhw")
    found, scan = _scan(paths, workers, skip_bad, None)
    chosen = [s for s in found if s.localizer is None] if all_series else [choose_series(found, series)]
    if not chosen:
        raise InputError("no image series found (only localizers)")
    options = dict(order=order, dtype=dtype, raw=raw, window=win, layout=layout, strict=strict,
                   skip_bad=skip_bad, split_duplicates=split_duplicates, workers=workers, progress=progress)
    tensors, metas, bad_series = {}, [], []
    for s in chosen:
        try:
            volume, meta = _load_series(s, **options)
        except InputError as exc:
            # With --all-series --skip-bad a bad series (duplicate positions, every slice
            # unreadable, ...) is left out like a bad file, and the others still load.
            if not (all_series and skip_bad):
                raise
            bad_series.append({"series_index": s.index, "series_uid": s.uid, "description": s.first.description,
                               "error": str(exc)})
            continue
        tensors["volume" if not all_series else f"volume_{len(metas)}"] = volume
        metas.append(meta)
    if not metas:
        raise InputError(f"none of the {len(chosen)} series could be loaded; series {bad_series[0]['series_index']}: "
                         f"{bad_series[0]['error']}")
    warnings = [f"series {b['series_index']} skipped: {b['error']}" for b in bad_series]
    warnings += [w for m in metas for w in m.pop("warnings")]
    if scan["not_dicom"]:
        warnings.insert(0, f"{scan['not_dicom']} file(s) that are not DICOM images were ignored")
    extra = {"not_dicom_files": scan["not_dicom"], "skipped": scan["skipped"] + [x for m in metas for x in m.pop("skipped")],
             "warnings": warnings, "tensortool_version": __version__}
    if all_series:
        meta = {"layout": layout, "series": metas, **extra}
        if skip_bad:
            meta["skipped_series"] = bad_series
    else:
        meta = {**metas[0], **extra}
    return Bundle(tensors, meta, primary=next(iter(tensors)))


# ---------------------------------------------------------------- pixels

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

    from .series import _library_errors

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


def _load_series(s: Series, *, order: str, dtype: str | None, raw: bool, window: tuple | None, layout: str,
                 strict: bool, skip_bad: bool, split_duplicates: bool, workers: int | None,
                 progress: Progress | None) -> tuple[torch.Tensor, dict[str, Any]]:
    if s.odd_files:
        main = s.size
        shown = ", ".join(s.odd_files[:5]) + (f" and {len(s.odd_files) - 5} more" if len(s.odd_files) > 5 else "")
        raise InputError(f"series {s.index} mixes image sizes: most slices are {main[0]}×{main[1]} "
                         f"(Rows×Columns) but these differ: {shown}", hint="remove them, or pass the other files")
    skipped: list[dict[str, str]] = []
    for hd in {x.path: x for x in s.slices}.values():
        _check_decoder(hd)
    geo = slice_geometry(list(s.slices), order=order, split_duplicates=split_duplicates)
    first = geo.slices[0]
    h, w = s.size
    channels = first.samples
    if channels not in (1, 3):
        raise InputError(f"SamplesPerPixel {channels} is not supported (1 or 3)", first.path)
    if channels == 3 and layout in ("dhw", "ndhw"):
        raise OptionError(f"series {s.index} is colour (3 samples per pixel); it needs a channel axis",
                          hint="use --layout ncdhw or cdhw")
    out_dtype = VOLUME_DTYPES[dtype or "float32"]
    work_dtype = out_dtype if out_dtype in (torch.float32, torch.float64) else torch.float32
    if raw and dtype is None:  # stored values in an integer type; known once the first file is read
        work_dtype = out_dtype = _raw_dtype({_read_pixels(first.path, first).dtype})
    reps = geo.repeats
    depth = len(geo.slices) // reps
    # numpy's allocator asks for transparent huge pages on large arrays: the kernel then maps the
    # fresh output about 5x faster than in 4 KiB pages (torch.empty does not ask).
    shape = (reps, depth, h, w) + ((channels,) if channels == 3 else ())
    try:
        target = np.empty(shape, dtype=torch.empty(0, dtype=work_dtype).numpy().dtype)
    except MemoryError:
        raise InputError(f"series {s.index}: a {'×'.join(map(str, shape))} volume does not fit in memory",
                         first.path) from None
    volume = torch.from_numpy(target)
    buffers = threading.local()
    # Each worker decodes one file and writes its planes, rescaled, straight into their slots:
    # memory stays at the output plus a few stored slices in flight.
    slots: dict[str, list[tuple[int, SliceHeader]]] = {}
    for k, hd in enumerate(geo.slices):
        slots.setdefault(hd.path, []).append((k, hd))

    def fill(path: str) -> InputError | None:
        try:
            arr = _read_pixels(path, slots[path][0][1], buffers)
            for k, hd in slots[path]:
                if hd.frame is not None and (arr.ndim < 3 or hd.frame >= arr.shape[0]):
                    raise InputError(f"frame {hd.frame} is missing from the pixel data", path)
                frame = arr[hd.frame] if hd.frame is not None else arr
                slot = target[k % reps, k // reps]
                if frame.shape != slot.shape:  # pydicom decodes what the data holds, not what we read
                    raise InputError(f"pixel data is {'×'.join(map(str, frame.shape))}, the header says "
                                     f"{'×'.join(map(str, slot.shape))} (Rows×Columns[×SamplesPerPixel])", path)
                if raw or (hd.slope == 1 and not hd.intercept):
                    np.copyto(slot, frame, casting="unsafe")
                elif hd.slope == 1:  # one pass; the same float32 sum as multiplying by 1.0 first
                    np.add(frame, np.asarray(hd.intercept, dtype=target.dtype), out=slot, casting="unsafe")
                else:
                    np.multiply(frame, np.asarray(hd.slope, dtype=target.dtype), out=slot, casting="unsafe")
                    if hd.intercept:
                        slot += np.asarray(hd.intercept, dtype=target.dtype)
        except InputError as exc:
            return exc
        return None

    bad: set[str] = set()
    workers = min(workers or min(8, os.cpu_count() or 1), len(slots))
    # One worker reads in the calling thread, where a signal (Ctrl-C, a time limit) can stop it.
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        for k, (path, err) in enumerate(zip(slots, pool.map(fill, slots) if pool else map(fill, slots))):
            if err is not None:
                if not skip_bad:
                    raise err
                bad.add(path)
                skipped.append({"file": path, "error": err.message})
            if progress:
                progress(k + 1, len(slots))
    if bad:  # rare: drop the bad slices, and work the geometry out again so the gap is reported
        keep = [k for k, hd in enumerate(geo.slices) if hd.path not in bad]
        if not keep:
            raise InputError(f"every slice of series {s.index} is unreadable")
        geo = slice_geometry([geo.slices[k] for k in keep], order=order, split_duplicates=split_duplicates)
        flat = volume.reshape((reps * depth,) + tuple(volume.shape[2:]))
        # slot k lives at [k % reps, k // reps]: flat index (k % reps) * depth + k // reps
        index = torch.tensor([(k % reps) * depth + k // reps for k in keep])
        reps = geo.repeats
        depth = len(geo.slices) // reps
        volume = flat.index_select(0, index).reshape((depth, reps) + tuple(volume.shape[2:])).transpose(0, 1)
        first = geo.slices[0]
    if geo.gaps and strict:
        g = geo.gaps[0]
        raise InputError(f"uneven slice spacing between slices {g['between'][0]} and {g['between'][1]}: "
                         f"expected {g['expected_mm']:g} mm, found {g['found_mm']:g} mm", g["files"][1],
                         hint="without --strict this is a warning")
    slopes = [hd.slope for hd in geo.slices]
    intercepts = [hd.intercept for hd in geo.slices]
    win = window
    if win is not None:
        center, width, _ = win
        volume.sub_(center - width / 2).div_(width).clamp_(0.0, 1.0)
    if volume.dtype != out_dtype:
        volume = volume.to(out_dtype)
    if channels == 3:  # (T, D, H, W, C) -> (T, C, D, H, W)
        volume = volume.permute(0, 4, 1, 2, 3)
    else:
        volume = volume.unsqueeze(1)
    if layout == "cdhw":
        volume = volume[0]
    elif layout == "ndhw":
        volume = volume[:, 0]
    elif layout == "dhw":
        volume = volume[0, 0]
    volume = volume.contiguous()

    ct = first.modality == "CT"
    unit = None
    if raw:
        unit = "stored values (no rescale)"
    elif first.rescale_type:
        unit = first.rescale_type
    elif ct:
        unit = "HU"
    uniform = len(set(slopes)) == 1 and len(set(intercepts)) == 1
    meta: dict[str, Any] = {
        "layout": layout,
        "dtype": str(out_dtype).removeprefix("torch."),
        "series_index": s.index,
        "modality": first.modality,
        "series_description": first.description,
        "series_number": first.series_number,
        "series_uid": s.uid,
        "study_uid": first.study_uid,
        "orientation": s.orientation_label(),
        "shape_dhw": [depth, h, w],
        "spacing_mm": [round(v, 6) for v in geo.spacing_mm],
        "origin_mm": [round(v, 6) for v in geo.origin_mm],
        "direction": [round(v, 8) for v in geo.direction],
        "affine_lps": [[round(v, 6) for v in r] for r in geo.affine_lps],
        "slice_positions_mm": [round(v, 4) for v in geo.positions_mm],
        # Which geometry places every slice: the affine when the slices are evenly spaced; after a
        # gap, only each slice's own distance along the normal (the affine uses the median step).
        "resample_with": "slice_positions_mm" if geo.gaps else "affine_lps",
        "order": order,
        "gaps": geo.gaps,
        "gantry_tilt_deg": geo.tilt_deg,
        "value_unit": unit,
        "rescale": None if raw else ({"slope": slopes[0], "intercept": intercepts[0]} if uniform
                                     else {"slopes": slopes, "intercepts": intercepts}),
        "window": None if win is None else {"center": win[0], "width": win[1], "preset": win[2],
                                            "range": [win[0] - win[1] / 2, win[0] + win[1] / 2]},
        "window_in_file": list(first.window) if first.window else None,
        "samples_per_pixel": channels,
        "transfer_syntax": _ts_name(first.transfer_syntax),
        "files": [hd.path if hd.frame is None else f"{hd.path}#{hd.frame}" for hd in geo.slices],
        "warnings": list(geo.warnings),
        "skipped": skipped,
    }
    if reps > 1:
        meta["repeats"] = reps
        meta["repeat_axis"] = "first axis (n): one volume per time point / echo, in acquisition order"
    if any(hd.frame is not None for hd in geo.slices):
        meta["frames"] = len(geo.slices)
    return volume, meta


def _raw_dtype(stored: set[np.dtype]) -> torch.dtype:
    """The smallest torch type holding every stored type (uint16 → int32: torch has little uint16)."""
    common = np.result_type(*stored)
    if common == np.uint16:
        return torch.int32
    if common == np.uint32:
        return torch.int64
    return torch.from_numpy(np.zeros(1, dtype=common)).dtype


def _ts_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name
