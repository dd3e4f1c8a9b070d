"""load-dicom --each-series -o DIR/: its options, the library call and its summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .ray_option import engine_and_progress

SeriesOutput = Annotated[Optional[str], typer.Option(
    "--output", "-o",
    help="Write the tensors here; the suffix picks the format: .pt, .safetensors, .npy, .npz "
         "(.npy holds one tensor and no metadata; a result of several is refused). "
         "With --each-series, a folder.", show_default=False)]
EachSeries = Annotated[bool, typer.Option("--each-series",
    help="Convert every volume series under the inputs into its own .safetensors file in the folder -o DIR/, "
         "with a manifest.json; run again to resume. Localizers are skipped; a series that fails is "
         "recorded and the others go on (exit status 1 at the end). --workers: series converted at once.")]
NameTemplate = Annotated[Optional[str], typer.Option("--name-template",
    help="With --each-series: file names from the fields {modality}, {series_number}, {uid_hash} "
         "(a hash of the SeriesInstanceUID) and {index} "
         "[default: {modality}_{series_number:04d}_{uid_hash}.safetensors].", show_default=False)]


def check_each_series(each_series: bool, *, output: str | None, name_template: str | None, **single: Any) -> None:
    """--each-series needs -o DIR/ and excludes the options of a single output."""
    if not each_series:
        if name_template is not None or single.pop("ray", None) is not None:
            flag = "--name-template" if name_template is not None else "--ray"
            raise typer.BadParameter(f"{flag} needs --each-series", param_hint=flag)
        return
    single.pop("ray", None)
    if output is None or Path(output).suffix.lower() in (".pt", ".pth", ".safetensors", ".npy", ".npz"):
        raise typer.BadParameter("--each-series needs a folder output, such as -o volumes/", param_hint="--each-series")
    given = [name for name, value in single.items() if value not in (None, False)]
    if given:
        from . import current_namer

        flag = current_namer()(given[0], None)
        raise typer.BadParameter(f"{flag} does not go with --each-series", param_hint=flag)


def export_each_series(paths: list[str], output: str, *, name_template: str | None, as_json: bool, quiet: bool,
                       ray: str | None = None, **options: Any) -> None:
    """Run the tree export and print its summary; exit 1 when a series failed or a file was unreadable."""
    from ..sources.dicom.export import convert_dicom_tree
    from ..sources.dicom.naming import DEFAULT_NAME_TEMPLATE
    from .output import emit, warn

    started = time.perf_counter()
    with engine_and_progress(ray, quiet, "converting series", unit="series", capture=False) as (engine, on_progress):
        if engine is not None:
            options["engine"] = engine
        result = convert_dicom_tree(paths, output, name_template=name_template or DEFAULT_NAME_TEMPLATE,
                                    progress=on_progress, **options)
    seconds = time.perf_counter() - started
    for entry in result.series:
        for message in entry.get("warnings") or []:
            warn(f"series {entry['index']}: {message}")
    doc = {**result.manifest, "output": str(output), "converted": result.converted, "resumed": result.resumed,
           "seconds": round(seconds, 6)}
    emit(doc, lambda _: _summary(result, output, seconds), as_json=as_json)
    if not result.ok:
        _failures(result)
        raise typer.Exit(1)


def _summary(result: Any, output: str | Path, seconds: float) -> None:
    from rich.markup import escape

    from .output import stdout as out

    counts: dict[str, int] = {}
    for entry in result.series:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    out.print(f"[bold]folder[/] {escape(str(output))}: {counts.get('converted', 0)} series converted "
              f"({result.resumed} kept from an earlier run), {counts.get('failed', 0)} failed, "
              f"{counts.get('skipped', 0)} skipped")
    for entry in result.series:
        if entry["status"] == "converted":
            shape = "×".join(map(str, entry["shape"]))
            out.print(f"  {escape(entry['file'])}  {shape}  spacing_mm {entry['spacing_mm']}")
        elif entry["status"] == "skipped":
            out.print(f"  series {entry['index']} skipped: {escape(entry['reason'])}")
    out.print(f"[bold]wrote[/] {seconds:.2f} s")


def _failures(result: Any) -> None:
    """One line per failed series (its error in the command line's words) and per unreadable file."""
    from rich.markup import escape

    from . import current_namer
    from .output import stderr as err

    problems = len(result.failed) + len(result.unreadable)
    err.print(f"[bold red]error:[/] {len(result.failed)} series failed"
              + (f", {len(result.unreadable)} file(s) unreadable" if result.unreadable else "")
              + " (the others are written; see manifest.json)" if problems else "")
    for entry in result.failed:
        error = result.errors.get(entry["index"])
        text = error.render(current_namer()) if error is not None else entry["error"]
        err.print(f"  series {entry['index']} (SeriesNumber {entry['series_number']}): {escape(text)}")
    for item in result.unreadable:
        err.print(f"  {escape(item['file'])}: {escape(item['error'])}")
