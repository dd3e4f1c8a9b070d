"""Text files into padded token indices (``tokens``, ``lengths``, ``mask``), optionally one-hot.

Word tokens: text is split on whitespace and on dashes (``-``-runs of two or more, en and em
dashes), then, with ``strip_punct``, every Unicode punctuation character (curly quotes included)
is stripped from both ends of each token; empty tokens are dropped. Apostrophes inside a word
stay (``don't``, ``Bennet’s``; a curly apostrophe becomes ``'``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..._version import __version__
from ...bundle import Bundle
from ...errors import InputError, OptionError, UsageError, q
from ...tensorfile import atomic_write
from .constants import CHARSETS, DEFAULT_MAX_BYTES, DEFAULT_MAX_TOKENS, LEVELS, UNITS

PAD, UNK = "<pad>", "<unk>"
_CHUNK = 1 << 20  # a long sample is tokenized this many characters at a time, cut at whitespace
_SPACE = re.compile(r"\s")
_DASHES = re.compile(r"-{2,}|[\u2012\u2013\u2014\u2015\u2E3A\u2E3B]")
_PARAGRAPH = re.compile(r"\n\s*\n")


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def word_tokens(text: str, *, lower: bool = True, strip_punct: bool = True) -> list[str]:
    """Words of ``text`` (see the module docstring).

    >>> word_tokens("“Mr. Bennet’s—impossible!”")
    ['mr', "bennet's", 'impossible']
    """
    if lower:
        text = text.lower()
    text = text.replace("\u2019", "'")
    out = []
    for token in _DASHES.sub(" ", text).split():
        if strip_punct:
            start, end = 0, len(token)
            while start < end and _is_punct(token[start]):
                start += 1
            while end > start and _is_punct(token[end - 1]):
                end -= 1
            token = token[start:end]
        if token:
            out.append(token)
    return out


def char_tokens(text: str, *, lower: bool = True) -> list[str]:
    return list(text.lower() if lower else text)


def read_text(path: str | Path, *, encoding: str = "utf-8", errors: str = "strict") -> str:
    """A whole file as text; a UTF-8 BOM is removed, line endings become \\n."""
    src = Path(path)
    try:
        data = src.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", src) from None
    except IsADirectoryError:
        raise InputError("is a directory; name the text files", src) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", src) from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = data.decode(codec, errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid {encoding}: byte offset {exc.start} (0x{data[exc.start]:02x})", src,
                         hint="give the encoding with {encoding}, or {errors=replace}") from None
    except LookupError:
        raise OptionError(f"unknown encoding {q(encoding)}", param="encoding") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_units(text: str, unit: str) -> list[str]:
    """One string per sample: the whole file, each non-blank line, or each paragraph (blank-line separated)."""
    if unit == "file":
        parts = [text]
    elif unit == "line":
        parts = text.split("\n")
    else:
        parts = _PARAGRAPH.split(text)
    return [p.strip() for p in parts if p.strip()]


def _units_with_lines(text: str, unit: str):
    """(1-based line of the sample's first character, sample) for each sample of :func:`split_units`."""
    if unit == "line":
        for i, part in enumerate(text.split("\n")):
            if part.strip():
                yield i + 1, part.strip()
        return
    bounds = [0] + [x for m in _PARAGRAPH.finditer(text) for x in m.span()] + [len(text)] if unit == "paragraph" \
        else [0, len(text)]
    line, at = 1, 0
    for start, stop in zip(bounds[::2], bounds[1::2]):
        part = text[start:stop]
        if part.strip():
            first = start + len(part) - len(part.lstrip())
            line += text.count("\n", at, first)
            at = first
            yield line, part.strip()


def _sample_tokens(part: str, *, level: str, lower: bool, strip_punct: bool, room: int, path: Path,
                   line: int, limit: int) -> list[str]:
    """The tokens of one sample, refused as soon as they pass ``room`` (tokens left under ``limit``)."""
    def refuse() -> InputError:
        return InputError(f"line {line}: more than {limit:,} tokens ({{max_tokens}}) by this sample "
                          f"({len(part):,} characters)", path, line=line, param="max_tokens",
                          hint="raise {max_tokens}, or split the input into smaller files")

    if level == "char":
        if len(part) > room:  # one token per character: known before any list is built
            raise refuse()
        return char_tokens(part, lower=lower)
    out: list[str] = []
    start = 0
    while start < len(part):
        stop = start + _CHUNK
        if stop < len(part):  # words never span whitespace, so the pieces tokenize as the whole
            space = _SPACE.search(part, stop)
            stop = space.start() if space else len(part)
        else:
            stop = len(part)
        out.extend(word_tokens(part[start:stop], lower=lower, strip_punct=strip_punct))
        if len(out) > room:
            raise refuse()
        start = stop
    return out


def build_vocab(counts: Counter, *, min_freq: int = 1, max_vocab: int | None = None) -> list[str]:
    """``<pad>``, ``<unk>``, then tokens by descending count, ties in code-point order.

    ``max_vocab`` counts the two specials; tokens below ``min_freq`` are left out (→ ``<unk>``).
    """
    ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)),
                    key=lambda t: (-counts[t], t))
    if max_vocab is not None:
        ranked = ranked[: max(0, max_vocab - 2)]
    return [PAD, UNK, *ranked]


