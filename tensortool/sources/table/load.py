"""Delimited tables (CSV, TSV, semicolon files) into ``features`` and ``target`` tensors.

Parsing is pyarrow's multithreaded C++ reader (``table_read``); everything fitted on the
data (categories, class mapping, normalization statistics, fill values) goes into one state
dict, which ``--state`` applies to another file unchanged (``table_state``).
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..._version import __version__
from ...bundle import Bundle
from ...errors import InputError, OptionError, TensortoolError, UsageError
from ...shaping import one_hot as make_one_hot, scale_columns
from .constants import FEATURE_DTYPE_NAMES, MISSING, NORMALIZE
from .fast import read_plain_numeric
from .open import DEFAULT_MAX_BYTES, WHITESPACE, opened
from .read import (Dialect, check_source, first_problem, is_number, line_of, read_table, sniff,
                         sniff_delimiter)
from .state import FORMAT, read_state

FEATURE_DTYPES = {name: getattr(torch, name) for name in FEATURE_DTYPE_NAMES}
AUTO_CLASS_MAX = 20  # an integer target with at most this many distinct values is a class label
IGNORE_INDEX = -100  # padded class targets: the default ignore_index of nn.CrossEntropyLoss


def _resolve(spec: str | int, names: Sequence[str], path: Path, option: str) -> str:
    """A column by name, or by 0-based index when no column has that name."""
    text = str(spec)
    if text in names:
        return text
    if text.lstrip("-").isdigit():
        i = int(text)
        if -len(names) <= i < len(names):
            return names[i]
        raise OptionError(f"{option} {text}: the file has {len(names)} columns (0..{len(names) - 1})", path)
    shown = ", ".join(map(_shown, names[:12])) + (", …" if len(names) > 12 else "")
    raise OptionError(f"{option} {text!r}: no such column; the columns are {shown}", path)


def _shown(value: Any) -> str:
    """A cell or name for a one-line message: as it is, or quoted and escaped when not printable."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def _sort_key(value: str) -> tuple:
    return (0, float(value), value) if is_number(value) else (1, 0.0, value)


def _json_value(value: Any) -> Any:
    """Class labels for JSON: integer-valued floats as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _null_mask(col) -> np.ndarray:
    return col.is_null().to_numpy(zero_copy_only=False) if col.null_count else np.zeros(len(col), bool)


def _numeric(col) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(col.type) or pa.types.is_floating(col.type)


def _floats(col) -> np.ndarray:
    import pyarrow as pa

    if col.null_count:
        import pyarrow.compute as pc  # only here: importing it costs ~0.1 s

        col = pc.fill_null(col, 0)
    if not pa.types.is_floating(col.type) or pa.types.is_float16(col.type):
        col = col.cast(pa.float64(), safe=False)  # integers past 2^53: the nearest double, as a float parse gives
    return col.to_numpy()


def _strings(col) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        col = pc.fill_null(col.cast(pa.string()), "")
    return np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def _parse_text_numbers(values: np.ndarray, nulls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and a mask of cells that are not numbers (missing cells are not 'bad')."""
    out = np.zeros(len(values))
    bad = np.zeros(len(values), bool)
    for i, text in enumerate(values):
        if nulls[i]:
            continue
        try:
            out[i] = float(text)
        except ValueError:
            bad[i] = True
    return out, bad


def _check_state_conflicts(**given: Any) -> None:
    named = [name for name, value in given.items() if value not in (None, (), [], False)]
    if named:
        raise UsageError(f"--state fixes the columns and everything fitted; do not also give "
                          f"{', '.join('--' + n.replace('_', '-') for n in named)}")


