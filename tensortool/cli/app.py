"""The `tensortool` command: composes one module per command."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .._version import __version__
from .bench import bench
from .info import info
from .load_image import load_image
from .stats import stats

app = typer.Typer(
    name="tensortool",
    help="Turn real data into correctly shaped PyTorch tensors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


app.command("load-image")(load_image)
app.command("info")(info)
app.command("stats")(stats)
app.command("bench")(bench)


def main() -> None:
    app()
