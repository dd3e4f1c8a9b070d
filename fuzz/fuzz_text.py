"""Fuzz ``load_text`` (and writing its outputs): any bytes and options give a bundle or a
``TensortoolError`` with one line; any other exception, a hang (-timeout) or a leftover
temporary file is a finding. Pure Python: no sanitized build needed.

    python fuzz/fuzz_text.py -max_total_time=600 -timeout=20 -rss_limit_mb=4096 fuzz/corpus-text
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's tensortool

folders = [Path(a) for a in sys.argv[1:] if not a.startswith("-") and not Path(a).is_file()]
for folder in folders:  # seed empty corpus folders from samples/text (first 4 KB of each)
    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        for i, path in enumerate(sorted((ROOT / "samples" / "text").glob("*"))):
            (folder / f"seed-{i}").write_bytes(b"\x00\x00\x00" + path.read_bytes()[:4096])

with atheris.instrument_imports(include=["tensortool"]):
    from tensortool.errors import TensortoolError
    from tensortool.sources.text.load import load_text, write_vocab
    from tensortool.tensorfile import write_bundle

WORK = Path(tempfile.mkdtemp(prefix="fuzz-text-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
SRC, OUT, VOCAB = WORK / "in.txt", WORK / "out.pt", WORK / "vocab.json"


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    opts = {
        "level": fdp.PickValueInList(["word", "char"]),
        "charset": fdp.PickValueInList(["corpus", "ascii"]),
        "lower": fdp.ConsumeBool(),
        "strip_punct": fdp.ConsumeBool(),
        "unit": fdp.PickValueInList(["line", "paragraph", "file"]),
        "max_len": fdp.PickValueInList([None, 1, 7, 100]),
        "max_vocab": fdp.PickValueInList([None, 3, 10]),
        "encoding": fdp.PickValueInList(["utf-8", "latin-1", "utf-16", "cp1252"]),
        "errors": fdp.PickValueInList(["strict", "replace"]),
        "max_tokens": fdp.PickValueInList([1 << 24, 50, 1000]),
        "max_bytes": fdp.PickValueInList([1 << 30, 4096, 100]),
    }
    extra = fdp.ConsumeIntInRange(0, 2)
    if extra == 1:
        opts["one_hot"] = True
    elif extra == 2:
        opts["sparse"] = True
    SRC.write_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
    for path in (OUT, VOCAB):
        path.unlink(missing_ok=True)
    try:
        bundle = load_text(SRC, **opts)
    except TensortoolError as exc:
        assert "\n" not in str(exc), str(exc)
        bundle = None
    if bundle is not None:
        assert int(bundle["tokens"].max()) < bundle.meta["vocab_size"]
        try:
            write_bundle(bundle, OUT)
            write_vocab(bundle.meta["vocab"], VOCAB)
        except TensortoolError as exc:  # e.g. a one-hot into a format that cannot hold it
            assert "\n" not in str(exc), str(exc)
    leftovers = [p.name for p in WORK.glob("*.tmp")]
    assert not leftovers, leftovers


if __name__ == "__main__":
    try:
        atheris.Setup(sys.argv, TestOneInput)
        atheris.Fuzz()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
