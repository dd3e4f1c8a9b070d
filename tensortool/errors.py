"""Errors a user can cause. The CLI prints each as one line and exits 1 (2 for a UsageError).

Messages speak of the library's parameters, never of command-line flags. A parameter is named in
a message (or hint) as ``{name}`` or ``{name=value}``: ``str(error)`` shows it as Python
(``layout`` / ``layout='ndhw'``), and the CLI, through ``error.render(flag_of)``, as the flag
(``--layout`` / ``--layout ndhw``). Structured fields (``param``, ``allowed``, ``path``, ``line``,
``column``, ``tag``, ``key``) carry the same facts for programs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Sequence

# {name} or {name=value}: a lower-case identifier, so JSON and dict reprs are never taken for one.
PARAM = re.compile(r"\{([a-z][a-z0-9_]*)(?:=([^{}]*))?\}")


def python_name(name: str, value: str | None) -> str:
    """How a Python caller names a parameter in text: ``name`` or ``name=value``."""
    if value is None:
        return name
    return f"{name}={value!r}" if value not in ("True", "False", "None") else f"{name}={value}"


# A "{" that came from data (a name in a pickle, a table cell): never read as a placeholder, and
# shown as "{" again once the placeholders are filled.
DATA_BRACE = "\ue000"


def literal(text: str) -> str:
    """Text from a file, for a message: a ``{name}`` in it stays text and is never shown as a
    parameter (or, on the command line, as a flag such as ``--trust-pickle``)."""
    return text.replace("{", DATA_BRACE)


def q(value: Any) -> str:
    """A value from the data or the caller, quoted for a message (``repr``) and kept literal."""
    return literal(repr(value))


def fill(text: str, name_of: Callable[[str, str | None], str] = python_name) -> str:
    """``text`` with each ``{name}``/``{name=value}`` replaced by ``name_of(name, value)``."""
    return PARAM.sub(lambda m: name_of(m.group(1), m.group(2)), text).replace(DATA_BRACE, "{")


def shown_path(path: str) -> str:
    """A path as a one-line message shows it: characters that are not printable (a newline in a
    member name read from an archive, say) escaped as Python writes them."""
    return path if path.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in path)


class TensortoolError(Exception):
    """A problem with the input, the options or the output that the user can fix.

    ``path`` names the file at fault (or None); ``hint`` says what to do about it. ``param`` is the
    parameter at fault, ``allowed`` its allowed values; ``line``/``column`` (1-based), ``tag`` (a
    DICOM tag such as "(0028,0010)") and ``key`` (a tensor or JSON key) place the fault in the file.
    """

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None, *,
                 param: str | None = None, allowed: Sequence[Any] | None = None,
                 line: int | None = None, column: int | None = None, tag: str | None = None,
                 key: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.hint = hint
        self.param = param
        self.allowed = None if allowed is None else tuple(allowed)
        self.line = line
        self.column = column
        self.tag = tag
        self.key = key

    def render(self, name_of: Callable[[str, str | None], str] = python_name) -> str:
        """The one-line message, naming parameters through ``name_of(name, value)``."""
        text = fill(self.message, name_of)
        text = f"{shown_path(self.path)}: {text}" if self.path else text
        return f"{text} ({fill(self.hint, name_of)})" if self.hint else text

    def __str__(self) -> str:
        return self.render()

    def fields(self) -> dict[str, Any]:
        """The structured fields that are set, for a machine-readable report."""
        names = ("path", "param", "allowed", "line", "column", "tag", "key")
        out = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        if "allowed" in out:
            out["allowed"] = list(out["allowed"])
        return out


class InputError(TensortoolError):
    """An input file is missing, unreadable, corrupt or of the wrong kind."""


class OptionError(TensortoolError):
    """Options that do not fit together, or do not fit the data."""


class OutputError(TensortoolError):
    """The output cannot be written: exists, is an input, or has an unknown format."""


class UsageError(OptionError):
    """An option value (or a combination of options) that is wrong before any data is read.

    The CLI reports it as Click reports a bad option (usage line, message) and exits 2; a problem
    found in the data is an InputError or OptionError and exits 1.
    """
