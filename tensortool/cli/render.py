"""The only place that prints: summaries (rich table or --json), progress, warnings, errors."""

from __future__ import annotations

import bisect
import json
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..bundle import Bundle, summarize
from ..errors import TensortoolError, UsageError
from .signals import exit_status, on_signal, received  # noqa: F401  (on_signal: for tests)

MAX_CHANNEL_ROWS = 16  # longer per-channel lists (a wide table's columns) are cut in the terminal

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def flag_of(name: str, value: str | None) -> str:
    """How the command line names a library parameter: ``--name`` or ``--name VALUE``."""
    flag = "--" + name.replace("_", "-")
    if value is None or value == "True":
        return flag
    return f"--no-{name.replace('_', '-')}" if value == "False" else f"{flag} {value}"


@contextmanager
def guard() -> Iterator[None]:
    """Known errors → one red line on stderr and exit 1; a bad option value (UsageError) → Click's
    usage message and exit 2; tracebacks only with TENSORTOOL_DEBUG=1."""
    debug = os.environ.get("TENSORTOOL_DEBUG", "") not in ("", "0")
    try:
        with warnings.catch_warnings():  # restores the previous hook (and filters) afterwards
            warnings.showwarning = _show_warning
            yield
    except (typer.Exit, typer.BadParameter):
        raise
    except UsageError as exc:
        if debug:
            raise
        raise typer.BadParameter(exc.render(flag_of)) from None  # Click prints the usage line and exits 2
    except TensortoolError as exc:
        if debug:
            raise
        stderr.print(f"[bold red]error:[/] {escape(exc.render(flag_of))}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr.print("[bold red]interrupted[/]")
        raise typer.Exit(exit_status()) from None
    except Exception as exc:  # a bug: still one line, with the way to see more
        if received() is not None:  # an interrupt that a library turned into another error
            stderr.print("[bold red]interrupted[/]")
            raise typer.Exit(exit_status()) from None
        if debug:
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        stderr.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(text)} "
                     "(set TENSORTOOL_DEBUG=1 for the traceback)")
        raise typer.Exit(1) from None


@contextmanager
def progress(label: str, quiet: bool, unit: str = "images") -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback that shows a bar on stderr once work has run for a second.

    No bar with ``quiet`` or when stderr is not a terminal.
    """
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    started = time.perf_counter()
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        if "bar" not in state:
            if elapsed < 1.0 or done >= total:
                return
            bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[rate]} " + unit + "/s"), TimeRemainingColumn(),
                           console=stderr, transient=True)
            state["bar"], state["task"] = bar, bar.add_task(label, total=total, rate="-")
            bar.start()
        state["bar"].update(state["task"], completed=done, rate=f"{done / elapsed:,.0f}")

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}")


def _one_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return "".join(c if c.isprintable() else "?" for c in line)[:300]


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A library's Python warning (Pillow, pydicom) as one of ours: one line naming the file being
    decoded where known, instead of Python's default of the library's source path and line."""
    from ..sources.image.load import decoding_file

    text = _one_line(str(message)) or category.__name__
    where = decoding_file()
    warn(f"{where}: {text}" if where else text)


NATIVE_LINES = 20  # distinct lines from C libraries shown; the rest are counted
NATIVE_BYTES = 1 << 20


class _Owners:
    """Which file was being read while each stretch of the captured output was written: a stretch
    written while exactly one file was in flight belongs to it; with several (threads), to none."""

    def __init__(self, fd: int):
        self.fd, self.lock = fd, threading.Lock()
        self.in_flight: list[Path] = []
        self.mark = 0
        self.stretches: list[tuple[int, int, Path | None]] = []

    def __call__(self, path: Path, started: bool) -> None:
        with self.lock:
            if started and not self.in_flight:
                # Nothing decodes between one file's end and the next one's start: the position
                # taken at that end still holds, and one system call per file is saved.
                self.in_flight.append(path)
                return
            end = os.fstat(self.fd).st_size
            if end > self.mark:
                self.stretches.append((self.mark, end, self.in_flight[0] if len(self.in_flight) == 1 else None))
                self.mark = end
            if started:
                self.in_flight.append(path)
            elif path in self.in_flight:
                self.in_flight.remove(path)

    def owner(self, offset: int) -> Path | None:
        at = bisect.bisect_right(self.stretches, offset, key=lambda s: s[0]) - 1
        return self.stretches[at][2] if at >= 0 and offset < self.stretches[at][1] else None


