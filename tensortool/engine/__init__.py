"""How work that grows with the dataset is run: a list of pure, idempotent tasks, run by an engine.

An engine runs ``fn(task)`` for every task and returns the results in task order; the caller
merges them. :class:`LocalEngine` uses threads in this process, :class:`RayEngine` a Ray cluster
(the optional extra ``tensortool[ray]``). Because every task is pure and its writes atomic, a task
that a dead worker left unfinished is simply run again, and both engines give the same result.

>>> engine = LocalEngine(workers=2)
>>> engine.run(abs, [-1, 2, -3])
[1, 2, 3]
"""

from __future__ import annotations

from .base import Engine, EngineError, TaskProgress, engine_of
from .local import LocalEngine
from .ray import RAY_INSTALL, RayEngine

__all__ = ["Engine", "EngineError", "LocalEngine", "RAY_INSTALL", "RayEngine", "TaskProgress", "engine_of"]
