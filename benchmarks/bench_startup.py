"""Start-up time of the command line: whole-process wall time against `python -c pass`.

Each command is a fresh process (what a user waits for when typing it); commands alternate
within each round so machine load hits them alike; medians of the rounds are printed, with the
time above the bare interpreter's.

    python benchmarks/bench_startup.py             # 20 rounds
    python benchmarks/bench_startup.py --runs 50
    python benchmarks/bench_startup.py --root ../other-checkout   # time another checkout's code
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "tensortool --help": ["-m", "tensortool", "--help"],
    "tensortool --version": ["-m", "tensortool", "--version"],
    "tensortool load-image --help": ["-m", "tensortool", "load-image", "--help"],
    "tensortool ckpt inspect --help": ["-m", "tensortool", "ckpt", "inspect", "--help"],
}


def wall_time(args: list[str], root: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds; every command runs once per round")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose tensortool is timed")
    options = parser.parse_args()
    runs, root = options.runs, options.root.resolve()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for name, args in COMMANDS.items():  # one untimed run each: the file cache warm for all
        wall_time(args, root)
    for _ in range(runs):
        for name, args in COMMANDS.items():
            times[name].append(wall_time(args, root))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<34}{'median':>10}{'above python':>14}   ({runs} runs, {os.cpu_count()} CPUs, {root})")
    for name, values in times.items():
        median = statistics.median(values)
        extra = "" if name == "python -c pass" else f"{(median - base) * 1000:+10.0f} ms"
        print(f"{name:<34}{median * 1000:>8.0f} ms{extra:>14}")


if __name__ == "__main__":
    main()
