"""Data more than one benchmark generates."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "images"


def make_jpegs(folder: Path, count: int, size: int = 256) -> list[Path]:
    """Distinct photo-like JPEGs: random crops and flips of the sample photos."""
    import numpy as np
    from PIL import Image

    photos = [Image.open(p).convert("RGB") for p in sorted(SAMPLES.rglob("*.jpg"))]
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(120, min(photo.size) + 1))
        x = int(rng.integers(0, photo.size[0] - side + 1))
        y = int(rng.integers(0, photo.size[1] - side + 1))
        img = photo.crop((x, y, x + side, y + side)).resize((size, size), Image.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"img_{i:05d}.jpg"
        img.save(path, quality=90)
        files.append(path)
    return files
