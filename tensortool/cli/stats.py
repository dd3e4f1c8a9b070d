"""`tensortool stats`: per-channel mean/std of a dataset; `tensortool stats merge`: combine shards."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..sources.image.constants import DEFAULT_MAX_PIXELS
from .context import Command, Group
from .options import CenterCrop, MaxPixels, Mode, Resize, SkipBad, Workers, image_sizes, output_options
from .ray_option import Ray, RayCommand, engine_and_progress

DEFAULT = "dataset"  # the command that `tensortool stats PATHS...` runs


class StatsGroup(Group):
    """`stats PATHS...` runs the default command; `stats merge ...` the sub-command. The help
    shows the default command's options and lists merge."""

    default_command = DEFAULT  # documented under the group's own name

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> tuple:
        name, command, rest = super().resolve_command(ctx, args)
        return ("" if name == DEFAULT else name), command, rest  # usage: `tensortool stats [OPTIONS] ...`

    def format_help(self, ctx: typer.Context, formatter) -> None:
        default = self.commands[DEFAULT]
        default.format_help(default.context_class(default, info_name="", parent=ctx), formatter)
        self.format_commands(ctx, formatter)


StatsOutput = Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
    help="Write the stats JSON (read by `load-image --normalize`, merged by `stats merge`).")]
Unbiased = Annotated[bool, typer.Option("--unbiased", help="Sample std (ddof=1) instead of the population std (ddof=0).")]
app = typer.Typer(cls=StatsGroup, help="Per-channel mean and std of a dataset: exact, streaming, mergeable.",
                  no_args_is_help=True, rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})


@app.command(DEFAULT, cls=RayCommand, hidden=True)
@output_options("output", "force", "json_", "quiet", output=StatsOutput)
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
    unbiased: Unbiased = False,
    shard: Annotated[Optional[str], typer.Option(
        help="I/N: only every N-th file starting at I (0-based), for `stats merge` later.")] = None,
    key: Annotated[Optional[str], typer.Option(help="Tensor files: the tensor to describe [default: the main one].")] = None,
    channel_dim: Annotated[Optional[int], typer.Option("--channel-dim",
        help="Tensor files: the channel axis (default: from the file's layout meta, else 1 for "
             "4-D/5-D and 2-D, 0 for 3-D; -1 allowed).")] = None,
    workers: Workers = None,
    skip_bad: SkipBad = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    ray: Ray = None,
    **shared: Any,
) -> None:
    """Per-channel mean and std of a dataset: exact, streaming, mergeable."""
    from ..stats.dataset import dataset_stats

    resize_size, crop_size = image_sizes(resize, center_crop)

    def compute():
        with engine_and_progress(ray, shared["quiet"], "images") as (engine, on_progress):
            return dataset_stats(paths, mode=mode, resize=resize_size, center_crop=crop_size, raw=raw,
                                 workers=workers, skip_bad=skip_bad, shard=shard, key=key, channel_dim=channel_dim,
                                 max_pixels=max_pixels, progress=on_progress, engine=engine)

    _run(compute, inputs=paths, unbiased=unbiased, **shared)


@app.command("merge", cls=Command)
@output_options("output", "force", "json_", output=StatsOutput)
def merge(
    paths: Annotated[list[Path], typer.Argument(
        help="Stats files written by `tensortool stats -o` (shards, or any parts made with the same options).",
        show_default=False)],
    unbiased: Unbiased = False,
    **shared: Any,
) -> None:
    """Combine stats files exactly: the merged shards give the single run's numbers."""
    from ..stats.files import merge_stats

    _run(lambda: merge_stats(paths), inputs=paths, unbiased=unbiased, **shared)


def _run(compute, *, inputs, output: Path | None, force: bool, unbiased: bool, json_: bool, quiet: bool = True) -> None:
    """Check the output, compute, write the stats file, say what was found."""
    from ..stats.files import check_stats_output, write_stats
    from . import tables
    from .output import emit

    if output is not None:
        check_stats_output(output, force=force, inputs=inputs)
    started = time.perf_counter()
    result = compute()
    doc = result.to_json(unbiased=unbiased)
    if output is not None:
        write_stats(result, output, unbiased=unbiased, force=force, inputs=inputs)
    shown = {**doc, "output": str(output) if output else None, "seconds": round(time.perf_counter() - started, 6)}
    normalize_line = result.normalize_line()
    emit(shown, lambda doc: tables.stats(doc, normalize_line), as_json=json_, warnings=doc.get("warnings") or [])
