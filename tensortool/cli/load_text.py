"""`tensortool load-text`: text files into padded token indices (optionally one-hot)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ..sources.text.constants import CHARSETS, DEFAULT_MAX_BYTES, DEFAULT_MAX_TOKENS, LEVELS, UNITS
from .loading import SideFile, load_and_emit
from .options import output_options


@output_options("output", "force", "json_", "quiet")
def load_text(
    paths: Annotated[list[Path], typer.Argument(help="Text files.", show_default=False)],
    level: Annotated[Literal[LEVELS], typer.Option(help="Tokens are words or characters.")] = "word",
    charset: Annotated[Literal[CHARSETS], typer.Option(
        help="--level char: ascii (the 128 code points, the tutorial's) or corpus (the characters that occur).")] = "corpus",
    lower: Annotated[bool, typer.Option("--lower/--no-lower", help="Lowercase first.")] = True,
    strip_punct: Annotated[bool, typer.Option("--strip-punct/--no-strip-punct",
        help="Words: strip Unicode punctuation (curly quotes too) from both ends of each word.")] = True,
    unit: Annotated[Literal[UNITS], typer.Option(help="One sample per file, non-blank line, or paragraph.")] = "line",
    min_freq: Annotated[int, typer.Option("--min-freq", min=1, help="Rarer tokens become <unk>.")] = 1,
    max_vocab: Annotated[Optional[int], typer.Option("--max-vocab", min=3,
        help="Largest vocabulary, the specials <pad> and <unk> included.")] = None,
    vocab: Annotated[Optional[Path], typer.Option(dir_okay=False, help="Reuse a vocabulary saved with --save-vocab.")] = None,
    save_vocab: Annotated[Optional[Path], typer.Option("--save-vocab", dir_okay=False,
        help="Write the vocabulary (and how text was tokenized) as JSON.")] = None,
    max_len: Annotated[Optional[int], typer.Option("--max-len", min=1, help="Truncate samples to L tokens.")] = None,
    one_hot: Annotated[bool, typer.Option("--one-hot", help="Add a dense one-hot 'onehot' (float32 N×L×V).")] = False,
    sparse: Annotated[bool, typer.Option("--sparse", help="Add 'onehot' as a sparse COO tensor (.pt output only).")] = False,
    max_bytes: Annotated[int, typer.Option("--max-bytes", min=1,
        help="Refuse a dense one-hot, or padded tokens + mask, larger than this many bytes.")] = DEFAULT_MAX_BYTES,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1,
        help="Refuse inputs of more tokens than this (each costs ~60 bytes while read).")] = DEFAULT_MAX_TOKENS,
    encoding: Annotated[str, typer.Option(help="Text encoding; a UTF-8 BOM is removed.")] = "utf-8",
    errors: Annotated[Literal["strict", "replace"], typer.Option(
        help="Undecodable bytes: an error with the byte offset, or U+FFFD.")] = "strict",
    **shared: Any,
) -> None:
    """Load text: tokens (int64 N×L, 0 = <pad>), lengths and mask, ready for nn.Embedding."""
    from ..sources.text.load import load_text as load_texts, write_vocab
    from .output import note

    load_and_emit(lambda _: load_texts(
        paths, level=level, charset=charset, lower=lower, strip_punct=strip_punct, unit=unit, min_freq=min_freq,
        max_vocab=max_vocab, vocab=vocab, max_len=max_len, one_hot=one_hot, sparse=sparse, max_bytes=max_bytes,
        max_tokens=max_tokens, encoding=encoding, errors=errors, on_plan=note),
        inputs=paths, sparse=sparse, **shared,
        side_files=[SideFile(save_vocab, lambda bundle, to, **kw: write_vocab(bundle.meta["vocab"], to, **kw),
                             reads=[vocab] if vocab else [])])
