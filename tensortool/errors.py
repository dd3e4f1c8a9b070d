"""Errors a user can cause. The CLI prints each as one line and exits 1 (2 for a UsageError)."""

from __future__ import annotations

from pathlib import Path


class TensortoolError(Exception):
    """A problem with the input, the options or the output that the user can fix.

    ``path`` names the file at fault (or None); ``hint`` says what to do about it.
    """

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} ({self.hint})" if self.hint else text


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
