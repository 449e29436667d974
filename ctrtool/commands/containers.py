"""Routed container operations: inspect, logs, exec, start, stop, kill, rm.

Each finds the container (or image, pod) with one listing of the chosen backend, or of every
backend when none is given, then hands the adapter's plan or stream to the user. Changes go through
ctrtool.safety: stop, kill and rm ask first (refused without a terminal unless --yes).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from .. import completion
from ..errors import CtrtoolError, NotFound, UsageError
from ..output import Output
from .common import (
    DryRunOpt,
    OneBackendOpt,
    OneNamespaceOpt,
    YesOpt,
    carry_out,
    check_format,
    check_names,
    handle_errors,
    rerun,
    settings,
)

INSPECT_FIELDS = ("backend", "namespace", "type", "id", "name", "details")
TYPES = ("container", "image", "pod")

ContainerArg = Annotated[
    str, typer.Argument(metavar="CONTAINER", autocompletion=completion.containers, help="Name, ID or unique ID prefix.")
]
ContainersArg = Annotated[
    list[str],
    typer.Argument(
        metavar="CONTAINER...", autocompletion=completion.containers, help="Names, IDs or unique ID prefixes."
    ),
]


# -- inspect ------------------------------------------------------------------------------------


@handle_errors
def inspect(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", autocompletion=completion.objects, help="A container, image or pod: name, ID or ID prefix."
        ),
    ],
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    kind: Annotated[
        Optional[str],
        typer.Option(
            "--type", metavar="container|image|pod", help="What NAME is. Default: a container, else an image."
        ),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="json|yaml", help="Output format.")] = "json",
) -> None:
    """The tool's own detailed record of a container, image or pod (docker inspect, ctr containers
    info, crictl inspect / inspecti / inspectp), with where it was found."""
    from ..core.routing import locate_containers, locate_images, locate_pod

    if output not in ("json", "yaml"):
        check_format(output)
        output = "json"  # a table of nested records helps nobody: JSON
    if kind is not None and kind not in TYPES:
        raise typer.BadParameter(f"{kind!r} is not one of {', '.join(TYPES)}", param_hint="'--type'")
    check_names(kind or "container or image", [name])
    out = Output(output)
    conf = settings(ctx)
    if kind == "pod":
        adapter, pod = locate_pod(conf, name)
        out.data([_inspected("pod", pod.backend, pod.namespace, pod.id, pod.name, adapter.inspect_pod(pod))])
        return
    missed: NotFound | None = None
    if kind in (None, "container"):
        try:
            ((adapter, c),) = locate_containers(
                conf, backend, namespace, [name], rerun("inspect", "--type", "container", name)
            )
            out.data([_inspected("container", c.backend, c.namespace, c.id, c.name, adapter.inspect_container(c))])
            return
        except NotFound as exc:
            if kind == "container":
                raise
            missed = exc
    try:
        ((adapter, image),) = locate_images(conf, backend, namespace, [name], rerun("inspect", "--type", "image", name))
    except NotFound as exc:
        if kind == "image":
            raise
        from ..adapters import pods_backend

        if backend in (None, pods_backend()) and not namespace:
            try:  # last, a pod (the CRI's)
                adapter, pod = locate_pod(conf, name)
            except CtrtoolError:
                pass
            else:
                out.data([_inspected("pod", pod.backend, pod.namespace, pod.id, pod.name, adapter.inspect_pod(pod))])
                return
        # neither here: say where either is, if anywhere
        if missed is not None and missed.elsewhere and not exc.elsewhere:
            raise missed from None
        if missed is not None and not exc.elsewhere:
            raise NotFound("container or image", name, exc.where) from None
        raise
    out.data([_inspected("image", image.backend, image.namespace, image.id, image.ref, adapter.inspect_image(image))])


def _inspected(kind: str, backend: str, namespace: str | None, ident: str | None, name: str, details: Any) -> dict:
    return dict(zip(INSPECT_FIELDS, (backend, namespace, kind, ident, name, details)))


# -- logs and exec ------------------------------------------------------------------------------

# what docker and crictl both take for --since: a Go duration (42m, 1h30m, 1.5h) or an RFC 3339 time
_DURATION = r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+"
_RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"


def check_since(text: str) -> str:
    """`logs --since`: a duration (42m, 1h30m) or an RFC 3339 timestamp (2024-01-02T13:23:37Z),
    the forms both docker and crictl take; anything else is a usage error before a tool runs."""
    import re
    from datetime import datetime

    if re.fullmatch(_DURATION, text):
        return text
    if re.fullmatch(_RFC3339, text, flags=re.IGNORECASE):
        try:
            datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            return text
        except ValueError:
            pass
    raise UsageError(f"--since {text!r}: expected a duration (42m, 1h30m) or an RFC 3339 time (2024-01-02T13:23:37Z)")


@handle_errors
def logs(
    ctx: typer.Context,
    container: ContainerArg,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new output (Ctrl-C stops).")] = False,
    tail: Annotated[Optional[int], typer.Option("--tail", min=0, metavar="N", help="Only the last N lines.")] = None,
    since: Annotated[
        Optional[str],
        typer.Option(
            "--since",
            metavar="TIME",
            help="Only output since a timestamp (2024-01-02T13:23:37Z) or for a duration (42m).",
        ),
    ] = None,
) -> None:
    """A container's output, as docker or crictl keeps it (ctr keeps none): the container's stdout
    on stdout, its stderr on stderr. The exit status is the tool's."""
    from ..core.routing import locate_containers

    check_names("container", [container])
    if since is not None:
        check_since(since)
    ((adapter, c),) = locate_containers(settings(ctx), backend, namespace, [container], rerun("logs", container))
    raise typer.Exit(adapter.logs(c, follow=follow, tail=tail, since=since))


