"""The manifest of a shard folder: what was asked for, which shards are finished, and their sums.

It is plain JSON (``manifest.json``) so that any tool can read it. A record is added only after
its shard file is in place, so the manifest never names a file that is not (or not yet) whole.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import InputError

MANIFEST_NAME = "manifest.json"
FORMAT = "tensortool-shards/1"


@dataclass
class ShardRecord:
    """One finished shard file: its name, how many samples it holds, its size and SHA-256.

    ``skipped`` lists the inputs left out of it (``{"file", "error"}``); ``meta`` holds what the
    writer wants to keep per shard (JSON-able values only).
    """

    name: str
    index: int
    count: int
    bytes: int
    sha256: str
    skipped: list[dict[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "ShardRecord":
        return cls(str(data["name"]), int(data["index"]), int(data["count"]), int(data["bytes"]),
                   str(data["sha256"]), list(data.get("skipped", [])), dict(data.get("meta", {})))


@dataclass
class Manifest:
    """What a shard folder holds.

    ``kind`` says what the shards are (``"images"``); ``options`` are the options that decide the
    bytes of every shard (a run with other options is refused); ``shards`` the finished ones in
    index order; ``info`` what the writer says of the whole (count, dtype, shape, class names...);
    ``complete`` is set once every planned shard is finished.
    """

    kind: str
    options: dict[str, Any]
    shards: list[ShardRecord] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    planned: int | None = None
    tensortool_version: str = __version__

    @property
    def count(self) -> int:
        """Samples in the finished shards."""
        return sum(r.count for r in self.shards)

    @property
    def skipped(self) -> list[dict[str, str]]:
        return [item for r in self.shards for item in r.skipped]

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": self.kind, "complete": self.complete, "count": self.count,
                "planned_shards": self.planned, "bytes": sum(r.bytes for r in self.shards),
                **self.info, "options": self.options, "skipped": self.skipped,
                "shards": [r.to_json() for r in self.shards], "tensortool_version": self.tensortool_version}

    @classmethod
    def from_json(cls, data: Any, path: str | Path) -> "Manifest":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"not a tensortool shard manifest (no 'format': {FORMAT!r})", path)
        fixed = {"format", "kind", "complete", "count", "planned_shards", "bytes", "options", "skipped",
                 "shards", "tensortool_version"}
        try:
            return cls(str(data["kind"]), dict(data["options"]),
                       [ShardRecord.from_json(r) for r in data["shards"]],
                       {k: v for k, v in data.items() if k not in fixed}, bool(data["complete"]),
                       data.get("planned_shards"), str(data.get("tensortool_version", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"damaged shard manifest: {type(exc).__name__}: {exc}", path) from None


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a shard folder.

    >>> read_manifest("shards/").count  # doctest: +SKIP
    50000
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no {MANIFEST_NAME} here: not a shard folder", folder) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the shard manifest: {exc}", path) from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"the shard manifest is not valid JSON: {exc}", path) from None
    return Manifest.from_json(data, path)


def normalized(options: dict[str, Any]) -> dict[str, Any]:
    """Options as they read back from JSON (tuples as lists), so that a comparison is exact."""
    return json.loads(json.dumps(options, sort_keys=True))


def changed_options(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'name: then → now' for each option that differs."""
    old, new = normalized(old), normalized(new)
    return [f"{key}: {json.dumps(old.get(key))} then, {json.dumps(new.get(key))} now"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
