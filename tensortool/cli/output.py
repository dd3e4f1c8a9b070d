"""The only place that prints: one result per command, for people (rich) or programs (--json),
and on stderr the progress bar, warnings and errors.

Every command ends in ``emit(doc, show, as_json=...)``: ``doc`` is what ``--json`` prints,
``show`` the human view of it (a printer from ``tables``).
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from rich.console import Console
from rich.markup import escape

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def emit(doc: dict[str, Any], show: Callable[[dict[str, Any]], None], *, as_json: bool,
         warnings: Iterable[str] = (), json_warnings: Iterable[str] = ()) -> None:
    """Print a command's result: ``show(doc)`` for people, or ``doc`` as one line of JSON.

    ``warnings`` go to stderr first, in both modes; ``json_warnings`` only with JSON, after the
    document (the human view shows them itself).
    """
    for message in warnings:
        warn(message)
    if not as_json:
        show(doc)
        return
    sys.stdout.write(json.dumps(doc, default=json_default) + "\n")
    for message in json_warnings:
        warn(message)


def bundle_doc(bundle: Any, *, output: str | Path | None, seconds: float, source: str | None = None) -> dict[str, Any]:
    """What is said about a bundle: its tensors' summary, its meta, where it went, how long it took."""
    from ..bundle import summarize

    doc = {"tensors": summarize(bundle), "meta": bundle.meta, "output": str(output) if output else None,
           "seconds": round(seconds, 6)}
    if source:
        doc["source"] = source
    return doc


def flags(text: str) -> str:
    """A library message with its ``{param}`` placeholders named as the running command's flags."""
    from ..errors import fill
    from . import current_namer

    return fill(text, current_namer())


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(flags(message))}")


def note(message: str) -> None:
    """A plain line on stderr (e.g. what a step will cost, said before it runs)."""
    stderr.print(escape(message))


def error(text: str, *, as_json: bool = False, kind: str = "TensortoolError",
          fields: dict[str, Any] | None = None) -> None:
    """A known error: one red line on stderr, or with JSON one object there instead (errors stay on
    stderr, as warnings do: stdout holds only a result)."""
    if as_json:
        sys.stderr.write(json.dumps({"error": text, "type": kind, **(fields or {})}, default=json_default) + "\n")
        return
    stderr.print(f"[bold red]error:[/] {escape(text)}")


def internal_error(exc: BaseException) -> None:
    """A bug: still one line, with the way to see more."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    stderr.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(text)} "
                 "(set TENSORTOOL_DEBUG=1 for the traceback)")


def interrupted() -> None:
    stderr.print("[bold red]interrupted[/]")


def one_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, non-printable characters replaced, at most ``limit`` long."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return "".join(c if c.isprintable() else "?" for c in line)[:limit]


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """A library's Python warning (Pillow, pydicom) as one of ours: one line naming the file being
    decoded where known, instead of Python's default of the library's source path and line."""
    from ..sources.image.load import decoding_file

    text = one_line(str(message)) or category.__name__
    where = decoding_file()
    warn(f"{where}: {text}" if where else text)


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
