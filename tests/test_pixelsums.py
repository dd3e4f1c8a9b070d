"""Exact pixel sums (C extension and numpy fallback) against Python-integer references."""

import numpy as np
import pytest
import torch

import tensortool.moments as moments
from tensortool.moments import IntegerSums, PixelSums

SHAPES = [(3, 32, 32), (1, 5, 7), (3, 256, 256), (4, 100, 33), (3, 601, 499), (2, 1, 1), (1, 300, 1)]


@pytest.fixture(params=["c", "c-portable", "numpy"])
def backend(request, monkeypatch):
    """The C extension's loops (AVX2 where the CPU has it, and the portable one) and numpy's."""
    if request.param == "numpy":
        monkeypatch.setattr(moments, "_pixelsums", None)
        yield request.param
        return
    if moments._pixelsums is None:
        pytest.fail("the C extension tensortool._pixelsums was not built (no C compiler at install?)")
    had_avx2 = moments._pixelsums.set_avx2(True)
    if request.param == "c-portable":
        moments._pixelsums.set_avx2(False)
    yield request.param
    moments._pixelsums.set_avx2(had_avx2)


def reference(hwc: np.ndarray) -> tuple[list[int], list[int], list[int], list[int]]:
    """Per-channel sums with Python integers: no overflow, no rounding."""
    columns = hwc.reshape(-1, hwc.shape[-1]).T.tolist()
    return ([sum(c) for c in columns], [sum(v * v for v in c) for c in columns],
            [min(c) for c in columns], [max(c) for c in columns])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("evict", [False, True])
def test_sums_match_python_integers(backend, dtype, shape, evict):
    rng = np.random.default_rng(hash(shape) % 2**32)
    hwc = rng.integers(0, np.iinfo(dtype).max + 1, shape[1:] + shape[:1]).astype(dtype)
    image = torch.from_numpy(hwc).permute(2, 0, 1)  # a C×H×W view of H×W×C memory, as decoders give
    running = PixelSums(shape[0], 8 if dtype == np.uint8 else 16)
    running.add(image, evict)  # evict only drops cache lines: the image and the sums are unchanged
    s = running.result()
    assert (s.sums, s.squares, s.mins, s.maxs) == reference(hwc)
    assert s.count == shape[1] * shape[2]
    assert np.array_equal(image.permute(1, 2, 0).numpy(), hwc)


def test_contiguous_chw_input_gives_the_same_sums(backend):
    hwc = np.random.default_rng(3).integers(0, 256, (40, 50, 3)).astype(np.uint8)
    chw = torch.from_numpy(hwc).permute(2, 0, 1).contiguous()
    s = IntegerSums.of(chw)
    assert (s.sums, s.squares, s.mins, s.maxs) == reference(hwc)


def test_no_lane_overflow_on_a_large_white_image(backend):
    # 2000 x 3000 x 3 at 255: past the C loop's 65,536-row flush of its 32-bit lanes.
    image = torch.full((3, 2000, 3000), 255, dtype=torch.uint8)
    s = IntegerSums.of(image)
    assert s.sums == [255 * 6_000_000] * 3 and s.squares == [255**2 * 6_000_000] * 3


def test_running_sums_spill_into_python_integers(backend, monkeypatch):
    monkeypatch.setitem(moments._SPILL_AFTER, 16, 1000)  # spill after every few images
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 65536, (20, 30, 1)).astype(np.uint16) for _ in range(7)]
    running = PixelSums(1, 16)
    for hwc in images:
        running.add(torch.from_numpy(hwc).permute(2, 0, 1))
    s = running.result()
    assert (s.sums, s.squares, s.mins, s.maxs) == reference(np.concatenate([i.reshape(-1, 1) for i in images]))
    assert s.count == 7 * 600


def test_extension_refuses_bad_buffers():
    if moments._pixelsums is None:
        pytest.skip("C extension not built")
    add = moments._pixelsums.add
    state = np.zeros((4, 3), dtype=np.uint64)
    with pytest.raises(ValueError, match="C x H x W"):
        add(np.zeros((3, 10), np.uint8), state)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        add(np.zeros((3, 2, 2), np.float32), state)
    with pytest.raises(ValueError, match="channels"):
        add(np.zeros((5, 2, 2), np.uint8), np.zeros((4, 5), np.uint64))
    with pytest.raises(ValueError, match="state"):
        add(np.zeros((3, 2, 2), np.uint8), np.zeros((4, 2), np.uint64))
    with pytest.raises(OverflowError, match="2\\^31"):  # 16-bit squares of one call must fit in uint64
        add(np.lib.stride_tricks.as_strided(np.zeros(1, np.uint16), (1, 2**16, 2**15 + 2), (0, 0, 0)),
            np.zeros((4, 1), np.uint64))
    assert not state.any()  # nothing was added by a refused call


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("view", ["chw", "hwc-view", "cropped", "every-other-column", "broadcast"])
def test_any_strides_give_the_same_sums(backend, dtype, view):
    # Resizes and crops give C×H×W-contiguous or strided tensors, not decoders' H×W×C memory.
    rng = np.random.default_rng(5)
    hwc = rng.integers(0, np.iinfo(dtype).max + 1, (37, 70, 3)).astype(dtype)
    base = torch.from_numpy(hwc).permute(2, 0, 1)
    image = {"chw": base.contiguous(), "hwc-view": base, "cropped": base[:, 3:30, 5:66],
             "every-other-column": base[:, :, ::2], "broadcast": base[:1, :1, :].expand(3, 40, 70)}[view]
    expected = image.permute(1, 2, 0).contiguous().numpy()
    s = IntegerSums.of(image)
    assert (s.sums, s.squares, s.mins, s.maxs) == reference(expected)
    assert s.count == image.shape[1] * image.shape[2]
