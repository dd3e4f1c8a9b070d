"""load_images against its bound and the peers a user would pick, in the same run.

  * bound:       decoding every file (the same reader) plus the first touch of a float32 batch
                 as large as the output: what load_images cannot avoid (timed in this process,
                 alternating with load_images, wall and CPU time);
  * tensortool:  load_images(folder);
  * imagefolder: torchvision's ImageFolder(ToTensor()) through DataLoader(num_workers=2, batch 64);
  * tutorial:    imageio.imread -> torch.from_numpy -> permute(2,0,1) -> stack -> float()/255.

Each measurement runs in a fresh subprocess that makes one untimed call first (imports, page
cache, thread pools) and times the second, warm one, so peak RSS is that method's own. Methods
alternate; medians and the ratios to tensortool are printed. ``--first-call`` also times the
first call in a fresh process (torch already imported): the lazy imports a CLI run pays.

    python benchmarks/bench_load_image.py                  # 2,000 noisy JPEGs of 256x256, 5 runs
    python benchmarks/bench_load_image.py --count 500 --runs 3 --first-call
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
sys.path.insert(0, str(Path(__file__).resolve().parent))


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


def bound(folder: Path):
    import torch
    from tensortool.sources.image.files import find_images
    from tensortool.sources.image.load import ImageOptions, iter_images

    files = find_images([folder]).files
    out = torch.empty((len(files), 3, 256, 256), dtype=torch.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # zero_ on each decoding thread alone, outside the GIL
    try:
        for _ in iter_images(files, ImageOptions(), lambda i, img: out[i].zero_()):
            pass
    finally:
        torch.set_num_threads(threads)
    return out


def tensortool_load(folder: Path):
    from tensortool import load_images

    return load_images(folder)["images"]


def imagefolder(folder: Path):
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.ImageFolder(str(folder), transform=transforms.ToTensor())
    return torch.cat([x for x, _ in DataLoader(dataset, batch_size=64, num_workers=2)])


def tutorial(folder: Path):
    import imageio.v2 as imageio
    import torch

    files = sorted(folder.rglob("*.jpg"))
    images = [torch.from_numpy(imageio.imread(f)).permute(2, 0, 1) for f in files]
    return torch.stack(images).float() / 255


METHODS = {"tensortool": tensortool_load, "imagefolder": imagefolder, "tutorial": tutorial}


def against_bound(folder: Path, runs: int) -> None:
    """bound and load_images alternating in this process, warm: wall and CPU seconds."""
    wall: dict[str, list[float]] = {"bound": [], "tensortool": []}
    cpu: dict[str, list[float]] = {"bound": [], "tensortool": []}
    for run in range(runs + 1):  # run 0 warms up
        for name, fn in (("bound", bound), ("tensortool", tensortool_load)):
            started, used = time.perf_counter(), time.process_time()
            del_me = fn(folder)
            if run:
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - used)
            del del_me
    for name in wall:
        print(f"{name:>11}: {statistics.median(wall[name]):.3f} s wall, {statistics.median(cpu[name]):.3f} s CPU "
              f"(medians of {runs}, in one process)")
    share = statistics.median(b / t for b, t in zip(wall["bound"], wall["tensortool"]))
    share_cpu = statistics.median(b / t for b, t in zip(cpu["bound"], cpu["tensortool"]))
    print(f"load_images reaches {share:.0%} of the decode + first-touch bound ({share_cpu:.0%} in CPU time)")


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across
    execve, so a child would report its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, folder: Path) -> None:
    import imageio.v2  # noqa: F401  (imports are not timed)
    import torch  # noqa: F401
    import torchvision.datasets  # noqa: F401

    METHODS[method](folder)  # the warm-up call (its result is freed before the timed one)
    started = time.perf_counter()
    batch = METHODS[method](folder)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_rss_mib()}))


def first_call(folder: Path, decoder: str) -> float:
    """A fresh process, torch imported (untimed): the first load_images of one file, timed."""
    code = ("import time, torch; t = time.perf_counter(); from tensortool import load_images; "
            f"load_images({str(next(folder.rglob('*.jpg')))!r}, decoder={decoder!r}); "
            "print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True, cwd=Path(__file__).resolve().parent.parent).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--photos", action="store_true", help="photo crops instead of noisy images")
    parser.add_argument("--first-call", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS), help="a comma-separated subset of the peers")
    parser.add_argument("--child", choices=list(METHODS))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "all").mkdir()  # one class folder, so that ImageFolder can read it
        if args.photos:
            make_jpegs(folder / "all", args.count)
        else:
            from bench_image_backends import make_noisy

            make_noisy(folder / "all", args.count, ".jpg")
        for name in [m for m in METHODS if m not in args.methods.split(",")]:
            del METHODS[name]
        ours = tensortool_load(folder)
        same = all(torch.equal(METHODS[m](folder), ours) for m in METHODS if m in ("tutorial", "imagefolder"))
        print(f"{args.count} {'photo' if args.photos else 'noisy'} JPEGs 256x256 · {os.cpu_count()} cores · "
              f"{platform.processor() or platform.machine()} · torch {torch.__version__} · load average "
              f"{os.getloadavg()[0]:.1f} · outputs equal: {same}")
        against_bound(folder, args.runs)
        times, peaks = measure(folder, args.runs)
        report(args.count, args.runs, times, peaks)
        if args.first_call:
            for decoder in ("auto", "torchvision"):
                t = statistics.median(first_call(folder, decoder) for _ in range(3))
                print(f"first call in a fresh process, decoder={decoder}: {t:.2f} s (median of 3; torch imported before)")
        if not same:
            sys.exit("outputs differ")


def measure(folder: Path, runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    peaks: dict[str, list[float]] = {m: [] for m in METHODS}
    for run in range(runs):
        order = list(METHODS)[run % len(METHODS):] + list(METHODS)[:run % len(METHODS)]
        for method in order:
            out = subprocess.run([sys.executable, __file__, "--child", method, "--folder", str(folder)],
                                 check=True, capture_output=True, text=True)
            result = json.loads(out.stdout)
            times[method].append(result["seconds"])
            peaks[method].append(result["peak_mib"])
    return times, peaks


def report(count: int, runs: int, times: dict[str, list[float]], peaks: dict[str, list[float]]) -> None:
    for method in METHODS:
        t = statistics.median(times[method])
        print(f"{method:>11}: {count / t:6.0f} images/s  (median of {runs}: {t:.3f} s, min {min(times[method]):.3f}, "
              f"max {max(times[method]):.3f})  peak RSS {statistics.median(peaks[method]):.0f} MiB")
    ours = times["tensortool"]
    for method in [m for m in METHODS if m != "tensortool"]:
        ratio = statistics.median(a / b for a, b in zip(times[method], ours))
        print(f"{method} time / tensortool time (median of pairs): {ratio:.2f}x")


if __name__ == "__main__":
    main()
