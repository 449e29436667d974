"""Where an image's bytes are: its layers and every copy of them (`layers`), the stores that
hold it (`explain`), and what each store holds on disk (`df`) with the byte account."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..adapters.base import Adapter, canonical_ref
from ..config import Settings
from ..errors import CtrtoolError, NotFound
from ..model import (
    ContainerRecord,
    CopyKind,
    ImageRecord,
    LayerCopy,
    LayerRow,
    PlaceId,
    StoreEntry,
    StoreUsage,
    place_of,
)
from .query import Gathered, fan_out
from .views import through_views


@dataclass
class Layers(Gathered):
    """`layers`: one row per layer (with its copies), the bytes stored more than once, and the
    backends where the image is not (not an error: it is simply not there)."""

    duplicated: int = 0
    absent: list[str] = field(default_factory=list)


def _merge_copy(copies: dict[Any, Any], copy: Any) -> None:
    """Add ``copy`` to ``copies`` under its kind and real path; a copy already there gains its backends and namespaces."""
    key = (copy.kind, os.path.realpath(copy.path))
    have = copies.get(key)
    if have is None:
        copies[key] = copy
        return
    have.seen_by += [b for b in copy.seen_by if b not in have.seen_by]
    have.namespaces += [n for n in copy.namespaces if n not in have.namespaces]


def image_layers(
    settings: Settings, backends: Sequence[str], ref: str, namespaces: Sequence[str] | None = None
) -> Layers:
    """Every layer of image ``ref`` and every place on disk that holds it, over the backends.

    A copy reached by two backends (crictl and ``ctr -n k8s.io``: the same snapshot directory) is
    one copy; each distinct unpacked directory is walked once to size it. ``duplicated``: for each
    layer, its unpacked copies' bytes minus one copy (blobs are shared and do not count)."""
    from ..adapters.base import tree_size

    outcomes = fan_out(settings, backends, through_views(settings, lambda a, ns: a.layers(ref, ns), namespaces))
    absent = [o.backend for o in outcomes if isinstance(o.error, NotFound)]
    answered = [o for o in outcomes if o.error is None]
    failed = [o for o in outcomes if o.error is not None and not isinstance(o.error, NotFound)]
    if not answered and not failed:
        where = ", ".join(backends)
        raise NotFound("image", ref, where, hint="`ctrtool images` lists the images of every backend")
    layers: dict[str, LayerRow] = {}
    found: dict[str, dict[tuple[str, str], LayerCopy]] = {}
    for outcome in answered:
        for rec in outcome.value or []:
            row = layers.setdefault(rec.chain_id, LayerRow(rec.index, rec.diff_id, rec.chain_id, rec.blob, None, 0, 0))
            row.blob = row.blob or rec.blob
            copies = found.setdefault(rec.chain_id, {})
            for copy in rec.copies:
                _merge_copy(copies, copy)
    # size each distinct unpacked directory once, in parallel
    todo = list(dict.fromkeys(key[1] for copies in found.values() for key in copies if key[0] == CopyKind.UNPACKED))
    sizes: dict[str, int] = {}
    if todo:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            sizes = dict(zip(todo, pool.map(tree_size, todo)))
    duplicated = 0
    for chain, row in layers.items():
        for (kind, real), copy in found.get(chain, {}).items():
            if kind == CopyKind.UNPACKED:
                copy.size = sizes[real]
            row.copies.append(copy)
        unpacked = [c.size for c in row.copies if c.kind == CopyKind.UNPACKED and c.size is not None]
        row.size = max(unpacked) if unpacked else None
        row.stored = len(unpacked)
        row.duplicated = sum(unpacked) - max(unpacked) if unpacked else 0
        duplicated += row.duplicated
    rows = sorted(layers.values(), key=lambda r: r.index)
    return Layers(rows, failed, [w for o in outcomes for w in o.warnings], duplicated, absent)


@dataclass
class Holding:
    """A store that holds image ``ref`` itself: every name the same image has there (removing one
    name frees nothing while another remains) and the containers there that use it."""

    backend: str
    refs: list[str] = field(default_factory=list)
    used_by: list[ContainerRecord] = field(default_factory=list)
    id: str | None = None  # the image's id as that backend lists it
    owner: str | None = None  # the user whose rootless store it is (containers/storage)


