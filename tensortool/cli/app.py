"""The `tensortool` command: composes one module per command."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .._version import __version__
from .ckpt import app as ckpt_app
from .bench import bench
from .info import info
from .load_csv import load_csv
from .load_dicom import load_dicom_command
from .load_image import load_image
from .load_text import load_text
from .ray_option import RayCommand
from .stats import stats

app = typer.Typer(
    name="tensortool",
    help="Turn real data into correctly shaped PyTorch tensors.",
    no_args_is_help=True,
    add_completion=False,
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
app.command("info")(info)
app.command("stats", cls=RayCommand)(stats)
app.add_typer(ckpt_app, name="ckpt")
app.command("load-csv")(load_csv)
app.command("load-text")(load_text)
app.command("load-dicom", cls=RayCommand)(load_dicom_command)
app.command("bench")(bench)


def main() -> None:
    from . import main as run  # with the signal handling

    run()
