"""Hostile image files: a crafted file gives an InputError naming it, never a crash or a huge allocation."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import ROOT, SPECIAL, tv_decode, write_png16
from tensortool import ImageOptions, InputError, dataset_stats, load_images, read_image
from tensortool.errors import OptionError
from tensortool.cli.app import app
from tensortool.sources.image import decode as image_decode
from tensortool.sources.image.headers import ADAM7

PIL_DEFAULT_LIMIT = 89_478_485


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        out.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def build(parts: list[tuple[bytes, bytes]], bad_crc: bytes = b"") -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in parts:
        crc = zlib.crc32(kind + body) ^ (0xFFFF if kind == bad_crc else 0)
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    return out


def with_ihdr(parts, **fields):
    w, h, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", parts[0][1])
    values = dict(w=w, h=h, depth=depth, color=color, interlace=interlace) | fields
    ihdr = struct.pack(">IIBBBBB", values["w"], values["h"], values["depth"], values["color"], comp, filt,
                       values["interlace"])
    return [(b"IHDR", ihdr)] + parts[1:]


def with_idat(parts, body: bytes):
    return [(k, body if k == b"IDAT" else b) for k, b in parts]


def crafted_pngs() -> dict[str, bytes]:
    """PNGs whose header is fine but whose image data libpng rejects while reading rows."""
    files = {}
    for name in ("gray.png", "gray16.png", "gray_alpha.png", "palette.png", "rgba.png"):
        parts = chunks((SPECIAL / name).read_bytes())
        idat = next(b for k, b in parts if k == b"IDAT")
        raw = zlib.decompress(idat)
        stem = name[:-4]
        flipped = bytearray(idat)
        flipped[len(idat) // 2] ^= 0xFF
        files[f"{stem}_zlib_damage.png"] = build(with_idat(parts, bytes(flipped)))
        files[f"{stem}_short_idat.png"] = build(with_idat(parts, zlib.compress(raw[: len(raw) // 3])))
        files[f"{stem}_bad_idat_crc.png"] = build(parts, bad_crc=b"IDAT")
        files[f"{stem}_interlaced_header.png"] = build(with_ihdr(parts, interlace=1))
        files[f"{stem}_taller_header.png"] = build(with_ihdr(parts, h=200))
        bad_filter = bytearray(raw)
        bad_filter[0] = 9
        files[f"{stem}_bad_filter.png"] = build(with_idat(parts, zlib.compress(bytes(bad_filter))))
    gray = chunks((SPECIAL / "gray.png").read_bytes())
    for depth, color in ((1, 0), (4, 0), (16, 0), (8, 2), (8, 4), (8, 6), (16, 6)):
        files[f"gray_as_depth{depth}_color{color}.png"] = build(with_ihdr(gray, depth=depth, color=color))
    return files


CRASH_SCRIPT = r"""
import sys
from pathlib import Path
from tensortool import ImageOptions, InputError, dataset_stats, load_images, read_image
from tensortool.errors import OptionError
from tensortool.sources.image.backends import resolve_decoder
results = {}
files = sorted(Path(sys.argv[1]).glob("*.png"))
decoders = []
for decoder in ("torchvision", "torchcodec"):
    try:
        decoders.append(resolve_decoder(decoder))
    except OptionError:
        pass
for path in files:
    for mode, decoder in ((m, d) for m in ("unchanged", "gray", "rgb", "rgba") for d in decoders):
        try:
            read_image(path, ImageOptions(mode=mode, decoder=decoder))
            results[f"{path.name} {mode} {decoder}"] = "decoded"
        except InputError as exc:
            assert str(exc).startswith(str(path)), exc
            assert "\n" not in str(exc)
            results[f"{path.name} {mode} {decoder}"] = "refused"
for call in (lambda: load_images(files, workers=2), lambda: dataset_stats(files, workers=2)):
    try:
        call()
    except InputError as exc:
        assert any(str(exc).startswith(str(f)) for f in files), exc
