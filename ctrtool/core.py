"""The library under the commands: choose backends, query them concurrently, combine results.

Data flows one way: command -> core -> adapters (one thread per backend) -> records -> command -> output.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .adapters import BACKENDS, adapter_class
from .adapters.base import Adapter, canonical_ref
from .config import Settings
from .errors import Ambiguous, CtrtoolError, NotFound, ToolTimeout, UsageError
from .model import (
    BackendInfo,
    ContainerKind,
    ContainerRecord,
    CopyKind,
    ImageRecord,
    LayerCopy,
    LayerRow,
    StoreEntry,
    StoreUsage,
    ViewOf,
    daemon_id,
    rfc3339_utc,
)

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    backend: str
    value: T | None = None
    error: CtrtoolError | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Gathered:
    """What a multi-backend command prints: rows, the backends that failed, and warnings."""

    rows: list[Any]
    failed: list[Outcome]
    warnings: list[str]


def select_backends(settings: Settings, chosen: Sequence[str] | None, all_backends: bool) -> list[str]:
    """The backends a command talks to.

    ``--backend`` (repeatable) or ``--all-backends`` ask for backends explicitly: each one that then
    fails is reported. Without them: the config file's ``backends:`` list, else every backend whose
    tool is installed and whose endpoint is found (so a node without docker just shows ctr and crictl).
    """
    if chosen and all_backends:
        raise UsageError("use either --backend or --all-backends, not both")
    if all_backends:
        return list(BACKENDS)
    if chosen:
        unknown = [b for b in chosen if b not in BACKENDS]
        if unknown:
            raise UsageError(f"unknown backend {unknown[0]!r}", f"choose from {', '.join(BACKENDS)}")
        return list(dict.fromkeys(chosen))
    configured = settings.default_backends()
    if configured:
        return list(configured)
    present = [b for b in BACKENDS if _installed(settings.binary(b)) and settings.endpoint(b).address]
    if not present:
        raise CtrtoolError(
            "no backend found: none of docker, ctr, crictl is installed with a reachable endpoint",
            "install the tools, or point ctrtool at them (DOCKER_HOST, CONTAINERD_ADDRESS, "
            "CONTAINER_RUNTIME_ENDPOINT); `ctrtool lab up` starts a local lab",
        )
    return present


def _installed(binary: str) -> bool:
    return bool(shutil.which(binary)) or (os.path.isabs(binary) and os.access(binary, os.X_OK))


def fan_out(settings: Settings, backends: Sequence[str], op: Callable[[Adapter], T]) -> list[Outcome[T]]:
    """Run ``op`` on each backend's adapter in its own thread; collect each result or error.

    A failing, missing or hung backend does not hold up the others: each adapter's calls are bounded
    by its deadline (the per-backend timeout), and its error is returned, not raised.
    """

    def one(name: str) -> Outcome[T]:
        adapter = None
        try:
            adapter = adapter_class(name)(settings)
            return Outcome(name, value=op(adapter), warnings=adapter.warnings)
        except CtrtoolError as exc:
            return Outcome(name, error=exc, warnings=adapter.warnings if adapter else [])

    if len(backends) == 1:
        return [one(backends[0])]
    from concurrent.futures import ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=len(backends))
    futures = {name: pool.submit(one, name) for name in backends}
    # a safety net only: every tool call is already killed at its deadline
    done, _ = wait(futures.values(), timeout=settings.timeout + 5)
    pool.shutdown(wait=False)
    outcomes = []
    for name, fut in futures.items():
        if fut in done:
            outcomes.append(fut.result())
        else:
            outcomes.append(Outcome(name, error=ToolTimeout(settings.binary(name), settings.timeout)))
    return outcomes


# -- images ---------------------------------------------------------------------------------


def _gathered(outcomes: list[Outcome], rows: list[Any]) -> Gathered:
    return Gathered(rows, [o for o in outcomes if o.error], [w for o in outcomes for w in o.warnings])


def list_images(settings: Settings, backends: Sequence[str], namespaces: Sequence[str] | None = None) -> Gathered:
    """Every image copy (typed :class:`ImageRecord` rows, ``copies`` set) and the failed backends."""
    outcomes = fan_out(settings, backends, lambda a: a.images(namespaces))
    records: list[ImageRecord] = [r for o in outcomes for r in (o.value or [])]
    warnings = [w for o in outcomes for w in o.warnings]
    complete_stores(settings, records, warnings)
    complete_configs(records)
    annotate_copies(records)
    annotate_kubelet(records, _kubelet_listed([o.backend for o in outcomes if o.error is None], namespaces))
    return Gathered(records, [o for o in outcomes if o.error], warnings)


def _kubelet_listed(answered: Sequence[str], namespaces: Sequence[str] | None) -> bool:
    """Whether what the kubelet can use was listed: the CRI answered, or a backend that reads every
    namespace answered for the CRI's namespace."""
    from .adapters.descriptor import NamespaceRule

    k8s = cri_namespace()
    for name in answered:
        rule = _descriptor(name).namespace_rule
        if rule is NamespaceRule.FIXED or (rule is NamespaceRule.ALL and (not namespaces or k8s in namespaces)):
            return True
    return False


