"""Which column plays which role (features, target, time), and a parsed column's cells as numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import InputError, OptionError, literal, q
from .read import Dialect, is_number


def resolve(spec: str | int, names: Sequence[str], path: Path, param: str) -> str:
    """A column by name, or by 0-based index when no column has that name."""
    text = str(spec)
    if text in names:
        return text
    if text.lstrip("-").isdigit():
        i = int(text)
        if -len(names) <= i < len(names):
            return names[i]
        raise OptionError(f"{{{param}}} {text}: the file has {len(names)} columns (0..{len(names) - 1})", path,
                          param=param)
    shown = ", ".join(map(shown_cell, names[:12])) + (", …" if len(names) > 12 else "")
    raise OptionError(f"{{{param}}} {q(text)}: no such column; the columns are {shown}", path, param=param,
                      allowed=names)


def shown_cell(value: Any) -> str:
    """A cell or name for a one-line message: as it is, or quoted and escaped when not printable."""
    text = str(value)
    return literal(text if text.isprintable() else repr(text))


def sort_key(value: str) -> tuple:
    return (0, float(value), value) if is_number(value) else (1, 0.0, value)


def json_value(value: Any) -> Any:
    """Class labels for JSON: integer-valued floats as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def roles(src: Path, dialect: Dialect, fitted: dict | None, plan: dict | None, time_col) -> dict[str, Any]:
    """The feature, target, time and categorical columns, by name."""
    names = dialect.names
    time = None if time_col is None else resolve(time_col, names, src, "time_col")
    if fitted is not None:
        features = [f["name"] for f in fitted["features"]]
        for name in features:
            if name not in names:
                raise InputError(f"column {q(name)} of the saved state is not in this file", src,
                                 hint="the state needs every training column, by name")
        tgt = fitted["target"]["name"] if fitted["target"] and fitted["target"]["name"] in names else None
        categorical = [f["name"] for f in fitted["features"] if f["kind"] == "categorical"]
        return {"features": features, "target": tgt, "time": time, "categorical": categorical, "auto": False}
    assert plan is not None
    target = None if plan["target"] is None else resolve(plan["target"], names, src, "target")
    dropped = {resolve(c, names, src, "drop") for c in plan["drop"]}
    if plan["columns"] is not None:
        features = list(dict.fromkeys(resolve(c, names, src, "columns") for c in plan["columns"]))
    else:
        features = [n for n in names if n not in dropped and n != target and n != time]
    for name in features:
        if name == target or name == time:
            raise OptionError(f"column {q(name)} cannot be both a feature and the "
                              f"{'target' if name == target else 'time column'}", src)
    auto = [c for c in plan["categorical"] if str(c).lower() == "auto"]
    categorical = [resolve(c, names, src, "categorical") for c in plan["categorical"] if str(c).lower() != "auto"]
    for name in categorical:
        if name not in features:
            raise OptionError(f"{{categorical}} {q(name)} is not among the feature columns", src, param="categorical")
    if not features:
        raise OptionError("no feature columns left", src)
    return {"features": features, "target": target, "time": time, "categorical": categorical, "auto": bool(auto)}


def null_mask(col) -> np.ndarray:
    return col.is_null().to_numpy(zero_copy_only=False) if col.null_count else np.zeros(len(col), bool)


def is_numeric(col) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(col.type) or pa.types.is_floating(col.type)


def floats(col) -> np.ndarray:
    import pyarrow as pa

    if col.null_count:
        import pyarrow.compute as pc  # only here: importing it costs ~0.1 s

        col = pc.fill_null(col, 0)
    if not pa.types.is_floating(col.type) or pa.types.is_float16(col.type):
        col = col.cast(pa.float64(), safe=False)  # integers past 2^53: the nearest double, as a float parse gives
    return col.to_numpy()


def strings(col) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        col = pc.fill_null(col.cast(pa.string()), "")
    return np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def parse_text_numbers(values: np.ndarray, nulls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def all_numbers(values: np.ndarray) -> np.ndarray | None:
    """float64 values when every cell is a finite number, else None."""
    out = np.empty(len(values))
    for i, text in enumerate(values):
        try:
            out[i] = float(text)
        except (TypeError, ValueError):
            return None
    return out if np.isfinite(out).all() else None


def times(col, src: Path, name: str) -> np.ndarray:
    import pyarrow as pa

    if col.null_count:
        raise InputError(f"the time column {q(name)} has missing cells", src)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        return col.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
    if pa.types.is_integer(col.type):
        return col.to_numpy()
    raise InputError(f"the time column {q(name)} holds {col.type} values; expected integers or timestamps", src)
