"""How bench times a call: blocks of calls on CPU, CUDA events on GPU; medians and quartiles."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch

from . import gpu

BLOCK_SECONDS = 1e-3   # CPU: one sample is a block of calls lasting at least this long
CUDA_WARMUP_SECONDS = 0.1


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[int]:
    """torch's intra-op thread count set to ``threads`` (None: leave it) and restored."""
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(saved)


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) with linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(samples)

    def q(p: float) -> float:
        pos = p * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


@dataclass
class Timing:
    """How long to measure: ``warmup`` calls, then ``repeat`` samples or samples until ``min_time``."""
    warmup: int = 3
    repeat: int | None = None
    min_time: float = 0.5
    min_repeat: int = 5
    max_repeat: int = 10_000
    cold: bool = False


def _enough(count: int, elapsed: float, timing: Timing) -> bool:
    if timing.repeat is not None:
        return count >= timing.repeat
    return count >= timing.max_repeat or (count >= timing.min_repeat and elapsed >= timing.min_time)


def time_cpu(fn: Callable[[], Any], timing: Timing) -> tuple[list[float], int]:
    """Per-call seconds of blocks of calls (each block ≥ 1 ms, as torch.utils.benchmark does, so
    the clock's resolution and overhead vanish), after ``timing.warmup`` calls."""
    per_call = math.inf
    for _ in range(max(timing.warmup, 1)):
        start = time.perf_counter()
        fn()
        per_call = min(per_call, time.perf_counter() - start)
    number = max(1, math.ceil(BLOCK_SECONDS / max(per_call, 1e-9)))
    samples: list[float] = []
    began = time.perf_counter()
    while not _enough(len(samples), time.perf_counter() - began, timing):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return samples, number


def time_cuda(fn: Callable[[], Any], timing: Timing, index: int, flush: Callable[[], Any] | None) -> list[float]:
    """Per-call seconds between CUDA events, one call per sample (as triton's do_bench), after
    ``timing.warmup`` calls; ``flush`` (the L2 flush of ``timing.cold``) runs before each start event."""
    # Warm-up: the ``warmup`` calls, continued until CUDA_WARMUP_SECONDS have passed so the GPU's
    # clocks have left idle (as do_bench's 25 ms warm-up, longer for a cold device).
    began = time.perf_counter()
    calls = 0
    while calls < max(timing.warmup, 1) or time.perf_counter() - began < CUDA_WARMUP_SECONDS:
        fn()
        calls += 1
        if calls % 8 == 0:
            gpu.cuda.synchronize(index)  # time on the host means time on the GPU only after a sync
    gpu.cuda.synchronize(index)
    # Estimate a call's time to know how many samples the budget allows, then record them all
    # without synchronizing in between (a sync per call would add launch gaps to nothing measured).
    probe_start, probe_end = gpu.cuda.event(), gpu.cuda.event()
    probe_start.record()
    fn()
    probe_end.record()
    gpu.cuda.synchronize(index)
    estimate = max(probe_start.elapsed_time(probe_end) / 1e3, 1e-7)
    if timing.repeat is not None:
        count = timing.repeat
    else:
        count = min(timing.max_repeat, max(timing.min_repeat, math.ceil(timing.min_time / estimate)))
    pairs = [(gpu.cuda.event(), gpu.cuda.event()) for _ in range(count)]
    for start, end in pairs:
        if flush is not None:
            flush()
        start.record()
        fn()
        end.record()
    gpu.cuda.synchronize(index)
    return [start.elapsed_time(end) / 1e3 for start, end in pairs]
