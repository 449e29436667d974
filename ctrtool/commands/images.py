"""`ctrtool images`: every image copy in every store, with where its layers live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from ..output import Column, Output, human_size, short_id
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, QuietOpt, check_format, handle_errors

if TYPE_CHECKING:
    from ..adapters.base import ImageRecord
    from ..model import Store


def _copies(row: ImageRecord):
    from rich.text import Text

    n = row.copies
    return Text(f"stored {n}x", style="bold yellow") if n > 1 else Text("1x", style="dim")


def _ref(ref: str | None) -> str:
    """The CRI names each image also by its id (``sha256:<64 hex>``): shortened for people."""
    if ref is None:
        return "<none>"
    if ref.startswith("sha256:") and len(ref) == 71:
        return f"sha256:{ref[7:19]}…"
    return ref


def columns(legend: dict[tuple, int]) -> list[Column]:
    def store_no(r: ImageRecord) -> str | None:
        return f"[{legend[r.store.key]}]" if r.store and r.store.key in legend else None

    return [
        Column("BACKEND", lambda r: r.backend, no_wrap=True),
        Column("NAMESPACE", lambda r: r.namespace, no_wrap=True),
        Column("IMAGE", lambda r: _ref(r.ref)),
        Column("IMAGE ID", lambda r: short_id(r.id or r.digest), no_wrap=True, narrow_only=True),
        Column("IMAGE ID", lambda r: r.id, wide_only=True),
        Column("DIGEST", lambda r: r.digest, wide_only=True),
        Column("SIZE", lambda r: human_size(r.size), no_wrap=True),
        Column("SIZE OF", lambda r: r.size_kind, wide_only=True),
        Column("COPIES", _copies, no_wrap=True),
        Column("STORE", store_no, no_wrap=True),
        Column("LAYERS STORED UNDER", lambda r: r.store.path if r.store else None, wide_only=True),
    ]


@handle_errors
def images(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = "table",
    quiet: QuietOpt = False,
) -> None:
    """List images in docker's store, in each containerd namespace (ctr) and in the CRI (crictl).

    One row per backend, namespace and image tag. COPIES counts the distinct places where the
    same image is unpacked (docker's graph driver directory, each containerd namespace's
    snapshots): those copies do not share layers. Blobs in containerd's content store are stored
    once and shared by its namespaces. Exit status 3: some backends failed, the rest printed.
    """
    from .. import core

    out = Output(check_format(output), quiet)
    conf, names = listing.backends(ctx, backend, all_backends)
    got = core.list_images(conf, names, namespace or _default_namespace(conf))
    rows: list[ImageRecord] = got.rows

    def table() -> None:
        stores = list(dict.fromkeys(r.store for r in rows if r.store))
        legend = {store.key: n for n, store in enumerate(stores, 1)}
        lines = [f"[{legend[s.key]}] {s.path or '(directory not reported)'}  ({_store_words(s, rows)})" for s in stores]
        out.table(columns(legend), rows, caption=lines + caption(rows))

    listing.show(
        out,
        got,
        len(names),
        table=table,
        quiet=lambda: dict.fromkeys(r.id or r.digest or "" for r in rows if r.id or r.digest),
    )


def _default_namespace(conf) -> list[str] | None:
    ns, _source = conf.ctr_namespace()
    return [ns] if ns else None


def _store_words(store: Store, rows: Sequence[ImageRecord]) -> str:
    seen_by = list(dict.fromkeys(r.backend for r in rows if r.store and r.store.key == store.key))
    return f"{store.words()}, seen by {' and '.join(seen_by)}"


def caption(rows: Sequence[ImageRecord]) -> list[str]:
    """Plain words under the table: which images are unpacked more than once and where, which
    stores share one content store, and which views are the same copy."""
    from ..core import image_groups

    if not rows:
        return ["no images found"]
    lines = []
    for group in image_groups(rows):
        if group[0].copies <= 1:
            continue
        refs = sorted({r.ref for r in group if r.ref and not r.ref.startswith("sha256:")})
        image_id = next((r.id or r.digest for r in group if r.id or r.digest), None)
        places = list(dict.fromkeys(r.store.words() for r in group if r.store))
        shared = {r.content.key for r in group if r.content}
        blobs = (
            " Their blobs are stored once, in containerd's content store, shared by "
            + ", ".join(sorted({r.namespace for r in group if r.content and r.namespace}))
            + "."
            if len(shared) == 1 and len([r for r in group if r.content]) > 1
            else ""
        )
        lines.append(
            f"{', '.join(refs) or short_id(image_id)} ({short_id(image_id)}) is unpacked "
            f"{group[0].copies} times: {'; '.join(places)}. These copies do not share layers.{blobs}"
        )
    views: dict[tuple, list[str]] = {}
    for r in rows:
        if r.store:
            seen = views.setdefault(r.store.key, [])
            if r.backend not in seen:
                seen.append(r.backend)
    for key, seen in views.items():
        if len(seen) > 1:
            store = next(r.store for r in rows if r.store and r.store.key == key)
            lines.append(f"{' and '.join(seen)} show the same copy: {store.words()}.")
    from ..adapters import get_descriptor
    from ..adapters.descriptor import NamespaceRule

    for backend in dict.fromkeys(r.backend for r in rows):
        d = get_descriptor(backend)
        if d.namespace_rule is NamespaceRule.FIXED:
            lines.append(
                f"{d.name} ({d.role}) works in containerd namespace {d.namespace} only: images in any "
                "other namespace are invisible to the kubelet."
            )
    return lines