def annotate_kubelet(records: Sequence[ImageRecord], listed: bool) -> None:
    """Set ``kubelet_visible``: the CRI's namespace (of the CRI's containerd, when the CRI answered)
    has this reference, by name (normalised: ``busybox`` is ``docker.io/library/busybox:latest``), or,
    for a name that is an image id, by id. None when that namespace was not listed."""
    from .adapters.descriptor import NamespaceRule

    if not listed:
        return
    k8s = cri_namespace()
    daemons = {
        r.store.daemon
        for r in records
        if r.store and _descriptor(r.backend).namespace_rule is NamespaceRule.FIXED and r.store.daemon != "?"
    }
    kube = [r for r in records if r.namespace == k8s and (not daemons or (r.store and r.store.daemon in daemons))]
    names = {canonical_ref(r.ref) for r in kube if r.ref and not _is_id_ref(r.ref)}
    ids = {r.id for r in kube if r.id}
    for r in records:
        if r.ref and not _is_id_ref(r.ref):
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
        if r.id and r.ref and not _is_id_ref(r.ref):
            named.setdefault((*place(r), r.id), []).append(r)
    kept: list[ImageRecord] = []
    for r in records:
        owners = named.get((*place(r), r.ref)) if r.ref and _is_id_ref(r.ref) else None
        if not owners:
            kept.append(r)
            continue
        for owner in owners:
            if r.ref not in owner.aliases:
                owner.aliases.append(r.ref or "")
    return kept


