"""`ctrtool layers IMAGE`: every place on disk that holds each layer of an image, with sizes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from .. import completion
from ..model import CopyKind
from ..output import Column, Output, human_size, short_id
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors

if TYPE_CHECKING:
    from ..model import LayerCopy, LayerRow

QuietLayersOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the layers' diff IDs, one per line.")]
ImageArg = Annotated[
    str,
    typer.Argument(
        metavar="IMAGE", autocompletion=completion.images, help="Image name, ID, digest or unique ID prefix."
    ),
]


def _where(copy: LayerCopy) -> str:
    if copy.kind == CopyKind.BLOB:
        return "content store: " + (", ".join(copy.namespaces) or "no image refers to it")
    if not copy.namespace:
        from ..adapters.cstorage import graphroot_of_layer

        # one containers/storage store, whichever tool found it (SEEN BY names them; PATH which store)
        return "containers/storage" if graphroot_of_layer(copy.path) else f"{copy.backend}'s own store"
    return f"namespace {copy.namespace}"


@dataclass(frozen=True)
class _Line:
    """One table line: a copy, with its layer named on the layer's first line."""

    layer: LayerRow
    copy: LayerCopy
    first: bool


COLUMNS = [
    Column("LAYER", lambda r: f"{r.layer.index} {short_id(r.layer.diff_id)}" if r.first else ""),
    Column("DIFF ID", lambda r: r.layer.diff_id if r.first else "", wide_only=True, drop=5),
    Column("CHAIN ID", lambda r: r.layer.chain_id if r.first else "", wide_only=True, drop=6),
    Column("COPY", lambda r: r.copy.kind),
    Column("WHERE", lambda r: _where(r.copy), shape="text"),
    Column("SEEN BY", lambda r: ", ".join(r.copy.seen_by), drop=3),
    Column("SIZE", lambda r: human_size(r.copy.size)),
    Column("BYTES", lambda r: r.copy.size, wide_only=True, drop=4),
    Column("PATH", lambda r: r.copy.path, shape="path"),
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
    from ..core.storage import image_layers

    out = Output(check_format(output), quiet)
    conf, names = listing.backends(ctx, backend, all_backends)
    got = image_layers(conf, names, image, namespace or listing.default_namespaces(conf))
    rows: list[LayerRow] = got.rows

    def table() -> None:
        lines = [_Line(row, copy, i == 0) for row in rows for i, copy in enumerate(row.copies)]
        out.table(COLUMNS, lines, caption=caption(rows, got.absent))

    # backends without the image are not failures; print nothing only when no layer was found
    listing.show(
        out,
        got,
        len(names),
        table=table,
        quiet=lambda: (r.diff_id for r in rows),
        nothing=not rows and bool(got.failed),
    )


def caption(rows: list[LayerRow], absent: list[str]) -> list[str]:
    lines = []
    for row in rows:
        if row.stored > 1:
            lines.append(
                f"layer {row.index} ({short_id(row.diff_id)}, {human_size(row.size)}) is unpacked {row.stored} times"
            )
    if absent:
        lines.append(f"not in: {', '.join(absent)}")
    total = sum(r.duplicated for r in rows)
    lines.append(f"{total} bytes stored more than once ({human_size(total)})")
    return lines
