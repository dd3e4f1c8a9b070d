"""WebDataset-style tar shards as image inputs, read in place (never extracted).

Members that share a key (the member name up to the first dot of its base name, as WebDataset
splits them) form one sample: ``n01440764_10026.jpg`` with ``n01440764_10026.cls`` holding its
class. A class comes from a ``.cls`` member (an integer, or a class name) or from a ``.json``
member's ``cls``, ``label`` or ``class`` key. Only plain (uncompressed) tars can be read in place:
each image is read by its offset, so decoding threads need no shared stream.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import torch

from ...errors import InputError

_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)")
_KEY = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")
_CLASS_KEYS = ("cls", "label", "class")
MAX_LABEL_BYTES = 1 << 16
# Integer classes are named "0".."max": a crafted class number must not make that list huge.
MAX_CLASSES = 1 << 20
# A brace pattern names at most this many files; a crafted one could name billions.
MAX_EXPANDED = 1_000_000


def expand_braces(pattern: str) -> list[str]:
    """``data-{000..002}.tar`` → data-000.tar, data-001.tar, data-002.tar; ``{a,b}`` lists too.

    A range keeps the width of its zero-padded first number, as WebDataset's shard names do.

    >>> expand_braces("s-{08..10}-{a,b}.tar")
    ['s-08-a.tar', 's-08-b.tar', 's-09-a.tar', 's-09-b.tar', 's-10-a.tar', 's-10-b.tar']
    """
    parts: list[Any] = []  # each a list of names, or (range, width) until the count is known
    count = 1
    at = 0
    for match in _BRACE.finditer(pattern):
        parts.append([pattern[at:match.start()]])
        body = match.group(1)
        numbers = _RANGE.fullmatch(body)
        if numbers:
            ends = numbers.group(1), numbers.group(2)
            if max(len(e) for e in ends) > 18:  # int() refuses 4300 digits; no list could be that long anyway
                raise InputError("a brace range has a number of more than 18 digits", pattern)
            first, last = int(ends[0]), int(ends[1])
            width = len(ends[0]) if ends[0].startswith("0") else 0
            step = 1 if last >= first else -1
            parts.append((range(first, last + step, step), width))
            count *= len(parts[-1][0])
        else:
            parts.append(body.split(",") if "," in body else ["{" + body + "}"])
            count *= len(parts[-1])
        at = match.end()
    parts.append([pattern[at:]])
    if count > MAX_EXPANDED:
        raise InputError(f"the brace pattern names {count:,} files, more than the limit of {MAX_EXPANDED:,}", pattern)
    parts = [[str(n).zfill(p[1]) for n in p[0]] if isinstance(p, tuple) else p for p in parts]
    return ["".join(choice) for choice in product(*parts)]


def has_braces(text: str) -> bool:
    return any(_RANGE.fullmatch(m.group(1)) or "," in m.group(1) for m in _BRACE.finditer(text))


@dataclass(frozen=True)
class TarMember:
    """One image inside a tar, read in place by its offset; named ``archive.tar:member``."""

    tar: str
    name: str
    offset: int
    size: int

    def __str__(self) -> str:
        return f"{self.tar}:{self.name}"

    def read_tensor(self) -> torch.Tensor:
        """The member's bytes as a uint8 tensor."""
        try:
            with open(self.tar, "rb") as fh:
                if self.offset + self.size > os.fstat(fh.fileno()).st_size:  # before allocating what it claims
                    raise InputError(f"the tar ends inside this member ({self.size:,} bytes claimed)", self)
                buf = torch.empty(self.size, dtype=torch.uint8)
                fh.seek(self.offset)
                got = fh.readinto(memoryview(buf.numpy())) if self.size else 0
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", self) from None
        if got != self.size:
            raise InputError(f"the tar ends inside this member ({got:,} of {self.size:,} bytes)", self)
        if self.size == 0:
            raise InputError("empty file", self)
        return buf


def _label_text(fh: Any, member: tarfile.TarInfo, where: str) -> str:
    if member.size > MAX_LABEL_BYTES:
        raise InputError(f"a class member of {member.size:,} bytes is too large", where)
    data = fh.extractfile(member).read()
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError("the class member is not UTF-8 text", where) from None


