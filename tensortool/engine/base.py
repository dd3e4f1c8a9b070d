"""What every engine offers, the progress it reports, and picking one by name."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, TypeVar

from ..errors import OptionError, TensortoolError

T = TypeVar("T")
R = TypeVar("R")


class EngineError(TensortoolError):
    """The engine could not run the work: no cluster to reach, or a task whose worker kept dying."""


@dataclass(frozen=True)
class TaskProgress:
    """Where a run stands: tasks finished out of all, and the items (files) they held."""

    done: int
    total: int
    items_done: int
    items_total: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items_done / self.seconds if self.seconds > 0 else 0.0


OnProgress = Callable[[TaskProgress], None]
OnDone = Callable[[int, Any], None]


class Engine(Protocol):
    """Runs ``fn`` on every task and returns the results in task order.

    ``sizes`` (items per task, e.g. files) feeds the progress report; ``on_done(index, result)``
    is called in the calling thread as each task finishes, in whatever order they finish;
    ``labels`` name the tasks (e.g. their first file) in an error about a task as a whole.
    """

    def run(self, fn: Callable[[T], R], tasks: Sequence[T], *, sizes: Sequence[int] | None = None,
            on_done: OnDone | None = None, labels: Sequence[str] | None = None) -> list[R]: ...


class Tally:
    """Counts finished tasks and items and hands a TaskProgress to the callback."""

    def __init__(self, sizes: Sequence[int], progress: OnProgress | None):
        self.sizes, self.progress = list(sizes), progress
        self.done = self.items_done = 0
        self.started = time.perf_counter()

    def finished(self, index: int) -> None:
        self.done += 1
        self.items_done += self.sizes[index]
        if self.progress is not None:
            self.progress(TaskProgress(self.done, len(self.sizes), self.items_done, sum(self.sizes),
                                       time.perf_counter() - self.started))


def engine_of(engine: str | Engine | None) -> Engine | None:
    """``None`` or "local": None (the caller's own threaded path); "ray": a RayEngine on a local
    cluster, or the one already connected; an Engine object is used as it is."""
    if engine is None or engine == "local":
        return None
    if engine == "ray":
        from .ray import RayEngine

        return RayEngine()
    if isinstance(engine, str):
        raise OptionError(f"{{engine={engine}}} is not an engine", param="engine", allowed=("local", "ray"))
    return engine
