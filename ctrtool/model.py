"""The store model: where bytes live, and which tool sees them.

A **store** is where bytes live:

* docker's graph driver directory (overlay2 under its data root), one per dockerd;
* one containerd's **content store** (compressed blobs, manifests, configs), shared by all of that
  containerd's namespaces;
* one containerd snapshotter's **snapshots of one namespace** (the unpacked layers): every
  namespace unpacks its own, even when the blobs are shared.

A **backend** is a tool's view of stores (``ctrtool/adapters/*``, each with a descriptor): docker on
overlay2 sees its graph directory; docker on containerd's image store sees namespace ``moby`` of one
containerd; crictl sees ``k8s.io``; ctr sees every namespace. Two backends that reach the same store
(``ctr -n k8s.io`` and crictl, ``ctr -n moby`` and docker on the containerd store) show one copy.

A store is identified by its kind, the daemon it belongs to (containerd's socket, or docker's data
root) and, for snapshots, the namespace: the tools do not all report the directory (docker on
containerd's store reports only containerd's address), and core fills the path in from a backend
that does.

Below the stores: the typed records every adapter returns and core and the commands pass on
(images, backends' info, containers, pods, layers, what stores hold, plans), and their kinds as
str enums, which compare equal to their words and which JSON and YAML write as those words
(:func:`plain`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any


class Kind(str, enum.Enum):
    """A kind or state: a str enum, so it compares equal to its word and JSON writes the word."""

    def __str__(self) -> str:
        return self.value


class StoreKind(Kind):
    GRAPH = "graph"  # docker's graph driver directory (its layers, unpacked)
    SNAPSHOTS = "snapshots"  # one namespace's snapshots in one containerd snapshotter (unpacked)
    CONTENT = "content"  # one containerd's content store (blobs), shared by its namespaces
    # a containers/storage graph root (CRI-O, podman): a graph driver store by identity (its
    # directory of unpacked layers), shared by every tool configured with the same graph root
    CSTORAGE = "containers-storage"


@dataclass(frozen=True)
class Store:
    kind: StoreKind
    daemon: str  # identity of the daemon: containerd's socket path, docker's data root (real paths)
    path: str | None = None  # the directory holding the bytes, when known
    namespace: str | None = None  # SNAPSHOTS: the containerd namespace
    driver: str | None = None  # the graph driver or snapshotter ("overlay2", "overlayfs")
    owner: str | None = None  # CSTORAGE: the user whose rootless store it is (None: root's)

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.kind.value, self.daemon, self.namespace)

    @property
    def unpacked(self) -> bool:
        return self.kind is not StoreKind.CONTENT

    def words(self) -> str:
        if self.kind is StoreKind.CSTORAGE:
            return f"containers/storage of user {self.owner}, rootless" if self.owner else "containers/storage"
        if self.kind is StoreKind.GRAPH:
            # a graph driver store is not always docker's (two dockerds, another engine's): the
            # words say what it is, whose it is the backends seeing it say
            return f"the {self.driver} graph driver store" if self.driver else "a graph driver store"
        if self.kind is StoreKind.CONTENT:
            return "containerd's content store"
        return f"containerd namespace {self.namespace}"

    def with_path(self, path: str | None) -> Store:
        return replace(self, path=path) if path and not self.path else self

    @property
    def place(self) -> PlaceId | None:
        """Where an image's unpacked copy lives, when this store is one (not the content store)."""
        return place_of(self.path, self.namespace) if self.unpacked else None


@dataclass(frozen=True)
class PlaceId:
    """The one identity of a place, where an image's unpacked copy lives: a graph driver store, or
    one namespace of a containerd snapshotter. Core, explain, reclaim and copy key places by it
    (never by words or by tuples). Two graph stores (two dockerds, docker's overlay2 and another
    engine's) are two places: their directories differ; two namespaces of one containerd are two
    places: their namespaces differ.

    ``where``: the real path of the store's directory (the graph driver's, the snapshotter's root),
    "" when no tool reported it; where only a backend is known (copy's hints name stores by the
    backends the user gave), that backend's name."""

    kind: StoreKind  # GRAPH or SNAPSHOTS
    where: str
    namespace: str | None = None  # SNAPSHOTS: the containerd namespace

    def holds(self, path: str) -> bool:
        """Whether a layer's directory is in this place (its directory under ours)."""
        if not self.where.startswith("/"):
            return False
        return os.path.realpath(path).startswith(self.where.rstrip("/") + "/")