def _is_id_ref(ref: str) -> bool:
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
                from .safeio import read_regular

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
    roots: dict[tuple[str, str, str | None], str] = {}
    for r in records:
        for store in (r.store, r.content):
            if store and store.path:
                roots.setdefault((store.kind.value, store.daemon, store.driver), store.path)
    missing = {
        store.daemon: store
        for r in records
        for store in (r.store, r.content)
        if store
        and not store.path
        and store.daemon != "?"
        and (store.kind.value, store.daemon, store.driver) not in roots
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
            roots.setdefault(("snapshots", daemon, driver), root)
        if layout.content_root:
            roots.setdefault(("content", daemon, None), layout.content_root)
            configs.update(
                reader.config_digests(layout.content_root, [r.digest for r in records if r.digest and not r.id])
            )
    for r in records:
        for attr in ("store", "content"):
            store = getattr(r, attr)
            if store and not store.path:
                setattr(r, attr, store.with_path(roots.get((store.kind.value, store.daemon, store.driver))))
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


def containerd_reader_class(settings: Settings) -> Any:
    """The adapter class that reads a whole containerd (the backend whose descriptor sees every
    namespace: ctr), or None when its tool is not installed."""
    from .adapters import all_descriptors
    from .adapters.descriptor import NamespaceRule

    for d in all_descriptors():
        if d.namespace_rule is NamespaceRule.ALL and _installed(settings.binary(d.name)):
            return adapter_class(d.name)
    return None


def containerd_reader(settings: Settings, address: str) -> Any:
    """That adapter, pointed at the containerd at ``address`` (as docker reported it)."""
    from .config import Endpoint

    cls = containerd_reader_class(settings)
    return cls(settings, Endpoint(cls.name, address, "reported by docker info")) if cls else None


def annotate_copies(records: Sequence[ImageRecord]) -> None:
    """Set ``copies``: in how many distinct unpacked stores (docker's graph driver directory, each
    containerd namespace's snapshots) the same image is, among the backends that were queried.
    Two backends that see one store (crictl and ``ctr -n k8s.io``; docker on containerd's image
    store and ``ctr -n moby``) count it once. Blobs in a shared content store are not copies."""
    for group in image_groups(records):
        stores = {r.store.key if r.store else (r.backend, r.namespace) for r in group}
        by_name: dict[str, set] = {}
        for r in group:
            if r.ref and not _is_id_ref(r.ref):
                by_name.setdefault(canonical_ref(r.ref), set()).add(
                    r.store.key if r.store else (r.backend, r.namespace)
                )
        for r in group:
            r.copies = len(stores)
            # ``ref_copies``: the stores where the image has this same name (an id-name: all of them)
            named = r.ref and not _is_id_ref(r.ref)
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
                from .errors import Unsupported

                raise Unsupported(f"{view} and no tool that reads containerd (ctr) is installed") from None
            found = op(reader, [view.store.namespace] if view.store.namespace else None)
            adapter.warnings.extend(reader.warnings)
            for item in found:
                for copy in getattr(item, "copies", [item]):
                    copy.backend, copy.seen_by = view.backend, [view.backend]
            return found

    return run


# -- layers ---------------------------------------------------------------------------------


@dataclass
class Layers(Gathered):
    """`layers`: one row per layer (with its copies), the bytes stored more than once, and the
    backends where the image is not (not an error: it is simply not there)."""

    duplicated: int = 0
    absent: list[str] = field(default_factory=list)


def image_layers(
    settings: Settings, backends: Sequence[str], ref: str, namespaces: Sequence[str] | None = None
) -> Layers:
    """Every layer of image ``ref`` and every place on disk that holds it, over the backends.

    A copy reached by two backends (crictl and ``ctr -n k8s.io``: the same snapshot directory) is
    one copy; each distinct unpacked directory is walked once to size it. ``duplicated``: for each
    layer, its unpacked copies' bytes minus one copy (blobs are shared and do not count)."""
    from .adapters.base import tree_size

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
                key = (copy.kind, os.path.realpath(copy.path))
                have = copies.get(key)
                if have is None:
                    copies[key] = copy
                    continue
                have.seen_by += [b for b in copy.seen_by if b not in have.seen_by]
                have.namespaces += [n for n in copy.namespaces if n not in have.namespaces]
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


def image_holdings(
    settings: Settings, backends: Sequence[str], ref: str, namespaces: Sequence[str] | None = None
) -> dict[tuple[str, str | None], Holding]:
    """The stores that hold image ``ref`` itself (by name, else by id), keyed ("graph", None) or
    ("containerd", namespace), with the image's names there and the containers using it: one image
    listing and one container listing per backend, in parallel. (`layers` also finds a layer where
    only another image that shares it is.)"""
    from .adapters.base import match_images

    def op(adapter: Adapter) -> tuple[list[ImageRecord], list[ContainerRecord]]:
        return adapter.images(namespaces), adapter.containers(namespaces)

    holdings: dict[tuple[str, str | None], Holding] = {}
    for outcome in fan_out(settings, backends, op):
        if outcome.value is None:
            continue
        records, containers = outcome.value
        for ns in dict.fromkeys(r.namespace for r in records):
            here = [r for r in records if r.namespace == ns]
            found, _ = match_images(here, ref)
            if not found:
                continue
            keys = {k for r in found for k in (r.id, r.digest) if k}
            same = [r for r in here if keys & {r.id, r.digest}] or found
            names = list(dict.fromkeys(r.ref for r in same if r.ref))
            key = ("containerd", ns) if ns else ("graph", None)
            holding = holdings.setdefault(key, Holding(outcome.backend, id=found[0].id))
            holding.refs += [n for n in names if n not in holding.refs]
            # docker's containers carry no namespace: all of them are its store's
            users = [c for c in containers if c.namespace in (ns, None) and _uses(c, names, keys)]
            holding.used_by += [c for c in users if all(c.id != u.id for u in holding.used_by)]
    return holdings


def _uses(container: ContainerRecord, names: Sequence[str], ids: set[str]) -> bool:
    """Whether a container's image (a name, an ID or an ID prefix, as each tool prints it) is one of
    the image's names or IDs."""
    image = container.image
    if not image:
        return False
    if image in names or canonical_ref(image) in {canonical_ref(n) for n in names}:
        return True
    bare = image.removeprefix("sha256:")
    return len(bare) >= 12 and any(i.removeprefix("sha256:").startswith(bare) for i in ids)


# -- df -------------------------------------------------------------------------------------


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
        return f"containers in namespace {namespace}"
    if namespace is None:
        return backend  # docker's own graph driver store
    return f"containerd namespace {namespace}"


def disk_usage(settings: Settings, backends: Sequence[str], namespaces: Sequence[str] | None = None) -> DiskUsage:
    """Per store (docker's overlay2 store, each containerd namespace's snapshots, the content
    store) the bytes it holds for images, and how much of it another store holds too.

    The backends list everything at once (tool calls per backend and namespace, never per image);
    a directory reached by two backends (crictl and ``ctr -n k8s.io``) counts once, and each
    distinct unpacked directory is walked once. A layer (chain id) unpacked in k stores counts
    (k-1) x its size as duplicated (the smallest copies beyond the largest); ``could_save`` is that
    total. A store's ``duplicated``: its bytes of layers that another store also unpacks."""
    from .adapters.base import tree_size

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
            key = (item.kind, os.path.realpath(item.path))
            have = items.get(key)
            if have is None:
                items[key] = item
                continue
            have.seen_by += [b for b in item.seen_by if b not in have.seen_by]
            have.namespaces += [n for n in item.namespaces if n not in have.namespaces]
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
                store_name(kind, item.backend, item.namespace), kind, item.backend, namespace, item.store
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
    from .account import account

    if gathered is None:
        gathered = [p for o in fan_out(settings, backends, lambda a: a.account_roots()) for p in o.value or []]
    roots: dict[str, Any] = {}
    for root, classify in gathered:
        roots.setdefault(os.path.realpath(root), classify)
    from .adapters.boltdb import BoltError

    try:
        return account(roots)
    except (OSError, BoltError) as exc:
        warnings.append(f"the byte account was not made: {exc}")
        return []


# -- info -----------------------------------------------------------------------------------


def backend_info(settings: Settings, backends: Sequence[str]) -> Gathered:
    outcomes = fan_out(settings, backends, lambda a: a.info())
    infos: list[BackendInfo] = [o.value for o in outcomes if o.value is not None]
    warnings = [w for o in outcomes for w in o.warnings]
    complete_infos(settings, infos, warnings)
    return Gathered(infos, [o for o in outcomes if o.error], warnings)


def complete_infos(settings: Settings, infos: list[BackendInfo], warnings: list[str]) -> None:
    """Fill in what one tool does not report from another that works with the same containerd
    (the same socket, or the same root): the state directory (ctr does not see it, crictl does),
    and, for docker on containerd's image store, the directories of the containerd it uses (docker
    reports only the socket); when no backend queried reads that containerd, it is asked directly."""
    on_containerd = [i for i in infos if i.image_store == "containerd" and i.containerd]
    for info in on_containerd:
        peers = [
            o
            for o in on_containerd
            if o is not info
            and (
                daemon_id(o.containerd) == daemon_id(info.containerd)
                or (o.root and info.root and os.path.realpath(o.root) == os.path.realpath(info.root))
            )
        ]
        for peer in peers:
            if info.root and peer.root and os.path.realpath(info.root) == os.path.realpath(peer.root):
                info.state = info.state or peer.state  # containerd's own: ctr does not see it, crictl does
            if info.root is None or info.store is None:
                info.store = info.store or peer.store
                info.content_store = info.content_store or peer.content_store
        if info.store is None or info.content_store is None:
            reader = containerd_reader(settings, info.containerd or "")
            if reader is None:
                continue
            try:
                layout = reader.layout()
            except CtrtoolError as exc:
                warnings.append(
                    f"{info.backend}: the directories of its containerd at {info.containerd} are "
                    f"unknown ({exc.message})"
                )
                continue
            info.store = info.store or layout.snapshotter_roots.get(info.storage_driver or "")
            info.content_store = info.content_store or layout.content_root


# -- containers and pods ----------------------------------------------------------------------


def list_containers(settings: Settings, backends: Sequence[str], namespaces: Sequence[str] | None = None) -> Gathered:
    """Rows for every container of every backend (any state): one listing per backend (ctr: per
    namespace, in parallel), never a call per container. Every record is kept (``all_views``
    in `ps`); :func:`one_row_per_container` merges the views."""
    outcomes = fan_out(settings, backends, lambda a: a.containers_view(namespaces))
    records: list[ContainerRecord] = [r for o in outcomes for r in (o.value[0] if o.value else [])]
    sandboxes = {i for o in outcomes if o.value for i in o.value[1]}
    for r in records:
        if r.id in sandboxes:
            r.kind = ContainerKind.SANDBOX
    annotate_views(records)
    return _gathered(outcomes, records)


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
    from .adapters.descriptor import NamespaceRule

    return next((r for r in group if _descriptor(r.backend).namespace_rule is not NamespaceRule.ALL), group[0])


def one_row_per_container(records: Sequence[ContainerRecord]) -> list[ContainerRecord]:
    """The owner's record of each container, in listing order."""
    groups: dict[str, list[ContainerRecord]] = {}
    for r in records:
        groups.setdefault(r.id, []).append(r)
    owners = {id(view_owner(g)) for g in groups.values()}
    return [r for r in records if id(r) in owners]


def list_pods(settings: Settings) -> Gathered:
    from .adapters import pods_backend

    outcomes = fan_out(settings, [pods_backend()], lambda a: a.pods())
    return _gathered(outcomes, [r for o in outcomes for r in (o.value or [])])


# -- routing: which backend and namespace an operation goes to ----------------------------------

# The ctrtool command line that would reach a thing in another place: (backend, namespace) -> text.
Rerun = Callable[[str, "str | None"], str]


def _descriptor(backend: str) -> Any:
    from .adapters import get_descriptor

    return get_descriptor(backend)


def cri_namespace() -> str:
    """The containerd namespace the kubelet sees: the one the CRI backend is fixed to (k8s.io)."""
    from .adapters import all_descriptors
    from .adapters.descriptor import NamespaceRule

    return next(d.namespace for d in all_descriptors() if d.namespace_rule is NamespaceRule.FIXED and d.namespace)


def operation_adapter(settings: Settings, backend: str, namespace: str | None) -> Adapter:
    """The adapter for an operation sent to one backend; -n must make sense for it."""
    from .adapters import get_descriptor
    from .adapters.descriptor import NamespaceRule

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}", f"choose from {', '.join(BACKENDS)}")
    d = get_descriptor(backend)
    choosers = [x for x in BACKENDS if get_descriptor(x).selects_namespace]
    if namespace and d.namespace_rule is NamespaceRule.NONE:
        raise UsageError(
            f"-n/--namespace is for {' and '.join(choosers)}: {backend} chooses its own store and namespace",
            f"drop -n, or use --backend {choosers[0]} -n NS",
        )
    if namespace and d.namespace_rule is NamespaceRule.FIXED and namespace != d.namespace:
        raise UsageError(
            f"{backend} works in containerd namespace {d.namespace} only, not {namespace!r}",
            f"use --backend {choosers[0]} -n {namespace}",
        )
    return adapter_class(backend)(settings)


