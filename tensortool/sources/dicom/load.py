"""DICOM series into volume tensors (Hounsfield units for CT): the public ``load_dicom``
(``list_dicom_series`` is in ``listing``, which needs no torch).

Headers are scanned in ``scan``, grouped in ``grouping``, placed in ``geometry``; the chosen
series' pixels are read and rescaled in ``volume``, then windowed and laid out in ``windows``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import torch

from ..._version import __version__
from ...bundle import Bundle
from ...errors import InputError, OptionError, UsageError, q
from .geometry import Geometry, slice_geometry
from .grouping import Series, SeriesChoiceError, choose_series
from .listing import list_dicom_series, scan_series
from .pixels import _check_decoder, _read_pixels
from .volume import raw_dtype, read_stack
from .windows import VOLUME_DTYPES, VOLUME_LAYOUTS, WINDOW_PRESETS, parse_window, shape_volume, window_meta

Progress = Callable[[int, int], None]

__all__ = ["VOLUME_DTYPES", "VOLUME_LAYOUTS", "WINDOW_PRESETS", "SeriesChoiceError", "list_dicom_series",
           "load_dicom", "parse_window"]


def check_volume_options(*, order: str, dtype: str | None, raw: bool, window: Any, layout: str,
                         split_duplicates: bool) -> tuple[float, float, str | None] | None:
    """Options that are wrong before any data is read; the parsed window."""
    if layout not in VOLUME_LAYOUTS:
        raise OptionError(f"unknown layout {q(layout)}; choose one of {', '.join(VOLUME_LAYOUTS)}",
                          param="layout", allowed=VOLUME_LAYOUTS)
    if order not in ("position", "instance"):
        raise OptionError(f"unknown order {q(order)}; choose position or instance", param="order",
                          allowed=("position", "instance"))
    if dtype is not None and dtype not in VOLUME_DTYPES:
        raise OptionError(f"unknown dtype {q(dtype)}; choose one of {', '.join(VOLUME_DTYPES)}", param="dtype",
                          allowed=list(VOLUME_DTYPES))
    win = parse_window(window)
    if win and raw:
        raise UsageError("{window} applies to rescaled values; it cannot be combined with {raw=True}", param="window")
    if split_duplicates and layout in ("dhw", "cdhw"):
        raise UsageError("{split_duplicates=True} stacks repeats along the first axis; use {layout=ncdhw} or "
                         "{layout=ndhw}", param="layout", allowed=("ncdhw", "ndhw"))
    return win


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
    win = check_volume_options(order=order, dtype=dtype, raw=raw, window=window, layout=layout,
                               split_duplicates=split_duplicates)
    if series is not None and all_series:
        raise UsageError("{series} and {all_series=True} do not go together", param="series")
    found, scan = scan_series(paths, workers, skip_bad)
    chosen = [s for s in found if s.localizer is None] if all_series else [choose_series(found, series)]
    if not chosen:
        raise InputError("no image series found (only localizers)")
    options = dict(order=order, dtype=dtype, raw=raw, window=win, layout=layout, strict=strict,
                   skip_bad=skip_bad, split_duplicates=split_duplicates, workers=workers, progress=progress)
    tensors, metas, bad_series = {}, [], []
    for s in chosen:
        try:
            volume, meta = load_series(s, **options)
        except InputError as exc:
            # With all_series and skip_bad a bad series (duplicate positions, every slice
            # unreadable, ...) is left out like a bad file, and the others still load.
            if not (all_series and skip_bad):
                raise
            bad_series.append({"series_index": s.index, "series_uid": s.uid, "description": s.first.description,
                               "error": str(exc)})
            continue
        tensors["volume" if not all_series else f"volume_{len(metas)}"] = volume
        metas.append(meta)
    return _bundle(tensors, metas, bad_series, scan, layout=layout, all_series=all_series, skip_bad=skip_bad,
                   tried=len(chosen))


def _bundle(tensors: dict[str, torch.Tensor], metas: list[dict[str, Any]], bad_series: list[dict[str, Any]],
            scan: dict[str, Any], *, layout: str, all_series: bool, skip_bad: bool, tried: int) -> Bundle:
    """The loaded volumes and their meta, with the warnings and skipped files of the whole call."""
    if not metas:
        raise InputError(f"none of the {tried} series could be loaded; series {bad_series[0]['series_index']}: "
                         f"{bad_series[0]['error']}")
    warnings = [f"series {b['series_index']} skipped: {b['error']}" for b in bad_series]
    warnings += [w for m in metas for w in m.pop("warnings")]
    if scan["not_dicom"]:
        warnings.insert(0, f"{scan['not_dicom']} file(s) that are not DICOM images were ignored")
    skipped = scan["skipped"] + [x for m in metas for x in m.pop("skipped")]
    extra = {"not_dicom_files": scan["not_dicom"], "skipped": skipped,
             "warnings": warnings, "tensortool_version": __version__}
    if all_series:
        meta = {"layout": layout, "series": metas, **extra}
        if skip_bad:
            meta["skipped_series"] = bad_series
    else:
        meta = {**metas[0], **extra}
    return Bundle(tensors, meta, primary=next(iter(tensors)))


def _check_series(s: Series, first_path: str, channels: int, layout: str) -> None:
    """Samples per pixel that cannot become a volume as asked: not 1 or 3, or colour without a channel axis."""
    if channels not in (1, 3):
        raise InputError(f"SamplesPerPixel {channels} is not supported (1 or 3)", first_path)
    if channels == 3 and layout in ("dhw", "ndhw"):
        raise OptionError(f"series {s.index} is colour (3 samples per pixel); it needs a channel axis",
                          hint="use {layout=ncdhw} or {layout=cdhw}", param="layout", allowed=("ncdhw", "cdhw"))


def _check_sizes(s: Series) -> None:
    """Slices whose Rows/Columns differ from most of the series'."""
    if s.odd_files:
        main = s.size
        shown = ", ".join(s.odd_files[:5]) + (f" and {len(s.odd_files) - 5} more" if len(s.odd_files) > 5 else "")
        raise InputError(f"series {s.index} mixes image sizes: most slices are {main[0]}×{main[1]} "
                         f"(Rows×Columns) but these differ: {shown}", hint="remove them, or pass the other files")


