"""A whole DICOM export tree, one file per series: `tensortool load-dicom --each-series` against dcm2niix.

A synthetic export (the tests' writer: study/series folders, 20 series of int16 slices with a
rescale, CT and MR in turn, plus a localizer) is written to a temporary folder. Each command
runs in a fresh process into an empty output folder: dcm2niix and the tensortool command are
timed as wall time, the library variants from inside the process after their imports. The commands
alternate; run 0 warms the page cache and is not counted; medians and the median of the per-run
ratios are printed.

- dcm2niix:   dcm2niix -z n -b n -f %s_%j -o OUT TREE   (uncompressed NIfTI, no sidecars)
- tensortool-cli:    python -m tensortool load-dicom TREE --each-series -o OUT -q --workers N
                     (wall time, with starting Python and importing torch)
- library-threads:   convert_dicom_tree(TREE, OUT, workers=N), timed after the imports: series in
                     threads (the default)
- library-processes: the same with engine="processes"
- library-1-worker:  the same with one worker (series one after another, in the calling process)
- library-raw:       threads, raw=True: the stored int16 values, as dcm2niix writes them (half the
                     bytes of float32)

The outputs differ in format: dcm2niix writes NIfTI (the stored integers plus scl_slope/inter,
LPS turned to RAS), tensortool float32 .safetensors in rescaled units with the DICOM geometry
in the metadata. Both write one file per series; dcm2niix converts the localizer too (one more
file), tensortool records it as skipped.

    python benchmarks/bench_dicom_export.py                 # 20 series of 64 slices 256x256, 3 runs
    python benchmarks/bench_dicom_export.py --series 8 --slices 32 --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_tree(folder: Path, series: int, slices: int, size: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.dicom_writer import write_export_tree

    write_export_tree(folder, series=series, depth=slices, rows=size, cols=size, broken=False)


def commands(tree: Path, out: Path, workers: int) -> dict[str, list[str]]:
    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    child = [sys.executable, __file__, "--tree", str(tree), "--out", str(out), "--workers"]
    return {
        "dcm2niix": [dcm2niix, "-z", "n", "-b", "n", "-f", "%s_%j", "-o", str(out), str(tree)],
        "tensortool-cli": [sys.executable, "-m", "tensortool", "load-dicom", str(tree), "--each-series",
                           "-o", str(out), "-q", "--workers", str(workers)],
        "library-threads": child + [str(workers), "--child", "threads"],
        "library-processes": child + [str(workers), "--child", "processes"],
        "library-1-worker": child + ["1", "--child", "threads"],
        "library-raw": child + [str(workers), "--child", "threads", "--raw"],
    }


def child(tree: Path, out: Path, workers: int, engine: str, raw: bool) -> None:
    """The library call alone, timed after the imports: what the command costs beyond starting Python."""
    import pydicom  # noqa: F401  (imports are not timed)
    import torch  # noqa: F401

    from tensortool import convert_dicom_tree

    started = time.perf_counter()
    convert_dicom_tree(tree, out, workers=workers, engine=engine, raw=raw)
    print(f"seconds {time.perf_counter() - started}")


def run_once(command: list[str], out: Path) -> tuple[float, int]:
    """Seconds (the child's own timing where it reports one, else wall) and volume files written."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    reported = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("seconds ")]
    written = [p for p in out.iterdir() if p.suffix in (".nii", ".safetensors")]
    return (float(reported[0]) if reported else seconds), len(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--child", choices=("processes", "threads"))
    parser.add_argument("--tree", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args.tree, args.out, args.workers, args.child, args.raw)
    with tempfile.TemporaryDirectory() as tmp:
        tree, out = Path(tmp) / "tree", Path(tmp) / "out"
        make_tree(tree, args.series, args.slices, args.size)
        mib = args.series * args.slices * args.size * args.size * 2 / 2**20
        print(f"{args.series} series × {args.slices} slices {args.size}x{args.size} int16 ({mib:.0f} MiB of pixels) "
              f"+ a localizer · {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} · "
              f"{platform.processor() or platform.machine()} · python {platform.python_version()}")
        cmds = commands(tree, out, args.workers)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        counts: dict[str, int] = {}
        for run in range(args.runs + 1):
            for name, command in cmds.items():
                seconds, files = run_once(command, out)
                if files < args.series:
                    raise SystemExit(f"{name} wrote {files} volume files, expected {args.series}")
                counts[name] = files
                if run:
                    times[name].append(seconds)
        for name, ts in times.items():
            print(f"{name:>20}: median {statistics.median(ts):.2f} s (min {min(ts):.2f}) · "
                  f"{args.series / statistics.median(ts):.1f} series/s · {counts[name]} files")
        for name in list(cmds)[1:]:
            ratio = statistics.median(a / b for a, b in zip(times[name], times["dcm2niix"]))
            print(f"{name} / dcm2niix: {ratio:.2f}x wall time (median of per-run ratios; above 1 is slower)")


if __name__ == "__main__":
    main()