def creation_adapter(settings: Settings, backend: str | None, namespace: str | None, doing: str) -> Adapter:
    """For operations that make something new (pull, load) or work on a whole store (prune):
    there is nothing to look for, so the backend must be given unless only one is there."""
    if backend is None:
        present = select_backends(settings, None, False)
        if len(present) != 1:
            raise UsageError(
                f"say where to {doing}: --backend {'|'.join(present)}",
                "docker has its own store; ctr works in one containerd namespace (-n); "
                "crictl (the kubelet's view) in k8s.io",
            )
        backend = present[0]
    return operation_adapter(settings, backend, namespace)


def _search_backends(settings: Settings, namespace: str | None) -> list[str]:
    """Where to look for a thing when no --backend is given: the backends found on this machine
    (docker only when no namespace was asked for: -n means containerd)."""
    from .adapters import get_descriptor
    from .adapters.descriptor import NamespaceRule

    names = select_backends(settings, None, False)
    return [b for b in names if not (namespace and get_descriptor(b).namespace_rule is NamespaceRule.NONE)]


class Searched(dict):
    """backend -> (adapter, records) for the backends that answered a search; ``unanswered``:
    backend -> the error of those that did not."""

    def __init__(self):
        super().__init__()
        self.unanswered: dict[str, CtrtoolError] = {}


