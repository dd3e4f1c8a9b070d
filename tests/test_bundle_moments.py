"""Moments and summaries against a numpy float64 two-pass reference."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from tensortool import Bundle, summarize, tensor_summary
from tensortool.moments import Moments


def test_moments_match_float64_two_pass():
    rng = np.random.default_rng(0)
    x = rng.normal(1e4, 1.0, (50, 3, 40, 40)).astype(np.float32)  # E[x^2]-E[x]^2 in float32 fails here
    m = Moments.of(torch.from_numpy(x), channel_dim=1)
    ref = x.astype(np.float64).transpose(1, 0, 2, 3).reshape(3, -1)
    assert np.allclose(m.mean.numpy(), ref.mean(1), rtol=1e-12)
    assert np.allclose(m.std().numpy(), ref.std(1), rtol=1e-9)
    assert np.allclose(m.std(1).numpy(), ref.std(1, ddof=1), rtol=1e-9)
    naive = np.sqrt(np.maximum((x.transpose(1, 0, 2, 3).reshape(3, -1) ** 2).mean(1) - x.mean() ** 2, 0))
    assert not np.allclose(naive, ref.std(1), rtol=1e-2)  # the reference case really is hard


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 2**16))
def test_merge_of_parts_equals_whole(sizes, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 3), (n, 2)) for n in sizes]
    merged = Moments.empty(2)
    for p in parts:
        merged = merged.merge(Moments.of(torch.from_numpy(p), channel_dim=1))
    whole = np.concatenate(parts)
    assert np.allclose(merged.mean.numpy(), whole.mean(0), rtol=1e-12, atol=1e-12)
    assert np.allclose(merged.var().numpy(), whole.var(0), rtol=1e-9, atol=1e-12)
    assert np.allclose(merged.min.numpy(), whole.min(0)) and np.allclose(merged.max.numpy(), whole.max(0))


def test_chunking_does_not_change_the_result(monkeypatch):
    import tensortool.moments as stats

    x = torch.rand(7, 3, 33, 17)
    big = Moments.of(x, 1)
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 100)
    small = Moments.of(x, 1)
    assert torch.allclose(big.mean, small.mean, rtol=1e-12) and torch.allclose(big.m2, small.m2, rtol=1e-10)


def test_tensor_summary_fields():
    x = torch.tensor([[[1.0, 3.0]], [[5.0, 7.0]]])  # 2 channels along dim 0
    s = tensor_summary(x, channel_axis=0)
    assert s["shape"] == [2, 1, 2] and s["dtype"] == "float32" and s["bytes"] == 16
    assert (s["min"], s["max"], s["mean"]) == (1.0, 7.0, 4.0)
    assert s["channel_mean"] == [2.0, 6.0] and s["channel_std"] == [1.0, 1.0]


def test_summary_handles_odd_tensors():
    s = summarize(Bundle({"e": torch.zeros(0), "b": torch.tensor([True, False]), "n": torch.tensor([float("nan")])}))
    assert s["e"]["min"] is None and s["b"]["max"] == 1.0 and s["n"]["mean"] is None


def test_per_channel_only_for_primary_with_layout():
    b = Bundle({"images": torch.rand(2, 3, 4, 4), "labels": torch.tensor([0, 1])}, {"layout": "nhwc"}, "images")
    s = summarize(b)
    assert len(s["images"]["channel_mean"]) == 4  # nhwc: the last axis
    assert "channel_mean" not in s["labels"]
