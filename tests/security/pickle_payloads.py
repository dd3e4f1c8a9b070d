"""A corpus of malicious pickles, written opcode by opcode, each wrapped the ways torch reads pickles.

Two families:

- ``code_payloads``: each reaches a standard-library (or torch/numpy) function that runs code, by a
  different route (GLOBAL, STACK_GLOBAL with names from the memo, INST, OBJ, NEWOBJ, NEWOBJ_EX, REDUCE on
  a computed object, BUILD through ``__setstate__``, a global hidden in a persistent id), and **creates its
  marker file if it runs**. Nothing may ever create one.
- ``resource_payloads``: only what torch's weights-only unpickler allows, arranged to fill memory,
  hang, crash a consumer or show uninitialised memory. Sizes are kept small enough that a failure shows
  as a wrong exit code rather than an exhausted machine.

``wrap`` puts a pickle into every container torch reads one from: ``data.pkl`` in a torch zip, the
object pickle of a legacy ``torch.save`` file, the system-info pickle before it (torch unpickles that
too), and a bare pickle (read as a legacy file's first pickle). Everything is generated into a folder
given by the test; nothing here touches anything else.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

P = pickle


# --- opcode helpers -------------------------------------------------------------------------------

def s(text: str) -> bytes:
    """BINUNICODE: a str, protocol 1+ (what torch reads)."""
    data = text.encode("utf-8")
    return P.BINUNICODE + struct.pack("<I", len(data)) + data


def s8(text: str) -> bytes:
    """SHORT_BINUNICODE (protocol 4): torch's weights-only unpickler does not read it."""
    data = text.encode("utf-8")
    return P.SHORT_BINUNICODE + bytes([len(data)]) + data


def b(data: bytes) -> bytes:
    return P.SHORT_BINBYTES + bytes([len(data)]) + data if len(data) < 256 else \
        P.BINBYTES + struct.pack("<I", len(data)) + data


def i(n: int) -> bytes:
    if 0 <= n < 256:
        return P.BININT1 + bytes([n])
    if -2**31 <= n < 2**31:
        return P.BININT + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return P.LONG1 + bytes([len(raw)]) + raw


def g(module: str, name: str) -> bytes:
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def sg(module: str, name: str) -> bytes:
    return s8(module) + s8(name) + P.STACK_GLOBAL


def put(n: int) -> bytes:
    return P.BINPUT + bytes([n])


def get(n: int) -> bytes:
    return P.BINGET + bytes([n])


def tup(*parts: bytes) -> bytes:
    if len(parts) == 0:
        return P.EMPTY_TUPLE
    if len(parts) <= 3:
        return b"".join(parts) + (P.TUPLE1, P.TUPLE2, P.TUPLE3)[len(parts) - 1]
    return P.MARK + b"".join(parts) + P.TUPLE


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + P.REDUCE


def proto(body: bytes, version: int = 2) -> bytes:
    return P.PROTO + bytes([version]) + body + P.STOP


def in_dict(value: bytes) -> bytes:
    """{"weight": value}: the payload sits where a checkpoint's entry would."""
    return P.EMPTY_DICT + s("weight") + value + P.SETITEM


# --- the payloads ---------------------------------------------------------------------------------

@dataclass
class Payload:
    name: str
    pickle: bytes
    marker: Path | None          # created if the payload's code runs
    bare: bool = True            # also written as a bare pickle