def _search(settings: Settings, kind: str, backends: Sequence[str], namespace: str | None) -> Searched:
    """One listing per backend (ctr: every namespace, or just ``namespace``), in parallel.
    Backends that fail are left out (and kept in ``unanswered``): this only looks for where things are."""
    adapters: dict[str, Adapter] = {}

    def op(adapter: Adapter) -> list:
        adapters[adapter.name] = adapter
        ns = [namespace] if namespace else None
        if kind == "container":
            return adapter.containers(ns)
        records = adapter.images(ns)
        complete_stores(settings, records, adapter.warnings)
        return records

    found = Searched()
    for outcome in fan_out(settings, backends, op):
        if outcome.error is None and outcome.backend in adapters:
            found[outcome.backend] = (adapters[outcome.backend], outcome.value or [])
        elif outcome.error is not None:
            found.unanswered[outcome.backend] = outcome.error
    return found


def _places(kind: str, ref: str, searched: Searched, prefer_ctr: bool = False) -> dict[tuple[str, str | None], list]:
    """(backend, namespace) -> the matching records there. ctr's views of docker's and the CRI's
    things are dropped for docker and crictl, or, with ``prefer_ctr`` (the user works with ctr),
    the other way round."""
    from .adapters.base import match_containers, match_images

    matches: dict[tuple[str, str | None], list] = {}
    for backend, (_adapter, records) in searched.items():
        for namespace in dict.fromkeys(r.namespace for r in records):
            here = [r for r in records if r.namespace == namespace]
            got = match_containers(here, ref) if kind == "container" else match_images(here, ref)[0]
            if got:
                matches[(backend, namespace)] = got
    # a backend that sees every namespace (ctr) also shows what belongs to a backend that owns a
    # namespace (docker's moby, the CRI's k8s.io): the same thing seen twice. Name the owner's place,
    # or, with ``prefer_ctr`` (the user works with ctr), the other way round.
    from .adapters import get_descriptor
    from .adapters.descriptor import NamespaceRule

    idents = {key: {x for r in recs for x in (r.id, getattr(r, "digest", None)) if x} for key, recs in matches.items()}
    owners: dict[str, tuple[str, str | None]] = {}
    for backend, namespace in matches:
        d = get_descriptor(backend)
        if d.owns_namespace and (namespace or d.namespace):
            owners[namespace or d.namespace or ""] = (backend, namespace)
    dropped: set[tuple[str, str | None]] = set()
    for key in matches:
        backend, namespace = key
        owner = owners.get(namespace or "")
        if get_descriptor(backend).namespace_rule is NamespaceRule.ALL and owner and idents[key] & idents[owner]:
            dropped.add(owner if prefer_ctr else key)
    return {key: recs for key, recs in matches.items() if key not in dropped}


