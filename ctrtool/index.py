"""Reading ``cli_index.json`` (written by ``python -m ctrtool.cliindex``): the fast path's
(``ctrtool.launch``) and ``cli.main``'s one reader of it, so that neither imports the other."""

from __future__ import annotations

import os


def load() -> dict | None:
    import json

    from . import __version__

    try:
        with open(os.path.join(os.path.dirname(__file__), "cli_index.json"), encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError):
        return None
    return index if index.get("version") == __version__ else None


def command_word(argv: list[str]) -> str | None:
    """The command a command line runs (``images`` of ``ctrtool -H URL images -A``), read with the
    index as click reads the root's options; None when it does not name one for sure (no command,
    the root's --help, an option the index does not know, ``--``)."""
    index = load()
    if index is None:
        return None
    root = index["commands"][""]
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return None
        if arg.startswith("-") and arg != "-":
            name, eq, _ = arg.partition("=")
            spec = root["takes"].get(name)
            if spec is None or spec[2] != 1 or (eq and not spec[1]) or spec[0] == "help":
                return None
            i += 2 if spec[1] and not eq else 1
            continue
        return arg if any(c[0] == arg for c in root["commands"]) else None
    return None