def write_vocab(vocab: dict[str, Any], path: str | Path, *, force: bool = False, inputs=()) -> Path:
    """Write ``bundle.meta["vocab"]`` as JSON (read back with ``load_text(vocab=path)``)."""
    text = json.dumps(vocab, ensure_ascii=False, indent=1) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force, inputs=inputs)


def read_vocab(path: str | Path) -> dict[str, Any]:
    src = Path(path)
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
        assert data["level"] in LEVELS and isinstance(data["tokens"], list) and isinstance(data["lower"], bool)
        assert len(set(data["tokens"])) == len(data["tokens"])
    except FileNotFoundError:
        raise InputError("no such vocabulary file", src) from None
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise InputError("not a tensortool vocabulary (JSON with level, lower, tokens)", src,
                         hint="write one with {save_vocab}") from None
    return data


def load_text(paths: Sequence[str | Path] | str | Path, *, level: str = "word", charset: str = "corpus",
              lower: bool = True, strip_punct: bool = True, unit: str = "line", min_freq: int = 1,
              max_vocab: int | None = None, vocab: str | Path | dict | None = None, max_len: int | None = None,
              one_hot: bool = False, sparse: bool = False, max_bytes: int = DEFAULT_MAX_BYTES,
              max_tokens: int = DEFAULT_MAX_TOKENS, encoding: str = "utf-8", errors: str = "strict",
              on_plan: Callable[[str], None] | None = None) -> Bundle:
    """Text → ``tokens`` (int64 N×L, padded with 0 = ``<pad>``), ``lengths`` (N) and ``mask`` (bool N×L).

    ``one_hot`` adds a dense ``onehot`` (float32 N×L×V), refused above ``max_bytes``; ``sparse``
    adds it as a sparse COO tensor instead. Inputs of more than ``max_tokens`` tokens, and padded
    ``tokens`` + ``mask`` (9 bytes per N×L cell) above ``max_bytes``, are refused before the memory
    is taken (an ``InputError`` naming the file and line). ``on_plan`` hears the one-hot size before any allocation.

    >>> b = load_text("samples/text/pride-and-prejudice-ch1.txt", unit="paragraph")  # doctest: +SKIP
    >>> b["tokens"].shape, b.meta["vocab"]["tokens"][:4]  # doctest: +SKIP
    (torch.Size([37, 79]), ['<pad>', '<unk>', 'you', 'of'])
    """
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    _check_options(files, level=level, unit=unit, charset=charset, errors=errors, max_tokens=max_tokens,
                   max_bytes=max_bytes, max_len=max_len, min_freq=min_freq, max_vocab=max_vocab, one_hot=one_hot,
                   sparse=sparse)
    given = vocab if isinstance(vocab, dict) or vocab is None else read_vocab(vocab)
    if given is not None:  # the vocabulary fixes how text is tokenized
        if given["level"] != level:
            raise OptionError(f"the vocabulary is for {{level={given['level']}}}, not {level}", param="level")
        lower, strip_punct, charset = given["lower"], given.get("strip_punct", strip_punct), given.get("charset", charset)
    samples, sources, lines = _read_samples(files, level=level, lower=lower, strip_punct=strip_punct, unit=unit,
                                            max_tokens=max_tokens, encoding=encoding, errors=errors)
    ascii_chars = level == "char" and charset == "ascii"
    if ascii_chars:  # the tutorial's: index = code point, non-ASCII → 0, as in `ord(c) if ord(c) < 128 else 0`
        vocab_tokens = [chr(i) for i in range(128)]
        index = {t: i for i, t in enumerate(vocab_tokens)}
        unk, pad_name = 0, "\x00"
    else:
        vocab_tokens = given["tokens"] if given else build_vocab(Counter(t for s in samples for t in s),
                                                                 min_freq=min_freq, max_vocab=max_vocab)
        index = {t: i for i, t in enumerate(vocab_tokens)}
        unk, pad_name = index.get(UNK, 1), PAD

    lengths = [min(len(s), max_len) if max_len else len(s) for s in samples]
    n, width, size = len(samples), max(lengths), len(vocab_tokens)
    onehot_bytes = n * width * size * 4
    _check_sizes(lengths, size, lines, sources, one_hot=one_hot, max_bytes=max_bytes, on_plan=on_plan)
    out, unknown = _index_tensors(samples, lengths, index, unk)
    warnings = []
    if unknown:
        what = "non-ASCII characters mapped to 0, as the tutorial does" if ascii_chars else f"tokens mapped to {UNK}"
        warnings.append(f"{unknown} {what}")
    if one_hot or sparse:
        out["onehot"] = _one_hot(out["tokens"], out["mask"], size, sparse=sparse, on_plan=on_plan)
    vocab_doc = {"level": level, "charset": charset if level == "char" else None, "lower": lower,
                 "strip_punct": strip_punct if level == "word" else None, "tokens": vocab_tokens,
                 "pad_index": 0, "unk_index": unk, "pad": pad_name,
                 "order": "code point" if ascii_chars else "<pad>, <unk>, then by count (descending), ties by code point"}
    meta = {"layout": "nl", "level": level, "unit": unit, "vocab_size": size, "samples": n, "max_len": max_len,
            "truncated": sum(1 for s, k in zip(samples, lengths) if len(s) > k), "unknown_tokens": unknown,
            "onehot_bytes": onehot_bytes if (one_hot or sparse) else None, "files": [str(f) for f in files],
            "vocab_from": None if vocab is None or isinstance(vocab, dict) else str(vocab),
            "warnings": warnings, "tensortool_version": __version__, "vocab": vocab_doc}
    return Bundle(out, meta, "tokens")


