"""The static part of ctrtool's command line, for the fast path (``ctrtool.launch``): the command
tree, each command's options and the completion lines the shells get for command and option names,
all read off the typer app itself (the same declarations ``--help`` and typer's completion use).

``python -m ctrtool.cliindex`` writes ``cli_index.json`` next to this file; a unit test compares
that file with ``build()``, so the index cannot drift from the app.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

INDEX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_index.json")


def build() -> dict[str, Any]:
    """{"version": ..., "commands": {path: node}}: a node per command and group, keyed by the words
    that lead to it ("" the root, "lab up", "images")."""
    import typer
    from typer._click.core import ParameterSource  # noqa: F401  (loaded by the completion below)
    from typer._click.shell_completion import CompletionItem, _resolve_context
    from typer._completion_classes import FishComplete, ZshComplete, completion_init
    from typer.core import TyperArgument, TyperGroup, TyperOption

    from . import __version__
    from .cli import app
    from .completion import unwrapped_help

    completion_init()
    unwrapped_help()
    root = typer.main.get_command(app)
    zsh = ZshComplete(root, {}, "ctrtool", "_CTRTOOL_COMPLETE")
    fish = FishComplete(root, {}, "ctrtool", "_CTRTOOL_COMPLETE")

    def item(value: str, help: str | None) -> list[str]:
        one = CompletionItem(value, help=help)
        return [value, zsh.format_completion(one), fish.format_completion(one)]

    nodes: dict[str, Any] = {}

    def visit(words: list[str]) -> None:
        ctx = _resolve_context(root, {}, "ctrtool", list(words))
        command = ctx.command
        options = []
        takes: dict[str, list[Any]] = {}
        for param in command.get_params(ctx):
            if isinstance(param, TyperOption):
                value = not (param.is_flag or param.count)
                names = [*param.opts, *param.secondary_opts]
                if param is command.get_help_option(ctx):
                    # click builds the help option from a set of its names: their order changes
                    # with the process's string hashes; the index keeps the declared one
                    names.sort(key=lambda n: ctx.help_option_names.index(n) if n in ctx.help_option_names else 99)
                for name in names:
                    takes[name] = [param.name, value, param.nargs]
                if not param.hidden:
                    # click's Command.shell_complete: every name of every shown option, in order
                    options.append([param.name, param.multiple, [item(n, param.help) for n in names]])
            elif not isinstance(param, TyperArgument):  # a kind the fast path does not know
                takes["\0unknown"] = [param.name, True, 1]
        settings = {
            "interspersed": ctx.allow_interspersed_args,
            "ignore_unknown": ctx.ignore_unknown_options,
            "prefixes": sorted(ctx._opt_prefixes),
            "normalize": ctx.token_normalize_func is not None,
        }
        node: dict[str, Any] = {"options": options, "takes": takes, "settings": settings}
        if isinstance(command, TyperGroup):
            node["commands"] = [item(c.value, c.help) for c in command.shell_complete(ctx, "") if c.value]
        nodes[" ".join(words)] = node
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                visit([*words, name])

    visit([])
    return {"version": __version__, "commands": nodes}


def render(index: dict[str, Any]) -> str:
    return json.dumps(index, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def main() -> None:
    text = render(build())
    if sys.argv[1:] == ["--check"]:
        with open(INDEX, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{INDEX} is stale: run `python -m ctrtool.cliindex`")
        return
    with open(INDEX, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