@contextmanager
def native_stderr() -> Iterator[None]:
    """Capture what C libraries write straight to file descriptor 2 (libpng's "iCCP: known
    incorrect sRGB profile", libjpeg-turbo's "Corrupt JPEG data: ...") and say it afterwards as
    warning lines naming the file where one was being read alone, so none lands inside the
    progress bar or between our lines.

    Python's own writes (the bar, warnings, the error line) keep going to the real stderr: while
    the descriptor points at a temporary file, ``sys.stderr`` is a stream on a copy of the
    original one. A stderr without a descriptor (a test runner's buffer) is left alone."""
    from ..sources.image.load import watch_files

    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    if fd != 2:
        yield
        return
    original = sys.stderr
    try:
        capture = tempfile.TemporaryFile()
    except OSError:  # no writable temporary folder: decoders keep writing to stderr
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # stderr closed (2>&-): nothing to protect
        capture.close()
        yield
        return
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=getattr(original, "encoding", None) or "utf-8",
                           errors="backslashreplace", closefd=False)
    os.dup2(capture.fileno(), 2)
    owners = _Owners(capture.fileno())
    try:
        with watch_files(owners):
            yield
    finally:
        os.dup2(saved, 2)
        try:
            sys.stderr.flush()
        finally:
            sys.stderr = original
            os.close(saved)
        owners(Path(), False)  # closes the last stretch
        capture.seek(0)
        data = capture.read(NATIVE_BYTES)
        capture.close()
        said: dict[str, list[Path | None]] = {}
        offset = 0
        for raw in data.splitlines(keepends=True):
            # "libpng warning: iCCP: ..." → "libpng: iCCP: ...": the line is already a warning
            line = re.sub(r"^(\w+) warning: ", r"\1: ", _one_line(raw.decode("utf-8", "replace")))
            if line:
                said.setdefault(line, []).append(owners.owner(offset))
            offset += len(raw)
        for i, (line, paths) in enumerate(said.items()):
            if i == NATIVE_LINES:
                warn(f"… {len(said) - NATIVE_LINES} more distinct message(s) from the decoders")
                break
            named = [p for p in paths if p is not None]
            if len(paths) == 1 and named:
                warn(f"{named[0]}: {line}")
            else:
                example = f", e.g. {named[0]}" if named else ""
                warn(f"{line} (said by a decoder{f' {len(paths)} times' if len(paths) > 1 else ''}{example})")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _meta_text(value: Any) -> str:
    if isinstance(value, list) and len(value) > 8:
        return f"{len(value)} items: {', '.join(map(str, value[:3]))}, …"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=_json_default)
        return text if len(text) <= 200 else text[:197] + "…"
    return str(value)


