"""dataset_stats against decode-only and the tutorial approach, in the same run.

  * decode only: the same reader (iter_images), doing nothing with the pixels: the bound;
  * tutorial:    imageio.imread every file, stack, float()/255, mean/std over (0, 2, 3).

Datasets: CIFAR-like 32x32 RGB PNGs at two sizes (memory must not grow with the size), and
256x256 JPEGs. Each measurement is a fresh process (benchmarks/harness.py); methods alternate, in
an order that rotates from run to run; medians are reported.

    python -m benchmarks.bench_stats                 # 2,000 and 20,000 PNGs, 2,000 JPEGs; 3 runs
    python -m benchmarks.bench_stats --small 500 --large 5000 --jpegs 500 --runs 3
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.data import make_jpegs
from benchmarks.harness import arguments, Sample, compare, machine_line, median_seconds, report


def make_pngs(folder: Path, count: int) -> None:
    """Small photo-like PNGs: 32x32 crops of the generated JPEG content, CIFAR-sized."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    seeds = folder / "_seed"
    seeds.mkdir(exist_ok=True)
    sources = [np.asarray(Image.open(p).convert("RGB")) for p in make_jpegs(seeds, 20, size=128)]
    rng = np.random.default_rng(1)
    for i in range(count):
        src = sources[i % len(sources)]
        y, x = rng.integers(0, 96, 2)
        Image.fromarray(src[y:y + 32, x:x + 32]).save(folder / f"{i:06d}.png")
    for p in seeds.iterdir():
        p.unlink()
    seeds.rmdir()


def run_stats(folder: Path):
    from tensortool import dataset_stats

    return dataset_stats(folder).to_json()["std"]


def run_decode(folder: Path):
    from tensortool.sources.image.files import find_images
    from tensortool.sources.image.load import ImageOptions, iter_images

    files = find_images([folder]).files
    return sum(1 for _ in iter_images(files, ImageOptions(), lambda i, img: None))


def run_tutorial(folder: Path):
    import imageio.v2 as imageio
    import torch

    files = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))
    x = torch.stack([torch.from_numpy(imageio.imread(f)).permute(2, 0, 1) for f in files]).float() / 255
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()


METHODS = {"stats": run_stats, "decode-only": run_decode, "tutorial": run_tutorial}


def measure(folder: Path, count: int, runs: int, label: str) -> dict[str, list[Sample]]:
    # Rotate the order, so no method always runs just after the tutorial frees its gigabytes.
    results = compare(METHODS, [folder], runs, rotate=True,
                      imports=["imageio.v2", "torchvision", "tensortool.stats.dataset"])
    print(f"\n{label}: {count} images, median of {runs} runs")
    report(results, count=count, unit="images", indent="  ")
    s, d, tut = (median_seconds(results[m]) for m in ("stats", "decode-only", "tutorial"))
    print(f"  stats throughput = {d / s:.0%} of decode-only; {tut / s:.2f}x the tutorial's speed")
    return results


def added(samples: list[Sample]) -> float:
    return statistics.median(s.added_mib for s in samples)


def main() -> None:
    parser = arguments(__doc__, runs=3)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--jpegs", type=int, default=2000)
    args = parser.parse_args()
    import numpy as np

    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        small, large, jpegs = Path(tmp, "small"), Path(tmp, "large"), Path(tmp, "jpegs")
        make_pngs(large, args.large)
        small.mkdir()
        for p in sorted(large.iterdir())[: args.small]:
            os.link(p, small / p.name)
        jpegs.mkdir()
        make_jpegs(jpegs, args.jpegs)
        mean, std = run_tutorial(small)
        ours = run_stats(small)
        print(f"std agrees with the tutorial's float32 result: {np.allclose(ours, std, rtol=1e-4)} "
              f"(the tutorial uses ddof=1 and float32; tensortool ddof=0, exact)")
        a = measure(small, args.small, args.runs, "32x32 PNG, small set")
        b = measure(large, args.large, args.runs, "32x32 PNG, large set")
        measure(jpegs, args.jpegs, args.runs, "256x256 JPEG")
        print(f"\nstats peak RSS added, small -> large set: {added(a['stats']):.1f} -> {added(b['stats']):.1f} MiB; "
              f"tutorial: {added(a['tutorial']):.1f} -> {added(b['tutorial']):.1f} MiB")


if __name__ == "__main__":
    main()