def _not_found(
    settings: Settings, kind: str, ref: str, backend: str, namespace: str | None, where: str, rerun: Rerun
) -> NotFound:
    """NotFound, saying where else the thing is and the command that reaches it there."""
    from .adapters import get_descriptor
    from .adapters.base import place
    from .adapters.descriptor import NamespaceRule

    searched = _search(settings, kind, BACKENDS, None)
    sees_all = get_descriptor(backend).namespace_rule is NamespaceRule.ALL
    places = [p for p in _places(kind, ref, searched, prefer_ctr=sees_all) if p != (backend, namespace)]
    if not places:
        return NotFound(kind, ref, where)
    there = [place(b, ns) for b, ns in places]
    commands = [rerun(b, ns) for b, ns in places]
    hint = "reach it with: " + "  or  ".join(commands)
    k8s = cri_namespace()
    if kind == "image" and namespace == k8s and not any(ns == k8s for _, ns in places):
        # the kubelet's namespace: copy it there from where it is, through the tool that owns it
        b, ns = sorted(places, key=lambda p: get_descriptor(p[0]).namespace_rule is not NamespaceRule.ALL)[0]
        src = b if not get_descriptor(b).selects_namespace else f"{b}:{ns}"
        hint = (
            f"it was put into {place(b, ns)}, which the kubelet cannot see: the kubelet sees only containerd "
            f"namespace {k8s}. Copy it there: ctrtool copy {ref} --from {src} --to "
            + next(x for x in BACKENDS if get_descriptor(x).namespace_rule is NamespaceRule.FIXED)
        )
    return NotFound(kind, ref, where, hint=hint, elsewhere=places, there=there)


def _require_complete(kind: str, refs: Sequence[str], searched: Searched, rerun: Rerun) -> None:
    """A change found by name needs every backend's answer: a backend that did not answer may
    hold the same name, and the one place that answered would then be the wrong one."""
    if not searched.unanswered:
        return
    from .errors import IncompleteLookup

    answered = [b for b in searched]
    hint = (
        "nothing was changed; say where with --backend (and -n for ctr)"
        + (
            f", e.g. {rerun(answered[0], None)}"
            if len(answered) == 1 and not _descriptor(answered[0]).selects_namespace
            else ""
        )
        + ", or try again when every backend answers"
    )
    raise IncompleteLookup(kind, ", ".join(refs), searched.unanswered, hint)


def locate_containers(
    settings: Settings,
    backend: str | None,
    namespace: str | None,
    refs: Sequence[str],
    rerun: Rerun,
    complete: bool = False,
) -> list[tuple[Adapter, Any]]:
    """(adapter, ContainerRecord) for each ref, from one listing per backend.

    With --backend: that backend (ctr: one namespace, -n or its default). Not found there: the
    error says where else it is. Without: every backend found on this machine; a name found in
    more than one place is ambiguous and the error lists the places with the command for each.
    ``complete`` (a change): every backend must answer the lookup, else IncompleteLookup (exit
    3) names the ones that did not."""
    from .adapters.base import place, resolve_container

    if backend:
        adapter = operation_adapter(settings, backend, namespace)
        ns = adapter.operation_namespace(namespace)
        records = adapter.containers([ns] if ns else None)
        where = place(backend, ns or adapter.container_namespace())
        out = []
        for ref in refs:
            try:
                out.append((adapter, resolve_container(records, ref, where)))
            except NotFound:
                raise _not_found(
                    settings, "container", ref, backend, ns or adapter.container_namespace(), where, rerun
                ) from None
        return out
    searched = _search(settings, "container", _search_backends(settings, namespace), namespace)
    if complete:
        _require_complete("container", refs, searched, rerun)
    out = []
    for ref in refs:
        places = _places("container", ref, searched)
        if not places:
            raise _nowhere("container", ref, searched, namespace)
        candidates = [(key, r) for key, recs in places.items() for r in recs]
        if len(candidates) > 1:
            raise Ambiguous(
                f"{ref!r} names {len(candidates)} containers",
                [f"{place(*key)} {r.id[:12]} ({r.name}, {r.state}): {rerun(*key)}" for key, r in candidates],
                "choose one with --backend (and -n for ctr), or give the full ID",
            )
        ((key, record),) = candidates
        out.append((searched[key[0]][0], record))
    return out


