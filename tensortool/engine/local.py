"""Tasks on threads in this process: the engine when everything fits on one machine."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Sequence, TypeVar

from ..cores import usable_cores
from .base import OnDone, OnProgress, Tally

T = TypeVar("T")
R = TypeVar("R")


class LocalEngine:
    """Runs tasks on ``workers`` threads (default: the usable cores).

    >>> LocalEngine(workers=1).run(len, ["ab", "c"])
    [2, 1]
    """

    def __init__(self, workers: int | None = None, *, progress: OnProgress | None = None):
        self.workers = workers or usable_cores()
        self.progress = progress

    def run(self, fn: Callable[[T], R], tasks: Sequence[T], *, sizes: Sequence[int] | None = None,
            on_done: OnDone | None = None, labels: Sequence[str] | None = None) -> list[R]:
        tally = Tally(sizes if sizes is not None else [1] * len(tasks), self.progress)
        results: list = [None] * len(tasks)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="tensortool-task") as pool:
            pending = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        i = pending.pop(future)
                        results[i] = future.result()  # a task's error stops the run here
                        tally.finished(i)
                        if on_done is not None:
                            on_done(i, results[i])
            finally:
                for future in pending:
                    future.cancel()
        return results