def image_holdings(
    settings: Settings, backends: Sequence[str], ref: str, namespaces: Sequence[str] | None = None
) -> dict[PlaceId, Holding]:
    """The stores that hold image ``ref`` itself (by name, else by id), keyed by their place
    (:class:`~ctrtool.model.PlaceId`: two graph stores are two), with the image's names there and
    the containers using it: one image
    listing and one container listing per backend, in parallel. (`layers` also finds a layer where
    only another image that shares it is.)"""
    from ..adapters.base import match_images

    def op(adapter: Adapter) -> tuple[list[ImageRecord], list[ContainerRecord]]:
        return adapter.images(namespaces), adapter.containers(namespaces)

    holdings: dict[PlaceId, Holding] = {}
    for outcome in fan_out(settings, backends, op):
        if outcome.value is None:
            continue
        records, containers = outcome.value
        where = {id(r): place_of(r.store.path if r.store else None, r.namespace) for r in records}
        for key in dict.fromkeys(where.values()):
            here = [r for r in records if where[id(r)] == key]
            ns = key.namespace
            found, _ = match_images(here, ref)
            if not found:
                continue
            keys = {k for r in found for k in (r.id, r.digest) if k}
            same = [r for r in here if keys & {r.id, r.digest}] or found
            names = list(dict.fromkeys(r.ref for r in same if r.ref))
            owner = found[0].store.owner if found[0].store else None
            holding = holdings.setdefault(key, Holding(outcome.backend, id=found[0].id, owner=owner))
            holding.refs += [n for n in names if n not in holding.refs]
            # docker's containers carry no namespace: all of them are its store's
            users = [c for c in containers if c.namespace in (ns, None) and uses_image(c, names, keys)]
            holding.used_by += [c for c in users if all(c.id != u.id for u in holding.used_by)]
    return _placed(holdings)


def _placed(holdings: dict[PlaceId, Holding]) -> dict[PlaceId, Holding]:
    """The holdings with each one whose directory its tool did not report (``where`` "": docker on
    containerd's image store lists its images without the snapshotter's directory) folded into the
    one place of its kind and namespace that was reported (ctr's view of the same namespace), so a
    place is one holding, with every name and every container of both views. The first-listed
    view stays the holding's backend (the one that owns the namespace: docker's moby). Where several
    reported places could be it, it stays apart."""
    out: dict[PlaceId, Holding] = {}
    for key, holding in holdings.items():
        if not key.where:
            peers = [k for k in holdings if k.where and k.kind is key.kind and k.namespace == key.namespace]
            key = peers[0] if len(peers) == 1 else key
        kept = out.get(key)
        if kept is None:
            out[key] = holding
            continue
        kept.refs += [n for n in holding.refs if n not in kept.refs]
        kept.used_by += [c for c in holding.used_by if all(c.id != u.id for u in kept.used_by)]
    return out


def uses_image(container: ContainerRecord, names: Sequence[str], ids: set[str]) -> bool:
    """Whether a container's image (a name, an ID or an ID prefix, as each tool prints it) is one of
    the image's names or IDs."""
    image = container.image
    if not image:
        return False
    if image in names or canonical_ref(image) in {canonical_ref(n) for n in names}:
        return True
    bare = image.removeprefix("sha256:")
    return len(bare) >= 12 and any(i.removeprefix("sha256:").startswith(bare) for i in ids)


@dataclass
class DiskUsage(Gathered):
    """`df`: one row per store (``rows``), the bytes unpacked more than once across stores
    (``duplicated``, which is also what could be saved), and the blob bytes shared by namespaces."""

    duplicated: int = 0
    could_save: int = 0
    account: list[Any] = field(default_factory=list)  # ctrtool.account.RootAccount, one per storage root


def store_name(kind: CopyKind, backend: str, namespace: str | None) -> str:
    if kind == CopyKind.BLOB:
        return "containerd content store"
    if kind == CopyKind.CONTAINER:
        # a store without namespaces (CRI-O's or podman's containers/storage): the backend's own
        return f"containers in namespace {namespace}" if namespace else f"{backend}'s containers"
    if namespace is None:
        return backend  # a graph driver store: the backend's own
    return f"containerd namespace {namespace}"


