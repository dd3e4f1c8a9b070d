"""dataset_stats and merge_stats against a float64 two-pass reference over all pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import PHOTOS, SPECIAL, smooth_rgb, tv_decode, write_png16
from tensortool import InputError, OptionError, dataset_stats, load_images, merge_stats, write_bundle, Bundle
from tensortool.moments import PixelSums


def reference(images: torch.Tensor, channel_dim: int = 1, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-pass float64 mean/std over every value, per channel."""
    x = np.moveaxis(images.double().numpy(), channel_dim, 0).reshape(images.shape[channel_dim], -1)
    mean = x.mean(1)
    return mean, np.sqrt(((x - mean[:, None]) ** 2).sum(1) / (x.shape[1] - ddof))


def test_matches_reference_on_photos():
    doc = dataset_stats(PHOTOS).to_json()
    mean, std = reference(load_images(PHOTOS, dtype="float64")["images"])
    assert np.allclose(doc["mean"], mean, rtol=1e-12) and np.allclose(doc["std"], std, rtol=1e-9)
    assert doc["count"] == 9 and doc["values_per_channel"] == 9 * 192 * 256 and doc["scale"] == "unit"


def test_raw_unbiased_and_options_follow_load_image():
    doc = dataset_stats(PHOTOS, raw=True, resize=[50], center_crop=[40, 40], mode="gray").to_json(unbiased=True)
    ref = load_images(PHOTOS, scale=False, dtype="float64", resize=[50], center_crop=[40, 40], mode="gray")["images"]
    mean, std = reference(ref, ddof=1)
    assert np.allclose(doc["mean"], mean, rtol=1e-12) and np.allclose(doc["std"], std, rtol=1e-9)
    assert doc["ddof"] == 1 and doc["scale"] == "raw" and doc["max"][0] <= 255


def test_mixed_bit_depths(tmp_path):
    Image.fromarray(smooth_rgb(6, 7, 1)[..., 0]).save(tmp_path / "a.png")
    write_png16(tmp_path / "b.png", np.random.default_rng(0).integers(0, 65536, (6, 7), dtype=np.uint16))
    doc = dataset_stats(tmp_path, mode="gray").to_json()
    mean, std = reference(load_images(tmp_path, mode="gray", dtype="float64")["images"])
    assert np.allclose(doc["mean"], mean, rtol=1e-12) and np.allclose(doc["std"], std, rtol=1e-9)


def test_workers_and_order_do_not_change_the_result(flat):
    one = dataset_stats(flat, workers=1).to_json()
    two = dataset_stats(flat, workers=2).to_json()
    backwards = dataset_stats(sorted(flat.iterdir(), reverse=True), workers=3).to_json()
    assert one["state"] == two["state"] and one["mean"] == backwards["mean"] and one["std"] == backwards["std"]


def test_shards_merge_to_the_single_run(tmp_path):
    whole = dataset_stats(PHOTOS).to_json()
    paths = []
    for i in range(3):
        path = tmp_path / f"s{i}.json"
        path.write_text(json.dumps(dataset_stats(PHOTOS, shard=(i, 3)).to_json()))
        paths.append(path)
    merged = merge_stats(paths).to_json()
    assert merged["mean"] == whole["mean"] and merged["std"] == whole["std"] and merged["count"] == 9
    assert merged["state"]["integer"] == whole["state"]["integer"]
    partial = merge_stats(paths[:2])
    assert "missing" in " ".join(partial.warnings)
    with pytest.raises(InputError, match="already in the merge"):
        merge_stats([paths[0], paths[0]])


def test_merge_refuses_other_options(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(dataset_stats(PHOTOS, shard=(0, 2)).to_json()))
    (tmp_path / "b.json").write_text(json.dumps(dataset_stats(PHOTOS, shard=(1, 2), resize=[20]).to_json()))
    with pytest.raises(InputError, match="other options"):
        merge_stats([tmp_path / "a.json", tmp_path / "b.json"])
    (tmp_path / "c.json").write_text('{"mean": [0.5], "std": [0.2]}')
    with pytest.raises(InputError, match="mergeable state"):
        merge_stats([tmp_path / "a.json", tmp_path / "c.json"])


def test_normalize_round_trip(tmp_path):
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(dataset_stats(PHOTOS).to_json()))
    images = load_images(PHOTOS, normalize=str(path), dtype="float64")["images"]
    mean, std = reference(images)
    assert np.allclose(mean, 0, atol=1e-9) and np.allclose(std, 1, atol=1e-9)