def report(bundle: Bundle, *, output: str | Path | None, seconds: float, as_json: bool,
           source: str | None = None, stored: bool = False) -> None:
    """Print the summary of a bundle: a table for people, or one JSON object with --json.

    ``stored``: the bundle was read from a file (``info``): its warnings are the ones saved when it
    was made, listed with the meta, and there is no output to speak of."""
    tensors = summarize(bundle)
    meta = bundle.meta
    if not stored:
        for message in meta.get("warnings") or []:
            warn(message)
    if as_json:
        doc = {"tensors": tensors, "meta": meta, "output": str(output) if output else None,
               "seconds": round(seconds, 6)}
        if source:
            doc["source"] = source
        sys.stdout.write(json.dumps(doc, default=_json_default) + "\n")
        return
    table = Table(title=escape(source) if source else None, title_justify="left")
    for col in ("tensor", "shape", "dtype", "bytes", "min", "max", "mean"):
        table.add_column(col, justify="right" if col in ("bytes", "min", "max", "mean") else "left")
    for name, s in tensors.items():
        table.add_row(escape(name), "×".join(map(str, s["shape"])) or "scalar", s["dtype"],
                      _bytes(s["bytes"]), _fmt(s["min"]), _fmt(s["max"]), _fmt(s["mean"]))
    stdout.print(table)
    for name, s in tensors.items():
        if "channel_mean" in s:
            channels = Table(title=f"{escape(name)} per channel (std: population, ddof=0)", title_justify="left")
            for col in ("channel", "mean", "std"):
                channels.add_column(col, justify="right")
            for c, (m, sd) in enumerate(zip(s["channel_mean"], s["channel_std"])):
                channels.add_row(str(c), _fmt(m), _fmt(sd))
            stdout.print(channels)
    for key, value in meta.items():
        if key == "warnings" and stored and value:
            for message in value:
                stdout.print(f"[bold]stored warning[/] {escape(str(message))}")
            continue
        if key in ("warnings", "state", "vocab") or value in (None, [], {}):  # state/vocab: in files, --json
            continue
        if key == "skipped":
            stdout.print(f"[bold]skipped[/] {len(value)} file(s):")
            for item in value:
                stdout.print(f"  {escape(item['file'])}: {escape(item['error'])}")
            continue
        stdout.print(f"[bold]{escape(key)}[/] {escape(_meta_text(value))}")
    if stored:
        stdout.print(f"read in {seconds:.2f} s")
        return
    where = f"wrote {escape(str(output))}" if output else "not written (no -o)"
    stdout.print(f"[bold]output[/] {where} · {seconds:.2f} s")


def stats_report(doc: dict[str, Any], normalize_line: str, *, output: str | Path | None, seconds: float,
                 as_json: bool) -> None:
    """Print a stats result: a per-channel table and the Normalize line, or the JSON document."""
    for message in doc.get("warnings") or []:
        warn(message)
    if as_json:
        sys.stdout.write(json.dumps({**doc, "output": str(output) if output else None,
                                     "seconds": round(seconds, 6)}) + "\n")
        return
    scale = {"unit": "values scaled to [0,1]", "raw": "raw values", None: "values as stored"}[doc["scale"]]
    kind = doc.get("kind", "images")
    # The words for what was counted: a table's channels are its columns, its samples rows.
    channel, samples = {"table": ("column", "rows"), "volumes": ("channel", "volumes"),
                        "images": ("channel", "images")}.get(kind, ("channel", "samples"))
    table = Table(title=f"per-{channel} statistics ({scale}; std with ddof={doc['ddof']})", title_justify="left")
    for col in (channel, "mean", "std", "min", "max"):
        table.add_column(col, justify="right")
    rows = list(zip(doc["mean"], doc["std"], doc["min"], doc["max"]))
    shown = rows if len(rows) <= MAX_CHANNEL_ROWS else rows[:MAX_CHANNEL_ROWS]
    for c, row in enumerate(shown):
        table.add_row(str(c), *(f"{v:.6g}" for v in row))
    stdout.print(table)
    if len(shown) < len(rows):
        stdout.print(f"… {len(rows) - len(shown)} more {channel}s (all of them with --json or -o)")
    stdout.print(f"[bold]{samples}[/] {doc['count']} · [bold]values per {channel}[/] {doc['values_per_channel']:,}")
    if doc.get("shard"):
        stdout.print(f"[bold]shard[/] {doc['shard'][0]}/{doc['shard'][1]}")
    for item in doc.get("skipped") or []:
        stdout.print(f"  skipped {escape(item['file'])}: {escape(item['error'])}")
    if kind == "images" and len(rows) <= MAX_CHANNEL_ROWS:  # a torchvision transform is for images
        stdout.print(escape(normalize_line))
    where = f"wrote {escape(str(output))}" if output else "not written (no -o)"
    stdout.print(f"[bold]output[/] {where} · {seconds:.2f} s")


