"""`tensortool ckpt inspect|convert`: checkpoints between .pth and .safetensors, safely."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .context import Command, Group
from .options import Force, Json

app = typer.Typer(cls=Group, help="Inspect checkpoints and convert them between .pth and .safetensors, safely.",
                  no_args_is_help=True, rich_markup_mode=None)

AllowGlobal = Annotated[Optional[list[str]], typer.Option(
    "--allow-global", help=("Allow one plain data type the pickle needs (module.Name: e.g. argparse.Namespace, "
                            "numpy.dtype, or an enum/dataclass of your own); repeatable. Functions and classes "
                            "with their own construction or state hooks are refused."))]
TrustPickle = Annotated[bool, typer.Option(
    "--trust-pickle", help="Load the pickle with weights_only=False. It can run ANY code: only for files you trust.")]
Key = Annotated[Optional[str], typer.Option(help="Use only this sub-dict of the checkpoint (e.g. model, ema).")]


@app.command("inspect", cls=Command)
def inspect(
    path: Annotated[Path, typer.Argument(help=".pt/.pth/.bin, .safetensors, a *.safetensors.index.json or its folder.",
                                         show_default=False)],
    depth: Annotated[int, typer.Option(min=0, help="Levels of the module tree to show (0: none).")] = 1,
    tensors: Annotated[bool, typer.Option("--tensors", help="List every tensor: name, shape, dtype, bytes.")] = False,
    stats: Annotated[bool, typer.Option("--stats", help="With the list: min/max/mean/std (reads the data).")] = False,
    filter: Annotated[Optional[str], typer.Option(help="Only tensors whose name matches this regex.")] = None,
    key: Key = None,
    allow_global: AllowGlobal = None,
    trust_pickle: TrustPickle = False,
    json_: Json = False,
) -> None:
    """What a checkpoint holds: tensors, parameters, dtypes, modules, ties, epoch/optimizer/config."""
    from ..checkpoint import inspect_checkpoint
    from . import tables
    from .output import emit

    info = inspect_checkpoint(path, depth=depth, tensors=tensors, stats=stats, filter=filter, key=key,
                              allow_globals=allow_global or (), trust_pickle=trust_pickle)
    emit(info.to_json(), lambda _: tables.ckpt_inspect(info), as_json=json_, warnings=info.warnings)


@app.command("convert", cls=Command)
def convert(
    src: Annotated[Path, typer.Argument(help="The checkpoint to read.", show_default=False)],
    dst: Annotated[Path, typer.Argument(help=(
        "Where to write: .safetensors, .pt/.pth/.bin, or a folder / *.safetensors.index.json for shards."),
        show_default=False)],
    dtype: Annotated[Optional[Literal["bf16", "fp16", "fp32"]], typer.Option(
        help="Cast floating tensors (integer and bool tensors are never cast).")] = None,
    key: Key = None,
    strip_prefix: Annotated[Optional[str], typer.Option(
        "--strip-prefix", help="Remove this prefix from state-dict names (e.g. module.).")] = None,
    include_optimizer: Annotated[bool, typer.Option(
        "--include-optimizer", help="Keep optimizer state (as optimizer.* tensors); left out by default.")] = False,
    max_shard_size: Annotated[Optional[str], typer.Option(
        "--max-shard-size", help="Write Hugging Face shards of at most this size (5GB, 500MB; decimal units).")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify/--no-verify", help="Reload the output with the other library and compare bit-exact.")] = True,
    force: Force = False,
    allow_global: AllowGlobal = None,
    trust_pickle: TrustPickle = False,
    json_: Json = False,
) -> None:
    """Convert .pth ↔ .safetensors ↔ shards; ties, extras and key order kept; verified bit-exact."""
    from ..checkpoint import convert_checkpoint
    from . import tables
    from .output import emit

    result = convert_checkpoint(src, dst, dtype=dtype, key=key, strip=strip_prefix,
                                include_optimizer=include_optimizer, max_shard_size=max_shard_size,
                                verify=verify, force=force, allow_globals=allow_global or (),
                                trust_pickle=trust_pickle)
    emit(result.to_json(), lambda _: tables.ckpt_convert(result), as_json=json_, warnings=result.warnings)
