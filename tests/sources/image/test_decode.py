"""Decoding one file: pixel values against torchvision (JPEG/PNG/GIF/WebP) and PIL (the rest)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import SPECIAL, PHOTOS, pil_decode, tv_decode, write_png16
from tensortool import ImageOptions, InputError, read_image


def test_photo_matches_torchvision_and_pil():
    path = next(PHOTOS.rglob("*.jpg"))
    got = read_image(path)
    assert torch.equal(got, tv_decode(path))
    assert torch.equal(got, pil_decode(path))  # libjpeg-turbo in both: identical here


@pytest.mark.parametrize("name", ["picture.bmp", "picture.tif"])
@pytest.mark.parametrize("mode,pil_mode", [("rgb", "RGB"), ("gray", "L"), ("rgba", "RGBA")])
def test_pil_formats_match_pil(name, mode, pil_mode):
    assert torch.equal(read_image(SPECIAL / name, ImageOptions(mode=mode)), pil_decode(SPECIAL / name, pil_mode))


def test_exif_orientation_is_applied():
    with Image.open(SPECIAL / "exif_rotate90.jpg") as im:
        stored_w, stored_h = im.size
    got = read_image(SPECIAL / "exif_rotate90.jpg")
    assert tuple(got.shape) == (3, stored_w, stored_h)  # rotated a quarter turn
    assert torch.equal(got, pil_decode(SPECIAL / "exif_rotate90.jpg"))


def test_sixteen_bit_png_keeps_all_bits(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    got = read_image(write_png16(tmp_path / "rgb16.png", rgb), ImageOptions(mode="unchanged"))
    assert got.dtype == torch.uint16
    assert np.array_equal(got.permute(1, 2, 0).numpy(), rgb)
    gray = rng.integers(0, 65536, (5, 7), dtype=np.uint16)
    got = read_image(write_png16(tmp_path / "g16.png", gray), ImageOptions(mode="rgb"))
    assert got.shape == (3, 5, 7) and all(np.array_equal(got[c].numpy(), gray) for c in range(3))


def test_sixteen_bit_tiff_through_pil(tmp_path):
    gray = np.random.default_rng(4).integers(0, 65536, (6, 8), dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.tif")
    got = read_image(tmp_path / "g16.tif", ImageOptions(mode="rgba"))
    assert got.dtype == torch.uint16 and got.shape == (4, 6, 8)
    assert np.array_equal(got[1].numpy(), gray) and int(got[3].int().min()) == 65535


@pytest.mark.parametrize("name,channels,pil_mode", [
    ("palette.png", 3, "RGB"),        # colours, not palette indices
    ("gray_alpha.png", 2, "LA"),
    ("rgba.png", 4, "RGBA"),
    ("gray.png", 1, "L"),
    ("cmyk.jpg", 3, "RGB"),           # colours, not ink separations
])
def test_unchanged_mode_keeps_meaningful_channels(name, channels, pil_mode):
    got = read_image(SPECIAL / name, ImageOptions(mode="unchanged"))
    assert got.shape[0] == channels
    assert torch.equal(got, pil_decode(SPECIAL / name, pil_mode))


def test_gif_is_first_frame():
    with Image.open(SPECIAL / "animated.gif") as im:
        assert im.n_frames > 1
        first = torch.from_numpy(np.asarray(im.convert("RGB")).transpose(2, 0, 1).copy())
    assert torch.equal(read_image(SPECIAL / "animated.gif"), first)


def test_gray_expanded_to_three_equal_channels():
    got = read_image(SPECIAL / "gray.png")
    assert got.shape[0] == 3 and torch.equal(got[0], got[1]) and torch.equal(got[1], got[2])


@pytest.mark.parametrize("name,words", [("not_an_image.jpg", "not an image"), ("truncated.jpg", "truncated")])
def test_bad_files_raise_naming_the_file(name, words):
    with pytest.raises(InputError) as info:
        read_image(SPECIAL / name)
    assert info.value.path == str(SPECIAL / name)
    assert words in str(info.value)


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_image(tmp_path / "empty.png")


def test_resize_and_crop_match_torchvision():
    import torchvision.transforms.v2.functional as F

    path = next(PHOTOS.rglob("*.jpg"))
    ref = F.center_crop(F.resize(tv_decode(path), [100], antialias=True), [90, 80])
    assert torch.equal(read_image(path, ImageOptions(resize=(100,), center_crop=(90, 80))), ref)
    assert read_image(path, ImageOptions(resize=(50, 70))).shape == (3, 50, 70)


def test_palette_png_rgba_is_deterministic_and_opaque(tmp_path):
    im = Image.fromarray(np.random.default_rng(5).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    im.convert("P", palette=Image.ADAPTIVE, colors=200).save(tmp_path / "p.png")
    first = read_image(tmp_path / "p.png", ImageOptions(mode="rgba"))
    assert torch.equal(first, read_image(tmp_path / "p.png", ImageOptions(mode="rgba")))
    assert torch.equal(first, pil_decode(tmp_path / "p.png", "RGBA"))
    im.convert("P", palette=Image.ADAPTIVE, colors=200).save(tmp_path / "t.png", transparency=5)
    with_alpha = read_image(tmp_path / "t.png", ImageOptions(mode="rgba"))
    assert torch.equal(with_alpha, tv_decode(tmp_path / "t.png", "RGB_ALPHA")) and int(with_alpha[3].min()) == 0
