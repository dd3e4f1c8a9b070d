"""The pickle loader and ``info``'s reader under the hostile-input contract (tests/fuzz/contract.py).

Inputs: real checkpoints of a small nn.Module (zip and legacy ``torch.save``, a bare pickle), mutated
byte by byte, mutated inside their pickle (the zip rebuilt around it, so torch's reader gets that far),
truncated; and opcode streams built from a vocabulary that includes code-running globals whose calls
would create a marker file. Each gives a result or a ``TensortoolError`` within the time bound, never
another exception, and the marker never appears.
"""

from __future__ import annotations

import io
import pickle
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.fuzz.contract import FUZZ, TIME_BOUND_S, check, mutate, mutations
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from typer import testing as typer_testing
from typer.testing import CliRunner

from tensortool.cli.app import app
from tensortool.pickle_load import load_pickle
from tensortool.tensorfile import read_bundle

P = pickle
runner = CliRunner()
MARKER = Path("/tmp/tensortool-fuzz-pickle-MARKER")  # fixed: the vocabulary is built once


@pytest.fixture(autouse=True)
def _command_built_once(monkeypatch):
    """typer's runner rebuilds the click command on every call (50 ms)."""
    real = typer_testing._get_command
    built = real(app)
    monkeypatch.setattr(typer_testing, "_get_command", lambda a: built if a is app else real(a))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _saved(obj, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


STATE = _net().state_dict()
SEEDS = {
    "zip": _saved(STATE),
    "legacy": _saved(STATE, _use_new_zipfile_serialization=False),
    "bare": pickle.dumps({"w": [1, 2.5, "x"], "n": None}, protocol=2),
    "zip-meta": _saved({"model": STATE, "epoch": 3, "meta": {"a": [1, 2]}, "shared": [STATE["0.weight"]] * 2}),
}
ZIP_PARTS = {}
for _name in ("zip", "zip-meta"):
    with zipfile.ZipFile(io.BytesIO(SEEDS[_name])) as _z:
        ZIP_PARTS[_name] = {i.filename: _z.read(i) for i in _z.infolist()}

SPECIAL = [b"\x00", b"\xff", b"\x80\x02", b".", b"(", b"t", b"R", b"b", b"Q", b"h\x00", b"q\x00", b"]", b"}", b"s",
           b"a", b"e", b"u", b"\x81", b"\x93", b"\x94", b"\x95", b"cos\nsystem\n", b"cbuiltins\nset\n",
           b"J\xff\xff\xff\x7f", b"K\x00", b"X\xff\xff\xff\x7f", b"\x8a\x08" + b"\xff" * 8, b"N", b"\x88"]
mutation = mutations(SPECIAL, ("flip", "insert", "delete", "truncate", "swap"))


def rezip(parts: dict[str, bytes], pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in parts.items():
            z.writestr(name, pkl if name.endswith("/data.pkl") else data)
    return buf.getvalue()


def _s(text: str) -> bytes:
    data = text.encode()
    return P.BINUNICODE + struct.pack("<I", len(data)) + data


# Opcode vocabulary: data, containers, memo, calls; globals torch allows, plain ones, and code-running
# ones whose string argument would create the marker.
VOCAB = [P.MARK, P.EMPTY_LIST, P.EMPTY_DICT, P.EMPTY_TUPLE, P.EMPTY_SET, P.APPEND, P.APPENDS, P.SETITEM, P.SETITEMS,
         P.TUPLE, P.TUPLE1, P.TUPLE2, P.TUPLE3, P.LIST, P.DICT, P.REDUCE, P.BUILD, P.NEWOBJ, P.NEWOBJ_EX, P.OBJ, P.POP,
         P.DUP, P.POP_MARK, P.NONE, P.NEWTRUE, P.NEWFALSE, P.BINPERSID, P.STACK_GLOBAL, P.MEMOIZE, P.FROZENSET,
         P.ADDITEMS, b"K\x00", b"K\x01", b"K\x07", b"J\x00\x00\x00\x40", b"J\xff\xff\xff\xff", b"h\x00", b"h\x01",
         b"h\x02", b"q\x00", b"q\x01", b"q\x02", b"G" + struct.pack(">d", 1.5), _s("storage"), _s("0"), _s("cpu"),
         _s("latin1"), _s("hex"), _s("x" * 40), _s("os"), _s("system"), _s(f"touch {MARKER}"),
         _s(f"open({str(MARKER)!r}, 'w').close()"), b"ctorch._utils\n_rebuild_tensor_v2\n",
         b"ctorch\nFloatStorage\n", b"ccollections\nOrderedDict\n", b"cbuiltins\nset\n", b"cbuiltins\nbytearray\n",
         b"c_codecs\nencode\n", b"ctorch\nSize\n", b"ctorch\nTensor\n", b"cargparse\nNamespace\n",
         b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\nndarray\n", b"cnumpy\ndtype\n", b"cos\nsystem\n",
         b"cbuiltins\nexec\n", b"ctimeit\ntimeit\n", b"cfunctools\npartial\n", b"ctorch._utils\n_rebuild_parameter\n",
         b"ctorch._tensor\n_rebuild_from_type_v2\n", b"ccollections\ndefaultdict\n", b"cbuiltins\nlist\n"]
ALLOW = ["argparse.Namespace", "numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
         "collections.defaultdict", "builtins.list"]


def _file(tmp_path: Path, data: bytes, suffix: str = ".pt") -> Path:
    path = tmp_path / f"in{suffix}"
    path.write_bytes(data)
    return path


def run_loader(path: Path, allow: bool = False):
    started = time.perf_counter()
    result = check(lambda: load_pickle(path, allow_globals=ALLOW if allow else ()))
    # The loader turns any exception inside torch.load into an error line, the contract's Hang too:
    # so the time is checked here as well.
    assert time.perf_counter() - started < TIME_BOUND_S + 1, "ran past the time bound"
    assert not MARKER.exists(), "pickled code ran"
    return result


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), steps=st.lists(mutation, max_size=6), allow=st.booleans())
def test_mutated_checkpoints(tmp_path, seed, steps, allow):
    run_loader(_file(tmp_path, mutate(SEEDS[seed], steps)), allow)


