"""SIGINT and SIGTERM unwind a run the way Ctrl-C does, so every ``finally`` (the temporary files
of an atomic write) runs; the run then ends with one line, ``interrupted``, and 128 + the signal.

Light on purpose: installed before torch is imported, so a Ctrl-C during start-up is one line too.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

_received: int | None = None


def on_signal(signum: int, frame: Any) -> None:
    global _received
    _received = signum
    raise KeyboardInterrupt


def received() -> int | None:
    """The signal that interrupted this run, if one did (a library may have turned the
    KeyboardInterrupt into another error: torch's C++ code does)."""
    return _received


def exit_status() -> int:
    return 128 + (_received or signal.SIGINT)


def install() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)


def interrupted() -> None:
    """Say so on stderr and exit; later signals are ignored so nothing cuts the exit short."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    raise SystemExit(exit_status())
