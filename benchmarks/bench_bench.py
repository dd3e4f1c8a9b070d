"""`run_bench`'s medians against the timers an expert would pick, on the same cases in the same run.

CPU: torch.utils.benchmark.Timer(...).blocked_autorange() with the same thread count.
CUDA (when a GPU is visible): triton.testing.do_bench (if triton is installed) and
torch.utils.benchmark.Timer, with TF32 set as the case needs. The methods alternate, each case is
measured --rounds times by each, and the report gives the medians and the ratio tensortool/other
(the target on GPU: within 3% of do_bench). Peak RSS of the whole run is printed at the end.

    python -m benchmarks.bench_bench                                 # CPU, 256/512/1024, float32
    python -m benchmarks.bench_bench --device cuda --size 1024,4096,8192 --dtype float32,tf32,bfloat16
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from benchmarks.harness import alternate, peak_rss_mib
from tensortool.bench.cases import case_names, make_cases, make_inputs
from tensortool.bench.run import Timing, matmul_precision, run_bench


def timer_median(fn, threads: int) -> float:
    from torch.utils.benchmark import Timer

    # Timer synchronizes CUDA itself around its blocks.
    return Timer("fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(min_run_time=0.5).median


def do_bench_median(fn) -> float | None:
    try:
        from triton.testing import do_bench
    except ImportError:
        return None
    return do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3


def measure_case(case, size, dtype: str, device: torch.device, args) -> dict[str, float]:
    """Median per-call seconds of one case by each timer, the timers taking turns."""
    cuda = device.type == "cuda"
    inputs = make_inputs(case, dtype, device)

    def ours() -> float:
        result = run_bench(["cuda:0" if cuda else "cpu"], [args.op], [size], [dtype], threads=args.threads,
                           timing=Timing(min_time=0.5), transfers=False, only=[case.name])
        return next(c.median_s for c in result.cases if c.name == case.name)

    def timer() -> float:
        with matmul_precision(dtype):
            return timer_median(lambda: case.run(inputs), args.threads)

    def triton() -> float | None:
        with matmul_precision(dtype):
            return do_bench_median(lambda: case.run(inputs))

    methods = {"tensortool": ours, "Timer": timer, **({"do_bench": triton} if cuda else {})}
    figures = alternate(methods, args.rounds)
    return {name: statistics.median(values) for name, values in figures.items() if None not in values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--size", default="256,512,1024")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--op", default="matmul", help="matmul, bmm, einsum or all")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [(int(s),) * 3 for s in args.size.split(",")]
    dtypes = args.dtype.split(",")
    cuda = args.device.startswith("cuda")
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    print(f"{args.device} · torch {torch.__version__} · {args.threads} thread(s) · {os.cpu_count()} logical CPUs"
          + (f" · {torch.cuda.get_device_name(0)}" if cuda else ""))
    print(f"{'case':<24} {'size':>5} {'dtype':<9} {'tensortool':>11} {'Timer':>11} {'do_bench':>11} "
          f"{'tt/Timer':>8} {'tt/do_bench':>11}")
    for size in sizes:
        for dtype in dtypes:
            for case in make_cases(size, case_names([args.op])):
                medians = measure_case(case, size, dtype, device, args)
                a, b, c = medians["tensortool"], medians["Timer"], medians.get("do_bench")
                print(f"{case.name:<24} {size[0]:>5} {dtype:<9} {a * 1e3:>9.3f}ms {b * 1e3:>9.3f}ms "
                      f"{(f'{c * 1e3:9.3f}ms' if c else 'n/a'):>11} {a / b:>8.3f} {(f'{a / c:.3f}' if c else 'n/a'):>11}")
    print(f"peak RSS of this run: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
