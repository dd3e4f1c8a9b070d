"""The documentation site builds cleanly and documents every command and option of the app.

The site is built once with ``mkdocs build --strict`` (any warning fails: a broken link, a
missing anchor, a page's reference marker naming no command, a command no page documents). The
app's commands and options are then walked here, independently of the build hook, and each must
appear in the built HTML of its command's reference.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r'<div class="cli-reference" data-command="([^"]+)">(.*?)</div>', re.S)


def app_commands() -> dict[str, list[list[str]]]:
    """Every leaf command of the Typer app by path, with the names each of its parameters goes by."""
    import typer.main

    from tensortool.cli.app import app

    found: dict[str, list[list[str]]] = {}

    def walk(command, ctx, path: str) -> None:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                default = name == getattr(command, "default_command", None)  # `stats PATHS` runs it
                walk(sub, sub.context_class(sub, info_name="" if default else name, parent=ctx),
                     path if default else f"{path} {name}".strip())
            return
        found[path] = [[p.name] if p.param_type_name == "argument" else [*p.opts, *p.secondary_opts]
                       for p in command.get_params(ctx) if not p.hidden and p.name != "help"]

    root = typer.main.get_command(app)
    walk(root, root.context_class(root, info_name="tensortool"), "")
    return found


def sections(site: Path) -> dict[str, str]:
    """The reference sections of every built page, by command path, as HTML."""
    found: dict[str, str] = {}
    for page in site.rglob("*.html"):
        for command, body in SECTION.findall(page.read_text(encoding="utf-8")):
            found[command] = body
    return found


def missing_from(built: dict[str, str], commands: dict[str, list[list[str]]]) -> list[str]:
    """What the built reference lacks: whole commands, and each name a parameter goes by."""
    missing = []
    for command, params in commands.items():
        if command not in built:
            missing.append(command)
            continue
        text = html.unescape(built[command])
        for names in params:
            missing += [f"{command} {name}" for name in names if f"<code>{name}" not in text]
    return missing


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    for module in ("mkdocs", "material"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[docs]' to build and check the docs")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                             "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_every_command_and_option_is_in_the_built_reference(site):
    commands = app_commands()
    assert {"load-image", "stats", "ckpt convert", "bench"} <= set(commands)  # the walk found the app
    assert missing_from(sections(site), commands) == []


def test_a_missing_option_or_command_is_reported(site):
    built = sections(site)
    commands = app_commands()
    without_force = {**built, "load-image": built["load-image"].replace("<code>--force</code>", "")}
    assert missing_from(without_force, commands) == ["load-image --force"]
    assert missing_from({k: v for k, v in built.items() if k != "bench"}, commands) == ["bench"]


def test_every_page_in_the_nav_is_built(site):
    import yaml

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    for page in pages(nav):
        built = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert built.is_file(), page


def test_the_hook_warns_about_a_marker_naming_no_command(caplog):
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)

    class Page:
        class file:
            src_path = "commands/x.md"

    hook.on_pre_build(None)
    out = hook.on_page_markdown("<!-- cli-reference: load-imag -->\n<!-- cli-reference: info -->", Page, None, None)
    assert "<!-- cli-reference: load-imag -->" in out and 'data-command="info"' in out
    assert any("no command 'load-imag'" in r.getMessage() for r in caplog.records)
    hook.on_post_build(None)
    assert any("load-image" in r.getMessage() and "no reference" in r.getMessage() for r in caplog.records)
