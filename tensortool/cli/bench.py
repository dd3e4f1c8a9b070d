"""`tensortool bench`: matmul/bmm/einsum timed on CPU and GPU, checked, with context."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..bench.constants import DTYPES
from .options import Force, Json, Quiet


def parse_sizes(text: str | None) -> list[tuple[int, int, int]] | None:
    """'1024,2048' (square) or 'MxNxK' items, mixed: '512,1024x256x4096'."""
    if text is None:
        return None
    sizes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise typer.BadParameter(f"{item!r} is not N or MxNxK", param_hint="--size") from None
        if len(values) not in (1, 3) or any(v < 1 for v in values):
            raise typer.BadParameter(f"{item!r} is not N or MxNxK with positive integers", param_hint="--size")
        sizes.append(tuple(values * 3 if len(values) == 1 else values))
    return sizes


def parse_dtypes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    dtypes = [d.strip().lower() for d in text.split(",") if d.strip()]
    for d in dtypes:
        if d not in DTYPES:
            raise typer.BadParameter(f"{d!r}: use {', '.join(DTYPES)}", param_hint="--dtype")
    return dtypes


def bench(
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N, or all (the CPU and cuda:0 when usable).")] = "all",
    op: Annotated[Literal["matmul", "bmm", "einsum", "all"], typer.Option(
        help="einsum runs ij,jk->ik, bij,bjk->bik, bhqd,bhkd->bhqk and bi,ijk,bj->bk, each beside its "
             "matmul/bmm form.")] = "all",
    size: Annotated[Optional[str], typer.Option(
        help="Comma list of N (M=N=K) or MxNxK items (default: 256,512,1024 on CPU; 1024,4096,8192 on GPU).",
        show_default=False)] = None,
    dtype: Annotated[Optional[str], typer.Option(
        help="Comma list of float32, tf32, float16, bfloat16, float64 (default: float32 on CPU; "
             "float32,tf32,bfloat16 on GPU). float32 on GPU runs with TF32 off.", show_default=False)] = None,
    repeat: Annotated[Optional[int], typer.Option(min=1, help=(
        "Timed samples per case (instead of --min-time).") , show_default=False)] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls before timing.")] = 3,
    min_time: Annotated[float, typer.Option("--min-time", min=0.0, help=(
        "Seconds of timed samples per case (at least 5 samples).") )] = 0.5,
    cold: Annotated[bool, typer.Option("--cold", help="GPU: flush L2 before each sample (no effect on CPU).")] = False,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (default: torch's, all cores); restored afterwards.",
                                                   show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
        help="Write every figure to .csv (one row per case) or .json (environment, cases, transfers).")] = None,
    plot: Annotated[Optional[Path], typer.Option(dir_okay=False,
        help="Draw TFLOP/s against size per device and dtype to a PNG (needs matplotlib: pip install matplotlib).")] = None,
    force: Force = False,
    json_: Json = False,
    quiet: Quiet = False,
) -> None:
    """Time matmul, bmm and einsum on CPU and GPU: warmed up, synchronized, checked, medians and IQR."""
    from ..bench.output import check_plot_output, check_result_output, write_plot, write_results
    from ..bench.run import Timing, resolve_devices, run_bench
    from ..errors import TensortoolError
    from . import tables
    from .output import emit, progress

    sizes = parse_sizes(size)
    dtypes = parse_dtypes(dtype)
    devices, notes = resolve_devices(device)
    if output is not None:
        check_result_output(output, force=force)
    if plot is not None:
        check_plot_output(plot, force=force)
    started = time.perf_counter()
    with progress("cases", quiet, unit="cases") as on_progress:
        result = run_bench(devices, [op], sizes, dtypes, threads=threads,
                           timing=Timing(warmup=warmup, repeat=repeat, min_time=min_time, cold=cold),
                           progress=on_progress)
    result.notes[:0] = notes
    if output is not None:
        write_results(result, output, force=force)
    if plot is not None:
        write_plot(result, plot, force=force)
    doc = {**result.to_json(), "output": str(output) if output else None, "plot": str(plot) if plot else None,
           "seconds": round(time.perf_counter() - started, 6)}
    emit(doc, lambda doc: tables.bench(result, doc), as_json=json_, json_warnings=result.notes)
    if result.failed:
        raise TensortoolError(f"{len(result.failed)} case(s) gave wrong results (see the table); not timed")