def ckpt_inspect_report(info: Any, *, as_json: bool) -> None:
    """Print ``ckpt inspect``: totals, dtypes, the module tree, ties, other entries, tensors."""
    for message in info.warnings:
        warn(message)
    if as_json:
        sys.stdout.write(json.dumps(info.to_json(), default=_json_default) + "\n")
        return
    found = {None: "no state dict found; all tensors listed", "(top level)": "the file is the state dict"}.get(
        info.state_dict, f"state dict under {info.state_dict!r}")
    stdout.print(f"[bold]{escape(info.path)}[/] · {info.format} · {_bytes(info.file_bytes)} · {escape(found)}")
    stdout.print(f"[bold]tensors[/] {info.count:,} · [bold]parameters[/] {info.parameters:,} · "
                 f"[bold]buffers[/] {info.buffers:,} · [bold]bytes[/] {_bytes(info.bytes)}")
    if info.buffers:
        from ..checkpoint.inspect import BUFFER_RULE

        stdout.print(escape(BUFFER_RULE))
    if info.common_prefix:
        stdout.print(f"every name starts with {info.common_prefix!r} (DataParallel?): "
                     f"convert with --strip-prefix {info.common_prefix}")
    dtypes = Table(title="dtypes", title_justify="left")
    for col in ("dtype", "tensors", "parameters", "buffers", "bytes"):
        dtypes.add_column(col, justify="left" if col == "dtype" else "right")
    for name, d in info.dtypes.items():
        dtypes.add_row(name, f"{d['tensors']:,}", f"{d['parameters']:,}", f"{d['buffers']:,}", _bytes(d["bytes"]))
    stdout.print(dtypes)
    if info.modules:
        modules = Table(title="parameters by module", title_justify="left")
        for col in ("module", "tensors", "parameters", "buffers", "bytes"):
            modules.add_column(col, justify="left" if col == "module" else "right")
        for row in info.modules:
            label = "  " * (row["depth"] - 1) + row["module"].rsplit(".", 1)[-1]
            modules.add_row(escape(label), f"{row['tensors']:,}", f"{row['parameters']:,}", f"{row['buffers']:,}",
                            _bytes(row["bytes"]))
        stdout.print(modules)
    for group in info.shared:
        stdout.print(f"[bold]shared[/] {escape(' = '.join(group))} (one storage)")
    if info.non_contiguous:
        stdout.print(f"[bold]non-contiguous[/] {escape(_meta_text(info.non_contiguous))}")
    for key, value in info.other.items():
        stdout.print(f"[bold]{escape(key)}[/] {escape(_meta_text(value))}")
    for key, value in info.metadata.items():
        stdout.print(f"[bold]metadata {escape(key)}[/] {escape(value if len(value) <= 200 else value[:197] + '…')}")
    if info.tensors:
        stats = any(t.stats for t in info.tensors)
        table = Table(title="tensors", title_justify="left")
        columns = ["name", "shape", "dtype", "bytes"] + (["min", "max", "mean", "std"] if stats else [])
        for col in columns:
            table.add_column(col, justify="left" if col in ("name", "shape", "dtype") else "right")
        for t in info.tensors:
            row = [escape(t.name), "×".join(map(str, t.shape)) or "scalar", t.dtype, _bytes(t.bytes)]
            if stats:
                row += [_fmt((t.stats or {}).get(k)) for k in ("min", "max", "mean", "std")]
            table.add_row(*row)
        stdout.print(table)


def ckpt_convert_report(result: Any, *, as_json: bool) -> None:
    """Print ``ckpt convert``: what was written, ties, what was carried and what was left out."""
    for message in result.warnings:
        warn(message)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), default=_json_default) + "\n")
        return
    stdout.print(f"[bold]converted[/] {escape(result.source)} ({result.source_format}) → "
                 f"{escape(', '.join(result.outputs))}")
    stdout.print(f"[bold]tensors[/] {result.tensors:,} · [bold]bytes[/] {_bytes(result.bytes)}"
                 + (f" · cast to {result.dtype}" if result.dtype else ""))
    for alias, kept in result.aliases.items():
        stdout.print(f"[bold]tied[/] {escape(alias)} → {escape(kept)} (stored once, restored as shared)")
    if result.entries:
        stdout.print(f"[bold]carried in metadata[/] {escape(', '.join(result.entries))}")
    for key, why in result.left_out.items():
        stdout.print(f"[bold]left out[/] {escape(key)}: {escape(why)}")
    checked = {True: "verified bit-exact by reloading", None: "not verified (--no-verify)"}[result.verified]
    stdout.print(f"[bold]output[/] {checked} · {result.seconds:.2f} s")
