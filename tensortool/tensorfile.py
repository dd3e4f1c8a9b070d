"""Read and write .pt / .safetensors / .npy / .npz: atomic writes, safe loads.

Writers never leave a partial file (temporary file in the target folder, then a rename),
never replace an existing file without ``force`` and never write over one of the inputs.
Readers never execute pickled code: .pt is loaded with ``weights_only=True``, numpy files
with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .atomic import atomic_write_many, check_output, remove_stale_temporaries
from .bundle import Bundle
from .errors import InputError, OutputError, q
from .safetensors_file import read_header

FORMATS = (".pt", ".safetensors", ".npy", ".npz")
META_KEY = "tensortool"  # safetensors header metadata key holding the JSON meta
_NUMPY_LACKS = {torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2}


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".pth":
        suffix = ".pt"
    if suffix not in FORMATS:
        raise OutputError(f"unknown output format {q(Path(path).suffix)}", path,
                          hint="use .pt, .safetensors, .npy or .npz")
    return suffix


def check_tensor_output(path: str | Path, *, force: bool = False, inputs: Iterable[str | Path] = (),
                        dtypes: Iterable[torch.dtype] = ()) -> str:
    """Everything about a tensor output that can be checked before any work: the format, the
    file itself (see :func:`check_output`) and whether the format can hold ``dtypes``."""
    fmt = output_format(path)
    check_output(path, force=force, inputs=inputs)
    if fmt in (".npy", ".npz"):
        for dtype in dtypes:
            if dtype in _NUMPY_LACKS:
                raise OutputError(f"numpy has no {str(dtype).removeprefix('torch.')} type", path,
                                  hint="write .pt or .safetensors, or choose {dtype=float32}")
    return fmt


def check_npy_tensors(path: str | Path, names: Iterable[str]) -> None:
    """.npy holds one array: refuse a result of several tensors (labels, targets...) rather than
    write the first and silently drop the rest."""
    names = list(names)
    if output_format(path) == ".npy" and len(names) > 1:
        raise OutputError(f".npy holds one array, but this result has {len(names)} tensors "
                          f"({', '.join(names)})", path,
                          hint="write .npz (every tensor plus the metadata), .pt or .safetensors")


def npy_drops_meta(bundle: Bundle) -> str | None:
    """What a .npy of ``bundle`` leaves out: its metadata (said as a warning, not refused: one
    array is what .npy is for)."""
    keys = [k for k, v in bundle.meta.items()
            if k not in ("warnings", "tensortool_version") and v not in (None, [], {})]
    if not keys:
        return None
    shown = ", ".join(keys[:6]) + (", …" if len(keys) > 6 else "")
    return (f".npy holds the {bundle.primary} array only; its metadata ({shown}) is not stored: "
            "write .npz to keep it")


def atomic_write(path: str | Path, write: Callable[[Path], None], *, force: bool = False,
                 inputs: Iterable[str | Path] = ()) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place.

    Without ``force`` the final step is a hard link, which fails if ``path`` appeared in the
    meantime, so a file created by someone else is never clobbered.
    """
    return atomic_write_many([path], lambda tmps: write(tmps[0]), force=force, inputs=inputs)[0]


