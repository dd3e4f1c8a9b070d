"""Synthetic ImageFolder trees and their independent reference: Pillow's pixels in
torchvision's ImageFolder order."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.conftest import smooth_rgb


def make_tree(root: Path, per_class: int = 5, classes: tuple[str, ...] = ("ant", "bee", "cow"),
              size: tuple[int, int] = (16, 20)) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = smooth_rgb(*size, seed=zlib.crc32(f"{name}{i}".encode()))
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def reference(root: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(files, N×C×H×W uint8 images, labels) by torchvision's ImageFolder and Pillow."""
    from torchvision.datasets import ImageFolder

    samples = ImageFolder(str(root)).samples
    images = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1).copy())
              for p, _ in samples]
    return [p for p, _ in samples], torch.stack(images), torch.tensor([c for _, c in samples])


def read_folder(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Every shard through safetensors' own loader, concatenated in name order."""
    from safetensors.torch import load_file

    parts = [load_file(str(p)) for p in sorted(folder.glob("shard-*.safetensors"))]
    return torch.cat([p["images"] for p in parts]), torch.cat([p["labels"] for p in parts])


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
