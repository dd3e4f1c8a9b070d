"""What every benchmark here shares: fresh-process measurements, alternation, medians, ratios.

A benchmark script defines its data and its methods (module-level functions) and hands them to
`compare`: each measurement runs the method in a fresh Python process (imports are done before
the clock starts and are not timed; peak RSS is that method's own), the methods alternate (in an
order that rotates from run to run with ``rotate=True``), run 0 warms the page cache and is not
counted. `report` prints medians, throughput and peak RSS; `print_ratio` the median of per-pair
time ratios. Scripts run from the repository root as modules, so they import this file without
touching ``sys.path``: ``python -m benchmarks.bench_csv``.

Example, a complete benchmark (``benchmarks/bench_sum.py``)::

    '''np.load(...).sum() against torch's sum of the same array.'''
    import tempfile
    from pathlib import Path

    from benchmarks.harness import arguments, compare, machine_line, print_ratio, report

    def make_data(path: Path, rows: int) -> None:
        import numpy as np
        np.save(path, np.random.default_rng(0).normal(size=(rows, 8)))

    def with_numpy(path: Path) -> float:
        import numpy as np
        return float(np.load(path).sum())

    def with_torch(path: Path) -> float:
        import numpy as np, torch
        return float(torch.from_numpy(np.load(path)).sum())

    if __name__ == "__main__":
        parser = arguments(__doc__, runs=5)
        parser.add_argument("--rows", type=int, default=1_000_000)
        args = parser.parse_args()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "data.npy")
            make_data(path, args.rows)
            print(machine_line())
            results = compare({"numpy": with_numpy, "torch": with_torch}, [path], args.runs,
                              imports=["numpy", "torch"])
            report(results, count=args.rows, unit="rows")
            print_ratio(results, "torch", "numpy")

Run it with ``python -m benchmarks.bench_sum --runs 3``. A method's arguments travel to the
child as JSON (`pathlib.Path` values come back as paths); pass ``describe=`` to turn a method's
result into extra JSON fields (a checksum, the output's size), found in `Sample.extra`.

More that some benchmarks need:

* ``warm=True``: the child calls the method once untimed, then times a second, warm call;
* a `Command` in place of a method: a whole process (another tool, the ``tensortool`` command),
  timed as its wall time, start-up included (no peak RSS);
* ``after=``: called with each measurement's name and `Sample` (to check what a command wrote);
* ``run_child(..., checkout=OTHER)``: the child imports tensortool from another checkout;
* `alternate` and `timed`: methods that must run in this process (a running Ray cluster),
  with wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    """One measurement: the method's seconds, the process's peak RSS and what the method added."""

    seconds: float
    peak_mib: float
    added_mib: float
    extra: dict = field(default_factory=dict)


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across
    execve, so a child would report its parent's peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_line() -> str:
    """Cores, CPU, Python, torch and the load average, for the first line of a report."""
    load = f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"
    parts = [f"{os.cpu_count()} cores", platform.processor() or platform.machine(),
             f"python {platform.python_version()}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        pass
    return " · ".join(parts + [f"load average {load}"])


def arguments(doc: str | None, runs: int) -> argparse.ArgumentParser:
    """A parser showing the script's docstring, with ``--runs`` (counted runs per method)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=runs, help="counted runs per method (after one warm-up)")
    return parser


def _module_name(fn: Callable) -> str:
    if fn.__module__ != "__main__":
        return fn.__module__
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        raise SystemExit("run benchmarks as modules from the repository root: python -m benchmarks.bench_NAME")
    return spec.name


def _encode(value: Any) -> Any:
    return {"$path": str(value)} if isinstance(value, PurePath) else value


def _decode(value: Any) -> Any:
    return Path(value["$path"]) if isinstance(value, dict) and set(value) == {"$path"} else value


def _resolve(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class Command:
    """A whole process for `compare`: argv run in `root` (first on PYTHONPATH), timed by its wall time."""

    argv: list[str]
    root: Path = ROOT


def _env(*paths: Path | str) -> dict[str, str]:
    """This environment with `paths` first on PYTHONPATH."""
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, paths), *inherited])}


