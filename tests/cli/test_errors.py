"""The one error boundary: one line and exit 1, Click's usage message and exit 2, a JSON object
with --json, parameters named by the command's flags, tracebacks only with TENSORTOOL_DEBUG=1."""

from __future__ import annotations

import json

import pytest
import typer.main
from typer.testing import CliRunner

import tensortool.sources.table.load as table_load
from tensortool.cli import flag_namer
from tensortool.cli.app import app
from tensortool.errors import OptionError, UsageError
from tests.conftest import SAMPLES

runner = CliRunner()
WINE = str(SAMPLES / "tables" / "winequality-sample.csv")


def command(*names: str):
    cmd = typer.main.get_command(app)
    for name in names:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("names, param, value, expected", [
    (("load-image",), "center_crop", None, "--center-crop"),
    (("load-image",), "output", None, "--output"),          # -o/--output: the long form
    (("load-image",), "one_hot", "True", "--one-hot"),       # a flag set: just the flag
    (("load-image",), "scale", "False", "--no-scale"),       # an on/off flag turned off
    (("load-image",), "layout", "nhwc", "--layout nhwc"),
    (("load-image",), "normalize", "a b", "--normalize 'a b'"),  # quoted as a shell needs it
    (("load-image",), "paths", None, "PATHS"),                # an argument: its metavar
    (("load-image",), "nosuch", "x", "nosuch='x'"),           # not a flag here: the Python name
    (("ckpt", "inspect"), "json", None, "--json"),            # json_ in Python
    (("load-dicom",), "list", None, "--list"),
])
def test_flag_names_come_from_the_command(names, param, value, expected):
    assert flag_namer(command(*names))(param, value) == expected


def test_a_library_error_names_the_flag_and_the_python_call_the_parameter(monkeypatch):
    def fails(*args, **kwargs):
        raise OptionError("{one_hot=True} needs {target}, and {num_classes} is out of range", param="one_hot")

    monkeypatch.setattr(table_load, "load_csv", fails)
    with pytest.raises(OptionError) as info:
        table_load.load_csv(WINE)
    assert str(info.value) == "one_hot=True needs target, and num_classes is out of range"
    result = runner.invoke(app, ["load-csv", WINE])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "error: --one-hot needs --target, and --num-classes is out of range"
    assert result.stdout == ""


def test_json_mode_prints_the_error_as_one_object_on_stderr(monkeypatch):
    def fails(*args, **kwargs):
        raise OptionError("{missing=zero} does not fit line 3", WINE, param="missing", allowed=["error", "drop"],
                          line=3)

    monkeypatch.setattr(table_load, "load_csv", fails)
    result = runner.invoke(app, ["load-csv", WINE, "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""  # stdout holds only a result
    assert json.loads(result.stderr) == {
        "error": f"{WINE}: --missing zero does not fit line 3", "type": "OptionError", "path": WINE,
        "param": "missing", "flag": "--missing", "allowed": ["error", "drop"], "line": 3}


def test_a_usage_error_is_clicks_usage_message_and_exit_2(monkeypatch):
    def fails(*args, **kwargs):
        raise UsageError("{period} is needed with {time_col}", param="time_col")

    monkeypatch.setattr(table_load, "load_csv", fails)
    result = runner.invoke(app, ["load-csv", WINE])
    assert result.exit_code == 2
    assert "Usage: " in result.output and "load-csv [OPTIONS]" in result.output
    assert "Invalid value: --period is needed with --time-col" in result.output


def test_a_bug_is_one_line_and_its_traceback_needs_the_debug_variable(monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(table_load, "load_csv", bug)
    result = runner.invoke(app, ["load-csv", WINE])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == ("internal error: ZeroDivisionError: division by zero "
                                     "(set TENSORTOOL_DEBUG=1 for the traceback)")
    monkeypatch.setenv("TENSORTOOL_DEBUG", "1")
    result = runner.invoke(app, ["load-csv", WINE])
    assert isinstance(result.exception, ZeroDivisionError)


def test_known_errors_keep_their_traceback_with_the_debug_variable(monkeypatch):
    monkeypatch.setenv("TENSORTOOL_DEBUG", "1")
    result = runner.invoke(app, ["load-csv", WINE, "--target", "nosuch"])
    assert isinstance(result.exception, OptionError)


def test_a_usage_error_stays_clicks_message_with_json(monkeypatch):
    def fails(*args, **kwargs):
        raise UsageError("{period} is needed with {time_col}", param="time_col")

    monkeypatch.setattr(table_load, "load_csv", fails)
    result = runner.invoke(app, ["load-csv", WINE, "--json"])
    assert result.exit_code == 2 and result.stdout == "" and "Usage: " in result.stderr


def test_braces_from_a_file_are_never_shown_as_a_flag(tmp_path):
    # A pickle whose global is named like a parameter placeholder: the refusal shows the name as
    # written in the file, never as the flag it would otherwise render to.
    evil = tmp_path / "evil.pt"
    evil.write_bytes(b"\x80\x02c{trust_pickle=True}\nx\n)R.")
    result = runner.invoke(app, ["ckpt", "inspect", str(evil)])
    assert result.exit_code == 1 and "{trust_pickle=True}.x" in result.stderr, result.stderr
    assert result.stderr.count("--trust-pickle") == 1  # the hint's own warning not to use it, once
    # The same for a table cell: the error names the cell as it is.
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,{force}\n")
    result = runner.invoke(app, ["load-csv", str(table), "--columns", "b"])
    assert result.exit_code == 1 and "{force}" in result.stderr and "--force" not in result.stderr, result.stderr
