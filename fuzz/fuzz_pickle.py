"""Atheris harness: the pickle loader (``load_pickle``) and ``info``'s reader (``read_bundle``).

The first input byte picks how the rest is used: as a pickle put into a torch zip (``data.pkl`` beside
a real storage), into a legacy ``torch.save`` file (after its magic/protocol/system-info pickles), as
a bare pickle, or as the whole file (.pt, .npy or .npz for ``read_bundle``); and whether the plain data
types are allowed. A ``TensortoolError`` is fine; any other exception, a crash, a hang, or the marker
file (created only if pickled code runs) is a finding.

    python fuzz/fuzz_pickle.py -max_total_time=600 -timeout=20 /tmp/corpus-pickle
"""

from __future__ import annotations

import io
import pickle
import signal
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's tensortool, not an installed one
sys.path.insert(0, str(ROOT / "tests" / "security"))

import numpy  # noqa: F401  (imported first: only tensortool is instrumented)
import torch
from torch import nn

with atheris.instrument_imports(include=["tensortool"]):
    from tensortool.errors import TensortoolError
    from tensortool.pickle_load import load_pickle
    from tensortool.tensorfile import read_bundle

WORK = Path(tempfile.mkdtemp(prefix="fuzz-pickle-"))
SCRATCH = WORK / "payload-seeds"  # the seed payloads' markers (and their inner files) live here
SCRATCH.mkdir()
MARKER = Path(tempfile.gettempdir()) / "tensortool-fuzz-pickle-MARKER"
ALLOW = ["argparse.Namespace", "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
         "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
         "collections.defaultdict", "builtins.list", "pathlib.PosixPath", "datetime.datetime"]
BOUND_S = 2.0


def _saved(obj, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


torch.manual_seed(0)
_STATE = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).state_dict()
_ZIP = _saved(_STATE)
with zipfile.ZipFile(io.BytesIO(_ZIP)) as _z:
    _PARTS = {i.filename: _z.read(i) for i in _z.infolist()}
_LEGACY = _saved(_STATE, _use_new_zipfile_serialization=False)


def _legacy_head() -> bytes:
    import pickletools

    fh = io.BytesIO(_LEGACY)
    for _ in range(3):
        for _op in pickletools.genops(fh):
            pass
    return _LEGACY[:fh.tell()]


_HEAD = _legacy_head()
_KEYS = pickle.dumps([], protocol=2)


def _rezip(pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in _PARTS.items():
            z.writestr(name, pkl if name.endswith("/data.pkl") else data)
    return buf.getvalue()


def _expire(signum, frame):
    raise TimeoutError(f"ran past {BOUND_S} s")


def one_input(data: bytes) -> None:
    if not data:
        return
    flags, body = data[0], data[1:]
    kind = flags % 6
    allow = ALLOW if flags & 0x40 else []
    if kind == 0:
        raw, suffix = _rezip(body), ".pt"
    elif kind == 1:
        raw, suffix = _HEAD + body + _KEYS, ".pt"
    elif kind == 2:
        raw, suffix = body, ".pt"
    else:
        raw, suffix = body, (".pth", ".npy", ".npz")[kind - 3]
    path = WORK / f"input{suffix}"
    path.write_bytes(raw)
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, BOUND_S * 2)
    import time

    started = time.perf_counter()
    try:
        if suffix in (".npy", ".npz") or flags & 0x80:
            read_bundle(path)
        else:
            load_pickle(path, allow_globals=allow)
    except TensortoolError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    # The loader turns exceptions inside torch.load into an error line, the alarm's too: time it here.
    assert time.perf_counter() - started < BOUND_S * 2, "ran past the time bound"
    assert not MARKER.exists(), "pickled code ran"
    assert not any(SCRATCH.glob("*.marker")), "a seed payload's code ran"


def _seed(corpus: str) -> None:
    folder = Path(corpus)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        return
    import numpy as np

    from pickle_payloads import code_payloads, resource_payloads

    pkl = next(v for k, v in _PARTS.items() if k.endswith("/data.pkl"))
    seeds = [bytes([0]) + pkl, bytes([0x40]) + pkl, bytes([1]) + pickle.dumps({"a": [1, 2.0, None]}, protocol=2),
             bytes([2]) + pickle.dumps({"x": 1}, 2), bytes([3]) + _ZIP, bytes([3]) + _LEGACY]
    buf = io.BytesIO()
    np.save(buf, np.arange(6, dtype=np.float32))
    seeds.append(bytes([4]) + buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(3), meta=np.array("{}"))
    seeds.append(bytes([5]) + buf.getvalue())
    extra = {"np": np.arange(3.0), "s": np.float64(2.5), "ns": __import__("argparse").Namespace(a=1)}
    with zipfile.ZipFile(io.BytesIO(_saved({"w": _STATE["0.weight"], **extra}))) as z:
        seeds.append(bytes([0x40]) + next(z.read(n) for n in z.namelist() if n.endswith("/data.pkl")))
    for payload in code_payloads(SCRATCH) + resource_payloads(SCRATCH):
        seeds.append(bytes([0x40]) + payload.pickle)
        seeds.append(bytes([0x41]) + payload.pickle)
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(seed)


if __name__ == "__main__":
    MARKER.unlink(missing_ok=True)
    corpora = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpora and not Path(corpora[0]).is_file():
        _seed(corpora[0])
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
