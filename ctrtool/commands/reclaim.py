"""`ctrtool reclaim ORPHAN...`: remove what nothing needs, through containerd's own API.

`ctrtool df --plan` names orphans as steps: snapshot and content records no image, container or
lease reaches, and leases that have expired or are old and idle. This command reads containerd's
metadata again, refuses anything that is no longer an orphan (an image or a lease took it since),
and removes the rest with ctr (``snapshots rm``, ``content rm``, ``leases rm --sync``), asking first.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from ..output import Output
from .common import DryRunOpt, YesOpt, carry_out, handle_errors, settings

LeaseAgeOpt = Annotated[
    str,
    typer.Option(
        "--lease-age",
        metavar="DURATION",
        help="A lease older than this that holds no ingest (a pull in progress) and no active snapshot "
        "(an unpack in progress) is an orphan, e.g. 30m, 12h. Default 24h: ctr's own leases expire then.",
    ),
]


@handle_errors
def reclaim(
    ctx: typer.Context,
    orphans: Annotated[
        list[str],
        typer.Argument(
            metavar="ORPHAN...",
            help="As df --plan names them: lease:NS/ID, content:NS/DIGEST, snapshot:NS/SNAPSHOTTER/KEY.",
        ),
    ],
    lease_age: LeaseAgeOpt = "24h",
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Remove orphans that `ctrtool df --plan` names (what no image, container or live lease needs),
    through containerd's API: never a directory by hand. Each one is checked again first; one that
    is not an orphan any more is refused and nothing is removed. Asks first."""
    import datetime as dt

    from ..adapters.containerd_account import ContainerdModel, parse_orphan
    from ..core.query import cri_namespace
    from ..core.routing import operation_adapter
    from ..core.storage import storage_account
    from ..reclaim import duration

    age = dt.timedelta(seconds=duration(lease_age))
    wanted = []
    for spec in orphans:
        parsed = parse_orphan(spec)
        if parsed is None:
            raise UsageError(
                f"{spec!r} is not an orphan's name",
                "lease:NS/ID, content:NS/DIGEST or snapshot:NS/SNAPSHOTTER/KEY, as `ctrtool df --plan` prints them",
            )
        wanted.append(parsed)
    from ..adapters import all_namespaces_backend

    conf = settings(ctx)
    backend = all_namespaces_backend()  # the tool that reaches every namespace of a containerd
    adapter = operation_adapter(conf, backend, None)
    warnings: list[str] = []
    roots = [r for r in storage_account(conf, [backend], warnings) if isinstance(r.model, ContainerdModel)]
    if not roots:
        raise UsageError(
            "containerd's metadata could not be read, so nothing can be checked"
            + (f": {warnings[0]}" if warnings else ""),
            "run as root, where ctr reaches containerd",
        )
    kubelets = cri_namespace()
    now = {
        (o.kind, o.namespace, o.snapshotter, o.key): o for o in roots[0].model.orphans(age) if o.namespace != kubelets
    }
    chosen = []
    for key in wanted:
        if key[1] == kubelets:
            raise UsageError(
                f"namespace {kubelets} is the kubelet's: ctrtool removes nothing there, orphans included",
                "the CRI manages its own namespace (its image GC and its leases)",
            )
        if key not in now:
            kind, ns, _s, name = key
            raise UsageError(
                f"{kind} {name} in namespace {ns} is not an orphan now (something holds it, it is gone, or, for a "
                "lease, it is in use or younger than --lease-age): nothing removed",
                "make the plan again: ctrtool df --plan",
            )
        chosen.append(now[key])
    order = {id(o): i for i, o in enumerate(now.values())}
    chosen.sort(key=lambda o: order[id(o)])  # children before parents, records before leases
    out = Output()
    if carry_out(out, [adapter.plan_reclaim(chosen)], yes=yes, dry_run=dry_run):
        out.lines([o.spec for o in chosen])
