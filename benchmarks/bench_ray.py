"""dataset_stats on a local Ray cluster (2 CPUs) against the local threaded run, in one process.

The local run decodes on 2 threads; the Ray run splits the files into tasks of
``FILES_PER_TASK`` files, each on a 1-CPU worker, and merges their exact sums. Both must give
the same JSON. Times are for the work on a running cluster (a user's ``--ray auto``); starting
the cluster and the workers' first imports are reported apart, once. Methods alternate; medians.

    python benchmarks/bench_ray.py                    # 2,000 256x256 JPEGs, 5 runs each
    python benchmarks/bench_ray.py --images 500 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's tensortool (run from its root)
from bench_load_image import make_jpegs  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()

    import ray

    from tensortool import dataset_stats
    from tensortool.engine import RayEngine
    from tensortool.stats.distributed import FILES_PER_TASK

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_jpegs(folder, args.images, size=args.size)
        start_s, _ = timed(lambda: ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
                                             logging_level="ERROR"))
        try:
            local = lambda: dataset_stats(folder, workers=args.cpus).to_json()  # noqa: E731
            on_ray = lambda: dataset_stats(folder, engine=RayEngine()).to_json()  # noqa: E731
            first_s, _ = timed(on_ray)  # the workers import torch and tensortool once
            times: dict[str, list[float]] = {"local threads": [], "ray": []}
            reference = local()
            same = True
            for run in range(args.runs):
                order = [("local threads", local), ("ray", on_ray)][:: 1 if run % 2 == 0 else -1]
                for name, fn in order:
                    seconds, doc = timed(fn)
                    times[name].append(seconds)
                    same = same and doc == reference
        finally:
            ray.shutdown()

    tasks = -(-args.images // FILES_PER_TASK)
    print(f"{args.images} {args.size}x{args.size} JPEGs, {args.cpus} CPUs, {tasks} Ray tasks of up to "
          f"{FILES_PER_TASK} files, {args.runs} runs each (medians)")
    print(f"  cluster start {start_s:.2f} s; first Ray run (worker imports) {first_s:.2f} s")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"  {name:14s} {value:7.3f} s  {args.images / value:8.0f} images/s  "
              f"(runs: {', '.join(f'{v:.2f}' for v in times[name])})")
    ratio = medians["ray"] / medians["local threads"]
    print(f"  ray / local = {ratio:.3f}  (overhead {100 * (ratio - 1):+.1f}%)")
    print(f"  identical stats JSON in every run: {same}")


if __name__ == "__main__":
    main()
