"""load_images: batches, labels, layouts, dtypes, scaling, normalization, sizes, workers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import PHOTOS, SPECIAL, smooth_rgb, tv_decode, write_png16
from tensortool import InputError, OptionError, load_images


def tutorial_batch(files) -> torch.Tensor:
    """What the tutorials do: imageio.imread -> from_numpy -> permute -> stack -> float()/255."""
    import imageio.v2 as imageio

    return torch.stack([torch.from_numpy(imageio.imread(f)).permute(2, 0, 1) for f in files]).float() / 255


def test_imagefolder_matches_torchvision():
    from torchvision.datasets import ImageFolder

    ref = ImageFolder(str(PHOTOS))
    bundle = load_images(PHOTOS)
    assert bundle.meta["class_names"] == ref.classes
    assert bundle.meta["files"] == [p for p, _ in ref.samples]
    assert bundle["labels"].tolist() == [label for _, label in ref.samples]
    assert bundle["labels"].dtype == torch.int64


def test_default_equals_tutorial_loop():
    bundle = load_images(PHOTOS)
    images = bundle["images"]
    assert images.dtype == torch.float32 and images.shape == (9, 3, 192, 256)
    assert torch.equal(images, tutorial_batch(bundle.meta["files"]))


def test_plain_folder_sorted_no_labels(flat):
    bundle = load_images(flat)
    assert [p.split("/")[-1] for p in bundle.meta["files"]] == ["img0.png", "img1.png", "img2.png", "img3.png"]
    assert "labels" not in bundle.tensors and "class_names" not in bundle.meta


def test_glob_and_duplicates(flat):
    bundle = load_images([str(flat / "img[12].png"), str(flat / "img1.png")])
    assert [p.split("/")[-1] for p in bundle.meta["files"]] == ["img1.png", "img2.png"]


def test_folder_walk_matches_os_walk_and_reads_linked_files_once(tmp_path):
    import os

    from tensortool.sources.image.files import find_images

    root = tmp_path / "data"
    for sub in ("b", "a/x", "a/y", "a.b"):
        (root / sub).mkdir(parents=True)
    for name in ("b/2.png", "b/1.png", "a/x/9.png", "a/y/0.png", "a.b/5.png", "top.png"):
        Image.fromarray(smooth_rgb(8, 8, 1)).save(root / name)
    expected = [os.path.join(r, f) for r, _, files in sorted(os.walk(root)) for f in sorted(files)]
    assert [str(p) for p in find_images([root]).files] == expected
    (root / "b" / "link.png").symlink_to(root / "b" / "1.png")  # the same file under two names
    (root / "c").symlink_to(root / "a")  # a linked folder: its files again, under c/
    files = [str(p.relative_to(root)) for p in find_images([root]).files]
    assert files == ["top.png", "a.b/5.png", "a/x/9.png", "a/y/0.png", "b/1.png", "b/2.png"]


def test_hidden_files_and_non_images_ignored(flat):
    (flat / "notes.txt").write_text("hello")
    (flat / ".hidden").mkdir()
    Image.fromarray(smooth_rgb(20, 30, 9)).save(flat / ".hidden" / "x.png")
    assert load_images(flat).meta["count"] == 4


@pytest.mark.parametrize("layout,perm", [("nchw", (0, 1, 2, 3)), ("nhwc", (0, 2, 3, 1))])
def test_batch_layouts(flat, layout, perm):
    ref = load_images(flat)["images"]
    got = load_images(flat, layout=layout)["images"]
    assert torch.equal(got, ref.permute(*perm)) and got.is_contiguous()


@pytest.mark.parametrize("layout,perm", [("chw", (0, 1, 2)), ("hwc", (1, 2, 0))])
def test_single_image_layouts(flat, layout, perm):
    ref = tv_decode(flat / "img0.png").float() / 255
    got = load_images(flat / "img0.png", layout=layout)["images"]
    assert torch.equal(got, ref.permute(*perm))


def test_single_image_layout_refuses_a_batch(flat):
    with pytest.raises(OptionError, match="single image, but 4"):
        load_images(flat, layout="chw")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_float_dtypes(flat, dtype):
    raw = load_images(flat, dtype="uint8")["images"]
    got = load_images(flat, dtype=dtype)["images"]
    work = torch.float64 if dtype == "float64" else torch.float32
    assert got.dtype == getattr(torch, dtype)
    assert torch.equal(got, (raw.to(work) / 255).to(getattr(torch, dtype)))


def test_uint8_keeps_raw_values(flat):
    got = load_images(flat, dtype="uint8")["images"]
    assert got.dtype == torch.uint8 and torch.equal(got[0], tv_decode(flat / "img0.png"))


def test_no_scale_keeps_raw_values_as_float(flat):
    got = load_images(flat, scale=False)["images"]
    assert torch.equal(got[0], tv_decode(flat / "img0.png").float())


def test_sixteen_bit_scaling(tmp_path):
    values = np.random.default_rng(1).integers(0, 65536, (6, 5), dtype=np.uint16)
    path = write_png16(tmp_path / "a.png", values)
    got = load_images(path, mode="gray")
    assert got.meta["bit_depths"] == [16]
    assert torch.equal(got["images"][0, 0], torch.from_numpy(values.astype(np.float32)) / 65535)
    with pytest.raises(OptionError, match="16-bit image"):
        load_images(path, dtype="uint8")
    scaled = load_images(path, mode="gray", dtype="uint8", scale=True)["images"][0, 0]
    assert torch.equal(scaled, torch.from_numpy(np.round(values / 257).astype(np.uint8)))


def test_mixed_bit_depths_each_scaled_by_its_own(tmp_path):
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(tmp_path / "a8.png")
    write_png16(tmp_path / "b16.png", np.full((4, 4), 65535, np.uint16))
    got = load_images(tmp_path, mode="gray")
    assert got.meta["bit_depths"] == [8, 16] and torch.equal(got["images"], torch.ones(2, 1, 4, 4))


@pytest.mark.parametrize("spec", ["imagenet", "0.485,0.456,0.406/0.229,0.224,0.225", "stats.json"])
def test_normalize_matches_torchvision(tmp_path, flat, spec):
    from torchvision.transforms import Normalize

    if spec == "stats.json":
        spec = str(tmp_path / "stats.json")
        (tmp_path / "stats.json").write_text(json.dumps({"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}))
    ref = Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])(load_images(flat)["images"])
    bundle = load_images(flat, normalize=spec)
    assert torch.allclose(bundle["images"], ref, rtol=0, atol=1e-6)
    assert bundle.meta["normalize"]["mean"] == [0.485, 0.456, 0.406]


def test_normalize_nhwc_and_single_value(flat):
    ref = (load_images(flat)["images"] - 0.5) / 0.25
    got = load_images(flat, normalize="0.5/0.25", layout="nhwc")["images"]
    assert torch.allclose(got, ref.permute(0, 2, 3, 1), atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"normalize": "imagenet", "mode": "gray"}, "3 values per statistic but the images have 1"),
    ({"normalize": "imagenet", "dtype": "uint8"}, "floating-point"),
    ({"normalize": "1,2/3"}, "2 mean value"),
    ({"normalize": "0.5/0"}, "std must be > 0"),
    ({"normalize": "banana"}, "expected 'imagenet'"),
])
def test_normalize_errors(flat, kwargs, match):
    with pytest.raises(OptionError, match=match):
        load_images(flat, **kwargs)


def test_raw_scale_statistics(tmp_path, flat):
    from torchvision.transforms import Normalize

    raw_mean, raw_std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]  # mmcv's ImageNet constants
    got = load_images(flat, scale=False, normalize="123.675,116.28,103.53/58.395,57.12,57.375")["images"]
    assert torch.allclose(got, Normalize(raw_mean, raw_std)(load_images(flat, scale=False)["images"]), atol=1e-5)
    stats = tmp_path / "raw.json"
    stats.write_text(json.dumps({"mean": raw_mean, "std": raw_std, "scale": "raw"}))
    assert torch.equal(load_images(flat, scale=False, normalize=str(stats))["images"], got)
    with pytest.raises(OptionError, match="describe raw values"):
        load_images(flat, normalize=str(stats))
    with pytest.raises(OptionError, match="describe unit values"):
        load_images(flat, normalize="imagenet", scale=False)


def test_resize_crop_match_torchvision(flat):
    import torchvision.transforms.v2.functional as F

    got = load_images(flat, resize=[16], center_crop=[12, 14], dtype="uint8")["images"]
    ref = torch.stack([F.center_crop(F.resize(tv_decode(flat / f"img{i}.png"), [16], antialias=True), [12, 14])
                       for i in range(4)])
    assert torch.equal(got, ref)


def test_different_sizes_error_lists_them(flat):
    Image.fromarray(smooth_rgb(40, 10, 5)).save(flat / "odd.png")
    with pytest.raises(OptionError) as info:
        load_images(flat)
    text = str(info.value)
    assert "20x30 (4 files, e.g." in text and "40x10 (1 file, e.g." in text and "odd.png" in text
    assert load_images(flat, resize=[8, 8])["images"].shape == (5, 3, 8, 8)


def test_one_hot(tree):
    bundle = load_images(tree, one_hot=True)
    assert torch.equal(bundle["labels_onehot"], torch.nn.functional.one_hot(bundle["labels"], 2).float())
    assert bundle["labels"].tolist() == [0, 0, 0, 1, 1]


def test_one_hot_needs_classes(flat):
    with pytest.raises(OptionError, match="class"):
        load_images(flat, one_hot=True)


def test_workers_give_identical_output(tree, tmp_path):
    from tensortool import write_bundle

    outputs = []
    for n in (1, 2, 3):
        path = tmp_path / f"w{n}.pt"
        bundle = load_images(tree, workers=n, resize=[10], center_crop=[10, 10], normalize="imagenet")
        write_bundle(bundle, path)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("count", [1, 7, 8, 9, 17, 70])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_iter_images_yields_every_file_once_in_order(tmp_path, count, workers):
    from tensortool.sources.image.load import ImageOptions, iter_images

    files = []
    for i in range(count):
        Image.fromarray(np.full((2, 2), i, np.uint8)).save(tmp_path / f"{i:03d}.png")
        files.append(tmp_path / f"{i:03d}.png")
    seen = [(i, r) for i, r, _ in iter_images(files, ImageOptions(mode="gray"), lambda i, img: int(img[0, 0, 0]),
                                               workers=workers)]
    assert seen == [(i, i) for i in range(count)]


def test_tiny_files_default_to_one_worker(tmp_path, flat):
    from tensortool.sources.image.load import default_workers

    assert default_workers(sorted(flat.iterdir())) == 1  # a few hundred bytes each
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(big)
    assert default_workers([big]) >= 1 and default_workers([big]) == default_workers()


def test_bad_file_fails_or_is_skipped(flat):
    (flat / "zz_bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError) as info:
        load_images(flat)
    assert info.value.path.endswith("zz_bad.png")
    bundle = load_images(flat, skip_bad=True)
    assert bundle["images"].shape[0] == 4 and len(bundle.meta["files"]) == 4
    assert [s["file"].split("/")[-1] for s in bundle.meta["skipped"]] == ["zz_bad.png"]
    assert torch.equal(bundle["images"], load_images(flat / "img*.png")["images"])


def test_skip_bad_keeps_labels_aligned(tree):
    (tree / "a_cat" / "01.jpg").write_bytes(b"not a jpeg")
    bundle = load_images(tree, skip_bad=True)
    assert bundle["labels"].tolist() == [0, 0, 1, 1]
    assert torch.equal(bundle["images"][1], load_images(tree / "a_cat" / "02.jpg")["images"][0])


@pytest.mark.parametrize("paths,match", [
    (["/nonexistent/x.png"], "no such file"),
    (["/nonexistent/*.png"], "no image file matches"),
])
def test_missing_inputs(paths, match):
    with pytest.raises(InputError, match=match):
        load_images(paths)


def test_empty_folder(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="no image files"):
        load_images(tmp_path / "e")


def test_meta_is_json_and_describes_the_batch():
    bundle = load_images(PHOTOS, resize=[64], center_crop=[64, 64], normalize="imagenet")
    meta = json.loads(json.dumps(bundle.meta))
    assert meta["layout"] == "nchw" and meta["resize"] == [64] and meta["center_crop"] == [64, 64]
    assert meta["count"] == 9 and meta["normalize"]["source"] == "imagenet"


def test_special_folder_rgb_all_formats():
    files = sorted(p for p in SPECIAL.iterdir() if p.suffix != ".py" and "not_an" not in p.name
                   and "truncated" not in p.name)
    bundle = load_images(files, resize=[16, 16])
    assert bundle["images"].shape == (len(files), 3, 16, 16)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("name", ["rgba.png", "rgb16.png"])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("normalize", [None, "0.485,0.456,0.406/0.229,0.224,0.225"])
def test_float32_is_torchs_float32_arithmetic_bit_for_bit(layout, name, scale, normalize):
    """The float32 conversion runs in numpy; torch's own float32 ops are the reference."""
    if normalize is not None and not scale:
        normalize = "120,110,100/60,50,40"
    img = tv_decode(SPECIAL / name, "RGB")
    ref = img.to(torch.float32)
    if scale:
        ref = ref / (255 if img.dtype == torch.uint8 else 65535)
    if normalize is not None:
        mean, std = (torch.tensor([float(v) for v in part.split(",")], dtype=torch.float64).to(torch.float32)
                     for part in normalize.split("/"))
        ref = (ref - mean.view(-1, 1, 1)) / std.view(-1, 1, 1)
    if layout == "nhwc":
        ref = ref.permute(1, 2, 0)
    got = load_images(SPECIAL / name, layout=layout, scale=scale, normalize=normalize)["images"][0]
    assert got.dtype == torch.float32 and torch.equal(got, ref)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("name", ["rgba.png", "rgb16.png"])
def test_uint8_is_torchs_conversion_bit_for_bit(layout, name):
    """The uint8 conversion runs in numpy; torch's copy and round(x / 257) are the reference."""
    img = tv_decode(SPECIAL / name, "RGB")
    ref = img if img.dtype == torch.uint8 else torch.round(img.to(torch.float32) / 257.0).to(torch.uint8)
    if layout == "nhwc":
        ref = ref.permute(1, 2, 0)
    got = load_images(SPECIAL / name, layout=layout, dtype="uint8", scale=True)["images"][0]
    assert got.dtype == torch.uint8 and torch.equal(got, ref)
    if img.dtype != torch.uint8:  # a real 16-bit image: values that round both ways are present
        assert (img.to(torch.int64) % 257 != 0).any()
