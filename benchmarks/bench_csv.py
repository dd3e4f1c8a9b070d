"""load_csv against np.loadtxt (the tutorial's way) and pandas.read_csv(...).to_numpy(), same run.

A 200,000-row x 12-column numeric CSV (about 20 MB, header, comma-separated) is loaded into a
float32 tensor by each method, each measurement in a fresh process (benchmarks/harness.py), the
methods alternating; medians, rows/s and the medians of per-pair ratios are printed, after a
check that the three outputs are equal.

    python -m benchmarks.bench_csv                  # 200,000 rows, 5 runs each
    python -m benchmarks.bench_csv --rows 50000 --runs 3
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.harness import arguments, compare, machine_line, print_ratio, report

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


def check_shape(out) -> dict:
    assert out.dtype.is_floating_point and out.shape[1] == COLUMNS
    return {}


def main() -> None:
    parser = arguments(__doc__, runs=5)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    import pyarrow
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        make_csv(path, args.rows)
        reference = loadtxt(path)
        same = all(torch.equal(reference, f(path)) for f in (pandas_default, tensortool_load))
        print(f"{args.rows:,} rows x {COLUMNS} columns, {path.stat().st_size / 1e6:.1f} MB · {machine_line()} · "
              f"pyarrow {pyarrow.__version__} · outputs equal: {same}")
        results = compare({"np.loadtxt": loadtxt, "pandas": pandas_default, "tensortool": tensortool_load},
                          [path], args.runs, describe=check_shape,
                          imports=["numpy", "pandas", "pyarrow.csv", "torch", "tensortool.sources.table.load"])
        report(results, count=args.rows, unit="rows")
        for other in ("np.loadtxt", "pandas"):
            print_ratio(results, "tensortool", other)
        if not same:
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
