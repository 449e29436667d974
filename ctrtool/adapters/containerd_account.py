"""containerd's root, classified for the byte account (:mod:`ctrtool.account`), read-only.

Who holds each snapshot and blob is decided as containerd's garbage collector decides it
(core/metadata/gc.go), one namespace at a time, from meta.db (:func:`.metadata.read_graph`):

* roots: every image (its target), every container (its snapshot), every lease that has not
  expired (what it holds), and anything labelled ``containerd.io/gc.root``;
* references: a content record's and a snapshot's ``containerd.io/gc.ref.content*`` and
  ``containerd.io/gc.ref.snapshot.<snapshotter>*`` labels, and a snapshot's parent.

A snapshot directory belongs to its namespace's image layers when an image reaches it, else to the
containers when a container does, else to a lease, else it is orphaned; the snapshotter's own
metadata.db maps directories to snapshots (a directory it does not list is orphaned too). A blob
file is an image's when an image in any namespace reaches it (the namespaces are listed), and so on
down the same order. Everything else under the root is metadata, ingests, tmpmounts or other.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..account import Bucket, Classifier, Owner
from .metadata import Graph, LeaseRecord, meta_db_path, read_graph

GC_ROOT = "containerd.io/gc.root"
GC_REF_CONTENT = "containerd.io/gc.ref.content"
GC_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
GC_EXPIRE = "containerd.io/gc.expire"
GC_FLAT = "containerd.io/gc.flat"
PINNED = "io.cri-containerd.pinned"

# the snapshotters whose directories ctrtool can map: snapshots/<id>
KNOWN_SNAPSHOTTERS = ("overlayfs", "native")

Node = tuple[str, str]  # ("content", digest) or ("snapshot", "<snapshotter>/<key>"), in one namespace


@dataclass
class Marks:
    """Per namespace, the nodes each kind of root reaches."""

    image: set[Node]
    container: set[Node]
    lease: dict[str, set[Node]]  # lease id -> what it reaches
    gcroot: set[Node]


def _refs(labels: dict[str, str]) -> Iterable[Node]:
    for k, v in labels.items():
        if k.startswith(GC_REF_CONTENT):
            yield ("content", v)
        elif k.startswith(GC_REF_SNAPSHOT):
            snapshotter = k[len(GC_REF_SNAPSHOT) :].split("/", 1)[0]
            yield ("snapshot", f"{snapshotter}/{v}")


def _reach(g: Graph, ns: str, start: Iterable[Node], images: Iterable[str] = ()) -> set[Node]:
    content = g.content.get(ns, {})
    snaps = g.snapshots.get(ns, {})
    todo = list(start)
    for name in images:
        image = g.images.get(ns, {}).get(name)
        if image is not None and image.digest:
            todo.append(("content", image.digest))
            todo += list(_refs(image.labels))
    seen: set[Node] = set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        kind, key = node
        if kind == "content":
            todo += list(_refs(content.get(key, {})))
        else:
            snapshotter, _s, skey = key.partition("/")
            record = snaps.get(snapshotter, {}).get(skey)
            if record is None:
                continue
            if record.parent:
                todo.append(("snapshot", f"{snapshotter}/{record.parent}"))
            todo += list(_refs(record.labels))
    return seen


def expired(labels: dict[str, str], now: _dt.datetime) -> bool:
    when = _when(labels.get(GC_EXPIRE))
    return when is not None and when <= now


def marks(
    g: Graph,
    ns: str,
    now: _dt.datetime,
    drop_images: Iterable[str] = (),
    drop_containers: Iterable[str] = (),
    drop_leases: Iterable[str] = (),
) -> Marks:
    """What each kind of root reaches in one namespace; ``drop_images``, ``drop_containers`` and
    ``drop_leases``: as if those were removed (a plan's earlier steps)."""
    dropped, gone, cut = set(drop_images), set(drop_containers), set(drop_leases)
    images = [n for n in g.images.get(ns, {}) if n not in dropped]
    containers = [
        ("snapshot", f"{s}/{k}") for cid, (s, k) in g.containers.get(ns, {}).items() if s and k and not among(cid, gone)
    ]
    leases = {}
    for lid, lease in g.leases.get(ns, {}).items():
        if expired(lease.labels, now) or lid in cut:
            continue
        held: list[Node] = [("content", d) for d in lease.content]
        held += [("snapshot", f"{s}/{k}") for s, k in lease.snapshots]
        if container_lease(lid, lease):
            # docker 29 holds a container's snapshots with a lease named after it until it starts
            if not among(lid, gone):
                containers += held
            continue
        leases[lid] = _reach(g, ns, held, [n for n in lease.images if n not in dropped])
    rooted: list[Node] = [("content", d) for d, labels in g.content.get(ns, {}).items() if GC_ROOT in labels]
    rooted += [
        ("snapshot", f"{s}/{k}")
        for s, records in g.snapshots.get(ns, {}).items()
        for k, r in records.items()
        if GC_ROOT in r.labels
    ]
    return Marks(_reach(g, ns, [], images), _reach(g, ns, containers), leases, _reach(g, ns, rooted))


def container_lease(lease_id: str, lease: LeaseRecord) -> bool:
    """A lease that stands for a container: it holds a snapshot keyed by its own id (how docker 29
    keeps a created container's writable and -init snapshots on containerd's image store)."""
    return any(key == lease_id for _s, key in lease.snapshots)


def among(container_id: str, ids: set[str]) -> bool:
    """``container_id`` is one of ``ids``, which a tool may print shortened (docker: 12 hex digits)."""
    return container_id in ids or any(len(i) >= 12 and container_id.startswith(i) for i in ids)


def holder(node: Node, m: Marks) -> tuple[Bucket, str | None]:
    if node in m.image:
        return Bucket.LAYERS, None
    if node in m.container:
        return Bucket.CONTAINERS, None
    for lid, reached in m.lease.items():
        if node in reached:
            return Bucket.LEASED, lid
    if node in m.gcroot:
        return Bucket.HELD, None
    return Bucket.ORPHANED, None


def place(namespace: str) -> str:
    return f"containerd namespace {namespace}"


def classify(
    root: str,
    content_root: str | None,
    snapshotter_roots: dict[str, str],
    now: _dt.datetime | None = None,
    graph: Graph | None = None,
) -> Classifier:
    """The owner of every path under containerd's ``root``. Raises OSError or BoltError when
    meta.db cannot be read (the caller says so; it never guesses)."""
    from .boltdb import read_snapshots

    now = now or _dt.datetime.now(_dt.timezone.utc)
    g = graph or read_graph(meta_db_path(root))
    c = Classifier(os.path.realpath(root), "containerd", {}, cri_visible=True)
    real = os.path.realpath
    c.owners[real(os.path.dirname(meta_db_path(root)))] = Owner(Bucket.METADATA)
    all_marks = {ns: marks(g, ns, now) for ns in g.images}
    active: set[str] = set()
    for ns, leases in g.leases.items():
        for lid, lease in leases.items():
            c.leases[f"{ns}/{lid}"] = {
                "id": lid,
                "namespace": ns,
                "created": lease.created,
                "expired": expired(lease.labels, now),
                "labels": lease.labels,
            }
    tmp = os.path.join(root, "tmpmounts")
    c.under[real(tmp)] = Owner(Bucket.TMPMOUNTS)
    if content_root:
        blobs_dir = real(os.path.join(content_root, "blobs"))
        c.owners[blobs_dir] = Owner(Bucket.METADATA)
        c.under[real(os.path.join(content_root, "ingest"))] = Owner(Bucket.INGEST)
        digest_dir = os.path.join(blobs_dir, "sha256")
        try:
            names = os.listdir(digest_dir)
        except OSError:
            names = []
        for name in names:
            digest = f"sha256:{name}"
            path = os.path.join(digest_dir, name)
            c.owners[path] = _blob_owner(("content", digest), all_marks, g)
            c.items[path] = digest
    for snapshotter, sroot in snapshotter_roots.items():
        if snapshotter not in KNOWN_SNAPSHOTTERS or not os.path.isdir(sroot):
            continue
        sroot = real(sroot)
        c.owners[sroot] = Owner(Bucket.METADATA)
        c.under[os.path.join(sroot, "snapshots")] = Owner(Bucket.ORPHANED)  # a directory no snapshot names
        try:
            entries = read_snapshots(os.path.join(sroot, "metadata.db"))
        except OSError:
            entries = []
        for e in entries:
            path = os.path.join(sroot, "snapshots", str(e.id))
            ns = e.namespace
            known = e.key in g.snapshots.get(ns, {}).get(snapshotter, {})
            node = ("snapshot", f"{snapshotter}/{e.key}")
            if not known or ns not in all_marks:
                c.owners[path] = Owner(Bucket.ORPHANED, place(ns), (ns,))
            else:
                bucket, lease_id = holder(node, all_marks[ns])
                c.owners[path] = Owner(bucket, place(ns), (ns,), f"{ns}/{lease_id}" if lease_id else None)
            c.items[path] = snapshot_item(ns, snapshotter, e.key)
            if e.kind == "active":
                active.add(snapshot_item(ns, snapshotter, e.key))
    c.model = ContainerdModel(g, now, active)
    unknown = [s for s in snapshotter_roots if s not in KNOWN_SNAPSHOTTERS]
    if unknown:
        c.notes.append(f"the {', '.join(unknown)} snapshotter's directories are counted as other")
    return c


def _blob_owner(node: Node, all_marks: dict[str, Marks], g: Graph) -> Owner:
    by_images = tuple(sorted(ns for ns, m in all_marks.items() if node in m.image))
    if by_images:
        return Owner(Bucket.BLOBS, None, by_images)
    for kind in (Bucket.CONTAINERS, Bucket.LEASED, Bucket.HELD):
        for ns, m in all_marks.items():
            bucket, lease = holder(node, m)
            if bucket is kind:
                return Owner(kind, None, (ns,), f"{ns}/{lease}" if lease else None)
    return Owner(Bucket.ORPHANED)


def ingest_dir(content_root: str, ref: str) -> str:
    """Where the content store keeps an ingest: ``ingest/<sha256 of its ref>``."""
    return os.path.join(content_root, "ingest", hashlib.sha256(ref.encode()).hexdigest())


def snapshot_item(namespace: str, snapshotter: str, key: str) -> str:
    """The account's name for one snapshot's directory."""
    return f"{namespace}/{snapshotter}/{key}"


@dataclass(frozen=True)
class Orphan:
    """Something ``ctrtool reclaim`` can remove through containerd's API: ``kind`` is ``snapshot``,
    ``content`` or ``lease``; ``item`` is the account's item its bytes are under (snapshots and
    blobs), or None (a lease: what it frees is what only it holds)."""

    kind: str
    namespace: str
    key: str  # the snapshot key, blob digest or lease id
    snapshotter: str | None = None
    item: str | None = None
    created: str | None = None  # a lease's creation time
    expired: bool = False

    @property
    def spec(self) -> str:
        """How `ctrtool reclaim` names it: ``lease:NS/ID``, ``content:NS/DIGEST``,
        ``snapshot:NS/SNAPSHOTTER/KEY``."""
        middle = f"{self.snapshotter}/" if self.snapshotter else ""
        return f"{self.kind}:{self.namespace}/{middle}{self.key}"


def parse_orphan(spec: str) -> tuple[str, str, str | None, str] | None:
    """``lease:NS/ID`` and the like -> (kind, namespace, snapshotter, key), or None."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("lease", "content", "snapshot"):
        return None
    ns, sep, rest = rest.partition("/")
    if not sep or not ns or not rest:
        return None
    if kind == "snapshot":
        snapshotter, sep, key = rest.partition("/")
        return (kind, ns, snapshotter, key) if sep and snapshotter and key else None
    return kind, ns, None, rest


def _when(text: str | None) -> _dt.datetime | None:
    """RFC 3339 in UTC (``...Z``, as :func:`.metadata.go_time` writes it, nanoseconds and all)."""
    if not text:
        return None
    body = text.removesuffix("Z")
    whole, _dot, fraction = body.partition(".")
    try:
        when = _dt.datetime.fromisoformat(whole + (f".{fraction[:6]}" if fraction else ""))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)


DANGLING_PREFIX = "moby-dangling@"  # docker 29's name for an untagged image on containerd's store
BUILDER_PARENT = "org.mobyproject.image.parent"  # the classic builder's parent image label


@dataclass
class ContainerdModel:
    """containerd's reference graph, to tell what a removal frees: the things (blobs, snapshot
    directories) some root still reaches, before and after image names are gone."""

    graph: Graph
    now: _dt.datetime
    active: set[str] = field(default_factory=set)  # snapshot items being written (an unpack, a container)

    def orphans(self, lease_age: _dt.timedelta) -> list[Orphan]:
        """What nothing needs and containerd's own API can remove, children before parents:
        snapshot and content records that no root reaches (containerd's GC would remove them at
        its next run), then the leases that have expired, or are older than ``lease_age`` and hold
        neither an ingest (a pull in progress) nor an active snapshot (an unpack in progress)."""
        out: list[Orphan] = []
        for ns in self.graph.images:
            m = marks(self.graph, ns, self.now)
            reached = m.image | m.container | m.gcroot
            for held in m.lease.values():
                reached |= held
            records = self.graph.snapshots.get(ns, {})
            for snapshotter, keys in sorted(records.items()):
                lost = [k for k in keys if ("snapshot", f"{snapshotter}/{k}") not in reached]
                depth = {k: self._depth(ns, snapshotter, k) for k in lost}
                for k in sorted(lost, key=lambda k: (-depth[k], k)):
                    out.append(Orphan("snapshot", ns, k, snapshotter, snapshot_item(ns, snapshotter, k)))
            for digest in sorted(self.graph.content.get(ns, {})):
                if ("content", digest) not in reached:
                    out.append(Orphan("content", ns, digest, None, digest))
            for lid, lease in sorted(self.graph.leases.get(ns, {}).items()):
                if container_lease(lid, lease):
                    continue
                gone = expired(lease.labels, self.now)
                created = _when(lease.created)
                old = created is not None and self.now - created >= lease_age
                busy = bool(lease.ingests) or any(self._busy(ns, s, k, lease_age) for s, k in lease.snapshots)
                if gone or (old and not busy):
                    out.append(Orphan("lease", ns, lid, None, None, lease.created, gone))
        return out

    def _busy(self, ns: str, snapshotter: str, key: str, age: _dt.timedelta) -> bool:
        """An active snapshot (an unpack writing into it) made less than ``age`` ago."""
        if snapshot_item(ns, snapshotter, key) not in self.active:
            return False
        record = self.graph.snapshots.get(ns, {}).get(snapshotter, {}).get(key)
        created = _when(record.created) if record else None
        return created is None or self.now - created < age

    def _depth(self, ns: str, snapshotter: str, key: str) -> int:
        records = self.graph.snapshots.get(ns, {}).get(snapshotter, {})
        depth, here, seen = 0, records.get(key), {key}
        while here is not None and here.parent and here.parent not in seen:
            seen.add(here.parent)
            depth, here = depth + 1, records.get(here.parent)
        return depth

    def alive(
        self, dropped: dict[str, set[str]], containers: Collection[str] = (), leases: Collection[str] = ()
    ) -> set[str]:
        """Every blob digest and snapshot item that some root reaches, with the image names in
        ``dropped`` (namespace -> names), the ``containers`` (ids) and the ``leases``
        (``NS/ID``) gone. containerd's GC removes the rest."""
        out: set[str] = set()
        for ns in self.graph.images:
            cut = [k.partition("/")[2] for k in leases if k.partition("/")[0] == ns]
            m = marks(self.graph, ns, self.now, dropped.get(ns, set()), containers, cut)
            reached = m.image | m.container | m.gcroot
            for held in m.lease.values():
                reached |= held
            for kind, key in reached:
                if kind == "content":
                    out.add(key)
                else:
                    snapshotter, _s, skey = key.partition("/")
                    out.add(snapshot_item(ns, snapshotter, skey))
        return out

    def image_layers(self, namespace: str, name: str) -> list[tuple[str, str | None, str]]:
        """An image's unpacked layers in ``namespace``, base first: (chain id, the layer's blob
        digest where its manifest names it, the account's item for its snapshot), from the
        ``containerd.io/gc.ref.*`` labels: target -> manifest -> config -> top snapshot -> parents."""
        from ..refs import canonical

        images = self.graph.images.get(namespace, {})
        image = images.get(name) or next((i for n, i in images.items() if canonical(n) == canonical(name)), None)
        if image is None or not image.digest:
            return []
        content = self.graph.content.get(namespace, {})
        todo, seen = [image.digest], set()
        while todo:
            digest = todo.pop()
            if digest in seen:
                continue
            seen.add(digest)
            labels = content.get(digest, {})
            layers = [v for k, v in sorted(labels.items(), key=_layer_order) if k.startswith(GC_REF_CONTENT + ".l.")]
            config = labels.get(GC_REF_CONTENT + ".config")
            if config:
                top = next(
                    (
                        (k[len(GC_REF_SNAPSHOT) :].split("/", 1)[0], v)
                        for k, v in content.get(config, {}).items()
                        if k.startswith(GC_REF_SNAPSHOT)
                    ),
                    None,
                )
                if top is None:
                    # unpacked by a client that found the snapshots there already and labelled
                    # nothing (docker 29): the chain from the layers' uncompressed digests
                    top = self._top_from_layers(namespace, layers)
                if top is not None:
                    return self._chain(namespace, top[0], top[1], layers)
            todo += [v for k, v in labels.items() if k.startswith(GC_REF_CONTENT + ".m.")]
        return []

    def _top_from_layers(self, namespace: str, blobs: list[str]) -> tuple[str, str] | None:
        from .shared import chain_ids

        content = self.graph.content.get(namespace, {})
        diffs = [content.get(b, {}).get("containerd.io/uncompressed", b) for b in blobs]
        chains = chain_ids(diffs)
        if not chains:
            return None
        for snapshotter, records in self.graph.snapshots.get(namespace, {}).items():
            if chains[-1] in records:
                return snapshotter, chains[-1]
        return None

    def _chain(self, namespace: str, snapshotter: str, top: str, blobs: list[str]) -> list[tuple[str, str | None, str]]:
        records = self.graph.snapshots.get(namespace, {}).get(snapshotter, {})
        chain: list[str] = []
        here: str | None = top
        while here and here not in chain:
            chain.append(here)
            record = records.get(here)
            here = record.parent if record else None
        chain.reverse()
        return [
            (c, blobs[i] if i < len(blobs) else None, snapshot_item(namespace, snapshotter, c))
            for i, c in enumerate(chain)
        ]

    def unpacked(self, namespace: str, chain_id: str) -> bool:
        return any(chain_id in records for records in self.graph.snapshots.get(namespace, {}).values())

    def has_blob(self, digest: str) -> bool:
        return any(digest in content for content in self.graph.content.values())

    def names_going(self, namespace: str, names: set[str], by_docker: bool) -> set[str]:
        """The image records that removing ``names`` in ``namespace`` takes away. Through ctr or
        the CRI: those names. Through docker on containerd's image store (moby's
        daemon/containerd/image_delete.go): when the last of an image's names goes, every record
        of the same target goes with it (its ``moby-dangling@`` one too), and then its classic
        builder parents (``org.mobyproject.image.parent``) while they are dangling."""
        images = self.graph.images.get(namespace, {})
        going = {n for n in names if n in images}
        if not by_docker:
            return going
        targets = {images[n].digest for n in going}
        for target in targets:
            same = {n for n, i in images.items() if i.digest == target}
            named = {n for n in same if not n.startswith(DANGLING_PREFIX)}
            if named <= going:
                going |= same
                parent = next((images[n].labels.get(BUILDER_PARENT) for n in same if n in images), None)
                while parent:
                    records = {n for n, i in images.items() if i.digest == parent}
                    if not records or any(not n.startswith(DANGLING_PREFIX) for n in records):
                        break
                    going |= records
                    parent = next((images[n].labels.get(BUILDER_PARENT) for n in records), None)
        return going


