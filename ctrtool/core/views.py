"""Several tools, one store: records of the same image or container, as each backend saw it,
linked and completed from one another (a store's directory, an image's config, its copies, what
the kubelet sees, the owner's view of a container)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ..adapters import get_descriptor
from ..adapters.base import Adapter, canonical_ref
from ..config import Settings
from ..errors import CtrtoolError
from ..model import ContainerRecord, ImageRecord, StoreKind, ViewOf, rfc3339_utc
from .query import containerd_reader, containerd_reader_class, cri_namespace


def kubelet_listed(answered: Sequence[str], namespaces: Sequence[str] | None) -> bool:
    """Whether what the kubelet can use was listed: the CRI answered, or a backend that reads every
    namespace answered for the CRI's namespace."""
    from ..adapters.descriptor import NamespaceRule

    k8s = cri_namespace()
    for name in answered:
        rule = get_descriptor(name).namespace_rule
        if rule is NamespaceRule.FIXED or (rule is NamespaceRule.ALL and (not namespaces or k8s in namespaces)):
            return True
    return False


def annotate_kubelet(records: Sequence[ImageRecord], listed: bool) -> None:
    """Set ``kubelet_visible``: the CRI's namespace (of the CRI's containerd, when the CRI answered)
    has this reference, by name (normalised: ``busybox`` is ``docker.io/library/busybox:latest``), or,
    for a name that is an image id, by id. None when that namespace was not listed."""
    from ..adapters.descriptor import NamespaceRule

    if not listed:
        return
    k8s = cri_namespace()
    daemons = {
        r.store.daemon
        for r in records
        if r.store and get_descriptor(r.backend).namespace_rule is NamespaceRule.FIXED and r.store.daemon != "?"
    }
    # a CRI runtime on containers/storage (CRI-O): the kubelet sees that store, whoever lists it
    # (rootful podman on the same graph root lists the same store)
    stores = {
        r.store.key
        for r in records
        if r.store
        and r.store.kind is StoreKind.CSTORAGE
        and get_descriptor(r.backend).namespace_rule is NamespaceRule.FIXED
    }
    kube = [
        r
        for r in records
        if (r.namespace == k8s and (not daemons or (r.store and r.store.daemon in daemons)))
        or (r.store and r.store.key in stores)
    ]
    names = {canonical_ref(r.ref) for r in kube if r.ref and not is_id_ref(r.ref)}
    ids = {r.id for r in kube if r.id}
    for r in records:
        if r.ref and not is_id_ref(r.ref):
            r.kubelet_visible = canonical_ref(r.ref) in names
        else:
            r.kubelet_visible = bool(r.id) and r.id in ids


def fold_aliases(records: Sequence[ImageRecord]) -> list[ImageRecord]:
    """The rows without the CRI's id-names: a row named ``sha256:<64 hex>`` that is the id of
    another row of the same backend and namespace (of the same containerd) is not a row of its own
    but an alias of that image, listed in ``aliases`` of every row with that id there. An id-name
    with no other name in its namespace (an untagged image) stays a row. Counts and kubelet
    visibility were set before and are kept."""

    def place(r: ImageRecord) -> tuple:
        return (r.backend, r.namespace, r.store.daemon if r.store else None)

    named: dict[tuple, list[ImageRecord]] = {}
    for r in records:
        if r.id and r.ref and not is_id_ref(r.ref):
            named.setdefault((*place(r), r.id), []).append(r)
    kept: list[ImageRecord] = []
    for r in records:
        owners = named.get((*place(r), r.ref)) if r.ref and is_id_ref(r.ref) else None
        if not owners:
            kept.append(r)
            continue
        for owner in owners:
            if r.ref not in owner.aliases:
                owner.aliases.append(r.ref or "")
    return kept


def is_id_ref(ref: str) -> bool:
    """A name that is an image id: the CRI names every image also ``sha256:<id>``."""
    return ref.startswith("sha256:") and len(ref) == 71


