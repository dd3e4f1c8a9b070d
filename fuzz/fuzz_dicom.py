"""Coverage-guided fuzzing of DICOM reading: the raw header walker, the header scan and the load.

    python fuzz/fuzz_dicom.py -max_total_time=600 -timeout=10 /tmp/corpus-dicom

An empty corpus folder is seeded with samples/dicom/** and the small files pydicom ships. Each
input is written to a file (the readers take paths) and read three ways: dicom_raw's walker,
list_dicom_series, and load_dicom with one worker (in this thread, so -timeout sees a hang).
A TensortoolError is the expected answer to a bad file; any other exception, a crash or a hang
is a finding.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's tensortool, not an installed one

with atheris.instrument_imports(include=["tensortool"]):
    import pydicom

    from tensortool.errors import TensortoolError
    from tensortool.sources.dicom import raw as dicom_raw, scan as dicom_series
    from tensortool.sources.dicom.load import list_dicom_series, load_dicom

warnings.simplefilter("ignore")  # pydicom warns about every odd value
PATH = Path(tempfile.mkdtemp(prefix="fuzz-dicom-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)) / "x.dcm"


def seed_corpus(folder: Path) -> None:
    if any(folder.iterdir()):
        return
    shipped = Path(pydicom.__file__).parent / "data" / "test_files"
    for path in sorted((ROOT / "samples" / "dicom").rglob("*")) + sorted(shipped.glob("*.dcm")):
        if path.is_file() and path.stat().st_size <= 200_000:
            (folder / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())


def one_line(exc: TensortoolError) -> None:
    text = str(exc)
    if "\n" in text or not text.strip():
        raise AssertionError(f"an error that is not one line: {text!r}") from None


def test_one_input(data: bytes) -> None:
    PATH.write_bytes(data)
    try:
        raw = dicom_raw.read_raw_header(str(PATH), dicom_series._WANTED)
        if not (raw is None or raw == dicom_raw.NOT_DICOM or isinstance(raw, dicom_raw.RawHeader)):
            raise AssertionError(f"unexpected walker result {raw!r}")
    except TensortoolError as exc:
        one_line(exc)
    for call in (lambda: list_dicom_series(PATH), lambda: load_dicom(PATH, workers=1)):
        try:
            call()
        except TensortoolError as exc:
            one_line(exc)


def main() -> None:
    for arg in sys.argv[1:]:
        if not arg.startswith("-") and Path(arg).is_dir():
            seed_corpus(Path(arg))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
