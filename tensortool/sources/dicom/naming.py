"""File names for exported series, from a template that can name no patient.

The template's fields are facts of the series only: ``{modality}``, ``{series_number}``,
``{uid_hash}`` (a short hash of the SeriesInstanceUID) and ``{index}`` (its place in the tree's
series list). Names, IDs, dates and descriptions are not offered, so they cannot leak into a
file name.
"""

from __future__ import annotations

import hashlib
import re
import string
from typing import Any

from ...errors import OptionError, UsageError, q

DEFAULT_NAME_TEMPLATE = "{modality}_{series_number:04d}_{uid_hash}.safetensors"
NAME_FIELDS = ("modality", "series_number", "uid_hash", "index")
UID_HASH_CHARS = 10  # hex digits of SHA-256: 40 bits, no collision in any real export


def uid_hash(uid: str, group: int = 0) -> str:
    """The first hex digits of SHA-256 of the SeriesInstanceUID (of ``UID#group`` for a UID's
    second, third... volume group).

    >>> uid_hash("1.2.3")
    'c47f5b18b8'
    """
    text = uid if group == 0 else f"{uid}#{group}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:UID_HASH_CHARS]


def check_template(template: str) -> None:
    """Refuse a template that is not a plain .safetensors file name over the allowed fields.

    Messages name the template as a parameter and its fields without braces: text in braces
    would read as a parameter name.
    """
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UsageError(f"{{name_template}} is not a valid template: {_unbraced(exc)}", param="name_template",
                          key=template) from None
    unknown = [f for f in fields if f.split(".")[0].split("[")[0] not in NAME_FIELDS]
    if unknown:
        raise UsageError(f"{{name_template}} uses the unknown field {q(_unbraced(unknown[0]))}; the fields are "
                          f"{', '.join(NAME_FIELDS)}", param="name_template", allowed=NAME_FIELDS, key=template)
    if "/" in template or "\\" in template or not template.endswith(".safetensors"):
        raise UsageError("{name_template} must give a file name ending in .safetensors, without folders",
                          param="name_template", key=template)
    series_name(template, {"modality": "CT", "series_number": 1, "uid_hash": "0" * UID_HASH_CHARS, "index": 0})


def _unbraced(text: Any) -> str:
    return str(text).replace("{", "(").replace("}", ")")


def _clean(text: str) -> str:
    """Letters, digits, '-' and '+' only: a value from a file never adds folders or odd characters."""
    return re.sub(r"[^A-Za-z0-9+-]", "", text)[:16] or "NA"


def series_name(template: str, fields: dict[str, Any]) -> str:
    """The file name of one series (``fields``: modality, series_number, uid_hash, index)."""
    values = {**fields, "modality": _clean(str(fields["modality"])),
              "series_number": fields["series_number"] if fields["series_number"] is not None else 0}
    try:
        name = template.format(**values)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise OptionError(f"{{name_template}} cannot be filled in: {_unbraced(exc)}", param="name_template",
                          key=template) from None
    if name.startswith(".") or "/" in name or "\\" in name:
        raise OptionError(f"{{name_template}} gives {q(_unbraced(name))}, not a plain file name", param="name_template",
                          key=template)
    return name


def check_unique(names: dict[int, str], template: str) -> None:
    """Two series may not share a file name."""
    seen: dict[str, int] = {}
    for index, name in names.items():
        if name in seen:
            raise OptionError(f"{{name_template}} gives series {seen[name]} and {index} the same file name "
                              f"{_unbraced(name)!r}", param="name_template", key=template,
                              hint="put the uid_hash field in the template")
        seen[name] = index
