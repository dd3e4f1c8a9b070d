"""The image decoders side by side: TorchCodec, torchvision and Pillow, in one run.

For each dataset (noisy 256x256 JPEGs, noisy 256x256 PNGs) and each worker count (1, 2), every
installed decoder runs three things on the same files, warm (page cache, imports done):

  * decode only: iter_images doing nothing with the pixels (the bound for the other two);
  * load_images: the float32 N×C×H×W batch;
  * dataset_stats: exact per-channel mean/std.

Decoders alternate inside each run, in an order that rotates from run to run; medians are
printed, with each decoder's time relative to TorchCodec's and stats as a share of decode-only.

    python benchmarks/bench_image_backends.py                   # 2,000 JPEGs, 1,000 PNGs, 3 runs
    python benchmarks/bench_image_backends.py --jpegs 500 --pngs 200 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_noisy(folder: Path, count: int, suffix: str, size: int = 256) -> list[Path]:
    """Smooth gradients plus Gaussian noise (sigma 24): harder to decode than photo crops."""
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


def installed() -> list[str]:
    from tensortool.errors import OptionError
    from tensortool.sources.image.backends import resolve_decoder

    names = []
    for name in ("torchcodec", "torchvision", "pillow"):
        try:
            names.append(resolve_decoder(name))
        except OptionError:
            pass
    return names


def run(task: str, folder: Path, decoder: str, workers: int) -> float:
    from tensortool import dataset_stats, load_images
    from tensortool.sources.image.files import find_images
    from tensortool.sources.image.load import ImageOptions, iter_images

    os.environ["TENSORTOOL_DECODER"] = decoder  # stats has no decoder argument: the variable serves
    started = time.perf_counter()
    if task == "decode":
        files = find_images([folder]).files
        for _ in iter_images(files, ImageOptions(decoder=decoder), lambda i, img: None, workers=workers):
            pass
    elif task == "load_images":
        load_images(folder, decoder=decoder, workers=workers)
    else:
        dataset_stats(folder, workers=workers)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jpegs", type=int, default=2000)
    parser.add_argument("--pngs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--decoders", default=None, help="comma-separated subset (default: all installed)")
    args = parser.parse_args()
    import torch

    decoders = args.decoders.split(",") if args.decoders else installed()
    versions = {}
    from tensortool.sources.image.backends import decoder_label

    versions = ", ".join(decoder_label(d) for d in decoders)
    print(f"{os.cpu_count()} cores · torch {torch.__version__} · {versions} · load average "
          f"{os.getloadavg()[0]:.1f} · medians of {args.runs} warm runs")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("JPEG", Path(tmp) / "jpeg", args.jpegs, ".jpg"), ("PNG", Path(tmp) / "png", args.pngs, ".png")]
        for label, folder, count, suffix in sets:
            if not count:
                continue
            make_noisy(folder, count, suffix)
            for workers in (1, 2):
                times = {(t, d): [] for t in ("decode", "load_images", "stats") for d in decoders}
                for task in ("decode", "load_images", "stats"):
                    for d in decoders:
                        run(task, folder, d, workers)  # warm-up: page cache, lazy imports
                for r in range(args.runs):
                    order = decoders[r % len(decoders):] + decoders[:r % len(decoders)]
                    for task in ("decode", "load_images", "stats"):
                        for d in order:
                            times[task, d].append(run(task, folder, d, workers))
                report(label, count, workers, decoders, times)
    os.environ.pop("TENSORTOOL_DECODER", None)


def report(label: str, count: int, workers: int, decoders: list[str], times: dict) -> None:
    print(f"\n{count} {label}s of 256x256, {workers} worker{'s' if workers > 1 else ''} "
          f"(images/s; time relative to {decoders[0]}; stats as a share of decode-only speed)")
    med = {k: statistics.median(v) for k, v in times.items()}
    for d in decoders:
        cells = []
        for task in ("decode", "load_images", "stats"):
            cells.append(f"{task} {count / med[task, d]:6.0f}/s ({med[task, d] / med[task, decoders[0]]:.2f}x)")
        share = med["decode", d] / med["stats", d]
        print(f"  {d:>11}: " + "  ".join(cells) + f"  stats/decode {share:.0%}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
