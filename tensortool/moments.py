"""Streaming, mergeable per-channel moments in float64 (Chan et al.'s parallel update).

``Moments`` holds count, mean and M2 (sum of squared deviations) per channel, so partial
results from chunks, workers or shards combine exactly without revisiting the data, and
without the cancellation that E[x^2] - E[x]^2 suffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

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

    def var(self, correction: int = 0) -> torch.Tensor:
        """Variance; ``correction=0`` is the population variance, 1 the sample variance."""
        return self.m2 / (self.count - correction).clamp(min=1)

    def std(self, correction: int = 0) -> torch.Tensor:
        return self.var(correction).sqrt()
