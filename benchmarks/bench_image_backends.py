"""The image decoders side by side: TorchCodec, torchvision and Pillow, in one run.

For each dataset (noisy 256x256 JPEGs, noisy 256x256 PNGs) and each worker count (1, 2), every
installed decoder runs three things on the same files, warm (page cache, imports done):

  * decode only: iter_images doing nothing with the pixels (the bound for the other two);
  * load_images: the float32 N×C×H×W batch;
  * dataset_stats: exact per-channel mean/std.

Everything runs in this process (benchmarks/harness.py's `alternate`, after one uncounted round):
each decoder runs the three in turn, the decoders alternating inside each run in an order that
rotates from run to run; medians are printed, with each decoder's time relative to TorchCodec's
and stats as a share of decode-only.

    python -m benchmarks.bench_image_backends                   # 2,000 JPEGs, 1,000 PNGs, 3 runs
    python -m benchmarks.bench_image_backends --jpegs 500 --pngs 200 --runs 3
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.data import make_noisy
from benchmarks.harness import alternate, arguments, machine_line

TASKS = ("decode", "load_images", "stats")


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
    parser = arguments(__doc__, runs=3)
    parser.add_argument("--jpegs", type=int, default=2000)
    parser.add_argument("--pngs", type=int, default=1000)
    parser.add_argument("--decoders", default=None, help="comma-separated subset (default: all installed)")
    args = parser.parse_args()
    from tensortool.sources.image.backends import decoder_label

    decoders = args.decoders.split(",") if args.decoders else installed()
    versions = ", ".join(decoder_label(d) for d in decoders)
    print(f"{machine_line()} · {versions} · medians of {args.runs} warm runs")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("JPEG", Path(tmp) / "jpeg", args.jpegs, ".jpg"), ("PNG", Path(tmp) / "png", args.pngs, ".png")]
        for label, folder, count, suffix in sets:
            if not count:
                continue
            make_noisy(folder, count, suffix)
            for workers in (1, 2):
                each = {d: lambda d=d: {task: run(task, folder, d, workers) for task in TASKS} for d in decoders}
                figures = alternate(each, args.runs, rotate=True, warmup=True)
                times = {(task, d): [f[task] for f in figures[d]] for task in TASKS for d in decoders}
                report(label, count, workers, decoders, times)
    os.environ.pop("TENSORTOOL_DECODER", None)


def report(label: str, count: int, workers: int, decoders: list[str], times: dict) -> None:
    print(f"\n{count} {label}s of 256x256, {workers} worker{'s' if workers > 1 else ''} "
          f"(images/s; time relative to {decoders[0]}; stats as a share of decode-only speed)")
    med = {k: statistics.median(v) for k, v in times.items()}
    for d in decoders:
        cells = []
        for task in TASKS:
            cells.append(f"{task} {count / med[task, d]:6.0f}/s ({med[task, d] / med[task, decoders[0]]:.2f}x)")
        share = med["decode", d] / med["stats", d]
        print(f"  {d:>11}: " + "  ".join(cells) + f"  stats/decode {share:.0%}")


if __name__ == "__main__":
    main()
