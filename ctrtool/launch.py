"""ctrtool's entry point: answers what needs no typer, click or rich before loading them.

* ``ctrtool --version``;
* a shell's completion request for a command name or an option name (``ctrtool ima<Tab>``,
  ``ctrtool images --all-b<Tab>``), from ``cli_index.json``: the app's own declarations, written by
  ``python -m ctrtool.cliindex`` and compared with the app by a unit test.

Anything else (an option's value, an image name, a line the index cannot parse the way click
would) goes to ``ctrtool.cli.main``, the one place that decides. The answers here are the ones
typer's completion gives, byte for byte (a unit test compares them line by line and shell by
shell); this module imports only what Python has loaded already.
"""

from __future__ import annotations

import os
import sys

COMPLETE_VAR = "_CTRTOOL_COMPLETE"


def main(prog_name: str = "ctrtool") -> None:
    """The ``ctrtool`` command (``python -m ctrtool`` too)."""
    if prog_name == "ctrtool":
        answer = fast(sys.argv[1:], os.environ)
        if answer is not None:
            text, code = answer
            if _write(text):
                sys.exit(code)
    from .cli import main as full

    full(prog_name)


def kubectl_plugin() -> None:
    from .cli import kubectl_plugin as full

    full()


def fast(argv: list[str], env) -> tuple[str, int] | None:
    """(stdout, exit status) when this run needs no more than the index; else None."""
    instruction = env.get(COMPLETE_VAR)
    if instruction:
        return _complete(instruction, env)
    if argv == ["--version"]:
        from . import __version__

        return f"ctrtool {__version__}\n", 0
    return None


def _write(text: str) -> bool:
    """Write all of ``text`` to fd 1; False (nothing or part written) sends the run to the full
    path, which says why stdout cannot be written, as it always has."""
    data = text.encode("utf-8", "surrogateescape")
    written = 0
    try:
        while written < len(data):
            written += os.write(1, data[written:])
    except OSError as exc:
        if not written:
            return False
        import errno

        if exc.errno == errno.EPIPE:
            sys.exit(141)  # the reader went away: silent, as the full path is
        os.write(2, f"ctrtool: error: cannot write to stdout: {exc.strerror}\n".encode())
        sys.exit(1)
    return True


# -- completion ----------------------------------------------------------------------------------

_SPACE = " \t\r\n"


def _split(line: str) -> list[str] | None:
    """click's split_arg_string (shlex, posix, whitespace_split) for the lines it splits the same
    as str.split: no quote, no backslash, no other white space. Else None: the full path splits."""
    for ch in line:
        if ch in "'\"\\" or (ch.isspace() and ch not in _SPACE):
            return None
    return line.split()


def _complete(instruction: str, env) -> tuple[str, int] | None:
    action, _, shell = instruction.partition("_")
    if action != "complete" or shell not in ("bash", "zsh", "fish"):
        return None
    if shell == "bash":
        cwords = _split(env.get("COMP_WORDS", ""))
        try:
            cword = int(env.get("COMP_CWORD", ""))
        except ValueError:
            return None
        if cwords is None or cword < 1:
            return None
        args = cwords[1:cword]
        incomplete = cwords[cword] if cword < len(cwords) else ""
    else:
        line = env.get("_TYPER_COMPLETE_ARGS", "")
        cwords = _split(line)
        if cwords is None:
            return None
        args = cwords[1:]
        if args and not line.endswith(" "):
            incomplete = args.pop()
        else:
            incomplete = ""
    items = _items(args, incomplete)
    if items is None:
        return None
    if shell == "bash":
        return "\n".join(i[0] for i in items) + "\n", 0
    if shell == "zsh":
        if not items:
            return "_files\n", 0
        body = "\n".join(i[1] for i in items)
        return f"_arguments '*: :(({body}))'\n", 0
    fish_action = env.get("_TYPER_COMPLETE_FISH_ACTION", "")
    if fish_action == "is-args":
        return "", 0 if items else 1
    if fish_action == "get-args" and items:
        return "\n".join(i[2] for i in items) + "\n", 0
    return "\n", 0


def _load() -> dict | None:
    import json

    from . import __version__

    try:
        with open(os.path.join(os.path.dirname(__file__), "cli_index.json"), encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError):
        return None
    return index if index.get("version") == __version__ else None


def _items(args: list[str], incomplete: str) -> list[list[str]] | None:
    """The completion items (value, zsh line, fish line) for a command or option name, as click
    resolves them (shell_completion._resolve_context, _resolve_incomplete); None for anything else."""
    if "--" in args or "=" in incomplete:
        return None
    index = _load()
    if index is None:
        return None
    commands = index["commands"]
    path: list[str] = []
    node = commands[""]
    used: set[str] = set()
    positionals = 0
    i = 0
    while i < len(args):
        settings = node["settings"]
        if settings["ignore_unknown"] or settings["normalize"] or "\0unknown" in node["takes"]:
            return None
        if not set(settings["prefixes"]) <= {"-", "--"}:
            return None
        arg = args[i]
        if arg.startswith("-") and arg != "-" and (settings["interspersed"] or positionals == 0):
            name, eq, _ = arg.partition("=")
            spec = node["takes"].get(name)
            if spec is None or (eq and not spec[1]) or spec[2] != 1:
                return None  # combined short flags, an unknown option, nargs > 1: click decides
            used.add(spec[0])
            if spec[1] and not eq:
                if i + 1 >= len(args):
                    return None  # the incomplete word is this option's value
                i += 1
            i += 1
            continue
        if "commands" in node:
            key = " ".join([*path, arg])
            if key not in commands:
                return None  # not a command: click's answer may be options, let it give it
            path.append(arg)
            node = commands[key]
            used = set()
            positionals = 0
        else:
            positionals += 1
            if not node["settings"]["interspersed"]:
                return None
        i += 1
    settings = node["settings"]
    if settings["ignore_unknown"] or settings["normalize"] or not set(settings["prefixes"]) <= {"-", "--"}:
        return None
    if incomplete.startswith("-"):
        if not node["settings"]["interspersed"] and positionals:
            return None
        found: list[list[str]] = []
        for name, multiple, names in node["options"]:
            if not multiple and name in used:
                continue
            found.extend(n for n in names if n[0].startswith(incomplete))
        return found
    if "commands" in node:
        items = [c for c in node["commands"] if c[0].startswith(incomplete)]
        if incomplete and not incomplete[0].isalnum():
            return None  # click adds options that start with it: rare, let it
        return items
    return None  # an argument's value: the command's own completion
