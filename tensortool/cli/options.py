"""Option declarations shared by every command (declared once, as sqlite-utils does)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Output = Annotated[Optional[Path], typer.Option(
    "--output", "-o", dir_okay=False,
    help="Write the tensors here; the suffix picks the format: .pt, .safetensors, .npy, .npz.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]
Json = Annotated[bool, typer.Option(
    "--json", help="Print the summary as one JSON object on stdout (progress and warnings go to stderr).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def sizes(text: str | None, *, square: bool) -> tuple[int, ...] | None:
    """Parse 'N' or 'H,W' (also 'HxW'); with ``square`` a single N means N,N."""
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not N or H,W") from None
    if len(values) not in (1, 2) or any(v < 1 for v in values):
        raise typer.BadParameter(f"{text!r} is not N or H,W with positive integers")
    return values * 2 if square and len(values) == 1 else values
