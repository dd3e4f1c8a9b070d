"""load_dicom against imageio.volread (the tutorials' call) and SimpleITK, in the same run.

A synthetic CT series (300 slices of 512×512 int16, RescaleIntercept -1024, shuffled file names)
is written to a temporary folder with the tests' writer. Each measurement runs in a fresh
subprocess (imports not timed, so peak RSS is that method's own), the methods alternate, and
medians are reported with ratios. Every method returns the float32 volume in HU, D×H×W:

- imageio:    imageio.v2.volread(folder, "DICOM") → float32 + rescale (imageio's DICOM plugin
              applies slope/intercept itself and picks a dtype; cast to float32)
- simpleitk:  ImageSeriesReader on GetGDCMSeriesFileNames, output pixel type float32
- tensortool: load_dicom(folder, layout="dhw")

    python benchmarks/bench_dicom.py               # 300 slices, 3 runs each
    python benchmarks/bench_dicom.py --slices 100 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_series(folder: Path, slices: int, size: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from dicom_writer import phantom, write_series

    write_series(folder, phantom(slices, size, size, seed=0), step_mm=1.0, spacing_mm=(0.8, 0.8))


def with_imageio(folder: Path):
    import imageio.v2 as imageio
    import numpy as np

    vol = imageio.volread(str(folder), "DICOM")
    return np.asarray(vol, dtype=np.float32)


def with_simpleitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    reader.SetOutputPixelType(sitk.sitkFloat32)
    image = reader.Execute()
    _KEEP.append(image)  # the array view below is only valid while the image lives
    return sitk.GetArrayViewFromImage(image)


def with_tensortool(folder: Path):
    from tensortool import load_dicom

    return load_dicom(folder, layout="dhw")["volume"].numpy()


_KEEP: list = []
METHODS = {"imageio": with_imageio, "simpleitk": with_simpleitk, "tensortool": with_tensortool}


def peak_rss_mib() -> float:
    """VmHWM of this process (not ru_maxrss, which Linux carries across execve)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(method: str, folder: Path) -> None:
    import imageio.v2  # noqa: F401  (imports are not timed)
    import numpy  # noqa: F401
    import pydicom  # noqa: F401
    import SimpleITK  # noqa: F401
    import torch  # noqa: F401

    from tensortool import load_dicom  # noqa: F401  (public names load on first use: here, untimed)

    baseline = peak_rss_mib()
    started = time.perf_counter()
    vol = METHODS[method](folder)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_rss_mib(), "baseline_mib": baseline,
                      "output_mib": vol.size * 4 / 2**20, "shape": list(vol.shape),
                      "checksum": float(vol.astype("float64").sum())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=list(METHODS))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_series(folder, args.slices, args.size)
        print(f"{args.slices} slices {args.size}x{args.size} int16 · {os.cpu_count()} cores · "
              f"{platform.processor() or platform.machine()} · python {platform.python_version()}")
        results: dict[str, list[dict]] = {m: [] for m in METHODS}
        for run in range(args.runs + 1):  # run 0 warms the page cache and is not counted
            for method in METHODS:
                out = subprocess.run([sys.executable, __file__, "--child", method, "--folder", str(folder)],
                                     check=True, capture_output=True, text=True, env=env)
                if run:
                    results[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
        sums = {m: r[0]["checksum"] for m, r in results.items()}
        print("same volume (sum of HU):", {m: f"{v:.6g}" for m, v in sums.items()})
        medians = {}
        for method, rs in results.items():
            t = statistics.median(r["seconds"] for r in rs)
            medians[method] = t
            added = statistics.median(r["peak_mib"] - r["baseline_mib"] for r in rs)
            out_mib = rs[0]["output_mib"]
            print(f"{method:>10}: {args.slices / t:7.0f} slices/s (median of {args.runs}: {t:.3f} s, "
                  f"min {min(r['seconds'] for r in rs):.3f}) · peak RSS {statistics.median(r['peak_mib'] for r in rs):.0f} MiB, "
                  f"loading added {added:.0f} MiB = {added / out_mib:.2f}x the {out_mib:.0f} MiB float32 volume")
        for other in ("simpleitk", "imageio"):
            ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(results[other], results["tensortool"]))
            print(f"tensortool vs {other}: {ratio:.2f}x (median of pairs of {other} time / tensortool time)")


if __name__ == "__main__":
    main()
