"""Loading torch pickles without running their code.

A pickle is read in three steps:

1. Its opcodes are scanned without running them (``pickle_scan``): every global it can reach, and
   every call it would make with arguments that are not plain data. A file that needs a global outside
   torch's allowlist and the ones the user allowed, or that would make such a call, is refused here,
   with a message that names the globals. The hint suggests ``--allow-global`` only for names on the
   static list of plain data types (``pickle_globals.PLAIN``); anything else gets "only --trust-pickle,
   and only for a file whose source you trust", and code-running globals are called that.
2. ``torch.load(weights_only=True)`` (memory-mapped for zip files), with the allowed globals registered
   under the exact names the file uses. A legacy (non-zip) file's storages are zeroed as they are
   allocated and may add up to no more than the file holds: storages the file does not fill stay zero
   rather than showing whatever memory held before.
3. The object is checked before anyone walks it: no cycles, nesting at most ``MAX_DEPTH`` deep, shared
   parts that repeat no more than a few times the file's size (printing or flattening walks them each
   time), tensors on the CPU with data, and tensor views adding up to no more than a few times the
   file's size (a stride-0 view of 4 bytes can claim 2**62 elements).

We never fall back to ``weights_only=False`` ourselves: only ``--trust-pickle`` does that.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import io
import pickle
import types
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from .errors import InputError, OptionError
from .pickle_globals import PLAIN, TRUST_ONLY, is_harmful, is_plain, resolve_allowed
from .pickle_scan import Scan

ZIP_MAGIC = b"PK\x03\x04"
MAX_DEPTH = 100            # nesting of containers in a loaded object (consumers recurse)
SLACK_BYTES = 64 << 20     # tensor views and repeated parts allowed beyond the file's own size ...
REPEAT_FACTOR = 4          # ... and this many times it
ZIP_RATIO = 64             # beyond ZIP_FREE_BYTES, zip records may expand this much (torch.save stores them)
ZIP_FREE_BYTES = 1 << 30
LEGACY_PICKLES = 5         # magic number, protocol, system info, the object, the storage keys
# Kept for callers that imported it; the rule is now the allow-list in pickle_globals.
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

    ``allow_globals``: names of plain data types the file may use beyond torch's allowlist (see
    ``pickle_globals``). ``offer_options``: the refusal's hint names ``--allow-global``/``--trust-pickle``
    (ckpt has them); otherwise it points to ``tensortool ckpt inspect``.

    >>> load_pickle(Path("resnet18.pth")).obj["fc.bias"].shape  # doctest: +SKIP
    torch.Size([1000])
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    is_zip = head == ZIP_MAGIC
    fmt = "torch zip" if is_zip else "torch legacy"
    if trust:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = _load(path, weights_only=False, mmap=is_zip)
        except Exception as exc:  # the file was trusted: whatever it raised is its own doing
            raise _unreadable(path, exc) from None
        return Loaded(obj, fmt, is_zip, ["--trust-pickle: the file's pickled code was allowed to run"])

    names = list(dict.fromkeys(allow_globals))
    allowed = resolve_allowed(names)
    size = path.stat().st_size
    scans, keys = _scan(path, is_zip, size, allowed)
    found = _globals_of(scans)
    allowed_names = {name for _, name in allowed}
    safe = _torch_safe_names()
    needed = [g for g in found if g not in safe and g not in allowed_names]
    problems = [p for s in scans for p in s.problems]
    if needed:
        raise _refusal(path, needed, offer_options)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"refusing to unpickle: {_show(problems[0], 300)}{more}; no checkpoint needs that", path,
                         hint="do not load this file, and do not pass --trust-pickle for it")
    budget = _Storages(size)
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "pickle protocol 4": not the user's concern
            obj = _load(path, weights_only=True, mmap=is_zip, restore=None if is_zip else budget)
    except _TooBig as exc:
        raise InputError(str(exc), path) from None
    except pickle.UnpicklingError as exc:
        raise _torch_refusal(path, exc, found, offer_options) from None
    except Exception as exc:  # anything else a crafted or damaged file makes torch raise
        raise _unreadable(path, exc) from None
    if not is_zip and keys is not None and budget.count > len(keys):
        raise InputError(f"damaged: {budget.count - len(keys)} of its {budget.count} storages have no data in "
                         "the file", path)
    audit(obj, size, path)
    return Loaded(obj, fmt, is_zip, [])


def _load(path: Path, *, weights_only: bool, mmap: bool, restore: Any = None) -> Any:
    return torch.load(path, map_location=restore or "cpu", weights_only=weights_only, mmap=mmap)


def _unreadable(path: Path, exc: BaseException) -> InputError:
    text = _show(str(exc).strip().splitlines()[0], 200) if str(exc).strip() else type(exc).__name__
    return InputError(f"truncated or not a readable torch checkpoint ({text})", path)


# --- step 1: the scan ------------------------------------------------------------------------------

def _scan(path: Path, is_zip: bool, size: int, allowed: list[tuple[Any, str]]) -> tuple[list[Scan], list | None]:
    """Scan every pickle torch will read; also the legacy storage keys (None when unknown)."""
    user = frozenset(name for obj, name in allowed if name not in PLAIN)
    enums = frozenset(name for obj, name in allowed if isinstance(obj, type) and issubclass(obj, enum.Enum))
    limit = REPEAT_FACTOR * size + (1 << 20)
    if is_zip:
        data = _zip_pickle(path, size)
        if data is None:  # not a zip torch reads: torch.load says why
            return [], None
        return [Scan(io.BytesIO(data), limit=limit, user_classes=user, enums=enums)], None
    scans: list[Scan] = []
    keys: list | None = None
    with open(path, "rb") as fh:
        for i in range(LEGACY_PICKLES):
            scan = Scan(fh, limit=limit, user_classes=user, enums=enums)
            scans.append(scan)
            if scan.error:
                break
            if i == LEGACY_PICKLES - 1:
                keys = scan.keys
    return scans, keys


def _zip_pickle(path: Path, size: int) -> bytes | None:
    """data.pkl as torch's own zip reader returns it (no second opinion on which record it is)."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except Exception:  # torch's reader says what is wrong with it
        total = 0
    if total > ZIP_FREE_BYTES and total > ZIP_RATIO * size:
        raise InputError(f"its records expand {size:,} bytes into {total:,} (a zip bomb; torch.save never "
                         "compresses)", path)
    try:
        with open(path, "rb") as fh, torch.serialization._open_zipfile_reader(fh) as reader:
            if not reader.has_record("data.pkl"):
                return None
            return reader.get_record("data.pkl")
    except Exception:
        return None


