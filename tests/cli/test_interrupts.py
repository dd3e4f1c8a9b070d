"""SIGTERM and SIGINT end a run with one line and 130/143, and leave no temporary file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import tensortool.cli as cli
import tensortool.cli.signals as signals
import tensortool.tensorfile as tensorfile
from tests.conftest import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's tensortool in the child

# Runs the CLI with the library's write callback wrapped: it writes, says so, then waits to be killed.
SLOW_WRITE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import tensortool.tensorfile as tf

    original, marker = tf.atomic_write_many, Path(sys.argv[1])

    def slow(paths, write, **kwargs):
        def wrapped(tmps):
            write(tmps)
            marker.write_text("written")
            time.sleep(60)
        return original(paths, wrapped, **kwargs)

    tf.atomic_write_many = slow
    sys.argv = ["tensortool", *sys.argv[2:]]
    from tensortool.cli import main
    main()
""")


def _run_until_writing(tmp_path: Path, args: list[str]) -> subprocess.Popen:
    script, marker = tmp_path / "slow.py", tmp_path / "marker"
    script.write_text(SLOW_WRITE)
    child = subprocess.Popen([sys.executable, str(script), str(marker), *args], cwd=ROOT, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never reached the write"
        time.sleep(0.05)
    return child


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_write_leaves_no_temporary_file(tmp_path, signum, status):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.pt"
    child = _run_until_writing(tmp_path, ["load-text", str(SAMPLES / "text" / "pride-and-prejudice-ch1.txt"),
                                          "-o", str(out)])
    assert list(out_dir.glob("*.tmp")), "the write had started"
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == status, err
    assert err.strip().splitlines() == ["interrupted"], err
    assert list(out_dir.iterdir()) == []


def test_a_ctrl_c_during_start_up_is_one_line(tmp_path):
    # SIGINT arrives while the command line's modules are being imported (deterministic: from an
    # import hook; --version no longer imports torch, so the hook waits for typer).
    script = tmp_path / "early.py"
    script.write_text(textwrap.dedent("""
        import os, runpy, signal, sys

        class Interrupt:
            def find_spec(self, name, path=None, target=None):
                if name == "typer":
                    os.kill(os.getpid(), signal.SIGINT)
                return None

        sys.meta_path.insert(0, Interrupt())
        sys.argv = ["tensortool", "--version"]
        runpy.run_module("tensortool", run_name="__main__")
    """))
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == ["interrupted"], done.stderr


def test_an_interrupt_that_a_library_turned_into_another_error_is_still_an_interrupt(monkeypatch):
    # torch converts a KeyboardInterrupt raised inside its C++ code into e.g. a ValueError.
    import typer

    monkeypatch.setattr(signals, "_received", None)
    with pytest.raises(typer.Exit) as info:
        with cli.boundary():
            try:
                signals.on_signal(signal.SIGINT, None)
            except KeyboardInterrupt:
                raise ValueError("could not determine the shape of object type 'torch.storage.UntypedStorage'")
    assert info.value.exit_code == 130


def test_stale_temporary_files_of_dead_runs_are_removed_and_nothing_else(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out.pt"
    stale = tmp_path / f".out.pt.{dead.pid}.abcd_123.tmp"
    alive = tmp_path / f".out.pt.{os.getpid()}.abcd_123.tmp"
    others = [tmp_path / name for name in (".other.pt.1.abcd_123.tmp", "out.pt.tmp", ".out.pt.tmp",
                                           ".out.pt.x.abcd_123.tmp", "notes.txt")]
    for path in [stale, alive, *others]:
        path.write_bytes(b"x")
    tensorfile.write_bundle(tensorfile.Bundle({"x": torch.ones(2)}, {}), out)
    assert out.exists() and not stale.exists()
    assert alive.exists() and all(p.exists() for p in others)
