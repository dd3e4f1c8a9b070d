"""The fitted state of a table load (saved, and applied with ``state``): one JSON file.

It holds everything fitted on the training file, so a test file is turned into exactly the
same columns with exactly the same numbers::

    {"format": "tensortool-table-state", "version": 1,
     "features": [{"name": "alcohol", "kind": "numeric", "center": 10.4, "scale": 1.06, "fill": null},
                  {"name": "color", "kind": "categorical", "categories": ["red", "white"]}],
     "feature_names": ["alcohol", "color=red", "color=white"],
     "target": {"name": "quality", "kind": "class", "classes": [3, 4, 5, 6, 7, 8, 9], "num_classes": null},
     "normalize": "zscore", "ddof": 0, "na": [], "missing": "error", "dtype": "float32"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import InputError, q
from ...tensorfile import atomic_write

FORMAT = "tensortool-table-state"


def write_state(state: dict[str, Any], path: str | Path, *, force: bool = False, inputs=()) -> Path:
    """Write a fitted state (``bundle.meta["state"]`` of :func:`load_csv`) as JSON, atomically."""
    text = json.dumps(state, indent=2) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force, inputs=inputs)


def read_state(path: str | Path) -> dict[str, Any]:
    """Read and check a state file written by :func:`write_state`."""
    src = Path(path)
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such state file", src) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable state JSON file: {exc}", src) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a tensortool table state (no \"format\": \"{FORMAT}\")", src,
                         hint="write one with {save_state}")
    if data.get("version") != 1:
        raise InputError(f"state version {q(data.get('version'))} is not supported (expected 1)", src)
    try:
        for feature in data["features"]:
            assert feature["kind"] in ("numeric", "categorical") and isinstance(feature["name"], str)
            if feature["kind"] == "categorical":
                assert isinstance(feature["categories"], list)
        assert data["normalize"] in ("zscore", "minmax", "none")
        assert data["missing"] in ("drop", "mean", "median", "zero", "error")
        assert data["target"] is None or data["target"]["kind"] in ("class", "regression")
    except (KeyError, TypeError, AssertionError):
        raise InputError("the state file is incomplete or damaged", src, hint="write it again with {save_state}") from None
    return data
