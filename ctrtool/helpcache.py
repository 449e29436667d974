"""`ctrtool [COMMAND...] --help` from a cache of what typer rendered, so that help costs what
`--version` costs once it has been rendered for a terminal of that width and those settings.

The help stays typer's: on a miss the app renders it as always and the exact bytes written to stdout
are kept; a hit writes those bytes. The key is everything the rendering depends on: ctrtool's
version, every module's size and mtime (a changed docstring is a new help), the command line, whether
stdout is a terminal and its size, stdout's encoding, and the environment variables rich, typer and
click read for width, colour and terminal (COLUMNS, NO_COLOR, FORCE_COLOR, TERM, ...) and ctrtool's
own. Kept in ``$XDG_CACHE_HOME/ctrtool/help`` (``~/.cache/ctrtool/help``), a directory of the user's
own (mode 0700, not group- or world-writable: else no cache is used), one file per key, written
atomically; a file is read only if it is a regular file of the user's, at most :data:`LIMIT` bytes.
``CTRTOOL_HELP_CACHE=0`` turns it off. Standard library only (the fast path's rule).
"""

from __future__ import annotations

import os
import stat
import sys

LIMIT = 1 << 20  # a rendered help is a few KiB
KEEP = 64  # files kept: a new one beyond that removes the oldest (a new version's are new keys)
# set by the entry point (ctrtool.launch) for a help request that missed: the cache file the app's
# output goes to once it has written it all and exits 0 (ctrtool.cli.main)
PENDING: str | None = None
ENV = (
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERMINAL_WIDTH",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "JPY_PARENT_PID",
    "GITHUB_ACTIONS",
    "DATABRICKS_RUNTIME_VERSION",
    "TYPER_USE_RICH",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "HOME",
    "XDG_CONFIG_HOME",
)
HELP = ("--help", "-h")
# commands whose --help is not the plain rendering of their declaration (translate passes a docker
# command line through)
NOT_CACHED = ("translate",)


def is_help(argv: list[str], commands: dict) -> bool:
    """``[COMMAND [SUBCOMMAND]] --help``: command words the index knows, then one help flag."""
    if not argv or argv[-1] not in HELP or any(a.startswith("-") for a in argv[:-1]):
        return False
    words = " ".join(argv[:-1])
    return words in commands and (not argv[:-1] or argv[0] not in NOT_CACHED)


def _directory(env) -> str | None:
    """The cache directory, made if missing; None when it is not the user's own (or cannot be)."""
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    path = os.path.join(base, "ctrtool", "help")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return path


def _sources() -> list[tuple[str, int, int]]:
    """Every module of ctrtool with its size and mtime: a changed declaration is another help."""
    top = os.path.dirname(os.path.abspath(__file__))
    out = []
    stack = [top]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                stack.append(entry.path)
            elif entry.name.endswith((".py", ".json", ".yaml")):
                st = entry.stat(follow_symlinks=False)
                out.append((os.path.relpath(entry.path, top), st.st_size, st.st_mtime_ns))
    return sorted(out)


def key(argv: list[str], env) -> str:
    import hashlib
    import json

    from . import __version__

    tty = os.isatty(1)
    size = None
    if tty:
        try:
            size = tuple(os.get_terminal_size(1))
        except OSError:
            size = None
    material = {
        "version": __version__,
        "python": sys.version,
        "sources": _sources(),
        "argv": argv,
        "tty": tty,
        "size": size,
        "encoding": getattr(sys.stdout, "encoding", None),
        "env": {k: env.get(k) for k in ENV},
        "ctrtool": {k: v for k, v in env.items() if k.startswith("CTRTOOL_")},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def lookup(argv: list[str], env, commands: dict) -> tuple[str | None, bytes | None]:
    """(the cache file for this help, its bytes if cached); (None, None) when this run is no help
    request or the cache is off or not the user's own."""
    if env.get("CTRTOOL_HELP_CACHE") == "0" or not is_help(argv, commands):
        return None, None
    directory = _directory(env)
    if directory is None:
        return None, None
    path = os.path.join(directory, key(argv, env))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return path, None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > LIMIT:
            return path, None
        data = b""
        while len(data) <= LIMIT:
            chunk = os.read(fd, LIMIT + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        return path, None
    finally:
        os.close(fd)
    return path, (data if 0 < len(data) <= LIMIT else None)


def store(path: str, data: bytes) -> None:
    """Keep the bytes the app wrote to stdout (atomically: a temporary file renamed); any failure
    keeps nothing."""
    import tempfile

    if not data or len(data) > LIMIT:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        _prune(os.path.dirname(path))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _prune(directory: str) -> None:
    """Keep the :data:`KEEP` newest cache files (regular files of this cache's naming only)."""
    found = []
    for entry in os.scandir(directory):
        if len(entry.name) == 64 and entry.is_file(follow_symlinks=False):
            found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
    for _mtime, path in sorted(found)[:-KEEP]:
        try:
            os.unlink(path)
        except OSError:
            pass
