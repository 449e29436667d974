"""`ctrtool info` (alias `where`): each backend's version, endpoint, directories and namespaces."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import typer

from ..output import Output

if TYPE_CHECKING:
    from ..model import BackendInfo

from . import listing
from .common import AllBackendsOpt, BackendOpt, OutputOpt, QuietOpt, check_format, handle_errors


@handle_errors
def info(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    output: OutputOpt = "table",
    quiet: QuietOpt = False,
) -> None:
    """Where each tool keeps its images: version, endpoint, storage root, state directory,
    snapshotter or graph driver, namespaces and image count. Exit status 3: some backends failed."""
    from ..core.listing import backend_info

    out = Output(check_format(output), quiet)
    conf, names = listing.backends(ctx, backend, all_backends)
    got = backend_info(conf, names)
    infos: list[BackendInfo] = got.rows
    listing.show(
        out,
        got,
        len(names),
        quiet=lambda: (i.backend for i in infos),
        table=lambda: out.sections([(i.backend, _fields(i)) for i in infos], caption=caption(infos)),
    )


def _fields(i: BackendInfo) -> list[tuple[str, Any]]:
    from ..model import ImageStore

    graph = i.image_store is ImageStore.GRAPH
    cstorage = i.image_store is ImageStore.CONTAINERS_STORAGE
    fields: list[tuple[str, Any]] = [
        ("version", i.version if not i.runtime else f"CRI {i.version} ({i.runtime})"),
        ("endpoint", i.endpoint),
        ("endpoint from", i.endpoint_source),
        ("root", i.root),
        ("state", i.state if i.state else "(not reported by this tool)"),
        ("graph driver" if graph else "storage driver" if cstorage else "snapshotter", i.storage_driver),
        ("layers under", i.store),
    ]
    if i.content_store:
        fields.append(("blobs under", i.content_store))
    if i.namespace_image_counts is not None:
        fields.append(("namespaces", ", ".join(f"{ns} ({_images(n)})" for ns, n in i.namespace_image_counts.items())))
    elif graph:
        fields.append(
            (
                "containerd namespace",
                ", ".join(i.namespaces) + " (its containers only: its images are in its own graph driver store)",
            )
        )
    elif i.image_store is ImageStore.CONTAINERD and i.containerd and i.runtime is None:
        fields.append(
            (
                "images in",
                f"containerd namespace {', '.join(i.namespaces)} of the containerd at "
                f"{i.containerd} (containerd's image store: its containers too)",
            )
        )
    elif cstorage:
        where = f"graph root {i.root}" if i.root else "no rootful store here (users' stores below)"
        fields.append(("images in", f"containers/storage, {where}"))
    else:
        fields.append(("namespace", ", ".join(i.namespaces) or "(not containerd)"))
    for store in i.user_stores:
        fields.append(
            (
                "user store",
                f"{store['user']}: {store['graphroot']} (rootless; its directory owned by uid {store['uid']})",
            )
        )
    if i.sandbox_image:
        fields.append(("sandbox image", i.sandbox_image))
    fields.append(("images", i.image_count))
    return fields


def _images(n: int) -> str:
    return "1 image" if n == 1 else f"{n} images"


def caption(infos: list[BackendInfo]) -> list[str]:
    """Plain words from what was measured: which backends share one containerd (and so one content
    store), which keep their own store, and which namespace the kubelet sees."""
    from ..adapters import get_descriptor
    from ..adapters.descriptor import NamespaceRule
    from ..model import ImageStore, daemon_id

    lines = []
    groups: dict[str, list[BackendInfo]] = {}
    for i in infos:
        if i.image_store is ImageStore.CONTAINERD and i.containerd:
            groups.setdefault(daemon_id(i.containerd), []).append(i)
    for i in infos:
        if i.image_store is not ImageStore.GRAPH or not i.store:
            continue
        others = [o for o in infos if o.image_store is ImageStore.CONTAINERD and o.store]
        if others and os.path.realpath(others[0].store or "") != os.path.realpath(i.store):
            lines.append(
                f"{i.backend} keeps its images in {i.store}, its own graph driver store; containerd keeps "
                f"its own under {others[0].store}. Different directories: an image loaded with {i.backend} "
                "is invisible to ctr and crictl, and its layers and blobs are stored again when imported there."
            )
    stores: dict[str, list[BackendInfo]] = {}
    for i in infos:
        if i.image_store is ImageStore.CONTAINERS_STORAGE and i.root:
            stores.setdefault(daemon_id(i.root), []).append(i)
    for root, members in stores.items():
        names = [m.backend for m in members]
        said = " and ".join(names)
        lines.append(
            f"{said} {'keep' if len(names) > 1 else 'keeps'} images in the containers/storage store at {root}"
            + (": one store, each image and layer stored once, seen by both." if len(names) > 1 else ".")
        )
    for address, members in groups.items():
        if len(members) < 2:
            continue
        names = [m.backend for m in members]
        spaces = sorted({ns for m in members for ns in (m.namespace_image_counts or {}) or m.namespaces})
        content = next((m.content_store for m in members if m.content_store), None)
        lines.append(
            f"{', '.join(names[:-1])} and {names[-1]} work with one containerd ({address}): one content "
            f"store{f' ({content})' if content else ''}, so a blob is stored once and shared by its "
            f"namespaces ({', '.join(spaces)}); each namespace still unpacks its own snapshots."
        )
    for i in infos:
        d = get_descriptor(i.backend)
        if d.namespace_rule is NamespaceRule.FIXED and i.image_store is ImageStore.CONTAINERS_STORAGE:
            lines.append(
                f"{d.name} ({d.role}) asks {i.runtime or 'its runtime'}, whose images are in {i.root}: an "
                "image in any other store (another graph root, a user's rootless podman, docker, "
                "containerd) is invisible to the kubelet."
            )
        if d.namespace_rule is NamespaceRule.FIXED and d.namespace in i.namespaces:
            lines.append(
                f"{d.name} ({d.role}) works in containerd namespace {d.namespace} only: images "
                "imported with ctr into another namespace are invisible to it."
            )
    return lines
