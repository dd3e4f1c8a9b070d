"""A checkpoint object ↔ flat named tensors plus a JSON skeleton, reversibly.

A checkpoint is a tree (dicts, lists, tuples) with tensors and plain values at the leaves. Safetensors
holds only flat named tensors and string metadata, so we split the tree: tensors get names (the state
dict's own keys stay bare, everything else is prefixed by its path, joined with "."), and the tree with
tensors replaced by ``{"$tensor": name}`` becomes a JSON skeleton. The skeleton records dict key types,
tuples and order, so rebuilding gives back the same object; the names only need to be unique.
"""

from __future__ import annotations

import argparse
import base64
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import InputError, OptionError, q
from .rebuild import MAX_DEPTH, Damaged, check_alias

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "ema",
                   "model_ema", "params", "weights")
OPTIMIZER_KEYS = ("optimizer", "optimizer_state_dict", "optim", "optimizer_states", "optimizers")


@dataclass
class Flat:
    """Named tensors (in order), the skeleton that rebuilds the tree, and ties between names."""

    tensors: dict[str, torch.Tensor]
    skeleton: Any
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # top-level key → why
    warnings: list[str] = field(default_factory=list)


def is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def is_optimizer(key: Any, value: Any) -> bool:
    if isinstance(value, dict) and "state" in value and "param_groups" in value:
        return True
    return key in OPTIMIZER_KEYS and isinstance(value, (dict, list)) and has_tensor(value)


def has_tensor(value: Any) -> bool:
    """Whether a tensor sits anywhere inside ``value`` (dicts, lists, tuples)."""
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        return any(has_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_tensor(v) for v in value)
    return False


def find_state_dict(obj: Any) -> tuple[str, ...] | None:
    """Where the model weights sit: () for the object itself, (key,) for a known container key."""
    if is_state_dict(obj):
        return ()
    if not isinstance(obj, dict):
        return None
    for key in STATE_DICT_KEYS:
        if is_state_dict(obj.get(key)):
            return (key,)
    if any(isinstance(v, torch.Tensor) for v in obj.values()):
        return ()  # tensors at the top level beside plain values (epoch, ...)
    candidates = [k for k, v in obj.items() if is_state_dict(v) and not is_optimizer(k, v)]
    return (candidates[0],) if len(candidates) == 1 else None


def select_key(obj: Any, key: str, path: str) -> Any:
    """``key``: one sub-dict of the checkpoint (dots walk into nested dicts)."""
    if isinstance(obj, dict) and key in obj:
        return obj[key]
    node = obj
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            keys = ", ".join(map(str, obj)) if isinstance(obj, dict) else "none (not a dict)"
            raise OptionError(f"{{key}} {q(key)} not found; top-level keys: {keys}", path, param="key", key=key)
        node = node[part]
    return node


def strip_prefix(obj: Any, where: tuple[str, ...] | None, prefix: str, path: str) -> Any:
    """``strip="module."``: rename the state dict's keys; other entries are left alone."""
    if where is None:
        raise OptionError("{strip}: no state dict found in the checkpoint", path, hint="pick one with {key}",
                          param="strip")
    state = select_key(obj, ".".join(where), path) if where else obj
    renamed: dict = OrderedDict()
    for name, value in state.items():
        new = name[len(prefix):] if isinstance(name, str) and name.startswith(prefix) else name
        if new in renamed:
            raise OptionError(f"{{strip}} {q(prefix)} makes two tensors named {q(new)}", path, param="strip", key=str(new))
        renamed[new] = value
    if not where:
        return renamed
    copy = dict(obj) if not isinstance(obj, OrderedDict) else OrderedDict(obj)
    copy[where[0]] = renamed  # state dicts are found at depth 0 or 1 only
    return copy


def flatten(obj: Any, where: tuple[str, ...] | None, *, include_optimizer: bool, path: str) -> Flat:
    """Split a checkpoint into named tensors and a JSON skeleton (see the module docstring)."""
    flat = Flat({}, None)
    if isinstance(obj, dict) and not include_optimizer:
        kept: dict = type(obj)() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            if is_optimizer(key, value):
                flat.left_out[str(key)] = "optimizer state ({include_optimizer=True} keeps it)"
            else:
                kept[key] = value
        obj = kept
    flat.skeleton = _encode(obj, (), where or (), flat, path)
    _dedupe(flat)
    return flat


def _name(keys: tuple, where: tuple) -> str:
    inside = keys[:len(where)] == where
    parts = keys[len(where):] if inside and where else keys
    return ".".join(str(k) for k in parts) or "tensor"


