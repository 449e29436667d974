"""Typed errors. Each one renders as one line plus a hint, and carries its exit code.

Exit codes (documented in README and docs/reference.md):
  0 ok, 1 tool or runtime error, 2 usage or configuration error, 3 partial result
  (some backends failed, the others printed), 4 no equivalent (translate), 5 refused: a destructive
  operation was not confirmed, 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_NO_EQUIVALENT = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130


class CtrtoolError(Exception):
    """Base of every expected failure: printed as one line plus a hint, no traceback."""

    exit_code = EXIT_ERROR
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message


class UsageError(CtrtoolError):
    exit_code = EXIT_USAGE


class ConfigError(CtrtoolError):
    """A configuration file that cannot be used: names the file, the line and what is wrong."""

    exit_code = EXIT_USAGE

    def __init__(self, path: str, problem: str, line: int | None = None, hint: str | None = None):
        where = f"{path}:{line}" if line else path
        super().__init__(f"config file {where}: {problem}", hint)
        self.path = path
        self.line = line


class LabError(CtrtoolError):
    """The local lab cannot be set up, used or torn down (or a binary it needs is missing)."""

    default_hint = "`ctrtool lab status` shows the lab's daemons, sockets and logs"


class ToolError(CtrtoolError):
    """Something went wrong running one tool. ``tool`` is the binary, ``endpoint`` what it talked to,
    ``backend`` the backend whose adapter recognised the failure (when one did)."""

    backend: str | None = None

    def __init__(
        self,
        tool: str,
        message: str,
        hint: str | None = None,
        endpoint: str | None = None,
        argv: list[str] | None = None,
    ):
        self.tool = tool
        self.endpoint = endpoint
        self.argv = list(argv or [])
        where = f"{tool} ({endpoint})" if endpoint else tool
        super().__init__(f"{where}: {message}", hint)


class ToolNotInstalled(ToolError):
    def __init__(self, tool: str, hint: str | None = None, argv: list[str] | None = None):
        super().__init__(
            tool, "not installed (not found on PATH)", hint or f"install {tool}, or put it on PATH", argv=argv
        )


UNREACHABLE_HINT = (
    "is the daemon running, and is this the right endpoint? `ctrtool info` shows which endpoint each backend uses"
)


class Unreachable(ToolError):
    """Daemon not listening, socket missing, or permission denied on the socket. Adapters give no
    hint: the CLI layer words it from the backend's descriptor (commands/common.py ``hint_for``)."""

    def __init__(
        self, tool: str, endpoint: str | None, detail: str, hint: str | None = None, argv: list[str] | None = None
    ):
        self.detail = detail
        super().__init__(
            tool,
            f"cannot reach the daemon: {detail}",
            hint or UNREACHABLE_HINT,
            endpoint=endpoint,
            argv=argv,
        )


class PermissionDenied(Unreachable):
    def __init__(self, tool: str, endpoint: str | None, detail: str, argv: list[str] | None = None):
        super().__init__(tool, endpoint, detail, hint="run as root (or a member of the socket's group)", argv=argv)


class ToolTimeout(ToolError):
    def __init__(self, tool: str, seconds: float, endpoint: str | None = None, argv: list[str] | None = None):
        self.seconds = seconds
        super().__init__(
            tool,
            f"timed out after {seconds:g}s",
            "the daemon may be hung or overloaded; raise --timeout "
            "(or `timeout:` in the config file) if it is just slow",
            endpoint=endpoint,
            argv=argv,
        )


class ToolFailed(ToolError):
    def __init__(
        self,
        tool: str,
        returncode: int,
        stderr: str,
        endpoint: str | None = None,
        argv: list[str] | None = None,
        hint: str | None = None,
    ):
        self.returncode = returncode
        self.stderr = stderr
        detail = _one_line(stderr) or "(no stderr)"
        super().__init__(
            tool,
            f"`{_short_argv(argv)}` failed with exit code {returncode}: {detail}",
            hint or "run the command above by hand to see the full output (CTRTOOL_DEBUG=1 shows the traceback)",
            endpoint=endpoint,
            argv=argv,
        )


class OutputNotUnderstood(ToolError):
    """A tool printed something its adapter cannot parse. The raw output is kept in ``saved_to``."""

    def __init__(
        self, tool: str, what: str, saved_to: str | None, endpoint: str | None = None, argv: list[str] | None = None
    ):
        self.saved_to = saved_to
        where = f"; raw output saved to {saved_to}" if saved_to else ""
        super().__init__(
            tool,
            f"output of `{_short_argv(argv)}` not understood: {what}{where}",
            f"this {tool} version may print a format ctrtool does not know; please report it with the saved output",
            endpoint=endpoint,
            argv=argv,
        )


