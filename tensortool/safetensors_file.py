"""The .safetensors format, read and written by hand so that every byte is checked and streamed.

The safetensors library keeps the last of two duplicate names silently, and its ``save_file`` copies
every tensor into Python bytes first (2x RAM). Here the header is validated completely before any
data is touched, tensors are read as zero-copy views of a private file mapping, and writing streams
one tensor at a time. The safetensors library itself is the independent check (``verify``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

import torch

from .errors import InputError, q
from .filemap import FileMap, copy_range

MAX_HEADER_BYTES = 100_000_000  # the limit the safetensors library enforces
ALIGN = 8

# Format dtype names → torch dtypes (the ones this torch build has).
_DTYPE_NAMES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz", "F8_E8M0": "float8_e8m0fnu",
    "C64": "complex64", "C128": "complex128",
}
DTYPES: dict[str, torch.dtype] = {k: getattr(torch, v) for k, v in _DTYPE_NAMES.items() if hasattr(torch, v)}
DTYPE_NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class Entry:
    """One tensor's header entry: dtype, shape and its byte range within the data section."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass
class Header:
    """A validated header: entries in the file's own order, the metadata, where the data starts."""

    path: Path
    entries: dict[str, Entry]
    metadata: dict[str, str] = field(default_factory=dict)
    data_start: int = 0
    file_bytes: int = 0


def _bad(path: Path, problem: str) -> InputError:
    return InputError(f"not a valid safetensors file: {problem}", path)


