"""What the commands share: option types, settings from the global options, error reporting."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import Annotated, Any, Callable, Optional

import typer

from ..errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, CtrtoolError
from ..output import FORMATS, Output

BackendOpt = Annotated[Optional[list[str]], typer.Option(
    "--backend", "-b", metavar="docker|ctr|crictl",
    help="Backend to query; repeat for several. Default: every backend found on this machine.")]
AllBackendsOpt = Annotated[bool, typer.Option(
    "--all-backends", "-A", help="Query docker, ctr and crictl, and report each one that fails.")]
NamespaceOpt = Annotated[Optional[list[str]], typer.Option(
    "--namespace", "-n", metavar="NS",
    help="containerd namespace for ctr (repeatable). Default: CONTAINERD_NAMESPACE, else every "
         "namespace `ctr namespaces ls` lists.")]
OutputOpt = Annotated[str, typer.Option(
    "--output", "-o", metavar="|".join(FORMATS), help="Output format.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only image IDs, one per line.")]


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
    return obj["settings"]


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
            Output().error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Output().error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def report_failures(out: Output, got: Any, asked: int) -> int:
    """Print the warnings, and one line (and a hint) per failed backend; return the exit code.

    All backends failed: 1. Some failed, others printed: 3 (partial result). None failed: 0.
    """
    for warning in got.warnings:
        out.warn(warning)
    failed = got.failed
    for outcome in failed:
        exc = outcome.error
        if os.environ.get("CTRTOOL_DEBUG"):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        message = exc.message if exc.message.startswith(outcome.backend) else f"{outcome.backend}: {exc.message}"
        out.error(message, exc.hint)
    if not failed:
        return EXIT_OK
    return EXIT_ERROR if len(failed) >= asked else EXIT_PARTIAL


# -- routed operations (one backend, one namespace) ---------------------------------------------

OneBackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", "-b", metavar="docker|ctr|crictl",
    help="The tool to use. Default: wherever the container or image is (an error if it is in "
         "several places).")]
OneNamespaceOpt = Annotated[Optional[str], typer.Option(
    "--namespace", "-n", metavar="NS",
    help="containerd namespace for ctr. Default: CONTAINERD_NAMESPACE, then ctr.namespace in the "
         "config file, then `default` (ctr's own default).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Print the exact command(s), shell-quoted, and change nothing.")]


def rerun(command: str, *args: str) -> Callable[[str, Optional[str]], str]:
    """The ctrtool command line that does the same in another place (for hints)."""
    import shlex

    def line(backend: str, namespace: Optional[str]) -> str:
        ns = ["-n", namespace] if backend == "ctr" and namespace else []
        return shlex.join(["ctrtool", command, "--backend", backend, *ns, *args])

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
    if not approve(what, commands, yes=yes or not destructive, dry_run=dry_run,
                   piped=any(p.piped for p in todo)):
        return []
    return [plan.execute() for plan in todo]