def _check_options(files: list[Path], *, level: str, unit: str, charset: str, errors: str, max_tokens: int,
                   max_bytes: int, max_len: int | None, min_freq: int, max_vocab: int | None, one_hot: bool,
                   sparse: bool) -> None:
    if not files:
        raise OptionError("no input files")
    for name, value, choices in (("level", level, LEVELS), ("unit", unit, UNITS), ("charset", charset, CHARSETS),
                                 ("errors", errors, ("strict", "replace"))):
        if value not in choices:
            raise OptionError(f"{{{name}}} {q(value)}: choose one of {', '.join(choices)}", param=name, allowed=choices)
    if max_tokens < 1 or max_bytes < 1:
        raise OptionError("{max_tokens} and {max_bytes} must be ≥ 1", param="max_tokens" if max_tokens < 1 else "max_bytes")
    if max_len is not None and max_len < 1 or min_freq < 1 or max_vocab is not None and max_vocab < 3:
        raise UsageError("{max_len} and {min_freq} must be ≥ 1, {max_vocab} ≥ 3 (two specials and a token)")
    if one_hot and sparse:
        raise UsageError("{one_hot} and {sparse}: choose one (dense or sparse one-hot)", param="sparse")


def _read_samples(files: list[Path], *, level: str, lower: bool, strip_punct: bool, unit: str, max_tokens: int,
                  encoding: str, errors: str) -> tuple[list[list[str]], list[str], list[int]]:
    """Each sample's tokens, file and first line; at most ``max_tokens`` tokens in all."""
    samples: list[list[str]] = []
    sources: list[str] = []
    lines: list[int] = []
    total = 0
    for path in files:
        for line, part in _units_with_lines(read_text(path, encoding=encoding, errors=errors), unit):
            tokens = _sample_tokens(part, level=level, lower=lower, strip_punct=strip_punct, room=max_tokens - total,
                                    path=path, line=line, limit=max_tokens)
            if tokens:  # a line of only punctuation has no tokens: not a sample
                samples.append(tokens)
                sources.append(str(path))
                lines.append(line)
                total += len(tokens)
    if not samples:
        raise InputError("no tokens in the input", files[0])
    return samples, sources, lines


