"""load_images against its bound and the peers a user would pick, in the same run.

  * bound:       decoding every file (the same reader) plus the first touch of a float32 batch
                 as large as the output: what load_images cannot avoid (timed in this process,
                 alternating with load_images, wall and CPU time);
  * tensortool:  load_images(folder);
  * imagefolder: torchvision's ImageFolder(ToTensor()) through DataLoader(num_workers=2, batch 64);
  * tutorial:    imageio.imread -> torch.from_numpy -> permute(2,0,1) -> stack -> float()/255.

Each measurement runs in a fresh process (benchmarks/harness.py, ``warm=True``) that makes one
untimed call first (imports, page cache, thread pools) and times the second, warm one, so peak RSS
is that method's own. Methods alternate, in an order that rotates from run to run; medians and the
ratios to tensortool are printed. ``--first-call`` also times the first call in a fresh process
(torch already imported): the lazy imports a CLI run pays.

    python -m benchmarks.bench_load_image                  # 2,000 noisy JPEGs of 256x256, 5 runs
    python -m benchmarks.bench_load_image --count 500 --runs 3 --first-call
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.data import make_jpegs, make_noisy
from benchmarks.harness import alternate, arguments, compare, machine_line, median_seconds, print_ratio, report, timed


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
    figures = alternate({name: lambda fn=fn: timed(lambda: fn(folder))[:2]  # the batch is freed at once
                         for name, fn in (("bound", bound), ("tensortool", tensortool_load))}, runs, warmup=True)
    wall = {name: [w for w, _ in values] for name, values in figures.items()}
    cpu = {name: [c for _, c in values] for name, values in figures.items()}
    for name in wall:
        print(f"{name:>11}: {statistics.median(wall[name]):.3f} s wall, {statistics.median(cpu[name]):.3f} s CPU "
              f"(medians of {runs}, in one process)")
    share = statistics.median(b / t for b, t in zip(wall["bound"], wall["tensortool"]))
    share_cpu = statistics.median(b / t for b, t in zip(cpu["bound"], cpu["tensortool"]))
    print(f"load_images reaches {share:.0%} of the decode + first-touch bound ({share_cpu:.0%} in CPU time)")


def first_load(file: Path, decoder: str) -> None:
    """The first load_images of one file in a fresh process, tensortool's import included."""
    from tensortool import load_images

    load_images(file, decoder=decoder)


def first_auto(file: Path) -> None:
    first_load(file, "auto")


def first_torchvision(file: Path) -> None:
    first_load(file, "torchvision")


def main() -> None:
    parser = arguments(__doc__, runs=5)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--photos", action="store_true", help="photo crops instead of noisy images")
    parser.add_argument("--first-call", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS), help="a comma-separated subset of the peers")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "all").mkdir()  # one class folder, so that ImageFolder can read it
        if args.photos:
            make_jpegs(folder / "all", args.count)
        else:
            make_noisy(folder / "all", args.count, ".jpg")
        methods = {name: fn for name, fn in METHODS.items() if name in args.methods.split(",")}
        ours = tensortool_load(folder)
        same = all(torch.equal(methods[m](folder), ours) for m in methods if m in ("tutorial", "imagefolder"))
        print(f"{args.count} {'photo' if args.photos else 'noisy'} JPEGs 256x256 · {machine_line()} · "
              f"outputs equal: {same}")
        against_bound(folder, args.runs)
        results = compare(methods, [folder], args.runs, rotate=True, warm=True,
                          imports=["imageio.v2", "torch", "torchvision.datasets"])
        report(results, count=args.count, unit="images")
        for method in [m for m in methods if m != "tensortool"]:
            print_ratio(results, "tensortool", method)
        if args.first_call:
            first = compare({"auto": first_auto, "torchvision": first_torchvision},
                            [next(folder.rglob("*.jpg"))], 3, imports=["torch"])
            for decoder, samples in first.items():
                print(f"first call in a fresh process, decoder={decoder}: {median_seconds(samples):.2f} s "
                      f"(median of 3; torch imported before)")
        if not same:
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
