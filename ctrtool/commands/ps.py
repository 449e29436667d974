"""`ctrtool ps` and `ctrtool pods`: containers in docker, in each containerd namespace (ctr) and
in the CRI (crictl), and the CRI's pods."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from ..output import Column, Output, short_id
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors, settings

if TYPE_CHECKING:
    from ..adapters.base import ContainerRecord, PodRecord

SHOWN_WITHOUT_ALL = ("running", "paused")

AllOpt = Annotated[bool, typer.Option("--all", "-a", help="Show every container (default: running and paused).")]
QuietIdsOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only full IDs, one per line.")]


def ago(stamp: str | None, now: datetime | None = None) -> str | None:
    """ "2024-01-02T03:04:05Z" -> "5 minutes ago"."""
    if not stamp:
        return None
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return stamp
    seconds = int(((now or datetime.now(timezone.utc)) - moment).total_seconds())
    if seconds < 60:
        return "just now" if seconds < 2 else f"{seconds} seconds ago"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return stamp  # not reached


def _name(row: ContainerRecord) -> str:
    # ctr containers are named by their id: shortened like the id column
    return str(short_id(row.name) if row.name == row.id and len(row.name) == 64 else row.name)


def _state(row: ContainerRecord):
    from rich.text import Text

    style = {"running": "green", "exited": "dim", "paused": "yellow", "unknown": "red"}.get(row.state)
    return Text(row.state, style=style or "")


COLUMNS = [
    Column("BACKEND", lambda r: r.backend, no_wrap=True),
    Column("NAMESPACE", lambda r: r.namespace, no_wrap=True),
    Column("CONTAINER ID", lambda r: short_id(r.id), no_wrap=True, narrow_only=True),
    Column("CONTAINER ID", lambda r: r.id, wide_only=True),
    Column("NAME", _name),
    Column("IMAGE", lambda r: r.image),
    Column("STATE", _state, no_wrap=True),
    Column("STATUS", lambda r: r.status, wide_only=True),
    Column("POD", lambda r: r.pod),
    Column("POD ID", lambda r: r.pod_id, wide_only=True),
    Column("CREATED", lambda r: ago(r.created), no_wrap=True),
    Column("CREATED AT", lambda r: r.created, wide_only=True),
]


@handle_errors
def ps(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    all_: AllOpt = False,
    output: OutputOpt = "table",
    quiet: QuietIdsOpt = False,
) -> None:
    """List containers: docker's, ctr's per containerd namespace (with their task state), and the
    CRI's with their pod (crictl).

    STATE is one vocabulary for all three: running, created, exited, paused, unknown (the tool's
    own word is STATUS in -o wide and JSON). Exit status 3: some backends failed, the rest printed.
    """
    from .. import core
    from .images import _default_namespace

    out = Output(check_format(output), quiet)
    conf, names = listing.backends(ctx, backend, all_backends)
    got = core.list_containers(conf, names, namespace or _default_namespace(conf))
    rows: list[ContainerRecord] = [row for row in got.rows if all_ or row.state in SHOWN_WITHOUT_ALL]
    listing.show(
        out,
        got,
        len(names),
        data=lambda: rows,
        quiet=lambda: dict.fromkeys(r.id for r in rows),
        table=lambda: out.table(COLUMNS, rows, caption=caption(rows, all_, len(got.rows))),
    )


def caption(rows: list[ContainerRecord], all_: bool, total: int) -> list[str]:
    lines = []
    if not rows:
        lines.append(
            "no containers" if all_ or not total else f"no running containers ({total} in other states: -a shows them)"
        )
    from ..adapters import get_descriptor, owner_of
    from ..adapters.descriptor import NamespaceRule

    # a backend that sees every namespace (ctr) also shows the containers of the backends that own one
    spaces = {r.namespace for r in rows if get_descriptor(r.backend).namespace_rule is NamespaceRule.ALL}
    for ns in sorted(s for s in spaces if s):
        owner = owner_of(ns)
        if owner and get_descriptor(owner).namespace_rule is NamespaceRule.NONE:
            lines.append(f"ctr namespace {ns} holds {owner}'s containers ({owner} runs them through containerd).")
        elif owner:
            lines.append(f"ctr namespace {ns} holds the CRI's containers ({owner}'s), pod sandboxes included.")
    return lines


POD_COLUMNS = [
    Column("POD ID", lambda r: short_id(r.id), no_wrap=True, narrow_only=True),
    Column("POD ID", lambda r: r.id, wide_only=True),
    Column("NAME", lambda r: r.name),
    Column("POD NAMESPACE", lambda r: r.pod_namespace, no_wrap=True),
    Column("STATE", lambda r: r.state, no_wrap=True),
    Column("STATUS", lambda r: r.status, wide_only=True),
    Column("CONTAINERS", lambda r: r.containers, no_wrap=True),
    Column("UID", lambda r: r.uid, wide_only=True),
    Column("ATTEMPT", lambda r: r.attempt, wide_only=True),
    Column("CREATED", lambda r: ago(r.created), no_wrap=True),
    Column("CREATED AT", lambda r: r.created, wide_only=True),
]


@handle_errors
def pods(
    ctx: typer.Context,
    output: OutputOpt = "table",
    quiet: QuietIdsOpt = False,
) -> None:
    """List the CRI's pod sandboxes (crictl): the kubelet's view, in containerd namespace k8s.io."""
    from .. import core

    out = Output(check_format(output), quiet)
    got = core.list_pods(settings(ctx))
    rows: list[PodRecord] = got.rows
    listing.show(
        out,
        got,
        1,
        quiet=lambda: (r.id for r in rows),
        table=lambda: out.table(POD_COLUMNS, rows, caption=[] if rows else ["no pods"]),
    )
