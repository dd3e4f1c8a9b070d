"""LocalEngine and RayEngine: results in task order, progress, errors, retries after a killed worker."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import pytest

from tensortool import InputError
from tensortool.engine import EngineError, LocalEngine, RayEngine, TaskProgress, engine_of
from tensortool.errors import OptionError


def square(x: int) -> int:
    return x * x


def fail_on(bad: int, x: int) -> int:
    if x == bad:
        raise InputError("cannot read", f"file{x}.png")
    return x


def kill_first_attempt(fn, marker: str, task):
    """Runs the task, then, the first time only, kills its own worker before the result is sent."""
    result = fn(task)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return result
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


class KillOnce(RayEngine):
    """A RayEngine whose first task to finish loses its worker process."""

    def __init__(self, marker: Path, **kwargs):
        super().__init__(**kwargs)
        self.marker = str(marker)

    def run(self, fn, tasks, **kwargs):
        return super().run(partial(kill_first_attempt, fn, self.marker), tasks, **kwargs)


def test_local_engine_keeps_task_order_and_reports_progress():
    seen: list[TaskProgress] = []
    assert LocalEngine(workers=3, progress=seen.append).run(square, range(7), sizes=[2] * 7) == [
        x * x for x in range(7)]
    assert [p.done for p in seen] == list(range(1, 8)) and seen[-1].items_done == 14 == seen[-1].items_total


def test_engine_names():
    assert engine_of(None) is None and engine_of("local") is None
    assert isinstance(engine_of("ray"), RayEngine)
    with pytest.raises(OptionError) as info:
        engine_of("spark")
    assert "engine='spark'" in str(info.value)
    with pytest.raises(OptionError):
        RayEngine("images/")


def test_ray_results_progress_and_the_task_error(ray_cluster):
    seen: list[TaskProgress] = []
    assert RayEngine(progress=seen.append).run(square, list(range(10)), sizes=[3] * 10) == [x * x for x in range(10)]
    assert sorted(p.done for p in seen) == list(range(1, 11)) and seen[-1].items_done == 30
    assert all(p.total == 10 and p.items_per_second > 0 for p in seen)
    with pytest.raises(InputError) as info:  # the worker's own exception, fields intact
        RayEngine().run(partial(fail_on, 3), list(range(6)))
    assert info.value.path == "file3.png" and str(info.value) == "file3.png: cannot read"
    assert ray_cluster.is_initialized()  # a connected cluster is left connected


def test_a_killed_worker_is_retried(ray_cluster, tmp_path):
    marker = tmp_path / "killed"
    assert KillOnce(marker).run(square, list(range(4))) == [0, 1, 4, 9]
    assert int(marker.read_text()) != os.getpid()  # a worker process died, not this one


def test_a_task_whose_worker_keeps_dying_is_an_error(ray_cluster, tmp_path):
    engine = KillOnce(tmp_path / "killed", max_retries=0)
    with pytest.raises(EngineError) as info:
        engine.run(square, [5], labels=["a.png"])
    assert info.value.path == "a.png" and "died on each of 1 attempt(s)" in str(info.value)