def write_bundle(bundle: Bundle, path: str | Path, *, force: bool = False,
                 inputs: Iterable[str | Path] = ()) -> Path:
    """Write ``bundle`` in the format its suffix names, atomically.

    .pt: ``{name: tensor, ..., "meta": dict}`` (``torch.load(path, weights_only=True)`` reads it);
    .safetensors: the tensors, meta JSON-encoded under the header metadata key ``tensortool``;
    .npy: a bundle of one tensor only (several are refused), without ``meta`` (a line saying
    so is added to ``meta["warnings"]``); .npz: every tensor plus ``meta`` as a JSON string.

    >>> write_bundle(Bundle({"x": torch.ones(2)}, {"layout": None}), "/tmp/x.pt", force=True).name
    'x.pt'
    """
    fmt = output_format(path)
    written = list(bundle.tensors)
    check_tensor_output(path, force=force, inputs=inputs, dtypes=[bundle[n].dtype for n in written])
    check_npy_tensors(path, written)
    if any(bundle[n].layout != torch.strided for n in written):
        check_sparse_output(path)
    tensors = {name: t.detach().cpu() for name, t in bundle.tensors.items()}
    tensors = {name: t.contiguous() if t.layout == torch.strided else t.coalesce() for name, t in tensors.items()}
    meta_json = json.dumps(bundle.meta)

    def write(tmp: Path) -> None:
        if fmt == ".pt":
            # Through a handle: given a path, torch.save names the archive's inner folder after
            # the (random, temporary) file name, and identical data would give different bytes.
            with open(tmp, "wb") as fh:
                torch.save({**tensors, "meta": bundle.meta}, fh)
        elif fmt == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(tmp), metadata={META_KEY: meta_json})
        elif fmt == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, tensors[bundle.primary].numpy(), allow_pickle=False)
        else:
            arrays = {name: t.numpy() for name, t in tensors.items()}
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays, meta=np.array(meta_json))

    written_to = atomic_write(path, write, force=force, inputs=inputs)
    dropped = npy_drops_meta(bundle) if fmt == ".npy" else None
    if dropped:
        warnings = bundle.meta.setdefault("warnings", [])
        if isinstance(warnings, list) and dropped not in warnings:
            warnings.append(dropped)
    return written_to


def sniff_not_a_tensor_file(path: Path, head: bytes) -> None:
    if head.startswith(b"version https://git-lfs"):
        raise InputError("this is a Git LFS pointer, not the data file", path, hint="run git lfs pull")
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise InputError("this is an HTML page, not a tensor file", path,
                         hint="the download saved a web page; fetch the raw file")


def read_bundle(path: str | Path) -> Bundle:
    """Load a .pt/.pth/.safetensors/.npy/.npz file without executing any pickled code.

    Nested dicts and lists of tensors in .pt files get dotted names (``model.layer.weight``);
    non-tensor values go to ``meta`` (a tensortool ``meta`` dict is taken as it is).
    """
    src = Path(path)
    if not src.is_file():
        raise InputError("no such file" if not src.exists() else "not a file", src)
    fmt = src.suffix.lower()
    with open(src, "rb") as fh:
        head = fh.read(64)
    sniff_not_a_tensor_file(src, head)
    if fmt in (".pt", ".pth", ".bin", ".ckpt"):
        return _read_pt(src)
    if fmt == ".safetensors":
        return _read_safetensors(src)
    if fmt == ".npy":
        return _read_numpy(src, single=True)
    if fmt == ".npz":
        return _read_numpy(src, single=False)
    raise InputError(f"unknown tensor file format {q(src.suffix)}", src,
                     hint="expected .pt, .pth, .safetensors, .npy or .npz")


def _read_pt(src: Path) -> Bundle:
    from .pickle_load import load_pickle  # lazy: torch's unpickler internals are not needed otherwise

    try:
        obj = load_pickle(src).obj
    except InputError as exc:  # the allow/trust parameters are the checkpoint readers'
        exc.hint = exc.hint and f"read it as a checkpoint (ckpt inspect, convert): {exc.hint}"
        raise
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and isinstance(obj.get("meta"), dict):
        meta = dict(obj["meta"])
        obj = {k: v for k, v in obj.items() if k != "meta"}
    _flatten(obj, "", tensors, other)
    if other:
        meta.setdefault("other", other)
    return Bundle(tensors, meta)


def _flatten(obj: Any, prefix: str, tensors: dict, other: dict) -> None:
    if isinstance(obj, torch.Tensor):
        tensors[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), tensors, other)
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, (torch.Tensor, dict, list, tuple)) for v in obj):
        for i, value in enumerate(obj):
            _flatten(value, f"{prefix}.{i}" if prefix else str(i), tensors, other)
    else:
        other[prefix or "value"] = obj if isinstance(obj, (int, float, str, bool, type(None))) else repr(obj)