def locate_images(
    settings: Settings,
    backend: str | None,
    namespace: str | None,
    refs: Sequence[str],
    rerun: Rerun,
    complete: bool = False,
) -> list[tuple[Adapter, Any]]:
    """(adapter, ImageTarget) for each ref; the same rules as :func:`locate_containers`."""
    from .adapters.base import place

    if backend:
        adapter = operation_adapter(settings, backend, namespace)
        ns = adapter.operation_namespace(namespace)
        records = adapter.images([ns] if ns else None)
        complete_stores(settings, records, adapter.warnings)
        actual = ns or adapter.container_namespace()
        where = place(backend, actual)
        out = []
        for ref in refs:
            try:
                out.append((adapter, adapter.image_target(ref, records, where)))
            except NotFound:
                raise _not_found(settings, "image", ref, backend, actual, where, rerun) from None
        return out
    searched = _search(settings, "image", _search_backends(settings, namespace), namespace)
    if complete:
        _require_complete("image", refs, searched, rerun)
    out = []
    for ref in refs:
        places = _places("image", ref, searched)
        if not places:
            raise _nowhere("image", ref, searched, namespace)
        if len(places) > 1:
            raise Ambiguous(
                f"{ref!r} is in {len(places)} places",
                [f"{place(*key)}: {rerun(*key)}" for key in places],
                "choose one with --backend (and -n for ctr)",
            )
        ((b, ns),) = places
        adapter, records = searched[b]
        here = [r for r in records if r.namespace == ns]
        out.append((adapter, adapter.image_target(ref, here, place(b, ns))))
    return out


def _nowhere(kind: str, ref: str, searched: Searched, namespace: str | None) -> NotFound:
    """Not found in any backend that answered; the ones that did not answer are named."""
    names = list(searched) or ["any backend (none answered)"]
    where = " or ".join(names) + (f" (namespace {namespace})" if namespace else "")
    unasked = searched.unanswered
    if not unasked:
        return NotFound(kind, ref, where)
    return NotFound(
        kind,
        ref,
        where,
        hint="not asked, so it may be there: "
        + "; ".join(e.message if e.message.startswith(b) else f"{b}: {e.message}" for b, e in unasked.items()),
    )


def locate_pod(settings: Settings, ref: str) -> tuple[Adapter, Any]:
    from .adapters import pods_backend

    adapter = operation_adapter(settings, pods_backend(), None)
    return adapter, adapter.find_pod(ref)


# -- copy between stores --------------------------------------------------------------------------


def _image_namespace(settings: Settings, target: tuple[str, str | None]) -> str | None:
    """The containerd namespace a target backend keeps its images in when that is not one it is
    given (docker on containerd's image store: moby), else None."""
    from .adapters import get_descriptor

    backend, ns = target
    d = get_descriptor(backend)
    if d.moves_via or d.selects_namespace:
        return None
    try:
        return operation_adapter(settings, backend, ns).image_namespace(ns)
    except CtrtoolError:
        return None


def _owned_namespaces(settings: Settings) -> dict[str, str]:
    """containerd namespace -> the backend that keeps its images there without being given it
    (docker on containerd's image store: moby): a copy found there is reached through that backend."""
    from .adapters import BACKENDS

    out = {}
    for backend in BACKENDS:
        ns = _image_namespace(settings, (backend, None))
        if ns:
            out[ns] = backend
    return out


def _copy_hint(
    exc: NotFound,
    target: tuple[str, str | None],
    rerun: Rerun,
    target_store: str | None = None,
    owners: dict[str, str] | None = None,
) -> None:
    """The hint when the image is not in the --from store: if it is already in the --to store, that
    (it suggested copying it from there onto itself, which copy refuses); else the copy from where
    it is to the --to store given (it suggested `--to crictl` whatever --to was)."""
    from .adapters import get_descriptor
    from .adapters.base import place

    def store(backend: str, ns: str | None) -> tuple[str, ...]:
        d = get_descriptor(backend)
        if d.moves_via:  # crictl: the CRI's namespace of the containerd ctr reaches
            return ("containerd", d.namespace or cri_namespace())
        if d.selects_namespace:  # ctr: one containerd namespace
            return ("containerd", ns or "default")
        return (backend,)  # docker: its own store, whatever namespace a listing gave it

    # docker on containerd's image store: its store is that namespace, which ctr lists too
    wanted = ("containerd", target_store) if target_store else store(*target)

    def same(backend: str, ns: str | None) -> bool:
        return store(backend, ns) == wanted

    # a copy in a namespace another backend keeps its images in is reached through that backend
    owned = owners or {}
    exc.elsewhere = list(dict.fromkeys((owned[ns], None) if ns in owned else (b, ns) for b, ns in exc.elsewhere))
    there = [p for p in exc.elsewhere if same(*p) or (target_store and p == (target[0], None))]
    if there:
        # named as the user named the --to store (docker, not the namespace it keeps its images in)
        exc.hint = f"nothing to copy: it is already in {place(*(target if target_store else there[0]))}, the --to store"
    elif exc.elsewhere:  # the copy to the --to store the user gave (the kubelet's hint names crictl)
        exc.hint = "copy it from where it is: " + "  or  ".join(rerun(b, ns) for b, ns in exc.elsewhere)


