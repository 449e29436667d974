"""`ctrtool df`: the bytes each image store holds on disk, and how much of it is stored twice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..model import CopyKind
from ..output import Column, Output, human_size
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors

if TYPE_CHECKING:
    from ..model import StoreUsage

COLUMNS = [
    Column("STORE", lambda r: r.store, shape="text"),
    Column("KIND", lambda r: r.kind),
    Column("SEEN BY", lambda r: ", ".join(r.seen_by), drop=3),
    Column("ITEMS", lambda r: r.items, drop=2),
    Column("SIZE", lambda r: human_size(r.bytes)),
    Column("BYTES", lambda r: r.bytes, wide_only=True, drop=4),
    # never left out: the number that matters when a disk is full (PATH is shortened instead)
    Column(
        "DUPLICATED", lambda r: {CopyKind.UNPACKED: human_size(r.duplicated), CopyKind.BLOB: "shared"}.get(r.kind, "-")
    ),
    Column("PATH", lambda r: measured(r), shape="path"),
]


def measured(row: StoreUsage) -> str:
    """What was measured, as one path a shell expands: a store's own directories in brace form
    (``<root>/snapshots/{3,4}/fs``), so that `du` of it checks the row. A content store's blobs
    are its own directory's files."""
    paths = [e.path for e in row.entries]
    if row.kind == CopyKind.BLOB or not paths:
        return row.path
    return braces(paths)


def braces(paths: list[str]) -> str:
    """``/a/x/fs``, ``/a/y/fs`` -> ``/a/{x,y}/fs``: the common directories before and after, the
    differing part in braces (bash's brace expansion gives the paths back, in order)."""
    import re
    import shlex

    if any(not re.fullmatch(r"[A-Za-z0-9._/+:@-]+", p) for p in paths):
        return shlex.join(paths)  # a character the shell would read: each path quoted, in full
    if len(paths) == 1:
        return paths[0]
    split = [p.split("/") for p in paths]
    head = 0
    while all(len(s) > head + 1 for s in split) and len({s[head] for s in split}) == 1:
        head += 1
    tail = 0
    while all(len(s) > head + tail + 1 for s in split) and len({s[len(s) - 1 - tail] for s in split}) == 1:
        tail += 1
    middles = ["/".join(s[head : len(s) - tail]) for s in split]
    before = "/".join(split[0][:head])
    after = "/".join(split[0][len(split[0]) - tail :]) if tail else ""
    return f"{before}/{{{','.join(middles)}}}" + (f"/{after}" if after else "")


@handle_errors
def df(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = "table",
    remove_stopped: Annotated[
        bool,
        typer.Option(
            "--remove-stopped",
            help="With --plan: a step may first remove the stopped containers that use the copy (never a running one).",
        ),
    ] = False,
    lease_age: Annotated[
        str,
        typer.Option(
            "--lease-age",
            metavar="DURATION",
            help="With --plan: a lease older than this, holding no ingest and no active snapshot, is an orphan "
            "(e.g. 30m, 12h). Default 24h.",
        ),
    ] = "24h",
    plan: Annotated[
        bool,
        typer.Option(
            "--plan",
            help="The removals that free bytes: per store, the image copies to remove (one copy of each image "
            "stays), the bytes each frees and what stands in the way, as ctrtool commands. Changes nothing.",
        ),
    ] = False,
) -> None:
    """The bytes each image store uses on disk, and how much of it another store holds too.

    Stores: docker's overlay2 store, each containerd namespace's unpacked snapshots, and
    containerd's content store (the compressed blobs images refer to, shared by all namespaces).
    A layer unpacked in k stores counts (k-1) times its size as duplicated; the total is what
    could be saved by keeping each image in one store. Exit status 3: some backends failed,
    the rest printed.
    """
    from ..core.storage import disk_usage

    out = Output(check_format(output))
    conf, names = listing.backends(ctx, backend, all_backends)
    if plan:
        from ..reclaim import duration

        duration(lease_age)  # checked before anything is asked
        return _plan(out, conf, names, namespace or listing.default_namespaces(conf), remove_stopped, lease_age)
    if remove_stopped or lease_age != "24h":
        from ..errors import UsageError

        raise UsageError("--remove-stopped and --lease-age go with --plan")
    got = disk_usage(conf, names, namespace or listing.default_namespaces(conf))
    stores: list[StoreUsage] = got.rows
    listing.show(
        out,
        got,
        len(names),
        nothing=not stores and bool(got.failed),
        data=lambda: {
            "stores": stores,
            "duplicated": got.duplicated,
            "could_save": got.could_save,
            "account": got.account,
        },
        table=lambda: table(out, stores, got),
    )


def table(out: Output, stores: list[StoreUsage], got) -> None:
    if "PATH" in out.table(COLUMNS, stores, caption=caption(stores, got.could_save)):
        # a path cut in the middle cannot be pasted into du: each whole, under the table
        out.lines(["PATH whole:", *(f"  {row.store}: {measured(row)}" for row in stores)])
    out.lines(bars(got.account, duplicated_by_root(stores, got.account)))


