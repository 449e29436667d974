"""`ctrtool images`: every image copy in every store, with where its layers live."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..output import Column, Output, human_size, short_id
from . import listing
from .common import (
    AllBackendsOpt,
    BackendOpt,
    NamespaceOpt,
    OutputOpt,
    QuietOpt,
    check_format,
    filter_option,
    handle_errors,
    sort_option,
)

if TYPE_CHECKING:
    from ..model import ImageRecord, Store


def _copies(row: ImageRecord):
    """Copies of this name; when the image itself is unpacked in more stores (under other names
    there), that count too: a name in one store is never shown as "stored 3x"."""
    from rich.text import Text

    n, image = row.ref_copies, row.copies
    text = Text(f"stored {n}x", style="bold yellow") if n > 1 else Text("1x", style="dim")
    if image != n:
        text.append(f" (image {image}x)", style="yellow")
    return text


KUBELET_MARKS = {True: "✓", False: "✗", None: "?"}
KUBELET_LEGEND = (
    "K8S: ✓ the kubelet can use this name (it is in the CRI's namespace k8s.io), ✗ it cannot, "
    "? not known (neither crictl nor ctr's k8s.io was listed)"
)
# the CRI's runtime keeps its images in containers/storage (CRI-O): no namespaces
KUBELET_LEGEND_STORE = (
    "K8S: ✓ the kubelet can use this name (it is in the CRI runtime's store), ✗ it cannot, "
    "? not known (crictl was not listed)"
)


def kubelet_legend(rows: Sequence[ImageRecord]) -> str:
    from ..model import StoreKind

    on_store = any(r.store and r.store.kind is StoreKind.CSTORAGE and r.namespace is None for r in rows)
    on_namespace = any(r.namespace for r in rows)
    return KUBELET_LEGEND_STORE if on_store and not on_namespace else KUBELET_LEGEND


def _ref(ref: str | None) -> str:
    """The CRI names each image also by its id (``sha256:<64 hex>``): shortened for people."""
    if ref is None:
        return "<none>"
    if ref.startswith("sha256:") and len(ref) == 71:
        return f"sha256:{ref[7:19]}…"
    return ref


def shown_id(r: ImageRecord) -> str | None:
    """The IMAGE ID the row's own tool prints: docker on containerd's image store (Docker 29's
    default) prints the manifest digest (JSON ``digest``), every other store the config digest (JSON
    ``id``, the ID that tells the same image in several stores: COPIES counts by it)."""
    return image_id_shown(r.backend, r.namespace, r.id, r.digest)


def image_id_shown(backend: str | None, namespace: str | None, image_id: str | None, digest: str | None) -> str | None:
    """shown_id() of a row's fields (also `nodes images`, whose rows are JSON from the nodes)."""
    from ..adapters import BACKENDS, get_descriptor

    if namespace and digest and backend in BACKENDS and get_descriptor(backend).digest_is_id_in_namespace:
        return digest
    return image_id or digest


def columns(legend: dict[tuple, int], namespaces: bool = True) -> list[Column]:
    """The table's columns; ``namespaces`` False: no row is in a containerd namespace (a CRI-O or
    podman node), and no NAMESPACE column speaks of them."""

    def store_no(r: ImageRecord) -> str | None:
        return f"[{legend[r.store.key]}]" if r.store and r.store.key in legend else None

    return [
        Column("BACKEND", lambda r: r.backend),
        *([Column("NAMESPACE", lambda r: r.namespace)] if namespaces else []),
        Column("IMAGE", lambda r: _ref(r.ref)),
        Column("IMAGE ID", lambda r: short_id(shown_id(r)), narrow_only=True, drop=5),
        Column("IMAGE ID", shown_id, wide_only=True, drop=7),
        Column("DIGEST", lambda r: r.digest, wide_only=True, drop=8),
        Column("SIZE", lambda r: human_size(r.size), drop=3),
        Column("SIZE OF", lambda r: r.size_kind, wide_only=True, drop=6),
        Column("COPIES", _copies, drop=4),
        Column("K8S", lambda r: KUBELET_MARKS[r.kubelet_visible], drop=2),
        Column("CREATED", lambda r: r.created, wide_only=True, drop=5),
        Column("STORE", store_no, drop=6),
        Column(
            "LAYERS STORED UNDER", lambda r: r.store.path if r.store else None, wide_only=True, shape="path", drop=9
        ),
    ]