def _globals_of(scans: list[Scan]) -> list[str]:
    found: list[str] = []
    for scan in scans:
        for name in scan.globals:
            if name not in found:
                found.append(name)
    return found


def _torch_safe_names() -> set[str]:
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return set(_get_allowed_globals())
    except Exception:  # pragma: no cover - a torch without it: allow nothing beyond the user's names
        return set()


def unsafe_globals(path: Path) -> list[str]:
    """The globals a pickle needs beyond torch's allowlist, found without unpickling it."""
    safe = _torch_safe_names()
    return [g for g in scan_globals(path) if g not in safe]


def scan_globals(path: Path, max_pickles: int = LEGACY_PICKLES) -> list[str]:
    """Every ``module.name`` a torch file's pickles reach (GLOBAL, INST, STACK_GLOBAL, OBJ, EXT)."""
    path = Path(path)
    with open(path, "rb") as fh:
        is_zip = fh.read(4) == ZIP_MAGIC
    scans, _ = _scan(path, is_zip, path.stat().st_size, [])
    return _globals_of(scans[:max_pickles])


# --- refusals --------------------------------------------------------------------------------------

def _show(text: str, limit: int = 120) -> str:
    """A name or message from the file, safe to print on one line: escapes, no terminal controls."""
    shown = text if text.isprintable() else ascii(text)[1:-1]
    return shown if len(shown) <= limit else shown[:limit] + "…"


