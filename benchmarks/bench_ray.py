"""dataset_stats on a local Ray cluster (2 CPUs) against the local threaded run, in one process.

The local run decodes on 2 threads; the Ray run splits the files into tasks of
``FILES_PER_TASK`` files, each on a 1-CPU worker, and merges their exact sums. Both must give
the same JSON. Times are for the work on a running cluster (a user's ``--ray auto``); starting
the cluster and the workers' first imports are reported apart, once. Methods alternate in this
process (benchmarks/harness.py's `alternate` and `timed`), the order swapping from run to run; medians.

Ray starts its workers at nice 15 (``RAY_worker_niceness``), so on a machine that other work
keeps busy they get less CPU than the local run's threads at nice 0; that measures the
neighbours, not Ray. ``--niceness`` (default 0, as the local run) sets it; on a node of its own
the value makes no difference.

    python -m benchmarks.bench_ray                    # 2,000 256x256 JPEGs, 5 runs each
    python -m benchmarks.bench_ray --images 500 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.data import make_jpegs
from benchmarks.harness import alternate, arguments, machine_line, timed


def family() -> set[int]:
    """This process and its descendants (the Ray cluster it started: raylet, GCS, workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found = {os.getpid()}
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def main() -> None:
    parser = arguments(__doc__, runs=5)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--niceness", type=int, default=0, help="Ray's worker niceness (Ray's default: 15)")
    args = parser.parse_args()
    os.environ["RAY_worker_niceness"] = str(args.niceness)  # read by the raylet that ray.init starts

    import ray

    from tensortool import dataset_stats
    from tensortool.engine import RayEngine

    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_jpegs(folder, args.images, size=args.size)
        start_s, _, _ = timed(lambda: ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
                                                logging_level="ERROR"))
        try:
            local = lambda: dataset_stats(folder, workers=args.cpus).to_json()  # noqa: E731
            on_ray = lambda: dataset_stats(folder, engine=RayEngine()).to_json()  # noqa: E731
            first_s, _, _ = timed(on_ray)  # the workers import torch and tensortool once
            cluster = family()  # the driver, raylet, GCS and the workers: all the CPU a Ray run costs
            reference = local()
            figures = alternate({"local threads": lambda: timed(local), "ray": lambda: timed(on_ray, cluster)},
                                args.runs, rotate=True)
        finally:
            ray.shutdown()
    wall = {name: [w for w, _, _ in got] for name, got in figures.items()}
    cpu = {name: [c for _, c, _ in got] for name, got in figures.items()}
    same = all(doc == reference for got in figures.values() for _, _, doc in got)
    report(args, start_s, first_s, wall, cpu, same)


def report(args: argparse.Namespace, start_s: float, first_s: float, wall: dict[str, list[float]],
           cpu: dict[str, list[float]], same: bool) -> None:
    from tensortool.stats.distributed import FILES_PER_TASK

    tasks = -(-args.images // FILES_PER_TASK)
    print(f"{args.images} {args.size}x{args.size} JPEGs, {args.cpus} CPUs, {tasks} Ray tasks of up to "
          f"{FILES_PER_TASK} files, Ray workers at nice {args.niceness}, {args.runs} runs each (medians)")
    print(f"  cluster start {start_s:.2f} s; first Ray run (worker imports) {first_s:.2f} s")
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    for name, value in medians.items():
        print(f"  {name:14s} {value:7.3f} s wall  {args.images / value:6.0f} images/s  {cpu_medians[name]:6.2f} CPU-s  "
              f"(wall runs: {', '.join(f'{v:.2f}' for v in wall[name])})")
    ratio = medians["ray"] / medians["local threads"]
    cpu_ratio = cpu_medians["ray"] / cpu_medians["local threads"]
    print(f"  ray / local: wall {ratio:.3f} ({100 * (ratio - 1):+.1f}%), CPU time {cpu_ratio:.3f} "
          f"({100 * (cpu_ratio - 1):+.1f}%; the CPU figure holds on a busy machine, the wall one does not)")
    print(f"  identical stats JSON in every run: {same}")


if __name__ == "__main__":
    main()