def copy_plan(
    settings: Settings, ref: str, source: tuple[str, str | None], target: tuple[str, str | None], rerun: Rerun
):
    """The plan that streams image ``ref`` from one store to another, and the place it goes to.

    ``source`` and ``target`` are (backend, namespace). crictl has no export or import: the data
    moves through ``ctr -n k8s.io`` (the namespace the CRI works in, on the same containerd), and
    crictl is what checks the result (``crictl images``). The copy replaces a reference the target
    already has: only then is it destructive (asks first)."""
    from .adapters import get_descriptor
    from .adapters.base import place, plan_copy

    (src_backend, src_ns), (dst_backend, dst_ns) = source, target
    try:
        ((found_adapter, image),) = locate_images(settings, src_backend, src_ns, [ref], rerun)
    except NotFound as exc:
        _copy_hint(exc, target, rerun, _image_namespace(settings, target), _owned_namespaces(settings))
        raise
    src_d, dst_d = get_descriptor(src_backend), get_descriptor(dst_backend)
    # a backend without archives of its own (crictl) moves images through another (ctr) in its namespace
    mover = operation_adapter(settings, src_d.moves_via, src_d.namespace) if src_d.moves_via else found_adapter
    if dst_d.moves_via:
        target_adapter, target_ns = operation_adapter(settings, dst_d.moves_via, dst_d.namespace), dst_d.namespace
        verify, verify_ns = operation_adapter(settings, dst_backend, dst_ns), dst_d.namespace
    else:
        target_adapter = operation_adapter(settings, dst_backend, dst_ns)
        target_ns = target_adapter.operation_namespace(dst_ns)
        verify, verify_ns = target_adapter, target_ns
    src_place = place(src_backend, image.namespace)
    dst_place = place(dst_backend, verify_ns)
    # the same store: the same containerd namespace (docker on containerd's image store is its
    # namespace), or the same backend's own graph driver store
    src_store = image.namespace or f"{src_backend}:graph"
    dst_store = target_adapter.image_namespace(target_ns) or f"{dst_backend}:graph"
    if src_store == dst_store:
        raise UsageError(
            f"{ref} would be copied onto itself: {src_place} and {dst_place} are the same store",
            "choose another --to (docker, ctr:NS, crictl)",
        )
    records = verify.images([verify_ns] if verify_ns else None)
    from .adapters.base import match_images

    exists = bool(match_images(records, image.ref)[0])
    plan = plan_copy(
        mover,
        image,
        target_adapter,
        target_ns,
        verify,
        verify_ns,
        exists,
        f"copy {image.ref} from {src_place} to {dst_place}",
    )
    cost = _copy_cost(settings, [src_backend, dst_backend, src_d.moves_via, dst_d.moves_via], image, dst_store, plan)
    return plan, dst_place, cost


def _copy_cost(settings: Settings, backends: list[str | None], image: Any, dst_store: str, plan: Any) -> Any:
    """What the copy will add (said in the plan's words, so in the prompt and --dry-run), and,
    once it ran, what it added: the target root measured before and after (``cost.added``)."""
    from .costs import copy_cost, measure

    target_ns = None if dst_store.endswith(":graph") else dst_store
    try:
        cost = copy_cost(settings, [b for b in dict.fromkeys(backends) if b], image, image.namespace, target_ns)
    except CtrtoolError:
        return None
    if cost is None:
        return None
    plan.what = f"{plan.what} ({cost.words()})"
    inner = plan.execute

    def execute() -> Any:
        before = measure(settings, cost.backends, cost.root)
        found = inner()
        after = measure(settings, cost.backends, cost.root)
        cost.added = after - before if after is not None and before is not None else None
        return found

    plan.execute = execute
    return cost


# -- what a change would replace ------------------------------------------------------------------


def existing_images(adapter: Adapter, namespace: str | None, refs: Sequence[str]) -> dict[str, ImageRecord]:
    """The images that ``refs`` name now in one place (``adapter``, ctr: ``namespace``), by name
    only (never an id prefix): a tag or a load onto one of these names moves it. One listing."""
    from .adapters.base import match_images

    if not refs:
        return {}
    ns = adapter.operation_namespace(namespace)
    records = [r for r in adapter.images([ns] if ns else None) if not ns or r.namespace == ns]
    complete_stores(adapter.settings, records, adapter.warnings)  # config digests, whatever id the tool prints
    found = {}
    for ref in refs:
        matches, by_name = match_images(records, ref)
        if matches and by_name:
            found[ref] = matches[0]
    return found
