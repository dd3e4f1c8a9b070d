"""`tensortool stats`: per-channel mean/std of a dataset; `tensortool stats merge`: combine shards."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..sources.image.constants import DEFAULT_MAX_PIXELS
from .options import CenterCrop, Force, Json, MaxPixels, Mode, Quiet, Resize, SkipBad, Workers, image_sizes


def stats(
    paths: Annotated[list[str], typer.Argument(
        help="Image files, folders, globs or ImageFolder trees (read as load-image reads them), or "
             "tensor files (.pt/.safetensors/.npy/.npz). `stats merge A.json B.json ...` combines "
             "stats files instead.", show_default=False)],
    mode: Mode = "rgb",
    resize: Resize = None,
    center_crop: CenterCrop = None,
    raw: Annotated[bool, typer.Option("--raw",
        help="Statistics of raw values (0..255 / 0..65535) instead of [0,1].")] = False,
    unbiased: Annotated[bool, typer.Option("--unbiased",
        help="Sample std (ddof=1) instead of the population std (ddof=0).")] = False,
    shard: Annotated[Optional[str], typer.Option(
        help="I/N: only every N-th file starting at I (0-based), for `stats merge` later.")] = None,
    key: Annotated[Optional[str], typer.Option(help="Tensor files: the tensor to describe [default: the main one].")] = None,
    channel_dim: Annotated[Optional[int], typer.Option("--channel-dim",
        help="Tensor files: the channel axis (default: from the file's layout meta, else 1 for "
             "4-D/5-D and 2-D, 0 for 3-D; -1 allowed).")] = None,
    workers: Workers = None,
    skip_bad: SkipBad = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
        help="Write the stats JSON (read by `load-image --normalize`, merged by `stats merge`).")] = None,
    force: Force = False,
    json_: Json = False,
    quiet: Quiet = False,
) -> None:
    """Per-channel mean and std of a dataset: exact, streaming, mergeable."""
    from ..errors import OutputError
    from ..stats.dataset import dataset_stats, merge_stats
    from ..tensorfile import atomic_write, check_output
    from . import tables
    from .capture import native_stderr
    from .output import emit, progress

    resize_size, crop_size = image_sizes(resize, center_crop)
    merging = paths[0] == "merge"
    sources = paths[1:] if merging else paths
    if output is not None:
        if output.suffix.lower() != ".json":
            raise OutputError("the stats file is JSON; give a path ending in .json", output)
        check_output(output, force=force, inputs=sources)
    started = time.perf_counter()
    if merging:
        result = merge_stats(sources)
    else:
        with native_stderr(), progress("images", quiet) as on_progress:
            result = dataset_stats(sources, mode=mode, resize=resize_size, center_crop=crop_size, raw=raw,
                                   workers=workers, skip_bad=skip_bad, shard=shard, key=key,
                                   channel_dim=channel_dim, max_pixels=max_pixels,
                                   progress=on_progress)
    doc = result.to_json(unbiased=unbiased)
    if output is not None:
        text = json.dumps(doc, indent=2) + "\n"
        atomic_write(output, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force, inputs=sources)
    shown = {**doc, "output": str(output) if output else None, "seconds": round(time.perf_counter() - started, 6)}
    normalize_line = result.normalize_line()
    emit(shown, lambda doc: tables.stats(doc, normalize_line), as_json=json_, warnings=doc.get("warnings") or [])