def place_of(path: str | None, namespace: str | None) -> PlaceId:
    """The place of a store's directory (any path in it resolves to the same one only when it is the
    store's own directory) and its namespace: None for a graph driver store."""
    kind = StoreKind.SNAPSHOTS if namespace else StoreKind.GRAPH
    return PlaceId(kind, os.path.realpath(path) if path else "", namespace or None)


def layer_place(path: str, namespace: str | None, known: Iterable[PlaceId] = ()) -> PlaceId:
    """The place of one unpacked layer directory: the known place (of that namespace) whose
    directory holds it, or one whose directory was not reported; else its store's directory from
    the layout: ``<snapshotter root>/snapshots/<id>[/fs]``, ``<graph driver dir>/<id>/diff``."""
    kind = StoreKind.SNAPSHOTS if namespace else StoreKind.GRAPH
    same = [p for p in known if p.kind is kind and p.namespace == (namespace or None)]
    found = next((p for p in same if p.holds(path)), None) or next((p for p in same if not p.where), None)
    if found:
        return found
    real = os.path.realpath(path)
    parts = real.split("/")
    if namespace and "snapshots" in parts:
        root = "/".join(parts[: len(parts) - 1 - parts[::-1].index("snapshots")])
    else:
        root = os.path.dirname(os.path.dirname(real) if os.path.basename(real) == "diff" else real)
    return PlaceId(kind, root or "/", namespace or None)


def daemon_id(address: str | None) -> str:
    """A daemon's identity from its socket address or root: the real path, without unix://."""
    if not address:
        return "?"
    path = address[len("unix://") :] if address.startswith("unix://") else address
    return os.path.realpath(path) if path.startswith("/") else path


def containerd_snapshots(address: str | None, namespace: str, root: str | None, snapshotter: str | None) -> Store:
    return Store(StoreKind.SNAPSHOTS, daemon_id(address), root, namespace, snapshotter)


def containerd_content(address: str | None, root: str | None) -> Store:
    return Store(StoreKind.CONTENT, daemon_id(address), root)


def graph_store(data_root: str | None, path: str | None, driver: str | None) -> Store:
    return Store(StoreKind.GRAPH, daemon_id(data_root or path), path, None, driver)


def containers_storage(graphroot: str, driver: str, owner: str | None = None) -> Store:
    """The containers/storage store on ``graphroot``: its identity is the graph root (CRI-O and
    rootful podman configured with the same one share it), its directory the driver's
    (``<graphroot>/overlay``), where the layers are unpacked; ``owner``: the user whose rootless
    store it is."""
    return Store(StoreKind.CSTORAGE, daemon_id(graphroot), os.path.join(graphroot, driver), None, driver, owner)


def rfc3339_utc(text: Any) -> str | None:
    """An RFC 3339 time as images record it ("2024-01-02T03:04:05.123456789+01:00", nanoseconds
    and all) -> "2024-01-02T02:04:05Z" (UTC, whole seconds); None for anything else."""
    import re
    from datetime import datetime, timezone

    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", text.strip())
    if not m:
        return None
    zone = "+00:00" if m[2] == "Z" else m[2]
    try:
        moment = datetime.fromisoformat(m[1] + zone)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(obj: Any) -> Any:
    """Records (dataclasses, enums, stores) as JSON-ready values, in one place: a record's own
    ``to_dict`` when it has one (its documented fields), else every field; a Store is its path."""
    if isinstance(obj, Store):
        return obj.path
    if isinstance(obj, enum.Enum):
        return obj.value
    if is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        if callable(to_dict):
            return plain(to_dict())
        return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [plain(v) for v in obj]
    return obj


