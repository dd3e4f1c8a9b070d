"""Help, --version and shell completion start without torch, torchvision or numpy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's tensortool in the child
HEAVY = ("torch", "torchvision", "numpy")


def imported_modules(args: list[str], env: dict[str, str] | None = None, program: str | None = None) -> tuple[set[str], str]:
    """Run the CLI in a child with ``-X importtime``; the top-level packages it imported, and stdout."""
    if program is None:
        command = [sys.executable, "-X", "importtime", "-m", "tensortool", *args]
    else:  # run as the installed script would be, so shell completion sees its program name
        command = [sys.executable, "-X", "importtime", "-c",
                   f"import sys; sys.argv[0] = {program!r}; from tensortool.cli import main; main()", *args]
    done = subprocess.run(command, cwd=ROOT, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    names = {line.split("|")[-1].strip().split(".")[0]
             for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "tensortool" in names  # the import log was read
    return names, done.stdout


COMMANDS = [["--help"], ["--version"], ["load-image", "--help"], ["load-dicom", "--help"], ["load-csv", "--help"],
            ["load-text", "--help"], ["stats", "--help"], ["info", "--help"], ["bench", "--help"],
            ["stats", "merge", "--help"], ["ckpt", "--help"], ["ckpt", "inspect", "--help"], ["ckpt", "convert", "--help"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_help_and_version_do_not_import_torch(args):
    names, out = imported_modules(args)
    assert not names & set(HEAVY), sorted(names & set(HEAVY))
    assert out.strip()


def test_the_import_check_sees_torch_when_a_command_runs(tmp_path):
    # The same check, on a command that reads a tensor file: torch is imported then.
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tensortool", "info", str(tmp_path / "x.npy")],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "torch" in {line.split("|")[-1].strip() for line in done.stderr.splitlines()}


def test_shell_completion_lists_commands_without_torch():
    env = {"_TENSORTOOL_COMPLETE": "complete_bash", "COMP_WORDS": "tensortool load-", "COMP_CWORD": "1"}
    names, out = imported_modules([], env=env, program="tensortool")
    assert {"load-image", "load-csv", "load-dicom", "load-text"} <= set(out.split())
    assert not names & set(HEAVY)


def test_completion_options_are_offered():
    names, out = imported_modules(["--help"])
    assert "--install-completion" in out and "--show-completion" in out


def test_listing_dicom_series_does_not_import_torch():
    # Headers only: the series table must not wait for torch (about 1 s of a 1.5 s run).
    names, out = imported_modules(["load-dicom", str(ROOT / "samples" / "dicom"), "--list", "--json"])
    assert "torch" not in names and "torchvision" not in names
    assert '"slices": 16' in out
