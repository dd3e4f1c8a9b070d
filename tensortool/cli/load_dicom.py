"""`tensortool load-dicom`: a DICOM series into a volume tensor (Hounsfield units for CT)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..sources.dicom.load import VOLUME_DTYPES, VOLUME_LAYOUTS, SeriesChoiceError, list_dicom_series, load_dicom
from ..tensorfile import check_output, check_tensor_output, write_bundle
from ..sources.dicom.preview import write_volume_preview
from . import render
from .dicom_export import EachSeries, NameTemplate, SeriesOutput, check_each_series, export_each_series
from .options import Force, Json, Quiet, SkipBad, Workers
from .ray_option import Ray


def load_dicom_command(
    paths: Annotated[list[str], typer.Argument(
        help="A folder (searched recursively; non-DICOM files and DICOMDIR ignored), DICOM files, "
             "or one multi-frame file.", show_default=False)],
    list_: Annotated[bool, typer.Option("--list",
        help="Only list the series found (no pixels read, no patient identifiers).")] = False,
    series: Annotated[Optional[str], typer.Option(
        help="The series to load: its index in --list or its SeriesInstanceUID.")] = None,
    all_series: Annotated[bool, typer.Option("--all-series",
        help="Load every volume candidate: volume_0, volume_1, ... (meta per series under 'series').")] = False,
    layout: Annotated[Literal[VOLUME_LAYOUTS], typer.Option(
        help="ncdhw = 1×1×D×H×W (what 3-D models take); cdhw, ndhw, dhw drop axes.")] = "ncdhw",
    dtype: Annotated[Optional[Literal[tuple(VOLUME_DTYPES)]], typer.Option(
        help="Output type (default float32; with --raw the stored integer type).", show_default=False)] = None,
    raw: Annotated[bool, typer.Option("--raw",
        help="Keep stored values: no RescaleSlope/Intercept.")] = False,
    window: Annotated[Optional[str], typer.Option(
        help="CENTER,WIDTH in rescaled units (HU), or a preset: lung, mediastinum, bone, brain, abdomen. "
             "Clips to the window and scales it to [0,1].")] = None,
    order: Annotated[Literal["position", "instance"], typer.Option(
        help="position: along the slice normal, ascending; instance: by InstanceNumber.")] = "position",
    strict: Annotated[bool, typer.Option("--strict",
        help="Uneven slice spacing (a missing slice) is an error, not a warning.")] = False,
    split_duplicates: Annotated[bool, typer.Option("--split-duplicates",
        help="Slices repeating each position (4-D, multi-echo) go along the first axis, "
             "instead of being refused.")] = False,
    skip_bad: SkipBad = False,
    workers: Workers = None,
    preview: Annotated[Optional[Path], typer.Option(dir_okay=False,
        help="Also write a PNG of three orthogonal mid-slices (window applied) to check orientation.")] = None,
    output: SeriesOutput = None,
    each_series: EachSeries = False,
    name_template: NameTemplate = None,
    ray: Ray = None,
    force: Force = False,
    json_: Json = False,
    quiet: Quiet = False,
) -> None:
    """Load a DICOM series into a volume (1×1×D×H×W float32, Hounsfield units for CT)."""
    with render.guard():
        started = time.perf_counter()
        check_each_series(each_series, output=output, name_template=name_template, list_=list_, series=series,
                          all_series=all_series, preview=preview, ray=ray)
        if each_series:
            return export_each_series(paths, output, name_template=name_template, order=order, dtype=dtype, raw=raw,
                                      window=window, layout=layout, strict=strict, skip_bad=skip_bad,
                                      split_duplicates=split_duplicates, workers=workers, force=force,
                                      ray=ray, as_json=json_, quiet=quiet)
        if list_:
            rows = list_dicom_series(paths, workers=workers, skip_bad=skip_bad)
            render.dicom_series_table(rows, as_json=json_, seconds=time.perf_counter() - started)
            return
        if output is not None:
            check_tensor_output(output, force=force, inputs=paths,
                                dtypes=[VOLUME_DTYPES[dtype]] if dtype else [])
        if preview is not None:
            check_output(preview, force=force, inputs=paths)
        try:
            with render.progress("reading slices", quiet) as on_progress:
                bundle = load_dicom(paths, series=series, all_series=all_series, order=order, dtype=dtype,
                                    raw=raw, window=window, layout=layout, strict=strict, skip_bad=skip_bad,
                                    split_duplicates=split_duplicates, workers=workers, progress=on_progress)
        except SeriesChoiceError as exc:
            render.dicom_series_table([s.row() for s in exc.series], as_json=False, seconds=None, to_stderr=True)
            raise
        files = [f.split("#")[0] for m in bundle.meta.get("series", [bundle.meta]) for f in m["files"]]
        if output is not None:
            write_bundle(bundle, output, force=force, inputs=files)
        if preview is not None:
            write_volume_preview(bundle, preview, force=force, inputs=files)
        render.report(bundle, output=output, seconds=time.perf_counter() - started, as_json=json_)
