"""The manifest of a shard folder: what was asked for, which shards are finished, and their sums.

It is plain JSON (``manifest.json``) so that any tool can read it. A record is added only after
its shard file is in place, so the manifest never names a file that is not (or not yet) whole.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import InputError, q

MANIFEST_NAME = "manifest.json"
FORMAT = "tensortool-shards/1"
MAX_MANIFEST_BYTES = 256 << 20
_MAX_NUMBER = (1 << 63) - 1  # a count, size or index a file can hold; len() needs the total to fit too


class _Damaged(ValueError):
    """A value of the manifest that a writer of ours cannot have written; ``key`` places it."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def shown(value: Any, limit: int = 60) -> str:
    """A manifest value for a one-line message: as JSON (no newline), at most ``limit`` characters,
    braces made parentheses (text in braces would read as a parameter's name)."""
    text = json.dumps(value, sort_keys=True, default=str)
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return text.replace("{", "(").replace("}", ")")


def _number(data: dict[str, Any], key: str, where: str) -> int:
    value = data[key]
    if type(value) is not int or not 0 <= value <= _MAX_NUMBER:
        raise _Damaged(f"{where}.{key} is {shown(value)}, not a whole number from 0 to 2**63-1", f"{where}.{key}")
    return value


def shard_name(value: Any, where: str = "name") -> str:
    """A shard's file name as the manifest gives it: a plain .safetensors file name in the folder.

    The manifest may come from anywhere, and its names are joined to the folder to check, read
    and (with ``force``) remove files: a name with a folder in it, or an absolute path, could
    reach any file.
    """
    if (not isinstance(value, str) or not value.endswith(".safetensors") or value.startswith(".")
            or any(c in value for c in "/\\\0") or len(value.encode("utf-8", "surrogateescape")) > 255):
        raise _Damaged(f"{where} is {shown(value)}, not a plain .safetensors file name in the folder", where)
    return value


def _key(text: str) -> str:
    """An option's name as a message shows it: as it is, or as JSON when it is not plain."""
    return text if text.isprintable() and "{" not in text else shown(text)


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
    def from_json(cls, data: Any, where: str = "shard") -> "ShardRecord":
        """A record as the manifest holds it, every field of the type a writer gives it."""
        if not isinstance(data, dict):
            raise _Damaged(f"{where} is {shown(data)}, not a JSON object", where)
        skipped, meta, sha = data.get("skipped", []), data.get("meta", {}), data["sha256"]
        if not isinstance(sha, str):
            raise _Damaged(f"{where}.sha256 is {shown(sha)}, not a string", f"{where}.sha256")
        if not isinstance(skipped, list) or not all(isinstance(item, dict) and isinstance(item.get("file"), str)
                                                    and isinstance(item.get("error"), str) for item in skipped):
            raise _Damaged(f"{where}.skipped is not a list of {{\"file\", \"error\"}} strings", f"{where}.skipped")
        if not isinstance(meta, dict):
            raise _Damaged(f"{where}.meta is {shown(meta)}, not a JSON object", f"{where}.meta")
        return cls(shard_name(data["name"], f"{where}.name"), _number(data, "index", where),
                   _number(data, "count", where), _number(data, "bytes", where), sha, skipped, meta)


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
            raise InputError(f"not a tensortool shard manifest (no 'format': {q(FORMAT)})", path)
        fixed = {"format", "kind", "complete", "count", "planned_shards", "bytes", "options", "skipped",
                 "shards", "tensortool_version"}
        try:
            kind, options, shards, complete = data["kind"], data["options"], data["shards"], data["complete"]
            planned = data.get("planned_shards")
            if not isinstance(kind, str) or not isinstance(options, dict) or not isinstance(shards, list) \
                    or not isinstance(complete, bool):
                raise _Damaged("kind, options, shards or complete is not of its type (string, object, array, "
                               "true/false)")
            if planned is not None and (type(planned) is not int or not 0 <= planned <= _MAX_NUMBER):
                raise _Damaged(f"planned_shards is {shown(planned)}, not a whole number", "planned_shards")
            records = [ShardRecord.from_json(r, f"shards[{i}]") for i, r in enumerate(shards)]
            seen: set[str] = set()
            for record in records:
                if record.name in seen:  # one file counted twice
                    raise _Damaged(f"the shard {shown(record.name)} is listed twice", "shards")
                seen.add(record.name)
            if sum(r.count for r in records) > _MAX_NUMBER:
                raise _Damaged("the shards' counts add up to more than 2**63-1", "shards")
            version = data.get("tensortool_version", "")
            return cls(kind, options, records, {k: v for k, v in data.items() if k not in fixed}, complete,
                       planned, version if isinstance(version, str) else "")
        except KeyError as exc:
            raise InputError(f"damaged shard manifest: no {shown(exc.args[0])}", path, key=str(exc.args[0])) from None
        except _Damaged as exc:
            raise InputError(f"damaged shard manifest: {exc}", path, key=exc.key) from None


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a shard folder.

    >>> read_manifest("shards/").count  # doctest: +SKIP
    50000
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        # O_NONBLOCK: opening a FIFO planted under the manifest's name must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError("the shard manifest is not a regular file", path)
            if info.st_size > MAX_MANIFEST_BYTES:
                raise InputError(f"the shard manifest is {info.st_size:,} bytes, above the limit of "
                                 f"{MAX_MANIFEST_BYTES:,}", path)
            text = fh.read(MAX_MANIFEST_BYTES + 1).decode("utf-8")
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
    return [f"{_key(key)}: {shown(old.get(key), 100)} then, {shown(new.get(key), 100)} now"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
