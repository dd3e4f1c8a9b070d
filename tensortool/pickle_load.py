"""Loading torch pickles without running their code.

``torch.load(weights_only=True)`` refuses any global outside torch's allowlist. When it does, we
name the globals the file wants (without unpickling it) and let the user decide: allowlist a
named global, or trust the whole file. We never fall back to ``weights_only=False`` ourselves.
"""

from __future__ import annotations

import importlib
import pickle
import pickletools
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from .errors import InputError, UsageError

ZIP_MAGIC = b"PK\x03\x04"
# Globals whose only use in a pickle is to run something: never suggest allowing these.
DANGEROUS = ("os.", "posix.", "nt.", "subprocess.", "sys.", "shutil.", "socket.", "importlib.", "runpy.",
             "pty.", "webbrowser.", "code.", "ctypes.", "pickle.", "marshal.", "builtins.eval", "builtins.exec",
             "builtins.compile", "builtins.open", "builtins.__import__", "builtins.getattr", "__builtin__.")


@dataclass
class Loaded:
    """What a pickle held, and how it was read."""

    obj: Any
    format: str  # "torch zip" or "torch legacy"
    mmap: bool
    warnings: list[str] = field(default_factory=list)


def load_pickle(path: Path, *, allow_globals: Iterable[str] = (), trust: bool = False,
                offer_options: bool = True) -> Loaded:
    """Load a torch checkpoint with ``weights_only=True`` (memory-mapped when the file allows it).

    ``offer_options``: the refusal's hint names ``--allow-global``/``--trust-pickle`` (ckpt has them).

    >>> load_pickle(Path("resnet18.pth")).obj["fc.bias"].shape  # doctest: +SKIP
    torch.Size([1000])
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    is_zip = head == ZIP_MAGIC
    fmt = "torch zip" if is_zip else "torch legacy"
    notes: list[str] = []
    if trust:
        notes.append("--trust-pickle: the file's pickled code was allowed to run")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = _load(path, weights_only=False, mmap=is_zip)
        return Loaded(obj, fmt, is_zip, notes)
    allowed = [resolve_global(name, path) for name in allow_globals]
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "pickle protocol 4": not the user's concern
            obj = _load(path, weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        needed = [g for g in unsafe_globals(path) if g not in set(allow_globals)]
        harmful = [g for g in needed if g.startswith(DANGEROUS)]
        if harmful:
            raise InputError(f"refusing to unpickle: it calls {', '.join(harmful)}, which runs code or touches "
                             "the system; no checkpoint needs that", path,
                             hint="do not load this file, and do not pass --trust-pickle for it") from None
        detail = f"it needs {', '.join(needed)}" if needed else str(exc).strip().splitlines()[0]
        first = needed[0] if needed else "module.Name"
        hint = (f"if you know what it is, allow it with --allow-global {first}; for a file you trust "
                "completely, --trust-pickle (it can run arbitrary code)") if offer_options else \
            "tensortool never executes pickled code; `tensortool ckpt inspect --allow-global` can read it"
        raise InputError(f"refusing to unpickle objects outside torch's safe list: {detail}", path,
                         hint=hint) from None
    return Loaded(obj, fmt, is_zip, notes)


def _load(path: Path, *, weights_only: bool, mmap: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)
    except pickle.UnpicklingError:
        raise
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"truncated or not a readable torch checkpoint ({text})", path) from None


def resolve_global(name: str, path: Path) -> Any:
    module, _, attr = name.rpartition(".")
    if not module:
        raise UsageError(f"--allow-global {name!r}: expected module.Name, e.g. argparse.Namespace")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError:
        # Nested names (module.Class.Inner) import the longest module prefix.
        head, _, rest = module.rpartition(".")
        try:
            obj = getattr(importlib.import_module(head), rest)
        except (ImportError, AttributeError, ValueError):
            raise UsageError(f"--allow-global {name!r}: cannot import module {module!r}") from None
    try:
        return getattr(obj, attr)
    except AttributeError:
        raise UsageError(f"--allow-global {name!r}: {module} has no {attr!r}") from None


def unsafe_globals(path: Path) -> list[str]:
    """The globals a pickle needs beyond torch's allowlist, found without unpickling it."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # a legacy (non-zip) file: scan its pickle opcodes ourselves
        pass
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = set(_get_allowed_globals())
    except Exception:
        allowed = set()
    allowed |= {f"{g.__module__}.{g.__qualname__}" for g in torch.serialization.get_safe_globals()
                if hasattr(g, "__qualname__")}
    found = scan_globals(path)
    return [g for g in found if g not in allowed]


def scan_globals(path: Path, max_pickles: int = 5) -> list[str]:
    """Every ``module.name`` a pickle stream imports (GLOBAL and STACK_GLOBAL opcodes).

    A legacy torch.save file is several pickles in a row followed by raw storage bytes.
    """
    found: list[str] = []
    with open(path, "rb") as fh:
        for _ in range(max_pickles):
            strings: list[str] = []
            memo: dict[int, Any] = {}
            try:
                for op, arg, _pos in pickletools.genops(fh):
                    if op.name == "GLOBAL":
                        module, name = str(arg).split(" ", 1)
                        _add(found, f"{module}.{name}")
                    elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                        strings.append(arg)
                    elif op.name == "MEMOIZE" and strings:
                        memo[len(memo)] = strings[-1]
                    elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                        memo[int(arg)] = strings[-1]
                    elif op.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(memo.get(int(arg)), str):
                        strings.append(memo[int(arg)])
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        _add(found, f"{strings[-2]}.{strings[-1]}")
            except Exception:  # raw storage bytes after the last pickle
                break
    return found


def _add(found: list[str], name: str) -> None:
    if name not in found:
        found.append(name)
