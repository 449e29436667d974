"""`ctrtool df`: the bytes each image store holds on disk, and how much of it is stored twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ..output import Column, Output, human_size
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors

if TYPE_CHECKING:
    from ..adapters.base import StoreUsage

COLUMNS = [
    Column("STORE", lambda r: r.store, no_wrap=True),
    Column("KIND", lambda r: r.kind, no_wrap=True),
    Column("SEEN BY", lambda r: ", ".join(r.seen_by), no_wrap=True),
    Column("ITEMS", lambda r: r.items, no_wrap=True),
    Column("SIZE", lambda r: human_size(r.bytes), no_wrap=True),
    Column("BYTES", lambda r: r.bytes, wide_only=True, no_wrap=True),
    Column(
        "DUPLICATED", lambda r: {"unpacked": human_size(r.duplicated), "blob": "shared"}.get(r.kind, "-"), no_wrap=True
    ),
    Column("PATH", lambda r: r.path),
]


@handle_errors
def df(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = "table",
) -> None:
    """The bytes each image store uses on disk, and how much of it another store holds too.

    Stores: docker's overlay2 store, each containerd namespace's unpacked snapshots, and
    containerd's content store (the compressed blobs images refer to, shared by all namespaces).
    A layer unpacked in k stores counts (k-1) times its size as duplicated; the total is what
    could be saved by keeping each image in one store. Exit status 3: some backends failed,
    the rest printed.
    """
    from .. import core
    from .images import _default_namespace

    out = Output(check_format(output))
    conf, names = listing.backends(ctx, backend, all_backends)
    got = core.disk_usage(conf, names, namespace or _default_namespace(conf))
    stores: list[StoreUsage] = got.rows
    listing.show(
        out,
        got,
        len(names),
        nothing=not stores and bool(got.failed),
        data=lambda: {"stores": stores, "duplicated": got.duplicated, "could_save": got.could_save},
        table=lambda: out.table(COLUMNS, stores, caption=caption(stores, got.could_save)),
    )


def caption(stores: list[StoreUsage], could_save: int) -> list[str]:
    lines = []
    for row in stores:
        if row.kind == "blob" and len(row.namespaces) > 1:
            lines.append(f"the content store's blobs are shared by namespaces {', '.join(row.namespaces)}: stored once")
    lines.append(
        f"{could_save} bytes unpacked more than once across stores ({human_size(could_save)}): that much could be saved"
    )
    return lines
