"""Fuzz the C pixel sums (_pixelsums, ASan/UBSan build): random shapes, strides, dtypes and channel
counts, against a numpy float64 reference (exact at these sizes), through both the AVX2 loop and
the portable one (``set_avx2(False)``). A ValueError, OverflowError or BufferError for an array or
state it does not take is fine; any other exception, a sanitizer report, a wrong sum or a crash is
a finding.

    sh fuzz/build_sanitized.sh
    LD_PRELOAD="$(python -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so" \
      ASAN_OPTIONS=detect_leaks=0,allocator_may_return_null=1 PYTHONMALLOC=malloc \
      python fuzz/fuzz_pixelsums.py -max_total_time=600 -timeout=20 fuzz/corpus-pixelsums
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sanitized  # noqa: E402

pixelsums = sanitized.load("_pixelsums")["_pixelsums"]
sanitized.seed_corpus(["special/*.png", "special/*.bmp"])

import numpy as np  # noqa: E402

AVX2 = pixelsums.set_avx2(True)


def reference(chw: np.ndarray) -> np.ndarray:
    """sums, sums of squares, minima, maxima per channel; float64 is exact below 2^53 (checked)."""
    flat = chw.reshape(chw.shape[0], -1).astype(np.float64)
    out = np.stack([flat.sum(1), (flat * flat).sum(1), flat.min(1) if flat.shape[1] else
                    np.full(len(flat), np.inf), flat.max(1) if flat.shape[1] else np.full(len(flat), -np.inf)])
    return out


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    dtype = np.uint8 if fdp.ConsumeBool() else np.uint16
    channels = fdp.ConsumeIntInRange(0, 5)
    height, width = fdp.ConsumeIntInRange(0, 70), fdp.ConsumeIntInRange(0, 70)
    layout = fdp.ConsumeIntInRange(0, 3)
    step_h, step_w = fdp.ConsumeIntInRange(1, 3), fdp.ConsumeIntInRange(1, 3)
    flip = fdp.ConsumeBool()
    evict = fdp.ConsumeBool()
    bad_state = fdp.ConsumeIntInRange(0, 15) == 0
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    # A bigger buffer, then a view with the chosen strides: HWC memory (the decoders'), CHW, or others.
    full = (channels, height * step_h, width * step_w)
    count = int(np.prod(full))
    values = np.frombuffer((raw * (count * 2 // max(len(raw), 1) + 1))[:count * np.dtype(dtype).itemsize]
                           or b"\0" * (count * np.dtype(dtype).itemsize), dtype=dtype)
    values = np.resize(values, count)
    if layout == 0:
        chw = values.reshape(full[1], full[2], channels).transpose(2, 0, 1)
    elif layout == 1:
        chw = values.reshape(full)
    elif layout == 2:
        chw = values.reshape(full[2], full[1], channels).transpose(2, 1, 0)
    else:
        chw = values.reshape(full[1], channels, full[2]).transpose(1, 0, 2)
    chw = chw[:, ::step_h, ::step_w]
    if flip:
        chw = chw[:, ::-1]
    bits = 8 * np.dtype(dtype).itemsize
    expected = reference(chw) if channels else None
    for avx2 in (True, False):
        pixelsums.set_avx2(avx2 and AVX2)
        state = np.zeros((4, max(channels, 1)), dtype=np.uint64)
        state[2] = 2**bits - 1
        if bad_state:
            state = state[:, :-1] if channels > 1 else np.zeros(3, np.uint64)
        try:
            pixels = pixelsums.add(chw, state, evict)
        except (ValueError, OverflowError, BufferError):
            assert channels in (0, 5) or bad_state, (channels, chw.shape, chw.strides)
            continue
        assert 1 <= channels <= 4 and not bad_state, (channels, bad_state)
        assert pixels == height * width, (pixels, height, width)
        got = state.astype(np.float64)
        if height * width:
            assert np.array_equal(got, expected), (avx2, chw.shape, chw.strides, got, expected)
        else:
            assert not state[:2].any() and np.all(state[2] == 2**bits - 1) and np.all(state[3] == 0), (
                avx2, chw.shape, chw.strides, state)
    pixelsums.set_avx2(AVX2)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
