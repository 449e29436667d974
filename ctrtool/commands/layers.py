"""`ctrtool layers IMAGE`: every place on disk that holds each layer of an image, with sizes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..output import Column, Output, human_size, short_id
from .common import (AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors,
                     report_failures, settings)

# the documented JSON fields (docs/reference.md), in order
FIELDS = ("index", "diff_id", "chain_id", "blob", "size", "stored", "duplicated", "copies")
COPY_FIELDS = ("backend", "namespace", "kind", "path", "size", "namespaces", "seen_by")

QuietLayersOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the layers' diff IDs, one per line.")]
ImageArg = Annotated[str, typer.Argument(metavar="IMAGE", help="Image name, ID, digest or unique ID prefix.")]


def _where(copy: dict[str, Any]) -> str:
    if copy["kind"] == "blob":
        return "content store: " + (", ".join(copy["namespaces"]) or "no image refers to it")
    if not copy["namespace"]:
        return f"{copy['backend']}'s own store"
    return f"namespace {copy['namespace']}"


COLUMNS = [
    Column("LAYER", lambda r: r["_layer"], no_wrap=True),
    Column("DIFF ID", lambda r: r["_diff"], wide_only=True),
    Column("CHAIN ID", lambda r: r["_chain"], wide_only=True),
    Column("COPY", lambda r: r["kind"], no_wrap=True),
    Column("WHERE", lambda r: _where(r)),
    Column("SEEN BY", lambda r: ", ".join(r["seen_by"]), no_wrap=True),
    Column("SIZE", lambda r: human_size(r["size"]), no_wrap=True),
    Column("BYTES", lambda r: r["size"], wide_only=True, no_wrap=True),
    Column("PATH", lambda r: r["path"]),
]


@handle_errors
def layers(
    ctx: typer.Context,
    image: ImageArg,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = "table",
    quiet: QuietLayersOpt = False,
) -> None:
    """Every place on disk that holds each layer of IMAGE, with its size.

    For each layer: docker's overlay2 directory, the unpacked snapshot directory in each
    containerd namespace, and the compressed blob in containerd's content store (with the
    namespaces whose images refer to it). crictl and `ctr -n k8s.io` reach the same snapshot: one
    copy. Ends with the bytes stored more than once (the unpacked copies beyond the first of each
    layer; blobs are shared and not counted). Exit status 1: the image is in no backend; 3: some
    backends failed, the rest printed.
    """
    from .. import core
    from .images import _default_namespace

    out = Output(check_format(output), quiet)
    conf = settings(ctx)
    names = core.select_backends(conf, backend, all_backends)
    got = core.image_layers(conf, names, image, namespace or _default_namespace(conf))
    rows = [{k: row[k] for k in FIELDS} for row in got.rows]
    for row in rows:
        row["copies"] = [{k: c[k] for k in COPY_FIELDS} for c in row["copies"]]
    if not got.rows and got.failed:
        pass  # nothing to show: the errors say why
    elif quiet:
        out.lines(r["diff_id"] for r in rows)
    elif out.structured:
        out.data(rows)
    else:
        table = []
        for row in rows:
            for i, copy in enumerate(row["copies"]):
                first = i == 0
                table.append(dict(copy,
                                  _layer=f"{row['index']} {short_id(row['diff_id'])}" if first else "",
                                  _diff=row["diff_id"] if first else "", _chain=row["chain_id"] if first else ""))
        out.table(COLUMNS, table, caption=caption(rows, got.absent))
    raise typer.Exit(report_failures(out, got, len(names)))


def caption(rows: list[dict[str, Any]], absent: list[str]) -> list[str]:
    lines = []
    for row in rows:
        if row["stored"] > 1:
            lines.append(f"layer {row['index']} ({short_id(row['diff_id'])}, {human_size(row['size'])}) is unpacked "
                         f"{row['stored']} times")
    if absent:
        lines.append(f"not in: {', '.join(absent)}")
    total = sum(r["duplicated"] for r in rows)
    lines.append(f"{total} bytes stored more than once ({human_size(total)})")
    return lines
