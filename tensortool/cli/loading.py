"""The steps every load-* command shares, written once: check the outputs, show progress, call the
library, write the tensors and any side file, then say what was made.

Light at import (only the dataclass): the command modules import it at start-up."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

Progress = Callable[[int, int], None]


@dataclass
class SideFile:
    """Another file made from the result (a preview, a fitted state, a vocabulary):
    ``write(bundle, path, force=..., inputs=...)``; ``reads``: files besides the inputs it must not replace."""

    path: Path | None
    write: Callable[..., None]
    reads: Sequence[str | Path] = field(default_factory=tuple)


def load_and_emit(load: Callable[[Progress | None], Any], *, inputs: Sequence[str | Path], output: Path | None,
                  force: bool, json_: bool, quiet: bool = True, dtypes: Sequence[Any] = (),
                  sparse: bool = False, side_files: Sequence[SideFile] = (), progress_label: str | None = None,
                  capture_decoders: bool = False,
                  sources_of: Callable[[Any], Sequence[str | Path]] | None = None) -> None:
    """Run ``load(on_progress)`` (the one library call) between the checks and the writes.

    Every output is checked before anything is read, so a wrong suffix or an existing file costs
    nothing; ``sources_of(bundle)`` names the files actually read, which no output may replace."""
    from ..tensorfile import check_output, check_sparse_output, check_tensor_output, write_bundle
    from . import tables
    from .capture import native_stderr
    from .output import bundle_doc, emit, progress

    if output is not None:
        check_tensor_output(output, force=force, inputs=inputs, dtypes=list(dtypes))
        if sparse:
            check_sparse_output(output)
    for side in side_files:
        if side.path is not None:
            check_output(side.path, force=force, inputs=[*inputs, *side.reads])
    started = time.perf_counter()
    shown = progress(progress_label, quiet) if progress_label else nullcontext(None)
    with native_stderr() if capture_decoders else nullcontext(), shown as on_progress:
        bundle = load(on_progress)
    read = list(sources_of(bundle)) if sources_of else list(inputs)
    if output is not None:
        write_bundle(bundle, output, force=force, inputs=read)
    for side in side_files:
        if side.path is not None:
            side.write(bundle, side.path, force=force, inputs=read)
    emit(bundle_doc(bundle, output=output, seconds=time.perf_counter() - started), tables.bundle, as_json=json_,
         warnings=bundle.meta.get("warnings") or [])
