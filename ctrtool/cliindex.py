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
        arguments: list[list[Any]] = []
        values: dict[str, Any] = {}
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
            elif isinstance(param, TyperArgument):
                arguments.append([param.name, param.nargs, _completer(param)])
            else:  # a kind the fast path does not know
                takes["\0unknown"] = [param.name, True, 1]
            if param.name in VALUES:
                values[param.name] = _value(param, ctx)
        settings = {
            "interspersed": ctx.allow_interspersed_args,
            "ignore_unknown": ctx.ignore_unknown_options,
            "prefixes": sorted(ctx._opt_prefixes),
            "normalize": ctx.token_normalize_func is not None,
        }
        node: dict[str, Any] = {
            "options": options,
            "takes": takes,
            "settings": settings,
            "arguments": arguments,
            "values": values,
        }
        if isinstance(command, TyperGroup):
            node["commands"] = [item(c.value, c.help) for c in command.shell_complete(ctx, "") if c.value]
        nodes[" ".join(words)] = node
        if isinstance(command, TyperGroup):
            for name in command.list_commands(ctx):
                visit([*words, name])

    visit([])
    return {"version": __version__, "commands": nodes}


# the parameters ctrtool.completion's name completers read (ctx.params, ctx.find_root().params)
ROOT_VALUES = ("config", "timeout", "docker_host", "docker_context", "address", "runtime_endpoint", "image_endpoint")
VALUES = (*ROOT_VALUES, "backend", "namespace")
# the completers a Tab may run without the app: each lists names with the line's options
FAST_COMPLETERS = ("images", "containers", "objects")


def _completer(param: Any) -> str | None:
    """The name of the ctrtool.completion function behind a parameter's completion, if it is one
    of FAST_COMPLETERS (typer wraps it: the closure holds it)."""
    from . import completion

    wrapper = getattr(param, "_custom_shell_complete", None)
    for cell in getattr(wrapper, "__closure__", None) or ():
        fn = cell.cell_contents
        if callable(fn) and getattr(fn, "__module__", None) == completion.__name__ and fn.__name__ in FAST_COMPLETERS:
            return fn.__name__
    return None


def _value(param: Any, ctx: Any) -> dict[str, Any]:
    """How click fills ctx.params[name] for a parameter the completers read: its kind, whether it
    repeats, its environment variables and its default (or None where the fast path must not
    guess: then it leaves the line to the app)."""
    from .commands.common import namespaces_option

    default = param.get_default(ctx)
    callback = param.callback
    kind = param.type.name
    if callback is not None:
        # the only callbacks the fast path knows: -n's check (common.namespaces_option), and
        # --timeout's (the fast path leaves a line with --timeout to the app)
        name = getattr(callback, "__name__", "")
        known = name == "<lambda>" and param.name == "namespace" and namespaces_option is not None
        kind = f"{kind}+namespace" if known else f"{kind}+callback"
    envvar = param.envvar
    return {
        "kind": kind,
        "multiple": bool(param.multiple),
        "envvar": [envvar] if isinstance(envvar, str) else list(envvar or []),
        "default": default if default is None or isinstance(default, (str, bool, int, float)) else "\0unknown",
    }


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
