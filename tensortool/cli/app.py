"""The `tensortool` command: composes one module per command.

Only typer and the option declarations load here; each command imports the library (and torch)
when it runs, so help, --version and shell completion start at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .._version import __version__
from . import boundary
from .context import Command, Group
from .bench import bench
from .ckpt import app as ckpt_app
from .info import info
from .load_csv import load_csv
from .load_dicom import load_dicom_command
from .load_image import load_image
from .load_text import load_text
from .ray_option import RayCommand
from .stats import app as stats_app


class Root(Group):
    """The root command: every command runs inside the one error boundary."""

    def invoke(self, ctx: typer.Context) -> Any:
        with boundary(ctx):
            return super().invoke(ctx)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return sorted(super().list_commands(ctx), key=lambda name: HELP_ORDER.index(name))


HELP_ORDER = ["load-image", "info", "stats", "load-csv", "load-text", "load-dicom", "bench", "ckpt"]


app = typer.Typer(
    name="tensortool",
    cls=Root,
    help="Turn real data into correctly shaped PyTorch tensors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help: rich panels print flags as "<bool>" and break choices inside a word.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tensortool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None) -> None:
    """Turn real data into correctly shaped PyTorch tensors."""


app.command("load-image", cls=RayCommand)(load_image)
app.command("info", cls=Command)(info)
app.add_typer(stats_app, name="stats")
app.add_typer(ckpt_app, name="ckpt")
app.command("load-csv", cls=Command)(load_csv)
app.command("load-text", cls=Command)(load_text)
app.command("load-dicom", cls=RayCommand)(load_dicom_command)
app.command("bench", cls=Command)(bench)


def main() -> None:
    from . import main as run  # with the signal handling

    run()