def _read_safetensors(src: Path) -> Bundle:
    from safetensors import SafetensorError, safe_open

    read_header(src)  # the full validation first: the library accepts duplicate names and more
    try:
        with safe_open(str(src), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"not a valid safetensors file: {exc}", src) from None
    meta: dict[str, Any] = {}
    if META_KEY in header:
        try:
            meta = json.loads(header[META_KEY])
        except (ValueError, RecursionError):  # not JSON, nested too deeply, a 5000-digit number
            raise InputError(f"header metadata {q(META_KEY)} is not valid JSON", src) from None
        if not isinstance(meta, dict):
            raise InputError(f"header metadata {q(META_KEY)} is not a JSON object", src)
    rest = {k: v for k, v in header.items() if k != META_KEY}
    if rest:
        meta.setdefault("safetensors_metadata", rest)
    return Bundle(tensors, meta)


# A compressed .npz may expand past this only at a ratio real data has (np.savez_compressed of an all-zero
# mask reaches 1000:1, so small files may; a 20 MB file inflating to 20 GB is a zip bomb).
NPZ_RATIO = 64
NPZ_FREE_BYTES = 1 << 30


def _read_numpy(src: Path, *, single: bool) -> Bundle:
    if not single:
        _check_npz_members(src)
    try:
        if single:
            arrays = {"array": np.load(src, allow_pickle=False)}
        else:
            with np.load(src, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError("holds pickled Python objects; refusing to load them", src) from None
        raise InputError(f"not a readable numpy file: {_first_line(exc)}", src) from None
    except Exception as exc:  # a damaged header makes numpy's parser raise SyntaxError, TokenError, ...
        raise InputError(f"not a readable numpy file: {_first_line(exc)}", src) from None
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):  # an .npz member not named *.npy: numpy returns its bytes
            raise InputError(f"member {str(name)[:100]!r} is not a .npy array", src)
    meta: dict[str, Any] = {}
    if "meta" in arrays and arrays["meta"].dtype.kind == "U" and arrays["meta"].ndim == 0:
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except json.JSONDecodeError:
            pass
    tensors = {}
    for name, arr in arrays.items():
        try:
            tensors[name] = torch.from_numpy(np.ascontiguousarray(arr))
        except TypeError:
            raise InputError(f"array {q(name)} has dtype {arr.dtype}, which torch cannot hold", src) from None
    return Bundle(tensors, meta)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return (line if line.isprintable() else ascii(line)[1:-1])[:200]


def _check_npz_members(src: Path) -> None:
    """Refuse members that would inflate to gigabytes at a ratio no real data has (a zip bomb)."""
    try:
        with zipfile.ZipFile(src) as zf:
            infos = zf.infolist()
    except Exception:
        return  # numpy says what is wrong with it
    total = sum(info.file_size for info in infos)
    if total > NPZ_FREE_BYTES and total > NPZ_RATIO * src.stat().st_size:
        raise InputError(f"its members expand {src.stat().st_size:,} bytes into {total:,} (a zip bomb)", src)


def check_sparse_output(path: str | Path) -> None:
    """Only .pt holds sparse tensors: safetensors and numpy have no sparse type."""
    if output_format(path) != ".pt":
        raise OutputError("sparse tensors can only be written to .pt (safetensors and numpy have no sparse "
                          "type)", path, hint="write .pt, or leave out {sparse} and keep the index form 'tokens'")


__all__ = ["FORMATS", "META_KEY", "atomic_write", "atomic_write_many", "check_npy_tensors", "check_output",
           "check_sparse_output", "check_tensor_output", "npy_drops_meta", "output_format", "read_bundle",
           "remove_stale_temporaries", "sniff_not_a_tensor_file", "write_bundle"]
