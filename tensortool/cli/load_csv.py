"""`tensortool load-csv`: a delimited table into `features` (and `target`) tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ..sources.table.constants import FEATURE_DTYPE_NAMES, MISSING, NORMALIZE
from .loading import SideFile, load_and_emit
from .options import output_options, parse_size_option

Columns = Optional[list[str]]


def _names(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists both work: --drop a --drop b, --drop a,b."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _delimiter(text: str | None) -> str | None:
    """--delimiter: one character; 'tab' (or \\t) for a tab, 'space' for runs of spaces and tabs."""
    if text is not None and text.lower() in ("tab", "\\t"):
        text = "\t"
    if text is not None and text.lower() in ("space", "whitespace"):
        text = " "
    if text is not None and len(text) != 1:
        raise typer.BadParameter(f"{text!r} is not one character", param_hint="--delimiter")
    return text


@output_options("output", "force", "json_", "quiet")
def load_csv(
    path: Annotated[Path, typer.Argument(help="A CSV/TSV/semicolon file.", show_default=False)],
    target: Annotated[Optional[str], typer.Option(help="Target column (name or 0-based index) → 'target'.")] = None,
    drop: Annotated[Columns, typer.Option(help="Columns to leave out (repeat, or comma-separated).")] = None,
    columns: Annotated[Columns, typer.Option(help="Keep only these feature columns, in this order.")] = None,
    categorical: Annotated[Columns, typer.Option(
        help="One-hot these columns ('auto': every non-numeric column).")] = None,
    target_kind: Annotated[Optional[Literal["class", "regression"]], typer.Option(
        "--target-kind", help="Default: class for integer labels with ≤ 20 distinct values or text labels.",
        show_default=False)] = None,
    num_classes: Annotated[Optional[int], typer.Option("--num-classes", min=1,
        help="Keep integer labels as the class indices 0..K-1 (labels outside are an error).")] = None,
    one_hot: Annotated[bool, typer.Option("--one-hot", help="Also write target_onehot (float32 N×K).")] = False,
    normalize: Annotated[Optional[Literal[NORMALIZE]], typer.Option(
        help="Numeric features: zscore ((x-mean)/std), minmax (to [0,1]) or none [default: none].",
        show_default=False)] = None,
    unbiased: Annotated[bool, typer.Option("--unbiased", help="zscore with the sample std (ddof=1); default ddof=0.")] = False,
    na: Annotated[Columns, typer.Option(help="Strings that mean 'missing' (empty cells always do), e.g. NA.")] = None,
    missing: Annotated[Optional[Literal[MISSING]], typer.Option(
        help="Missing cells: error (with the line), drop the row, or fill with the column's mean/median/zero "
             "[default: error].", show_default=False)] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad",
        help="Skip rows with the wrong number of fields or an unparsable number, and count them.")] = False,
    save_state: Annotated[Optional[Path], typer.Option("--save-state", dir_okay=False,
        help="Write everything fitted (columns, categories, classes, statistics) as JSON.")] = None,
    state: Annotated[Optional[Path], typer.Option(dir_okay=False,
        help="Apply a state saved with --save-state (e.g. to test data).")] = None,
    unknown: Annotated[Literal["error", "ignore"], typer.Option(
        help="With --state: an unseen category is an error, or an all-zero row with 'ignore'.")] = "error",
    period: Annotated[Optional[int], typer.Option(min=1, help="Rows per sample, e.g. 24 for hours → days.")] = None,
    layout: Annotated[Literal["nfp", "npf"], typer.Option(
        help="With --period: (N/P, F, P) or (N/P, P, F).")] = "nfp",
    time_col: Annotated[Optional[str], typer.Option("--time-col",
        help="With --period: a timestamp or integer column whose gaps are checked (not a feature).")] = None,
    pad: Annotated[bool, typer.Option("--pad",
        help="With --period: fill gaps and the last period with zeros (class targets -100) and add 'mask'.")] = False,
    delimiter: Annotated[Optional[str], typer.Option(help="Default: sniffed among , ; tab | and runs of spaces. "
        "'tab' for a tab; ' ' (or 'space') for runs of spaces and tabs.", show_default=False)] = None,
    skip_rows: Annotated[int, typer.Option("--skip-rows", min=0,
        help="Lines to leave out at the top, before the header (a preamble).")] = 0,
    comment: Annotated[Optional[str], typer.Option(
        help="Leave out lines starting with this text, e.g. '#'.", show_default=False)] = None,
    max_bytes: Annotated[str, typer.Option("--max-bytes",
        help="Refuse a compressed file (.gz .bz2 .xz .zip) that decompresses to more than this (e.g. 500MB).")] = "4GiB",
    header: Annotated[Optional[bool], typer.Option("--header/--no-header",
        help="Default: detected (a first row without numbers over numeric columns).", show_default=False)] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding; a UTF-8 BOM is always removed.")] = "utf-8",
    dtype: Annotated[Optional[Literal[FEATURE_DTYPE_NAMES]], typer.Option(
        help="Feature dtype [default: float32, or the --state's].", show_default=False)] = None,
    **shared: Any,
) -> None:
    """Load a table: numeric columns → features (N×F), --target → target; categorical columns one-hot."""
    from ..sources.table.load import FEATURE_DTYPES
    from ..sources.table.load import load_csv as load_table
    from ..sources.table.state import write_state

    limit = parse_size_option(max_bytes, "--max-bytes")
    delimiter = _delimiter(delimiter)
    load_and_emit(lambda _: load_table(
        path, target=target, drop=_names(drop), columns=_names(columns) or None, categorical=_names(categorical),
        target_kind=target_kind, num_classes=num_classes, one_hot=one_hot, normalize=normalize, unbiased=unbiased,
        na=_names(na), missing=missing, skip_bad=skip_bad, state=state, unknown=unknown, period=period,
        layout=layout, time_col=time_col, pad=pad, delimiter=delimiter, header=header, encoding=encoding,
        dtype=dtype, skip_rows=skip_rows, comment=comment, max_bytes=limit),
        inputs=[path], dtypes=[FEATURE_DTYPES[dtype or "float32"]], **shared,
        side_files=[SideFile(save_state, lambda bundle, to, **kw: write_state(bundle.meta["state"], to, **kw),
                             reads=[state] if state else [])])
