"""What the commands share: option types, settings from the global options, error reporting."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from .. import completion
from ..errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, CtrtoolError
from ..output import FORMATS, Output
from ..refs import NAMESPACE_RE, check_namespace  # noqa: F401  (commands import them from here)


def filter_option(keys: str) -> Any:
    """``--filter``/``-f KEY=VALUE`` of a listing, as docker's; ``keys``: the keys it knows, in words."""
    return typer.Option("--filter", "-f", metavar="KEY=VALUE", help=f"{keys} Repeatable: all must hold.")


def sort_option(keys: str) -> Any:
    """``--sort KEY`` of a listing; ``keys``: the keys it knows, in words."""
    return typer.Option("--sort", metavar="KEY", help=keys)


def _backend_flag(help: str) -> Any:
    """``--backend``/``-b`` of a listing (repeatable) or of an operation (one)."""
    return typer.Option("--backend", "-b", metavar="docker|ctr|crictl", autocompletion=completion.backends, help=help)


def _namespace_flag(callback: Callable[[Any], Any], help: str) -> Any:
    """``--namespace``/``-n`` of a listing (repeatable) or of an operation (one)."""
    return typer.Option(
        "--namespace", "-n", metavar="NS", callback=callback, autocompletion=completion.namespaces, help=help
    )