def _cls_class(text: str, where: str) -> int | str:
    """A .cls member's class: an integer, or else a class name."""
    if not re.fullmatch(r"-?\d+", text):
        return text
    if len(text.lstrip("-")) > len(str(MAX_CLASSES)):  # int() refuses 4300 digits: bounded before converting
        raise InputError(f"a class number of {len(text.lstrip('-')):,} digits is out of range", where)
    return int(text)


def _json_class(text: str, where: str) -> Any:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON: {exc}", where) from None
    if isinstance(doc, dict):
        for key in _CLASS_KEYS:
            if isinstance(doc.get(key), (int, str)) and not isinstance(doc.get(key), bool):
                return doc[key]
    return None


def scan_tar(path: str | Path, is_image: Any) -> list[tuple[TarMember, Any]]:
    """``(image member, class or None)`` for each sample of a tar, in member order.

    ``is_image(name)`` picks the image members; a sample's first image member is its image.
    """
    where = str(path)
    if where.lower().endswith(_COMPRESSED):
        raise InputError("a compressed tar cannot be read in place", path, hint="use uncompressed .tar shards")
    samples: dict[str, list[Any]] = {}  # key -> [image member, class]
    seen = 0
    try:
        with tarfile.open(where, "r:") as fh:
            for member in fh:
                seen += 1
                match = _KEY.match(member.name) if member.isfile() else None
                if match is None:
                    continue
                key, ext = match.group(1), match.group(2).lower()
                entry = samples.setdefault(key, [None, None])
                name = f"{where}:{member.name}"
                if ext == "cls" and entry[1] is None:
                    text = _label_text(fh, member, name)
                    entry[1] = _cls_class(text, name)
                elif ext == "json" and entry[1] is None:
                    entry[1] = _json_class(_label_text(fh, member, name), name)
                elif entry[0] is None and is_image(member.name):
                    if member.issparse():  # its stored bytes are not the file: it cannot be read by offset
                        raise InputError("a sparse member cannot be read in place", name)
                    entry[0] = TarMember(where, member.name, member.offset_data, member.size)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except (tarfile.TarError, OSError, EOFError, ValueError, OverflowError, MemoryError) as exc:
        # ValueError, OverflowError: tarfile seeking past a member whose header claims more than 2**63
        # bytes; MemoryError: tarfile reading a long-name or pax header whole, of the size it claims
        if isinstance(exc, tarfile.ReadError) and not seen:
            problem = "is compressed or not a tar"
        elif isinstance(exc, (ValueError, OverflowError, MemoryError)):
            problem = "a member header claims an impossible size"
        else:
            problem = str(exc)
        raise InputError(f"cannot read this tar: {problem}", path,
                         hint="plain (uncompressed) .tar shards are read in place") from None
    return [(image, cls) for image, cls in samples.values() if image is not None]


def tar_images(paths: list[str], is_image: Any) -> tuple[list[TarMember], list[int] | None, list[str] | None]:
    """The image members of tars in order, with labels and class names when every sample has a
    class: integer classes are the labels (named "0", "1"...), class names are sorted into indices."""
    members: list[TarMember] = []
    classes: list[Any] = []
    for path in paths:
        found = scan_tar(path, is_image)
        if not found:
            raise InputError("no image members in this tar", path)
        for member, cls in found:
            members.append(member)
            classes.append(cls)
    if all(c is None for c in classes):
        return members, None, None
    missing = next((m for m, c in zip(members, classes) if c is None), None)
    if missing is not None:
        raise InputError("this sample has no class (.cls member or JSON cls/label), but others do", missing)
    if all(isinstance(c, int) for c in classes):
        if min(classes) < 0:
            raise InputError(f"negative class {min(classes)}", members[classes.index(min(classes))])
        if max(classes) >= MAX_CLASSES:  # the class names below would be a list that long
            raise InputError(f"class {max(classes):,} is above the limit of {MAX_CLASSES:,} classes",
                             members[classes.index(max(classes))])
        return members, classes, [str(i) for i in range(max(classes) + 1)]
    names = sorted({str(c) for c in classes})
    index = {name: i for i, name in enumerate(names)}
    return members, [index[str(c)] for c in classes], names


_COMPRESSED = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")


def is_tar(text: str) -> bool:
    return str(text).lower().endswith((".tar",) + _COMPRESSED) and not os.path.isdir(text)