@handle_errors
def exec_(
    ctx: typer.Context,
    container: ContainerArg,
    command: Annotated[
        Optional[list[str]], typer.Argument(metavar="[--] COMMAND [ARG...]", help="What to run in the container.")
    ] = None,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Pass stdin on to the command.")] = False,
    tty: Annotated[
        bool,
        typer.Option(
            "--tty", "-t", help="A terminal session: the command gets a TTY of this terminal's size, resized with it."
        ),
    ] = False,
) -> None:
    """Run a command in a running container (docker exec, ctr tasks exec, crictl exec).

    Without -t its stdout, stderr and exit status are the command's own; with -it it is an
    interactive terminal session that ends with the command's exit status.
    """
    from ..core.routing import locate_containers

    if command and command[0] == "--":
        # options end at CONTAINER, so click hands over the "--" that may follow it
        command = command[1:]
    if not command:
        raise UsageError("no command given", "ctrtool exec [OPTIONS] CONTAINER -- COMMAND [ARG...]")
    check_names("container", [container])
    if tty and not sys.stdin.isatty():
        raise UsageError("-t needs a terminal, and stdin is not a TTY", "drop -t (keep -i to pass stdin on)")
    ((adapter, c),) = locate_containers(
        settings(ctx),
        backend,
        namespace,
        [container],
        rerun("exec", *(["-i"] if interactive else []), *(["-t"] if tty else []), container, "--", *command),
        complete=True,
    )  # a command run in the wrong container is a change
    raise typer.Exit(adapter.exec(c, command, interactive=interactive, tty=tty))


# -- start, stop, kill, rm ----------------------------------------------------------------------------


def _change(
    ctx: typer.Context,
    verb: str,
    containers: list[str],
    backend: str | None,
    namespace: str | None,
    make_plan,
    yes: bool,
    dry_run: bool,
    extra: tuple[str, ...] = (),
) -> None:
    from ..core.routing import locate_containers

    check_names("container", containers)
    out = Output()
    found = locate_containers(
        settings(ctx), backend, namespace, containers, rerun(verb, *extra, *containers), complete=True
    )
    plans = [make_plan(adapter, c) for adapter, c in found]
    done = carry_out(out, plans, yes=yes, dry_run=dry_run)
    if done:
        out.lines(ref for ref, plan in zip(containers, plans) if plan.commands)


@handle_errors
def start(
    ctx: typer.Context,
    containers: ContainersArg,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Start containers (docker start; ctr: a new task, `ctr tasks start -d --null-io`; crictl start
    for a created container). A running container is left as it is."""
    _change(ctx, "start", containers, backend, namespace, lambda a, c: a.plan_start(c), True, dry_run)


@handle_errors
def stop(
    ctx: typer.Context,
    containers: ContainersArg,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    time: Annotated[
        int,
        typer.Option(
            "--time", "-t", min=0, metavar="SECONDS", help="Wait this long after the stop signal, then SIGKILL."
        ),
    ] = 10,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Stop running containers: the stop signal, then SIGKILL after --time seconds (docker stop,
    crictl stop; ctr: `tasks kill`, wait, `tasks kill --signal SIGKILL`). Asks first."""
    _change(
        ctx,
        "stop",
        containers,
        backend,
        namespace,
        lambda a, c: a.plan_stop(c, time),
        yes,
        dry_run,
        ("--time", str(time)),
    )


def signal_name(text: str) -> str:
    """A signal as the user gave it (``KILL``, ``sigusr1``, ``SIGTERM``, ``9``) in the form every
    tool takes: ``SIGKILL``, ``SIGUSR1``, ``SIGTERM``, ``SIGKILL``. Linux's signals; a number
    without a name (a real-time signal) stays a number."""
    import signal

    word = text.strip().upper()
    if word.isdigit():
        number = int(word)
        if not 1 <= number <= 64:
            raise UsageError(f"unknown signal {text!r}: signal numbers go from 1 to 64")
        try:
            return signal.Signals(number).name
        except ValueError:
            return str(number)
    name = word if word.startswith("SIG") else f"SIG{word}"
    member = signal.Signals.__members__.get(name)
    if member is None:
        raise UsageError(
            f"unknown signal {text!r}", "give a name (SIGTERM, TERM, USR1) or a number (15); `kill -l` lists them"
        )
    return member.name  # an alias (SIGIOT) as its own name (SIGABRT)


@handle_errors
def kill(
    ctx: typer.Context,
    containers: ContainersArg,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    sig: Annotated[
        str,
        typer.Option("--signal", "-s", metavar="SIGNAL", help="The signal to send: a name (SIGHUP, HUP) or a number."),
    ] = "SIGKILL",
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Send a signal to running containers, SIGKILL unless told (docker kill; ctr: `tasks kill`, the
    stopped task is kept; crictl: `stop --timeout 0`, SIGKILL only: the CRI has no kill). Asks
    first."""
    name = signal_name(sig)
    _change(
        ctx,
        "kill",
        containers,
        backend,
        namespace,
        lambda a, c: a.plan_kill(c, name),
        yes,
        dry_run,
        ("--signal", name) if name != "SIGKILL" else (),
    )


@handle_errors
def rm(
    ctx: typer.Context,
    containers: ContainersArg,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Kill and remove a running container.")] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Remove containers (docker rm; ctr: its task, then `containers rm`, which removes its
    snapshot; crictl rm). A running one only with --force. Asks first."""
    _change(
        ctx,
        "rm",
        containers,
        backend,
        namespace,
        lambda a, c: a.plan_rm(c, force),
        yes,
        dry_run,
        ("--force",) if force else (),
    )
