"""The opening layer of load_csv (decompression, --skip-rows, --comment, whitespace) under the contract."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tempfile
import zipfile
from pathlib import Path

from hypothesis import given, strategies as st

from tests.fuzz.contract import FUZZ, check, seeds
from tensortool.sources.table.load import load_csv


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("t.csv", data)
    return out.getvalue()


WRAP = [lambda d: d, gzip.compress, bz2.compress, lzma.compress, _zip]
SEEDS = [s[:4000] for s in seeds("tables/*.csv", limit=6)]
TMP = Path(tempfile.gettempdir())


@FUZZ
@given(body=st.one_of(st.sampled_from(SEEDS), st.binary(max_size=400)), flips=st.lists(st.integers(0, 10**6), max_size=4),
       wrap=st.integers(0, 4), truncate=st.booleans(), skip_rows=st.integers(0, 3),
       comment=st.sampled_from([None, "#", "%"]), whitespace=st.booleans())
def test_opening_layer_keeps_the_contract(tmp_path_factory, body, flips, wrap, truncate, skip_rows, comment, whitespace):
    data = bytearray(body)
    for f in flips:
        if data:
            data[f % len(data)] ^= 0x5A
    raw = WRAP[wrap](bytes(data))
    if truncate and wrap:
        raw = raw[: len(raw) // 2]  # a damaged archive
    path = tmp_path_factory.mktemp("open") / "t.csv"
    path.write_bytes(raw)
    before = set(TMP.glob("tensortool-*"))
    check(lambda: load_csv(path, skip_rows=skip_rows, comment=comment, delimiter=" " if whitespace else None,
                           max_bytes=1 << 20))
    assert set(TMP.glob("tensortool-*")) == before, "a temporary copy was left behind"