def read_header(path: str | Path) -> Header:
    """Read and fully validate a safetensors header, without touching the tensor data.

    >>> header = read_header("model.safetensors")  # doctest: +SKIP
    >>> header.entries["fc.weight"].shape
    (10, 512)
    """
    src = Path(path)
    try:
        size = src.stat().st_size
        with open(src, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise _bad(src, f"the file is {len(head)} bytes, shorter than the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > MAX_HEADER_BYTES:
                raise _bad(src, f"header length {n:,} bytes is above the {MAX_HEADER_BYTES:,}-byte limit")
            if 8 + n > size:
                raise _bad(src, f"header length {n:,} bytes runs past the end of the {size:,}-byte file")
            raw = fh.read(n)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", src) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(src, f"header is not UTF-8 (byte {exc.start})") from None
    try:
        pairs = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_u64, parse_constant=_no_constant,
                           parse_float=_no_float)
    except _Duplicate as dup:
        raise _bad(src, f"key {dup.args[0]!r} appears twice in one object of the header") from None
    except _NotU64 as exc:
        raise _bad(src, f"header holds the number {exc.args[0]}, which is not a 64-bit unsigned integer") from None
    except json.JSONDecodeError as exc:
        raise _bad(src, f"header is not JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise _bad(src, "header is not JSON (nested too deeply)") from None
    if not isinstance(pairs, dict):
        raise _bad(src, "header is not a JSON object")
    metadata = pairs.pop("__metadata__", None)
    if metadata is None:  # null is what the format's own writer emits for "no metadata"
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(src, "__metadata__ must map names to strings")
    for key, value in metadata.items():
        if not (_utf8(key) and _utf8(value)):
            raise _bad(src, f"__metadata__ entry {key!r} holds a lone surrogate (not valid Unicode)")
    entries = {name: _entry(src, name, info) for name, info in pairs.items()}
    data_bytes = size - 8 - n
    _check_layout(src, entries, data_bytes)
    return Header(src, entries, metadata, data_start=8 + n, file_bytes=size)


_U64_MAX = 2**64 - 1
_INT64_MAX = 2**63 - 1


class _NotU64(ValueError):
    pass


def _u64(text: str) -> int:
    # Every number in a header is a shape or an offset (usize in the format's reference reader);
    # checking the digits first also keeps int() clear of Python's 4300-digit limit.
    if len(text) > 21 or abs(int(text)) > _U64_MAX:
        raise _NotU64(text[:30] + ("..." if len(text) > 30 else ""))
    return int(text)  # a negative one is refused where it is used, with its key


def _no_constant(text: str) -> object:
    raise _NotU64(text)


def _no_float(text: str) -> object:
    raise _NotU64(text[:30] + ("..." if len(text) > 30 else ""))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fits_int64(shape: list[int]) -> bool:
    """Whether every running product of the dimensions fits torch's int64 (torch multiplies them in
    order with an overflow check, so [2**62, 2**62, 0] fails although it holds nothing)."""
    product = 1
    for n in shape:
        product *= n
        if product > _INT64_MAX:
            return False
    return True


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _entry(src: Path, name: str, info: object) -> Entry:
    if not _utf8(name):
        raise _bad(src, f"tensor name {name!r} holds a lone surrogate (not valid Unicode)")
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise _bad(src, f"tensor {name!r}: the entry needs exactly dtype, shape and data_offsets")
    dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype_name not in DTYPES:
        raise _bad(src, f"tensor {name!r}: unknown dtype {dtype_name!r}")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise _bad(src, f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
    if not fits_int64(shape):
        raise _bad(src, f"tensor {name!r}: shape {shape} overflows 64 bits")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)
            and offsets[0] <= offsets[1]):
        raise _bad(src, f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end] with begin <= end")
    dtype = DTYPES[dtype_name]
    # Python integers cannot overflow; the check that matters is that the product matches the range.
    expected = dtype.itemsize
    for d in shape:
        expected *= d
    if expected != offsets[1] - offsets[0]:
        raise _bad(src, f"tensor {name!r}: shape {shape} of {dtype_name} needs {expected:,} bytes, "
                        f"data_offsets give {offsets[1] - offsets[0]:,}")
    return Entry(name, dtype, tuple(shape), offsets[0], offsets[1])


def _check_layout(src: Path, entries: dict[str, Entry], data_bytes: int) -> None:
    """Byte ranges must tile the data section exactly: no gap, no overlap, nothing after."""
    position = 0
    for entry in sorted(entries.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin < position:
            raise _bad(src, f"tensor {entry.name!r}: bytes {entry.begin:,}-{entry.end:,} overlap another tensor")
        if entry.begin > position:
            raise _bad(src, f"tensor {entry.name!r}: a gap of {entry.begin - position:,} bytes before it "
                            "(offsets are not contiguous)")
        position = entry.end
    if position > data_bytes:
        raise _bad(src, f"truncated: the header describes {position:,} bytes of data, the file holds {data_bytes:,}")
    if position < data_bytes:
        raise _bad(src, f"{data_bytes - position:,} trailing bytes after the last tensor")


class Mapped:
    """Tensors of a validated file as views of one private, read-on-demand mapping of it.

    Pages are read when touched, so opening costs nothing and memory follows what is used.
    """

    def __init__(self, header: Header):
        self.header = header
        nbytes = header.file_bytes
        if nbytes:
            storage = torch.UntypedStorage.from_file(str(header.path), shared=False, nbytes=nbytes)
            self._bytes = torch.empty(0, dtype=torch.uint8).set_(storage, 0, (nbytes,))
        else:
            self._bytes = torch.empty(0, dtype=torch.uint8)

    def tensor(self, name: str, *, copy: bool = False) -> torch.Tensor:
        """The named tensor; a view of the mapping, or its own memory with ``copy``."""
        entry = self.header.entries[name]
        start = self.header.data_start + entry.begin
        chunk = self._bytes[start:start + entry.nbytes]
        if copy or start % entry.dtype.itemsize:  # an unaligned view cannot be reinterpreted in place
            chunk = chunk.clone()
        return chunk.view(entry.dtype).reshape(entry.shape)


def tensor_bytes(t: torch.Tensor) -> torch.Tensor:
    """A tensor's data as a flat uint8 tensor in row-major order (a view when already contiguous)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    flat = t.contiguous().reshape(-1)
    if flat.numel() <= 1 and flat.stride(0) != 1:  # zero or one element may carry any stride; byte views need 1
        flat = flat.as_strided((flat.numel(),), (1,))
    return flat.view(torch.uint8)


def cast_dtype(t: torch.Tensor, cast: torch.dtype | None) -> torch.dtype:
    """The dtype a tensor is written in: ``cast`` applies to floating tensors only."""
    return cast if cast is not None and t.is_floating_point() else t.dtype


def layout(tensors: Iterable[tuple[str, torch.Tensor]], cast: torch.dtype | None = None
           ) -> tuple[dict[str, Entry], int]:
    """Byte ranges for tensors written largest item size first, so every tensor stays aligned."""
    items = [(name, t, cast_dtype(t, cast)) for name, t in tensors]
    order = sorted(range(len(items)), key=lambda i: -items[i][2].itemsize)  # stable: key order kept
    entries: dict[str, Entry] = {}
    position = 0
    for i in order:
        name, t, dtype = items[i]
        if dtype not in DTYPE_NAMES:
            raise InputError(f"tensor {q(name)} has dtype {dtype}, which safetensors cannot hold")
        nbytes = t.numel() * dtype.itemsize
        entries[name] = Entry(name, dtype, tuple(t.shape), position, position + nbytes)
        position += nbytes
    # The header lists tensors in the caller's order; data follows the aligned order.
    return {name: entries[name] for name, _, _ in items}, position


def header_bytes(entries: dict[str, Entry], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = metadata
    for e in entries.values():
        header[e.name] = {"dtype": DTYPE_NAMES[e.dtype], "shape": list(e.shape), "data_offsets": [e.begin, e.end]}
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % ALIGN)  # pad so the data section starts 8-byte aligned
    return len(raw).to_bytes(8, "little") + raw


def write_safetensors(fh: BinaryIO, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
                      cast: torch.dtype | None = None, files: FileMap | None = None) -> None:
    """Stream tensors into an open file: header first, then each tensor's bytes in aligned order.

    A tensor that is a plain view of a mapped source file (see ``files``) is copied file to file in
    the kernel; any other is materialised alone (only if it is cast or not contiguous) and written.
    """
    entries, _ = layout(tensors.items(), cast)
    fh.write(header_bytes(entries, metadata))
    for entry in sorted(entries.values(), key=lambda e: e.begin):
        t = tensors[entry.name]
        where = files.locate(t) if files is not None and t.dtype == entry.dtype else None
        if where is not None:
            fh.flush()
            copy_range(files.fd(where[0]), fh.fileno(), where[1], entry.nbytes)
            continue
        data = tensor_bytes(t.to(entry.dtype))
        if data.numel():
            fh.write(memoryview(data.numpy()))
    fh.flush()
