"""Files from a bench run: results as CSV or JSON, and a TFLOP/s-against-size plot (matplotlib)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, fields
from pathlib import Path

from .run import BenchResult, CaseResult
from ..errors import OutputError
from ..tensorfile import atomic_write, check_output

RESULT_SUFFIXES = (".csv", ".json")


def check_result_output(path: str | Path, *, force: bool = False) -> Path:
    """Refuse, before any timing, a results path with another suffix or one that exists."""
    if Path(path).suffix.lower() not in RESULT_SUFFIXES:
        raise OutputError("bench results are written as .csv or .json", path)
    return check_output(path, force=force)


def write_results(result: BenchResult, path: str | Path, *, force: bool = False) -> Path:
    """CSV: one row per case (every CaseResult field; size as MxNxK), transfers in JSON only.
    JSON: ``result.to_json()``. Written atomically.

    >>> write_results(run_bench("cpu", ["matmul"], [(64, 64, 64)]), "bench.csv")  # doctest: +SKIP
    """
    check_result_output(path, force=force)
    if Path(path).suffix.lower() == ".json":
        text = json.dumps(result.to_json(), indent=2) + "\n"
        return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force)
    names = [f.name for f in fields(CaseResult)]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            writer.writeheader()
            for case in result.cases:
                row = asdict(case)
                row["size"] = "x".join(map(str, case.size))
                writer.writerow(row)

    return atomic_write(path, write, force=force)


def require_matplotlib() -> None:
    """One clear error, before any timing, when the optional ``plot`` extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise OutputError("{plot} needs matplotlib, which is not installed",
                          hint='pip install "tensortool[plot]"', param="plot") from None


def check_plot_output(path: str | Path, *, force: bool = False) -> Path:
    """Refuse, before any timing, a plot path that is not .png or exists, or no matplotlib."""
    require_matplotlib()
    if Path(path).suffix.lower() != ".png":
        raise OutputError("the plot is a PNG; give a path ending in .png", path)
    return check_output(path, force=force)


def write_plot(result: BenchResult, path: str | Path, *, force: bool = False) -> Path:
    """PNG of TFLOP/s against size: one panel per case, one line per device and dtype."""
    check_plot_output(path, force=force)
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    timed = [c for c in result.cases if c.tflops is not None]
    names = list(dict.fromkeys(c.name for c in timed)) or ["(no timed case)"]
    cols = min(len(names), 4)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        series: dict[tuple[str, str], list[CaseResult]] = {}
        for c in timed:
            if c.name == name:
                series.setdefault((c.device, c.dtype), []).append(c)
        for (device, dtype), cases in series.items():
            cases.sort(key=lambda c: c.size)
            ax.plot([c.size[0] for c in cases], [c.tflops for c in cases], marker="o", label=f"{device} {dtype}")
        ax.set_xscale("log", base=2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("size (M)")
        ax.set_ylabel("TFLOP/s")
        if series:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), force=force)
    finally:
        plt.close(fig)
