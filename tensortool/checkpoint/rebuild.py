"""A skeleton and its named tensors back into the checkpoint object (the inverse of ``structure``).

Everything read from a file is checked before it is used: an alias must lie inside the tensor it
views, the tree must be one ``structure`` writes; anything else raises :class:`Damaged`.
"""

from __future__ import annotations

import argparse
import base64
import math
from collections import OrderedDict
from typing import Any

import torch

from ..safetensors_file import fits_int64

MAX_DEPTH = 200  # nesting of the skeleton tree; real checkpoints stay far below it
ALIAS_KEYS = {"of", "offset", "shape", "stride"}
_INT64_MAX = 2**63 - 1


class Damaged(ValueError):
    """The skeleton record is not one this module writes; ``where`` names the entry at fault."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}" if where else why)


def _is_int(value: Any) -> bool:
    return type(value) is int


def check_alias(name: str, info: Any, tensors: dict[str, torch.Tensor]) -> None:
    """An alias must lie inside the tensor it views and describe no more elements than that tensor
    holds: checked with Python integers before any view is made, so it can never reach other memory."""
    where = f"alias {name!r}"
    if not isinstance(info, dict) or set(info) != ALIAS_KEYS:
        raise Damaged(where, "needs exactly of, offset, shape and stride")
    of, offset, shape, stride = info["of"], info["offset"], info["shape"], info["stride"]
    if not isinstance(of, str) or of not in tensors:
        raise Damaged(where, f"views {of!r}, which is not a stored tensor")
    if name in tensors:
        raise Damaged(where, "has the name of a stored tensor")
    if not _is_int(offset) or offset < 0:
        raise Damaged(where, f"offset {offset!r} is not a non-negative integer")
    if not (isinstance(shape, list) and isinstance(stride, list) and len(shape) == len(stride)
            and all(_is_int(n) and 0 <= n <= _INT64_MAX for n in shape)
            and all(_is_int(s) and 0 <= s <= _INT64_MAX for s in stride)):
        raise Damaged(where, "shape and stride must be lists of non-negative integers of the same length")
    if not fits_int64(shape):
        raise Damaged(where, f"shape {str(shape)[:80]} overflows 64 bits")
    kept = tensors[of]
    numel = math.prod(shape)
    if numel > kept.numel():
        raise Damaged(where, f"describes {numel:,} elements, more than the {kept.numel():,} of {of!r}")
    if numel and offset + sum((n - 1) * s for n, s in zip(shape, stride)) + 1 > kept.numel():
        raise Damaged(where, f"reaches past the end of {of!r} ({kept.numel():,} elements)")


def restore_alias(kept: torch.Tensor, info: dict[str, Any]) -> torch.Tensor:
    """The aliased name as a view of the kept tensor's memory (so the tie survives torch.save).
    ``info`` must have passed :func:`check_alias`."""
    return torch.empty(0, dtype=kept.dtype).set_(kept.untyped_storage(), kept.storage_offset() + info["offset"],
                                                  tuple(info["shape"]), tuple(info["stride"]))


def unflatten(skeleton: Any, tensors: dict[str, torch.Tensor], aliases: Any) -> Any:
    """Rebuild the checkpoint object from the skeleton, with ties restored.

    Anything that is not a skeleton this module writes raises :class:`Damaged`.
    """
    return decode_tree(skeleton, restore_named(tensors, aliases))


def restore_named(tensors: dict[str, torch.Tensor], aliases: Any) -> dict[str, torch.Tensor]:
    """The stored tensors plus every alias as a view, each alias checked first."""
    if not isinstance(aliases, dict):
        raise Damaged("aliases", "is not an object")
    for name, info in aliases.items():
        check_alias(name, info, tensors)
    named = dict(tensors)
    for name, info in aliases.items():
        named[name] = restore_alias(tensors[info["of"]], info)
    return named


def decode_tree(skeleton: Any, named: dict[str, torch.Tensor]) -> Any:
    _check_depth(skeleton)
    return _decode(skeleton, named, "tree")


def _check_depth(node: Any) -> None:
    stack = [(node, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Damaged("tree", f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())


def _decode(node: Any, named: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(node, list):
        return [_decode(v, named, where) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        raise Damaged(where, "an object in the tree must have exactly one $tag")
    (tag, value), = node.items()
    try:
        return _decode_tag(tag, value, named, where)
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        if isinstance(exc, Damaged):
            raise
        raise Damaged(where, f"bad {tag} value ({str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})"
                      ) from None


def _decode_tag(tag: str, value: Any, named: dict[str, torch.Tensor], where: str) -> Any:
    if tag == "$tensor":
        if not isinstance(value, str) or value not in named:
            raise Damaged(where, f"names tensor {value!r}, which the file does not hold")
        return named[value]
    if tag in ("$dict", "$odict"):
        if not isinstance(value, list):
            raise Damaged(where, f"{tag} is not a list of [key, value] pairs")
        out = OrderedDict() if tag == "$odict" else {}
        for pair in value:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))
                    and not isinstance(pair[0], bool)):
                raise Damaged(where, f"{tag} holds {str(pair)[:50]!r}, not a [text or integer key, value] pair")
            out[pair[0]] = _decode(pair[1], named, f"{where}.{pair[0]}")
        return out
    if tag in ("$tuple", "$set"):
        if not isinstance(value, list):
            raise Damaged(where, f"{tag} is not a list")
        items = [_decode(v, named, where) for v in value]
        return tuple(items) if tag == "$tuple" else set(items)
    if tag == "$float":
        if not isinstance(value, str):
            raise Damaged(where, "$float is not text")
        return float(value)
    if tag == "$size":
        if not (isinstance(value, list) and all(_is_int(n) and 0 <= n <= _INT64_MAX for n in value)
                and fits_int64(value)):
            raise Damaged(where, "$size is not a list of non-negative 64-bit integers")
        return torch.Size(value)
    if tag == "$dtype":
        dtype = getattr(torch, value, None) if isinstance(value, str) else None
        if not isinstance(dtype, torch.dtype):
            raise Damaged(where, f"$dtype {str(value)[:50]!r} is not a torch dtype")
        return dtype
    if tag == "$device":
        if not isinstance(value, str):
            raise Damaged(where, "$device is not text")
        return torch.device(value)
    if tag == "$bytes":
        if not isinstance(value, str):
            raise Damaged(where, "$bytes is not text")
        return base64.b64decode(value, validate=True)
    if tag == "$complex":
        if not (isinstance(value, list) and len(value) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)):
            raise Damaged(where, "$complex is not [real, imaginary]")
        return complex(*value)
    if tag == "$namespace":
        fields = _decode(value, named, where)
        if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
            raise Damaged(where, "$namespace is not an object with text keys")
        return argparse.Namespace(**fields)
    raise Damaged(where, f"unknown tag {str(tag)[:50]!r}")