def _py(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _sh(marker: Path) -> str:
    return f"touch '{marker}'"


def code_payloads(folder: Path) -> list[Payload]:
    """Payloads that create ``folder/<name>.marker`` if they run."""
    out: list[Payload] = []

    def add(name: str, build: Callable[[Path], bytes], version: int = 2, *, bare: bool = True) -> None:
        marker = folder / f"{name}.marker"
        out.append(Payload(name, proto(in_dict(build(marker)), version), marker, bare))

    # GLOBAL + REDUCE, one per target.
    add("os.system", lambda m: call(g("os", "system"), s(_sh(m))))
    add("posix.system", lambda m: call(g("posix", "system"), s(_sh(m))))
    add("nt.system", lambda m: call(g("nt", "system"), s(_sh(m))))
    add("subprocess.check_call", lambda m: call(g("subprocess", "check_call"), P.EMPTY_LIST + s("sh") + P.APPEND
                                                + s("-c") + P.APPEND + s(_sh(m)) + P.APPEND))
    add("subprocess.Popen", lambda m: g("subprocess", "Popen") + P.MARK + s(_sh(m)) + i(-1) + P.NONE + P.NONE
        + P.NONE + P.NONE + P.NONE + P.NEWTRUE + P.NEWTRUE + P.TUPLE + P.REDUCE)
    add("builtins.eval", lambda m: call(g("builtins", "eval"), s(_py(m))))
    add("__builtin__.eval", lambda m: call(g("__builtin__", "eval"), s(_py(m))))
    add("builtins.exec", lambda m: call(g("builtins", "exec"), s(_py(m))))
    add("builtins.compile", lambda m: call(g("builtins", "exec"), call(g("builtins", "compile"), s(_py(m)), s("x"),
                                                                      s("exec"))))
    add("builtins.__import__", lambda m: call(call(g("builtins", "getattr"), call(g("builtins", "__import__"),
                                                                                    s("os")), s("system")), s(_sh(m))))
    add("builtins.getattr", lambda m: call(call(g("builtins", "getattr"), call(g("importlib", "import_module"),
                                                                                s("os")), s("system")), s(_sh(m))))
    add("runpy._run_code", lambda m: call(g("runpy", "_run_code"), s(_py(m)), P.EMPTY_DICT))
    add("timeit.timeit", lambda m: call(g("timeit", "timeit"), s("pass"), s(_py(m))))
    add("timeit.Timer", lambda m: call(call(g("builtins", "getattr"), call(g("timeit", "Timer"), s(_py(m))),
                                            s("timeit")), i(1)))
    add("cProfile.run", lambda m: call(g("cProfile", "run"), s(_py(m))))
    add("profile.run", lambda m: call(g("profile", "run"), s(_py(m))))
    add("pdb.run", lambda m: call(g("pdb", "run"), s(_py(m))))
    add("trace.Trace", lambda m: call(call(g("builtins", "getattr"), call(g("trace", "Trace"), i(0), i(0)),
                                           s("run")), s(_py(m))))
    add("doctest.run_docstring_examples", lambda m: call(g("doctest", "run_docstring_examples"),
                                                         s(f">>> {_py(m)}\n"), P.EMPTY_DICT))
    add("code.InteractiveInterpreter", lambda m: call(call(g("builtins", "getattr"),
                                                           call(g("code", "InteractiveInterpreter")),
                                                           s("runsource")), s(_py(m))))
    add("ctypes.CDLL", lambda m: call(call(g("builtins", "getattr"), call(g("ctypes", "CDLL"), P.NONE), s("system")),
                                      b(_sh(m).encode())), version=3)
    add("multiprocessing.Process", lambda m: call(call(g("builtins", "getattr"), call(
        g("multiprocessing", "Process"), P.NONE, g("os", "system"), P.NONE, tup(s(_sh(m)))), s("run"))))
    add("functools.partial", lambda m: call(call(g("functools", "partial"), g("timeit", "timeit"), s("pass"),
                                                 s(_py(m)))))
    add("operator.methodcaller", lambda m: call(call(g("operator", "methodcaller"), s("system"), s(_sh(m))),
                                                call(g("importlib", "import_module"), s("os"))))
    add("operator.attrgetter", lambda m: call(call(call(g("operator", "attrgetter"), s("system")),
                                                   call(g("importlib", "import_module"), s("os"))), s(_sh(m))))
    add("importlib.import_module", lambda m: call(call(g("builtins", "getattr"),
                                                       call(g("importlib", "import_module"), s("os")), s("system")),
                                                  s(_sh(m))))
    inner = folder / "inner_evil.pkl"
    inner_marker = folder / "torch.load.marker"
    inner.write_bytes(proto(call(g("os", "system"), s(_sh(inner_marker)))))
    out.append(Payload("torch.load", proto(in_dict(call(g("torch", "load"), s(str(inner)), P.NONE,
                                                        call(g("importlib", "import_module"), s("pickle"))))),
                       inner_marker))
    npy = folder / "inner_evil.npy"
    npy_marker = folder / "numpy.load.marker"
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    npy.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
                    + proto(call(g("os", "system"), s(_sh(npy_marker)))))
    out.append(Payload("numpy.load", proto(in_dict(call(g("numpy", "load"), s(str(npy)), P.NONE, P.NEWTRUE))),
                       npy_marker))

    # The same targets reached by other opcodes.
    add("STACK_GLOBAL", lambda m: sg("os", "system") + s8(_sh(m)) + P.TUPLE1 + P.REDUCE, version=4)
    add("STACK_GLOBAL-memo", lambda m: s8("os") + P.MEMOIZE + s8("system") + P.MEMOIZE + P.POP + P.POP
        + s8("x") + P.POP + get(0) + get(1) + P.STACK_GLOBAL + s8(_sh(m)) + P.TUPLE1 + P.REDUCE, version=4)
    add("memo-callable", lambda m: s("decoy") + put(7) + P.POP + g("builtins", "exec") + put(3) + P.POP
        + s("weight") + P.POP + get(3) + s(_py(m)) + P.TUPLE1 + P.REDUCE)
    add("memo-name-STACK_GLOBAL", lambda m: P.MARK + s8("subprocess") + put(1) + s8("getoutput") + put(2) + P.POP_MARK
        + get(1) + get(2) + P.STACK_GLOBAL + s8(_sh(m)) + P.TUPLE1 + P.REDUCE, version=4)
    add("INST", lambda m: P.MARK + s(_sh(m)) + P.INST + b"os\nsystem\n", version=0)
    add("INST-eval", lambda m: P.MARK + s(_py(m)) + P.INST + b"builtins\neval\n", version=0)
    add("OBJ", lambda m: P.MARK + g("os", "system") + s(_sh(m)) + P.OBJ, version=1)
    add("NEWOBJ", lambda m: call(g("functools", "partial") + tup(g("builtins", "exec"), s(_py(m))) + P.NEWOBJ))
    add("NEWOBJ_EX", lambda m: call(g("functools", "partial") + tup(g("builtins", "exec"), s(_py(m))) + P.EMPTY_DICT
                                     + P.NEWOBJ_EX), version=4)
    add("BUILD-setstate", lambda m: call(g("functools", "partial") + tup(g("builtins", "print")) + P.NEWOBJ
                                         + tup(g("builtins", "exec"), tup(s(_py(m))), P.EMPTY_DICT, P.NONE)
                                         + P.BUILD))
    add("BUILD-in-sysinfo-shape", lambda m: g("argparse", "Namespace") + P.EMPTY_TUPLE + P.NEWOBJ
        + P.EMPTY_DICT + s("x") + call(g("os", "system"), s(_sh(m))) + P.SETITEM + P.BUILD)
    add("PERSID-global", lambda m: tup(s("storage"), call(g("os", "system"), s(_sh(m))), s("0"), s("cpu"), i(1))
        + P.BINPERSID)
    add("PERSID-protocol0", lambda m: P.PERSID + b"x\n" + P.POP + call(g("os", "system"), s(_sh(m))), version=0)
    add("DUP-twice", lambda m: g("builtins", "exec") + P.DUP + P.POP + s(_py(m)) + P.TUPLE1 + P.REDUCE)
    add("EXT-code", lambda m: P.EXT1 + bytes([1]) + s(_py(m)) + P.TUPLE1 + P.REDUCE)
    # Plain types first, then the code: a hint for the plain ones must not get the rest through.
    add("plain-then-code", lambda m: call(g("argparse", "Namespace")) + P.POP + call(g("collections", "defaultdict"))
        + P.POP + call(g("timeit", "timeit"), s("pass"), s(_py(m))))
    add("numpy-then-code", lambda m: call(g("numpy.core.multiarray", "_reconstruct"), g("numpy", "ndarray"),
                                          tup(i(0)), call(g("_codecs", "encode"), s("b"), s("latin1"))) + P.POP
        + call(call(g("functools", "partial"), g("builtins", "exec"), s(_py(m)))))
    # Names that are refused without being imported (importing them runs code).
    add("antigravity", lambda m: call(g("antigravity", "geohash"), s(_py(m))))
    add("this", lambda m: call(g("this", "s"), s(_py(m))))
    return out


