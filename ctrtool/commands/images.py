"""`ctrtool images`: every image copy in every store, with where its layers live."""

from __future__ import annotations

from typing import Any

import typer

from ..output import Column, Output, human_size, short_id
from .common import (AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, QuietOpt, check_format,
                     handle_errors, report_failures, settings)

# the documented JSON fields of one row, in order (docs/reference.md)
FIELDS = ("backend", "namespace", "ref", "id", "digest", "size", "size_kind", "store", "copies")


def _copies(row: dict[str, Any]):
    from rich.text import Text

    n = row["copies"]
    return Text(f"stored {n}x", style="bold yellow") if n > 1 else Text("1x", style="dim")


def _ref(ref: str | None) -> str:
    """The CRI names each image also by its id (``sha256:<64 hex>``): shortened for people."""
    if ref is None:
        return "<none>"
    if ref.startswith("sha256:") and len(ref) == 71:
        return f"sha256:{ref[7:19]}…"
    return ref


COLUMNS = [
    Column("BACKEND", lambda r: r["backend"], no_wrap=True),
    Column("NAMESPACE", lambda r: r["namespace"], no_wrap=True),
    Column("IMAGE", lambda r: _ref(r["ref"])),
    Column("IMAGE ID", lambda r: short_id(r["id"]), no_wrap=True),
    Column("IMAGE ID", lambda r: r["id"], wide_only=True),
    Column("DIGEST", lambda r: r["digest"], wide_only=True),
    Column("SIZE", lambda r: human_size(r["size"]), no_wrap=True),
    Column("SIZE OF", lambda r: r["size_kind"], wide_only=True),
    Column("COPIES", _copies, no_wrap=True),
    Column("STORE", lambda r: f"[{r['_store_no']}]" if r["_store_no"] else None, no_wrap=True),
    Column("LAYERS STORED UNDER", lambda r: r["store"], wide_only=True),
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

    One row per backend, namespace and image tag. COPIES counts the distinct places (docker's
    graph driver directory, each containerd namespace's snapshots) that hold the same image id:
    those copies do not share layers. Exit status 3: some backends failed, the rest printed.
    """
    from .. import core

    out = Output(check_format(output), quiet)
    conf = settings(ctx)
    names = core.select_backends(conf, backend, all_backends)
    ns = namespace or _default_namespace(conf)
    got = core.list_images(conf, names, ns)
    failed = got.failed
    rows = [{k: row[k] for k in FIELDS} for row in got.rows]
    if failed and len(failed) == len(names):
        pass  # nothing to show: the errors say why
    elif quiet:
        out.lines(dict.fromkeys(r["id"] for r in rows if r["id"]))
    elif out.structured:
        out.data(rows)
    else:
        stores = list(dict.fromkeys(r["store"] for r in rows if r["store"]))
        numbered = [dict(r, _store_no=stores.index(r["store"]) + 1 if r["store"] else None) for r in rows]
        legend = [f"[{n}] {path}  ({_store_kind(path, rows)})" for n, path in enumerate(stores, 1)]
        out.table(COLUMNS, numbered, caption=legend + caption(rows))
    raise typer.Exit(report_failures(out, got, len(names)))


def _default_namespace(conf) -> list[str] | None:
    ns, _source = conf.ctr_namespace()
    return [ns] if ns else None


def _store_kind(path: str, rows: list[dict[str, Any]]) -> str:
    backends = {r["backend"] for r in rows if r["store"] == path}
    if backends == {"docker"}:
        return "docker's graph driver directory"
    return "containerd snapshots, unpacked separately per namespace; seen by " + " and ".join(
        "ctr" if b == "ctr" else "crictl (k8s.io)" for b in ("ctr", "crictl") if b in backends)


def caption(rows: list[dict[str, Any]]) -> list[str]:
    """Plain words under the table: which images are stored more than once, and where."""
    if not rows:
        return ["no images found"]
    lines = []
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["copies"] > 1:
            by_id.setdefault(row["id"], []).append(row)
    for image_id, group in by_id.items():
        refs = sorted({r["ref"] for r in group if r["ref"] and not r["ref"].startswith("sha256:")})
        places = []
        for r in group:
            place = "docker's own store" if r["backend"] == "docker" else f"containerd namespace {r['namespace']}"
            if place not in places:
                places.append(place)
        lines.append(f"{', '.join(refs) or short_id(image_id)} ({short_id(image_id)}) is stored "
                     f"{group[0]['copies']} times: {'; '.join(places)}. These copies do not share layers.")
    if any(r["backend"] == "crictl" for r in rows) and any(r["backend"] == "ctr" and r["namespace"] == "k8s.io"
                                                           for r in rows):
        lines.append("crictl and `ctr -n k8s.io` show the same copy: the kubelet sees only namespace k8s.io.")
    return lines
