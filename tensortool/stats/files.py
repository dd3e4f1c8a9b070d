"""Stats files: write a result as the JSON that ``load_images(normalize=...)`` reads, read one back
with its exact state, and merge several (shards) into the single-run result.

>>> result = dataset_stats("samples/images", shard="0/2")  # doctest: +SKIP
>>> write_stats(result, "part0.json")  # doctest: +SKIP
>>> merge_stats(["part0.json", "part1.json"]).to_json()["mean"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import InputError, OptionError, OutputError
from ..tensorfile import atomic_write, check_output
from .dataset import DatasetStats, merge_depths


def check_stats_output(path: str | Path, *, force: bool = False, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse a stats path that is not .json, exists (without ``force``) or is one of ``inputs``."""
    if Path(path).suffix.lower() != ".json":
        raise OutputError("the stats file is JSON; give a path ending in .json", path)
    return check_output(path, force=force, inputs=inputs)


def write_stats(result: DatasetStats, path: str | Path, *, unbiased: bool = False, force: bool = False,
                inputs: Iterable[str | Path] | None = None) -> dict[str, Any]:
    """Write ``result.to_json(unbiased=...)`` to ``path`` atomically; returns the document written.

    ``inputs``: files the output must not replace (default: the result's inputs)."""
    inputs = list(result.inputs if inputs is None else inputs)
    check_stats_output(path, force=force, inputs=inputs)
    doc = result.to_json(unbiased=unbiased)
    text = json.dumps(doc, indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force, inputs=inputs)
    return doc


def read_stats(path: str | Path) -> DatasetStats:
    """A stats file written by :func:`write_stats` (or ``tensortool stats -o``), with its exact state."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable stats JSON file: {exc}", path) from None
    return DatasetStats.from_json(data, path)


def merge_stats(paths: Sequence[str | Path]) -> DatasetStats:
    """Combine stats files (shards, or any partial results with the same options) exactly."""
    if len(paths) < 2:
        raise OptionError(f"a merge needs at least two stats files, not {len(paths)}", param="paths")
    merged: DatasetStats | None = None
    for path in paths:
        part = read_stats(path)
        if merged is None:
            merged = part
            continue
        if (part.channels, part.scale, part.options) != (merged.channels, merged.scale, merged.options):
            raise InputError("was computed with other options, scale or channels than "
                             f"{paths[0]} ({part.options}, scale {part.scale})", path)
        overlap = {tuple(s) for s in part.shards} & {tuple(s) for s in merged.shards}
        if overlap:
            raise InputError(f"shard {'/'.join(map(str, overlap.pop()))} is already in the merge", path)
        integer = merge_depths(merged.integer, part.integer)
        floating = (part.floating if merged.floating is None else
                    merged.floating if part.floating is None else merged.floating.merge(part.floating))
        merged = DatasetStats(merged.channels, merged.images + part.images, integer, floating, merged.scale,
                              list(dict.fromkeys(merged.inputs + part.inputs)), merged.options,
                              merged.shards + part.shards, merged.skipped + part.skipped, [],
                              merged.kind if merged.kind == part.kind else "tensors")
    assert merged is not None
    counts = {n for _, n in merged.shards}
    if len(counts) > 1:
        raise InputError(f"the files come from different shardings (N = {sorted(counts)})", paths[0])
    if counts:
        missing = sorted(set(range(counts.pop())) - {i for i, _ in merged.shards})
        if missing:
            merged.warnings.append(f"shard(s) {missing} of {merged.shards[0][1]} are missing from the merge")
    return merged