def _refusal(path: Path, needed: list[str], offer_options: bool) -> InputError:
    shown = ", ".join(_show(g) for g in needed[:8]) + (f" and {len(needed) - 8} more" if len(needed) > 8 else "")
    harmful = [g for g in needed if is_harmful(g)]
    if harmful:
        return InputError(f"refusing to unpickle: it calls {', '.join(_show(g) for g in harmful[:8])}, which runs "
                          "code or touches the system; no checkpoint needs that", path,
                          hint="do not load this file, and do not pass --trust-pickle for it")
    if not all(is_plain(g) for g in needed):
        other = [g for g in needed if not is_plain(g)]
        return InputError(f"refusing to unpickle: it needs {shown}; {', '.join(_show(g) for g in other[:8])} "
                          f"{'is' if len(other) == 1 else 'are'} not a plain data type tensortool knows", path,
                          hint=TRUST_ONLY if offer_options else
                          "tensortool info never runs pickled code; only `tensortool ckpt inspect --trust-pickle` "
                          "reads it, and only for a file whose source you trust")
    flags = " ".join(f"--allow-global {g}" for g in needed)
    return InputError(f"refusing to unpickle objects outside torch's safe list: it needs {shown}", path,
                      hint=f"{'it is a plain data type' if len(needed) == 1 else 'they are plain data types'}: "
                           f"allow {'it' if len(needed) == 1 else 'them'} with {flags}" if offer_options else
                      f"tensortool info never runs pickled code; `tensortool ckpt inspect {flags}` can read it")


def _torch_refusal(path: Path, exc: BaseException, found: list[str], offer_options: bool) -> InputError:
    """torch refused what the scan let through (an opcode it does not read, a BUILD it does not allow):
    its reason, without its advice to allowlist things."""
    text = str(exc)
    reason = text.rsplit("WeightsUnpickler error:", 1)[-1].strip() if "WeightsUnpickler error:" in text else \
        (text.strip().splitlines() or [type(exc).__name__])[-1]
    reason = reason.split(" Please ", 1)[0].split("\n", 1)[0].strip().rstrip(".")
    hint = TRUST_ONLY if offer_options else \
        "tensortool info never runs pickled code; only `tensortool ckpt inspect --trust-pickle` reads it, and only " \
        "for a file whose source you trust"
    return InputError(f"refusing to unpickle: torch's weights-only loader cannot read it ({_show(reason, 200)})",
                      path, hint=hint)


# --- step 2: legacy storages -----------------------------------------------------------------------

class _TooBig(Exception):
    pass


class _Storages:
    """``map_location`` for legacy files: called once per storage the pickle declares, right after
    torch allocates it (uninitialised). Zeroes it, and refuses storages adding up to more than the
    file holds (they are filled from the file, so no real file needs more)."""

    def __init__(self, file_bytes: int):
        self.file_bytes = file_bytes
        self.total = 0
        self.count = 0

    def __call__(self, storage: Any, location: str) -> Any:
        nbytes = int(storage.nbytes())
        self.total += nbytes
        self.count += 1
        if self.total > self.file_bytes:
            raise _TooBig(f"its storages declare {self.total:,} bytes, more than the file's {self.file_bytes:,}: "
                          "damaged or crafted")
        if nbytes:
            storage.fill_(0)
        return storage


# --- step 3: the loaded object ---------------------------------------------------------------------

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


def resolve_global(name: str, path: Path | None = None) -> Any:
    """The object ``--allow-global name`` allows (``UsageError`` unless it is a plain data type)."""
    return resolve_allowed([name])[0][0]


__all__ = ["Loaded", "load_pickle", "audit", "resolve_global", "resolve_allowed", "scan_globals", "unsafe_globals",
           "OptionError"]