BackendOpt = Annotated[
    Optional[list[str]],
    _backend_flag("Backend to query; repeat for several. Default: every backend found on this machine."),
]
AllBackendsOpt = Annotated[
    bool, typer.Option("--all-backends", "-A", help="Query docker, ctr and crictl, and report each one that fails.")
]
NamespaceOpt = Annotated[
    Optional[list[str]],
    _namespace_flag(
        lambda v: namespaces_option(v),
        "containerd namespace for ctr (repeatable). Default: CONTAINERD_NAMESPACE, else every "
        "namespace `ctr namespaces ls` lists.",
    ),
]
OutputOpt = Annotated[
    str,
    typer.Option("--output", "-o", metavar="|".join(FORMATS), autocompletion=completion.formats, help="Output format."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only image IDs, one per line.")]


def check_names(kind: str, names: list[str] | tuple[str, ...]) -> None:
    """Names of containers and images as the user gave them: never empty, never starting with
    "-" (no tool names anything so, and a tool would take it for an option), no control
    characters (a newline would also cut a tool's table output)."""
    from ..errors import UsageError

    for name in names:
        if not name or not name.strip():
            raise UsageError(f"an empty {kind} name", f"give the {kind}'s name or ID")
        if name.startswith("-"):
            raise UsageError(
                f"{name!r} is not a valid {kind} name: names never start with '-'",
                "options go before the names; docker, ctr and crictl names start with a letter or digit",
            )
        if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):  # C0, DEL, C1 (\x9b is CSI)
            raise UsageError(
                f"{name!r} is not a valid {kind} name: it holds control characters",
                "docker, ctr and crictl names are printable text",
            )


def _namespace_option(value: Optional[str]) -> Optional[str]:
    from ..errors import UsageError

    try:
        return check_namespace(value)
    except UsageError as exc:
        raise typer.BadParameter(f"{exc.message.split(' ', 1)[1]}; {exc.hint}") from None


def namespaces_option(values: Optional[list[str]]) -> Optional[list[str]]:
    return [_namespace_option(v) for v in values] if values else values  # type: ignore[misc]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="'-o' / '--output'")
    return fmt


def settings(ctx: typer.Context):
    """The settings built by the root callback from the global options and the config file."""
    from ..config import load

    obj = ctx.find_root().obj
    if "settings" not in obj:
        obj["settings"] = load(obj["flags"])
        _LOADED[:] = [obj["settings"]]
    return obj["settings"]


def hint_for(exc: CtrtoolError, backend: str | None = None) -> str | None:
    """The hint printed under an error. Hints are the CLI's words: an adapter says only that its
    daemon did not answer, and the hint comes from that backend's descriptor (how its endpoint is
    found and set)."""
    from ..errors import UNREACHABLE_HINT, Unreachable

    if isinstance(exc, Unreachable) and exc.hint == UNREACHABLE_HINT:
        name = getattr(exc, "backend", None) or backend
        if name:
            from ..adapters import get_descriptor

            try:
                desc = get_descriptor(name)
            except (KeyError, CtrtoolError):
                return exc.hint
            from ..config import endpoint_hint

            return f"is {desc.daemon} running at this endpoint? {endpoint_hint(name, _loaded_settings())}"
    return exc.hint


def _loaded_settings() -> Any:
    """The running command's Settings if they were loaded (they name the files the tools read)."""
    return _LOADED[-1] if _LOADED else None


_LOADED: list[Any] = []  # the Settings settings() loaded last (one command per process)


def handle_errors(fn: Callable) -> Callable:
    """Turn expected failures into one line plus a hint on stderr and the documented exit code.
    The traceback is shown only with CTRTOOL_DEBUG=1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CtrtoolError as exc:
            if os.environ.get("CTRTOOL_DEBUG"):
                traceback.print_exc()
            if not getattr(exc, "silent", False):
                Output().error(exc.message, hint_for(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            import signal

            from ..runner import end_children

            end_children()  # every tool ended and waited for before we say so
            signum = getattr(exc, "signum", signal.SIGINT)
            Output().error(
                "interrupted" if signum == signal.SIGINT else f"terminated by {signal.Signals(signum).name}",
                "every tool ctrtool had started was stopped",
            )
            raise typer.Exit(EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum) from None

    return wrapper


def report_failures(out: Output, got: Any, asked: int) -> int:
    """Print the warnings, and one line (and a hint) per failed backend; return the exit code.

    All backends failed: their common exit code (2 when each one's configuration is wrong), else
    1. Some failed, others printed: 3 (partial result). None failed: 0.
    """
    import signal

    from ..errors import Terminated
    from ..runner import stop_signal, stopping

    if stopping():  # a signal ended the tools: say that, their "failures" are not news
        signum = stop_signal() or signal.SIGINT
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)
    for warning in got.warnings:
        out.warn(warning)
    failed = got.failed
    for outcome in failed:
        exc = outcome.error
        if os.environ.get("CTRTOOL_DEBUG"):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        message = exc.message if exc.message.startswith(outcome.backend) else f"{outcome.backend}: {exc.message}"
        out.error(message, hint_for(exc, outcome.backend))
    if not failed:
        return EXIT_OK
    if len(failed) < asked:
        return EXIT_PARTIAL
    # every backend failed: for one reason (a configuration error is exit 2), else 1
    codes = {outcome.error.exit_code for outcome in failed}
    return codes.pop() if len(codes) == 1 else EXIT_ERROR


# -- routed operations (one backend, one namespace) ---------------------------------------------

OneBackendOpt = Annotated[
    Optional[str],
    _backend_flag(
        "The tool to use. Default: wherever the container or image is (an error if it is in several places)."
    ),
]
OneNamespaceOpt = Annotated[
    Optional[str],
    _namespace_flag(
        lambda v: _namespace_option(v),
        "containerd namespace for ctr. Default: CONTAINERD_NAMESPACE, then ctr.namespace in the "
        "config file, then `default` (ctr's own default).",
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the exact command(s), shell-quoted, and change nothing.")
]


def rerun(command: str, *args: str) -> Callable[[str, Optional[str]], str]:
    """The ctrtool command line that does the same in another place (for hints)."""
    import shlex

    def line(backend: str, namespace: Optional[str]) -> str:
        from ..adapters import get_descriptor

        return shlex.join(["ctrtool", command, *get_descriptor(backend).place_flags(namespace).split(), *args])

    return line


def carry_out(out: Output, plans: list, *, yes: bool, dry_run: bool) -> list:
    """Run the plans' commands, once consent is given (see ctrtool.safety): destructive plans ask
    on a terminal and are refused without one unless --yes; --dry-run prints every command and
    runs none. Returns what each plan that ran yielded."""
    from ..safety import approve

    for plan in plans:
        if not plan.commands and plan.note:
            out.note(f"{plan.what}: {plan.note}; nothing to do")
    todo = [p for p in plans if p.commands]
    if not todo:
        return []
    commands = [argv for p in todo for argv in p.commands]
    what = "; ".join(p.what for p in todo)
    destructive = any(p.destructive for p in todo)
    if dry_run:
        for plan in todo:
            if plan.note:
                out.note(f"{plan.what}: {plan.note}")
            elif plan.destructive:  # what it would do, in words: e.g. every name crictl rmi removes
                out.note(f"would {plan.what}")
    if not approve(what, commands, yes=yes or not destructive, dry_run=dry_run, piped=any(p.piped for p in todo)):
        return []
    return [plan.execute() for plan in todo]