def run_command(command: Command) -> Sample:
    """Run `command` once; its seconds are the process's wall time (peak RSS is not known: NaN)."""
    started = time.perf_counter()
    done = subprocess.run(command.argv, cwd=command.root, env=_env(command.root), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command.argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return Sample(seconds, math.nan, math.nan)


def run_child(method: Callable, args: Sequence[Any] = (), *, imports: Iterable[str] = (),
              describe: Callable[[Any], dict] | None = None, warm: bool = False,
              checkout: Path | None = None) -> Sample:
    """Run `method(*args)` once in a fresh process and return its `Sample`. With `warm`, the child
    calls it once untimed first; with `checkout`, the child imports all but ``benchmarks`` from there."""
    job = {"method": f"{_module_name(method)}:{method.__name__}", "args": [_encode(a) for a in args],
           "imports": list(imports), "warm": warm,
           "describe": f"{_module_name(describe)}:{describe.__name__}" if describe else None}
    with tempfile.TemporaryDirectory() as tmp:
        if checkout:  # a folder holding only this checkout's benchmarks, then the other checkout
            os.symlink(ROOT / "benchmarks", Path(tmp, "benchmarks"))
        env = _env(tmp, Path(checkout).resolve()) if checkout else _env(ROOT)
        out = subprocess.run([sys.executable, "-c", "from benchmarks.harness import child; child()", json.dumps(job)],
                             capture_output=True, text=True, env=env, cwd=tmp if checkout else None)
    if out.returncode:
        raise SystemExit(f"{job['method']} failed in its child process:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return Sample(result["seconds"], result["peak_mib"], result["added_mib"], result["extra"])


def child() -> None:
    """The child's side of `run_child`: import, then time the one call."""
    job = json.loads(sys.argv[1])
    for name in job["imports"]:
        importlib.import_module(name)  # imports are not timed
    method = _resolve(job["method"])
    describe = _resolve(job["describe"]) if job["describe"] else None
    args = [_decode(a) for a in job["args"]]
    baseline = peak_rss_mib()
    if job["warm"]:
        method(*args)  # freed before the timed call
    started = time.perf_counter()
    result = method(*args)
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()
    extra = describe(result) if describe else {}
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "added_mib": peak - baseline, "extra": extra}))


def compare(methods: Mapping[str, Callable | Command], args: Sequence[Any], runs: int, *,
            imports: Iterable[str] = (), describe: Callable[[Any], dict] | None = None, rotate: bool = False,
            warm: bool = False, before: Callable[[], None] | None = None,
            after: Callable[[str, Sample], None] | None = None) -> dict[str, list[Sample]]:
    """Measure every method `runs` times, alternating, after one uncounted warm-up round.

    `rotate` changes which method goes first from run to run (so none always follows the one that
    just freed gigabytes); `before` runs before every measurement (e.g. to remove an output),
    `after` after it, with the method's name and sample. A `Command` ignores the other options."""
    imports = list(imports)
    names = list(methods)
    results: dict[str, list[Sample]] = {name: [] for name in names}
    for run in range(runs + 1):  # run 0 warms the page cache and is not counted
        for name in _order(names, run, rotate):
            if before:
                before()
            method = methods[name]
            sample = run_command(method) if isinstance(method, Command) else \
                run_child(method, args, imports=imports, describe=describe, warm=warm)
            if after:
                after(name, sample)
            if run:
                results[name].append(sample)
    return results


def _order(names: list, run: int, rotate: bool) -> list:
    return names[run % len(names):] + names[:run % len(names)] if rotate else names


def alternate(methods: Mapping[str, Callable[[], Any]], rounds: int, *, rotate: bool = False,
              warmup: bool = False) -> dict[str, list[Any]]:
    """In one process: call each method in turn, `rounds` times; each returns its own figures.
    `rotate` as in `compare`; `warmup` adds one uncounted round first."""
    figures: dict[str, list[Any]] = {name: [] for name in methods}
    for run in range(-int(warmup), rounds):  # run -1 warms up and is not counted
        for name in _order(list(methods), run, rotate):
            value = methods[name]()
            if run >= 0:
                figures[name].append(value)
    return figures


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes (Linux /proc), however busy the machine is."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], Any], pids: Iterable[int] | None = None) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of one call here: CPU of this process, or of `pids`."""
    pids = list(pids) if pids is not None else None
    cpu = time.process_time if pids is None else (lambda: cpu_seconds(pids))
    used, started = cpu(), time.perf_counter()
    result = fn()
    return time.perf_counter() - started, cpu() - used, result


def median_seconds(samples: Sequence[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def report(results: Mapping[str, Sequence[Sample]], *, count: float | None = None, unit: str = "items",
           output_mib: float | None = None, indent: str = "") -> None:
    """One line per method: throughput (with `count`), median, min, max, peak RSS and what
    loading added (as a multiple of `output_mib` when given)."""
    width = max(len(name) for name in results)
    for name, samples in results.items():
        t = median_seconds(samples)
        peak, added = (statistics.median(getattr(s, f) for s in samples) for f in ("peak_mib", "added_mib"))
        speed = f"{_rate(count / t):>11} {unit}/s  " if count else ""
        share = f" = {added / output_mib:.2f}x the {output_mib:.0f} MiB output" if output_mib else ""
        rss = "" if math.isnan(peak) else f"  peak RSS {peak:.0f} MiB, added {added:.1f} MiB{share}"
        print(f"{indent}{name:>{width}}: {speed}(median of {len(samples)}: {t:.3f} s, "
              f"min {min(s.seconds for s in samples):.3f}, max {max(s.seconds for s in samples):.3f}){rss}")


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def pair_ratio(results: Mapping[str, Sequence[Sample]], ours: str, other: str) -> float:
    """Median over runs of other's time / ours: above 1 means `ours` is faster."""
    return statistics.median(b.seconds / a.seconds for a, b in zip(results[ours], results[other]))


def print_ratio(results: Mapping[str, Sequence[Sample]], ours: str, other: str, indent: str = "") -> float:
    ratio = pair_ratio(results, ours, other)
    print(f"{indent}{ours} vs {other}: {ratio:.2f}x ({other} time / {ours} time, median of pairs)")
    return ratio
