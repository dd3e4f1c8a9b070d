"""load_csv against np.loadtxt (the tutorial's way) and pandas.read_csv(...).to_numpy(), same run.

A 200,000-row x 12-column numeric CSV (about 20 MB, header, comma-separated) is loaded into a
float32 tensor by each method. Each measurement runs in a fresh subprocess (imports not timed,
peak RSS is that method's own), the methods alternate, run 0 warms the page cache and is not
counted; medians, rows/s and the ratios of medians of pairs are printed.

    python benchmarks/bench_csv.py                  # 200,000 rows, 5 runs each
    python benchmarks/bench_csv.py --rows 50000 --runs 3
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

COLUMNS = 12


def make_csv(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, (rows, COLUMNS)) * rng.uniform(0.1, 1000, COLUMNS)
    header = ",".join(f"col{i}" for i in range(COLUMNS))
    np.savetxt(path, data, fmt="%.6g", delimiter=",", header=header, comments="")


def loadtxt(path: Path):
    import numpy as np
    import torch

    return torch.from_numpy(np.loadtxt(path, dtype=np.float32, delimiter=",", skiprows=1))


def pandas_default(path: Path):
    import warnings

    import pandas as pd
    import torch

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # read-only view: fine here
    return torch.from_numpy(pd.read_csv(path).to_numpy(dtype="float32"))


def tensortool_load(path: Path):
    from tensortool import load_csv

    return load_csv(path)["features"]


METHODS = {"np.loadtxt": loadtxt, "pandas": pandas_default, "tensortool": tensortool_load}


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM); ru_maxrss would carry the parent's across execve."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, path: Path) -> None:
    import numpy  # noqa: F401  (imports are not timed)
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import torch  # noqa: F401
    from tensortool import load_csv  # noqa: F401  (public names load on first use: here, untimed)

    baseline = peak_rss_mib()
    started = time.perf_counter()
    out = METHODS[method](path)
    seconds = time.perf_counter() - started
    assert out.dtype.is_floating_point and out.shape[1] == COLUMNS
    print(json.dumps({"seconds": seconds, "peak_mib": peak_rss_mib(), "added_mib": peak_rss_mib() - baseline}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=list(METHODS))
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path)
        return

    import pyarrow
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        make_csv(path, args.rows)
        reference = loadtxt(path)
        same = all(torch.equal(reference, f(path)) for f in (pandas_default, tensortool_load))
        print(f"{args.rows:,} rows x {COLUMNS} columns, {path.stat().st_size / 1e6:.1f} MB · {os.cpu_count()} cores · "
              f"{platform.processor() or platform.machine()} · pyarrow {pyarrow.__version__} · "
              f"outputs equal: {same}")
        times: dict[str, list[float]] = {m: [] for m in METHODS}
        peaks: dict[str, list[float]] = {m: [] for m in METHODS}
        added: dict[str, list[float]] = {m: [] for m in METHODS}
        for run in range(args.runs + 1):
            for method in METHODS:
                out = subprocess.run([sys.executable, __file__, "--child", method, "--path", str(path)],
                                     check=True, capture_output=True, text=True)
                result = json.loads(out.stdout)
                if run:
                    times[method].append(result["seconds"])
                    peaks[method].append(result["peak_mib"])
                    added[method].append(result["added_mib"])
        for method in METHODS:
            t = statistics.median(times[method])
            print(f"{method:>11}: {args.rows / t:11,.0f} rows/s  (median of {args.runs}: {t:.3f} s, "
                  f"min {min(times[method]):.3f}, max {max(times[method]):.3f})  peak RSS "
                  f"{statistics.median(peaks[method]):.0f} MiB, loading added {statistics.median(added[method]):.0f} MiB")
        for other in ("np.loadtxt", "pandas"):
            ratio = statistics.median(a / b for a, b in zip(times[other], times["tensortool"]))
            print(f"speed-up vs {other} ({other} time / tensortool time, median of pairs): {ratio:.2f}x")
        if not same:
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
