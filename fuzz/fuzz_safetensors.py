"""Atheris harness: the safetensors header reader and the tensortool skeleton (convert to .pth).

    python fuzz/fuzz_safetensors.py -max_total_time=600 CORPUSDIR

Input bytes are a whole .safetensors file. Each is read with ``read_header``, converted to .pth in a
temporary folder (which rebuilds the skeleton and its aliases) and inspected. A ``TensortoolError``
is fine; any other exception, a crash or a hang is a finding.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's tensortool, not an installed one

import atheris  # noqa: E402
import torch  # noqa: E402  # not instrumented: coverage of tensortool's own code is what guides the search

with atheris.instrument_imports(include=["tensortool"]):
    from tensortool.checkpoint.convert import convert_checkpoint
    from tensortool.checkpoint.inspect import inspect_checkpoint
    from tensortool.safetensors_file import read_header
    from tensortool.errors import TensortoolError

WORK = Path(tempfile.mkdtemp(prefix="fuzz-safetensors-"))


def _file(header: dict, data: bytes) -> bytes:
    body = json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


def _seeds() -> list[bytes]:
    """Valid files with a skeleton, ties, a transposed view, extras; plus any samples/ safetensors."""
    out = [p.read_bytes() for p in sorted(ROOT.glob("samples/**/*.safetensors")) if p.stat().st_size < 1 << 20]
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    ckpts = [{"w": w, "tie": w, "t": w.t(), "row": w[1]},
             {"model": {"a": torch.ones(2, dtype=torch.bfloat16)}, "epoch": 3, "cfg": (1, 2.5, "x"),
              "d": torch.float16, "dev": torch.device("cpu"), "s": torch.Size([2, 3]), "b": b"\x00\x01",
              "c": 1 + 2j, "n": float("nan"), "set": {1, 2}}]
    with tempfile.TemporaryDirectory() as tmp:
        for i, ckpt in enumerate(ckpts):
            torch.save(ckpt, f"{tmp}/{i}.pth")
            convert_checkpoint(f"{tmp}/{i}.pth", f"{tmp}/{i}.safetensors")
            out.append(Path(f"{tmp}/{i}.safetensors").read_bytes())
    out.append(_file({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "__metadata__": {"k": "v"}}, b"ab"))
    return out


def test_one_input(data: bytes) -> None:
    src = WORK / "in.safetensors"
    out = WORK / "out.pth"
    src.write_bytes(data)
    out.unlink(missing_ok=True)
    try:
        read_header(src)
        convert_checkpoint(src, out)
        inspect_checkpoint(src)
    except TensortoolError as exc:
        assert "\n" not in str(exc), str(exc)
        assert not out.exists(), f"output left after an error: {exc}"


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus and os.path.isdir(corpus[0]) and not os.listdir(corpus[0]):
        for i, seed in enumerate(_seeds()):
            Path(corpus[0], f"seed-{i}").write_bytes(seed)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