def load_series(s: Series, *, order: str, dtype: str | None, raw: bool, window: tuple | None, layout: str,
                strict: bool, skip_bad: bool, split_duplicates: bool, workers: int | None,
                progress: Progress | None) -> tuple[torch.Tensor, dict[str, Any]]:
    """One series into (volume, meta); ``window`` is parsed (``parse_window``), options checked."""
    _check_sizes(s)
    for hd in {x.path: x for x in s.slices}.values():
        _check_decoder(hd)
    geo = slice_geometry(list(s.slices), order=order, split_duplicates=split_duplicates)
    first = geo.slices[0]
    channels = first.samples
    _check_series(s, first.path, channels, layout)
    out_dtype = VOLUME_DTYPES[dtype or "float32"]
    work_dtype = out_dtype if out_dtype in (torch.float32, torch.float64) else torch.float32
    if raw and dtype is None:  # stored values in an integer type; known once the first file is read
        work_dtype = out_dtype = raw_dtype({_read_pixels(first.path, first).dtype})
    volume, geo, skipped = read_stack(s, geo, work_dtype=work_dtype, channels=channels, raw=raw, skip_bad=skip_bad,
                                      order=order, split_duplicates=split_duplicates, workers=workers,
                                      progress=progress)
    if geo.gaps and strict:
        g = geo.gaps[0]
        raise InputError(f"uneven slice spacing between slices {g['between'][0]} and {g['between'][1]}: "
                         f"expected {g['expected_mm']:g} mm, found {g['found_mm']:g} mm", g["files"][1],
                         hint="without {strict=True} this is a warning", param="strict")
    volume = shape_volume(volume, window=window, out_dtype=out_dtype, channels=channels, layout=layout)
    meta = series_meta(s, geo, layout=layout, out_dtype=out_dtype, order=order, raw=raw, window=window,
                       channels=channels, skipped=skipped)
    return volume, meta


def series_meta(s: Series, geo: Geometry, *, layout: str, out_dtype: torch.dtype, order: str, raw: bool,
                window: tuple | None, channels: int, skipped: list[dict[str, Any]]) -> dict[str, Any]:
    """What a loaded series' meta records: identity, geometry, values, window, files."""
    first = geo.slices[0]
    reps = geo.repeats
    h, w = s.size
    slopes = [hd.slope for hd in geo.slices]
    intercepts = [hd.intercept for hd in geo.slices]
    uniform = len(set(slopes)) == 1 and len(set(intercepts)) == 1
    meta: dict[str, Any] = {
        "layout": layout, "dtype": str(out_dtype).removeprefix("torch."), "series_index": s.index,
        "modality": first.modality, "series_description": first.description, "series_number": first.series_number,
        "series_uid": s.uid, "study_uid": first.study_uid, "orientation": s.orientation_label(),
        "shape_dhw": [len(geo.slices) // reps, h, w],
        "spacing_mm": [round(v, 6) for v in geo.spacing_mm],
        "origin_mm": [round(v, 6) for v in geo.origin_mm],
        "direction": [round(v, 8) for v in geo.direction],
        "affine_lps": [[round(v, 6) for v in r] for r in geo.affine_lps],
        "slice_positions_mm": [round(v, 4) for v in geo.positions_mm],
        # Which geometry places every slice: the affine when the slices are evenly spaced; after a
        # gap, only each slice's own distance along the normal (the affine uses the median step).
        "resample_with": "slice_positions_mm" if geo.gaps else "affine_lps",
        "order": order, "gaps": geo.gaps, "gantry_tilt_deg": geo.tilt_deg, "value_unit": _value_unit(first, raw),
        "rescale": None if raw else ({"slope": slopes[0], "intercept": intercepts[0]} if uniform
                                     else {"slopes": slopes, "intercepts": intercepts}),
        "window": window_meta(window),
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
    return meta


def _value_unit(first: Any, raw: bool) -> str | None:
    if raw:
        return "stored values (no rescale)"
    if first.rescale_type:
        return first.rescale_type
    return "HU" if first.modality == "CT" else None


def _ts_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name
