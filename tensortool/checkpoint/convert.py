"""``ckpt convert``: .pth ↔ .safetensors ↔ sharded, with ties, extras and a bit-exact verify."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from ..errors import InputError, OutputError, UsageError, q
from ..tensorfile import atomic_write_many, check_output
from ..safetensors_file import cast_dtype, layout, tensor_bytes, write_safetensors
from ..pickle_globals import resolve_allowed
from .compare import comparing_pool, same_range
from ..filemap import FileMap, map_private
from .shards import parse_size, plan_shards, shard_names
from .source import INDEX_SUFFIX, META_KEY, Opened, kind_of, open_checkpoint
from .rebuild import decode_tree, restore_named
from .structure import Flat, find_state_dict, flatten, has_tensor, select_key, strip_prefix

CASTS = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
         "fp32": torch.float32, "float32": torch.float32}
DEFAULT_SHARD = "5GB"  # Hugging Face's default


@dataclass
class ConvertResult:
    """What :func:`convert_checkpoint` did (``to_json()``: the same as plain JSON types)."""

    source: str
    source_format: str
    outputs: list[str]
    tensors: int
    bytes: int
    aliases: dict[str, str]
    left_out: dict[str, str]
    entries: list[str]              # non-tensor entries carried in the metadata
    dtype: str | None
    verified: bool | None
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Target:
    kind: str                       # "pickle", "safetensors" or "sharded"
    folder: Path
    stem: str
    max_bytes: int | None


def convert_checkpoint(src: str | Path, dst: str | Path, *, dtype: str | None = None, key: str | None = None,
                       strip: str | None = None, include_optimizer: bool = False,
                       max_shard_size: str | None = None, verify: bool = True, force: bool = False,
                       allow_globals: Iterable[str] = (), trust_pickle: bool = False) -> ConvertResult:
    """Convert a checkpoint; the suffixes pick the direction.

    >>> convert_checkpoint("model.pth", "model.safetensors").verified  # doctest: +SKIP
    True
    """
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if dtype is not None and dtype not in CASTS:
        raise UsageError(f"{{dtype}} {q(dtype)}: choose bf16, fp16 or fp32", param="dtype",
                         allowed=("bf16", "fp16", "fp32"))
    cast = CASTS[dtype] if dtype else None
    target = _target(dst, max_shard_size)
    if target.kind != "sharded":
        check_output(dst, force=force, inputs=[src])
    opened = open_checkpoint(src, allow_globals=allow_globals, trust_pickle=trust_pickle)
    obj = select_key(opened.obj, key, str(src)) if key else opened.obj
    where = find_state_dict(obj)
    if strip:
        obj = strip_prefix(obj, where, strip, str(src))
    # Optimizer state is left out of a pickle by default; a safetensors file holds it only by choice.
    keep_optimizer = include_optimizer or kind_of(opened.path) != "pickle"
    flat = flatten(obj, where, include_optimizer=keep_optimizer, path=str(src))
    if not flat.tensors:
        raise InputError("no tensors found in the checkpoint", src)
    record = {"version": 1, "tree": flat.skeleton, "aliases": flat.aliases, "left_out": flat.left_out,
              "source": src.name, "dtype": str(cast).removeprefix("torch.") if cast else None}
    if target.kind == "pickle":
        outputs = _write_pickle(opened, flat, cast, dst, force, verify, allow_globals)
    else:
        metadata = {**opened.metadata, "format": "pt"}
        outputs = _write_safetensors_set(opened, flat, cast, target, metadata, record, force, verify)
    entries = [str(k) for k, v in obj.items() if not has_tensor(v)] if isinstance(obj, dict) else []
    _, total = layout(flat.tensors.items(), cast)
    return ConvertResult(
        source=str(src), source_format=opened.format, outputs=[str(p) for p in outputs],
        tensors=len(flat.tensors) + len(flat.aliases), bytes=total,
        aliases={a: info["of"] for a, info in flat.aliases.items()}, left_out=flat.left_out, entries=entries,
        dtype=record["dtype"], verified=True if verify else None, seconds=time.perf_counter() - started,
        warnings=opened.warnings + flat.warnings)


def _target(dst: Path, max_shard_size: str | None) -> _Target:
    name = dst.name.lower()
    if name.endswith(INDEX_SUFFIX):
        return _Target("sharded", dst.parent, dst.name[:-len(INDEX_SUFFIX)], parse_size(max_shard_size or DEFAULT_SHARD))
    if dst.is_dir() or (not dst.suffix and not dst.exists()):
        return _Target("sharded", dst, "model", parse_size(max_shard_size or DEFAULT_SHARD))
    kind = kind_of(dst)
    if kind == "safetensors" and max_shard_size:
        return _Target("sharded", dst.parent, dst.name[:-len(".safetensors")], parse_size(max_shard_size))
    if max_shard_size:
        raise UsageError("{max_shard_size} needs a .safetensors, *.safetensors.index.json or folder output",
                         param="max_shard_size")
    return _Target(kind, dst.parent, dst.stem, None)


# --- .safetensors (one file or shards) ----------------------------------------------------------

def _write_safetensors_set(opened: Opened, flat: Flat, cast: torch.dtype | None, target: _Target,
                           metadata: dict[str, str], record: dict[str, Any], force: bool, verify: bool) -> list[Path]:
    entries, total = layout(flat.tensors.items(), cast)
    groups = [list(flat.tensors)] if target.max_bytes is None else \
        plan_shards({n: e.nbytes for n, e in entries.items()}, target.max_bytes)
    if target.kind == "sharded":
        target.folder.mkdir(parents=True, exist_ok=True)
    names = [target.folder / n for n in shard_names(target.stem, len(groups))] if target.kind == "sharded" else \
        [target.folder / f"{target.stem}.safetensors"]
    record_text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    index_path = target.folder / f"{target.stem}{INDEX_SUFFIX}"
    with_index = len(groups) > 1
    shard_meta = metadata if with_index else {**metadata, META_KEY: record_text}
    index = {"metadata": {"total_size": total, META_KEY: record_text},
             "weight_map": {n: names[i].name for i, g in enumerate(groups) for n in g}}
    paths = names + ([index_path] if with_index else [])

    def write(tmps: list[Path]) -> None:
        for tmp, group in zip(tmps, groups):
            with FileMap(opened.files) as files:
                with open(tmp, "wb") as fh:
                    write_safetensors(fh, {n: flat.tensors[n] for n in group}, shard_meta, cast, files)
                if verify:
                    _verify_safetensors(tmp, {n: flat.tensors[n] for n in group}, shard_meta, cast, opened.path,
                                        files)
        if with_index:
            tmps[-1].write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    return atomic_write_many(paths, write, force=force, inputs=opened.files)


VERIFY_BATCH_BYTES = 256 << 20  # reopen the output after this much, so its mapped pages are let go


def _verify_safetensors(path: Path, expected: dict[str, torch.Tensor], metadata: dict[str, str],
                        cast: torch.dtype | None, src: Path, files: FileMap) -> None:
    """Reload with the safetensors library itself and compare every byte and metadata entry.

    The library maps the file and says where each tensor is; those bytes are compared with the
    source file's (``compare.same_range``), never through the library's mapping, so verifying does
    not make resident memory grow with the checkpoint.
    """
    from safetensors import SafetensorError, safe_open

    names = list(expected)
    done = 0
    try:
        with comparing_pool() as pool:
            while done == 0 or done < len(names):
                with safe_open(str(path), framework="pt") as fh, FileMap([path]) as out:
                    if done == 0:
                        if set(fh.keys()) != set(expected):
                            raise _verify_failed(src, "the written file has different tensor names")
                        if (fh.metadata() or {}) != metadata:
                            raise _verify_failed(src, "the written metadata differs")
                    batch = 0
                    while done < len(names) and batch < VERIFY_BATCH_BYTES:
                        got = fh.get_tensor(names[done])
                        _same_source(names[done], got, out, expected[names[done]], cast, files, src, pool)
                        batch += got.numel() * got.element_size()
                        done += 1
                if not names:
                    break
    except SafetensorError as exc:
        raise _verify_failed(src, f"safetensors cannot read the output: {exc}") from None


def _same_source(name: str, got: torch.Tensor, out: FileMap, source: torch.Tensor, cast: torch.dtype | None,
                 files: FileMap, src: Path, pool: Executor) -> None:
    dtype = cast_dtype(source, cast)
    _compare(name, got, source if dtype == source.dtype else source.to(dtype), out, files, src, pool)


def _compare(name: str, got: torch.Tensor, want: torch.Tensor, got_files: FileMap, want_files: FileMap,
             src: Path, pool: Executor) -> None:
    """Bit-exact comparison; where both tensors are views of mapped files, file range against file
    range (``compare.same_range``: memcmp over short-lived mappings, so memory stays constant)."""
    if got.dtype != want.dtype or got.shape != want.shape:
        raise _verify_failed(src, f"tensor {name!r} differs after reloading")
    at, where = got_files.locate(got), want_files.locate(want)
    if at is None or where is None:
        _same_tensor(name, got, want, src)
    elif not same_range(got_files.fd(at[0]), at[1], want_files.fd(where[0]), where[1],
                        got.numel() * got.element_size(), pool):
        raise _verify_failed(src, f"tensor {name!r} differs after reloading")


def _same_alias(name: str, got: torch.Tensor, kept: torch.Tensor, info: dict[str, Any], cast: torch.dtype | None,
                out: FileMap, files: FileMap, src: Path, pool: Executor) -> None:
    """An alias against the source bytes it views: a contiguous one file range against file range,
    another (a transposed tie, a slice) gathered from a fresh read of the bytes it spans."""
    shape, stride, offset = list(info["shape"]), list(info["stride"]), info["offset"]
    dtype = cast_dtype(kept, cast)
    if got.dtype != dtype or list(got.shape) != shape:
        raise _verify_failed(src, f"tensor {name!r} differs after reloading")
    numel = math.prod(shape)
    if numel == 0:
        return
    item = kept.element_size()
    where = files.locate(kept)
    at = out.locate(got)
    if where is not None and at is not None and dtype == kept.dtype and stride == _row_major(shape, stride):
        if not same_range(out.fd(at[0]), at[1], files.fd(where[0]), where[1] + offset * item, numel * item, pool):
            raise _verify_failed(src, f"tensor {name!r} differs after reloading")
        return
    span = sum((n - 1) * s for n, s in zip(shape, stride)) + 1
    if where is not None:
        raw = torch.empty(span * item, dtype=torch.uint8)
        if os.preadv(files.fd(where[0]), [memoryview(raw.numpy())], where[1] + offset * item) != span * item:
            raise _verify_failed(src, f"tensor {name!r}: the source ended early")
    else:
        raw = tensor_bytes(kept)[offset * item:(offset + span) * item].clone()
    try:  # as_strided checks the view against this buffer's size: it cannot read past it
        want = raw.view(kept.dtype).as_strided(shape, stride)
    except RuntimeError:
        raise _verify_failed(src, f"tensor {name!r} reaches outside the tensor it views") from None
    _same_tensor(name, got, want if dtype == kept.dtype else want.to(dtype), src)


def _row_major(shape: list[int], stride: list[int]) -> list[int]:
    """The strides of a contiguous tensor of ``shape`` (a dimension of size 1 may keep any stride)."""
    out, step = [], 1
    for n, s in zip(reversed(shape), reversed(stride)):
        out.append(s if n == 1 else step)
        step *= n
    return out[::-1]


def _same_tensor(name: str, got: torch.Tensor, want: torch.Tensor, src: Path) -> None:
    if got.dtype != want.dtype or got.shape != want.shape or not torch.equal(tensor_bytes(got), tensor_bytes(want)):
        raise _verify_failed(src, f"tensor {name!r} differs after reloading")


def _verify_failed(src: Path, why: str) -> OutputError:
    return OutputError(f"verify failed: {why}; nothing was written", src)


# --- .pt -------------------------------------------------------------------------------------------

def _write_pickle(opened: Opened, flat: Flat, cast: torch.dtype | None, dst: Path, force: bool, verify: bool,
                  allow_globals: Iterable[str]) -> list[Path]:
    mapped = opened.format.endswith("safetensors") or "sharded" in opened.format
    tensors = {}
    with FileMap(opened.files) as files:
        for name, t in flat.tensors.items():
            if mapped and cast_dtype(t, cast) == t.dtype:
                # Views of a mapped safetensors file share one storage (torch.save would write all
                # of it): give each its own mapping of its bytes, so nothing is copied in memory.
                tensors[name] = own_mapping(t, files)
            else:
                tensors[name] = t.to(cast_dtype(t, cast))
    named = restore_named(tensors, flat.aliases)
    tree = decode_tree(flat.skeleton, named)
    names = {id(t): name for name, t in named.items()}

    def write(tmps: list[Path]) -> None:
        with open(tmps[0], "wb") as fh:
            torch.save(tree, fh)
        if verify:
            _verify_pickle(tmps[0], tree, names, flat, cast, opened.path, opened.files, allow_globals)

    return atomic_write_many([dst], write, force=force, inputs=opened.files)


def own_mapping(t: torch.Tensor, files: FileMap) -> torch.Tensor:
    """The same bytes as a tensor with a storage of its own: a private mapping of just its range of
    the file (torch.save writes whole storages, and a mapped safetensors file is one storage)."""
    where = files.locate(t)
    if where is None or t.numel() == 0:
        return t.clone()
    try:
        data = map_private(files.fd(where[0]), where[1], t.numel() * t.element_size())
    except (OSError, AttributeError):  # no libc mmap here: a numpy mapping (one descriptor each)
        data = np.memmap(where[0], dtype=np.uint8, mode="c", offset=where[1], shape=(t.numel() * t.element_size(),))
    return torch.frombuffer(data, dtype=torch.uint8).view(t.dtype).reshape(t.shape)


def _verify_pickle(path: Path, tree: Any, names: dict[int, str], flat: Flat, cast: torch.dtype | None, src: Path,
                   sources: list[Path], allow_globals: Iterable[str]) -> None:
    """Reload with torch.load(weights_only=True) and compare the whole object, bit-exact, ties included.

    Each tensor is compared with the source's own tensor (an alias with the bytes of the source
    tensor it views, gathered afresh from the source file), never with the tree that was saved.
    """
    allowed = [argparse.Namespace, *resolve_allowed(list(allow_globals))]
    try:
        with torch.serialization.safe_globals(allowed):
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # anything: the file we just wrote must load
        raise _verify_failed(src, f"torch.load cannot read the output: {str(exc).splitlines()[0]}") from None
    with FileMap([path]) as out, FileMap(sources) as files, comparing_pool() as pool:
        def same(where: str, got: torch.Tensor, want: torch.Tensor) -> None:
            name = names.get(id(want))
            if name in flat.aliases:
                info = flat.aliases[name]
                _same_alias(name, got, flat.tensors[info["of"]], info, cast, out, files, src, pool)
            elif name in flat.tensors:
                _same_source(name, got, out, flat.tensors[name], cast, files, src, pool)
            else:
                raise _verify_failed(src, f"{where or 'the checkpoint'} is not a tensor of the source")

        _same_tree(tree, loaded, "", src, same)
    again = flatten(loaded, find_state_dict(loaded), include_optimizer=True, path=str(src))
    if again.aliases != flat.aliases:
        raise _verify_failed(src, "tied tensors did not survive the round trip")


def _same_tree(want: Any, got: Any, where: str, src: Path, same_tensor: Any) -> None:
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            raise _verify_failed(src, f"{where or 'the checkpoint'} is no longer a tensor")
        same_tensor(where, got, want)
        return
    if type(want) is not type(got):
        raise _verify_failed(src, f"{where or 'the checkpoint'} changed type")
    if isinstance(want, dict):
        if list(want) != list(got):
            raise _verify_failed(src, f"the keys of {where or 'the checkpoint'} changed")
        for k in want:
            _same_tree(want[k], got[k], f"{where}.{k}" if where else str(k), src, same_tensor)
    elif isinstance(want, (list, tuple)):
        if len(want) != len(got):
            raise _verify_failed(src, f"{where} changed length")
        for i, (a, b) in enumerate(zip(want, got)):
            _same_tree(a, b, f"{where}.{i}", src, same_tensor)
    elif isinstance(want, argparse.Namespace):
        _same_tree(vars(want), vars(got), where, src, same_tensor)
    elif want != got and not (isinstance(want, float) and want != want and got != got):
        raise _verify_failed(src, f"{where} changed value")
