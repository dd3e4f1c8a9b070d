"""Click classes for every command: each records its context, so that the error boundary knows
which command ran and names the library's parameters by that command's flags."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

LEAF = "tensortool.command"  # ctx.meta key: the context of the command that runs
ROOT: ContextVar[Any] = ContextVar("tensortool_root", default=None)  # the root context while a command runs


class Context(typer.Context):
    """Records itself as the command that runs (the last context made is the innermost one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta[LEAF] = self  # meta is one dict shared by a context and its parents

    @property
    def command_path(self) -> str:
        # A default sub-command (`stats PATHS`) has an empty name: no trailing space in its usage.
        return super().command_path.rstrip()


class Command(TyperCommand):
    context_class = Context


class Group(TyperGroup):
    context_class = Context
