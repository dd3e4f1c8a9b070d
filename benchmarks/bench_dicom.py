"""load_dicom against imageio.volread (the tutorials' call) and SimpleITK, in the same run.

A synthetic CT series (300 slices of 512×512 int16, RescaleIntercept -1024, shuffled file names)
is written to a temporary folder with the tests' writer. Each measurement runs in a fresh process
(benchmarks/harness.py), the methods alternate, and medians are reported with ratios. Every
method returns the float32 volume in HU, D×H×W:

- imageio:    imageio.v2.volread(folder, "DICOM") → float32 + rescale (imageio's DICOM plugin
              applies slope/intercept itself and picks a dtype; cast to float32)
- simpleitk:  ImageSeriesReader on GetGDCMSeriesFileNames, output pixel type float32
- tensortool: load_dicom(folder, layout="dhw")

    python -m benchmarks.bench_dicom               # 300 slices, 3 runs each
    python -m benchmarks.bench_dicom --slices 100 --runs 5
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.harness import arguments, compare, machine_line, print_ratio, report
from tests.dicom_writer import phantom, write_series


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


def checksum(vol) -> dict:
    return {"output_mib": vol.size * 4 / 2**20, "checksum": float(vol.astype("float64").sum())}


def main() -> None:
    parser = arguments(__doc__, runs=3)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_series(folder, phantom(args.slices, args.size, args.size, seed=0), step_mm=1.0, spacing_mm=(0.8, 0.8))
        print(f"{args.slices} slices {args.size}x{args.size} int16 · {machine_line()}")
        results = compare({"imageio": with_imageio, "simpleitk": with_simpleitk, "tensortool": with_tensortool},
                          [folder], args.runs, describe=checksum,
                          imports=["imageio.v2", "numpy", "pydicom", "SimpleITK", "torch",
                                   "tensortool.sources.dicom.load"])
        print("same volume (sum of HU):", {m: f"{s[0].extra['checksum']:.6g}" for m, s in results.items()})
        output_mib = statistics.median(s.extra["output_mib"] for s in results["tensortool"])
        report(results, count=args.slices, unit="slices", output_mib=output_mib)
        for other in ("simpleitk", "imageio"):
            print_ratio(results, "tensortool", other)


if __name__ == "__main__":
    main()
