"""MkDocs hook: the command-line reference, rendered from the Typer app at build time.

A page writes ``<!-- cli-reference: ckpt convert -->`` where the reference of that command goes;
the marker becomes its usage line, help text and a table of every argument and option, taken
from the same Click objects that ``--help`` prints, so the reference cannot drift from the code.
A marker naming no command, or a command of the app that no page renders, is a warning (an error
under ``mkdocs build --strict``). Typer carries its own copy of Click, so the objects are
recognised by what they do (``list_commands``, ``param_type_name``), not by Click's classes.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

MARKER = re.compile(r"<!--\s*cli-reference:\s*([a-z0-9][a-z0-9 -]*?)\s*-->")
log = logging.getLogger("mkdocs.plugins.cli_reference")
_rendered: set[str] = set()
_commands: dict[str, tuple[Any, Any]] = {}


def commands() -> dict[str, tuple[Any, Any]]:
    """Every leaf command of the app by its path ("load-image", "ckpt convert"), with a context."""
    import typer.main

    from tensortool.cli.app import app

    root = typer.main.get_command(app)
    found: dict[str, tuple[Any, Any]] = {}

    def walk(command: Any, ctx: Any, path: str) -> None:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if name == getattr(command, "default_command", None):  # `stats PATHS`: the group's own name
                    walk(sub, sub.context_class(sub, info_name="", parent=ctx), path)
                elif sub is not None and not sub.hidden:
                    walk(sub, sub.context_class(sub, info_name=name, parent=ctx), f"{path} {name}".strip())
        else:
            found[path] = (command, ctx)

    walk(root, root.context_class(root, info_name="tensortool"), "")
    return found


def documented_params(command: Any, ctx: Any) -> list[Any]:
    """The parameters a reader needs: all but hidden ones and --help."""
    return [p for p in command.get_params(ctx) if not getattr(p, "hidden", False) and p.name != "help"]


def _cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _flags(param: Any, ctx: Any) -> str:
    """The names in code, then the metavar as --help shows it ("-o, --output <file>")."""
    words = (param.get_help_record(ctx) or (param.human_readable_name,))[0].split()
    if param.param_type_name == "argument":
        return " ".join([f"`{words[0]}`", *(_cell(w) for w in words[1:])])
    names = ", ".join(f"`{o}`" for o in sorted(param.opts, key=len))
    if param.secondary_opts:
        names += " / " + ", ".join(f"`{o}`" for o in param.secondary_opts)
    metavar = " ".join(w for w in words if not w.startswith("-") and w != "/")
    return f"{names} {_cell(metavar)}".rstrip()


def _description(param: Any, ctx: Any) -> str:
    record = param.get_help_record(ctx)
    if record:
        return _cell(record[1])
    return _cell(getattr(param, "help", None) or "")


def render(path: str, command: Any, ctx: Any) -> str:
    """The Markdown reference of one command."""
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    paragraphs = [_cell(p) for p in (command.help or "").split("\n\n") if p.strip() and p.strip() != "\b"]
    rows = [f"| {_flags(p, ctx)} | {_description(p, ctx)} |" for p in documented_params(command, ctx)]
    return "\n".join([
        f'<div class="cli-reference" data-command="{path}" markdown="1">', "",
        f"**Usage:** `{usage}`", "", *[p + "\n" for p in paragraphs],
        "| argument or option | meaning |", "|---|---|", *rows, "", "</div>",
    ])


def on_pre_build(config) -> None:
    _rendered.clear()
    _commands.clear()
    _commands.update(commands())


def on_page_markdown(markdown: str, page, config, files) -> str:
    if not MARKER.search(markdown):
        return markdown
    known = _commands or commands()

    def replace(match: re.Match) -> str:
        path = match.group(1)
        if path not in known:
            log.warning(f"{page.file.src_path}: no command '{path}' in the app (known: {', '.join(sorted(known))})")
            return match.group(0)
        _rendered.add(path)
        return render(path, *known[path])

    return MARKER.sub(replace, markdown)


def on_post_build(config) -> None:
    missing = sorted(set(_commands or commands()) - _rendered)
    if missing:
        log.warning(f"commands with no reference in the docs (add <!-- cli-reference: NAME --> to a page): "
                    f"{', '.join(missing)}")