class ViewOf(Exception):
    """Raised by an adapter whose images live in another backend's store: docker on containerd's
    image store keeps them in a namespace of a containerd. Core then reads that store through the
    backend that reads a whole containerd (ctr), and marks what it finds as seen by this one."""

    def __init__(self, backend: str, store: Store, address: str):
        super().__init__(f"{backend}: its images are {store.words()} of the containerd at {address}")
        self.backend = backend
        self.store = store
        self.address = address


# The records adapters return and core and the commands pass on, typed until the output sink
# (:func:`plain`) serialises them.


class SizeKind(Kind):
    """What an image's ``size`` counts (``size_kind``)."""

    UNPACKED = "unpacked"  # the image's unpacked layers (docker's own figure on its graph driver)
    CONTENT = "content"  # the image's blobs in containerd's content store: manifest, config, compressed layers
    CONTENT_AND_UNPACKED = "content+unpacked"  # docker on containerd's image store: its blobs plus its snapshots
    REPORTED = "reported"  # whatever a non-containerd CRI runtime (CRI-O) reports


@dataclass
class ImageRecord:
    backend: str
    namespace: str | None  # the containerd namespace holding this copy; None for docker's graph driver
    ref: str | None  # None for an untagged image
    id: str | None  # the image id: the digest of the image config ("sha256:..."), where known
    digest: str | None  # the manifest (or index) digest, where known (Docker 29 prints it as its image ID)
    size: int | None  # bytes
    size_kind: SizeKind
    store: Store | None  # where this copy's layers are unpacked (its path: the JSON field ``store``)
    content: Store | None = None  # containerd's content store holding its blobs (None: docker's graph driver)
    copies: int = 1  # set by core: in how many distinct unpacked stores the same image is
    created: str | None = None  # the image config's creation time, RFC 3339 UTC, where known
    ref_copies: int = 1  # set by core: in how many of those stores the image has this same name
    # set by core: whether the kubelet (the CRI, in its namespace) has this reference (by name, or an
    # id-name by id); None when neither the CRI nor that namespace of containerd was listed
    kubelet_visible: bool | None = None
    # how this row was read: "tool" (the tool's output), "metadata" (containerd's meta.db and content
    # store on disk, read directly)
    source: str = "tool"
    # the image config's rootfs.diff_ids, where known (docker's inspect; containerd's config blob):
    # its layers, for `df --plan`. Not a JSON field (`ctrtool layers` shows them)
    diff_ids: list[str] = field(default_factory=list)
    # set by core's fold_aliases: the CRI's id-names (``sha256:<64 hex>``) of this image in the same
    # namespace, folded into this row instead of being rows of their own
    aliases: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON fields (docs/reference.md), in order."""
        return {
            "backend": self.backend,
            "namespace": self.namespace,
            "ref": self.ref,
            "id": self.id,
            "digest": self.digest,
            "size": self.size,
            "size_kind": self.size_kind,
            "store": self.store.path if self.store else None,
            "store_kind": self.store.kind.value if self.store else None,
            "store_owner": self.store.owner if self.store else None,
            "content_store": self.content.path if self.content else None,
            "copies": self.copies,
            "ref_copies": self.ref_copies,
            "kubelet_visible": self.kubelet_visible,
            "created": self.created,
            "source": self.source,
            "aliases": list(self.aliases),
        }


class ImageStore(Kind):
    """Where a backend's images are (``image_store`` in `info`)."""

    GRAPH = "graph"  # a graph driver's directory (docker on overlay2)
    CONTAINERD = "containerd"  # a containerd's content store and snapshots: ctr, crictl, docker on its image store
    # a containers/storage graph root (CRI-O, podman, buildah, skopeo): image metadata in
    # <graphroot>/<driver>-images, layers unpacked once in <graphroot>/<driver>/<id>/diff
    CONTAINERS_STORAGE = "containers-storage"


