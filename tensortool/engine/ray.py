"""Tasks on a Ray cluster: an existing one (``auto``, ``ray://HOST:PORT``) or a local one.

Each task runs in a worker process with one CPU; a worker that dies mid-task (killed, out of
memory, its node lost) has its task run again, up to ``max_retries`` times, which is safe because
tasks are pure and write atomically. An error raised by a task reaches the caller as the same
exception, so a bad file is reported the way the local run reports it.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ..errors import OptionError, q
from .base import EngineError, OnDone, OnProgress, Tally

T = TypeVar("T")
R = TypeVar("R")

RAY_INSTALL = "pip install 'tensortool[ray]'"
# auto, ray://HOST:PORT (Ray Client) or HOST:PORT (a node of the cluster, e.g. the head's GCS port)
_ADDRESS = re.compile(r"auto|ray://[^\s/:]+(:\d+)?|[^\s/:]+:\d+")


def is_address(text: str) -> bool:
    """Whether ``text`` reads as a Ray cluster address rather than, say, a folder."""
    return _ADDRESS.fullmatch(text) is not None


def import_ray() -> Any:
    """The ray module, or an error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise EngineError("the Ray engine needs Ray, which is not installed", hint=RAY_INSTALL) from None
    return ray


def _call(fn: Callable[[T], R], task: T, cwd: str) -> R:
    """One task in a worker. Relative paths mean what they mean to the driver where its working
    folder exists on this node too (a shared filesystem); a worker runs one task at a time."""
    if cwd != os.getcwd() and os.path.isdir(cwd):
        os.chdir(cwd)
    return fn(task)


class RayEngine:
    """Runs tasks as Ray tasks; connects for the run and disconnects after it, unless Ray was
    already connected (then that cluster is used and left connected).

    ``address``: None for a new local cluster of ``num_cpus`` CPUs (default: all), "auto" for the
    cluster this node belongs to, or "ray://HOST:10001" for a remote one through Ray Client.

    >>> stats = dataset_stats("images/", engine=RayEngine("auto"))  # doctest: +SKIP
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, max_retries: int = 3,
                 progress: OnProgress | None = None):
        if address is not None and not is_address(address):
            raise OptionError(f"{q(address)} is not a Ray cluster address (auto, ray://HOST:PORT or HOST:PORT)",
                              param="address")
        self.address, self.num_cpus, self.max_retries, self.progress = address, num_cpus, max_retries, progress

    @contextmanager
    def _connected(self, ray: Any) -> Iterator[None]:
        if ray.is_initialized():
            yield
            return
        options: dict[str, Any] = {"logging_level": logging.ERROR, "configure_logging": True}
        if self.address is None:
            # "local": a new cluster even where RAY_ADDRESS or a running `ray start` would be found
            options.update(address="local", num_cpus=self.num_cpus, include_dashboard=False)
        else:
            options["address"] = self.address
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a new local cluster"
            raise EngineError(f"could not start or reach Ray at {where}: {_first_line(exc)}") from None
        try:
            yield
        finally:
            ray.shutdown()

    def run(self, fn: Callable[[T], R], tasks: Sequence[T], *, sizes: Sequence[int] | None = None,
            on_done: OnDone | None = None, labels: Sequence[str] | None = None) -> list[R]:
        ray = import_ray()
        tally = Tally(sizes if sizes is not None else [1] * len(tasks), self.progress)
        results: list = [None] * len(tasks)
        with self._connected(ray):
            remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_call)
            shared_fn = ray.put(fn)  # stored once, not once per task
            cwd = os.getcwd()
            refs = [remote.remote(shared_fn, task, cwd) for task in tasks]
            index = {ref: i for i, ref in enumerate(refs)}
            pending = list(refs)
            try:
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    i = index[ready[0]]
                    results[i] = self._result(ray, ready[0], labels[i] if labels else None)
                    tally.finished(i)
                    if on_done is not None:
                        on_done(i, results[i])
            finally:
                for ref in pending:  # an error or an interrupt: stop the rest
                    ray.cancel(ref, force=True)
        return results

    def _result(self, ray: Any, ref: Any, label: str | None) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
                raise cause from None  # the task's own error, as the local run raises it
            raise EngineError(f"a task failed: {_first_line(exc)}", label) from None
        except ray.exceptions.RayError as exc:  # worker or node lost more often than the retries allow
            raise EngineError(f"the task's worker died on each of {self.max_retries + 1} attempt(s) "
                              f"({type(exc).__name__})", label) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

