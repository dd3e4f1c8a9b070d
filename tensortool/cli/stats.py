"""`tensortool stats`: per-channel mean/std of a dataset; `tensortool stats merge`: combine shards."""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import OutputError
from ..stats.dataset import dataset_stats, merge_stats
from ..tensorfile import atomic_write, check_output
from ..sources.image.decode import DEFAULT_MAX_PIXELS
from . import render
from .ray_option import Ray, ray_engine
from .options import CenterCrop, Force, Json, MaxPixels, Mode, Quiet, Resize, SkipBad, Workers, sizes


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
    ray: Ray = None,
    force: Force = False,
    json_: Json = False,
    quiet: Quiet = False,
) -> None:
    """Per-channel mean and std of a dataset: exact, streaming, mergeable."""
    resize_size = sizes(resize, square=False, option="--resize")
    crop_size = sizes(center_crop, square=True, option="--center-crop")
    with render.guard():
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
            with ray_engine(ray, quiet) as engine, render.native_stderr() if engine is None else nullcontext(), \
                    render.progress("images", quiet or engine is not None) as on_progress:
                result = dataset_stats(sources, mode=mode, resize=resize_size, center_crop=crop_size, raw=raw,
                                       workers=workers, skip_bad=skip_bad, shard=shard, key=key,
                                       channel_dim=channel_dim, max_pixels=max_pixels,
                                       progress=on_progress, engine=engine)
        doc = result.to_json(unbiased=unbiased)
        if output is not None:
            text = json.dumps(doc, indent=2) + "\n"
            atomic_write(output, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force, inputs=sources)
        render.stats_report(doc, result.normalize_line(), output=output,
                            seconds=time.perf_counter() - started, as_json=json_)
