"""Option declarations shared by every command (declared once, as sqlite-utils does)."""

from __future__ import annotations

from pathlib import Path
import inspect
from typing import Annotated, Any, Callable, Literal, Optional

import typer

from ..sources.image.constants import MODES

Output = Annotated[Optional[Path], typer.Option(
    "--output", "-o", dir_okay=False,
    help="Write the tensors here; the suffix picks the format: .pt, .safetensors, .npy, .npz "
         "(.npy holds one tensor and no metadata; a result of several is refused).")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]
Json = Annotated[bool, typer.Option(
    "--json", help="Print the summary as one JSON object on stdout (progress and warnings go to stderr).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]

# How images are read: shared by load-image and stats, so statistics describe what a model sees.
Mode = Annotated[Literal[MODES], typer.Option(
    help="rgb: alpha dropped, gray expanded; gray; rgba; unchanged: the file's own channels.")]
Resize = Annotated[Optional[str], typer.Option(
    help="H,W for an exact size, or N to set the shorter side to N (aspect kept); antialiased.")]
CenterCrop = Annotated[Optional[str], typer.Option("--center-crop", help="H,W (or N for N,N), after --resize.")]
Workers = Annotated[Optional[int], typer.Option(min=1, help=(
    "Decoding threads (default: all cores; one for tiny files, where it is faster). "
    "The result is identical whatever the number."))]
MaxPixels = Annotated[int, typer.Option("--max-pixels", min=0, help=(
    "Refuse an image with more pixels than this, read from its header before decoding "
    "(a GIF counts every frame); 0: no limit. The default is Pillow's decompression-bomb limit."))]
SkipBad = Annotated[bool, typer.Option("--skip-bad",
    help="Skip corrupt or non-image files and list them, instead of failing.")]

SHARED = {"output": (Output, None), "force": (Force, False), "json_": (Json, False), "quiet": (Quiet, False)}


def output_options(*names: str, **declared: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Add the shared output options (``SHARED``, or the command's own declaration of one in
    ``declared``) after the command's own options; the command takes them as ``**shared``.

    Declared once here and added by this decorator, as sqlite-utils' ``@output_options`` does."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)  # Typer reads the signature, evaluated
        params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        for name in names:
            annotation = declared.get(name, SHARED[name][0])
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=SHARED[name][1],
                                            annotation=annotation))
            command.__annotations__[name] = annotation
        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return command
    return decorate


def sizes(text: str | None, *, square: bool, option: str | None = None) -> tuple[int, ...] | None:
    """Parse 'N' or 'H,W' (also 'HxW'); with ``square`` a single N means N,N."""
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not N or H,W", param_hint=option) from None
    if len(values) not in (1, 2) or any(v < 1 for v in values):
        raise typer.BadParameter(f"{text!r} is not N or H,W with positive integers", param_hint=option)
    return values * 2 if square and len(values) == 1 else values


def image_sizes(resize: str | None, center_crop: str | None) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """--resize and --center-crop, parsed as load-image and stats read them."""
    return sizes(resize, square=False, option="--resize"), sizes(center_crop, square=True, option="--center-crop")


_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size_option(text: str, option: str, *, minimum: int = 1) -> int:
    """'500MB' → 500_000_000 (KB/MB/GB decimal, KiB/MiB/GiB binary); a unit is required."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)\s*", text, re.IGNORECASE)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size with a unit, such as 500MB, 5GB or 2GiB",
                                 param_hint=option)
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value < minimum:
        raise typer.BadParameter(f"{text!r} is below the smallest allowed, {minimum:,} bytes", param_hint=option)
    return value
