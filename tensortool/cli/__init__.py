"""The command line: one module per command, composed in app.py; output.py prints.

Errors are turned into words in one place, ``boundary``: the root command runs every command
inside it, so ``tensortool`` and a test's CliRunner see the same thing. Imports here stay inside
the functions: ``main`` installs the signal handlers before anything slow is imported.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator


def main() -> None:
    """The ``tensortool`` command. Signals are handled before the imports of typer and the rest."""
    from . import signals

    signals.install()
    try:
        from .app import app

        app()
    except KeyboardInterrupt:  # outside any command: start-up, option parsing
        signals.interrupted()


# Library parameters that a command takes under another name.
RENAMED = {"allow_globals": "allow_global", "strip": "strip_prefix"}


def current_namer() -> Callable[[str, str | None], str]:
    """``flag_namer`` for the command running now (Python names outside a command)."""
    from ..errors import python_name
    from .context import LEAF, ROOT

    ctx = ROOT.get()
    leaf = ctx.meta.get(LEAF, ctx) if ctx is not None else None
    return flag_namer(leaf.command) if leaf is not None else python_name


def flag_namer(command: Any) -> Callable[[str, str | None], str]:
    """How an error names a library parameter on this command line: ``center_crop`` →
    ``--center-crop``, ``{one_hot=True}`` → ``--one-hot``, ``{layout=ndhw}`` → ``--layout ndhw``,
    ``paths`` → ``PATHS``. A parameter the command does not have keeps its Python name."""
    import shlex

    from ..errors import python_name

    params = {p.name: p for p in getattr(command, "params", [])}

    def name_of(name: str, value: str | None) -> str:
        param = (params.get(name) or params.get(f"{name}_")  # json_, list_: Python keywords aside
                 or params.get(RENAMED.get(name, "")))
        if param is None:
            return python_name(name, value)
        if param.param_type_name == "argument":
            return param.metavar or param.name.upper()
        flag = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        if getattr(param, "is_flag", False) and value in (None, "True", "False"):
            if value == "False" and param.secondary_opts:
                return param.secondary_opts[0]
            return flag
        return flag if value is None else f"{flag} {shlex.quote(value)}"

    return name_of


@contextmanager
def boundary(ctx: Any = None) -> Iterator[None]:
    """Run a command: a TensortoolError → one red line on stderr (with --json one JSON object there
    instead: error, type and the error's fields), exit 1; a UsageError → Click's usage message,
    exit 2; Ctrl-C or SIGTERM → "interrupted", 128 + the signal; any other exception → one line,
    exit 1. Tracebacks only with TENSORTOOL_DEBUG=1.

    ``ctx``: the root Click context; the command that ran is ``ctx.meta[LEAF]`` (see context.py),
    whose flags name the parameters in messages."""
    import os
    import warnings

    import typer

    from ..errors import TensortoolError, UsageError
    from .context import LEAF, ROOT
    from .signals import exit_status, received

    def show_warning(*args: Any, **kwargs: Any) -> None:
        from .output import show_warning

        show_warning(*args, **kwargs)

    debug = os.environ.get("TENSORTOOL_DEBUG", "") not in ("", "0")
    token = ROOT.set(ctx)  # what current_namer reads while the command runs
    try:
        with warnings.catch_warnings():  # restores the previous hook (and filters) afterwards
            warnings.showwarning = show_warning  # rich loads when something is said, not for --help
            yield
    except (typer.Exit, typer.BadParameter):
        raise
    except TensortoolError as exc:
        if debug:
            raise
        from . import output

        leaf = ctx.meta.get(LEAF, ctx) if ctx is not None else None  # read now: made after we began
        name_of = flag_namer(leaf.command if leaf is not None else None)
        text = exc.render(name_of)
        if isinstance(exc, UsageError):  # as Click reports a bad option, --json or not
            raise typer.BadParameter(text, ctx=leaf) from None  # the usage line, exit 2
        fields = exc.fields()
        if exc.param is not None:
            fields["flag"] = name_of(exc.param, None)
        output.error(text, as_json=bool(leaf is not None and leaf.params.get("json_")), kind=type(exc).__name__,
                     fields=fields)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        from . import output

        output.interrupted()
        raise typer.Exit(exit_status()) from None
    except Exception as exc:
        from . import output

        if received() is not None:  # an interrupt that a library turned into another error
            output.interrupted()
            raise typer.Exit(exit_status()) from None
        if debug:
            raise
        output.internal_error(exc)
        raise typer.Exit(1) from None
    finally:
        ROOT.reset(token)
