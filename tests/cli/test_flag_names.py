"""The library names its parameters; the command line names the same things by their flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import PHOTOS, ROOT
from tensortool import TensortoolError, dataset_stats, parse_normalization, write_bundle, Bundle
from tensortool.bench.run import resolve_devices, run_bench
from tensortool.cli.app import app

runner = CliRunner()
FLAG = re.compile(r"--[a-z]")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("flags") / "t.pt"
    write_bundle(Bundle({"features": torch.randn(4, 3)}, {"layout": "nc"}, "features"), path)
    return path


# (library call, words Python users see, command line, words CLI users see)
CASES = [
    (lambda t: parse_normalization("foo"), "normalize 'foo'",
     ["load-image", str(PHOTOS), "--normalize", "foo"], "--normalize 'foo'"),
    (lambda t: parse_normalization("0.5/0"), "normalize: every std",
     ["load-image", str(PHOTOS), "--normalize", "0.5/0"], "--normalize: every std"),
    (lambda t: dataset_stats(PHOTOS, shard="3/2"), "shard '3/2'",
     ["stats", str(PHOTOS), "--shard", "3/2"], "--shard '3/2'"),
    (lambda t: dataset_stats(PHOTOS, key="x"), "key and channel_dim apply",
     ["stats", str(PHOTOS), "--key", "x"], "--key and --channel-dim apply"),
    (lambda t: dataset_stats(t, raw=True), "mode, resize, center_crop and raw apply",
     ["stats", "{table}", "--raw"], "--mode, --resize, --center-crop and --raw apply"),
    (lambda t: dataset_stats(t, channel_dim=5), "channel_dim 5 is out of range",
     ["stats", "{table}", "--channel-dim", "5"], "--channel-dim 5 is out of range"),
    (lambda t: dataset_stats(t, key="nosuch"), "(choose one with key)",
     ["stats", "{table}", "--key", "nosuch"], "(choose one with --key)"),
    (lambda t: resolve_devices("tpu"), "device 'tpu'", ["bench", "--device", "tpu"], "--device 'tpu'"),
    (lambda t: run_bench(["cpu"], ["nosuch"]), "op 'nosuch'", None, None),
    (lambda t: run_bench(["cpu"], ["matmul"], dtypes=["int4"]), "dtype 'int4'", None, None),
]


@pytest.mark.parametrize("call, python_words, args, cli_words", CASES, ids=[c[1] for c in CASES])
def test_python_sees_parameters_and_the_cli_flags(table, call, python_words, args, cli_words):
    with pytest.raises(TensortoolError) as info:
        call(table)
    assert python_words in str(info.value) and not FLAG.search(str(info.value)), str(info.value)
    assert info.value.param is not None
    if args is None:
        return
    result = runner.invoke(app, [a.format(table=table) for a in args])
    assert result.exit_code in (1, 2) and cli_words in result.output, result.output


def _literals_with_flags(path: Path) -> list[str]:
    """String literals (docstrings aside) holding ``--<letter>``: a flag named by the library."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [f"{path}:{node.lineno}: {node.value.strip()[:80]!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and FLAG.search(node.value)]


def test_the_scan_finds_a_flag_and_leaves_docstrings(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('"""Docs may say --force."""\n\n\ndef f(x):\n    """Or --layout."""\n'
                      '    raise ValueError(f"{x}: use --force")\n')
    found = _literals_with_flags(sample)
    assert len(found) == 1 and found[0].endswith(":6: ': use --force'"), found


def test_no_module_outside_the_cli_names_a_flag():
    offenders = [line for path in sorted((ROOT / "tensortool").rglob("*.py"))
                 if "cli" not in path.relative_to(ROOT / "tensortool").parts[:1]
                 for line in _literals_with_flags(path)]
    assert not offenders, "library modules naming flags:\n" + "\n".join(offenders)