def _stride0(numel: int, nbytes_in_file: int = 4) -> tuple[bytes, dict[str, bytes]]:
    storage = tup(s("storage"), g("torch", "FloatStorage"), s("0"), s("cpu"), i(nbytes_in_file // 4)) + P.BINPERSID
    tensor = call(g("torch._utils", "_rebuild_tensor_v2"), storage, i(0), tup(i(numel)), tup(i(0)), P.NEWFALSE,
                  call(g("collections", "OrderedDict")))
    return tensor, {"0": bytes(nbytes_in_file)}


def resource_payloads(folder: Path) -> list[Payload]:
    """Pickles made only of what torch allows, that would exhaust memory or time, crash a consumer or
    show uninitialised memory. ``storages`` (zip only) go in the ``data/`` folder of the archive."""
    out: list[Payload] = []

    def add(name: str, body: bytes, *, bare: bool = True) -> None:
        out.append(Payload(name, proto(in_dict(body)), None, bare))

    add("bytearray-size", call(g("builtins", "bytearray"), i(2**28)))
    chain = call(g("_codecs", "encode"), s("x" * 8), s("latin1"))
    for _ in range(20):  # 8 bytes -> 8 MB; 40 levels would be 8 TB
        chain = call(g("_codecs", "encode"), chain, s("hex"))
    add("codec-chain", chain)
    shared = P.EMPTY_LIST + P.MARK + b"".join(i(k) for k in range(200)) + P.APPENDS + put(1)
    add("set-of-shared-list", P.EMPTY_LIST + put(2) + P.POP + shared + P.POP + get(2) + P.MARK
        + b"".join(call(g("builtins", "set"), get(1)) for _ in range(200)) + P.APPENDS)
    # A tuple whose halves are the same tuple, 60 levels: hashing it walks 2**60 items.
    dag = s("x") + put(0)
    for level in range(1, 61):
        dag += P.POP + get(level - 1) + get(level - 1) + P.TUPLE2 + put(level)
    add("tuple-dag-hash", P.EMPTY_DICT + dag + s("v") + P.SETITEM)
    add("tuple-dag-set", call(g("builtins", "set"), P.EMPTY_LIST + dag + P.APPEND))
    deep = s("x")
    for _ in range(2000):
        deep += P.TUPLE1
    add("deep-tuples", deep)
    nested = b"".join(P.EMPTY_LIST for _ in range(3000)) + b"".join(P.APPEND for _ in range(2999))
    add("deep-lists", nested)
    add("cycle", P.EMPTY_LIST + put(0) + get(0) + P.APPEND)
    add("cycle-dict", P.EMPTY_DICT + put(0) + s("self") + get(0) + P.SETITEM)
    # [[[...x]*2]*2]*2 ..., 40 levels: flattening or printing it walks 2**40 lists.
    bomb = P.EMPTY_LIST + s("x" * 100) + P.APPEND + put(0)
    for level in range(1, 41):
        bomb += P.EMPTY_LIST + get(level - 1) + P.APPEND + get(level - 1) + P.APPEND + put(level)
    add("list-dag", bomb)
    add("tensor-from-size", call(g("torch", "FloatTensor"), i(64)))
    add("Tensor-new", g("torch", "Tensor") + tup(i(64)) + P.NEWOBJ)
    add("storage-new", call(g("torch._utils", "_rebuild_tensor_v3"), g("torch.storage", "UntypedStorage")
                            + tup(i(256)) + P.NEWOBJ, i(0), tup(i(64)), tup(i(1)), P.NEWFALSE,
                            call(g("collections", "OrderedDict")), g("torch", "float32")))
    add("numpy-object-alloc", call(g("numpy.core.multiarray", "_reconstruct"), g("numpy", "ndarray"),
                                   tup(i(2**24)), s("O")))
    add("wrapper-subclass", call(g("torch._utils", "_rebuild_wrapper_subclass"), g("torch", "Tensor"),
                                 g("torch", "float32"), tup(i(4)), tup(i(1)), i(0), g("torch", "strided"),
                                 call(g("torch", "device"), s("cpu")), P.NEWFALSE))
    add("meta-tensor", call(g("torch._utils", "_rebuild_meta_tensor_no_storage"), g("torch", "float32"),
                            tup(i(2**20), i(2**20)), tup(i(2**20), i(1)), P.NEWFALSE))
    add("shared-state-build", call(g("collections", "OrderedDict")) + P.EMPTY_DICT
        + P.MARK + b"".join(s(f"k{k}") + i(k) for k in range(100)) + P.SETITEMS + put(5) + P.BUILD
        + P.POP + b"".join(call(g("collections", "OrderedDict")) + get(5) + P.BUILD + P.POP for _ in range(100))
        + P.NONE)
    tensor, _ = _stride0(2**27)
    out.append(Payload("stride0-view", proto(in_dict(tensor)), None, bare=False))
    return out


# --- containers -----------------------------------------------------------------------------------

def torch_zip(pkl: bytes, storages: dict[str, bytes] | None = None) -> bytes:
    """A torch zip archive around ``pkl`` (records as torch's reader expects them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def _legacy_parts() -> list[bytes]:
    """The five pickles of a legacy torch.save file of ``{}``: magic, protocol, sys info, object, keys."""
    buf = io.BytesIO()
    torch.save({}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    import pickletools

    parts, fh, start = [], io.BytesIO(data), 0
    for _ in range(5):
        for _op in pickletools.genops(fh):
            pass
        parts.append(data[start:fh.tell()])
        start = fh.tell()
    return parts


def wrap(payload: Payload, folder: Path, storages: dict[str, bytes] | None = None) -> list[Path]:
    """The payload as a torch zip, a legacy file (object pickle), a legacy file (system-info pickle,
    code payloads only: torch unpickles and then drops it) and, where it applies, a bare pickle; all .pt."""
    magic, protocol, sysinfo, obj, keys = _legacy_parts()
    safe = payload.name.replace("/", "_")
    files = {
        f"{safe}.zip.pt": torch_zip(payload.pickle, storages),
        f"{safe}.legacy.pt": magic + protocol + sysinfo + payload.pickle + keys,
    }
    if payload.marker is not None:
        files[f"{safe}.legacy-sysinfo.pt"] = magic + protocol + payload.pickle + obj + keys
    if payload.bare:
        files[f"{safe}.bare.pt"] = payload.pickle
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def corpus(folder: Path) -> list[tuple[Payload, Path]]:
    """Every payload in every container, written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for payload in code_payloads(folder):
        out.extend((payload, path) for path in wrap(payload, folder))
    for payload in resource_payloads(folder):
        storages = {"0": bytes(4)} if payload.name.startswith("stride0") else None
        out.extend((payload, path) for path in wrap(payload, folder, storages))
    return out
