"""Sharded load-image against the in-memory path and a WebDataset ShardWriter script, in one run.

  * memory:     load_images(...) then write_bundle(... .safetensors): one tensor, one file;
  * shards:     write_image_shards(...): .safetensors shards (256 MB default) + manifest;
  * webdataset: the script people write: PIL decode each file, ShardWriter(maxsize=256 MB) of
                {"__key__", "npy", "cls"} samples (skipped where webdataset is not installed).

The data is an ImageFolder tree of 224x224 JPEGs (10 classes), written as uint8. Each
measurement is a fresh process (imports not timed); methods alternate in an order that rotates
from run to run; medians are reported. The large tree measures memory: peak RSS must not grow
with the number of images.

    python benchmarks/bench_shards.py                       # 2,000 and 50,000 images
    python benchmarks/bench_shards.py --small 500 --large 5000 --runs 3
    python benchmarks/bench_shards.py --discovery 1000000 --against ../main   # find_images, 10^6 empty files
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's tensortool
from bench_load_image import make_jpegs, peak_rss_mib  # noqa: E402

CLASSES = 10


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


def child(method: str, tree: Path, out: Path) -> None:
    import torch  # noqa: F401  (imports are not timed)
    import torchvision.io  # noqa: F401
    import PIL.Image  # noqa: F401
    import tensortool
    import tensortool.sources.image.shards  # noqa: F401
    import tensortool.safetensors_file  # noqa: F401
    if method == "webdataset":
        import webdataset  # noqa: F401
    baseline = peak_rss_mib()
    started = time.perf_counter()
    count = METHODS[method](tree, out)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "count": count, "peak_mib": peak_rss_mib(), "baseline_mib": baseline}))


def measure(method: str, tree: Path, scratch: Path) -> dict:
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    done = subprocess.run([sys.executable, __file__, "--child", method, str(tree), str(out)],
                          capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"{method} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def discovery(count: int, scratch: Path, against: list[str], runs: int) -> None:
    """What finding ``count`` files costs before the first decode, and the memory it holds; with
    ``against``, the same for other checkouts (say, the code before this change), alternating."""
    root = scratch / "million"
    for c in range(count // 1000):
        folder = root / f"class{c:04d}"
        folder.mkdir(parents=True)
        for i in range(1000):
            os.close(os.open(folder / f"img{i:06d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    code = ("import json, sys, time; sys.path[:0] = [sys.argv[2], sys.argv[3]]; import torch; "
            "from tensortool.sources.image.files import find_images; from bench_load_image import peak_rss_mib; "
            "base = peak_rss_mib(); t = time.perf_counter(); n = len(find_images([sys.argv[1]]).files); "
            "print(json.dumps({'seconds': time.perf_counter() - t, 'files': n, 'mib': peak_rss_mib() - base}))")
    here = Path(__file__).resolve().parent
    checkouts = [str(here.parent)] + against
    rows: dict[str, list[dict]] = {c: [] for c in checkouts}
    for _ in range(runs):
        for checkout in checkouts:
            done = subprocess.run([sys.executable, "-c", code, str(root), checkout, str(here)],
                                  capture_output=True, text=True, check=True)
            rows[checkout].append(json.loads(done.stdout))
    for checkout, got in rows.items():
        print(f"find_images on {got[0]['files']:,} files ({checkout}): median "
              f"{statistics.median(r['seconds'] for r in got):.2f} s, "
              f"{statistics.median(r['mib'] for r in got):.0f} MiB held, {runs} runs")


def report(name: str, rows: list[dict]) -> dict:
    seconds = statistics.median(r["seconds"] for r in rows)
    peak = statistics.median(r["peak_mib"] for r in rows)
    count = rows[0]["count"]
    print(f"  {name:<11} {seconds:8.2f} s  {count / seconds:8.0f} images/s  peak RSS {peak:7.0f} MiB "
          f"(imports {statistics.median(r['baseline_mib'] for r in rows):.0f})")
    return {"seconds": seconds, "rate": count / seconds, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large-runs", type=int, default=1)
    parser.add_argument("--discovery", type=int, default=0, help="only time file discovery on this many files")
    parser.add_argument("--against", nargs="*", default=[], help="with --discovery: other checkouts to time too")
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    try:
        import webdataset  # noqa: F401
        methods = ["memory", "shards", "webdataset"]
    except ImportError:
        methods = ["memory", "shards"]
        print("webdataset is not installed: its script is left out")
    with tempfile.TemporaryDirectory(prefix="bench_shards_") as tmp:
        scratch = Path(tmp)
        if args.discovery:
            return discovery(args.discovery, scratch, args.against, args.runs)
        small, large = scratch / "small", scratch / "large"
        make_tree(small, args.small)
        rows: dict[str, list[dict]] = {m: [] for m in methods}
        for run in range(args.runs):
            for method in methods[run % len(methods):] + methods[:run % len(methods)]:
                rows[method].append(measure(method, small, scratch))
        print(f"{args.small:,} images of 224x224, uint8, medians of {args.runs} runs ({os.cpu_count()} cores):")
        got = {m: report(m, rows[m]) for m in methods}
        print(f"  shards / memory throughput: {got['shards']['rate'] / got['memory']['rate']:.2f}")
        if "webdataset" in got:
            print(f"  shards / webdataset throughput: {got['shards']['rate'] / got['webdataset']['rate']:.2f}")
        if args.large:
            make_tree(large, args.large)
            big = [measure("shards", large, scratch) for _ in range(args.large_runs)]
            print(f"{args.large:,} images, shards, medians of {args.large_runs} run(s):")
            got_large = report("shards", big)
            print(f"  peak RSS {args.large:,} vs {args.small:,} images: {got_large['peak'] / got['shards']['peak']:.3f}x "
                  f"({got_large['peak']:.0f} vs {got['shards']['peak']:.0f} MiB)")


if __name__ == "__main__":
    main()
