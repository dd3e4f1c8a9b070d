"""A parsed table's columns into the feature matrix: cells by kind, missing-cell policy, fitted entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import InputError, literal, q
from ...shaping import scale_columns
from . import columns as cols
from .constants import FEATURE_DTYPE_NAMES
from .fast import read_plain_numeric
from .fit import category_codes, fit_numeric
from .read import Dialect, first_problem, is_number, read_table

FEATURE_DTYPES = {name: getattr(torch, name) for name in FEATURE_DTYPE_NAMES}


@dataclass
class Cells:
    """A table's columns as numpy: (values, missing) per feature, and the target and time columns."""

    rows: int
    numeric: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    text: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    bad: np.ndarray | None = None  # rows with a cell that is not a number (skip_bad)
    skipped_rows: list = field(default_factory=list)  # ragged rows the parser left out (skip_bad)
    target_values: np.ndarray | None = None
    target_nulls: np.ndarray | None = None
    times: np.ndarray | None = None


def read_cells(src: Path, data: Path, dialect: Dialect, roles: dict, settings: dict, fitted: dict | None,
               dtype: str, skip_bad: bool) -> Cells:
    """Parse the wanted columns and sort the features into numeric and text (categorical) cells."""
    nulls_text = ["", *settings["na"]]
    wanted = [*roles["features"], *([roles["target"]] if roles["target"] else []),
              *([roles["time"]] if roles["time"] else [])]
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
    cells = Cells(table.num_rows, bad=np.zeros(table.num_rows, bool), skipped_rows=skipped_rows)
    for name in roles["features"]:
        col = table.column(name)
        nulls = cols.null_mask(col)
        if name in roles["categorical"] or (not cols.is_numeric(col) and roles["auto"] and fitted is None):
            cells.text[name] = (cols.strings(col), nulls)
        elif cols.is_numeric(col):
            cells.numeric[name] = (cols.floats(col), nulls)
        else:
            cells.numeric[name] = _text_numbers(col, nulls, name, src, data, dialect, nulls_text, skip_bad, cells.bad)
    if roles["target"]:
        col = table.column(roles["target"])
        cells.target_nulls = cols.null_mask(col)
        cells.target_values = cols.floats(col) if cols.is_numeric(col) else cols.strings(col)
    if roles["time"]:
        cells.times = cols.times(table.column(roles["time"]), src, roles["time"])
    return cells