def load_csv(path: str | Path, *, target: str | int | None = None, drop: Sequence[str | int] = (),
             columns: Sequence[str | int] | None = None, categorical: Sequence[str | int] = (),
             target_kind: str | None = None, num_classes: int | None = None, one_hot: bool = False,
             normalize: str | None = None, unbiased: bool = False, na: Sequence[str] = (),
             missing: str | None = None, skip_bad: bool = False, state: str | Path | dict | None = None,
             unknown: str = "error", period: int | None = None, layout: str = "nfp",
             time_col: str | int | None = None, pad: bool = False, delimiter: str | None = None,
             header: bool | None = None, encoding: str = "utf-8", dtype: str | None = None,
             skip_rows: int = 0, comment: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Bundle:
    """Load a delimited table: numeric columns → ``features`` (N×F), ``--target`` → ``target``.

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
    if dtype not in FEATURE_DTYPES:
        raise UsageError(f"--dtype {dtype!r}: choose one of {', '.join(FEATURE_DTYPES)}")
    if unknown not in ("error", "ignore"):
        raise UsageError(f"--unknown {unknown!r}: choose error or ignore")
    if layout not in ("nfp", "npf"):
        raise UsageError(f"--layout {layout!r}: choose nfp or npf")
    if period is not None and period < 1:
        raise UsageError("--period must be at least 1")
    if skip_rows < 0:
        raise UsageError("--skip-rows must be 0 or more")
    if comment is not None and (not comment or comment.strip() != comment or '"' in comment):
        raise UsageError(f"--comment {comment!r}: give the text comment lines start with, e.g. '#'")
    if max_bytes < 1:
        raise UsageError("--max-bytes must be at least 1")
    reading = {"skip_rows": skip_rows, "comment": comment, "max_bytes": max_bytes}
    if (time_col is not None or pad) and period is None:
        raise UsageError("--time-col and --pad need --period")
    if state is not None:
        _check_state_conflicts(drop=tuple(drop), columns=columns, categorical=tuple(categorical),
                               target_kind=target_kind, num_classes=num_classes, normalize=normalize,
                               na=tuple(na), missing=missing, unbiased=unbiased)
        fitted = state if isinstance(state, dict) else read_state(state)
        saved_target = (fitted["target"] or {}).get("name")
        if target is not None and str(target) != saved_target:
            raise OptionError(f"--target {target}: the state's target is {saved_target!r}; leave --target out")
        with _read_errors(src):
            return _open_and_load(src, reading, fitted, None, one_hot=one_hot, skip_bad=skip_bad, unknown=unknown,
                                  period=period, layout=layout, time_col=time_col, pad=pad, delimiter=delimiter,
                                  header=header, encoding=encoding, dtype=dtype,
                                  state_path=None if isinstance(state, dict) else str(state))
    normalize = normalize or "none"
    missing = missing or "error"
    if normalize not in NORMALIZE:
        raise UsageError(f"--normalize {normalize!r}: choose one of {', '.join(NORMALIZE)}")
    if missing not in MISSING:
        raise UsageError(f"--missing {missing!r}: choose one of {', '.join(MISSING)}")
    if target_kind not in (None, "class", "regression"):
        raise UsageError(f"--target-kind {target_kind!r}: choose class or regression")
    if num_classes is not None and (num_classes < 1 or target_kind == "regression"):
        raise UsageError("--num-classes needs a class target and K ≥ 1")
    if columns is not None and tuple(drop):
        raise UsageError("--columns and --drop: give one (--columns keeps only the columns it names)")
    if (one_hot or num_classes is not None) and target is None:
        raise UsageError("--one-hot and --num-classes need --target")
    plan = {"target": target, "drop": list(drop), "columns": None if columns is None else list(columns),
            "categorical": list(categorical), "target_kind": target_kind, "num_classes": num_classes,
            "normalize": normalize, "ddof": 1 if unbiased else 0, "na": list(na), "missing": missing,
            "dtype": dtype}
    with _read_errors(src):
        return _open_and_load(src, reading, None, plan, one_hot=one_hot, skip_bad=skip_bad, unknown=unknown,
                              period=period, layout=layout, time_col=time_col, pad=pad, delimiter=delimiter,
                              header=header, encoding=encoding, dtype=dtype, state_path=None)


@contextmanager
def _read_errors(src: Path) -> Iterator[None]:
    """What pyarrow raises on a file it cannot take, and running out of memory, as one line naming the file."""
    try:
        yield
    except MemoryError:
        raise InputError("not enough memory to load this table", src,
                         hint="select fewer columns with --columns, or split the file") from None
    except Exception as exc:
        if not type(exc).__module__.startswith("pyarrow"):
            raise
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot read: {text}", src) from None


def _open_and_load(src: Path, reading: dict, fitted: dict | None, plan: dict | None, *, delimiter: str | None,
                   encoding: str, **rest: Any) -> Bundle:
    """Decompress / take out skipped and comment lines first when needed (see ``table_open``)."""
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


def _roles(src: Path, dialect: Dialect, fitted: dict | None, plan: dict | None, time_col) -> dict[str, Any]:
    names = dialect.names
    time = None if time_col is None else _resolve(time_col, names, src, "--time-col")
    if fitted is not None:
        features = [f["name"] for f in fitted["features"]]
        for name in features:
            if name not in names:
                raise InputError(f"column {name!r} of the saved state is not in this file", src,
                                 hint="the state needs every training column, by name")
        tgt = fitted["target"]["name"] if fitted["target"] and fitted["target"]["name"] in names else None
        categorical = [f["name"] for f in fitted["features"] if f["kind"] == "categorical"]
        return {"features": features, "target": tgt, "time": time, "categorical": categorical, "auto": False}
    target = None if plan["target"] is None else _resolve(plan["target"], names, src, "--target")
    dropped = {_resolve(c, names, src, "--drop") for c in plan["drop"]}
    if plan["columns"] is not None:
        features = list(dict.fromkeys(_resolve(c, names, src, "--columns") for c in plan["columns"]))
    else:
        features = [n for n in names if n not in dropped and n != target and n != time]
    for name in features:
        if name == target or name == time:
            raise OptionError(f"column {name!r} cannot be both a feature and the {'target' if name == target else 'time column'}", src)
    auto = [c for c in plan["categorical"] if str(c).lower() == "auto"]
    categorical = [_resolve(c, names, src, "--categorical") for c in plan["categorical"] if str(c).lower() != "auto"]
    for name in categorical:
        if name not in features:
            raise OptionError(f"--categorical {name!r} is not among the feature columns", src)
    if not features:
        raise OptionError("no feature columns left", src)
    return {"features": features, "target": target, "time": time, "categorical": categorical, "auto": bool(auto)}


def _load(src: Path, data: Path, removed: tuple[int, ...], fitted: dict | None, plan: dict | None, *, one_hot: bool, skip_bad: bool, unknown: str,
          period: int | None, layout: str, time_col, pad: bool, delimiter: str | None, header: bool | None,
          encoding: str, dtype: str, state_path: str | None) -> Bundle:
    settings = fitted if fitted is not None else plan
    assert settings is not None
    dialect = sniff(data, delimiter=delimiter, header=header, encoding=encoding, removed=removed)
    roles = _roles(src, dialect, fitted, plan, time_col)
    nulls_text = ["", *settings["na"]]
    wanted = [*roles["features"], *([roles["target"]] if roles["target"] else []), *([roles["time"]] if roles["time"] else [])]
    # Numeric features are parsed straight to float (no type inference): float32 when that is the
    # output and nothing is fitted on them, else float64. A text cell makes pyarrow fall back to inference.
    parse32 = dtype != "float64" and settings["normalize"] == "none"
    numbers = [name for name in roles["features"] if name not in roles["categorical"]]
    # A plain numeric file goes to our parser (other columns as float64); a time column needs
    # pyarrow's types, and anything the parser refuses goes to pyarrow too.
    table, skipped_rows = None, []
    if not roles["categorical"] and roles["time"] is None:
        table = read_plain_numeric(data, dialect, columns=wanted, missing=nulls_text,
                                   float32=numbers if parse32 else ())
    if table is None:
        table, skipped_rows = read_table(data, dialect, columns=wanted, text_columns=roles["categorical"],
                                         number_columns=numbers, float32=parse32, missing=nulls_text,
                                         skip_bad=skip_bad)
    n = table.num_rows
    warnings: list[str] = []
    bad = np.zeros(n, bool)
    numeric: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (values, missing)
    text: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    categorical = list(roles["categorical"])
    for name in roles["features"]:
        col = table.column(name)
        nulls = _null_mask(col)
        if name in categorical:
            text[name] = (_strings(col), nulls)
        elif _numeric(col):
            numeric[name] = (_floats(col), nulls)
        elif roles["auto"] and fitted is None:
            categorical.append(name)
            text[name] = (_strings(col), nulls)
        else:
            values = _strings(col)
            parsed, not_number = _parse_text_numbers(values, nulls)
            filled = (~nulls).sum()
            if not_number.sum() * 2 > max(filled, 1):  # mostly text: a text column, not bad cells
                sample = values[np.flatnonzero(not_number)[0]] if not_number.any() else ""
                split = str(sample).split()
                hint = ("the columns seem to be separated by spaces: give --delimiter ' '"
                        if len(split) > 1 and all(is_number(c) for c in split) else
                        f"one-hot it with --categorical {name} (or --categorical auto), "
                        f"or leave it out with --drop {name}")
                raise InputError(f"column {name!r} is not numeric (e.g. {sample!r})", src, hint=hint)
            if not skip_bad:
                problem = first_problem(data, dialect, numeric=[name], missing=nulls_text, check_missing=False, skip_ragged=skip_bad)
                if problem is not None:
                    raise problem.error(src, hint=f"if {problem.raw!r} means missing, add --na {problem.raw!r} "
                                                  "and choose --missing; --skip-bad skips such rows")
            bad |= not_number
            numeric[name] = (parsed, nulls)
    target_values = target_nulls = None
    if roles["target"]:
        col = table.column(roles["target"])
        target_nulls = _null_mask(col)
        target_values = _floats(col) if _numeric(col) else _strings(col)
    times = None
    if roles["time"]:
        times = _times(table.column(roles["time"]), src, roles["time"])

    # Missing cells: an error with the line by default, or the chosen policy.
    any_null = np.zeros(n, bool)
    for _, nulls in [*numeric.values(), *text.values()]:
        any_null |= nulls
    policy = settings["missing"]
    if target_nulls is not None and target_nulls.any() and policy != "drop":
        problem = first_problem(data, dialect, present=[roles["target"]], missing=nulls_text, skip_ragged=skip_bad)
        raise (problem.error(src, hint="a missing target cannot be filled; --missing drop drops the row")
               if problem else InputError(f"the target {roles['target']!r} has missing values", src))
    if any_null.any() and policy == "error":
        problem = first_problem(data, dialect, numeric=list(numeric), present=list(text), missing=nulls_text, skip_ragged=skip_bad)
        hint = ("choose --missing drop|mean|median|zero" + ("" if settings["na"] else
                "; only empty cells count as missing unless --na names markers such as NA"))
        raise (problem.error(src, hint=hint) if problem else InputError("the table has missing cells", src, hint=hint))
    keep = ~bad
    if policy == "drop":
        keep &= ~any_null
        if target_nulls is not None:
            keep &= ~target_nulls
    dropped_missing = int((~keep & ~bad).sum())
    if bad.any():
        warnings.append(f"skipped {int(bad.sum())} row(s) with a cell that is not a number (--skip-bad)")
    if skipped_rows:
        warnings.append(f"skipped {len(skipped_rows)} row(s) with the wrong number of fields (--skip-bad)")
    rows_used = int(keep.sum())
    if rows_used == 0:
        raise InputError("no rows left to load", src)

    # Fit (or take from the state) and build the feature matrix, column by column.
    new_state: dict[str, Any] = {"format": FORMAT, "version": 1, "features": [], "feature_names": [],
                                 "target": None, "normalize": settings["normalize"], "ddof": settings["ddof"],
                                 "na": list(settings["na"]), "missing": policy, "dtype": dtype,
                                 "delimiter": dialect.delimiter, "header": dialect.header,
                                 "tensortool_version": __version__}
    saved = {f["name"]: f for f in fitted["features"]} if fitted else {}
    entries, one_hots = [], {}
    for name in roles["features"]:
        if name in numeric:
            values, nulls = numeric[name]
            entries.append(saved.get(name) or _fit_numeric(values[keep], nulls[keep], settings, name, src))
        else:
            values, nulls = text[name]
            values, nulls = values[keep], nulls[keep]
            entry = saved.get(name) or {"name": name, "kind": "categorical",
                                        "categories": sorted({v for v, m in zip(values, nulls) if not m}, key=_sort_key)}
            one_hots[name] = _category_codes(values, nulls, entry, unknown, data, dialect, warnings)
            entries.append(entry)
    # One preallocated matrix, written column by column: no per-column tensors to concatenate.
    out_dtype = FEATURE_DTYPES[dtype]
    work = np.float64 if settings["normalize"] != "none" or out_dtype == torch.float64 else np.float32
    widths = [1 if e["kind"] == "numeric" else len(e["categories"]) for e in entries]
    all_rows = bool(keep.all())
    matrix = np.empty((rows_used, sum(widths)), dtype=work)
    j = 0
    for entry, width in zip(entries, widths):
        name = entry["name"]
        if entry["kind"] == "numeric":
            values, nulls = numeric[name]
            column = values if all_rows else values[keep]
            matrix[:, j] = column
            nulls = nulls if all_rows else nulls[keep]
            if nulls.any():
                matrix[nulls, j] = entry["fill"]
            new_state["feature_names"].append(name)
        else:
            codes = one_hots[name]
            block = matrix[:, j:j + width]
            block[:] = 0
            rows = np.flatnonzero(codes >= 0)
            block[rows, codes[rows]] = 1
            new_state["feature_names"].extend(f"{name}={c}" for c in entry["categories"])
        new_state["features"].append(entry)
        j += width
    features = torch.from_numpy(matrix)
    if settings["normalize"] != "none":  # numeric columns only; one-hot columns keep 0/1
        center = torch.tensor([v for e, w in zip(entries, widths) for v in ([e["center"]] if e["kind"] == "numeric" else [0.0] * w)], dtype=torch.float64)
        scale = torch.tensor([v for e, w in zip(entries, widths) for v in ([e["scale"]] if e["kind"] == "numeric" else [1.0] * w)], dtype=torch.float64)
        scale_columns(features, center, scale)
    if features.dtype != out_dtype:
        features = features.to(out_dtype)

    tensors: dict[str, torch.Tensor] = {"features": features}
    meta: dict[str, Any] = {"layout": "nc", "columns": new_state["feature_names"]}
    if roles["target"]:
        tgt, tmeta, tstate = _target(target_values[keep], roles["target"], settings, fitted, one_hot, data, dialect,
                                     FEATURE_DTYPES[dtype])
        tensors.update(tgt)
        meta.update(tmeta)
        new_state["target"] = tstate
    elif fitted is not None and fitted["target"]:
        new_state["target"] = fitted["target"]
        warnings.append(f"no target column {fitted['target']['name']!r} in this file: features only")

    if period is not None:
        tensors, pmeta = _by_period(tensors, times[keep] if times is not None else None, period, layout, pad, src,
                                    roles["time"])
        meta.update(pmeta)
    normalize_meta = None
    if settings["normalize"] != "none":
        numeric_entries = [f for f in new_state["features"] if f["kind"] == "numeric"]
        normalize_meta = {"how": settings["normalize"], "ddof": settings["ddof"] if settings["normalize"] == "zscore" else None,
                          "columns": [f["name"] for f in numeric_entries],
                          "center": [f["center"] for f in numeric_entries], "scale": [f["scale"] for f in numeric_entries]}
    meta.update({
        "source": str(src), "delimiter": dialect.delimiter, "header": dialect.header, "encoding": dialect.encoding,
        "rows_read": n + len(skipped_rows), "rows": rows_used, "dtype": dtype,
        "categorical": {f["name"]: f["categories"] for f in new_state["features"] if f["kind"] == "categorical"},
        "normalize": normalize_meta, "missing": {"policy": policy, "markers": nulls_text,
                                                 "cells": int(sum(m.sum() for _, m in [*numeric.values(), *text.values()])),
                                                 "rows_dropped": dropped_missing},
        "skipped_rows": int(bad.sum()) + len(skipped_rows),
        "state_from": state_path, "warnings": warnings, "tensortool_version": __version__,
        "state": new_state,
    })
    return Bundle(tensors, meta, "features")


def _fit_numeric(values: np.ndarray, nulls: np.ndarray, settings: dict, name: str, src: Path) -> dict[str, Any]:
    """Statistics of the present cells only (missing ones are ignored), in float64."""
    entry: dict[str, Any] = {"name": name, "kind": "numeric", "fill": None, "center": None, "scale": None}
    fill = settings["missing"]
    if fill not in ("mean", "median", "zero") and settings["normalize"] == "none":
        return entry  # nothing to fit: the fast path stays a plain copy
    present = values[~nulls].astype(np.float64)
    if present.size == 0:
        raise InputError(f"column {name!r} has no values", src)
    if fill in ("mean", "median", "zero"):
        entry["fill"] = {"mean": float(present.mean()), "median": float(np.median(present)), "zero": 0.0}[fill]
    if settings["normalize"] == "zscore":
        entry["center"], entry["scale"] = float(present.mean()), float(present.std(ddof=settings["ddof"]))
    elif settings["normalize"] == "minmax":
        entry["center"], entry["scale"] = float(present.min()), float(present.max() - present.min())
    if not np.isfinite(present).all():
        raise InputError(f"column {name!r} holds infinite or NaN numbers", src)
    return entry


def _category_codes(values: np.ndarray, nulls: np.ndarray, entry: dict, unknown: str, src: Path,
                    dialect: Dialect, warnings: list[str]) -> np.ndarray:
    """Index of each cell's category; -1 (an all-zero one-hot row) for missing and ignored unseen ones."""
    categories = entry["categories"]
    index = {c: i for i, c in enumerate(categories)}
    # As Python strings: numpy's fixed-width ones would drop trailing NULs and merge cells.
    uniques, inverse = np.unique(np.array([str(v) for v in values], dtype=object), return_inverse=True)
    codes = np.array([index.get(u, -1) for u in uniques], dtype=np.int64)[inverse.reshape(-1)]
    codes[nulls] = -1
    unseen = (codes < 0) & ~nulls
    if unseen.any():
        values_unseen = sorted({str(v) for v in values[unseen]})
        if unknown == "error":
            where = line_of(src, dialect, entry["name"], set(values_unseen))
            at = f"line {where.line}, " if where else ""
            raise InputError(f"{at}column {entry['name']!r}: category {values_unseen[0]!r} was not seen when the "
                             f"state was fitted (known: {', '.join(map(_shown, categories[:10]))})", src,
                             hint="--unknown ignore encodes unseen categories as all-zero rows")
        warnings.append(f"column {entry['name']!r}: {int(unseen.sum())} row(s) with unseen categories "
                        f"({', '.join(map(_shown, values_unseen[:5]))}) encoded as all-zero rows")
    return codes


def _target(values: np.ndarray, name: str, settings: dict, fitted: dict | None, one_hot: bool, src: Path,
            dialect: Dialect, dtype: torch.dtype) -> tuple[dict, dict, dict]:
    if values.dtype == object and len(values):
        # Read as text because of a row --skip-bad or --missing drop left out: labels 0/1/2 are numbers.
        as_numbers = _all_numbers(values)
        if as_numbers is not None:
            values = as_numbers
    numeric = values.dtype != object
    if fitted is not None:
        saved = fitted["target"]
        kind, reason, num_classes = saved["kind"], "from the state", saved.get("num_classes")
    else:
        kind, num_classes = settings["target_kind"], settings["num_classes"]
        distinct = np.unique(values) if numeric else None
        integer = numeric and bool(np.all(np.mod(values, 1) == 0))
        if kind is not None:
            reason = "given"
        elif num_classes is not None:
            kind, reason = "class", "--num-classes given"
        elif not numeric:
            kind, reason = "class", "auto: text labels"
        elif integer and len(distinct) <= AUTO_CLASS_MAX:
            kind, reason = "class", f"auto: integer values, {len(distinct)} distinct (≤ {AUTO_CLASS_MAX})"
        else:
            kind, reason = "regression", ("auto: non-integer values" if not integer else
                                          f"auto: {len(distinct)} distinct integer values (> {AUTO_CLASS_MAX})")
    meta: dict[str, Any] = {"target": name, "target_kind": kind, "target_kind_reason": reason}
    if kind == "regression":
        if not numeric:
            sample = next(v for v in values if not is_number(v))
            raise InputError(f"the regression target {name!r} holds text (e.g. {sample!r})", src)
        return {"target": torch.from_numpy(values).to(dtype)}, meta, {"name": name, "kind": "regression"}
    if num_classes is not None:
        if not numeric or not np.all(np.mod(values, 1) == 0):
            raise InputError(f"--num-classes needs integer labels in {name!r}", src)
        wrong = (values < 0) | (values >= num_classes)
        if wrong.any():
            label = values[np.flatnonzero(wrong)[0]]
            where = line_of(src, dialect, name, {str(_json_value(float(label))), str(label)})
            at = f"line {where.line}: " if where else ""
            raise InputError(f"{at}label {_json_value(float(label))} in {name!r} is outside 0..{num_classes - 1} "
                             f"(--num-classes {num_classes})", src,
                             hint="labels counted from 1? leave out --num-classes to map them to 0..K-1")
        indices = torch.from_numpy(values.astype(np.int64))
        classes = list(range(num_classes))
    else:
        if fitted is not None:
            classes = saved["classes"]
        else:
            distinct = np.unique(values) if numeric else sorted(set(values), key=_sort_key)
            classes = [_json_value(float(v)) if numeric else v for v in distinct]
        keys = [float(c) for c in classes] if numeric else [str(c) for c in classes]
        index = {k: i for i, k in enumerate(keys)}
        uniques, inverse = np.unique(values, return_inverse=True)
        codes = np.array([index.get(float(u) if numeric else str(u), -1) for u in uniques], dtype=np.int64)
        if (codes < 0).any():
            unseen = uniques[codes < 0][0]
            raise InputError(f"target {name!r}: label {_json_value(float(unseen)) if numeric else unseen!r} was not "
                             f"seen when the state was fitted", src)
        indices = torch.from_numpy(codes[inverse].reshape(-1))
    tensors = {"target": indices}
    if one_hot:
        tensors["target_onehot"] = make_one_hot(indices, len(classes))
    meta["target_classes"] = classes
    return tensors, meta, {"name": name, "kind": "class", "classes": classes, "num_classes": num_classes}


def _all_numbers(values: np.ndarray) -> np.ndarray | None:
    """float64 values when every cell is a finite number, else None."""
    out = np.empty(len(values))
    for i, text in enumerate(values):
        try:
            out[i] = float(text)
        except (TypeError, ValueError):
            return None
    return out if np.isfinite(out).all() else None


def _times(col, src: Path, name: str) -> np.ndarray:
    import pyarrow as pa

    if col.null_count:
        raise InputError(f"the time column {name!r} has missing cells", src)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        return col.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
    if pa.types.is_integer(col.type):
        return col.to_numpy()
    raise InputError(f"the time column {name!r} holds {col.type} values; expected integers or timestamps", src)


def _by_period(tensors: dict[str, torch.Tensor], times: np.ndarray | None, period: int, layout: str, pad: bool,
               src: Path, time_name: str | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Rows → (N/P, F, P) or (N/P, P, F); gaps in the time column and a short tail need --pad."""
    n = len(next(iter(tensors.values())))
    slots = np.arange(n)
    padded = 0
    if times is not None and n > 1:
        steps = np.diff(times)
        if (steps <= 0).any():
            i = int(np.flatnonzero(steps <= 0)[0])
            raise InputError(f"time column {time_name!r} is not increasing at data row {i + 2}", src)
        step = Counter(steps.tolist()).most_common(1)[0][0]
        if (steps % step).any():
            i = int(np.flatnonzero(steps % step)[0])
            raise InputError(f"time column {time_name!r}: an irregular step after data row {i + 1}", src)
        slots = (times - times[0]) // step
        gaps = int(slots[-1] + 1 - n)
        if gaps and not pad:
            i = int(np.flatnonzero(steps != step)[0])
            raise InputError(f"time column {time_name!r}: {gaps} missing step(s), the first after data row {i + 1}",
                             src, hint="--pad fills missing steps with zeros and marks them in 'mask'")
        padded += gaps
    total = int(slots[-1]) + 1 if n else 0
    if total % period and not pad:
        raise InputError(f"{total} rows do not divide into periods of {period} ({total % period} left over)", src,
                         hint="--pad completes the last period with zeros and marks it in 'mask'")
    full = -(-total // period) * period
    padded += full - total
    out: dict[str, torch.Tensor] = {}
    index = torch.from_numpy(slots)
    for name, t in tensors.items():
        fill = IGNORE_INDEX if name == "target" and t.dtype == torch.int64 else 0
        grid = torch.full((full, *t.shape[1:]), fill, dtype=t.dtype)
        grid[index] = t
        grid = grid.reshape(full // period, period, *t.shape[1:])
        if name == "features" and layout == "nfp":
            grid = grid.permute(0, 2, 1).contiguous()
        out[name] = grid
    meta: dict[str, Any] = {"layout": "nct" if layout == "nfp" else "ntc", "period": period, "padded_rows": padded}
    if pad:
        mask = torch.zeros(full, dtype=torch.bool)
        mask[index] = True
        out["mask"] = mask.reshape(full // period, period)
    return out, meta
