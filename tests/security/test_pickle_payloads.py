"""Every malicious pickle in the corpus, through every command and library function that reads a
pickle, then again with every ``--allow-global`` any of tensortool's hints suggested: nothing runs (no
marker file ever appears), and each run ends in exit 1 with one line."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.security.pickle_payloads import corpus
from tensortool import convert_checkpoint, inspect_checkpoint, read_bundle
from tensortool.cli.app import app
from tensortool.errors import TensortoolError
from tensortool.pickle_load import load_pickle

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("app_built_once")

SUGGESTED = re.compile(r"--allow-global ([A-Za-z_][\w.]*)")  # as the CLI renders a hint
SUGGESTED_TO_PYTHON = re.compile(r"\{allow_globals=([A-Za-z_][\w.]*)\}")  # in the hint the library gives


def _commands(path: Path, out: Path, flags: list[str]) -> list[list[str]]:
    """Each command that reads a pickle; ckpt's with the flags the hints suggested."""
    return [
        ["info", str(path)],
        ["stats", str(path)],
        ["ckpt", "inspect", str(path), "--tensors", "--stats", *flags],
        ["ckpt", "convert", str(path), str(out), *flags],
        ["ckpt", "convert", str(path), str(out.with_suffix(".pth")), *flags],
    ]


def _run(args: list[str], marker: Path | None = None) -> tuple[str, list[str]]:
    started = time.perf_counter()
    result = runner.invoke(app, args)
    seconds = time.perf_counter() - started
    assert marker is None or not marker.exists(), f"pickled code ran: {args}"

    text = result.output
    lines = [line for line in text.splitlines() if line.strip()]
    assert result.exit_code == 1, f"{args}: exit {result.exit_code}\n{text[-2000:]}"
    assert len(lines) == 1, f"{args}: {len(lines)} lines\n{text[-2000:]}"
    assert "Traceback" not in text and "internal error" not in text, f"{args}: {text}"
    assert seconds < 20, f"{args}: took {seconds:.1f} s"
    return text, SUGGESTED.findall(text)


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("payloads")
    return folder, corpus(folder / "corpus")


def _no_markers(folder: Path) -> None:
    made = sorted(p.name for p in folder.rglob("*.marker"))
    assert not made, f"pickled code ran: {made}"


def test_no_payload_runs_through_any_command_or_hint(payloads):
    folder, files = payloads
    outs = folder / "out"
    outs.mkdir(exist_ok=True)
    for payload, path in files:
        out = outs / (path.stem + ".safetensors")
        flags: list[str] = []
        for _round in range(3):  # follow the hints until they suggest nothing new
            suggested: set[str] = set()
            for args in _commands(path, out, flags):
                _, names = _run(args, payload.marker)
                suggested.update(names)
            new = sorted(suggested - set(flags[1::2]))
            if not new:
                break
            flags += [part for name in new for part in ("--allow-global", name)]
        assert not any(outs.iterdir()), f"{path.name}: an output was written: {list(outs.iterdir())}"
    _no_markers(folder)


def test_no_payload_runs_through_the_library(payloads):
    folder, files = payloads
    for payload, path in files:
        for call in (lambda: load_pickle(path), lambda: read_bundle(path), lambda: inspect_checkpoint(path),
                     lambda: convert_checkpoint(path, folder / "lib-out.safetensors")):
            with pytest.raises(TensortoolError) as err:
                call()
            assert "\n" not in str(err.value)
        names = SUGGESTED_TO_PYTHON.findall(err.value.hint or "")
        if names:
            with pytest.raises(TensortoolError):
                load_pickle(path, allow_globals=names)
        if payload.marker is not None:
            assert not payload.marker.exists(), payload.name
    _no_markers(folder)


@pytest.mark.parametrize("name", ["timeit.timeit", "functools.partial", "pdb.run", "cProfile.run", "profile.run",
                                  "torch.load", "numpy.load", "os.system", "builtins.exec", "operator.methodcaller",
                                  "trace.Trace", "code.InteractiveInterpreter", "antigravity.geohash", "this.s",
                                  "importlib.import_module", "runpy._run_code", "doctest.run_docstring_examples"])
def test_allow_global_refuses_anything_but_plain_data(name, payloads):
    folder, files = payloads
    path = next(p for pl, p in files if pl.name == "timeit.timeit" and p.name.endswith(".zip.pt"))
    result = runner.invoke(app, ["ckpt", "inspect", str(path), "--allow-global", name])
    # A refused --allow-global is a bad option value, judged before the file is read: a usage error.
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "refusing" in errors[0] and "trust-pickle" in errors[0]
    _no_markers(folder)


def test_the_cli_names_a_suggested_global_as_the_flag(tmp_path):
    """The hint-following test above reads hints as the CLI prints them: make sure it prints the flag."""
    import argparse

    import torch

    path = tmp_path / "args.pth"
    torch.save({"w": torch.ones(2), "args": argparse.Namespace(lr=0.1)}, path)
    text, names = _run(["ckpt", "inspect", str(path)])
    assert names == ["argparse.Namespace"], text
