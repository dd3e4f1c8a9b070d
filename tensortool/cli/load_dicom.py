"""`tensortool load-dicom`: a DICOM series into a volume tensor (Hounsfield units for CT)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ..sources.dicom.constants import VOLUME_DTYPE_NAMES, VOLUME_LAYOUTS
from .dicom_export import EachSeries, NameTemplate, SeriesOutput, check_each_series, export_each_series
from .loading import SideFile, load_and_emit
from .options import SkipBad, Workers, output_options
from .ray_option import Ray


@output_options("output", "force", "json_", "quiet", output=SeriesOutput)
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
    dtype: Annotated[Optional[Literal[VOLUME_DTYPE_NAMES]], typer.Option(
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
    each_series: EachSeries = False,
    name_template: NameTemplate = None,
    ray: Ray = None,
    **shared: Any,
) -> None:
    """Load a DICOM series into a volume (1×1×D×H×W float32, Hounsfield units for CT)."""
    check_each_series(each_series, output=shared["output"], name_template=name_template, list_=list_, series=series,
                      all_series=all_series, preview=preview, ray=ray)
    if each_series:
        return export_each_series(paths, shared["output"], name_template=name_template, order=order, dtype=dtype,
                                  raw=raw, window=window, layout=layout, strict=strict, skip_bad=skip_bad,
                                  split_duplicates=split_duplicates, workers=workers, force=shared["force"],
                                  ray=ray, as_json=shared["json_"], quiet=shared["quiet"])
    if list_:
        return list_series(paths, workers=workers, skip_bad=skip_bad, as_json=shared["json_"])
    from ..sources.dicom.load import VOLUME_DTYPES, SeriesChoiceError, load_dicom  # torch: not for --list
    from ..sources.dicom.preview import write_volume_preview
    from . import tables
    from .output import stderr

    def load(on_progress):
        try:
            return load_dicom(paths, series=series, all_series=all_series, order=order, dtype=dtype, raw=raw,
                              window=window, layout=layout, strict=strict, skip_bad=skip_bad,
                              split_duplicates=split_duplicates, workers=workers, progress=on_progress)
        except SeriesChoiceError as exc:  # the candidates, so the user can choose
            tables.dicom_series([s.row() for s in exc.series], seconds=None, console=stderr)
            raise

    load_and_emit(load, inputs=paths, **shared,
                  dtypes=[VOLUME_DTYPES[dtype]] if dtype else [], side_files=[SideFile(preview, write_volume_preview)],
                  progress_label="reading slices", sources_of=lambda bundle: [
                      f.split("#")[0] for m in bundle.meta.get("series", [bundle.meta]) for f in m["files"]])


def list_series(paths: list[str], *, workers: int | None, skip_bad: bool, as_json: bool) -> None:
    """``--list``: the series found, without reading pixels."""
    from ..sources.dicom.listing import list_dicom_series
    from . import tables
    from .output import emit

    started = time.perf_counter()
    rows = list_dicom_series(paths, workers=workers, skip_bad=skip_bad)
    seconds = time.perf_counter() - started
    emit({"series": rows, "seconds": round(seconds, 6)}, lambda _: tables.dicom_series(rows, seconds=seconds),
         as_json=as_json)