@handle_errors
def images(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = "table",
    quiet: QuietOpt = False,
    repository: Annotated[
        Optional[str],
        typer.Argument(metavar="[REPO[:TAG]]", help="Only this repository (and tag), as docker images REPO[:TAG]."),
    ] = None,
    filters: Annotated[
        Optional[list[str]], filter_option("reference=PATTERN (shell-style, as docker), dangling=true|false.")
    ] = None,
    sort: Annotated[Optional[str], sort_option("size (largest first), created (newest first) or ref.")] = None,
) -> None:
    """List images in docker's store, in each containerd namespace (ctr) and in the CRI (crictl).

    One row per backend, namespace and image name. COPIES counts the distinct places where the
    same name is unpacked (docker's graph driver directory, each containerd namespace's
    snapshots), and, when the image is unpacked in more places under other names, those too:
    the copies do not share layers. Blobs in containerd's content store are stored once and
    shared by its namespaces. K8S says whether the kubelet can use the name. Exit status 3: some
    backends failed, the rest printed.
    """
    from ..core.listing import list_images
    from ..core.views import fold_aliases

    keep = _row_filter(repository, filters or [])
    order = listing.sort_key(sort, SORTS)
    out = Output(check_format(output), quiet)
    conf, names = listing.backends(ctx, backend, all_backends)
    got = list_images(conf, names, namespace or listing.default_namespaces(conf))
    got.rows = fold_aliases(got.rows)  # the CRI's id-names: in their image's row (JSON aliases)
    got.rows = [r for r in got.rows if keep(r, got.rows)]
    if order:
        got.rows = sorted(got.rows, key=order)
    rows: list[ImageRecord] = got.rows

    def table() -> None:
        stores = list(dict.fromkeys(r.store for r in rows if r.store))
        legend = {store.key: n for n, store in enumerate(stores, 1)}
        # the footnotes and the legend are about their columns: printed only when the column is
        notes: list[str | tuple[str, str]] = [
            ("STORE", f"[{legend[s.key]}] {s.path or '(directory not reported)'}  ({_store_words(s, rows)})")
            for s in stores
        ]
        kubelet: list[str | tuple[str, str]] = [("K8S", kubelet_legend(rows))] if rows else []
        spaces = listing.namespaced(rows)
        out.table(columns(legend, spaces), rows, caption=notes + list(caption(rows)) + kubelet)

    listing.show(
        out,
        got,
        len(names),
        table=table,
        quiet=lambda: dict.fromkeys(r.id or r.digest or "" for r in rows if r.id or r.digest),
    )


def _row_filter(repository: str | None, filters: Sequence[str]):
    """The rows to show: REPO[:TAG] and --filter (every one must hold). Bad input is a usage error
    before any tool runs."""
    from ..errors import UsageError
    from ..refs import matches_pattern, matches_repo_tag

    Test = Callable[["ImageRecord", Sequence["ImageRecord"]], bool]
    tests: list[Test] = []

    def repo_tag(wanted: str) -> Test:
        return lambda r, rows: bool(r.ref) and matches_repo_tag(r.ref or "", wanted)

    def reference(pattern: str) -> Test:
        return lambda r, rows: bool(r.ref) and matches_pattern(r.ref or "", pattern)

    def dangling(want: bool) -> Test:
        return lambda r, rows: _dangling(r, rows) is want

    if repository is not None:
        if not repository.strip():
            raise UsageError("REPO[:TAG] is empty", "give a repository, e.g. busybox or localhost/app:1")
        tests.append(repo_tag(repository))
    for item in filters:
        key, eq, value = item.partition("=")
        if not eq or not value:
            raise UsageError(f"--filter {item!r} is not KEY=VALUE", "e.g. --filter reference='busy*' or dangling=true")
        if key == "reference":
            tests.append(reference(value))
        elif key == "dangling":
            if value not in ("true", "false"):
                raise UsageError(f"--filter dangling={value!r}: true or false", "e.g. --filter dangling=true")
            tests.append(dangling(value == "true"))
        else:
            raise UsageError(f"--filter {key!r} is not known", "images filters: reference=PATTERN, dangling=true|false")
    return lambda r, rows: all(test(r, rows) for test in tests)


def _dangling(row: ImageRecord, rows: Sequence[ImageRecord]) -> bool:
    """Untagged: no name in its store but the image id (the CRI names every image by its id too)."""
    from ..core.views import is_id_ref

    if row.ref and not is_id_ref(row.ref):
        return False
    key = row.store.key if row.store else (row.backend, row.namespace)
    return not any(
        r.ref
        and not is_id_ref(r.ref)
        and (r.store.key if r.store else (r.backend, r.namespace)) == key
        and {r.id, r.digest} & ({row.id, row.digest} - {None})
        for r in rows
    )


SORTS: dict[str, Callable[[Any], Any]] = {
    "size": lambda r: (r.size is None, -(r.size or 0)),  # largest first; unknown sizes last
    "created": listing.newest_first,
    "ref": listing.by_field("ref"),
}


def _store_words(store: Store, rows: Sequence[ImageRecord]) -> str:
    seen_by = list(dict.fromkeys(r.backend for r in rows if r.store and r.store.key == store.key))
    return f"{store.words()}, seen by {' and '.join(seen_by)}"


def caption(rows: Sequence[ImageRecord]) -> list[str]:
    """Plain words under the table: which images are unpacked more than once and where, which
    stores share one content store, and which views are the same copy."""
    from ..core.views import image_groups

    if not rows:
        return ["no images found"]
    lines = []
    for group in image_groups(rows):
        if group[0].copies <= 1:
            continue
        refs = sorted({r.ref for r in group if r.ref and not r.ref.startswith("sha256:")})
        image_id = next((r.id or r.digest for r in group if r.id or r.digest), None)
        stores = list({r.store.key: r.store for r in group if r.store}.values())
        said = [s.words() for s in stores]  # two stores in the same words: each with its directory
        places = list(dict.fromkeys(w if said.count(w) == 1 else f"{w} under {s.path}" for s, w in zip(stores, said)))
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
        if d.namespace_rule is NamespaceRule.FIXED and not any(r.namespace for r in rows if r.backend == backend):
            cri = next((r.store for r in rows if r.backend == backend and r.store), None)
            lines.append(
                f"{d.name} ({d.role}) sees its runtime's store"
                + (f", {cri.words()} at {cri.daemon}" if cri else "")
                + ": an image in any other store is invisible to the kubelet."
            )
        elif d.namespace_rule is NamespaceRule.FIXED:
            lines.append(
                f"{d.name} ({d.role}) works in containerd namespace {d.namespace} only: images in any "
                "other namespace are invisible to the kubelet."
            )
    return lines
