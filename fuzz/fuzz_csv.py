"""Fuzz the CSV readers: the C parser (_numcsv, ASan/UBSan build) directly, the plain-numeric fast
path against pyarrow (bit for bit), and the whole ``load_csv``. A ``TensortoolError`` is a fine
answer; any other exception, a sanitizer report, a crash or a hang (-timeout) is a finding.

    sh fuzz/build_sanitized.sh
    LD_PRELOAD="$(python -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so" \
      ASAN_OPTIONS=detect_leaks=0,allocator_may_return_null=1 PYTHONMALLOC=malloc \
      python fuzz/fuzz_csv.py -max_total_time=600 -timeout=20 fuzz/corpus-csv
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sanitized  # noqa: E402

numcsv = sanitized.load("_numcsv")["_numcsv"]
sanitized.seed_corpus(["tables/*.csv"])

with atheris.instrument_imports(include=["tensortool"]):
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from tensortool.errors import TensortoolError
    from tensortool.sources.table import fast as table_fast
    from tensortool.sources.table.load import load_csv
    from tensortool.sources.table.read import sniff
    from tensortool.tensorfile import write_bundle

assert table_fast._numcsv is numcsv, "the fast path does not use the sanitized parser"
WORK = Path(tempfile.mkdtemp(prefix="fuzz-csv-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
SRC = WORK / "in.csv"


def parse_direct(fdp: atheris.FuzzedDataProvider) -> None:
    """The C entry point with arbitrary arguments: a ValueError for bad ones, never a memory error."""
    kinds = bytes(fdp.PickValueInList([0, 4, 8, 4, 8, 3]) for _ in range(fdp.ConsumeIntInRange(0, 8)))
    capacity = fdp.ConsumeIntInRange(-1, 40)
    first_row = fdp.ConsumeIntInRange(-1, 40)
    max_rows = fdp.ConsumeIntInRange(-1, 40)
    delimiter = fdp.PickValueInList([ord(","), ord(";"), 9, ord("|"), 0, 200, fdp.ConsumeIntInRange(-5, 300)])
    short = fdp.ConsumeIntInRange(0, 3)
    start, stop = fdp.ConsumeIntInRange(-2, 8), fdp.ConsumeIntInRange(-2, 8)
    data = fdp.ConsumeBytes(fdp.remaining_bytes())
    stop = len(data) - stop
    out = np.zeros(max(0, sum(kinds) * max(capacity, 0) - short), np.uint8)
    try:
        rows = numcsv.parse(data, start, stop, delimiter, kinds, out, capacity, first_row, max_rows)
    except (ValueError, OverflowError):
        return
    assert rows < 0 or rows <= max_rows, (rows, max_rows)


def fast_vs_pyarrow(data: bytes, float32: bool) -> None:
    """Whatever the C parser accepts, pyarrow reads to the same bits."""
    SRC.write_bytes(data)
    try:
        dialect = sniff(SRC)
    except TensortoolError:
        return
    names = list(dialect.names)
    f32 = names[::2] if float32 else []
    table = table_fast.read_plain_numeric(SRC, dialect, columns=names, float32=f32, missing=[""])
    if table is None:
        return
    types = {n: pa.float32() if n in f32 else pa.float64() for n in names}
    ref = pacsv.read_csv(SRC, read_options=pacsv.ReadOptions(skip_rows=1 if dialect.header else 0,
                                                             column_names=names),
                         parse_options=pacsv.ParseOptions(delimiter=dialect.delimiter),
                         convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""],
                                                              strings_can_be_null=True))
    assert ref.num_rows == table.num_rows, (ref.num_rows, table.num_rows)
    for n in names:
        a = table.column(n).to_numpy()
        b = ref.column(n).to_numpy()
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (n, a[:5], b[:5])


def whole(fdp: atheris.FuzzedDataProvider) -> None:
    options = {}
    if fdp.ConsumeBool():
        options["target"] = fdp.PickValueInList(["0", "-1", "quality", "1"])
    options["normalize"] = fdp.PickValueInList([None, "zscore", "minmax"])
    options["missing"] = fdp.PickValueInList([None, "drop", "mean"])
    options["skip_bad"] = fdp.ConsumeBool()
    options["header"] = fdp.PickValueInList([None, True, False])
    options["delimiter"] = fdp.PickValueInList([None, ",", ";", "\t"])
    options["dtype"] = fdp.PickValueInList([None, "float64", "bfloat16"])
    if fdp.ConsumeBool():
        options["categorical"] = ["auto"]
    write = fdp.ConsumeBool()
    SRC.write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
    out = WORK / "out.pt"
    out.unlink(missing_ok=True)
    try:
        bundle = load_csv(SRC, **options)
        if write:
            write_bundle(bundle, out, force=True)
    except TensortoolError as exc:
        assert "\n" not in str(exc), str(exc)
        assert not out.exists()
    leftovers = [p.name for p in WORK.glob("*.tmp")]
    assert not leftovers, leftovers


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        parse_direct(atheris.FuzzedDataProvider(rest))
    elif mode == 1:
        fast_vs_pyarrow(rest, float32=data[0] & 4 == 4)
    elif mode == 2:
        fast_vs_pyarrow(data, float32=False)  # the seeds as they are
    else:
        whole(atheris.FuzzedDataProvider(rest))


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
