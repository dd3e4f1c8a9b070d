"""dataset_stats against decode-only and the tutorial approach, in the same run.

  * decode only: the same reader (iter_images), doing nothing with the pixels: the bound;
  * tutorial:    imageio.imread every file, stack, float()/255, mean/std over (0, 2, 3).

Datasets: CIFAR-like 32x32 RGB PNGs at two sizes (memory must not grow with the size), and
256x256 JPEGs. Each measurement is a fresh process (imports not timed); methods alternate, in
an order that rotates from run to run; medians are reported.

    python benchmarks/bench_stats.py                 # 2,000 and 20,000 PNGs, 2,000 JPEGs; 3 runs
    python benchmarks/bench_stats.py --small 500 --large 5000 --jpegs 500 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load_image import make_jpegs, peak_rss_mib  # noqa: E402


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
    from tensortool.sources.image.load import ImageOptions, iter_images
    from tensortool.sources.image.files import find_images

    files = find_images([folder]).files
    return sum(1 for _ in iter_images(files, ImageOptions(), lambda i, img: None))


def run_tutorial(folder: Path):
    import imageio.v2 as imageio
    import torch

    files = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))
    x = torch.stack([torch.from_numpy(imageio.imread(f)).permute(2, 0, 1) for f in files]).float() / 255
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()


METHODS = {"stats": run_stats, "decode-only": run_decode, "tutorial": run_tutorial}


def child(method: str, folder: Path) -> None:
    import imageio.v2  # noqa: F401  (imports are not timed)
    import torchvision  # noqa: F401
    from tensortool import dataset_stats  # noqa: F401  (public names load on first use: here, untimed)

    baseline = peak_rss_mib()
    started = time.perf_counter()
    METHODS[method](folder)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "added_mib": peak_rss_mib() - baseline}))


def measure(folder: Path, count: int, runs: int, label: str) -> dict[str, tuple[float, float]]:
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    added: dict[str, list[float]] = {m: [] for m in METHODS}
    names = list(METHODS)
    for run in range(runs + 1):  # run 0 warms the page cache
        # Rotate the order, so no method always runs just after the tutorial frees its gigabytes.
        for method in names[run % len(names):] + names[:run % len(names)]:
            out = subprocess.run([sys.executable, __file__, "--child", method, "--folder", str(folder)],
                                 check=True, capture_output=True, text=True)
            result = json.loads(out.stdout)
            if run:
                times[method].append(result["seconds"])
                added[method].append(result["added_mib"])
    medians = {m: (statistics.median(times[m]), statistics.median(added[m])) for m in METHODS}
    print(f"\n{label}: {count} images, median of {runs} runs")
    for method, (t, mib) in medians.items():
        print(f"  {method:>11}: {count / t:9.0f} images/s  ({t:.3f} s, min {min(times[method]):.3f}, "
              f"max {max(times[method]):.3f})  RSS added {mib:7.1f} MiB")
    s, d, tut = (medians[m][0] for m in ("stats", "decode-only", "tutorial"))
    print(f"  stats throughput = {d / s:.0%} of decode-only; {tut / s:.2f}x the tutorial's speed")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--jpegs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=list(METHODS))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return
    import numpy as np
    import torch

    print(f"{os.cpu_count()} cores · torch {torch.__version__}")
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
        print(f"\nstats peak RSS added, small -> large set: {a['stats'][1]:.1f} -> {b['stats'][1]:.1f} MiB; "
              f"tutorial: {a['tutorial'][1]:.1f} -> {b['tutorial'][1]:.1f} MiB")


if __name__ == "__main__":
    main()