@dataclass
class BackendInfo:
    backend: str
    version: str | None
    endpoint: str | None
    endpoint_source: str
    root: str | None  # the daemon's storage root
    state: str | None  # the daemon's state directory (None when the tool does not expose it)
    storage_driver: str | None  # docker graph driver or containerd snapshotter
    store: str | None  # the directory that holds unpacked layers
    content_store: str | None  # containerd's content (blob) store; None for docker
    namespaces: list[str] = field(default_factory=list)
    image_count: int | None = None
    namespace_image_counts: dict[str, int] | None = None
    runtime: str | None = None  # crictl: the CRI runtime behind the endpoint, e.g. "containerd 1.6.20"
    image_store: ImageStore | None = None  # where its images are
    containerd: str | None = None  # the containerd socket it works with (docker: as `docker info` reports it)
    sandbox_image: str | None = None  # crictl: the CRI's pod sandbox (pause) image
    # podman: each user's rootless store ({"user", "uid", "graphroot", "driver"}; uid: the owner of
    # the directory, as stat says: a claim about whose it is, not a fact)
    user_stores: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class State(Kind):
    """The one vocabulary of container states (``state`` in `ps`); each tool's own word is in ``status``."""

    RUNNING = "running"
    CREATED = "created"
    EXITED = "exited"
    PAUSED = "paused"
    UNKNOWN = "unknown"


STATES = tuple(State)


class ContainerKind(Kind):
    """What a container row is (``kind`` in `ps`)."""

    CONTAINER = "container"
    SANDBOX = "sandbox"  # a CRI pod sandbox (its pause container), as ctr shows it


@dataclass
class ContainerRecord:
    backend: str
    namespace: str | None  # containerd namespace; None for docker
    id: str
    name: str  # docker: the name; ctr: the id (ctr containers have no other name); crictl: metadata name
    image: str | None
    state: State
    status: str | None  # the tool's own words for the state ("Up 2 minutes", "RUNNING", "CONTAINER_EXITED")
    pod: str | None  # crictl: the pod's name; None elsewhere
    pod_id: str | None  # crictl: the pod sandbox id
    created: str | None  # RFC 3339, UTC; None where the tool's listing does not say (ctr)
    labels: dict[str, str] = field(default_factory=dict)  # docker's and the CRI's; ctr's listing has none
    kind: ContainerKind = ContainerKind.CONTAINER
    seen_by: list[str] = field(default_factory=list)  # set by core: every backend that lists this container
    # set by core when two backends' views disagree on the state: each one's word (the row's
    # ``state`` is the owner's: docker's or the CRI's, over ctr's)
    states: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PodState(Kind):
    """A pod sandbox's state (``state`` in `ps --pods`); the CRI's own word is in ``status``."""

    READY = "ready"
    NOTREADY = "notready"
    UNKNOWN = "unknown"


@dataclass
class PodRecord:
    backend: str
    namespace: str | None  # containerd namespace (k8s.io); None for a non-containerd CRI runtime
    id: str
    name: str
    pod_namespace: str | None  # the pod's Kubernetes namespace
    uid: str | None
    state: PodState
    status: str | None  # the CRI's word: SANDBOX_READY, SANDBOX_NOTREADY
    created: str | None
    attempt: int | None
    containers: int  # containers of this pod, any state

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CopyKind(Kind):
    """The kind of a layer's copy (``kind`` in `layers` and `df`)."""

    UNPACKED = "unpacked"  # the layer's files: a graph driver directory or a snapshot directory
    BLOB = "blob"  # the compressed layer in containerd's content store (shared by all namespaces)
    CONTAINER = "container"  # a container's own layer: its writable snapshot, or docker's "<id>-init"


