"""Start-up time of the command line: whole-process wall time against `python -c pass`.

Each command is a fresh process (what a user waits for when typing it; benchmarks/harness.py's
`Command`); commands alternate within each round so machine load hits them alike, after one
uncounted round; medians of the rounds are printed, with the time above the bare interpreter's.

    python -m benchmarks.bench_startup             # 20 rounds
    python -m benchmarks.bench_startup --runs 50
    python -m benchmarks.bench_startup --root ../other-checkout   # time another checkout's code
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks.harness import ROOT, Command, arguments, compare, median_seconds

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "tensortool --help": ["-m", "tensortool", "--help"],
    "tensortool --version": ["-m", "tensortool", "--version"],
    "tensortool load-image --help": ["-m", "tensortool", "load-image", "--help"],
    "tensortool ckpt inspect --help": ["-m", "tensortool", "ckpt", "inspect", "--help"],
}


def main() -> None:
    parser = arguments(__doc__, runs=20)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose tensortool is timed")
    options = parser.parse_args()
    runs, root = options.runs, options.root.resolve()
    results = compare({name: Command([sys.executable, *args], root) for name, args in COMMANDS.items()}, [], runs)
    base = median_seconds(results["python -c pass"])
    print(f"{'command':<34}{'median':>10}{'above python':>14}   ({runs} runs, {os.cpu_count()} CPUs, {root})")
    for name, samples in results.items():
        median = median_seconds(samples)
        extra = "" if name == "python -c pass" else f"{(median - base) * 1000:+10.0f} ms"
        print(f"{name:<34}{median * 1000:>8.0f} ms{extra:>14}")


if __name__ == "__main__":
    main()