def _layer_order(item: tuple[str, str]) -> tuple[int, str]:
    """``containerd.io/gc.ref.content.l.<n>`` labels in layer order (n as a number)."""
    tail = item[0].rsplit(".", 1)[-1]
    return (int(tail), "") if tail.isdigit() else (1 << 30, item[0])


def kubelet_blind(account: Any, namespace: str) -> dict[str, int]:
    """Of one containerd root's account, the bytes the kubelet's image GC can neither see nor
    free: images outside the CRI's ``namespace``; the content store's blobs (the CRI reports the
    snapshotter's usage as the image filesystem, not the content store beside it); in the CRI's
    namespace, the layers of pinned images and of images containers use (the GC skips them); and
    what nothing needs (orphans, leases, ingests, tmpmounts). Each byte counts once, in that order."""
    from ..account import Bucket

    model = account.model
    if not isinstance(model, ContainerdModel):
        return {}
    outside = sum(
        b.bytes for b in account.buckets if b.kind is Bucket.LAYERS and b.namespaces and namespace not in b.namespaces
    )
    blobs = account.of(Bucket.BLOBS)
    images = model.graph.images.get(namespace, {})
    pinned = [n for n, i in images.items() if i.labels.get(PINNED) == "pinned"]
    m = marks(model.graph, namespace, model.now)
    held = {n for n in _reach(model.graph, namespace, [], pinned)} | m.container
    kept = sum(
        account.item_bytes.get(snapshot_item(namespace, *key.split("/", 1)), 0)
        for kind, key in held
        if kind == "snapshot"
    )
    orphans = sum(account.of(b) for b in (Bucket.ORPHANED, Bucket.LEASED, Bucket.INGEST, Bucket.TMPMOUNTS, Bucket.HELD))
    return {"outside": outside, "content_store": blobs, "pinned_or_in_use": kept, "orphans": orphans}
