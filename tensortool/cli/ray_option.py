"""The --ray option that sends a command's tasks to a Ray cluster, and its progress line.

``--ray`` takes an optional address. Typer options always take their value, so commands that
have the option are registered with ``cls=RayCommand``, which reads a bare ``--ray`` (last, or
before another option or a path) as ``--ray local`` before parsing.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from typing import Annotated, Any, Iterator, Optional

import typer

from .context import Command

LOCAL = "local"
SHOW_AFTER_S = 1.0  # no bar for a run that ends sooner

Ray = Annotated[Optional[str], typer.Option(
    "--ray", metavar="[ADDRESS]",
    help="Run the work as tasks on a Ray cluster: 'auto' (the cluster of this node), ray://HOST:10001, "
         "or, with no address, a new local cluster. Needs pip install 'tensortool[ray]'. "
         "The result is identical to the local run.")]


def with_ray_address(args: list[str]) -> list[str]:
    """``args`` with "local" after each ``--ray`` that is not followed by an address.

    >>> with_ray_address(["--ray", "images/", "--ray", "auto"])
    ['--ray', 'local', 'images/', '--ray', 'auto']
    """
    from ..engine.ray import is_address

    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(arg)
        following = args[i + 1] if i + 1 < len(args) else None
        if arg == "--ray" and (following is None or following != LOCAL and not is_address(following)):
            out.append(LOCAL)
    return out


class RayCommand(Command):
    """A command with the --ray option (see the module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, with_ray_address(args))


@contextmanager
def ray_engine(address: str | None, quiet: bool) -> Iterator[object | None]:
    """None without --ray; else a RayEngine that shows tasks done and files/s on stderr."""
    if address is None:
        yield None
        return
    from ..engine.ray import RayEngine, import_ray, is_address

    if address != LOCAL and not is_address(address):
        raise typer.BadParameter(f"{address!r} is not a Ray address (auto, ray://HOST:PORT or HOST:PORT); "
                                 "give the paths before --ray", param_hint="--ray")
    import_ray()  # not installed: say so before any work
    with _task_progress(quiet) as show:
        yield RayEngine(None if address == LOCAL else address, progress=show)


@contextmanager
def engine_and_progress(ray: str | None, quiet: bool, label: str, *, unit: str = "images",
                        capture: bool = True) -> Iterator[tuple[object | None, Any]]:
    """(the --ray engine or None, a progress callback): a local run shows the bar (and, with
    ``capture``, says what the decoders wrote to stderr); a Ray run shows its task line instead."""
    from .capture import native_stderr
    from .output import progress

    with ray_engine(ray, quiet) as engine, native_stderr() if capture and engine is None else nullcontext(), \
            progress(label, quiet or engine is not None, unit=unit) as on_progress:
        yield engine, on_progress


@contextmanager
def _task_progress(quiet: bool) -> Iterator[object | None]:
    from .output import stderr

    if quiet or not stderr.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(TextColumn("tasks"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[rate]} files/s"), console=stderr, transient=True)
    task = bar.add_task("tasks", total=None, rate="-")
    started = time.perf_counter()

    def show(p: Any) -> None:  # an engine's TaskProgress
        if not bar.live.is_started and time.perf_counter() - started >= SHOW_AFTER_S:
            bar.start()
        bar.update(task, completed=p.done, total=p.total, rate=f"{p.items_per_second:,.0f}")

    try:
        yield show
    finally:
        bar.stop()