def disk_usage(settings: Settings, backends: Sequence[str], namespaces: Sequence[str] | None = None) -> DiskUsage:
    """Per store (docker's overlay2 store, each containerd namespace's snapshots, the content
    store) the bytes it holds for images, and how much of it another store holds too.

    The backends list everything at once (tool calls per backend and namespace, never per image);
    a directory reached by two backends (crictl and ``ctr -n k8s.io``) counts once, and each
    distinct unpacked directory is walked once. A layer (chain id) unpacked in k stores counts
    (k-1) x its size as duplicated (the smallest copies beyond the largest); ``could_save`` is that
    total. A store's ``duplicated``: its bytes of layers that another store also unpacks."""
    from ..adapters.base import tree_size

    listing = through_views(settings, lambda a, ns: a.disk_usage(ns), namespaces)

    def op(adapter: Adapter) -> Any:
        items = listing(adapter)
        try:  # the same adapter, so the tool calls the listing made answer this too
            adapter_roots[adapter.name] = adapter.account_roots()
        except CtrtoolError:
            pass
        return items

    adapter_roots: dict[str, Any] = {}
    outcomes = fan_out(settings, backends, op)
    items: dict[tuple[CopyKind, str], Any] = {}
    for outcome in outcomes:
        for item in outcome.value or []:
            _merge_copy(items, item)
    todo = [real for kind, real in items if kind in (CopyKind.UNPACKED, CopyKind.CONTAINER)]
    if todo:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            sizes = dict(zip(todo, pool.map(tree_size, todo)))
        for (kind, real), item in items.items():
            if kind in (CopyKind.UNPACKED, CopyKind.CONTAINER):
                item.size = sizes[real]
    # copies of each layer across stores
    by_layer: dict[str, list[Any]] = {}
    for (kind, _real), item in items.items():
        if kind == CopyKind.UNPACKED:
            by_layer.setdefault(item.key, []).append(item)
    could_save = sum(sum(c.size for c in copies) - max(c.size for c in copies) for copies in by_layer.values())
    stores: dict[tuple[CopyKind, str, str | None], StoreUsage] = {}
    for (kind, _real), item in items.items():
        namespace = item.namespace if kind != CopyKind.BLOB else None
        sid = (kind, os.path.realpath(item.store), namespace)
        row = stores.get(sid)
        if row is None:
            row = stores[sid] = StoreUsage(
                item.label or store_name(kind, item.backend, item.namespace), kind, item.backend, namespace, item.store
            )
        row.seen_by += [b for b in item.seen_by if b not in row.seen_by]
        spaces = item.namespaces if kind == CopyKind.BLOB else ([item.namespace] if item.namespace else [])
        row.namespaces += [n for n in spaces if n not in row.namespaces]
        row.items += 1
        row.bytes += item.size or 0
        if kind == CopyKind.UNPACKED and len(by_layer[item.key]) > 1:
            row.duplicated += item.size or 0
        row.entries.append(
            StoreEntry(
                item.key,
                item.path,
                item.size,
                len(by_layer[item.key]) if kind == CopyKind.UNPACKED else 1,
                list(item.namespaces),
            )
        )
    gathered = [r for b in backends for r in adapter_roots.get(b, [])]
    roots = storage_account(settings, backends, warnings := [w for o in outcomes for w in o.warnings], gathered)
    order = {CopyKind.UNPACKED: 0, CopyKind.BLOB: 1, CopyKind.CONTAINER: 2}
    rows = sorted(stores.values(), key=lambda r: (order.get(r.kind, 3), r.namespace is not None, r.namespace or ""))
    for row in rows:
        row.entries.sort(key=lambda e: e.path)
    return DiskUsage(rows, [o for o in outcomes if o.error], warnings, could_save, could_save, roots)


def storage_account(
    settings: Settings, backends: Sequence[str], warnings: list[str], gathered: list[Any] | None = None
) -> list[Any]:
    """The byte account of every storage root the backends keep (:mod:`ctrtool.account`): each
    root once, however many backends reach it. ``gathered``: (root, classifier) pairs the
    backends' adapters already gave (df asks them beside its listing); else they are asked. A root
    whose metadata cannot be read is left out with a warning (never guessed)."""
    from ..account import account

    if gathered is None:
        gathered = [p for o in fan_out(settings, backends, lambda a: a.account_roots()) for p in o.value or []]
    roots: dict[str, Any] = {}
    for root, classify in gathered:
        real = os.path.realpath(root)
        # one root reached by two backends (CRI-O and rootful podman on one graph root): the
        # classifier that knows the root is the CRI runtime's wins
        if real not in roots or getattr(classify, "keywords", {}).get("cri_visible"):
            roots[real] = classify
    from ..adapters.boltdb import BoltError
    from ..errors import LayoutNotUnderstood

    try:
        return account(roots)
    except (OSError, BoltError, LayoutNotUnderstood) as exc:
        warnings.append(f"the byte account was not made: {exc}")
        return []