def _check_sizes(lengths: list[int], size: int, lines: list[int], sources: list[str], *, one_hot: bool,
                 max_bytes: int, on_plan: Callable[[str], None] | None) -> None:
    """Refuse, before any allocation, a dense one-hot or padded tokens above ``max_bytes``."""
    n, width = len(lengths), max(lengths)
    onehot_bytes = n * width * size * 4
    if one_hot:  # said (and checked) first: it is the larger
        plan = f"dense one-hot {n}×{width}×{size} float32 = {_human(onehot_bytes)}"
        if on_plan:
            on_plan(plan)
        if onehot_bytes > max_bytes:
            raise OptionError(f"{plan}, above {{max_bytes}} {_human(max_bytes)}; the index form 'tokens' "
                              f"({_human(n * width * 8)}) with nn.Embedding({size}, dim) holds the same information",
                              hint="drop {one_hot}, use {sparse=True}, raise {max_bytes}, or shorten with {max_len}", param="max_bytes")
    if n * width * 9 > max_bytes:  # every sample is padded to the longest: int64 tokens + bool mask
        longest = lengths.index(width)
        raise InputError(f"line {lines[longest]}: padding {n:,} samples to this one's {width:,} tokens takes "
                         f"{_human(n * width * 9)}, above {{max_bytes}} {_human(max_bytes)}", sources[longest],
                         hint="shorten with {max_len}, or raise {max_bytes}", line=lines[longest], param="max_bytes")


def _index_tensors(samples: list[list[str]], lengths: list[int], index: dict[str, int],
                   unk: int) -> tuple[dict[str, torch.Tensor], int]:
    """``tokens``, ``lengths`` and ``mask``; and how many tokens were not in the vocabulary."""
    width = max(lengths)
    tokens = torch.zeros(len(samples), width, dtype=torch.int64)
    unknown = 0
    for i, (sample, length) in enumerate(zip(samples, lengths)):
        ids = [index.get(t, unk) for t in sample[:length]]
        unknown += sum(1 for t in sample[:length] if t not in index)
        tokens[i, :length] = torch.tensor(ids, dtype=torch.int64)
    length_t = torch.tensor(lengths, dtype=torch.int64)
    mask = torch.arange(width).unsqueeze(0) < length_t.unsqueeze(1)
    return {"tokens": tokens, "lengths": length_t, "mask": mask}, unknown


def _one_hot(tokens: torch.Tensor, mask: torch.Tensor, size: int, *, sparse: bool,
             on_plan: Callable[[str], None] | None) -> torch.Tensor:
    n, width = tokens.shape
    if not sparse:
        dense = torch.zeros(n, width, size, dtype=torch.float32)
        dense.scatter_(2, tokens.unsqueeze(2), 1.0)
        dense.mul_(mask.unsqueeze(2))  # padding positions are all-zero rows
        return dense
    where = mask.nonzero()
    indices = torch.cat([where.t(), tokens[mask].unsqueeze(0)], dim=0)
    if on_plan:
        on_plan(f"sparse one-hot {n}×{width}×{size}: {indices.shape[1]} non-zeros "
                f"({_human(indices.shape[1] * (3 * 8 + 4))}; dense would be {_human(n * width * size * 4)})")
    return torch.sparse_coo_tensor(indices, torch.ones(indices.shape[1]), (n, width, size),
                                   is_coalesced=True, check_invariants=True)


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
