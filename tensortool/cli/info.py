"""`tensortool info`: what a tensor file holds, loaded without executing pickled code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .options import Json


def info(
    path: Annotated[Path, typer.Argument(help="A .pt/.pth, .safetensors, .npy or .npz file, or a shard folder.",
                                         show_default=False)],
    json_: Json = False,
) -> None:
    """List the tensors in a file: name, shape, dtype, bytes, min/max/mean, and the meta."""
    from ..tensorfile import read_bundle
    from . import tables
    from .output import bundle_doc, emit

    started = time.perf_counter()
    if path.is_dir():
        from ..sharded.dataset import shards_summary
        from .shards import folder_report

        return folder_report(shards_summary(path), path, time.perf_counter() - started, json_, wrote=False)
    bundle = read_bundle(path)
    doc = bundle_doc(bundle, output=None, seconds=time.perf_counter() - started, source=str(path))
    emit(doc, lambda doc: tables.bundle(doc, stored=True), as_json=json_)