class LayoutNotUnderstood(CtrtoolError):
    """A daemon's files on disk are not what ctrtool expects (a missing map file, an unreadable or
    inconsistent database, a directory that should exist and does not): where a layer is stored
    is then unknown, and ctrtool says so rather than guess."""

    def __init__(self, what: str, path: str | None, hint: str | None = None):
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(
            f"where the layers are stored is unknown: {what}{where}",
            hint
            or "the daemon may be changing its files right now (try again), or use a "
            "version ctrtool knows (docker overlay2; containerd 1.6 overlayfs or native)",
        )


class NoEndpoint(CtrtoolError):
    default_hint = ""


class NotFound(CtrtoolError):
    """A container or image is not where the user looked. ``elsewhere`` lists the places (backend,
    namespace) where it does exist; the hint then says where and the command that reaches it."""

    def __init__(
        self,
        kind: str,
        name: str,
        where: str,
        hint: str | None = None,
        elsewhere: list[tuple[str, str | None]] | None = None,
        there: list[str] | None = None,
    ):
        self.kind = kind
        self.name = name
        self.where = where
        self.elsewhere = list(elsewhere or [])
        also = f"; it is in {', '.join(there)}" if there else ""
        super().__init__(
            f"{kind} {name!r} not found in {where}{also}",
            hint if hint is not None else _where_to_look(kind),
        )


def _where_to_look(kind: str) -> str:
    if kind == "pod":
        return "`ctrtool pods` lists the pods"
    return f"`ctrtool {'ps -a' if kind == 'container' else 'images'} --all-backends` lists what exists where"


class Ambiguous(UsageError):
    """A name matches more than one container, image or place: nothing was done."""

    def __init__(self, message: str, candidates: list[str], hint: str | None = None):
        self.candidates = list(candidates)
        super().__init__(f"{message}: {'; '.join(candidates)}", hint)


class Unsupported(UsageError):
    """The chosen tool has no such operation (e.g. crictl cannot tag, load or save images)."""


class InvalidState(CtrtoolError):
    """The operation does not fit the container's state (e.g. exec in a stopped container)."""


class PullFailed(ToolError):
    """A pull that failed because the registry could not be reached or the image is not there."""

    def __init__(
        self, tool: str, ref: str, detail: str, hint: str, endpoint: str | None = None, argv: list[str] | None = None
    ):
        self.ref = ref
        self.detail = detail
        super().__init__(tool, f"cannot pull {ref}: {detail}", hint, endpoint=endpoint, argv=argv)


def _one_line(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    out = " | ".join(lines)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def _short_argv(argv: list[str] | None) -> str:
    import shlex

    if not argv:
        return "?"
    return shlex.join(argv)


class IncompleteLookup(CtrtoolError):
    """A change was asked for by name, and some backend did not answer the lookup: the name may be
    there too, so acting on the one place that answered could pick the wrong thing. Nothing was
    done (exit 3, as for a partial result)."""

    exit_code = EXIT_PARTIAL

    def __init__(self, kind: str, name: str, silent: dict[str, CtrtoolError], hint: str | None = None):
        self.kind = kind
        self.name = name
        self.unanswered = dict(silent)
        why = "; ".join(e.message if e.message.startswith(b) else f"{b}: {e.message}" for b, e in silent.items())
        super().__init__(
            f"cannot tell where {kind} {name!r} is: {', '.join(silent)} did not answer ({why})",
            hint
            if hint is not None
            else "nothing was changed; say where with --backend (and -n for ctr), or try again "
            "when every backend answers",
        )


class OutputFailed(CtrtoolError):
    """ctrtool's own stdout cannot be written (a full disk, a closed descriptor): exit 1, one line."""

    silent = False

    def __init__(self, errno_: int | None, strerror: str | None):
        self.errno = errno_
        super().__init__(
            f"cannot write to stdout: {strerror or 'write error'}",
            "the output was cut short; check where stdout goes (a full disk, a closed descriptor)",
        )


class OutputGone(OutputFailed):
    """Whoever read our stdout went away (EPIPE: `ctrtool images | head -1`): nothing to say, and
    nobody to say it to. Exit 141, as a tool killed by SIGPIPE."""

    exit_code = 141
    silent = True


class Terminated(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived: every child tool was ended; exit 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class ArchiveReaderGone(OutputGone):
    """An archive written to stdout (`save -o - | head -c 100`) whose reader went away before its
    end: the reader's choice, as with docker save. Exit 0, nothing on stderr."""

    exit_code = EXIT_OK
    silent = True
