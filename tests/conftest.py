"""Shared fixtures: sample paths, a 16-bit PNG writer, small ImageFolder trees, references."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SPECIAL = SAMPLES / "special"
PHOTOS = SAMPLES / "images"


def write_png16(path: Path, array: np.ndarray) -> Path:
    """A 16-bit PNG (gray, gray+alpha, RGB or RGBA) from an H×W(×C) uint16 array; PIL can't."""
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def smooth_rgb(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(h + w - 2, 1)], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """An ImageFolder tree: a_cat (3 JPEG) and b_dog (2 PNG), 24x32 images."""
    root = tmp_path / "tree"
    for cls, count, ext in (("a_cat", 3, "jpg"), ("b_dog", 2, "png")):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(smooth_rgb(24, 32, seed=zlib.crc32(f"{cls}{i}".encode()))).save(root / cls / f"{i:02d}.{ext}")
    return root


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    """A plain folder of four 20x30 PNGs with distinct content."""
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_rgb(20, 30, seed=i)).save(folder / f"img{i}.png")
    return folder


def tv_decode(path: Path, mode: str = "RGB") -> torch.Tensor:
    """The reference decoder: torchvision.io.decode_image with EXIF applied."""
    import warnings

    from torchvision.io import ImageReadMode, decode_image, read_file

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders; still a fine reference
        warnings.simplefilter("ignore", DeprecationWarning)
        img = decode_image(read_file(str(path)), mode=getattr(ImageReadMode, mode), apply_exif_orientation=True)
    return img[0] if img.dim() == 4 else img


def pil_decode(path: Path, mode: str = "RGB") -> torch.Tensor:
    """The reference for formats torchvision lacks: PIL, EXIF applied, as C×H×W."""
    from PIL import ImageOps

    with Image.open(path) as im:
        arr = np.asarray(ImageOps.exif_transpose(im).convert(mode))
    arr = arr[..., None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


@pytest.fixture
def app_built_once(monkeypatch):
    """typer's test runner rebuilds the click command on every call (50 ms); a thousand calls need
    it built once. Use with ``pytestmark = pytest.mark.usefixtures("app_built_once")``."""
    from typer import testing as typer_testing

    from tensortool.cli.app import app

    real = typer_testing._get_command
    built = real(app)
    monkeypatch.setattr(typer_testing, "_get_command", lambda a: built if a is app else real(a))
