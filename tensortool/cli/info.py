"""`tensortool info`: what a tensor file holds, loaded without executing pickled code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..tensorfile import read_bundle
from . import render
from .options import Json
from .shards import folder_report


def info(
    path: Annotated[Path, typer.Argument(help="A .pt/.pth, .safetensors, .npy or .npz file, or a shard folder.",
                                         show_default=False)],
    json_: Json = False,
) -> None:
    """List the tensors in a file: name, shape, dtype, bytes, min/max/mean, and the meta."""
    with render.guard():
        started = time.perf_counter()
        if path.is_dir():
            from ..sharded.dataset import shards_summary

            doc = shards_summary(path)
            return folder_report(doc, path, time.perf_counter() - started, json_, wrote=False)
        bundle = read_bundle(path)
        render.report(bundle, output=None, seconds=time.perf_counter() - started, as_json=json_,
                      source=str(path), stored=True)
