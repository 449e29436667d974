"""ctrtool's entry point: answers what needs no typer, click or rich before loading them.

* ``ctrtool --version``;
* a shell's completion request for a command name or an option name (``ctrtool ima<Tab>``,
  ``ctrtool images --all-b<Tab>``), from ``cli_index.json``: the app's own declarations, written by
  ``python -m ctrtool.cliindex`` and compared with the app by a unit test;
* one for an image or container name (``ctrtool rmi -b ctr <Tab>``): the index says which argument
  it is and which completer of ``ctrtool.names`` lists it, with the line's options as click would
  have parsed them; the listing is the app's own.

Anything else (an option's value, a line the index cannot parse the way click would, an option
whose value the index cannot reproduce) goes to ``ctrtool.cli.main``, the one place that decides. The answers here are the ones
typer's completion gives, byte for byte (a unit test compares them line by line and shell by
shell); this module imports only what Python has loaded already.
"""

from __future__ import annotations

import os
import sys

from .index import load as _load

COMPLETE_VAR = "_CTRTOOL_COMPLETE"


def main(prog_name: str = "ctrtool") -> None:
    """The ``ctrtool`` command (``python -m ctrtool`` too)."""
    cache = None
    if prog_name == "ctrtool":
        answer = fast(sys.argv[1:], os.environ)
        if answer is not None:
            text, code = answer
            if _write(text):
                sys.exit(code)
        cache, cached = _help_cache(sys.argv[1:])
        if cached is not None and _write(cached):
            sys.exit(0)
    if cache is not None:
        from . import helpcache

        helpcache.PENDING = cache  # the app keeps what it writes to stdout there (cli.main)
    from .cli import main as full

    full(prog_name)


def _help_cache(argv: list[str]) -> tuple[str | None, bytes | None]:
    """A help request's cache file and its bytes if cached (:mod:`.helpcache`); (None, None) else."""
    if not argv or argv[-1] not in ("--help", "-h"):
        return None, None
    index = _load()
    if index is None:
        return None, None
    from .helpcache import lookup

    return lookup(argv, os.environ, index["commands"])


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


def _write(text: str | bytes) -> bool:
    """Write all of ``text`` to fd 1; False (nothing or part written) sends the run to the full
    path, which says why stdout cannot be written, as it always has."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
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
    given: dict[str, list[str]] = {}  # the values of the node's options on the line
    root_given = given
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
                given.setdefault(spec[0], []).append(args[i])
            elif spec[1]:
                given.setdefault(spec[0], []).append(arg.partition("=")[2])
            i += 1
            continue
        if "commands" in node:
            key = " ".join([*path, arg])
            if key not in commands:
                return None  # not a command: click's answer may be options, let it give it
            path.append(arg)
            node = commands[key]
            used = set()
            given = {}
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
    return _names(commands[""], root_given, node, given, positionals, incomplete)


class _Ctx:
    """What ctrtool.names reads of click's context: ``params`` and ``find_root()``."""

    def __init__(self, params: dict, root: _Ctx | None = None):
        self.params = params
        self.root = root or self

    def find_root(self) -> _Ctx:
        return self.root


def _params(node: dict, given: dict[str, list[str]]) -> dict | None:
    """ctx.params as click fills them for the parameters the completers read; None where the
    index cannot say (a callback it does not know, an environment variable that is set)."""
    out: dict = {}
    for name, spec in node.get("values", {}).items():
        if name in given:
            kind = spec["kind"]
            if kind.partition("+")[::2] not in (("str", ""), ("text", ""), ("str", "namespace"), ("text", "namespace")):
                return None
            values = given[name]
            if kind.endswith("+namespace"):
                from .errors import UsageError
                from .refs import check_namespace

                try:
                    values = [check_namespace(v) for v in values]  # type: ignore[misc]
                except UsageError:  # click, parsing resiliently, gives the value None
                    out[name] = None
                    continue
            out[name] = list(values) if spec["multiple"] else values[-1]
        else:
            if any(os.environ.get(var) for var in spec["envvar"]) or spec["default"] == "\0unknown":
                return None
            out[name] = spec["default"]
    return out


def _names(
    root: dict, root_given: dict, node: dict, given: dict, positionals: int, incomplete: str
) -> list[list[str]] | None:
    """An argument's value, where the argument's completer is one of ctrtool.names' (image and
    container names, from one listing): click's first argument still without its value."""
    if "commands" in node or (incomplete and not incomplete[0].isalnum() and incomplete[0] not in "./_"):
        return None
    target = None
    left = positionals
    arguments = node.get("arguments", [])
    for number, (_name, nargs, completer) in enumerate(arguments):
        if nargs == -1:
            if number != len(arguments) - 1:
                return None
            target = completer
            break
        if nargs != 1:
            return None
        if left:
            left -= 1
            continue
        target = completer
        break
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if target is None or encoding != "utf8":
        return None
    params, root_params = _params(node, given), _params(root, root_given)
    if params is None or root_params is None:
        return None
    from . import names

    words = _listing(lambda: getattr(names, target)(_Ctx(params, _Ctx(root_params)), incomplete))
    return [[w, f'"{_zsh_escape(w)}"', w] for w in words if w.startswith(incomplete)]


def _zsh_escape(s: str) -> str:
    """typer's ZshComplete.format_completion, for a candidate without help."""
    return s.replace('"', '""').replace("'", "''").replace("$", "\\$").replace("`", "\\`").replace(":", r"\\:")


def _listing(produce):
    """Run a listing as the app would: every tool it started ends with it, on a signal too."""
    import signal

    from . import runner

    def on_signal(signum, _frame) -> None:
        runner.end_children(wait=None, signum=signum)
        os._exit(128 + signum)

    before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return produce()
    finally:
        runner.end_children()
        for sig, handler in before.items():
            signal.signal(sig, handler)
