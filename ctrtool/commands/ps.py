"""`ctrtool ps` and `ctrtool pods`: containers in docker, in each containerd namespace (ctr) and
in the CRI (crictl), and the CRI's pods."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..model import ContainerKind, State
from ..output import Column, Output, short_id
from . import listing
from .common import (
    AllBackendsOpt,
    BackendOpt,
    NamespaceOpt,
    OutputOpt,
    check_format,
    filter_option,
    handle_errors,
    settings,
    sort_option,
)

if TYPE_CHECKING:
    from ..model import ContainerRecord, PodRecord

SHOWN_WITHOUT_ALL = (State.RUNNING, State.PAUSED)

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

    style = {State.RUNNING: "green", State.EXITED: "dim", State.PAUSED: "yellow", State.UNKNOWN: "red"}.get(row.state)
    # "*": another view says otherwise (a caption line says who says what)
    return Text(row.state + ("*" if row.states else ""), style=style or "")


def _seen_by(row: ContainerRecord) -> str:
    others = [b for b in row.seen_by if b != row.backend]
    return ", ".join(others) if others else "-"


# when a container or a pod was created: how long ago, and (wide) the time itself
CREATED_COLUMNS = (
    Column("CREATED", lambda r: ago(r.created), drop=6),
    Column("CREATED AT", lambda r: r.created, wide_only=True, drop=6),
)

COLUMNS = [
    Column("BACKEND", lambda r: r.backend),
    Column("NAMESPACE", lambda r: r.namespace),
    Column("CONTAINER ID", lambda r: short_id(r.id), narrow_only=True, drop=3),
    Column("CONTAINER ID", lambda r: r.id, wide_only=True, drop=9),
    Column("NAME", _name),
    Column("IMAGE", lambda r: r.image, drop=4),
    Column("STATE", _state),
    Column("STATUS", lambda r: r.status, wide_only=True, shape="text"),
    Column("POD", lambda r: r.pod, drop=5),
    Column("SEEN BY", _seen_by, drop=7),
    Column(
        "LABELS",
        lambda r: ", ".join(f"{k}={v}" for k, v in sorted(r.labels.items())) or None,
        wide_only=True,
        shape="text",
        drop=10,
    ),
    Column("POD ID", lambda r: r.pod_id, wide_only=True, drop=8),
    *CREATED_COLUMNS,
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
    all_views: Annotated[
        bool,
        typer.Option(
            "--all-views",
            help="One row per backend that lists a container (ctr's views of docker's and the CRI's too).",
        ),
    ] = False,
    sandboxes: Annotated[
        bool, typer.Option("--sandboxes", help="Also show the CRI's pod sandboxes (pause containers) that ctr lists.")
    ] = False,
    filters: Annotated[
        Optional[list[str]], filter_option("name=, label=KEY[=VALUE], state=, image=, namespace= (as docker ps).")
    ] = None,
    sort: Annotated[Optional[str], sort_option("name, created (newest first), state, image or backend.")] = None,
) -> None:
    """List containers: docker's, ctr's per containerd namespace (with their task state), and the
    CRI's with their pod (crictl).

    One row per container: ctr's views of docker's containers (namespace moby) and of the CRI's
    (k8s.io) are named in SEEN BY, not repeated (--all-views repeats them). The CRI's pod
    sandboxes, which ctr lists as containers, are left out unless --sandboxes. STATE is one
    vocabulary for all three: running, created, exited, paused, unknown (the tool's own word is
    STATUS in -o wide and JSON); where two views disagree the owner's (docker's, the CRI's) is
    shown, marked "*". Exit status 3: some backends failed, the rest printed.
    """
    from ..core.listing import list_containers
    from ..core.views import one_row_per_container

    keep = _container_filter(filters or [])
    order = listing.sort_key(sort, PS_SORTS)
    out = Output(check_format(output), quiet)
    conf, names = listing.backends(ctx, backend, all_backends)
    got = list_containers(conf, names, namespace or listing.default_namespaces(conf))
    every: list[ContainerRecord] = got.rows
    shown = every if all_views else one_row_per_container(every)
    rows = [
        r
        for r in shown
        if (all_ or r.state in SHOWN_WITHOUT_ALL) and (sandboxes or r.kind != ContainerKind.SANDBOX) and keep(r)
    ]
    if order:
        rows.sort(key=order)
    hidden = sum(
        1 for r in shown if r.kind == ContainerKind.SANDBOX and not sandboxes and (all_ or r.state in SHOWN_WITHOUT_ALL)
    )
    if filters and any(f.startswith("label=") for f in filters) and any(not r.labels for r in shown):
        got.warnings.append("ctr's listing has no labels: a label filter matches no container that only ctr lists")
    got.rows = rows
    listing.show(
        out,
        got,
        len(names),
        data=lambda: rows,
        quiet=lambda: dict.fromkeys(r.id for r in rows),
        table=lambda: out.table(
            COLUMNS if listing.namespaced(rows) else [c for c in COLUMNS if c.header != "NAMESPACE"],
            rows,
            caption=caption(rows, all_, len(every), all_views, hidden),
        ),
    )


def _container_filter(filters: list[str]) -> Callable[[ContainerRecord], bool]:
    """--filter as docker ps: name (a substring of the name or the pod's), label=KEY or KEY=VALUE,
    state (one of the common states; status= is the same), image (the name, normalised, or an id
    prefix of 12 or more), namespace. Bad input is a usage error before any tool runs."""
    from ..errors import UsageError
    from ..model import STATES
    from ..refs import canonical

    Test = Callable[["ContainerRecord"], bool]

    def name(v: str) -> Test:
        return lambda r: v in r.name or v in (r.pod or "")

    def label(k: str, v: str | None) -> Test:
        return lambda r: k in r.labels and (v is None or r.labels[k] == v)

    def state(v: str) -> Test:
        return lambda r: r.state == v

    def image(v: str) -> Test:
        bare = v.removeprefix("sha256:")

        def test(r: ContainerRecord) -> bool:
            got = r.image or ""
            if not got:
                return False
            if got == v or canonical(got) == canonical(v):
                return True
            return len(bare) >= 12 and got.removeprefix("sha256:").startswith(bare)

        return test

    def namespace(v: str) -> Test:
        return lambda r: r.namespace == v

    tests: list[Test] = []
    for item in filters:
        key, eq, value = item.partition("=")
        if not eq or not value:
            raise UsageError(f"--filter {item!r} is not KEY=VALUE", "e.g. --filter name=web or --filter state=running")
        if key == "name":
            tests.append(name(value))
        elif key == "label":
            k, has_value, v = value.partition("=")
            tests.append(label(k, v if has_value else None))
        elif key in ("state", "status"):
            if value not in STATES:
                raise UsageError(f"--filter {key}={value!r} is not one of {', '.join(STATES)}", "e.g. state=running")
            tests.append(state(value))
        elif key == "image":
            tests.append(image(value))
        elif key == "namespace":
            tests.append(namespace(value))
        else:
            raise UsageError(
                f"--filter {key!r} is not known", "ps filters: name=, label=KEY[=VALUE], state=, image=, namespace="
            )
    return lambda r: all(test(r) for test in tests)


PS_SORTS: dict[str, Callable[[Any], Any]] = {
    "name": listing.by_field("name"),
    "created": listing.newest_first,  # unknown (ctr) last
    "state": listing.by_field("state"),
    "image": listing.by_field("image"),
    "backend": listing.by_field("backend"),
}


def caption(rows: list[ContainerRecord], all_: bool, total: int, all_views: bool = False, hidden: int = 0) -> list[str]:
    lines = []
    if not rows:
        lines.append(
            "no containers" if all_ or not total else f"no running containers ({total} in other states: -a shows them)"
        )
    for r in rows:
        if r.states:
            says = "; ".join(f"{b} says {s}" for b, s in r.states.items())
            lines.append(f"* {_name(r)}: {says} (ctr shows a container whose task is gone as created)")
    if hidden:
        lines.append(
            f"{hidden} pod sandbox{'es' if hidden > 1 else ''} (pause containers) not shown: --sandboxes shows them"
        )
    if not all_views:
        return lines
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
    Column("POD ID", lambda r: short_id(r.id), narrow_only=True, drop=3),
    Column("POD ID", lambda r: r.id, wide_only=True, drop=5),
    Column("NAME", lambda r: r.name),
    Column("POD NAMESPACE", lambda r: r.pod_namespace),
    Column("STATE", lambda r: r.state),
    Column("STATUS", lambda r: r.status, wide_only=True, shape="text"),
    Column("CONTAINERS", lambda r: r.containers, drop=2),
    Column("UID", lambda r: r.uid, wide_only=True, drop=6),
    Column("ATTEMPT", lambda r: r.attempt, wide_only=True, drop=7),
    *CREATED_COLUMNS,
]


@handle_errors
def pods(
    ctx: typer.Context,
    output: OutputOpt = "table",
    quiet: QuietIdsOpt = False,
) -> None:
    """List the CRI's pod sandboxes (crictl): the kubelet's view, in containerd namespace k8s.io."""
    from ..core.listing import list_pods

    out = Output(check_format(output), quiet)
    got = list_pods(settings(ctx))
    rows: list[PodRecord] = got.rows
    listing.show(
        out,
        got,
        1,
        quiet=lambda: (r.id for r in rows),
        table=lambda: out.table(POD_COLUMNS, rows, caption=[] if rows else ["no pods"]),
    )
