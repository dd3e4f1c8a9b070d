"""Delimited tables (CSV, TSV, semicolon files) into ``features`` and ``target`` tensors.

Parsing is pyarrow's multithreaded C++ reader (``read``); everything fitted on the data
(categories, class mapping, normalization statistics, fill values) goes into one state dict, which
``state`` applies to another file unchanged (``state``). ``columns`` picks the columns' roles,
``build`` and ``fit`` make the matrix, ``period`` cuts time series.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..._version import __version__
from ...bundle import Bundle
from ...errors import InputError, OptionError, TensortoolError, UsageError, q
from .build import FEATURE_DTYPES, Cells, feature_matrix, fit_features, read_cells, rows_to_keep
from .columns import roles as column_roles
from .constants import MISSING, NORMALIZE
from .fit import fit_target
from .open import DEFAULT_MAX_BYTES, WHITESPACE, opened
from .period import by_period
from .read import Dialect, check_source, sniff, sniff_delimiter
from .state import FORMAT, read_state

__all__ = ["FEATURE_DTYPES", "MISSING", "NORMALIZE", "load_csv"]


def _choice(param: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise UsageError(f"{{{param}}} {q(value)}: choose one of {', '.join(allowed)}", param=param, allowed=allowed)


def _at_least(param: str, value: int | None, minimum: int) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{{{param}}} must be at least {minimum}" if minimum else f"{{{param}}} must be 0 or more",
                         param=param)


def _check_reading(dtype: str, unknown: str, layout: str, period: int | None, skip_rows: int,
                   comment: str | None, max_bytes: int, time_col, pad: bool) -> None:
    _choice("dtype", dtype, tuple(FEATURE_DTYPES))
    _choice("unknown", unknown, ("error", "ignore"))
    _choice("layout", layout, ("nfp", "npf"))
    _at_least("period", period, 1)
    _at_least("skip_rows", skip_rows, 0)
    if comment is not None and (not comment or comment.strip() != comment or '"' in comment):
        raise UsageError(f"{{comment}} {q(comment)}: give the text comment lines start with, e.g. '#'", param="comment")
    _at_least("max_bytes", max_bytes, 1)
    if (time_col is not None or pad) and period is None:
        raise UsageError("{time_col} and {pad} need {period}", param="period")


def _check_plan(plan: dict, one_hot: bool) -> None:
    _choice("normalize", plan["normalize"], NORMALIZE)
    _choice("missing", plan["missing"], MISSING)
    if plan["target_kind"] not in (None, "class", "regression"):
        raise UsageError(f"{{target_kind}} {q(plan['target_kind'])}: choose one of class, regression",
                         param="target_kind", allowed=("class", "regression"))
    num_classes = plan["num_classes"]
    if num_classes is not None and (num_classes < 1 or plan["target_kind"] == "regression"):
        raise UsageError("{num_classes} needs a class target and K ≥ 1", param="num_classes")
    if plan["columns"] is not None and plan["drop"]:
        raise UsageError("{columns} and {drop}: give one ({columns} keeps only the columns it names)", param="drop")
    if (one_hot or num_classes is not None) and plan["target"] is None:
        raise UsageError("{one_hot} and {num_classes} need {target}", param="target")


def _check_state_conflicts(**given: Any) -> None:
    named = [name for name, value in given.items() if value not in (None, (), [], False)]
    if named:
        raise UsageError(f"{{state}} fixes the columns and everything fitted; do not also give "
                         f"{', '.join('{' + n + '}' for n in named)}", param="state")


def load_csv(path: str | Path, *, target: str | int | None = None, drop: Sequence[str | int] = (),
             columns: Sequence[str | int] | None = None, categorical: Sequence[str | int] = (),
             target_kind: str | None = None, num_classes: int | None = None, one_hot: bool = False,
             normalize: str | None = None, unbiased: bool = False, na: Sequence[str] = (),
             missing: str | None = None, skip_bad: bool = False, state: str | Path | dict | None = None,
             unknown: str = "error", period: int | None = None, layout: str = "nfp",
             time_col: str | int | None = None, pad: bool = False, delimiter: str | None = None,
             header: bool | None = None, encoding: str = "utf-8", dtype: str | None = None,
             skip_rows: int = 0, comment: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Bundle:
    """Load a delimited table: numeric columns → ``features`` (N×F), ``target`` → ``target``.

    Class targets are int64 indices into the sorted distinct labels (``meta["target_classes"]``);
    ``categorical`` columns are one-hot encoded in place; everything fitted is in ``meta["state"]``.

    gzip, bzip2, xz and zip files are decompressed (at most ``max_bytes``); ``skip_rows`` lines
    at the top and lines starting with ``comment`` are left out (errors still count them);
    ``delimiter=" "`` (also sniffed) splits on runs of spaces and tabs.

    >>> b = load_csv("samples/tables/winequality-sample.csv", target="quality", normalize="zscore")  # doctest: +SKIP
    >>> b["features"].shape, b.meta["target_classes"]  # doctest: +SKIP
    (torch.Size([300, 11]), [3, 4, 5, 6, 7, 8])
    """
    src = Path(path)
    if dtype is None:  # a state's own dtype, else float32
        dtype = read_state(state)["dtype"] if isinstance(state, (str, Path)) else (state or {}).get("dtype", "float32")
    _check_reading(dtype, unknown, layout, period, skip_rows, comment, max_bytes, time_col, pad)
    reading = {"skip_rows": skip_rows, "comment": comment, "max_bytes": max_bytes}
    shaping = dict(one_hot=one_hot, skip_bad=skip_bad, unknown=unknown, period=period, layout=layout,
                   time_col=time_col, pad=pad, delimiter=delimiter, header=header, encoding=encoding, dtype=dtype)
    if state is not None:
        _check_state_conflicts(drop=tuple(drop), columns=columns, categorical=tuple(categorical),
                               target_kind=target_kind, num_classes=num_classes, normalize=normalize,
                               na=tuple(na), missing=missing, unbiased=unbiased)
        fitted = state if isinstance(state, dict) else read_state(state)
        saved_target = (fitted["target"] or {}).get("name")
        if target is not None and str(target) != saved_target:
            raise OptionError(f"{{target}} {target}: the state's target is {q(saved_target)}; leave {{target}} out",
                              param="target")
        with _read_errors(src):
            return _open_and_load(src, reading, fitted, None, **shaping,
                                  state_path=None if isinstance(state, dict) else str(state))
    plan = {"target": target, "drop": list(drop), "columns": None if columns is None else list(columns),
            "categorical": list(categorical), "target_kind": target_kind, "num_classes": num_classes,
            "normalize": normalize or "none", "ddof": 1 if unbiased else 0, "na": list(na),
            "missing": missing or "error", "dtype": dtype}
    _check_plan(plan, one_hot)
    with _read_errors(src):
        return _open_and_load(src, reading, None, plan, **shaping, state_path=None)


@contextmanager
def _read_errors(src: Path) -> Iterator[None]:
    """What pyarrow raises on a file it cannot take, and running out of memory, as one line naming the file."""
    try:
        yield
    except MemoryError:
        raise InputError("not enough memory to load this table", src,
                         hint="select fewer columns with {columns}, or split the file") from None
    except Exception as exc:
        if not type(exc).__module__.startswith("pyarrow"):
            raise
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot read: {text}", src) from None


def _open_and_load(src: Path, reading: dict, fitted: dict | None, plan: dict | None, *, delimiter: str | None,
                   encoding: str, **rest: Any) -> Bundle:
    """Decompress / take out skipped and comment lines first when needed (see ``open``)."""
    check_source(src, encoding)
    data = src
    try:
        with opened(src, skip_rows=reading["skip_rows"], comment=reading["comment"], encoding=encoding,
                    max_bytes=reading["max_bytes"]) as first:
            data = first.path
            sep = delimiter or sniff_delimiter(first.path, encoding)
            if sep != WHITESPACE:
                return _load(src, first.path, first.removed, fitted, plan, delimiter=sep, encoding=encoding, **rest)
        with opened(src, skip_rows=reading["skip_rows"], comment=reading["comment"], encoding=encoding,
                    max_bytes=reading["max_bytes"], whitespace=True) as ready:
            data = ready.path
            return _load(src, ready.path, ready.removed, fitted, plan, delimiter=sep, encoding=encoding, **rest)
    except TensortoolError as exc:
        if data != src and exc.path == str(data):  # name the user's file, not the temporary copy
            exc.path = str(src)
        raise


def _load(src: Path, data: Path, removed: tuple[int, ...], fitted: dict | None, plan: dict | None, *,
          one_hot: bool, skip_bad: bool, unknown: str, period: int | None, layout: str, time_col, pad: bool,
          delimiter: str | None, header: bool | None, encoding: str, dtype: str, state_path: str | None) -> Bundle:
    settings = fitted if fitted is not None else plan
    assert settings is not None
    dialect = sniff(data, delimiter=delimiter, header=header, encoding=encoding, removed=removed)
    roles = column_roles(src, dialect, fitted, plan, time_col)
    cells = read_cells(src, data, dialect, roles, settings, fitted, dtype, skip_bad)
    keep, any_null = rows_to_keep(cells, src, data, dialect, roles, settings, skip_bad)
    assert cells.bad is not None
    warnings: list[str] = []
    if cells.bad.any():
        warnings.append(f"skipped {int(cells.bad.sum())} row(s) with a cell that is not a number ({{skip_bad}})")
    if cells.skipped_rows:
        warnings.append(f"skipped {len(cells.skipped_rows)} row(s) with the wrong number of fields ({{skip_bad}})")
    if not keep.any():
        raise InputError("no rows left to load", src)

    entries, one_hots = fit_features(cells, keep, roles, settings, fitted, unknown, src, data, dialect, warnings)
    features, names = feature_matrix(cells, keep, entries, one_hots, settings["normalize"], dtype)
    state = _new_state(settings, entries, names, dtype, dialect)
    tensors: dict[str, Any] = {"features": features}
    meta: dict[str, Any] = {"layout": "nc", "columns": names}
    if roles["target"]:
        assert cells.target_values is not None
        tgt, tmeta, state["target"] = fit_target(cells.target_values[keep], roles["target"], settings, fitted,
                                                 one_hot, data, dialect, FEATURE_DTYPES[dtype])
        tensors.update(tgt)
        meta.update(tmeta)
    elif fitted is not None and fitted["target"]:
        state["target"] = fitted["target"]
        warnings.append(f"no target column {fitted['target']['name']!r} in this file: features only")
    if period is not None:
        tensors, pmeta = by_period(tensors, cells.times[keep] if cells.times is not None else None, period, layout,
                                   pad, src, roles["time"])
        meta.update(pmeta)
    meta.update(_load_meta(src, dialect, cells, keep, any_null, settings, state, dtype))
    meta.update({"state_from": state_path, "warnings": warnings, "tensortool_version": __version__, "state": state})
    return Bundle(tensors, meta, "features")


def _new_state(settings: dict, entries: list[dict], names: list[str], dtype: str, dialect: Dialect) -> dict[str, Any]:
    return {"format": FORMAT, "version": 1, "features": entries, "feature_names": names,
            "target": None, "normalize": settings["normalize"], "ddof": settings["ddof"],
            "na": list(settings["na"]), "missing": settings["missing"], "dtype": dtype,
            "delimiter": dialect.delimiter, "header": dialect.header, "tensortool_version": __version__}


def _load_meta(src: Path, dialect: Dialect, cells: Cells, keep: np.ndarray, any_null: np.ndarray, settings: dict,
               state: dict, dtype: str) -> dict[str, Any]:
    """Where the rows came from, how many were used, and what was done to them."""
    assert cells.bad is not None
    normalize_meta = None
    if settings["normalize"] != "none":
        numeric_entries = [f for f in state["features"] if f["kind"] == "numeric"]
        normalize_meta = {"how": settings["normalize"],
                          "ddof": settings["ddof"] if settings["normalize"] == "zscore" else None,
                          "columns": [f["name"] for f in numeric_entries],
                          "center": [f["center"] for f in numeric_entries],
                          "scale": [f["scale"] for f in numeric_entries]}
    missing_cells = int(sum(m.sum() for _, m in [*cells.numeric.values(), *cells.text.values()]))
    return {
        "source": str(src), "delimiter": dialect.delimiter, "header": dialect.header, "encoding": dialect.encoding,
        "rows_read": cells.rows + len(cells.skipped_rows), "rows": int(keep.sum()), "dtype": dtype,
        "categorical": {f["name"]: f["categories"] for f in state["features"] if f["kind"] == "categorical"},
        "normalize": normalize_meta,
        "missing": {"policy": settings["missing"], "markers": ["", *settings["na"]], "cells": missing_cells,
                    "rows_dropped": int((~keep & ~cells.bad).sum())},
        "skipped_rows": int(cells.bad.sum()) + len(cells.skipped_rows),
    }
