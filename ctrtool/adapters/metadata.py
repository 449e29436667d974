"""containerd's metadata store, read directly: ``<root>/io.containerd.metadata.v1.bolt/meta.db``.

The same file ``ctr namespaces ls``, ``ctr images ls`` and ``ctr content ls`` read through containerd;
ctrtool reads it with its own read-only bbolt reader (:mod:`.boltdb`: one consistent snapshot, never
written, never locked) when it can (root), so that listing every namespace's images costs one file
read instead of one ctr process per namespace. The layout (containerd core/metadata/buckets.go,
the same in 1.6, 1.7 and 2.x)::

    v1                                  schema bucket
      version : <varint>                3 (containerd 1.6, 1.7) or 4 (2.x: adds sandboxes)
      <namespace>
        images/<name>                   createdat, updatedat (Go time.MarshalBinary), labels/
          target/                       digest, mediatype, size (varint)
        content/blob/<digest>           size (varint), createdat, updatedat, labels/
        snapshots/<snapshotter>/<key>   name (the snapshotter's own key), parent, children/, labels/

Any other schema (a ``v2`` bucket, another version) raises :class:`SchemaUnsupported`: the caller
falls back to the tools, it never guesses. Integers are Go's ``binary.PutVarint`` (zig-zag).
"""

from __future__ import annotations

import datetime as _dt
import os
import struct
from dataclasses import dataclass, field

from .boltdb import Bolt, BoltError, read_consistent, uvarint

META_DB = os.path.join("io.containerd.metadata.v1.bolt", "meta.db")
SCHEMA = b"v1"
# dbVersion of containerd's metadata (core/metadata/db.go): 3 in 1.6 and 1.7, 4 in 2.x
KNOWN_VERSIONS = {3: "containerd 1.6/1.7", 4: "containerd 2.x"}
_GO_UNIX_OFFSET = 62135596800  # seconds from 0001-01-01 to 1970-01-01 (Go's time encoding)


class SchemaUnsupported(BoltError):
    """meta.db holds a schema ctrtool does not know: read it through the tools instead."""


@dataclass(frozen=True)
class MetaImage:
    name: str
    digest: str | None  # the target (manifest or index) digest
    media_type: str | None
    size: int | None  # the target descriptor's own size
    created_raw: bytes | None = field(default=None, repr=False)  # Go's time.MarshalBinary
    updated_raw: bytes | None = field(default=None, repr=False)
    labels_raw: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)

    # decoded when asked (a listing of thousands of images needs none of them)
    @property
    def created(self) -> str | None:
        """When containerd created the record, RFC 3339 UTC (not the image config's time)."""
        return go_time(self.created_raw)

    @property
    def updated(self) -> str | None:
        return go_time(self.updated_raw)

    @property
    def labels(self) -> dict[str, str]:
        return {_text(k): _text(v) for k, v in self.labels_raw}


@dataclass
class Metadata:
    version: int
    txid: int  # the bbolt transaction read
    images: dict[str, list[MetaImage]]  # namespace -> images, by name (the order ctr lists them)
    content: dict[str, dict[str, int]]  # namespace -> blob digest -> size
    snapshots: dict[str, dict[str, dict[str, str]]]  # namespace -> snapshotter -> key -> backend name

    @property
    def namespaces(self) -> list[str]:
        return list(self.images)


def meta_db_path(containerd_root: str) -> str:
    return os.path.join(containerd_root, META_DB)


def read_metadata(path: str) -> Metadata:
    """One consistent read of containerd's meta.db. Raises OSError (missing, not readable),
    :class:`SchemaUnsupported` or :class:`BoltError`."""
    return read_consistent(path, _read)


def varint(raw: bytes) -> int:
    """Go's binary.Varint (zig-zag)."""
    ux = uvarint(raw)
    return ~(ux >> 1) if ux & 1 else ux >> 1


