"""load-image into a shard folder (-o DIR/): its options, the library call and its summary."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .options import parse_size_option
from .ray_option import engine_and_progress

FolderOutput = Annotated[Optional[str], typer.Option(
    "--output", "-o",
    help="Write the tensors here; the suffix picks the format: .pt, .safetensors, .npy, .npz "
         "(.npy holds one tensor and no metadata; a result of several is refused). A folder "
         "(ending in /, existing, or without a suffix) gets .safetensors shards and a manifest.json.")]
ShardSize = Annotated[Optional[str], typer.Option("--shard-size",
    help="Folder output: bytes per shard, with a unit (e.g. 256MB, 1GB) [default: 256MB].", show_default=False)]
ShardImages = Annotated[Optional[int], typer.Option("--shard-images", min=1,
    help="Folder output: images per shard (instead of --shard-size).", show_default=False)]
Shuffle = Annotated[Optional[int], typer.Option("--shuffle", min=0, metavar="SEED",
    help="Folder output: write the images in a random order decided by SEED (the same SEED, the same order).",
    show_default=False)]
Resume = Annotated[bool, typer.Option("--resume",
    help="Folder output: go on from the manifest of an interrupted run (the same command does so too; "
         "--resume insists that there is one).")]


def is_folder(output: str | None, *, preview: Path | None, **shard_options: Any) -> bool:
    """Whether ``output`` names a shard folder; shard options need one, a preview needs a file."""
    folder = output is not None and (output.endswith(("/", os.sep)) or Path(output).is_dir()
                                     or not Path(output).suffix)
    given = [name for name, value in shard_options.items() if value is not None and value is not False]
    if given and not folder:
        from . import current_namer

        flag = current_namer()(given[0], None)
        raise typer.BadParameter(f"{flag} needs a folder output, such as -o shards/", param_hint=flag)
    if folder and preview is not None:
        raise typer.BadParameter("--preview needs a single-file output, not a folder", param_hint="--preview")
    return folder


def write_shards(paths: list[str], output: str, *, shard_size: str | None, shard_images: int | None,
                 json_: bool, quiet: bool, ray: str | None = None, **options: Any) -> None:
    """Write the images into a shard folder (on Ray with ``ray``) and say what the folder holds."""
    from ..sources.image.shards import DEFAULT_SHARD_BYTES, write_image_shards

    shard_bytes = DEFAULT_SHARD_BYTES if shard_size is None else parse_size_option(shard_size, "--shard-size")
    started = time.perf_counter()
    with engine_and_progress(ray, quiet, "decoding") as (engine, on_progress):
        manifest = write_image_shards(paths, output, shard_bytes=shard_bytes, images_per_shard=shard_images,
                                      progress=on_progress, engine=engine, **options)
    folder_report(manifest.to_json(), output, time.perf_counter() - started, json_, wrote=True)


def folder_report(doc: dict[str, Any], folder: str | Path, seconds: float, as_json: bool, *, wrote: bool) -> None:
    """A shard folder's manifest: one JSON object with --json, else a few lines."""
    from .output import emit

    emit({**doc, "output": str(folder), "seconds": round(seconds, 6)}, lambda d: _show_folder(d, wrote),
         as_json=as_json, warnings=(doc.get("warnings") or []) if wrote else ())


def _show_folder(doc: dict[str, Any], wrote: bool) -> None:
    from rich.markup import escape

    from .output import stdout as out, warn

    folder = doc["output"]
    state = "complete" if doc["complete"] else f"incomplete ({len(doc['shards'])} of {doc['planned_shards']} shards)"
    out.print(f"[bold]shard folder[/] {escape(folder)}: {state}")
    out.print(f"[bold]images[/] {doc['count']:,} in {len(doc['shards'])} shard(s), {doc['bytes']:,} bytes")
    for key in ("shape", "dtype", "layout", "mode", "class_names"):
        if doc.get(key) is not None:
            out.print(f"[bold]{key}[/] {escape(json.dumps(doc[key]))}")
    for key in ("resize", "center_crop", "normalize", "shuffle", "images_per_shard"):
        if doc["options"].get(key) is not None:
            out.print(f"[bold]{key}[/] {escape(json.dumps(doc['options'][key]))}")
    if doc.get("skipped"):
        out.print(f"[bold]skipped[/] {len(doc['skipped'])} file(s):")
        for item in doc["skipped"]:
            out.print(f"  {escape(item['file'])}: {escape(item['error'])}")
    for name in doc.get("missing") or []:
        warn(f"{folder}: shard {name} is missing")
    out.print(f"[bold]{'wrote' if wrote else 'read in'}[/] {doc['seconds']:.2f} s")