print("ALL DONE", sum(v == "refused" for v in results.values()), len(results))
"""


def test_png_with_bad_image_data_is_refused_not_a_crash(tmp_path):
    for name, data in crafted_pngs().items():
        (tmp_path / name).write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "ALL DONE" in proc.stdout


@pytest.mark.parametrize("name", ["gray.png", "gray16.png", "palette.png", "rgba.png", "rgb16.png"])
def test_well_formed_pngs_still_match_torchvision(name):
    for mode, tv_mode in (("unchanged", None), ("gray", "GRAY"), ("rgb", "RGB")):
        if mode == "unchanged" and name == "palette.png":
            continue  # palette colours: covered by test_backends
        for decoder in ("torchvision", "torchcodec"):
            try:
                got = read_image(SPECIAL / name, ImageOptions(mode=mode, decoder=decoder))
            except OptionError:  # not installed
                continue
            assert torch.equal(got, tv_decode(SPECIAL / name, tv_mode or "UNCHANGED")), (name, mode, decoder)


def test_interlaced_png_matches_pil(tmp_path):
    import numpy as np

    rng = np.random.default_rng(5)
    for h, w in ((1, 1), (3, 2), (9, 13), (33, 17)):
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = tmp_path / f"i{h}x{w}.png"
        Image.fromarray(arr).save(path)
        # re-encode interlaced with our own writer: PIL cannot write Adam7
        raw = b""
        for xs, ys, dx, dy in ADAM7:
            sub = arr[ys::dy, xs::dx]
            if sub.size:
                raw += b"".join(b"\x00" + row.tobytes() for row in sub)
        parts = with_ihdr(chunks(path.read_bytes()), interlace=1)
        path.write_bytes(build(with_idat([p for p in parts if p[0] in (b"IHDR", b"IDAT", b"IEND")],
                                         zlib.compress(raw))))
        assert np.array_equal(read_image(path).permute(1, 2, 0).numpy(), arr)


# --- the pixel-count limit ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """30000x30000 1-bit gray PNG, all zeros: about 110 KB on disk, 900 million pixels decoded."""
    w = h = 30000
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (w + 7) // 8)
    block = row * 1000
    body = b"".join(comp.compress(block) for _ in range(h // 1000)) + comp.flush()
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(build([(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)), (b"IDAT", body),
                            (b"IEND", b"")]))
    return path


def refused_fast(call, path: Path, pixels: int, limit: int) -> None:
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        call()
    assert time.perf_counter() - started < 2, "the limit must be checked before decoding"
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert f"{pixels:,}" in text and f"{limit:,}" in text


def test_bomb_refused_fast_by_read_image_load_images_and_stats(bomb):
    refused_fast(lambda: read_image(bomb), bomb, 900_000_000, PIL_DEFAULT_LIMIT)
    refused_fast(lambda: load_images(bomb), bomb, 900_000_000, PIL_DEFAULT_LIMIT)
    refused_fast(lambda: dataset_stats(bomb), bomb, 900_000_000, PIL_DEFAULT_LIMIT)
    refused_fast(lambda: load_images(bomb, max_pixels=10**8), bomb, 900_000_000, 10**8)


def test_bomb_refused_by_the_cli(bomb, tmp_path):
    runner = CliRunner()
    for args in (["load-image", str(bomb), "-o", str(tmp_path / "o.pt")], ["stats", str(bomb)],
                 ["load-image", str(bomb), "--max-pixels", "5000"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "900,000,000" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.pt").exists()


def test_skip_bad_skips_a_bomb(bomb):
    bundle = load_images([SPECIAL / "gray.png", bomb], mode="gray", skip_bad=True, workers=2)
    assert bundle.meta["count"] == 1 and bundle.meta["skipped"][0]["file"] == str(bomb)
    stats = dataset_stats([SPECIAL / "gray.png", bomb], mode="gray", skip_bad=True)
    assert stats.images == 1 and stats.skipped[0]["file"] == str(bomb)


def frames_and_size(path: Path) -> int:
    with Image.open(path) as im:
        frames = getattr(im, "n_frames", 1) if im.format == "GIF" else 1
        return frames * im.size[0] * im.size[1]


@pytest.mark.parametrize("name", ["gray.png", "gray16.png", "rgb16.png", "cmyk.jpg", "exif_rotate90.jpg",
                                  "animated.gif", "picture.webp", "picture.bmp", "picture.tif"])
def test_each_format_at_the_limit(name, tmp_path):
    path = SPECIAL / name
    pixels = frames_and_size(path)
    assert read_image(path, ImageOptions(max_pixels=pixels)).numel() > 0  # exactly at the limit: read
    with pytest.raises(InputError) as info:
        read_image(path, ImageOptions(max_pixels=pixels - 1))
    assert f"{pixels:,}" in str(info.value) and str(info.value).startswith(str(path))
    assert read_image(path, ImageOptions(max_pixels=0)).numel() > 0  # 0: no limit
    assert load_images(path, max_pixels=pixels)["images"].numel() > 0
    assert dataset_stats(path, max_pixels=pixels).images == 1
    with pytest.raises(InputError):
        dataset_stats(path, max_pixels=pixels - 1)


def test_max_pixels_option_overrides_the_default(tmp_path):
    runner = CliRunner()
    path = SPECIAL / "gray.png"  # 64x48 = 3,072 pixels
    refused = runner.invoke(app, ["load-image", str(path), "--max-pixels", "3071", "--json"])
    assert refused.exit_code == 1 and "3,072" in refused.output and "3,071" in refused.output
    assert runner.invoke(app, ["load-image", str(path), "--max-pixels", "3072", "--json"]).exit_code == 0
    assert runner.invoke(app, ["stats", str(path), "--max-pixels", "3071"]).exit_code == 1
    ok = runner.invoke(app, ["stats", str(path), "--max-pixels", "0", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["count"] == 1
    assert runner.invoke(app, ["load-image", str(path), "--max-pixels", "-1"]).exit_code == 2


def test_pil_limit_raised_beyond_pillows_own(monkeypatch, tmp_path):
    # Pillow refuses more than twice its MAX_IMAGE_PIXELS on open; a higher max_pixels must win.
    path = SPECIAL / "picture.bmp"
    pixels = frames_and_size(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert pixels > 2000
    assert read_image(path, ImageOptions(max_pixels=pixels)).numel() > 0
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored


def test_sixteen_bit_png_at_the_limit(tmp_path):
    import numpy as np

    path = write_png16(tmp_path / "g.png", np.zeros((7, 5), np.uint16))
    assert read_image(path, ImageOptions(max_pixels=35)).shape == (3, 7, 5)
    with pytest.raises(InputError):
        read_image(path, ImageOptions(max_pixels=34))


# --- any decoder exception becomes an InputError ----------------------------------------------

@pytest.mark.parametrize("where", ["_decode_torchcodec", "_decode_torchvision", "_decode_pil"])
@pytest.mark.parametrize("workers", [1, 2])
def test_unexpected_decoder_exception_names_the_file(monkeypatch, where, workers):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("decoder bug")

    decoder = {"_decode_torchcodec": "torchcodec", "_decode_torchvision": "torchvision"}.get(where, "auto")
    try:
        image_decode.resolve_decoder(decoder)
    except OptionError:
        pytest.skip(f"{decoder} is not installed")
    monkeypatch.setattr(image_decode, where, broken)
    path = SPECIAL / ("gray.png" if where != "_decode_pil" else "picture.bmp")
    files = [path, SPECIAL / "rgba.png"] if where == "_decode_pil" else [path, SPECIAL / "picture.bmp"]
    with pytest.raises(InputError) as info:
        load_images(files, workers=workers, decoder=decoder)
    assert str(info.value).startswith(str(path)) and "decoder bug" in str(info.value)
    bundle = load_images(files, workers=workers, skip_bad=True, resize=[8, 8], decoder=decoder)
    assert bundle.meta["count"] == 1 and bundle.meta["skipped"][0]["file"] == str(path)
