"""Atheris harness: load_csv through its opening layer (gzip/bzip2/xz/zip, --skip-rows, --comment,
whitespace-delimited files).

The first input byte picks how the rest is wrapped (plain, gzip, bzip2, xz, zip) and which of
--skip-rows / --comment / --delimiter ' ' are given; the rest is the file. A TensortoolError is
fine; any other exception, a crash, a hang, or a temporary file left behind is a finding.

    python fuzz/fuzz_csv_open.py -max_total_time=600 /tmp/corpus-csv-open
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import signal
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's tensortool, not an installed one

import numpy  # noqa: F401  (imported first: only tensortool is instrumented)
import pyarrow.csv  # noqa: F401
import torch  # noqa: F401

with atheris.instrument_imports(include=["tensortool"]):
    from tensortool.errors import TensortoolError
    from tensortool.sources.table.load import load_csv

WORK = Path(tempfile.mkdtemp(prefix="fuzz-csv-open-"))
TMP = Path(tempfile.gettempdir())


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("t.csv", data)
    return out.getvalue()


WRAP = [lambda d: d, gzip.compress, bz2.compress, lzma.compress, _zip]


def _expire(signum, frame):
    raise TimeoutError("load_csv ran past 2 s")


def one_input(data: bytes) -> None:
    if not data:
        return
    flags, body = data[0], data[1:]
    # Either compress the body, or feed it raw (then it may itself be a hostile archive).
    raw = WRAP[flags % 5](body) if flags & 0x80 == 0 else body
    path = WORK / "input.csv"
    path.write_bytes(raw)
    options = {"skip_rows": (flags >> 3) & 3, "comment": "#" if flags & 0x20 else None,
               "delimiter": " " if flags & 0x40 else None, "max_bytes": 1 << 20}
    before = {p.name for p in TMP.glob("tensortool-*")}
    signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        load_csv(path, **options)
    except TensortoolError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    left = {p.name for p in TMP.glob("tensortool-*")} - before
    assert not left, f"temporary files left: {left}"


def _seed(corpus: str) -> None:
    folder = Path(corpus)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        return
    files = sorted((ROOT / "samples" / "tables").glob("*"))
    try:
        import sklearn

        files += sorted((Path(sklearn.__file__).parent / "datasets" / "data").glob("*.csv*"))
    except ImportError:
        pass
    for i, f in enumerate(files):
        data = f.read_bytes()[:20000]
        for flags in (0x00, 0x01, 0x0a, 0x28, 0x40, 0x80):
            (folder / f"seed-{i}-{flags:02x}").write_bytes(bytes([flags]) + data)


if __name__ == "__main__":
    corpora = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpora and not Path(corpora[0]).is_file():
        _seed(corpora[0])
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