def test_float32_cancellation_case(tmp_path):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(1e4, 1.0, (64, 3, 32, 32)).astype(np.float32))
    write_bundle(Bundle({"x": x}, {}), tmp_path / "x.pt")
    doc = dataset_stats(tmp_path / "x.pt").to_json()
    mean, std = reference(x)
    assert np.allclose(doc["mean"], mean, rtol=1e-12) and np.allclose(doc["std"], std, rtol=1e-9)
    naive = (x.transpose(0, 1).reshape(3, -1) ** 2).mean(1) - x.transpose(0, 1).reshape(3, -1).mean(1) ** 2
    assert not np.allclose(naive.clamp(min=0).sqrt().numpy(), std, rtol=1e-2)  # what float32 E[x²]−E[x]² gives


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".npy", ".npz"])
def test_tensor_files_and_channel_dim(tmp_path, suffix):
    x = torch.rand(5, 7, 4)  # 3-D: channels on dim 0 by default
    other = {} if suffix == ".npy" else {"other": torch.zeros(2)}  # .npy holds one array
    write_bundle(Bundle({"features": x, **other}, {}), tmp_path / f"t{suffix}")
    doc = dataset_stats(tmp_path / f"t{suffix}").to_json()
    assert np.allclose(doc["mean"], reference(x, 0)[0], rtol=1e-12)
    last = dataset_stats(tmp_path / f"t{suffix}", channel_dim=-1).to_json()
    assert np.allclose(last["std"], reference(x, 2)[1], rtol=1e-9) and len(last["std"]) == 4


def test_tensor_key_and_columns(tmp_path):
    features = torch.rand(100, 6, dtype=torch.float64)
    write_bundle(Bundle({"features": features, "target": torch.zeros(100)}, {}), tmp_path / "t.pt")
    doc = dataset_stats(tmp_path / "t.pt", key="features").to_json()  # 2-D: per column
    assert np.allclose(doc["mean"], features.mean(0).numpy(), rtol=1e-12)
    with pytest.raises(InputError, match="no tensor named 'nope'"):
        dataset_stats(tmp_path / "t.pt", key="nope")


def test_load_image_output_is_marked_unit_scale(tmp_path):
    write_bundle(load_images(PHOTOS), tmp_path / "b.pt")
    doc = dataset_stats(tmp_path / "b.pt").to_json()
    assert doc["scale"] == "unit"
    assert np.allclose(doc["mean"], dataset_stats(PHOTOS).to_json()["mean"], rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"shard": "3/3"}, "0 <= I < N"), ({"shard": "x"}, "expected I/N"), ({"key": "a"}, "tensor files"),
])
def test_option_errors(kwargs, match):
    with pytest.raises(OptionError, match=match):
        dataset_stats(PHOTOS, **kwargs)


def test_mixed_channels_and_skip_bad(tmp_path):
    with pytest.raises(OptionError, match="channel count"):
        dataset_stats([SPECIAL / "rgba.png", SPECIAL / "gray.png"], mode="unchanged")
    result = dataset_stats([SPECIAL / "gray.png", SPECIAL / "truncated.jpg"], skip_bad=True)
    assert result.images == 1 and result.skipped[0]["file"].endswith("truncated.jpg")
    with pytest.raises(InputError, match="truncated"):
        dataset_stats([SPECIAL / "gray.png", SPECIAL / "truncated.jpg"])


def test_layout_meta_picks_the_channel_axis(tmp_path):
    write_bundle(load_images(PHOTOS, layout="nhwc"), tmp_path / "nhwc.safetensors")
    doc = dataset_stats(tmp_path / "nhwc.safetensors").to_json()
    assert len(doc["mean"]) == 3
    assert np.allclose(doc["mean"], dataset_stats(PHOTOS).to_json()["mean"], rtol=1e-6)


def test_only_large_jpegs_are_evicted_from_the_caches(tmp_path, monkeypatch):
    # A cache hint for pixels JPEG decoders leave in memory, never a change in the sums.
    seen = []
    real_add = PixelSums.add
    monkeypatch.setattr(PixelSums, "add", lambda self, image, evict=False: (seen.append(evict), real_add(self, image, evict)))
    Image.fromarray(smooth_rgb(200, 150, 1)).save(tmp_path / "big.png")
    Image.fromarray(smooth_rgb(200, 150, 2)).save(tmp_path / "big.JPG")
    Image.fromarray(smooth_rgb(20, 15, 3)).save(tmp_path / "small.jpg")
    doc = dataset_stats(tmp_path, workers=1).to_json()
    assert seen == [True, False, False]  # big.JPG, big.png, small.jpg: sorted by name
    pixels = torch.cat([tv_decode(tmp_path / n).reshape(3, -1) for n in ("big.JPG", "big.png", "small.jpg")], 1)
    mean, std = reference(pixels[None].double() / 255)
    assert np.allclose(doc["mean"], mean, rtol=1e-12) and np.allclose(doc["std"], std, rtol=1e-9)