def note(message: str) -> None:
    """A plain line on stderr (e.g. what a step will cost, said before it runs)."""
    stderr.print(escape(message))
def dicom_series_table(rows: list[dict[str, Any]], *, as_json: bool, seconds: float | None,
                       to_stderr: bool = False) -> None:
    """The series `load-dicom --list` found (and the candidates when a choice is needed)."""
    if as_json:
        sys.stdout.write(json.dumps({"series": rows, "seconds": round(seconds or 0.0, 6)}) + "\n")
        return
    console = stderr if to_stderr else stdout
    from rich import box

    table = Table(title="DICOM series (no patient identifiers shown)", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    # Short headers (legend below) and folding cells keep the table inside the terminal (COLUMNS).
    for col in ("#", "mod.", "no.", "slices", "size", "plane", "spacing", "kind", "description"):
        table.add_column(col, justify="right" if col in ("#", "no.", "slices") else "left",
                         overflow="fold", min_width=len(col), no_wrap=col in ("size", "spacing"),
                         ratio=3 if col == "description" else None)
    for r in rows:
        size = f"{r['rows']}×{r['columns']}" + (f"×{r['samples']}" if r["samples"] != 1 else "")
        spacing = "-" if not r["spacing_mm"] else ",".join("?" if v is None else f"{v:g}" for v in r["spacing_mm"])
        table.add_row(str(r["index"]), escape(r["modality"]),
                      "-" if r["series_number"] is None else str(r["series_number"]), str(r["slices"]), size,
                      r["orientation"], spacing, escape(r["kind"]), escape(r["description"]))
    console.print(table)
    console.print("mod.: modality · no.: series number · spacing: mm along z,y,x")
    for r in rows:
        if r.get("note"):
            console.print(f"  {r['index']}: {escape(r['kind'])}: {escape(r['note'])}")
    if seconds is not None:
        volumes = sum(r["kind"] == "volume" for r in rows)
        hint = (" · load one with --series INDEX or --series UID, or all with --all-series"
                if volumes > 1 else "")
        console.print(f"{len(rows)} series, {volumes} volume candidate(s) · {seconds:.2f} s{hint}")
def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale or unit == "µs":
            return f"{value / scale:.3g} {unit}"
    return str(value)


def bench_report(result: Any, *, output: str | Path | None, plot: str | Path | None, seconds: float,
                 as_json: bool) -> None:
    """Print a bench run: context lines, the case table, transfers and notes; or one JSON object."""
    if as_json:
        doc = {**result.to_json(), "output": str(output) if output else None,
               "plot": str(plot) if plot else None, "seconds": round(seconds, 6)}
        sys.stdout.write(json.dumps(doc, default=_json_default) + "\n")
        for note in result.notes:
            warn(note)
        return
    env = result.environment
    cpu = env["cpu"]
    peak = cpu["peak_tflops_float32"]
    stdout.print(f"[bold]torch[/] {env['torch']} · CUDA build {env['cuda_build'] or 'none'} · "
                 f"[bold]CPU[/] {escape(str(cpu['model']))}, {cpu['logical_cpus']} logical CPUs, "
                 f"{cpu['isa']}, {cpu['threads']} thread(s), float32 peak "
                 f"{f'≈ {peak:.3g} TFLOP/s (estimate)' if peak else 'n/a'}")
    for dev, gpu in env["gpus"].items():
        if gpu.get("sm_clock_mhz"):
            clocks = f", SM clock {gpu['sm_clock_mhz']} MHz now, {gpu['max_sm_clock_mhz']} MHz max"
        elif gpu.get("max_sm_clock_mhz"):
            clocks = f", SM clock {gpu['max_sm_clock_mhz']} MHz max (current: install pynvml)"
        else:
            clocks = ", clocks n/a"
        stdout.print(f"[bold]{dev}[/] {escape(str(gpu['name']))}, {gpu['sm_count']} SMs, sm_{gpu['capability']}, "
                     f"{_bytes(gpu['total_memory_bytes'])}, driver {gpu.get('driver') or 'n/a'}{clocks}")
    t = env["timing"]
    budget = f"{t['repeat']} samples" if t["repeat"] else f"≥ {t['min_time_s']:g} s and ≥ {t['min_repeat']} samples"
    stdout.print(f"[bold]timing[/] {t['warmup_calls']} warm-up calls, then {budget} per case; "
                 f"median and IQR of per-call times{'; L2 flushed before each GPU sample' if t['cold_l2'] else ''}")
    if env["gpus"]:
        stdout.print(f"[bold]precision[/] float32 rows with TF32 off, tf32 rows with TF32 on; "
                     f"restored to {env['tf32_setting_outside_bench']!r} afterwards")
    # One table per device; shapes are in --json/-o (README says what each case's shapes are).
    for dev in dict.fromkeys(c.device for c in result.cases):
        from rich import box

        table = Table(title=f"{dev} (TFLOP/s = FLOPs / median time)", title_justify="left", pad_edge=False,
                      box=box.SIMPLE_HEAD, collapse_padding=True)
        rows = [c for c in result.cases if c.device == dev]
        paired = any(c.baseline for c in rows)
        compared = any(c.speedup for c in rows)
        columns = ["case", "size", "dtype", "median", "IQR", "TFLOP/s", "%peak"]
        columns += ["vs mm"] * paired + ["GPU×"] * compared + ["check"]
        for col in columns:
            # Cells fold rather than end in "…": a case name must stay whole, whatever COLUMNS says.
            table.add_column(col, justify="left" if col in ("case", "size", "dtype", "check") else "right",
                             overflow="fold")
        for c in rows:
            size = "x".join(map(str, c.size)) if len(set(c.size)) > 1 else str(c.size[0])
            if c.status != "ok":
                style = "red" if c.status == "wrong" else "yellow"
                table.add_row(escape(c.name), size, c.dtype, *["-"] * (len(columns) - 4),
                              f"[{style}]{c.status}: {escape(c.note or '')}[/]")
                continue
            cells = [escape(c.name), size, c.dtype, _seconds(c.median_s), _seconds(c.iqr_s), f"{c.tflops:.3g}",
                     f"{c.percent_of_peak:.0f}%" if c.percent_of_peak is not None else "n/a"]
            cells += [f"{c.einsum_overhead:.2f}×" if c.einsum_overhead else ""] * paired
            cells += [f"{c.speedup:.1f}×" if c.speedup else ""] * compared
            table.add_row(*cells, f"ok {c.max_error / c.error_bound:.2f}" if c.error_bound else "ok")
        stdout.print(table)
    if result.transfers:
        transfers = Table(title="transfers (median of 10)", title_justify="left")
        for col in ("device", "direction", "host memory", "size", "median", "GiB/s"):
            transfers.add_column(col, justify="right" if col in ("size", "median", "GiB/s") else "left")
        for x in result.transfers:
            transfers.add_row(x.device, x.direction, x.memory, _bytes(x.bytes), _seconds(x.median_s), f"{x.gib_per_s:.1f}")
        stdout.print(transfers)
    legend = ("[bold]%peak[/] of the float32 peak; [bold]check[/] max error against float64 on a slice, "
              "as a fraction of the allowed error")
    if any(c.baseline for c in result.cases):
        legend += "; [bold]vs mm[/] einsum time / its matmul-form time"
    if any(c.speedup for c in result.cases):
        legend += "; [bold]GPU×[/] speed-up, CPU time / GPU time"
    stdout.print(legend)
    for note in result.notes:
        stdout.print(f"[bold]note[/] {escape(note)}")
    written = [f"wrote {escape(str(p))}" for p in (output, plot) if p]
    stdout.print(f"[bold]output[/] {', '.join(written) if written else 'not written (no -o)'} · {seconds:.2f} s")