def duplicated_by_root(stores: list[StoreUsage], roots: list) -> dict[str, int]:
    """Per storage root, the bytes of unpacked layers that another store also unpacks, beyond
    one copy: the copy in the kubelet's namespace stays (else the first listed), the others count."""
    import os

    from ..core.query import cri_namespace

    k8s = cri_namespace()
    copies: dict[str, list[tuple[str | None, str, int]]] = {}
    for row in stores:
        if row.kind != CopyKind.UNPACKED:
            continue
        for e in row.entries:
            copies.setdefault(e.key, []).append((row.namespace, e.path, e.size or 0))

    def root_of(path: str) -> Any:
        real = os.path.realpath(path)
        return next((r for r in roots if real.startswith(r.root.rstrip("/") + "/")), None)

    out: dict[str, int] = {}
    for found in copies.values():
        if len(found) < 2:
            continue

        # the kubelet's copy stays: in its namespace of containerd, or in CRI-O's store
        keep = next(
            (c for c in found if c[0] == k8s),
            next((c for c in found if c[0] is None and getattr(root_of(c[1]), "cri_visible", False)), found[0]),
        )
        for c in found:
            if c is keep:
                continue
            root = root_of(c[1])
            if root is not None:
                out[root.root] = out.get(root.root, 0) + c[2]
    return out


def bars(roots: list, duplicated: dict[str, int]) -> list[str]:
    """One bar per storage root, as wide as the terminal allows, with the figures under it."""
    import shutil
    import sys

    from ..account import bar, chars, parts

    if not roots:
        return []
    glyphs = chars(getattr(sys.stdout, "encoding", None))
    columns = shutil.get_terminal_size((80, 24)).columns
    width = max(10, min(60, columns - 4))
    lines = ["", "every byte under each storage root (du -sxb --apparent-size ROOT):"]
    for r in roots:
        shares = parts(r, duplicated.get(r.root, 0))
        head = f"{r.root} ({r.tool}): {human_size(r.bytes)}"
        if len(head) > columns:  # a long root on a line of its own (a path is never cut)
            lines += [r.root, f"  ({r.tool}): {human_size(r.bytes)}"]
        else:
            lines.append(head)
        lines.append("  " + bar(shares, width, glyphs))
        lines.append("  " + "  ".join(f"{glyphs[n]} {n} {human_size(b)}" for n, b in shares))
    return lines


PLAN_COLUMNS = [
    Column("STORE", lambda s: s.store, shape="text"),
    Column("IMAGE", lambda s: s.image),
    Column("FREES", lambda s: human_size(s.frees)),
    Column("BYTES", lambda s: s.frees, wide_only=True, drop=3),
    Column("KEEPS", lambda s: s.kept_in, shape="text", drop=2),
    Column("IN THE WAY", lambda s: _in_the_way(s), shape="text", drop=1),
    Column("COMMANDS", lambda s: "\n".join(s.commands), wide_only=True, shape="text"),
]


def _in_the_way(step) -> str:
    parts = [f"{len(step.refs)} names" if len(step.refs) > 1 else ""]
    if step.blocked_by:
        parts.append("blocked by " + ", ".join(step.blocked_by))
    if step.store_owner:
        parts.append(f"left to user {step.store_owner} (their store)")
    elif step.used_by:
        parts.append("used by " + ", ".join(step.used_by))
    if step.shared_with:
        parts.append(f"{human_size(step.kept_bytes)} kept for " + ", ".join(step.shared_with))
    return "; ".join(p for p in parts if p) or "-"


def _plan(out: Output, conf, names: list[str], namespaces, remove_stopped: bool, lease_age: str) -> None:
    from ..reclaim import reclaim_plan

    got = reclaim_plan(conf, names, namespaces, remove_stopped, lease_age)

    def table() -> None:
        out.table(PLAN_COLUMNS, got.rows, caption=plan_caption(got))

    listing.show(
        out,
        got,
        len(names),
        nothing=not got.rows and bool(got.failed),
        data=lambda: {"steps": got.rows, "frees": got.frees},
        table=table,
    )


def plan_caption(got) -> list[str]:
    if not got.rows:
        return ["nothing to reclaim: no image is unpacked in more than one store"]
    lines = [f"the steps free {got.frees} bytes ({human_size(got.frees)}) in all; run them in this order:"]
    for n, step in enumerate(got.rows, 1):
        if step.blocked_by:
            lines.append(f"{n}. {step.image} from {step.store}: blocked by container {', '.join(step.blocked_by)}")
        elif step.store_owner:
            lines.append(f"{n}. {step.image} from {step.store}: left to user {step.store_owner} (no command)")
        else:
            lines.append(f"{n}. {step.image} from {step.store} (frees {step.frees} bytes):")
        lines += [f"     {c}" for c in step.commands]
        lines += [f"     ({b})" for b in step.blockers]
        if step.shared_with:
            lines.append(
                f"     ({step.kept_bytes} bytes of its layers stay: {', '.join(step.shared_with)} "
                + ("uses" if len(step.shared_with) == 1 else "use")
                + " them there)"
            )
    lines.append(f"one copy of each image stays: the one in {got.kubelets} (the kubelet's), else one a container uses")
    return lines


def caption(stores: list[StoreUsage], could_save: int) -> list[str | tuple[str, str]]:
    lines: list[str | tuple[str, str]] = []
    for row in stores:
        if row.kind == CopyKind.BLOB and len(row.namespaces) > 1:
            lines.append(f"the content store's blobs are shared by namespaces {', '.join(row.namespaces)}: stored once")
    lines.append(
        f"{could_save} bytes unpacked more than once across stores ({human_size(could_save)}): that much could be saved"
    )
    if any(row.kind != CopyKind.BLOB and row.entries for row in stores):
        lines.append(
            (
                "PATH",
                "PATH: the directories measured, in shell brace form (`du -scb --apparent-size PATH` checks a row; "
                "SIZE counts the files, a hard-linked one once, not the directories themselves)",
            )
        )
    return lines
