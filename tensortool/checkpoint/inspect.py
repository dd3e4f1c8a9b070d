"""``ckpt inspect``: what a checkpoint holds, read without running pickled code or loading data."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from ..errors import UsageError, q
from ..moments import Moments
from .source import open_checkpoint
from .structure import find_state_dict, is_optimizer, select_key, shared_groups


# A state dict does not say which tensors are buffers; these are the names torch.nn's own
# modules give theirs (batch norm). Other registered buffers are counted as parameters.
BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")
BUFFER_RULE = "buffers: tensors named " + ", ".join(f"*.{n}" for n in BUFFER_NAMES) + " (batch norm statistics)"


def is_buffer(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in BUFFER_NAMES


@dataclass
class TensorInfo:
    name: str
    shape: list[int]
    dtype: str
    bytes: int
    contiguous: bool
    stats: dict[str, float | None] | None = None


@dataclass
class CheckpointInfo:
    """What :func:`inspect_checkpoint` found (``to_json()``: the same as plain JSON types)."""

    path: str
    format: str
    file_bytes: int
    files: list[str]
    state_dict: str | None          # where the weights were found: "(top level)", a key, or None
    common_prefix: str | None       # e.g. "module." from DataParallel
    count: int
    parameters: int                 # elements of the tensors that are not buffers (BUFFER_RULE)
    buffers: int                    # elements of the buffers (BUFFER_RULE)
    bytes: int
    dtypes: dict[str, dict[str, int]]
    modules: list[dict[str, Any]]
    shared: list[list[str]]
    non_contiguous: list[str]
    other: dict[str, Any]
    metadata: dict[str, str]
    tensors: list[TensorInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def inspect_checkpoint(path: str | Path, *, depth: int = 1, tensors: bool = False, stats: bool = False,
                       filter: str | None = None, key: str | None = None, allow_globals: Iterable[str] = (),
                       trust_pickle: bool = False) -> CheckpointInfo:
    """Summarise a checkpoint: tensors, parameters, dtypes, modules, ties, other entries.

    >>> info = inspect_checkpoint("resnet18.pth", depth=1)  # doctest: +SKIP
    >>> info.parameters, info.buffers  # buffers: see BUFFER_RULE
    (11689512, 9620)
    """
    try:
        pattern = re.compile(filter) if filter else None
    except re.error as exc:
        raise UsageError(f"{{filter}} {q(filter)} is not a regular expression: {exc}", param="filter") from None
    opened = open_checkpoint(path, allow_globals=allow_globals, trust_pickle=trust_pickle)
    obj = select_key(opened.obj, key, str(path)) if key else opened.obj
    where = find_state_dict(obj)
    if where is None:
        state, other_src = _all_tensors(obj), {}
    else:
        state = obj if not where else obj[where[0]]
        other_src = {k: v for k, v in obj.items() if (k,) != where} if where else \
            {k: v for k, v in obj.items() if not isinstance(v, torch.Tensor)}
    named = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if pattern:
        named = {k: v for k, v in named.items() if pattern.search(k)}
    groups = shared_groups(named)
    aliased = {n for g in groups for n in g[1:]}
    unique = [t for n, t in named.items() if n not in aliased]
    buffers = sum(t.numel() for n, t in named.items() if n not in aliased and is_buffer(n))
    dtypes: dict[str, dict[str, int]] = {}
    for n, t in named.items():
        d = dtypes.setdefault(str(t.dtype).removeprefix("torch."),
                              {"tensors": 0, "parameters": 0, "buffers": 0, "bytes": 0})
        d["tensors"] += 1
        if n not in aliased:
            d["buffers" if is_buffer(n) else "parameters"] += t.numel()
            d["bytes"] += t.numel() * t.element_size()
    info = CheckpointInfo(
        path=str(path), format=opened.format, file_bytes=opened.file_bytes, files=[str(f) for f in opened.files],
        state_dict=None if where is None else ("(top level)" if not where else str(where[0])),
        common_prefix=_common_prefix(named),
        count=len(named), parameters=sum(t.numel() for t in unique) - buffers, buffers=buffers,
        bytes=sum(t.numel() * t.element_size() for t in unique), dtypes=dtypes,
        modules=_modules(named, aliased, depth), shared=groups,
        non_contiguous=[n for n, t in named.items() if not t.is_contiguous()],
        other={str(k): _describe(k, v) for k, v in other_src.items()},
        metadata=opened.metadata, warnings=list(opened.warnings))
    if tensors or stats:
        info.tensors = [TensorInfo(n, list(t.shape), str(t.dtype).removeprefix("torch."),
                                   t.numel() * t.element_size(), t.is_contiguous(),
                                   _stats(t) if stats else None) for n, t in named.items()]
    return info


def _all_tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, torch.Tensor):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_all_tensors(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_all_tensors(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


def _common_prefix(named: dict[str, torch.Tensor]) -> str | None:
    firsts = {n.split(".", 1)[0] for n in named if "." in n}
    if len(named) > 1 and len(firsts) == 1 and all("." in n for n in named):
        prefix = firsts.pop() + "."
        return prefix if prefix in ("module.", "model.", "_orig_mod.", "net.") else None
    return None


def _modules(named: dict[str, torch.Tensor], aliased: set[str], depth: int) -> list[dict[str, Any]]:
    """Parameters grouped by the first ``depth`` parts of their names (a module tree, cut at depth)."""
    rows: dict[str, dict[str, Any]] = {}
    for name, t in named.items():
        parts = name.split(".")[:-1] or ["(top level)"]
        for level in range(1, min(depth, len(parts)) + 1):
            prefix = ".".join(parts[:level])
            row = rows.setdefault(prefix, {"module": prefix, "depth": level, "tensors": 0, "parameters": 0,
                                           "buffers": 0, "bytes": 0})
            row["tensors"] += 1
            if name not in aliased:
                row["buffers" if is_buffer(name) else "parameters"] += t.numel()
                row["bytes"] += t.numel() * t.element_size()
    return list(rows.values())


def _stats(t: torch.Tensor) -> dict[str, float | None]:
    """min/max/mean/std in float64 (bf16 and fp8 go through float32 first; torch lacks direct casts)."""
    out: dict[str, float | None] = {"min": None, "max": None, "mean": None, "std": None}
    if t.numel() == 0 or t.is_complex():
        return out
    x = t.detach()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    elif x.is_floating_point() and x.element_size() < 4:
        x = x.to(torch.float32)
    m = Moments.of(x.reshape(1, -1), 0)
    for k, v in (("min", m.min), ("max", m.max), ("mean", m.mean), ("std", m.std())):
        value = float(v[0])
        out[k] = value if math.isfinite(value) else None
    return out


def _describe(key: Any, value: Any) -> Any:
    """A short, JSON-able account of a top-level entry beside the weights."""
    if is_optimizer(key, value) and isinstance(value, dict):
        state = value.get("state", {})
        groups = value.get("param_groups", [])
        tensors = _all_tensors(value)
        lr = [g.get("lr") for g in groups if isinstance(g, dict) and "lr" in g]
        return {"kind": "optimizer state", "param_groups": len(groups), "state_entries": len(state),
                "tensors": len(tensors), "bytes": sum(t.numel() * t.element_size() for t in tensors.values()),
                "lr": [float(x) if isinstance(x, (int, float)) else str(x) for x in lr]}
    if isinstance(value, torch.Tensor):
        return {"kind": "tensor", "shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}
    tensors = _all_tensors(value)
    if tensors:
        return {"kind": "tensors", "tensors": len(tensors),
                "bytes": sum(t.numel() * t.element_size() for t in tensors.values())}
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value if not isinstance(value, float) or math.isfinite(value) else repr(value)
    try:
        text = json.dumps(value, allow_nan=False)
        if len(text) <= 200:
            return json.loads(text)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
