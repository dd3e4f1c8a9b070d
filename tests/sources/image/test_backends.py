"""Every installed decoder gives the same pixels: TorchCodec, torchvision and Pillow against each
other and against Pillow used directly (plus numpy for 16-bit data Pillow cannot hold).

The documented differences (docs/image-backends.md) are asserted as such, with their bound:
gray from a colour JPEG (libjpeg's luma against Pillow's RGB-to-L) and gray from colour PNG/WebP
(libpng/libwebp rounding against Pillow's), at most a few levels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import PHOTOS, SPECIAL, pil_decode, smooth_rgb, write_png16
from tensortool import ImageOptions, InputError, load_images, read_image
from tensortool.errors import OptionError, UsageError
from tensortool.sources.image import backends


def installed() -> list[str]:
    names = []
    for name in ("torchcodec", "torchvision", "pillow"):
        try:
            backends.resolve_decoder(name)
            names.append(name)
        except OptionError:
            pass
    return names


BACKENDS = installed()
NATIVE = [b for b in BACKENDS if b != "pillow"]
MODES = {"rgb": "RGB", "gray": "L", "rgba": "RGBA"}
# "unchanged": the channels that carry meaning, as Pillow names them
UNCHANGED = {"cmyk.jpg": "RGB", "exif_rotate90.jpg": "RGB", "gray.png": "L", "gray_alpha.png": "LA",
             "palette.png": "RGB", "rgba.png": "RGBA", "animated.gif": "RGB", "picture.webp": "RGB",
             "picture.bmp": "RGB", "picture.tif": "RGB"}
SAMPLES = sorted(UNCHANGED) + [str(p.relative_to(PHOTOS.parent)) for p in sorted(PHOTOS.rglob("*.jpg"))[:3]]


def _path(name: str):
    return SPECIAL / name if "/" not in name else PHOTOS.parent / name


def _gray_bound(name: str, backend: str) -> int:
    """How far a decoder's gray may be from Pillow's convert("L") (0: must be equal)."""
    if backend == "pillow" or name.endswith((".bmp", ".tif")):
        return 0  # Pillow decodes these for every backend
    if name.endswith(".jpg"):
        return 16  # libjpeg's Y plane, against L computed from the upsampled, clamped RGB
    return 1 if name in ("rgba.png", "palette.png", "picture.webp") else 0  # rounding of RGB->gray


def decode_all(path, mode: str) -> dict[str, torch.Tensor]:
    return {b: read_image(path, ImageOptions(mode=mode, decoder=b)) for b in BACKENDS}


def max_diff(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a.int() - b.int()).abs().max())


@pytest.mark.parametrize("mode", ["rgb", "gray", "rgba", "unchanged"])
@pytest.mark.parametrize("name", SAMPLES)
def test_every_backend_gives_pillows_pixels(name, mode):
    path = _path(name)
    ref = pil_decode(path, UNCHANGED.get(name, "RGB") if mode == "unchanged" else MODES[mode])
    got = decode_all(path, mode)
    for backend, img in got.items():
        assert img.shape == ref.shape and img.dtype == ref.dtype, (backend, img.shape, ref.shape)
        if mode == "gray":
            assert max_diff(img, ref) <= _gray_bound(name, backend), backend
        else:
            assert torch.equal(img, ref), backend
    if name.endswith(".webp") and mode == "gray":
        return  # torchvision ignores GRAY for WebP, so Pillow decodes it there; TorchCodec has its own
    natives = [got[b] for b in NATIVE]
    assert all(torch.equal(natives[0], other) for other in natives[1:])  # native decoders agree exactly


@pytest.mark.parametrize("name", ["gray16.png", "rgb16.png"])
@pytest.mark.parametrize("mode", ["rgb", "gray", "rgba", "unchanged"])
def test_sixteen_bit_png_is_the_same_everywhere(name, mode):
    got = decode_all(SPECIAL / name, mode)
    natives = [got[b] for b in NATIVE]
    assert all(img.dtype == torch.uint16 for img in natives)
    assert all(torch.equal(natives[0], other) for other in natives[1:])
    if name == "gray16.png" and mode != "gray":
        with Image.open(SPECIAL / name) as im:  # Pillow holds 16-bit gray (I;16), not 16-bit colour
            gray = torch.from_numpy(np.asarray(im).astype(np.uint16))
        assert all(torch.equal(img[0], gray) for img in got.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_sixteen_bit_png_against_numpy(tmp_path, backend):
    rgb = np.random.default_rng(3).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    got = read_image(write_png16(tmp_path / "rgb16.png", rgb), ImageOptions(mode="unchanged", decoder=backend))
    if backend == "pillow":  # Pillow reads 16-bit colour PNGs as 8-bit: the difference documented
        assert got.dtype == torch.uint8 and np.array_equal(got.permute(1, 2, 0).numpy(), (rgb >> 8).astype(np.uint8))
    else:
        assert got.dtype == torch.uint16 and np.array_equal(got.permute(1, 2, 0).numpy(), rgb)


def _exif_png(path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(smooth_rgb(20, 30, 1)).save(path, exif=exif)
    return path


def _exif_jpeg(path, orientation: int):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(smooth_rgb(24, 40, orientation)).save(path, exif=exif, quality=95)
    return path


def _animated_webp(path):
    frames = [Image.fromarray(smooth_rgb(20, 30, s)) for s in (2, 3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=True)
    return path


def _cmyk_jpeg(path):
    Image.fromarray(smooth_rgb(20, 30, 4)).convert("CMYK").save(path, quality=95)
    return path


def _gray_alpha_png(path):
    arr = np.stack([smooth_rgb(20, 30, 5)[..., 0], np.arange(600, dtype=np.uint8).reshape(20, 30)], -1)
    Image.fromarray(arr, "LA").save(path)
    return path


def _palette_transparent_png(path):
    im = Image.fromarray(smooth_rgb(20, 30, 6)).convert("P", palette=Image.ADAPTIVE, colors=64)
    im.save(path, transparency=3)
    return path


SPECIAL_CASES = {
    "exif.png": _exif_png, "exif3.jpg": lambda p: _exif_jpeg(p, 3), "exif8.jpg": lambda p: _exif_jpeg(p, 8),
    "anim.webp": _animated_webp, "cmyk2.jpg": _cmyk_jpeg, "la.png": _gray_alpha_png,
    "trns.png": _palette_transparent_png,
}


@pytest.mark.parametrize("mode", ["rgb", "rgba", "unchanged"])
@pytest.mark.parametrize("case", sorted(SPECIAL_CASES))
def test_special_cases_match_pillow(tmp_path, case, mode):
    path = SPECIAL_CASES[case](tmp_path / case)
    pil_mode = {"unchanged": {"la.png": "LA", "trns.png": "RGBA"}.get(case, "RGB")}.get(mode, MODES.get(mode))
    ref = pil_decode(path, pil_mode)
    for backend, img in decode_all(path, mode).items():
        assert img.shape == ref.shape and torch.equal(img, ref), (backend, tuple(img.shape), tuple(ref.shape))


def test_auto_prefers_torchcodec_then_torchvision(monkeypatch):
    monkeypatch.delenv(backends.DECODER_ENV, raising=False)
    assert backends.resolve_decoder("auto") == NATIVE[0] if NATIVE else "pillow"
    monkeypatch.setenv(backends.DECODER_ENV, "pillow")
    assert backends.resolve_decoder("auto") == "pillow"
    assert backends.resolve_decoder("torchvision") == "torchvision"  # the argument beats the variable
    monkeypatch.setenv(backends.DECODER_ENV, "nonsense")
    with pytest.raises(UsageError, match=backends.DECODER_ENV):
        backends.resolve_decoder("auto")


def test_decoder_is_recorded_in_meta(monkeypatch):
    monkeypatch.delenv(backends.DECODER_ENV, raising=False)
    for backend in BACKENDS:
        meta = load_images(SPECIAL / "rgba.png", decoder=backend).meta
        assert meta["decoder"].split()[0] == backend
    monkeypatch.setenv(backends.DECODER_ENV, "pillow")
    assert load_images(SPECIAL / "rgba.png").meta["decoder"].startswith("pillow ")


def test_unusable_decoder_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(backends, "_torchcodec", lambda: (None, "ImportError: no module named torchcodec"))
    monkeypatch.delenv(backends.DECODER_ENV, raising=False)
    with pytest.raises(OptionError) as info:
        read_image(SPECIAL / "rgba.png", ImageOptions(decoder="torchcodec"))
    assert info.value.param == "decoder" and "no module named torchcodec" in str(info.value)
    assert "decoder='torchcodec'" in str(info.value) and "--" not in str(info.value)
    # auto falls back to torchvision, with the same pixels
    assert backends.resolve_decoder("auto") in ("torchvision", "pillow")
    with pytest.raises(UsageError):
        ImageOptions(decoder="nvjpeg")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,words", [("not_an_image.jpg", "not an image"), ("truncated.jpg", "truncated")])
def test_bad_files_raise_naming_the_file_with_every_backend(backend, name, words):
    with pytest.raises(InputError) as info:
        read_image(SPECIAL / name, ImageOptions(decoder=backend))
    assert info.value.path == str(SPECIAL / name) and words in str(info.value)


def test_cli_decoder_option_and_json_meta(monkeypatch):
    import json

    from typer.testing import CliRunner

    from tensortool.cli.app import app

    monkeypatch.delenv(backends.DECODER_ENV, raising=False)
    runner = CliRunner()
    for backend in BACKENDS:
        result = runner.invoke(app, ["load-image", str(SPECIAL / "rgba.png"), "--decoder", backend, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["meta"]["decoder"].startswith(backend + " ")
    assert runner.invoke(app, ["load-image", str(SPECIAL / "rgba.png"), "--decoder", "nvjpeg"]).exit_code == 2


def test_cli_names_flags_where_the_library_names_parameters():
    from typer.testing import CliRunner

    from tensortool.cli.app import app

    result = CliRunner().invoke(app, ["load-image", str(SPECIAL / "rgba.png"), "--max-pixels", "100"])
    assert result.exit_code == 1 and "raise --max-pixels" in result.stderr
    with pytest.raises(InputError, match=r"raise max_pixels"):
        read_image(SPECIAL / "rgba.png", ImageOptions(max_pixels=100))