@FUZZ
@given(seed=st.sampled_from(sorted(ZIP_PARTS)), steps=st.lists(mutation, min_size=1, max_size=6),
       allow=st.booleans())
def test_mutated_pickle_inside_a_valid_zip(tmp_path, seed, steps, allow):
    parts = ZIP_PARTS[seed]
    pkl = next(v for k, v in parts.items() if k.endswith("/data.pkl"))
    run_loader(_file(tmp_path, rezip(parts, mutate(pkl, steps))), allow)


@FUZZ
@given(cut=st.floats(0, 1), seed=st.sampled_from(sorted(SEEDS)))
def test_truncated_checkpoints(tmp_path, cut, seed):
    data = SEEDS[seed]
    run_loader(_file(tmp_path, data[:int(len(data) * cut)]))


@FUZZ
@given(ops=st.lists(st.sampled_from(VOCAB), max_size=40), wrapper=st.sampled_from(["zip", "legacy", "bare"]),
       allow=st.booleans())
def test_opcode_streams(tmp_path, ops, wrapper, allow):
    pkl = P.PROTO + b"\x02" + b"".join(ops) + P.STOP
    if wrapper == "zip":
        data = rezip(ZIP_PARTS["zip"], pkl)
    elif wrapper == "legacy":
        head = SEEDS["legacy"]
        data = head[:_legacy_object_start()] + pkl + pickle.dumps([], protocol=2)
    else:
        data = pkl
    run_loader(_file(tmp_path, data), allow)


def _legacy_object_start() -> int:
    import pickletools

    fh = io.BytesIO(SEEDS["legacy"])
    for _ in range(3):
        for _op in pickletools.genops(fh):
            pass
    return fh.tell()


# --- info's reader: .pt/.npy/.npz ----------------------------------------------------------------

def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


TENSOR_FILES = {
    ".pt": SEEDS["zip-meta"],
    ".pth": SEEDS["legacy"],
    ".npy": _npy(np.arange(12, dtype=np.float32).reshape(3, 4)),
    ".npz": _npz(a=np.arange(6, dtype=np.int16), meta=np.array('{"layout": "n"}')),
}


@FUZZ
@given(suffix=st.sampled_from(sorted(TENSOR_FILES)), steps=st.lists(mutation, max_size=6))
def test_read_bundle_on_mutated_tensor_files(tmp_path, suffix, steps):
    path = _file(tmp_path, mutate(TENSOR_FILES[suffix], steps), suffix)
    started = time.perf_counter()
    check(lambda: read_bundle(path))
    assert time.perf_counter() - started < TIME_BOUND_S + 1
    assert not MARKER.exists()


@FUZZ
@given(suffix=st.sampled_from(sorted(TENSOR_FILES)), steps=st.lists(mutation, max_size=4))
def test_info_command_on_mutated_tensor_files(tmp_path, suffix, steps):
    path = _file(tmp_path, mutate(TENSOR_FILES[suffix], steps), suffix)
    started = time.perf_counter()
    result = runner.invoke(app, ["info", str(path), "--json"])
    assert time.perf_counter() - started < TIME_BOUND_S + 2
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output
    if result.exit_code == 1:
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    assert not MARKER.exists()


def test_seeds_load(tmp_path):
    """The unmutated seeds are readable (so the mutations start from real files)."""
    for name, data in SEEDS.items():
        if name == "bare":  # torch reads a bare pickle as a legacy file's magic number: refused
            continue
        assert not isinstance(run_loader(_file(tmp_path, data)), Exception), name


def test_npz_member_that_is_not_an_array(tmp_path):
    """Found by fuzz/fuzz_pickle.py: numpy returns the raw bytes of a member not named *.npy."""
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.npy", _npy(np.arange(3)))
        z.writestr("meta", b"not an array")
    assert "not a .npy array" in str(check(lambda: read_bundle(path)))
