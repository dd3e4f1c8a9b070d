"""convert_checkpoint against the ten-line script, with a raw file copy as the bound, in one run.

  * copy:       shutil.copyfile of the source file (the I/O bound for any conversion);
  * tensortool: convert_checkpoint(src, dst) with its default bit-exact verification on (and off);
  * script:     .pth → .safetensors: torch.load(weights_only=True) + safetensors.torch.save_file;
                .safetensors → .pth: safetensors.torch.load_file + torch.save.

A training checkpoint ``{"model": state_dict, "epoch": 3}`` of ~1 GB float32 tensors (a transformer-like
mix of shapes, a 32000×2048 embedding tied to ``lm_head``, which the script has to drop by hand for
save_file to accept it). Every measurement is a fresh process (benchmarks/harness.py: imports not
timed), methods alternate, medians are reported, and peak RSS added is VmHWM minus the after-import
baseline (memory-mapped pages count: they are resident too).

    python -m benchmarks.bench_ckpt               # 1 GB, 3 runs
    python -m benchmarks.bench_ckpt --gb 2 --runs 5
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.harness import arguments, compare, machine_line, median_seconds, report


def make_checkpoint(path: Path, gb: float) -> int:
    import torch

    torch.manual_seed(0)
    dim, state, total, i = 2048, {}, 0, 0
    state["embed.weight"] = torch.randn(32000, dim)
    state["lm_head.weight"] = state["embed.weight"]  # tied, as in most language models
    total += state["embed.weight"].nbytes
    while total < gb * 1e9:
        for name, shape in ((f"layers.{i}.attn.qkv.weight", (3 * dim, dim)), (f"layers.{i}.attn.out.weight", (dim, dim)),
                            (f"layers.{i}.mlp.up.weight", (4 * dim, dim)), (f"layers.{i}.norm.weight", (dim,))):
            state[name] = torch.randn(shape)
            total += state[name].nbytes
        i += 1
    torch.save({"model": state, "epoch": 3}, path)
    return total


def run_copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


def run_tensortool(src: Path, dst: Path, verify: bool = True) -> None:
    from tensortool import convert_checkpoint

    convert_checkpoint(src, dst, force=True, verify=verify)


def run_tensortool_noverify(src: Path, dst: Path) -> None:
    run_tensortool(src, dst, verify=False)


def run_script(src: Path, dst: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    if src.suffix == ".pth":
        state = torch.load(src, map_location="cpu", weights_only=True)["model"]
        state.pop("lm_head.weight", None)  # "Some tensors share memory": the script's usual fix
        save_file(state, dst, metadata={"format": "pt"})
    else:
        state = load_file(src)
        torch.save(state, dst)


METHODS = {"copy": run_copy, "tensortool": run_tensortool, "tensortool --no-verify": run_tensortool_noverify,
           "script": run_script}


def measure(src: Path, dst: Path, runs: int, label: str, nbytes: int) -> None:
    results = compare(METHODS, [src, dst], runs, before=lambda: dst.unlink(missing_ok=True),
                      imports=["safetensors.torch", "torch", "tensortool.checkpoint"])
    gb = nbytes / 1e9
    print(f"\n{label}: {gb:.2f} GB of tensors ({src.stat().st_size / 1e9:.2f} GB file), median of {runs} runs")
    report(results, count=gb, unit="GB", indent="  ")
    med = {m: median_seconds(results[m]) for m in METHODS}
    added = {m: statistics.median(s.added_mib for s in results[m]) for m in ("tensortool", "script")}
    print(f"  tensortool (verified) = {med['script'] / med['tensortool']:.2f}x the script's speed "
          f"({med['script'] / med['tensortool --no-verify']:.2f}x without verification); "
          f"{med['copy'] / med['tensortool']:.2f}x the copy bound; peak RSS added "
          f"{added['tensortool']:.0f} MiB vs the script's {added['script']:.0f} MiB")


def main() -> None:
    parser = arguments(__doc__, runs=3)
    parser.add_argument("--gb", type=float, default=1.0)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bench_ckpt_") as tmp:
        folder = Path(tmp)
        pth = folder / "model.pth"
        nbytes = make_checkpoint(pth, args.gb)
        measure(pth, folder / "out.safetensors", args.runs, ".pth → .safetensors", nbytes)
        st = folder / "model.safetensors"
        run_tensortool(pth, st, verify=False)
        measure(st, folder / "out.pth", args.runs, ".safetensors → .pth", nbytes)


if __name__ == "__main__":
    main()
