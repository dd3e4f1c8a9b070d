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


def make_noisy(folder: Path, count: int, suffix: str, size: int = 256) -> list[Path]:
    """Smooth gradients plus Gaussian noise (sigma 24): harder to decode than photo crops."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    files = []
    for i in range(count):
        phase = rng.uniform(0, 255, 3)
        base = np.stack([(x + phase[0]) % 256, (y + phase[1]) % 256, (x + y + phase[2]) % 256], -1)
        img = np.clip(base + rng.normal(0, 24, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"img_{i:05d}{suffix}"
        Image.fromarray(img).save(path, **({"quality": 90} if suffix == ".jpg" else {}))
        files.append(path)
    return files
