"""A whole DICOM export tree, one file per series: `tensortool load-dicom --each-series` against dcm2niix.

A synthetic export (the tests' writer: study/series folders, 20 series of int16 slices with a
rescale, CT and MR in turn, plus a localizer) is written to a temporary folder. Each command
runs in a fresh process into an empty output folder (benchmarks/harness.py): dcm2niix and the
tensortool command are timed as wall time, the library variants from inside the process after
their imports. The commands alternate; run 0 warms the page cache and is not counted; medians and
the median of the per-run ratios are printed. Peak RSS is the calling process's (the library
variants'; worker processes not counted).

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

    python -m benchmarks.bench_dicom_export                 # 20 series of 64 slices 256x256, 3 runs
    python -m benchmarks.bench_dicom_export --series 8 --slices 32 --runs 5
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import Command, Sample, arguments, compare, machine_line, print_ratio, report
from tests.dicom_writer import write_export_tree


def library(tree: Path, out: Path, workers: int, engine: str = "threads", raw: bool = False) -> None:
    """The library call alone, timed after the imports: what the command costs beyond starting Python."""
    from tensortool import convert_dicom_tree

    convert_dicom_tree(tree, out, workers=workers, engine=engine, raw=raw)


def library_processes(tree: Path, out: Path, workers: int) -> None:
    library(tree, out, workers, engine="processes")


def library_1_worker(tree: Path, out: Path, workers: int) -> None:
    library(tree, out, 1)


def library_raw(tree: Path, out: Path, workers: int) -> None:
    library(tree, out, workers, raw=True)


def methods(tree: Path, out: Path, workers: int) -> dict:
    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    return {
        "dcm2niix": Command([dcm2niix, "-z", "n", "-b", "n", "-f", "%s_%j", "-o", str(out), str(tree)]),
        "tensortool-cli": Command([sys.executable, "-m", "tensortool", "load-dicom", str(tree), "--each-series",
                                   "-o", str(out), "-q", "--workers", str(workers)]),
        "library-threads": library,
        "library-processes": library_processes,
        "library-1-worker": library_1_worker,
        "library-raw": library_raw,
    }


def main() -> None:
    parser = arguments(__doc__, runs=3)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree, out = Path(tmp) / "tree", Path(tmp) / "out"
        write_export_tree(tree, series=args.series, depth=args.slices, rows=args.size, cols=args.size, broken=False)
        mib = args.series * args.slices * args.size * args.size * 2 / 2**20
        print(f"{args.series} series × {args.slices} slices {args.size}x{args.size} int16 ({mib:.0f} MiB of pixels) "
              f"+ a localizer · {machine_line()}")

        def fresh() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        def count_files(name: str, sample: Sample) -> None:
            files = sum(p.suffix in (".nii", ".safetensors") for p in out.iterdir())
            if files < args.series:
                raise SystemExit(f"{name} wrote {files} volume files, expected {args.series}")
            sample.extra["files"] = files

        results = compare(methods(tree, out, args.workers), [tree, out, args.workers], args.runs,
                          imports=["pydicom", "torch", "tensortool.sources.dicom.export"],
                          before=fresh, after=count_files)
        report(results, count=args.series, unit="series")
        print("volume files written:", {name: samples[0].extra["files"] for name, samples in results.items()})
        for name in list(results)[1:]:
            print_ratio(results, "dcm2niix", name)


if __name__ == "__main__":
    main()
