"""Sharding in the Hugging Face layout: sizes, the greedy split, file names and the index."""

from __future__ import annotations

import re

from ..errors import UsageError, q

_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str) -> int:
    """'5GB' → 5_000_000_000 (decimal units, as Hugging Face uses; KiB/MiB/GiB are binary).

    The unit is required: a bare number ('5') was meant as GB or MB, not bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)\s*", text, re.IGNORECASE)
    if not match:
        raise UsageError(f"{{max_shard_size}} {q(text)}: expected a size with its unit, such as 5GB, 500MB or 2GiB",
                         param="max_shard_size")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value < 1:
        raise UsageError(f"{{max_shard_size}} {q(text)} must be at least 1 byte", param="max_shard_size")
    return value


def plan_shards(sizes: dict[str, int], max_bytes: int) -> list[list[str]]:
    """Greedy in key order, as huggingface_hub's split_state_dict_into_shards does: a tensor that
    would tip a shard over the limit starts a new one; a tensor above the limit gets a shard of its
    own (appended when met, before the shard being filled)."""
    shards: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for name, nbytes in sizes.items():
        if nbytes > max_bytes:
            shards.append([name])
            continue
        if current and current_bytes + nbytes > max_bytes:
            shards.append(current)
            current, current_bytes = [], 0
        current.append(name)
        current_bytes += nbytes
    if current or not shards:
        shards.append(current)
    return shards


def shard_names(stem: str, count: int) -> list[str]:
    """model → model-00001-of-00003.safetensors, ... (a single shard keeps model.safetensors)."""
    if count == 1:
        return [f"{stem}.safetensors"]
    return [f"{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
