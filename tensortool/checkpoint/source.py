"""Opening a checkpoint of any supported kind into one object tree, without reading tensor data.

Pickles are memory-mapped (zip format) and safetensors files are mapped privately, so tensors are
views whose pages are read only when touched: inspecting a 10 GB checkpoint reads its headers only.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from ..errors import InputError, q
from ..tensorfile import sniff_not_a_tensor_file
from ..pickle_load import load_pickle
from ..safetensors_file import Header, Mapped, read_header
from .rebuild import Damaged, unflatten

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
INDEX_SUFFIX = ".safetensors.index.json"
META_KEY = "tensortool.checkpoint"  # our skeleton in safetensors metadata (see README)


@dataclass
class Opened:
    """A checkpoint opened for reading."""

    path: Path
    format: str                      # "torch zip", "torch legacy", "safetensors", "sharded safetensors"
    obj: Any                         # the checkpoint object, tensors possibly lazy views
    files: list[Path]
    file_bytes: int
    metadata: dict[str, str] = field(default_factory=dict)   # the source's own safetensors metadata
    skeleton_info: dict[str, Any] | None = None              # our record, when the file was ours
    headers: list[Header] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def kind_of(path: Path) -> str:
    """'pickle', 'safetensors' or 'sharded', from the name (the direction of a conversion)."""
    name = path.name.lower()
    if name.endswith(INDEX_SUFFIX) or (path.is_dir() and not path.suffix):
        return "sharded"
    if name.endswith(".safetensors"):
        return "safetensors"
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return "pickle"
    raise InputError(f"unknown checkpoint type {path.suffix or path.name!r}", path,
                     hint="expected .pt/.pth/.bin/.ckpt, .safetensors, a *.safetensors.index.json or its folder")


def open_checkpoint(path: str | Path, *, allow_globals: Iterable[str] = (), trust_pickle: bool = False) -> Opened:
    """Open a .pt/.pth/.bin, .safetensors, *.safetensors.index.json or a folder holding one.

    >>> opened = open_checkpoint("model.safetensors")  # doctest: +SKIP
    >>> list(opened.obj)[:2]
    ['conv1.weight', 'bn1.weight']
    """
    src = Path(path)
    if not src.exists():
        raise InputError("no such file or folder", src)
    if src.is_dir():
        return _open_sharded(_index_in(src))
    with open(src, "rb") as fh:
        head = fh.read(64)
    sniff_not_a_tensor_file(src, head)
    kind = kind_of(src)
    if kind == "sharded":
        return _open_sharded(src)
    if kind == "safetensors":
        header = read_header(src)
        mapped = Mapped(header)
        tensors = {name: mapped.tensor(name) for name in header.entries}
        obj, info, meta = _rebuild(src, tensors, header.metadata)
        return Opened(src, "safetensors", obj, [src], header.file_bytes, meta, info, [header])
    loaded = load_pickle(src, allow_globals=allow_globals, trust=trust_pickle)
    return Opened(src, loaded.format, loaded.obj, [src], src.stat().st_size, warnings=loaded.warnings)


def _index_in(folder: Path) -> Path:
    indexes = sorted(folder.glob("*" + INDEX_SUFFIX))
    if len(indexes) == 1:
        return indexes[0]
    singles = sorted(folder.glob("*.safetensors"))
    if not indexes and len(singles) == 1:
        return singles[0]
    if not indexes:
        raise InputError("no *.safetensors.index.json (or single .safetensors file) in this folder", folder)
    raise InputError(f"{len(indexes)} index files in this folder: {', '.join(p.name for p in indexes)}", folder,
                     hint="name the one to read")


def _open_sharded(index_path: Path) -> Opened:
    if index_path.name.lower().endswith(".safetensors") and not index_path.name.lower().endswith(INDEX_SUFFIX):
        return open_checkpoint(index_path)
    with open(index_path, "rb") as fh:
        head = fh.read(64)
    sniff_not_a_tensor_file(index_path, head)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        weight_map = index["weight_map"]
        assert isinstance(weight_map, dict) and all(isinstance(v, str) for v in weight_map.values())
    except (UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError, AssertionError):
        raise InputError("not a safetensors index (a JSON object with a weight_map of file names)",
                         index_path) from None
    folder = index_path.parent
    tensors: dict[str, torch.Tensor] = {}
    headers: list[Header] = []
    metadata: dict[str, str] = {}
    total = 0
    for shard_name in dict.fromkeys(weight_map.values()):
        if Path(shard_name).name != shard_name or shard_name in ("", ".", ".."):
            raise InputError(f"shard {shard_name[:80]!r} is not a file name in the index's folder", index_path)
        shard = folder / shard_name
        if not shard.is_file():
            raise InputError(f"shard {shard_name} named in the index is missing", index_path)
        header = read_header(shard)
        headers.append(header)
        total += header.file_bytes
        metadata.update({k: v for k, v in header.metadata.items()})
        mapped = Mapped(header)
        for name in header.entries:
            if weight_map.get(name) != shard_name:
                raise InputError(f"tensor {q(name)} is in {shard_name} but the index puts it in "
                                 f"{weight_map.get(name)}", index_path)
            tensors[name] = mapped.tensor(name)
    missing = [n for n in weight_map if n not in tensors]
    if missing:
        raise InputError(f"{len(missing)} tensors in the index are in no shard (first: {q(missing[0])})", index_path)
    index_meta = index.get("metadata") if isinstance(index.get("metadata"), dict) else {}
    if isinstance(index_meta.get(META_KEY), str):
        metadata[META_KEY] = index_meta[META_KEY]
    ordered = {name: tensors[name] for name in weight_map}
    obj, info, meta = _rebuild(index_path, ordered, metadata)
    return Opened(index_path, f"sharded safetensors ({len(headers)} shards)", obj,
                  [index_path] + [h.path for h in headers], total, meta, info, headers)


def _rebuild(src: Path, tensors: dict[str, torch.Tensor],
             metadata: dict[str, str]) -> tuple[Any, dict[str, Any] | None, dict[str, str]]:
    """The original object when the file holds our skeleton; else the flat state dict."""
    own = {k: v for k, v in metadata.items() if k != META_KEY}
    if META_KEY not in metadata:
        return OrderedDict(tensors), None, own
    try:
        info = json.loads(metadata[META_KEY])
        if not isinstance(info, dict) or "tree" not in info:
            raise Damaged("", "not an object with a tree")
        obj = unflatten(info["tree"], tensors, info.get("aliases", {}))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, Damaged, the int digit limit
        why = str(exc).splitlines()[0][:200] if not isinstance(exc, RecursionError) else "nested too deeply"
        raise InputError(f"metadata {q(META_KEY)} is damaged ({why})", src,
                         hint="the tensors are intact; rename the key to read them as a flat state dict") from None
    return obj, info, own
