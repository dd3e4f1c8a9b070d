"""A loaded pickle, checked before anyone walks it (``pickle_load``'s step 3): no cycles, bounded
nesting, shared parts and tensor views that add up to no more than a few times the file's size, and
tensors on the CPU with data."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import types
from pathlib import Path
from typing import Any

import torch

from .errors import InputError

MAX_DEPTH = 100            # nesting of containers in a loaded object (consumers recurse)
SLACK_BYTES = 64 << 20     # tensor views and repeated parts allowed beyond the file's own size ...
REPEAT_FACTOR = 4          # ... and this many times it

_LEAVES = (int, float, bool, complex, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format,
           torch.qscheme, enum.Enum, type, range, slice)


def audit(obj: Any, file_bytes: int, path: Path | None = None) -> None:
    """Refuse what would make a consumer crash, hang or show memory the file does not hold (module doc,
    step 3). Iterative: the walk itself neither recurses nor revisits an object more than the budget."""
    budget = REPEAT_FACTOR * file_bytes + SLACK_BYTES
    spent = 0
    tensors: dict[int, torch.Tensor] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(obj, 0, False)]
    while stack:
        item, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(item))
            continue
        spent += 1
        if isinstance(item, _LEAVES):
            continue
        if isinstance(item, (str, bytes, bytearray)):
            spent += len(item)
        elif isinstance(item, torch.Tensor):
            tensors[id(item)] = item
        elif isinstance(item, (torch.UntypedStorage, torch.storage.TypedStorage)):
            spent += _storage_bytes(item)
        else:
            children = _children(item)
            if children is None:
                spent += len(repr(type(item)))
            else:
                if depth >= MAX_DEPTH:
                    raise InputError(f"objects nested more than {MAX_DEPTH} deep; no checkpoint needs that", path)
                if id(item) in on_path:
                    raise InputError("an object that contains itself (a cycle); no checkpoint needs that", path)
                spent += len(children)
                on_path.add(id(item))
                stack.append((item, depth, True))
                stack.extend((child, depth + 1, False) for child in children)
        if spent > budget:
            raise InputError(f"its objects repeat shared parts more than {REPEAT_FACTOR}x the file's size "
                             "(printing them would not end); no checkpoint needs that", path)
    _audit_tensors(list(tensors.values()), file_bytes, path)


def _children(item: Any) -> list | None:
    if isinstance(item, dict):
        out = []
        for key, value in item.items():
            out.append(key)
            out.append(value)
        return out
    if isinstance(item, (list, tuple, set, frozenset)):
        return list(item)
    try:
        import numpy as np

        if isinstance(item, np.ndarray):
            return list(item.ravel(order="K")) if item.dtype.hasobject else []
        if isinstance(item, (np.generic, np.dtype)):
            return []
    except ImportError:  # pragma: no cover
        pass
    if isinstance(item, (argparse.Namespace, types.SimpleNamespace)) or dataclasses.is_dataclass(item):
        return list(vars(item).values())
    state = getattr(item, "__dict__", None) if not isinstance(item, (Path, type)) else None
    return list(state.values()) if isinstance(state, dict) else None


def _storage_bytes(storage: Any) -> int:
    try:
        return int(storage.nbytes())
    except Exception:
        return 0


def _audit_tensors(tensors: list[torch.Tensor], file_bytes: int, path: Path | None) -> None:
    views: set[tuple] = set()
    total = 0
    for t in tensors:
        if t.is_nested:
            raise InputError("holds a nested tensor, which tensortool does not read", path)
        if t.device.type != "cpu":
            what = "tensors without data (device meta)" if t.device.type == "meta" else \
                f"tensors on {t.device.type}, which tensortool reads only on the CPU"
            raise InputError(f"holds {what}", path)
        if t.layout != torch.strided:
            parts = [t._values(), t._indices()] if t.layout == torch.sparse_coo else \
                [p for p in (getattr(t, "values", None), ) if p is not None]
            total += sum(p.numel() * p.element_size() for p in parts if isinstance(p, torch.Tensor))
            continue
        try:
            ptr = t.untyped_storage().data_ptr()
        except Exception:
            raise InputError("holds a tensor without storage, which tensortool does not read", path) from None
        key = (ptr, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if key in views:
            continue
        views.add(key)
        total += t.numel() * t.element_size()
        if total > REPEAT_FACTOR * file_bytes + SLACK_BYTES:
            raise InputError(f"its tensors add up to more than {_bytes(total)} from a {_bytes(file_bytes)} file "
                             "(views that repeat the same bytes, e.g. stride 0); no checkpoint needs that", path)


def _bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000 or unit == "EB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)  # pragma: no cover
