"""Coverage-guided fuzzing of image decoding (every format, every mode, the pixel limit).

    python fuzz/fuzz_image.py -max_total_time=600 /tmp/corpus-image

An empty corpus folder is seeded with samples/special/* and samples/images/**. A TensortoolError
is the expected answer to a bad file; any other exception, a crash or a hang is a finding.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's tensortool, not an installed one

with atheris.instrument_imports(include=["tensortool"]):
    import torch

    from tensortool.errors import TensortoolError
    from tensortool.sources.image.decode import decode_image

MODES = ("rgb", "gray", "rgba", "unchanged")
# Small enough that a decoded image stays fast; the limit itself is part of what is fuzzed.
MAX_PIXELS = 4_000_000


def seed_corpus(folder: Path) -> None:
    if any(folder.iterdir()):
        return
    samples = sorted((ROOT / "samples" / "special").iterdir()) + sorted((ROOT / "samples" / "images").rglob("*"))
    for path in samples:
        if path.is_file() and path.stat().st_size <= 100_000:
            (folder / path.name).write_bytes(path.read_bytes())


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    mode = MODES[data[-1] % len(MODES)]
    try:
        img = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode, "fuzz", MAX_PIXELS)
    except TensortoolError as exc:
        text = str(exc)
        if "\n" in text or not text.startswith("fuzz: "):
            raise AssertionError(f"an error that is not one line naming the file: {text!r}") from None
        return
    if img.dim() != 3 or img.dtype not in (torch.uint8, torch.uint16):
        raise AssertionError(f"unexpected result {img.dtype} {tuple(img.shape)}")
    if img.shape[1] * img.shape[2] > MAX_PIXELS:
        raise AssertionError(f"an image over the pixel limit was decoded: {tuple(img.shape)}")


def main() -> None:
    corpora = [Path(a) for a in sys.argv[1:] if not a.startswith("-")]
    for folder in corpora:
        if folder.is_dir():
            seed_corpus(folder)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