def complete_configs(records: Sequence[ImageRecord]) -> None:
    """Set ``created`` and ``diff_ids`` from the image's config in containerd's content store on
    disk (the config blob the image id names), where the tool did not say them; each config is
    read once."""
    import json

    seen: dict[str, tuple[str | None, list[str]]] = {}
    for r in records:
        if (r.created and r.diff_ids) or not r.id or not r.content or not r.content.path:
            continue
        algo, _, hexpart = r.id.partition(":")
        path = os.path.join(r.content.path, "blobs", algo, hexpart)
        if path not in seen:
            seen[path] = (None, [])
            try:
                from ..safeio import read_regular

                config = json.loads(read_regular(path, 1 << 22))  # a regular file, never blocking
                if isinstance(config, dict):
                    diffs = (config.get("rootfs") or {}).get("diff_ids") or []
                    seen[path] = (rfc3339_utc(config.get("created")), [str(d) for d in diffs])
            except (OSError, ValueError, AttributeError, TypeError, RecursionError):
                pass
        created, diffs = seen[path]
        r.created = r.created or created
        r.diff_ids = r.diff_ids or list(diffs)


def image_groups(records: Sequence[ImageRecord]) -> list[list[ImageRecord]]:
    """The records that are one image, whichever id each tool printed: linked by the config digest
    (docker on overlay2, the CRI, ctr), by the manifest or index digest (Docker 29 on containerd's
    image store, ctr), and, for a record with neither, by its reference alone."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, r in enumerate(records):
        keys: list[tuple[str, str]] = [("id", r.id)] if r.id else []
        keys += [("digest", r.digest)] if r.digest else []
        if not keys and r.ref:
            keys = [("ref", canonical_ref(r.ref))]
        for key in keys:
            j = first.setdefault(key, i)
            parent[find(i)] = find(j)
    groups: dict[int, list[ImageRecord]] = {}
    for i, r in enumerate(records):
        groups.setdefault(find(i), []).append(r)
    return list(groups.values())


def complete_stores(settings: Settings, records: Sequence[ImageRecord], warnings: list[str]) -> None:
    """Fill in what one tool does not say from what another said about the same store or image:

    * a store's directory (docker on containerd's image store reports only containerd's address)
      from another backend's view of the same containerd, else from that containerd itself, read
      through the backend that reads a whole containerd (one call);
    * an image's config digest (its ``id``; Docker 29 prints the manifest digest) from another
      record of the same image, else from the manifest in the content store on disk."""
    roots: dict[tuple[StoreKind, str, str | None], str] = {}
    for r in records:
        for store in (r.store, r.content):
            if store and store.path:
                roots.setdefault((store.kind, store.daemon, store.driver), store.path)
    missing = {
        store.daemon: store
        for r in records
        for store in (r.store, r.content)
        if store and not store.path and store.daemon != "?" and (store.kind, store.daemon, store.driver) not in roots
    }
    configs: dict[str, str] = {}
    for daemon in missing:
        reader = containerd_reader(settings, daemon)
        if reader is None:
            continue
        try:
            layout = reader.layout()
        except CtrtoolError as exc:
            warnings.append(f"the containerd at {daemon}: its directories are unknown ({exc.message})")
            continue
        for driver, root in layout.snapshotter_roots.items():
            roots.setdefault((StoreKind.SNAPSHOTS, daemon, driver), root)
        if layout.content_root:
            roots.setdefault((StoreKind.CONTENT, daemon, None), layout.content_root)
            configs.update(
                reader.config_digests(layout.content_root, [r.digest for r in records if r.digest and not r.id])
            )
    for r in records:
        for attr in ("store", "content"):
            store = getattr(r, attr)
            if store and not store.path:
                setattr(r, attr, store.with_path(roots.get((store.kind, store.daemon, store.driver))))
    unresolved: dict[str, list[str]] = {}
    for r in records:
        if r.id is None and r.digest and r.content and r.content.path and r.digest not in configs:
            unresolved.setdefault(r.content.path, []).append(r.digest)
    reader_class = containerd_reader_class(settings)
    for content_root, digests in unresolved.items():
        if reader_class is not None:
            configs.update(reader_class.config_digests(content_root, digests))
    for group in image_groups(records):
        ids = {r.id for r in group if r.id}
        found = ids.pop() if len(ids) == 1 else None
        for r in group:
            if r.id is None:
                r.id = found or configs.get(r.digest or "")


def annotate_copies(records: Sequence[ImageRecord]) -> None:
    """Set ``copies``: in how many distinct unpacked stores (docker's graph driver directory, each
    containerd namespace's snapshots) the same image is, among the backends that were queried.
    Two backends that see one store (crictl and ``ctr -n k8s.io``; docker on containerd's image
    store and ``ctr -n moby``) count it once. Blobs in a shared content store are not copies."""
    for group in image_groups(records):
        stores = {r.store.key if r.store else (r.backend, r.namespace) for r in group}
        by_name: dict[str, set] = {}
        for r in group:
            if r.ref and not is_id_ref(r.ref):
                by_name.setdefault(canonical_ref(r.ref), set()).add(
                    r.store.key if r.store else (r.backend, r.namespace)
                )
        for r in group:
            r.copies = len(stores)
            # ``ref_copies``: the stores where the image has this same name (an id-name: all of them)
            named = r.ref and not is_id_ref(r.ref)
            r.ref_copies = len(by_name[canonical_ref(r.ref)]) if named and r.ref else len(stores)


def through_views(
    settings: Settings, op: Callable[[Adapter, Sequence[str] | None], Any], namespaces: Sequence[str] | None
) -> Callable[[Adapter], Any]:
    """``op`` for :func:`fan_out`, for a backend whose images may live in another's store: docker
    on containerd's image store says so (:class:`ViewOf`); its layers are then read through the
    backend that reads a whole containerd, in that one namespace, and marked as seen by docker."""

    def run(adapter: Adapter) -> Any:
        try:
            return op(adapter, namespaces)
        except ViewOf as view:
            # -n restricts what ctr lists; docker, asked for, is its own namespace whatever -n says
            reader = containerd_reader(settings, view.address)
            if reader is None:
                from ..errors import Unsupported

                raise Unsupported(f"{view} and no tool that reads containerd (ctr) is installed") from None
            found = op(reader, [view.store.namespace] if view.store.namespace else None)
            adapter.warnings.extend(reader.warnings)
            for item in found:
                for copy in getattr(item, "copies", [item]):
                    copy.backend, copy.seen_by = view.backend, [view.backend]
            return found

    return run


def annotate_views(records: Sequence[ContainerRecord]) -> None:
    """One container, several views: docker's container is namespace moby's in ctr, the CRI's is
    k8s.io's (the same id). Each record gets ``seen_by`` (every backend listing it); where the
    views disagree on the state, ``states`` has each one's word and the owner's (docker's, the
    CRI's) is the one `ps` shows: ctr calls a container whose task is gone "created", the CRI "exited"."""
    groups: dict[str, list[ContainerRecord]] = {}
    for r in records:
        groups.setdefault(r.id, []).append(r)
    for group in groups.values():
        seen = list(dict.fromkeys(r.backend for r in group))
        states = {r.backend: r.state for r in group}
        for r in group:
            r.seen_by = list(seen)
            if len(set(states.values())) > 1:
                r.states = dict(states)


def view_owner(group: Sequence[ContainerRecord]) -> ContainerRecord:
    """The record of the backend that owns the container (docker, the CRI), else the first."""
    from ..adapters.descriptor import NamespaceRule

    return next((r for r in group if get_descriptor(r.backend).namespace_rule is not NamespaceRule.ALL), group[0])


def one_row_per_container(records: Sequence[ContainerRecord]) -> list[ContainerRecord]:
    """The owner's record of each container, in listing order."""
    groups: dict[str, list[ContainerRecord]] = {}
    for r in records:
        groups.setdefault(r.id, []).append(r)
    owners = {id(view_owner(g)) for g in groups.values()}
    return [r for r in records if id(r) in owners]