def go_time(raw: bytes | None) -> str | None:
    """Go's time.MarshalBinary (version 1 or 2) as RFC 3339 UTC; None when absent or not understood."""
    if not raw or raw[0] not in (1, 2) or len(raw) < 15:
        return None
    sec, nsec = struct.unpack_from(">qi", raw, 1)
    try:
        when = _dt.datetime.fromtimestamp(sec - _GO_UNIX_OFFSET, tz=_dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{nsec:09d}Z" if nsec else f"{text}Z"


def _fields(db: Bolt, value: bytes) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
    """A bucket's plain keys and its sub-buckets (their bucket values)."""
    plain: dict[bytes, bytes] = {}
    buckets: dict[bytes, bytes] = {}
    for k, v, is_bucket in db.bucket(value):
        (buckets if is_bucket else plain)[k] = v
    return plain, buckets


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _read(db: Bolt) -> Metadata:
    top = {k: (v, b) for k, v, b in db.items(db.root)}
    others = sorted(_text(k) for k, (_v, b) in top.items() if b and k != SCHEMA)
    if SCHEMA not in top or not top[SCHEMA][1]:
        raise SchemaUnsupported(f"no v1 schema bucket (found {', '.join(others) or 'nothing'})")
    if others:
        raise SchemaUnsupported(f"schema bucket(s) other than v1: {', '.join(others)}")
    plain, spaces = _fields(db, top[SCHEMA][0])
    if b"version" not in plain:
        raise SchemaUnsupported("the v1 bucket has no version key")
    version = varint(plain[b"version"])
    if version not in KNOWN_VERSIONS:
        known = ", ".join(f"{v} ({who})" for v, who in KNOWN_VERSIONS.items())
        raise SchemaUnsupported(f"schema v1 version {version}; ctrtool reads versions {known}")
    images: dict[str, list[MetaImage]] = {}
    content: dict[str, dict[str, int]] = {}
    snapshots: dict[str, dict[str, dict[str, str]]] = {}
    for ns_raw, ns_value in spaces.items():
        ns = _text(ns_raw)
        _p, objects = _fields(db, ns_value)
        images[ns] = [_image(db, _text(k), v) for k, v, b in _items(db, objects.get(b"images")) if b]
        blobs = {}
        if b"content" in objects:
            _p, cbuckets = _fields(db, objects[b"content"])
            for k, v, b in _items(db, cbuckets.get(b"blob")):
                if b:
                    bplain, _b = _fields(db, v)
                    blobs[_text(k)] = varint(bplain[b"size"]) if bplain.get(b"size") else 0
        content[ns] = blobs
        snaps: dict[str, dict[str, str]] = {}
        for sn, sv, sb in _items(db, objects.get(b"snapshots")):
            if sb:
                keys = {}
                for k, v, b in db.bucket(sv):
                    if b:
                        kplain, _b = _fields(db, v)
                        keys[_text(k)] = _text(kplain.get(b"name", b""))
                snaps[_text(sn)] = keys
        snapshots[ns] = snaps
    return Metadata(version, db.txid, images, content, snapshots)


def _items(db: Bolt, value: bytes | None) -> list[tuple[bytes, bytes, bool]]:
    return db.bucket(value) if value is not None else []


def _image(db: Bolt, name: str, value: bytes) -> MetaImage:
    plain, buckets = _fields(db, value)
    if b"target" not in buckets:
        raise BoltError(f"image {name!r} has no target bucket")
    target, _b = _fields(db, buckets[b"target"])
    labels: tuple[tuple[bytes, bytes], ...] = ()
    if b"labels" in buckets:
        labels = tuple((k, v) for k, v, b in db.bucket(buckets[b"labels"]) if not b)
    return MetaImage(
        name=name,
        digest=_text(target[b"digest"]) if b"digest" in target else None,
        media_type=_text(target[b"mediatype"]) if b"mediatype" in target else None,
        size=varint(target[b"size"]) if target.get(b"size") else None,
        created_raw=plain.get(b"createdat"),
        updated_raw=plain.get(b"updatedat"),
        labels_raw=labels,
    )


# -- the whole reference graph, for the byte account (`ctrtool df`'s account, `df --plan`) ----------


@dataclass
class SnapshotRecord:
    name: str  # the snapshotter's own key (``<namespace>/<n>/<key>``)
    parent: str | None  # the parent's key in the same namespace and snapshotter
    labels: dict[str, str]
    created: str | None = None


@dataclass
class LeaseRecord:
    id: str
    created: str | None
    labels: dict[str, str]
    content: list[str]
    snapshots: list[tuple[str, str]]  # (snapshotter, key)
    ingests: list[str]
    images: list[str]


@dataclass
class Graph:
    """What containerd's garbage collector reads, one namespace at a time (core/metadata/gc.go):
    images (name -> target digest), content records (digest -> labels, whose
    ``containerd.io/gc.ref.*`` labels name what they keep), snapshots (key -> parent, labels),
    containers (their snapshot), leases (what they hold) and ingests in progress."""

    version: int
    images: dict[str, dict[str, MetaImage]]
    content: dict[str, dict[str, dict[str, str]]]
    snapshots: dict[str, dict[str, dict[str, SnapshotRecord]]]  # ns -> snapshotter -> key -> record
    containers: dict[str, dict[str, tuple[str, str]]]  # ns -> id -> (snapshotter, snapshot key)
    leases: dict[str, dict[str, LeaseRecord]]
    ingests: dict[str, dict[str, str | None]]  # ns -> ref -> expected digest


def read_graph(path: str) -> Graph:
    """One consistent read of meta.db's whole reference graph (see :class:`Graph`)."""
    return read_consistent(path, _read_graph)


def _labels(db: Bolt, buckets: dict[bytes, bytes]) -> dict[str, str]:
    if b"labels" not in buckets:
        return {}
    return {_text(k): _text(v) for k, v, b in db.bucket(buckets[b"labels"]) if not b}


def _keys(db: Bolt, value: bytes | None) -> list[str]:
    return [_text(k) for k, _v, _b in _items(db, value)]


def _read_graph(db: Bolt) -> Graph:
    base = _read(db)  # checks the schema; images with their targets
    top = {k: v for k, v, b in db.items(db.root) if b}
    _plain, spaces = _fields(db, top[SCHEMA])
    g = Graph(base.version, {ns: {i.name: i for i in imgs} for ns, imgs in base.images.items()}, {}, {}, {}, {}, {})
    for ns_raw, ns_value in spaces.items():
        ns = _text(ns_raw)
        _p, objects = _fields(db, ns_value)
        content: dict[str, dict[str, str]] = {}
        ingests: dict[str, str | None] = {}
        if b"content" in objects:
            _p, cbuckets = _fields(db, objects[b"content"])
            for k, v, b in _items(db, cbuckets.get(b"blob")):
                if b:
                    content[_text(k)] = _labels(db, _fields(db, v)[1])
            for k, v, b in _items(db, cbuckets.get(b"ingests")):
                if b:
                    expected = _fields(db, v)[0].get(b"expected")
                    ingests[_text(k)] = _text(expected) if expected else None
        snaps: dict[str, dict[str, SnapshotRecord]] = {}
        for sn, sv, sb in _items(db, objects.get(b"snapshots")):
            if sb:
                records = snaps.setdefault(_text(sn), {})
                for k, v, b in db.bucket(sv):
                    if b:
                        plain, buckets = _fields(db, v)
                        parent = plain.get(b"parent")
                        records[_text(k)] = SnapshotRecord(
                            _text(plain.get(b"name", b"")),
                            _text(parent) if parent else None,
                            _labels(db, buckets),
                            go_time(plain.get(b"createdat")),
                        )
        containers: dict[str, tuple[str, str]] = {}
        for k, v, b in _items(db, objects.get(b"containers")):
            if b:
                plain, _b = _fields(db, v)
                containers[_text(k)] = (_text(plain.get(b"snapshotter", b"")), _text(plain.get(b"snapshotKey", b"")))
        leases: dict[str, LeaseRecord] = {}
        for k, v, b in _items(db, objects.get(b"leases")):
            if b:
                plain, buckets = _fields(db, v)
                held_snaps = [
                    (_text(sn), key)
                    for sn, sv, sb in _items(db, buckets.get(b"snapshots"))
                    if sb
                    for key in _keys(db, sv)
                ]
                leases[_text(k)] = LeaseRecord(
                    _text(k),
                    go_time(plain.get(b"createdat")),
                    _labels(db, buckets),
                    _keys(db, buckets.get(b"content")),
                    held_snaps,
                    _keys(db, buckets.get(b"ingests")),
                    _keys(db, buckets.get(b"images")),
                )
        g.content[ns], g.ingests[ns], g.snapshots[ns], g.containers[ns], g.leases[ns] = (
            content,
            ingests,
            snaps,
            containers,
            leases,
        )
    return g
