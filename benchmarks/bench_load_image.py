"""load_images against the tutorial loop, in the same run.

The tutorial loop: imageio.imread -> torch.from_numpy -> permute(2,0,1) -> stack -> float()/255.
Each measurement runs in a fresh process (benchmarks/harness.py), the two methods alternate, and
the medians are reported with their ratio; both outputs are checked equal first.

    python -m benchmarks.bench_load_image            # 2,000 JPEGs of 256x256, 5 runs each
    python -m benchmarks.bench_load_image --count 500 --runs 3
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.data import make_jpegs
from benchmarks.harness import arguments, compare, machine_line, print_ratio, report


def tutorial(folder: Path):
    import imageio.v2 as imageio
    import torch

    files = sorted(folder.glob("*.jpg"))
    images = [torch.from_numpy(imageio.imread(f)).permute(2, 0, 1) for f in files]
    return torch.stack(images).float() / 255


def tensortool_load(folder: Path):
    from tensortool import load_images

    return load_images(folder)["images"]


def output_size(batch) -> dict:
    return {"output_mib": batch.numel() * batch.element_size() / 2**20}


def main() -> None:
    parser = arguments(__doc__, runs=5)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_jpegs(folder, args.count)
        same = torch.equal(tutorial(folder), tensortool_load(folder))
        print(f"{args.count} JPEGs 256x256 · {machine_line()} · outputs equal: {same}")
        # tensortool's public names load on first use: imported here, untimed.
        results = compare({"tutorial": tutorial, "tensortool": tensortool_load}, [folder], args.runs,
                          imports=["torch", "torchvision", "imageio.v2", "tensortool.sources.image.load"],
                          describe=output_size)
        output_mib = statistics.median(s.extra["output_mib"] for s in results["tensortool"])
        report(results, count=args.count, unit="images", output_mib=output_mib)
        print_ratio(results, "tensortool", "tutorial")
        if not same:
            sys.exit("outputs differ")


if __name__ == "__main__":
    main()