@dataclass
class LayerCopy:
    """One place on disk that holds one layer of an image."""

    backend: str  # the backend that found it (crictl's k8s.io copy is ctr's k8s.io copy: see seen_by)
    namespace: str | None  # containerd namespace of an unpacked snapshot; None for docker and for blobs
    kind: CopyKind  # UNPACKED or BLOB
    path: str  # absolute: docker <data-root>/overlay2/<id>/diff, snapshots/<id>/fs, blobs/sha256/<hex>
    size: int | None = None  # bytes: the files under the directory (one walk), or the blob file's size
    namespaces: list[str] = field(default_factory=list)  # namespaces that reference it (a blob: several)
    seen_by: list[str] = field(default_factory=list)  # every backend that reaches this same copy

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LayerRecord:
    """One layer of an image, as one backend sees it, with the copies this backend found."""

    index: int  # 0 = the base layer
    diff_id: str  # digest of the uncompressed layer tar (the image config's rootfs.diff_ids)
    chain_id: str  # identity of the layer stacked on its parents: docker's layerdb and containerd's
    # snapshot key
    blob: str | None  # digest of the compressed layer in containerd's content store, where known
    copies: list[LayerCopy] = field(default_factory=list)


@dataclass
class LayerRow:
    """`layers`: one layer of an image over every backend queried, each copy once."""

    index: int  # 0 = the base layer
    diff_id: str
    chain_id: str
    blob: str | None  # the compressed layer's digest in containerd's content store, where known
    size: int | None  # bytes of the largest unpacked copy
    stored: int  # unpacked copies
    duplicated: int  # bytes of the unpacked copies beyond the largest
    copies: list[LayerCopy] = field(default_factory=list)


@dataclass
class StoreEntry:
    """`df`: one thing a store holds: a layer's directory (key: its chain id), a container's
    snapshot, or a blob (key: its digest)."""

    key: str
    path: str
    size: int | None
    copies: int  # in how many stores the same layer is unpacked (1 for blobs and containers' layers)
    namespaces: list[str] = field(default_factory=list)


@dataclass
class StoreUsage:
    """`df`: one store's row: what it holds, how much, and how much another store holds too."""

    store: str  # in words: "docker", "containerd namespace k8s.io", "containerd content store", ...
    kind: CopyKind
    backend: str
    namespace: str | None
    path: str  # the store's own directory
    seen_by: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    items: int = 0
    bytes: int = 0
    duplicated: int = 0
    entries: list[StoreEntry] = field(default_factory=list)


@dataclass
class StoredItem:
    """One thing a store holds on disk, for `df`: an unpacked layer directory (key = its chain id)
    or a blob in containerd's content store (key = its digest)."""

    backend: str  # the backend that found it
    namespace: str | None  # containerd namespace of a snapshot; None for docker and for blobs
    kind: CopyKind  # UNPACKED or BLOB
    key: str  # chain id of an unpacked layer; digest of a blob
    path: str  # absolute: the layer's directory, or the blob's file
    store: str  # the store's own directory: docker's overlay2 dir, the snapshotter root, the content root
    size: int | None = None  # blobs: the file's size; unpacked: left None (core walks each directory once)
    namespaces: list[str] = field(default_factory=list)  # blobs: the namespaces whose images refer to it
    seen_by: list[str] = field(default_factory=list)
    label: str | None = None  # the store in words, when the adapter knows better than its backend's name


@dataclass
class ImageTarget:
    """An image found in one place, for an operation on it."""

    backend: str
    namespace: str | None
    ref: str  # the name the tool will be given: the user's, or the stored name it matched
    id: str | None
    tags: list[str] = field(default_factory=list)  # every name of the same image in this place


@dataclass
class Plan:
    """What a change will run, before it runs: the exact argv lists (shown by --dry-run and by
    the confirmation prompt) and the code that runs exactly those. ``execute()`` returns what the
    operation yields (an exit status, refs loaded, ...)."""

    what: str  # plain words: "remove container web (docker)"
    commands: list[list[str]]
    execute: Callable[[], Any] = field(repr=False)
    destructive: bool = False
    note: str | None = None  # said before running (e.g. how a stop escalates)
    piped: bool = False  # the commands run as one pipeline: first | second (shown so)
