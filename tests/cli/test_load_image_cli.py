"""`tensortool load-image` through Typer's CliRunner: every option, errors and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import PHOTOS, SPECIAL, smooth_rgb
from tensortool import load_images
from tensortool.cli.app import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_summary_printed_without_output():
    result = run("load-image", PHOTOS)
    assert result.exit_code == 0
    for words in ("images", "9×3×192×256", "float32", "labels", "per channel", "nchw", "not written"):
        assert words in result.stdout


def test_json_keys_and_nothing_else_on_stdout():
    doc = run_json("load-image", PHOTOS)
    assert set(doc) >= {"tensors", "meta", "output", "seconds"}
    images = doc["tensors"]["images"]
    assert images["shape"] == [9, 3, 192, 256] and images["dtype"] == "float32"
    ref = load_images(PHOTOS)["images"].double()
    assert images["mean"] == pytest.approx(ref.mean().item(), rel=1e-9)
    assert images["channel_std"] == pytest.approx(ref.transpose(0, 1).reshape(3, -1).std(1, correction=0).tolist(),
                                                  rel=1e-9)
    assert doc["output"] is None and doc["meta"]["class_names"] == ["cat", "coffee", "space"]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".npy", ".npz"])
def test_output_formats(tmp_path, suffix):
    out = tmp_path / f"batch{suffix}"
    # .npy holds one array: the images without the tree's labels (a glob, not the tree)
    source = f"{PHOTOS}/*/*" if suffix == ".npy" else PHOTOS
    doc = run_json("load-image", source, "-o", out)
    assert doc["output"] == str(out) and out.exists()
    from tensortool import read_bundle

    back = read_bundle(out)
    key = "array" if suffix == ".npy" else "images"
    assert torch.equal(back[key], load_images(PHOTOS)["images"])


def test_existing_output_and_force(tmp_path):
    out = tmp_path / "b.pt"
    out.write_bytes(b"keep me")
    result = run("load-image", PHOTOS, "-o", out)
    assert result.exit_code == 1 and "already exists" in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert run("load-image", PHOTOS, "-o", out, "--force").exit_code == 0
    assert torch.load(out, weights_only=True)["images"].shape == (9, 3, 192, 256)


def test_output_same_as_input_refused_even_with_force(tmp_path):
    img = tmp_path / "x.npy"
    np.save(img, np.zeros(3))
    result = run("load-image", img, "-o", img, "--force")
    assert result.exit_code == 1 and "one of the inputs" in result.stderr
    assert np.array_equal(np.load(img), np.zeros(3))


@pytest.mark.parametrize("mode,channels", [("rgb", 3), ("gray", 1), ("rgba", 4), ("unchanged", 4)])
def test_mode(mode, channels):
    doc = run_json("load-image", SPECIAL / "rgba.png", "--mode", mode)
    assert doc["tensors"]["images"]["shape"][1] == channels


@pytest.mark.parametrize("layout,shape", [("nchw", [1, 3, 48, 64]), ("nhwc", [1, 48, 64, 3]),
                                          ("chw", [3, 48, 64]), ("hwc", [48, 64, 3])])
def test_layout(layout, shape):
    assert run_json("load-image", SPECIAL / "rgba.png", "--layout", layout)["tensors"]["images"]["shape"] == shape


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64", "uint8"])
def test_dtype(dtype):
    doc = run_json("load-image", PHOTOS, "--dtype", dtype)
    assert doc["tensors"]["images"]["dtype"] == dtype
    assert doc["tensors"]["images"]["max"] == (255 if dtype == "uint8" else 1.0)


def test_scale_flags():
    assert run_json("load-image", PHOTOS, "--no-scale")["tensors"]["images"]["max"] == 255
    assert run_json("load-image", SPECIAL / "gray16.png", "--dtype", "uint8", "--scale")["tensors"]["images"]["max"] == 255
    result = run("load-image", SPECIAL / "gray16.png", "--dtype", "uint8")
    assert result.exit_code == 1 and "gray16.png" in result.stderr and "--scale" in result.stderr


def test_normalize(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}))
    doc = run_json("load-image", PHOTOS, "--normalize", stats)
    assert doc["tensors"]["images"]["min"] == -1.0 and doc["meta"]["normalize"]["source"] == str(stats)
    doc = run_json("load-image", PHOTOS, "--normalize", "imagenet")
    assert doc["meta"]["normalize"]["std"] == [0.229, 0.224, 0.225]


def test_resize_and_center_crop():
    assert run_json("load-image", PHOTOS, "--resize", "96")["tensors"]["images"]["shape"] == [9, 3, 96, 128]
    assert run_json("load-image", PHOTOS, "--resize", "50,60")["tensors"]["images"]["shape"] == [9, 3, 50, 60]
    doc = run_json("load-image", PHOTOS, "--resize", "96", "--center-crop", "80")
    assert doc["tensors"]["images"]["shape"] == [9, 3, 80, 80]


@pytest.mark.parametrize("option,value", [("--resize", "abc"), ("--center-crop", "0,4"), ("--resize", "1,2,3"),
                                          ("--mode", "cmyk"), ("--workers", "0")])
def test_usage_errors_exit_2(option, value):
    assert run("load-image", PHOTOS, option, value).exit_code == 2


def test_one_hot():
    doc = run_json("load-image", PHOTOS, "--one-hot")
    assert doc["tensors"]["labels_onehot"]["shape"] == [9, 3]
    assert doc["tensors"]["labels_onehot"]["dtype"] == "float32"


def test_workers_identical(tmp_path):
    for n in ("1", "2"):
        assert run("load-image", PHOTOS, "--workers", n, "-o", tmp_path / f"w{n}.safetensors").exit_code == 0
    assert (tmp_path / "w1.safetensors").read_bytes() == (tmp_path / "w2.safetensors").read_bytes()


def test_bad_file_one_line_error_and_skip_bad(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_rgb(8, 8, 1)).save(folder / "a.png")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out.pt"
    result = run("load-image", folder, "-o", out)
    assert result.exit_code == 1 and not out.exists()
    assert result.stderr.count("\n") == 1 and "b.jpg" in result.stderr and "Traceback" not in result.output
    result = run("load-image", folder, "--skip-bad", "-o", out)
    assert result.exit_code == 0 and "b.jpg" in result.stdout and "skipped" in result.stderr
    assert torch.load(out, weights_only=True)["meta"]["skipped"][0]["file"].endswith("b.jpg")


def test_missing_input_exit_1():
    result = run("load-image", "/nonexistent/folder")
    assert result.exit_code == 1 and "/nonexistent/folder: no such file" in result.stderr


def test_option_combination_error_exit_1():
    result = run("load-image", PHOTOS, "--layout", "chw")
    assert result.exit_code == 1 and "single image" in result.stderr


def test_debug_shows_traceback(monkeypatch):
    monkeypatch.setenv("TENSORTOOL_DEBUG", "1")
    result = run("load-image", "/nonexistent/folder")
    assert result.exit_code == 1 and result.exception is not None


def test_preview(tmp_path):
    folder = tmp_path / "colours"
    for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (folder / name).mkdir(parents=True)
        Image.new("RGB", (40, 20), colour).save(folder / name / "x.png")
    sheet_path = tmp_path / "sheet.png"
    assert run("load-image", folder, "--normalize", "imagenet", "--preview", sheet_path).exit_code == 0
    with Image.open(sheet_path) as sheet:
        sheet = sheet.convert("RGB")
        # first tile (class blue, sorted first) centred in a 128 box at (4, 4); second at (136, 4)
        assert sheet.getpixel((4 + 64, 4 + 64)) == (0, 0, 255)
        assert sheet.getpixel((136 + 64, 4 + 64)) == (255, 0, 0)


def test_preview_captions_are_class_names(tmp_path, monkeypatch):
    import tensortool.sources.image.preview as preview

    seen = {}
    real = preview.contact_sheet

    def spy(images, captions, total):
        seen["captions"] = captions
        return real(images, captions, total)

    monkeypatch.setattr(preview, "contact_sheet", spy)
    assert run("load-image", PHOTOS, "--preview", tmp_path / "s.png").exit_code == 0
    assert seen["captions"] == ["cat"] * 3 + ["coffee"] * 3 + ["space"] * 3


def test_preview_must_be_png(tmp_path):
    result = run("load-image", PHOTOS, "--preview", tmp_path / "s.jpg")
    assert result.exit_code == 1 and "PNG" in result.stderr


def test_quiet_and_no_tty_print_no_progress():
    result = run("load-image", PHOTOS, "--quiet")
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("args,match", [(["-o", "x.h5"], "unknown output format"),
                                        (["-o", "x.npy", "--dtype", "bfloat16"], "numpy has no bfloat16")])
def test_output_problems_reported_before_decoding(tmp_path, monkeypatch, args, match):
    import tensortool.sources.image.load as library  # the command imports it when it runs

    def never(*a, **k):
        raise AssertionError("images were decoded before the output was checked")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(library, "load_images", never)
    result = run("load-image", PHOTOS, *args)
    assert result.exit_code == 1 and match in result.stderr and list(tmp_path.iterdir()) == []