def _text_numbers(col, nulls: np.ndarray, name: str, src: Path, data: Path, dialect: Dialect,
                  nulls_text: list[str], skip_bad: bool, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A feature column pyarrow read as text: numbers with a few bad cells (marked in ``bad``), or refused."""
    values = cols.strings(col)
    parsed, not_number = cols.parse_text_numbers(values, nulls)
    filled = (~nulls).sum()
    if not_number.sum() * 2 > max(filled, 1):  # mostly text: a text column, not bad cells
        sample = values[np.flatnonzero(not_number)[0]] if not_number.any() else ""
        split = str(sample).split()
        hint = ("the columns seem to be separated by spaces: give {delimiter= }"
                if len(split) > 1 and all(is_number(c) for c in split) else
                f"one-hot it with {{categorical={name}}} (or {{categorical=auto}}), "
                f"or leave it out with {{drop={name}}}")
        raise InputError(f"column {literal(repr(name))} is not numeric (e.g. {literal(repr(sample))})", src, hint=hint)
    if not skip_bad:
        problem = first_problem(data, dialect, numeric=[name], missing=nulls_text, check_missing=False,
                                skip_ragged=skip_bad)
        if problem is not None:
            raise problem.error(src, hint=f"if {problem.raw!r} means missing, add {{na={problem.raw}}} "
                                          "and choose {missing}; {skip_bad=True} skips such rows")
    bad |= not_number
    return parsed, nulls


def rows_to_keep(cells: Cells, src: Path, data: Path, dialect: Dialect, roles: dict, settings: dict,
                 skip_bad: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept after the missing-cell policy (an error with the line by default); and rows with a missing cell."""
    nulls_text = ["", *settings["na"]]
    any_null = np.zeros(cells.rows, bool)
    for _, nulls in [*cells.numeric.values(), *cells.text.values()]:
        any_null |= nulls
    policy = settings["missing"]
    if cells.target_nulls is not None and cells.target_nulls.any() and policy != "drop":
        problem = first_problem(data, dialect, present=[roles["target"]], missing=nulls_text, skip_ragged=skip_bad)
        raise (problem.error(src, hint="a missing target cannot be filled; {missing=drop} drops the row")
               if problem else InputError(f"the target {q(roles['target'])} has missing values", src))
    if any_null.any() and policy == "error":
        problem = first_problem(data, dialect, numeric=list(cells.numeric), present=list(cells.text),
                                missing=nulls_text, skip_ragged=skip_bad)
        hint = ("choose {missing} drop|mean|median|zero" + ("" if settings["na"] else
                "; only empty cells count as missing unless {na} names markers such as NA"))
        raise (problem.error(src, hint=hint) if problem else
               InputError("the table has missing cells", src, hint=hint, param="missing"))
    assert cells.bad is not None
    keep = ~cells.bad
    if policy == "drop":
        keep &= ~any_null
        if cells.target_nulls is not None:
            keep &= ~cells.target_nulls
    return keep, any_null


def fit_features(cells: Cells, keep: np.ndarray, roles: dict, settings: dict, fitted: dict | None, unknown: str,
                 src: Path, data: Path, dialect: Dialect, warnings: list[str]) -> tuple[list[dict], dict]:
    """Each feature's state entry (fitted, or the saved one) and each categorical column's codes."""
    saved = {f["name"]: f for f in fitted["features"]} if fitted else {}
    entries, one_hots = [], {}
    for name in roles["features"]:
        if name in cells.numeric:
            values, nulls = cells.numeric[name]
            entries.append(saved.get(name) or fit_numeric(values[keep], nulls[keep], settings, name, src))
        else:
            values, nulls = cells.text[name]
            values, nulls = values[keep], nulls[keep]
            entry = saved.get(name) or {"name": name, "kind": "categorical",
                                        "categories": sorted({v for v, m in zip(values, nulls) if not m},
                                                             key=cols.sort_key)}
            one_hots[name] = category_codes(values, nulls, entry, unknown, data, dialect, warnings)
            entries.append(entry)
    return entries, one_hots


def feature_matrix(cells: Cells, keep: np.ndarray, entries: list[dict], one_hots: dict, normalize: str,
                   dtype: str) -> tuple[torch.Tensor, list[str]]:
    """One preallocated matrix, written column by column (no per-column tensors to concatenate); its names."""
    out_dtype = FEATURE_DTYPES[dtype]
    work = np.float64 if normalize != "none" or out_dtype == torch.float64 else np.float32
    widths = [1 if e["kind"] == "numeric" else len(e["categories"]) for e in entries]
    all_rows = bool(keep.all())
    matrix = np.empty((int(keep.sum()), sum(widths)), dtype=work)
    names: list[str] = []
    j = 0
    for entry, width in zip(entries, widths):
        name = entry["name"]
        if entry["kind"] == "numeric":
            values, nulls = cells.numeric[name]
            matrix[:, j] = values if all_rows else values[keep]
            nulls = nulls if all_rows else nulls[keep]
            if nulls.any():
                matrix[nulls, j] = entry["fill"]
            names.append(name)
        else:
            codes = one_hots[name]
            block = matrix[:, j:j + width]
            block[:] = 0
            rows = np.flatnonzero(codes >= 0)
            block[rows, codes[rows]] = 1
            names.extend(f"{name}={c}" for c in entry["categories"])
        j += width
    features = torch.from_numpy(matrix)
    if normalize != "none":  # numeric columns only; one-hot columns keep 0/1
        pairs = list(zip(entries, widths))
        center = [v for e, w in pairs for v in ([e["center"]] if e["kind"] == "numeric" else [0.0] * w)]
        scale = [v for e, w in pairs for v in ([e["scale"]] if e["kind"] == "numeric" else [1.0] * w)]
        scale_columns(features, torch.tensor(center, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64))
    if features.dtype != out_dtype:
        features = features.to(out_dtype)
    return features, names
