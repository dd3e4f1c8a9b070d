"""Streaming, mergeable per-channel moments in float64 (Chan et al.'s parallel update).

``Moments`` holds count, mean and M2 (sum of squared deviations) per channel, so partial
results from chunks, workers or shards combine exactly without revisiting the data, and
without the cancellation that E[x^2] - E[x]^2 suffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

try:
    from . import _pixelsums  # the optional C loop (setup.py); numpy below does the same, slower
except ImportError:
    _pixelsums = None

_CHUNK_ELEMENTS = 1 << 22  # ~32 MiB of float64 per chunk: bounded memory on any tensor


@dataclass
class Moments:
    """Per-channel count, mean, M2, min and max, all float64.

    >>> m = Moments.of(torch.tensor([[1.0, 2.0, 3.0]]), channel_dim=0)
    >>> m.mean.tolist(), m.std().tolist()
    ([2.0], [0.816496580927726])
    """

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor
    min: torch.Tensor
    max: torch.Tensor

    @classmethod
    def empty(cls, channels: int) -> "Moments":
        zeros = torch.zeros(channels, dtype=torch.float64)
        return cls(zeros.clone(), zeros.clone(), zeros.clone(),
                   torch.full((channels,), float("inf"), dtype=torch.float64),
                   torch.full((channels,), float("-inf"), dtype=torch.float64))

    @classmethod
    def of(cls, x: torch.Tensor, channel_dim: int | None = None) -> "Moments":
        """Moments of ``x`` per channel along ``channel_dim`` (None: one channel, all values)."""
        if channel_dim is None or x.dim() < 2:
            x = x.reshape(1, -1)
            channel_dim = 0
        channel_dim %= x.dim()
        channels = x.shape[channel_dim]
        total = cls.empty(channels)
        if x.numel() == 0:
            return total
        # Split along the largest other dimension so each chunk stays small in float64.
        other = [d for d in range(x.dim()) if d != channel_dim]
        split_dim = max(other, key=lambda d: x.shape[d])
        step = max(1, _CHUNK_ELEMENTS // max(1, x.numel() // x.shape[split_dim]))
        reduce_dims = tuple(other)
        for chunk in x.split(step, dim=split_dim):
            c = chunk.to(torch.float64)
            n = c.numel() // channels
            var, mean = torch.var_mean(c, dim=reduce_dims, correction=0)
            part = cls(torch.full((channels,), float(n), dtype=torch.float64), mean, var * n,
                       c.amin(dim=reduce_dims), c.amax(dim=reduce_dims))
            total = total.merge(part)
        return total

    def merge(self, other: "Moments") -> "Moments":
        """Exact combination of two partial states (order-independent up to rounding)."""
        n = self.count + other.count
        safe_n = torch.where(n > 0, n, torch.ones_like(n))
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / safe_n)
        m2 = self.m2 + other.m2 + delta * delta * (self.count * other.count / safe_n)
        return Moments(n, mean, m2, torch.minimum(self.min, other.min), torch.maximum(self.max, other.max))

    def pooled(self) -> "Moments":
        """All channels combined into one, exactly (the same merge, across channels)."""
        total = Moments.empty(1)
        for c in range(self.count.numel()):
            total = total.merge(Moments(*(v[c:c + 1] for v in
                                          (self.count, self.mean, self.m2, self.min, self.max))))
        return total

    def to_json(self) -> dict:
        return {name: getattr(self, name).tolist() for name in ("count", "mean", "m2", "min", "max")}

    @classmethod
    def from_json(cls, data: dict) -> "Moments":
        return cls(*(torch.tensor(data[name], dtype=torch.float64) for name in ("count", "mean", "m2", "min", "max")))

    def var(self, correction: int = 0) -> torch.Tensor:
        """Variance; ``correction=0`` is the population variance, 1 the sample variance."""
        return self.m2 / (self.count - correction).clamp(min=1)

    def std(self, correction: int = 0) -> torch.Tensor:
        return self.var(correction).sqrt()


@dataclass
class IntegerSums:
    """Exact per-channel pixel count, sum, sum of squares, min and max of integer images.

    Python integers, so merging in any order gives the same state, bit for bit, and the
    variance comes from n·Σx² − (Σx)² without rounding until the final division.

    >>> s = IntegerSums.of(torch.tensor([[[1, 2], [3, 4]]], dtype=torch.uint8))
    >>> s.count, s.sums, s.squares
    (4, [10], [30])
    """

    count: int
    sums: list[int]
    squares: list[int]
    mins: list[int]
    maxs: list[int]

    @classmethod
    def of(cls, image: torch.Tensor) -> "IntegerSums":
        """Sums of one C×H×W uint8 or uint16 image."""
        sums = PixelSums(image.shape[0], 8 if image.dtype == torch.uint8 else 16)
        sums.add(image)
        return sums.result()

    def merge(self, other: "IntegerSums") -> "IntegerSums":
        return IntegerSums(self.count + other.count,
                           [a + b for a, b in zip(self.sums, other.sums)],
                           [a + b for a, b in zip(self.squares, other.squares)],
                           [min(a, b) for a, b in zip(self.mins, other.mins)],
                           [max(a, b) for a, b in zip(self.maxs, other.maxs)])

    def moments(self, divisor: int = 1) -> Moments:
        """The float64 moments of x / divisor (e.g. 255 for 8-bit images scaled to [0,1])."""
        n = self.count
        mean = [s / n / divisor for s in self.sums]  # int / int is correctly rounded
        m2 = [(n * q - s * s) / n / divisor**2 for s, q in zip(self.sums, self.squares)]
        f64 = lambda values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
        return Moments(f64([float(n)] * len(mean)), f64(mean), f64(m2),
                       f64([v / divisor for v in self.mins]), f64([v / divisor for v in self.maxs]))

    def to_json(self) -> dict:
        return {"count": self.count, "sums": self.sums, "squares": self.squares, "min": self.mins, "max": self.maxs}

    @classmethod
    def from_json(cls, data: dict) -> "IntegerSums":
        return cls(int(data["count"]), [int(v) for v in data["sums"]], [int(v) for v in data["squares"]],
                   [int(v) for v in data["min"]], [int(v) for v in data["max"]])


class PixelSums:
    """Running exact sums of many C×H×W images of one channel count and bit depth.

    With the C extension each image costs one pass over its own H×W×C memory (decoders return
    C×H×W views of that), outside the GIL; without it, numpy's exact widening sums (~6x slower
    for a 256x256 RGB image). One instance per thread: ``add`` is not locked.

    >>> s = PixelSums(1, 8)
    >>> s.add(torch.tensor([[[1, 2], [3, 4]]], dtype=torch.uint8))
    >>> s.result().squares
    [30]
    """

    def __init__(self, channels: int, bits: int):
        self.channels, self.bits = channels, bits
        self.total: IntegerSums | None = None
        self._state = self._fresh_state()
        self._pending = 0  # values per channel in _state, not yet in total
        self._limit = _SPILL_AFTER[bits]
        self._fast = _pixelsums is not None and channels <= 4

    def _fresh_state(self) -> np.ndarray:
        state = np.zeros((4, self.channels), dtype=np.uint64)
        state[2] = 2**self.bits - 1  # minima start at the top
        return state

    def add(self, image: torch.Tensor, evict: bool = False) -> None:
        """Add one image; ``evict`` drops its memory from the CPU caches afterwards, which pays
        where the decoder wrote it with non-temporal stores (libjpeg-turbo: see _pixelsums.c)."""
        if not self._fast:
            self._merge(_numpy_sums(image))
            return
        if self._pending > self._limit:
            self._spill()
        # The C×H×W view as it is (no permute, no copy): this is the per-image hot path.
        self._pending += _pixelsums.add(image.numpy(), self._state, evict)

    def _spill(self) -> None:
        if self._pending:
            s = self._state
            self._merge(IntegerSums(self._pending, [int(v) for v in s[0]], [int(v) for v in s[1]],
                                    [int(v) for v in s[2]], [int(v) for v in s[3]]))
            self._state = self._fresh_state()
            self._pending = 0

    def _merge(self, part: IntegerSums) -> None:
        self.total = part if self.total is None else self.total.merge(part)

    def result(self) -> IntegerSums:
        """Everything added so far (raises if nothing was)."""
        self._spill()
        if self.total is None:
            raise ValueError("no images were added")
        return self.total


# Pixels per channel after which the uint64 state is emptied into Python integers: half of what
# sums of squares hold, so that one more image of up to the other half fits before the check.
_SPILL_AFTER = {8: (2**64 - 1) // 255**2 // 2, 16: (2**64 - 1) // 65535**2 // 2}


def _numpy_sums(image: torch.Tensor) -> IntegerSums:
    """The same sums with numpy (no C extension), exact in uint64."""
    a = image.contiguous().numpy().reshape(image.shape[0], -1)
    squared = a.astype(np.uint16 if a.dtype == np.uint8 else np.uint64)  # 255² fits in 16 bits
    squared *= squared
    return IntegerSums(a.shape[1], [int(v) for v in a.sum(1, dtype=np.uint64)],
                       [int(v) for v in squared.sum(1, dtype=np.uint64)],
                       [int(v) for v in a.min(1)], [int(v) for v in a.max(1)])
