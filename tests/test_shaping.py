"""Layout and normalization round trips (property tests) and the parsers."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings, strategies as st

from tensortool import InputError, OptionError, parse_normalization
from tensortool.shaping import Normalization, convert_into, from_layout, one_hot, to_layout

shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5))


@settings(max_examples=50, deadline=None)
@given(shapes, st.sampled_from(["nchw", "nhwc"]))
def test_layout_round_trip(shape, layout):
    x = torch.arange(torch.Size(shape).numel()).reshape(shape)
    there = to_layout(x, layout)
    assert torch.equal(from_layout(there, layout), x)
    if layout == "nhwc":
        assert there.shape == (shape[0], shape[2], shape[3], shape[1])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.sampled_from(["chw", "hwc"]),
       st.lists(st.floats(0.01, 0.99), min_size=1, max_size=1), st.lists(st.floats(0.05, 2.0), min_size=1, max_size=1),
       st.integers(0, 2**16))
def test_normalize_round_trip(c, h, w, layout, mean, std, seed):
    gen = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (c, h, w), dtype=torch.uint8, generator=gen)
    norm = Normalization(tuple(mean), tuple(std), "test").for_channels(c)
    out = torch.empty(to_layout(img, layout).shape)
    convert_into(out, img, layout=layout, scale=True, normalization=norm)
    back = from_layout(out, layout) * std[0] + mean[0]
    assert torch.allclose(back, img.float() / 255, atol=1e-5)


def test_scaling_is_the_tutorial_division():
    img = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    out = torch.empty(1, 16, 16)
    convert_into(out, img, layout="chw", scale=True, normalization=None)
    assert torch.equal(out, img.float() / 255)  # division, not multiplication by 1/255


def test_parse_forms(tmp_path):
    assert parse_normalization("imagenet").mean == (0.485, 0.456, 0.406)
    assert parse_normalization("0.1,0.2/0.3,0.4") == Normalization((0.1, 0.2), (0.3, 0.4), "0.1,0.2/0.3,0.4", None)
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"mean": [0.5], "std": [0.2], "count": 3}))
    assert parse_normalization(str(path)).std == (0.2,)


@pytest.mark.parametrize("content,match", [("{", "not a readable"), ('{"mean": [1]}', "'mean' and 'std'"),
                                           ('{"mean": [1], "std": [1], "scale": "0..1"}', "'scale' must be")])
def test_bad_stats_files(tmp_path, content, match):
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        parse_normalization(str(path))


def test_missing_stats_file():
    with pytest.raises(InputError, match="no such stats file"):
        parse_normalization("/nonexistent/stats.json")


def test_non_finite_values():
    with pytest.raises(OptionError, match="finite"):
        parse_normalization("nan/1")


def test_one_hot():
    assert torch.equal(one_hot(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
