"""Loading torch pickles without running their code.

A pickle is read in three steps:

1. Its opcodes are scanned without running them (``pickle_scan``): every global it can reach, and
   every call it would make with arguments that are not plain data. A file that needs a global outside
   torch's allowlist and the ones the user allowed, or that would make such a call, is refused here,
   with a message that names the globals. The hint suggests ``allow_globals`` only for names on the
   static list of plain data types (``pickle_globals.PLAIN``); anything else gets "only trust_pickle,
   and only for a file whose source you trust", and code-running globals are called that.
2. ``torch.load(weights_only=True)`` (memory-mapped for zip files), with the allowed globals registered
   under the exact names the file uses. A legacy (non-zip) file's storages are zeroed as they are
   allocated and may add up to no more than the file holds: storages the file does not fill stay zero
   rather than showing whatever memory held before.
3. The object is checked before anyone walks it (``pickle_audit``): no cycles, bounded nesting, shared
   parts and tensor views adding up to no more than a few times the file's size (a stride-0 view of 4
   bytes can claim 2**62 elements), tensors on the CPU with data.

We never fall back to ``weights_only=False`` ourselves: only ``trust_pickle`` does that.
"""

from __future__ import annotations

import enum
import io
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from .errors import InputError, OptionError, literal
from .pickle_audit import REPEAT_FACTOR, audit
from .pickle_globals import PLAIN, TRUST_ONLY, is_harmful, is_plain, resolve_allowed
from .pickle_scan import Scan

ZIP_MAGIC = b"PK\x03\x04"
ZIP_RATIO = 64             # beyond ZIP_FREE_BYTES, zip records may expand this much (torch.save stores them)
ZIP_FREE_BYTES = 1 << 30
LEGACY_PICKLES = 5         # magic number, protocol, system info, the object, the storage keys


@dataclass
class Loaded:
    """What a pickle held, and how it was read."""

    obj: Any
    format: str  # "torch zip" or "torch legacy"
    mmap: bool
    warnings: list[str] = field(default_factory=list)


def load_pickle(path: Path, *, allow_globals: Iterable[str] = (), trust: bool = False) -> Loaded:
    """Load a torch checkpoint with ``weights_only=True`` (memory-mapped when the file allows it).

    ``allow_globals``: names of plain data types the file may use beyond torch's allowlist (see
    ``pickle_globals``). A refusal's hint suggests ``{allow_globals=name}`` only for names on that
    static list, and never for a global that runs code.

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
        return Loaded(obj, fmt, is_zip, ["{trust_pickle=True}: the file's pickled code was allowed to run"])

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
        raise _refusal(path, needed)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"refusing to unpickle: {_show(problems[0], 300)}{more}; no checkpoint needs that", path,
                         hint=DO_NOT_TRUST)
    budget = _Storages(size)
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "pickle protocol 4": not the user's concern
            obj = _load(path, weights_only=True, mmap=is_zip, restore=None if is_zip else budget)
    except _TooBig as exc:
        raise InputError(str(exc), path) from None
    except pickle.UnpicklingError as exc:
        raise _torch_refusal(path, exc) from None
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
    return literal(shown if len(shown) <= limit else shown[:limit] + "…")


DO_NOT_TRUST = "do not load this file, and do not pass {trust_pickle=True} for it"


def _refusal(path: Path, needed: list[str]) -> InputError:
    shown = ", ".join(_show(g) for g in needed[:8]) + (f" and {len(needed) - 8} more" if len(needed) > 8 else "")
    harmful = [g for g in needed if is_harmful(g)]
    if harmful:
        return InputError(f"refusing to unpickle: it calls {', '.join(_show(g) for g in harmful[:8])}, which runs "
                          "code or touches the system; no checkpoint needs that", path,
                          hint=DO_NOT_TRUST)
    if not all(is_plain(g) for g in needed):
        other = [g for g in needed if not is_plain(g)]
        return InputError(f"refusing to unpickle: it needs {shown}; {', '.join(_show(g) for g in other[:8])} "
                          f"{'is' if len(other) == 1 else 'are'} not a plain data type tensortool knows", path,
                          hint=TRUST_ONLY)
    # Every name here is on the static plain-data list (is_plain above): only those may be suggested.
    flags = " ".join(f"{{allow_globals={g}}}" for g in needed)
    return InputError(f"refusing to unpickle objects outside torch's safe list: it needs {shown}", path,
                      hint=f"{'it is a plain data type' if len(needed) == 1 else 'they are plain data types'}: "
                           f"allow {'it' if len(needed) == 1 else 'them'} with {flags}")


def _torch_refusal(path: Path, exc: BaseException) -> InputError:
    """torch refused what the scan let through (an opcode it does not read, a BUILD it does not allow):
    its reason, without its advice to allowlist things."""
    text = str(exc)
    reason = text.rsplit("WeightsUnpickler error:", 1)[-1].strip() if "WeightsUnpickler error:" in text else \
        (text.strip().splitlines() or [type(exc).__name__])[-1]
    reason = reason.split(" Please ", 1)[0].split("\n", 1)[0].strip().rstrip(".")
    return InputError(f"refusing to unpickle: torch's weights-only loader cannot read it ({_show(reason, 200)})",
                      path, hint=TRUST_ONLY)


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


def resolve_global(name: str, path: Path | None = None) -> Any:
    """The object ``allow_globals=[name]`` allows (``UsageError`` unless it is a plain data type)."""
    return resolve_allowed([name])[0][0]


__all__ = ["Loaded", "load_pickle", "audit", "resolve_global", "resolve_allowed", "scan_globals", "unsafe_globals",
           "OptionError"]
