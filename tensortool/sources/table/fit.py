"""What is fitted on a table's columns: fill values, normalization statistics, categories, classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError, q
from ...shaping import one_hot as make_one_hot
from .columns import all_numbers, json_value, shown_cell, sort_key
from .read import Dialect, is_number, line_of

AUTO_CLASS_MAX = 20  # an integer target with at most this many distinct values is a class label


def fit_numeric(values: np.ndarray, nulls: np.ndarray, settings: dict, name: str, src: Path) -> dict[str, Any]:
    """Statistics of the present cells only (missing ones are ignored), in float64."""
    entry: dict[str, Any] = {"name": name, "kind": "numeric", "fill": None, "center": None, "scale": None}
    fill = settings["missing"]
    if fill not in ("mean", "median", "zero") and settings["normalize"] == "none":
        return entry  # nothing to fit: the fast path stays a plain copy
    present = values[~nulls].astype(np.float64)
    if present.size == 0:
        raise InputError(f"column {q(name)} has no values", src)
    if fill in ("mean", "median", "zero"):
        entry["fill"] = {"mean": float(present.mean()), "median": float(np.median(present)), "zero": 0.0}[fill]
    if settings["normalize"] == "zscore":
        entry["center"], entry["scale"] = float(present.mean()), float(present.std(ddof=settings["ddof"]))
    elif settings["normalize"] == "minmax":
        entry["center"], entry["scale"] = float(present.min()), float(present.max() - present.min())
    if not np.isfinite(present).all():
        raise InputError(f"column {q(name)} holds infinite or NaN numbers", src)
    return entry


def category_codes(values: np.ndarray, nulls: np.ndarray, entry: dict, unknown: str, src: Path,
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
            raise InputError(f"{at}column {q(entry['name'])}: category {q(values_unseen[0])} was not seen when the "
                             f"state was fitted (known: {', '.join(map(shown_cell, categories[:10]))})", src,
                             hint="{unknown=ignore} encodes unseen categories as all-zero rows",
                             line=where.line if where else None)
        warnings.append(f"column {entry['name']!r}: {int(unseen.sum())} row(s) with unseen categories "
                        f"({', '.join(map(shown_cell, values_unseen[:5]))}) encoded as all-zero rows")
    return codes


def _target_kind(values: np.ndarray, numeric: bool, settings: dict) -> tuple[str, str, int | None]:
    """class or regression, why, and the number of classes given."""
    kind, num_classes = settings["target_kind"], settings["num_classes"]
    distinct = np.unique(values) if numeric else None
    integer = numeric and bool(np.all(np.mod(values, 1) == 0))
    if kind is not None:
        return kind, "given", num_classes
    if num_classes is not None:
        return "class", "num_classes given", num_classes
    if not numeric:
        return "class", "auto: text labels", num_classes
    assert distinct is not None
    if integer and len(distinct) <= AUTO_CLASS_MAX:
        return "class", f"auto: integer values, {len(distinct)} distinct (≤ {AUTO_CLASS_MAX})", num_classes
    return "regression", ("auto: non-integer values" if not integer else
                          f"auto: {len(distinct)} distinct integer values (> {AUTO_CLASS_MAX})"), num_classes


def _given_classes(values: np.ndarray, numeric: bool, name: str, num_classes: int, src: Path,
                   dialect: Dialect) -> torch.Tensor:
    """Labels already 0..K-1 (``num_classes`` given): checked, not mapped."""
    if not numeric or not np.all(np.mod(values, 1) == 0):
        raise InputError(f"{{num_classes}} needs integer labels in {q(name)}", src, param="num_classes")
    wrong = (values < 0) | (values >= num_classes)
    if wrong.any():
        label = values[np.flatnonzero(wrong)[0]]
        where = line_of(src, dialect, name, {str(json_value(float(label))), str(label)})
        at = f"line {where.line}: " if where else ""
        raise InputError(f"{at}label {json_value(float(label))} in {q(name)} is outside 0..{num_classes - 1} "
                         f"({{num_classes={num_classes}}})", src, param="num_classes",
                         hint="labels counted from 1? leave out {num_classes} to map them to 0..K-1",
                         line=where.line if where else None)
    return torch.from_numpy(values.astype(np.int64))


def _mapped_classes(values: np.ndarray, numeric: bool, name: str, classes: list | None,
                    src: Path) -> tuple[torch.Tensor, list]:
    """Labels as indices into the sorted distinct labels (or the state's classes)."""
    if classes is None:
        distinct = np.unique(values) if numeric else sorted(set(values), key=sort_key)
        classes = [json_value(float(v)) if numeric else v for v in distinct]
    keys = [float(c) for c in classes] if numeric else [str(c) for c in classes]
    index = {k: i for i, k in enumerate(keys)}
    uniques, inverse = np.unique(values, return_inverse=True)
    codes = np.array([index.get(float(u) if numeric else str(u), -1) for u in uniques], dtype=np.int64)
    if (codes < 0).any():
        unseen = uniques[codes < 0][0]
        raise InputError(f"target {q(name)}: label {json_value(float(unseen)) if numeric else unseen!r} was not "
                         f"seen when the state was fitted", src)
    return torch.from_numpy(codes[inverse].reshape(-1)), classes


def fit_target(values: np.ndarray, name: str, settings: dict, fitted: dict | None, one_hot: bool, src: Path,
               dialect: Dialect, dtype: torch.dtype) -> tuple[dict, dict, dict]:
    """The target tensor(s), their meta, and the target's state."""
    if values.dtype == object and len(values):
        # Read as text because of a row skip_bad or missing='drop' left out: labels 0/1/2 are numbers.
        as_numbers = all_numbers(values)
        if as_numbers is not None:
            values = as_numbers
    numeric = values.dtype != object
    if fitted is not None:
        saved = fitted["target"]
        kind, reason, num_classes = saved["kind"], "from the state", saved.get("num_classes")
    else:
        kind, reason, num_classes = _target_kind(values, numeric, settings)
    meta: dict[str, Any] = {"target": name, "target_kind": kind, "target_kind_reason": reason}
    if kind == "regression":
        if not numeric:
            sample = next(v for v in values if not is_number(v))
            raise InputError(f"the regression target {q(name)} holds text (e.g. {q(sample)})", src)
        return {"target": torch.from_numpy(values).to(dtype)}, meta, {"name": name, "kind": "regression"}
    if num_classes is not None:
        indices = _given_classes(values, numeric, name, num_classes, src, dialect)
        classes = list(range(num_classes))
    else:
        indices, classes = _mapped_classes(values, numeric, name,
                                           fitted["target"]["classes"] if fitted is not None else None, src)
    tensors = {"target": indices}
    if one_hot:
        tensors["target_onehot"] = make_one_hot(indices, len(classes))
    meta["target_classes"] = classes
    return tensors, meta, {"name": name, "kind": "class", "classes": classes, "num_classes": num_classes}