def _encode(value: Any, keys: tuple, where: tuple, flat: Flat, path: str) -> Any:
    if len(keys) >= MAX_DEPTH:
        raise InputError(f"entry {_name(keys[:5], ())!r}... is nested deeper than {MAX_DEPTH} levels", path)
    if isinstance(value, torch.Tensor):
        if value.is_sparse or value.layout != torch.strided:
            raise InputError(f"entry {_name(keys, ())!r} is a {value.layout} tensor; safetensors holds "
                             "dense tensors only", path)
        name = _name(keys, where)
        if name in flat.tensors:
            raise InputError(f"two entries would both be named {q(name)}", path, key=name,
                             hint="convert one part with {key}")
        flat.tensors[name] = value
        return {"$tensor": name}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, dict):
        tag = "$odict" if isinstance(value, OrderedDict) else "$dict"
        return {tag: [[_key(k, keys, path), _encode(v, keys + (k,), where, flat, path)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_encode(v, keys + (i,), where, flat, path) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, keys + (i,), where, flat, path) for i, v in enumerate(value)]}
    if isinstance(value, torch.Size):
        return {"$size": list(value)}
    if isinstance(value, torch.dtype):
        return {"$dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, (set, frozenset)):
        return {"$set": [_encode(v, keys, where, flat, path) for v in sorted(value, key=repr)]}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, complex):
        return {"$complex": [value.real, value.imag]}
    if isinstance(value, argparse.Namespace):
        return {"$namespace": _encode(vars(value), keys, where, flat, path)}
    raise InputError(f"entry {_name(keys, ())!r} holds a {type(value).__module__}.{type(value).__qualname__}, "
                     "which safetensors metadata cannot hold", path,
                     hint="convert the state dict alone with {key}")


def _key(key: Any, keys: tuple, path: str) -> Any:
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return key
    raise InputError(f"entry {_name(keys, ())!r} has a {type(key).__name__} key {q(key)}; "
                     "only text and integer keys can be stored", path)


def _dedupe(flat: Flat) -> None:
    """Keep one name per piece of shared memory, as safetensors' save_model does (the alphabetically
    first name covering all of it), and record the others as views of the kept one."""
    for names in shared_groups(flat.tensors):
        tensors = [flat.tensors[n] for n in names]
        start = min(t.data_ptr() for t in tensors)
        end = max(t.data_ptr() + _span_bytes(t) for t in tensors)
        complete = sorted(n for n in names if _covers(flat.tensors[n], start, end))
        if not complete:
            flat.warnings.append(f"{', '.join(names)} share memory but none covers all of it; "
                                 "they are stored as separate copies")
            continue
        keep_name = complete[0]
        keep = flat.tensors[keep_name]
        for name in names:
            t = flat.tensors[name]
            if name == keep_name:
                continue
            offset, rest = divmod(t.data_ptr() - keep.data_ptr(), keep.element_size())
            if t.dtype != keep.dtype or rest:
                flat.warnings.append(f"{name} views {keep_name}'s memory as another dtype; stored as a copy")
                continue
            info = {"of": keep_name, "offset": offset, "shape": list(t.shape), "stride": list(t.stride())}
            try:
                check_alias(name, info, {keep_name: keep})
            except Damaged:  # e.g. a broadcast larger than its source: readers refuse such views
                flat.warnings.append(f"{name} views more elements than {keep_name} holds; stored as a copy")
                continue
            flat.aliases[name] = info
    for name in flat.aliases:
        del flat.tensors[name]


def shared_groups(tensors: dict[str, torch.Tensor]) -> list[list[str]]:
    """Names whose memory overlaps, grouped (each group in key order).

    Overlap of byte ranges, not just the same storage: a memory-mapped file is one storage that
    holds every tensor, and those are not ties.
    """
    by_storage: dict[tuple[int, str], list[tuple[int, int, int, str]]] = {}
    for order, (name, t) in enumerate(tensors.items()):
        if t.numel() == 0:
            continue
        start = t.data_ptr()
        by_storage.setdefault((t.untyped_storage().data_ptr(), str(t.device)), []).append(
            (start, start + _span_bytes(t), order, name))
    groups: list[list[tuple[int, str]]] = []
    for items in by_storage.values():
        items.sort()
        cluster: list[tuple[int, str]] = []
        cluster_end = -1
        for start, end, order, name in items:
            if cluster and start < cluster_end:
                cluster.append((order, name))
                cluster_end = max(cluster_end, end)
                continue
            if len(cluster) > 1:
                groups.append(cluster)
            cluster, cluster_end = [(order, name)], end
        if len(cluster) > 1:
            groups.append(cluster)
    return [[name for _, name in sorted(g)] for g in sorted(groups)]


def _span_bytes(t: torch.Tensor) -> int:
    return (sum((n - 1) * s for n, s in zip(t.shape, t.stride())) + 1) * t.element_size()


def _covers(t: torch.Tensor, start: int, end: int) -> bool:
    return t.is_contiguous() and t.data_ptr() == start and t.numel() * t.element_size() == end - start
