"""Shard-writing tasks on an engine: each task writes one shard file atomically and returns its
record; the driver records each in the manifest as it arrives, so a killed run resumes."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from .base import Engine

T = TypeVar("T")
R = TypeVar("R")


def write_shards_on(engine: Engine, write: Callable[[T], R], tasks: Sequence[T], *, add: Callable[[R], None],
                    sizes: Sequence[int], labels: Sequence[str], progress: Callable[[int, int], None] | None = None,
                    done: int = 0, total: int | None = None) -> None:
    """Run ``write(task)`` for every task on ``engine`` and ``add`` each result as its task ends.

    ``sizes`` (items per task) and ``done``/``total`` (items, counting shards finished before)
    feed ``progress(done, total)``; ``labels`` name each task's output in an error about it.
    """
    total = done + sum(sizes) if total is None else total
    count = [done]

    def on_done(index: int, record: Any) -> None:
        add(record)
        count[0] += sizes[index]
        if progress is not None:
            progress(count[0], total)

    engine.run(write, tasks, sizes=sizes, on_done=on_done, labels=labels)
