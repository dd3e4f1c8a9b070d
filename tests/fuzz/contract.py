"""The hostile-input contract every reader is fuzzed against.

Any bytes give a result or a ``TensortoolError`` within a time bound: never another exception,
never a hang, and never an output file (or a temporary file of ours) after an error.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tensortool.errors import TensortoolError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"

# Every fuzz test together stays within ~60 s of the normal suite: a fixed example budget per test,
# derandomised so that CI sees the same inputs on every run. TENSORTOOL_FUZZ_EXAMPLES raises it
# for a longer local run (with a random seed).
_EXAMPLES = int(os.environ.get("TENSORTOOL_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_EXAMPLES or 60,
    derandomize=not _EXAMPLES,
    deadline=None,  # the time bound is enforced by `within`, which also catches hangs
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
TIME_BOUND_S = 2.0


class Hang(BaseException):
    """A reader ran past the time bound. A BaseException, so that a reader's own ``except Exception``
    (turning a library's failure into an InputError) cannot swallow it."""


@contextmanager
def within(seconds: float = TIME_BOUND_S) -> Iterator[None]:
    """Fail with ``Hang`` if the body runs longer than ``seconds`` (SIGALRM: main thread only)."""

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(call: Callable[[], Any], *, outputs: Iterable[Path] = (), seconds: float = TIME_BOUND_S) -> Any:
    """Run ``call`` under the contract; return its result, or the ``TensortoolError`` it raised.

    ``outputs``: files that must not exist after an error; their folders must hold no ``*.tmp`` file.
    """
    outputs = [Path(p) for p in outputs]
    try:
        try:
            with within(seconds):
                return call()
        except Hang:  # once more: a first call may pay for cold imports on a loaded machine; a hang hangs again
            with within(seconds):
                return call()
    except TensortoolError as exc:
        assert str(exc).strip(), "an error with no message"
        assert "\n" not in str(exc), f"a multi-line error: {exc!s:.300}"
        for out in outputs:
            assert not out.exists(), f"{out} was written although the call failed: {exc}"
            leftovers = sorted(p.name for p in out.parent.glob("*.tmp"))
            assert not leftovers, f"temporary files left after an error: {leftovers}"
        return exc


def seeds(*patterns: str, limit: int = 40, extra: Iterable[Path] = ()) -> list[bytes]:
    """Seed inputs: files under samples/ matching the glob patterns, then ``extra`` files; at most
    ``limit`` in all (the samples first), each at most 2 MB."""
    found: list[Path] = []
    for pattern in patterns:
        found.extend(sorted(SAMPLES.glob(pattern)))
    found.extend(extra)
    out: list[bytes] = []
    for path in found:
        if path.is_file() and path.stat().st_size <= 2_000_000:
            out.append(path.read_bytes())
        if len(out) >= limit:
            break
    return out


def mutations(special: list[bytes], kinds: tuple[str, ...] = ("flip", "insert", "delete", "truncate", "repeat",
                                                                 "swap")) -> st.SearchStrategy:
    """One byte-level edit for ``mutate``: (kind, position, a special string to insert, a count)."""
    return st.tuples(st.sampled_from(kinds), st.integers(0, 1 << 16), st.sampled_from(special), st.integers(1, 64))


def mutate(data: bytes, steps) -> bytes:
    """``data`` with each edit of ``steps`` (from ``mutations``) applied in turn."""
    for kind, at, text, count in steps:
        at = at % (len(data) + 1)
        if kind == "flip" and data:
            i = at % len(data)
            data = data[:i] + bytes([data[i] ^ (1 << (count % 8))]) + data[i + 1:]
        elif kind == "insert":
            data = data[:at] + text * (count % 4 + 1) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + count:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "repeat":  # the first line again: more rows of the same shape
            line = data.split(b"\n", 1)[0]
            data = data + (b"\n" + line) * (count % 8)
        elif kind == "swap" and data:
            j = (at + count) % len(data)
            i = at % len(data)
            data = data[:i] + data[j:j + 1] + data[i + 1:]
    return data


class Place:
    """A copy of a clean output folder at base/data/out, with files that no call may touch: one
    above the folder, some beside it, and one in it that its manifest does not name (plus
    ``extra``, name relative to ``base`` → bytes)."""

    def __init__(self, base: Path, clean_folder: Path, extra: dict[str, bytes]):
        import shutil

        self.base = base
        self.folder = base / "data" / "out"
        shutil.copytree(clean_folder, self.folder)
        self.guarded = {base / "above.safetensors": b"above", base / "data" / "next.safetensors": b"next",
                        self.folder / "notes.safetensors": b"mine", **{base / k: v for k, v in extra.items()}}
        for path, data in self.guarded.items():
            path.write_bytes(data)

    def write_manifest(self, text: bytes) -> None:
        (self.folder / "manifest.json").write_bytes(text)

    def untouched(self) -> None:
        for path, data in self.guarded.items():
            assert path.is_file() and path.read_bytes() == data, f"{path} was changed or removed"
