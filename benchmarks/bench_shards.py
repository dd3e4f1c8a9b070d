"""Sharded load-image against the in-memory path and a WebDataset ShardWriter script, in one run.

  * memory:     load_images(...) then write_bundle(... .safetensors): one tensor, one file;
  * shards:     write_image_shards(...): .safetensors shards (256 MB default) + manifest;
  * webdataset: the script people write: PIL decode each file, ShardWriter(maxsize=256 MB) of
                {"__key__", "npy", "cls"} samples (skipped where webdataset is not installed).

The data is an ImageFolder tree of 224x224 JPEGs (10 classes), written as uint8. Each
measurement is a fresh process (benchmarks/harness.py: imports not timed); methods alternate in
an order that rotates from run to run, after one uncounted round; medians are reported. The large
tree measures memory: peak RSS must not grow with the number of images.

    python -m benchmarks.bench_shards                       # 2,000 and 50,000 images
    python -m benchmarks.bench_shards --small 500 --large 5000 --runs 3
    python -m benchmarks.bench_shards --discovery 1000000 --against ../main   # find_images, 10^6 empty files
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.data import make_jpegs
from benchmarks.harness import Sample, arguments, compare, machine_line, median_seconds, report, run_child

CLASSES = 10
IMPORTS = ["torch", "torchvision.io", "PIL.Image", "tensortool", "tensortool.sources.image.shards",
           "tensortool.safetensors_file"]


def make_tree(root: Path, count: int, distinct: int = 400) -> None:
    """``count`` JPEGs in CLASSES class folders, hard links to ``distinct`` generated ones."""
    seeds = root.parent / f"{root.name}_seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    sources = make_jpegs(seeds, min(distinct, count), size=224)
    for i in range(count):
        folder = root / f"class{i % CLASSES:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        os.link(sources[i % len(sources)], folder / f"{i:06d}.jpg")


def run_memory(tree: Path, out: Path) -> int:
    from tensortool import load_images, write_bundle

    bundle = load_images(tree, dtype="uint8")
    write_bundle(bundle, out / "batch.safetensors")
    return len(bundle["images"])


def run_shards(tree: Path, out: Path) -> int:
    from tensortool import write_image_shards

    return write_image_shards(tree, out / "shards", dtype="uint8").count


def run_webdataset(tree: Path, out: Path) -> int:
    import numpy as np
    import webdataset as wds
    from PIL import Image

    classes = sorted(p.name for p in tree.iterdir())
    count = 0
    with wds.ShardWriter(str(out / "wds-%06d.tar"), maxsize=256 * 10**6, verbose=0) as sink:
        for label, name in enumerate(classes):
            for path in sorted((tree / name).iterdir()):
                array = np.asarray(Image.open(path).convert("RGB"))
                sink.write({"__key__": f"{name}_{path.stem}", "npy": array, "cls": label})
                count += 1
    return count


METHODS = {"memory": run_memory, "shards": run_shards, "webdataset": run_webdataset}


def counted(count: int) -> dict:
    return {"count": count}


def fresh(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()


def find(root: Path) -> int:
    from tensortool.sources.image.files import find_images

    return len(find_images([root]).files)


def discovery(count: int, scratch: Path, against: list[str], runs: int) -> None:
    """What finding ``count`` files costs before the first decode, and the memory it holds; with
    ``against``, the same for other checkouts (say, the code before this change), alternating."""
    root = scratch / "million"
    for c in range(count // 1000):
        folder = root / f"class{c:04d}"
        folder.mkdir(parents=True)
        for i in range(1000):
            os.close(os.open(folder / f"img{i:06d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    checkouts = [None, *against]  # None: this checkout
    rows: dict[str | None, list[Sample]] = {c: [] for c in checkouts}
    for _ in range(runs):
        for checkout in checkouts:
            rows[checkout].append(run_child(find, [root], imports=["torch", "tensortool.sources.image.files"],
                                            describe=counted, checkout=checkout and Path(checkout)))
    for checkout, got in rows.items():
        print(f"find_images on {got[0].extra['count']:,} files ({checkout or 'this checkout'}): median "
              f"{median_seconds(got):.2f} s, {statistics.median(r.added_mib for r in got):.0f} MiB held, {runs} runs")


def main() -> None:
    parser = arguments(__doc__, runs=3)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--large-runs", type=int, default=1)
    parser.add_argument("--discovery", type=int, default=0, help="only time file discovery on this many files")
    parser.add_argument("--against", nargs="*", default=[], help="with --discovery: other checkouts to time too")
    args = parser.parse_args()
    methods = dict(METHODS)
    try:
        import webdataset  # noqa: F401
    except ImportError:
        del methods["webdataset"]
        print("webdataset is not installed: its script is left out")
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench_shards_") as tmp:
        scratch = Path(tmp)
        if args.discovery:
            return discovery(args.discovery, scratch, args.against, args.runs)
        small, large, out = scratch / "small", scratch / "large", scratch / "out"
        make_tree(small, args.small)
        got = compare(methods, [small, out], args.runs, rotate=True, before=lambda: fresh(out),
                      imports=IMPORTS + (["webdataset"] if "webdataset" in methods else []))
        print(f"{args.small:,} images of 224x224, uint8, medians of {args.runs} runs:")
        report(got, count=args.small, unit="images", indent="  ")
        speed = {m: 1 / median_seconds(got[m]) for m in methods}
        print(f"  shards / memory throughput: {speed['shards'] / speed['memory']:.2f}")
        if "webdataset" in got:
            print(f"  shards / webdataset throughput: {speed['shards'] / speed['webdataset']:.2f}")
        if args.large:
            make_tree(large, args.large)
            big = []
            for _ in range(args.large_runs):
                fresh(out)
                big.append(run_child(run_shards, [large, out], imports=IMPORTS))
            print(f"{args.large:,} images, shards, medians of {args.large_runs} run(s):")
            report({"shards": big}, count=args.large, unit="images", indent="  ")
            peak_large, peak_small = (statistics.median(s.peak_mib for s in r) for r in (big, got["shards"]))
            print(f"  peak RSS {args.large:,} vs {args.small:,} images: {peak_large / peak_small:.3f}x "
                  f"({peak_large:.0f} vs {peak_small:.0f} MiB)")


if __name__ == "__main__":
    main()
