"""load_images against the tutorial loop, in the same run.

The tutorial loop: imageio.imread -> torch.from_numpy -> permute(2,0,1) -> stack -> float()/255.
Each measurement runs in a fresh subprocess (so peak RSS is that method's own), the two
methods alternate, and the medians are reported with their ratio.

    python benchmarks/bench_load_image.py            # 2,000 JPEGs of 256x256, 5 runs each
    python benchmarks/bench_load_image.py --count 500 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
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


def tutorial(folder: Path):
    import imageio.v2 as imageio
    import torch

    files = sorted(folder.glob("*.jpg"))
    images = [torch.from_numpy(imageio.imread(f)).permute(2, 0, 1) for f in files]
    return torch.stack(images).float() / 255


def tensortool_load(folder: Path):
    from tensortool import load_images

    return load_images(folder)["images"]


METHODS = {"tutorial": tutorial, "tensortool": tensortool_load}


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across
    execve, so a child would report its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, folder: Path) -> None:
    import torch  # noqa: F401  (imports are not timed)
    import torchvision  # noqa: F401
    import imageio.v2  # noqa: F401
    from tensortool import load_images  # noqa: F401  (public names load on first use: here, untimed)

    baseline = peak_rss_mib()
    started = time.perf_counter()
    batch = METHODS[method](folder)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_rss_mib(), "baseline_mib": baseline,
                      "output_mib": batch.numel() * batch.element_size() / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=list(METHODS))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_jpegs(folder, args.count)
        same = torch.equal(tutorial(folder), tensortool_load(folder))
        print(f"{args.count} JPEGs 256x256 · {os.cpu_count()} cores · {platform.processor() or platform.machine()} · "
              f"torch {torch.__version__} · outputs equal: {same}")
        times: dict[str, list[float]] = {m: [] for m in METHODS}
        peaks: dict[str, list[float]] = {m: [] for m in METHODS}
        extra: dict[str, list[float]] = {m: [] for m in METHODS}
        for run in range(args.runs + 1):  # run 0 warms the page cache and is not counted
            for method in METHODS:
                out = subprocess.run([sys.executable, __file__, "--child", method, "--folder", str(folder)],
                                     check=True, capture_output=True, text=True)
                result = json.loads(out.stdout)
                if run:
                    times[method].append(result["seconds"])
                    peaks[method].append(result["peak_mib"])
                    extra[method].append(result["peak_mib"] - result["baseline_mib"])
                    output_mib = result["output_mib"]
        for method in METHODS:
            t = statistics.median(times[method])
            print(f"{method:>10}: {args.count / t:8.0f} images/s  (median of {args.runs}: {t:.3f} s, "
                  f"min {min(times[method]):.3f}, max {max(times[method]):.3f})  "
                  f"peak RSS {statistics.median(peaks[method]):.0f} MiB, of which loading added "
                  f"{statistics.median(extra[method]):.0f} MiB ({statistics.median(extra[method]) / output_mib:.2f}x "
                  f"the {output_mib:.0f} MiB output)")
        ratio = statistics.median(a / b for a, b in zip(times["tutorial"], times["tensortool"]))
        print(f"speed-up (tutorial time / tensortool time, median of pairs): {ratio:.2f}x")
        if not same:
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
