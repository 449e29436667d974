"""The typer app: global options, the command groups, and main()."""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from typing import Annotated, Optional

import typer

from . import __version__
from .commands.containers import exec_, inspect, kill, logs, rm, start, stop
from .commands.copy import copy
from .commands.df import df
from .commands.doctor import doctor
from .commands.explain import explain
from .commands.imageops import load, prune, pull, rmi, save, tag
from .commands.images import images
from .commands.info import info
from .commands.layers import layers
from .commands.ps import pods, ps
from .commands.reclaim import reclaim
from .commands.translate import CONTEXT_SETTINGS as _TRANSLATE_CONTEXT
from .commands.translate import translate

app = typer.Typer(
    name="ctrtool",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings wrap as paragraphs; `code` shows as code
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ctrtool {__version__}")
        raise typer.Exit()


def _check_timeout(value: Optional[float]) -> Optional[float]:
    from .config import check_timeout

    problem = None if value is None else check_timeout(value)
    if problem:
        raise typer.BadParameter(problem)
    return value


def _check_via(value: Optional[str]) -> Optional[str]:
    from .config import VIA_CHOICES

    if value is not None and value not in VIA_CHOICES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(VIA_CHOICES)}")
    env = os.environ.get("CTRTOOL_VIA")
    if value is None and env and env not in VIA_CHOICES:
        raise typer.BadParameter(f"CTRTOOL_VIA={env!r} is not one of {', '.join(VIA_CHOICES)}")
    return value


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config",
            "-c",
            metavar="PATH",
            envvar=None,
            help="ctrtool config file (default: $CTRTOOL_CONFIG, ~/.config/ctrtool/config.yaml, "
            "/etc/ctrtool/config.yaml).",
        ),
    ] = None,
    timeout: Annotated[
        Optional[float],
        typer.Option(
            "--timeout",
            "-t",
            metavar="SECONDS",
            callback=_check_timeout,
            help="Time allowed per backend, 0.1 to 86400 (default 10; env CTRTOOL_TIMEOUT).",
        ),
    ] = None,
    docker_host: Annotated[
        Optional[str],
        typer.Option("--docker-host", "-H", metavar="URL", help="docker daemon socket (like DOCKER_HOST)."),
    ] = None,
    docker_context: Annotated[
        Optional[str],
        typer.Option("--context", metavar="NAME", help="docker CLI context to use (like DOCKER_CONTEXT)."),
    ] = None,
    address: Annotated[
        Optional[str],
        typer.Option("--address", "-a", metavar="PATH", help="containerd socket for ctr (like CONTAINERD_ADDRESS)."),
    ] = None,
    runtime_endpoint: Annotated[
        Optional[str],
        typer.Option(
            "--runtime-endpoint",
            "-r",
            metavar="URL",
            help="CRI runtime endpoint for crictl (like CONTAINER_RUNTIME_ENDPOINT).",
        ),
    ] = None,
    image_endpoint: Annotated[
        Optional[str],
        typer.Option(
            "--image-endpoint", "-i", metavar="URL", help="CRI image endpoint for crictl (like IMAGE_SERVICE_ENDPOINT)."
        ),
    ] = None,
    via: Annotated[
        Optional[str],
        typer.Option(
            "--via",
            metavar="auto|tools",
            callback=_check_via,
            help="How listings are read: auto (containerd's metadata on disk when readable, else the "
            "tools) or tools (always the tools) (default auto; env CTRTOOL_VIA).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print ctrtool's version.")
    ] = False,
) -> None:
    """One CLI over docker, ctr and crictl: every image store, namespace and path on a node.

    Exit status: 0 ok, 1 error, 2 usage or configuration error, 3 partial result (some backends
    failed, the others printed, or a change refused because a backend did not answer), 4 no
    equivalent (translate), 5 a change not confirmed, 130/143/129 ended by SIGINT/SIGTERM/SIGHUP,
    141 the reader of stdout went away.
    """
    from .config import Flags
    from .errors import CtrtoolError
    from .runner import check_trace

    try:
        check_trace()
    except CtrtoolError as exc:
        from .output import Output

        Output().error(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from None
    ctx.obj = {
        "flags": Flags(
            config=config,
            timeout=timeout,
            docker_host=docker_host,
            docker_context=docker_context,
            containerd_address=address,
            runtime_endpoint=runtime_endpoint,
            image_endpoint=image_endpoint,
            via=via,
        )
    }


app.command("images")(images)
app.command("layers")(layers)
app.command("df")(df)
app.command("explain")(explain)
app.command("info")(info)
app.command("doctor")(doctor)
app.command("where", help="Alias of `info`.")(info)
app.command("translate", context_settings=_TRANSLATE_CONTEXT)(translate)
app.command("ps")(ps)
app.command("pods")(pods)
app.command("inspect")(inspect)
app.command("logs")(logs)
app.command("exec", context_settings={"allow_interspersed_args": False})(exec_)
app.command("start")(start)
app.command("stop")(stop)
app.command("kill")(kill)
app.command("rm")(rm)
app.command("rmi")(rmi)
app.command("prune")(prune)
app.command("tag")(tag)
app.command("pull")(pull)
app.command("load")(load)
app.command("save")(save)
app.command("copy")(copy)
app.command("reclaim")(reclaim)


def completion_command(
    shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish", help="The shell.")],
) -> None:
    """Print the script that makes SHELL complete ctrtool's commands, options, backends, namespaces,
    image and container names (these from one listing each, as you type).

    bash: `source <(ctrtool completion bash)` (or write it to a file that ~/.bashrc sources;
    /etc/bash_completion.d is read only with the bash-completion package);
    zsh: `source <(ctrtool completion zsh)`; fish: `ctrtool completion fish | source`
    (or write it to ~/.config/fish/completions/ctrtool.fish)."""
    from . import completion
    from .errors import UsageError

    if shell not in completion.SHELLS:
        raise UsageError(f"no completion for shell {shell!r}", f"choose from {', '.join(completion.SHELLS)}")
    sys.stdout.write(completion.script(shell).rstrip("\n") + "\n")


def _add_completion() -> None:
    from .commands.common import handle_errors

    app.command("completion")(handle_errors(completion_command))


_add_completion()


def _add_lab() -> None:
    from .commands.lab import app as lab_app

    app.add_typer(lab_app, name="lab")


_add_lab()


def _add_nodes() -> None:
    from .commands.nodes import app as nodes_app

    app.add_typer(nodes_app, name="nodes")


_add_nodes()


def _narrowed(argv: list[str]) -> typer.Typer:
    """The app with only the command ``argv`` runs (typer builds every registered command's click
    command, every signature evaluated, before it parses anything: about 30 ms); the whole app when
    the line does not name a command for sure (the root's help lists them all), and for a shell's
    completion request (its line is not in argv)."""
    import copy

    from . import completion
    from .index import command_word

    word = None if completion.requested() else command_word(argv)
    if word is None:
        return app
    only = copy.copy(app)
    only.registered_commands = [c for c in app.registered_commands if c.name == word]
    only.registered_groups = [g for g in app.registered_groups if g.name == word]
    return only if only.registered_commands or only.registered_groups else app


def kubectl_plugin() -> None:
    """The `kubectl-ctrtool` command: kubectl runs it for `kubectl ctrtool ...` (a kubectl plugin is
    an executable named kubectl-NAME on PATH). The same CLI; usage lines say `kubectl ctrtool`."""
    main(prog_name="kubectl ctrtool")


def main(prog_name: str = "ctrtool") -> None:
    """The `ctrtool` command: the app, with the process-wide rules around it.

    * stdin, stdout and stderr always exist (a closed one is replaced, so that no file or tool
      takes its place); text that the locale cannot encode is escaped, never a traceback;
    * stdout that cannot be written is one line and exit 1; a reader that went away (EPIPE) is
      silent, exit 141;
    * SIGINT, SIGTERM and SIGHUP end every tool ctrtool started (each one's process group) and
      wait for them; ctrtool then exits 130, 143 or 129. At any exit no tool is left running.
    """
    from . import runner
    from .errors import OutputFailed

    _stdio()
    _sane_environment()
    from . import completion, helpcache

    kept = _keep_stdout() if helpcache.PENDING else None

    if completion.requested():
        completion.prepare()
    signalled = _handle_signals()
    code: int | str | None = 0
    try:
        try:
            returned = _narrowed(sys.argv[1:])(prog_name=prog_name, standalone_mode=False)
            code = returned if isinstance(returned, int) else 0  # typer.Exit(n): n; a command's return: 0
        except SystemExit as exc:
            code = exc.code
        except typer.TyperException as exc:  # click's usage errors: one line and a hint, like ours
            code = _report_usage(exc)
        except typer.Abort:
            _report_line("aborted")
            code = 1
        except OutputFailed as exc:  # from typer itself (help, usage), outside handle_errors
            code = _report_output(exc)
        except KeyboardInterrupt as exc:
            code = 128 + getattr(exc, "signum", signal.SIGINT)
        try:
            sys.stdout.flush()
        except OutputFailed as exc:
            code = _report_output(exc) if code in (0, None) else code
    finally:
        for sig in SIGNALS:  # no signal may interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        runner.end_children()
    if signalled:
        expected = 128 + signalled[0]
        if code != expected:
            # the signal came to another thread while the results were being gathered: the main
            # thread may have seen the tools' ends before the signal itself; say it the same way
            if code not in (130, 129, 143):
                _report_line(
                    "interrupted"
                    if signalled[0] == signal.SIGINT
                    else f"terminated by {signal.Signals(signalled[0]).name}",
                    "every tool ctrtool had started was stopped",
                )
            code = expected
        # every tool is gone (end_children waited for them); the backends' threads may still be
        # unwinding, or be where the signal left a lock held: exit without waiting for them
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001  (nothing more can be said)
                pass
        os._exit(_exit_status(code))
    if kept is not None and helpcache.PENDING and code in (0, None):
        helpcache.store(helpcache.PENDING, b"".join(kept))
    sys.exit(code)


def _keep_stdout() -> list[bytes] | None:
    """The list every byte written to fd 1 is added to, or None (stdout is not ctrtool's own)."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if not isinstance(raw, _Fd):
        return None
    raw.kept = []
    return raw.kept


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _handle_signals() -> list[int]:
    """SIGINT, SIGTERM and SIGHUP end every tool at once and raise KeyboardInterrupt (SIGINT) or
    Terminated in the main thread; returns the list of the signals received."""
    from . import runner
    from .errors import Terminated

    signalled: list[int] = []

    def on_signal(signum, _frame) -> None:
        signalled.append(signum)
        runner.end_children(wait=None, signum=signum)  # at once: a thread may be waiting for one
        if len(signalled) > 1:
            return  # already on the way out (timeout(1) signals its child, then its group again)
        if runner.deferring():
            return  # a tool is starting: it is ended, and this raised, once it is recorded
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    _watch_signals(SIGNALS)
    return signalled


def _watch_signals(signals: tuple[int, ...]) -> None:
    """The kernel may hand a signal to any thread, and Python runs its handler only when the main
    thread next runs: a main thread waiting for the backends' threads would wait for their tools
    (the whole timeout). So a watcher thread learns of every signal at once (the wakeup fd) and
    ends the tools then; their threads finish, and the main thread's handler raises. The watcher
    blocks the signals itself, so that a main thread blocked on a read (the consent prompt) still
    gets them. While a passthrough tool runs (logs -f, exec), the tool decides (runner)."""
    import threading

    from . import runner

    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(read_end, True)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        while True:
            try:
                got = os.read(read_end, 64)
            except OSError:
                return
            mine = [byte for byte in got if byte in signals]
            if mine and not runner.passing_through():
                runner.end_children(wait=None, signum=mine[0])

    threading.Thread(target=watch, name="ctrtool-signals", daemon=True).start()


def _exit_status(code: int | str | None) -> int:
    return code if isinstance(code, int) else (0 if code is None else 1)


def _report_line(message: str, hint: str | None = None) -> None:
    """An error in the project's format, without rich (which may be what failed)."""
    from .output import one_line

    sys.stderr.write(f"ctrtool: error: {one_line(message)}\n" + (f"  hint: {one_line(hint)}\n" if hint else ""))
    sys.stderr.flush()


def _report_output(exc) -> int:
    if not exc.silent:
        _report_line(exc.message)
    return exc.exit_code


def _report_usage(exc) -> int:
    """A usage error found while parsing (unknown option, bad value, missing argument): one line,
    and where the help is."""
    if exc.__class__.__name__ == "NoArgsIsHelpError":  # the help is printed already, as typer does
        return getattr(exc, "exit_code", 2)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "ctrtool"
    message = " ".join(exc.format_message().split())  # click wraps nothing, but a value may hold newlines
    hint = f"`{command} --help` shows the usage"
    docker_verb = _docker_verb(message) if command == "ctrtool" else None
    if docker_verb:
        # `ctrtool stats` is a docker habit, not a typo of `start`: say where that command lives
        word, translated = docker_verb
        message = f"ctrtool has no command {word!r} (it is docker's)"
        hint = (
            f"`ctrtool translate -- docker {word} ...` gives the crictl and ctr commands for it; "
            "`ctrtool --help` lists ctrtool's own"
            if translated
            else f"`ctrtool translate` does not cover `docker {word}` either; `ctrtool --help` lists ctrtool's commands"
        )
    _report_line(message, hint)
    return getattr(exc, "exit_code", 2)


def _docker_verb(message: str) -> tuple[str, bool] | None:
    """The word of a "No such command" error when it is a docker command (by docker's grammar in
    translate's data), and whether translate covers it; else None."""
    import re

    found = re.match(r"No such command '([^']+)'", message)
    if not found:
        return None
    try:
        from .translate.tables import grammar

        known = grammar()
    except Exception:  # the data could not load: the plain usage error stands
        return None
    word = found.group(1)
    if word in known.commands or word in known.aliases or word in known.management:
        return word, True
    if word in known.top_level:
        return word, False
    return None


class _Fd(io.FileIO):
    """fd 1 or 2 under ctrtool's text streams: a write that fails is a typed error (stdout) or
    is dropped (stderr: there is nowhere left to say anything)."""

    def __init__(self, fd: int, is_stdout: bool):
        super().__init__(fd, "w", closefd=False)
        self.is_stdout = is_stdout
        self.gone = False
        self.kept: list[bytes] | None = None  # what was written, when asked (a help to cache)

    def write(self, data) -> int:
        if self.gone:
            return len(data)
        try:
            n = super().write(data)
            if self.kept is not None and n:
                self.kept.append(bytes(data[:n]))
            return n
        except OSError as exc:
            if not self.is_stdout:
                self.gone = True
                return len(data)
            from .errors import OutputFailed, OutputGone

            self.gone = True  # said once; what is left in the buffers is dropped
            if exc.errno == errno.EPIPE:
                raise OutputGone(exc.errno, exc.strerror) from None
            raise OutputFailed(exc.errno, exc.strerror) from None


def _escape_unencodable(exc: UnicodeError):
    """Error handler for ctrtool's output: bytes that came in undecodable (argv, a tool's output)
    go out as they came; other characters the locale cannot encode (LANG=C) are escaped."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    out = b""
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out += bytes([code - 0xDC00])
        else:
            out += {"\u2026": b"...", "\u2500": b"-"}.get(ch) or ch.encode("ascii", "backslashreplace")
    return out, exc.end


def _sane_environment() -> None:
    """COLUMNS that is not a width ("abc", "-5", "0") is dropped, as if unset: rich (ours and
    typer's help) would otherwise print nothing at all, or fail."""
    from .output import columns_from_env

    if "COLUMNS" in os.environ and columns_from_env() is None:
        del os.environ["COLUMNS"]


def _stdio() -> None:
    """Make fds 0, 1, 2 exist and put ctrtool's text streams on 1 and 2."""
    import codecs

    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        # a closed stdout becomes a read-only /dev/null: writing to it fails with EBADF, as on a
        # closed descriptor, and nothing ctrtool opens later can take fd 1
        try:
            os.fstat(fd)
        except OSError:
            new = os.open(os.devnull, flags)
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
    codecs.register_error("ctrtool", _escape_unencodable)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        encoding = getattr(old, "encoding", None) or "utf-8"
        raw = _Fd(fd, is_stdout=fd == 1)
        stream = io.TextIOWrapper(
            io.BufferedWriter(raw),
            encoding=encoding,
            errors="ctrtool",
            line_buffering=raw.isatty(),
            write_through=fd == 2,
        )
        setattr(sys, name, stream)


if __name__ == "__main__":
    main()
