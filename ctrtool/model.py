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
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any


class StoreKind(str, enum.Enum):
    GRAPH = "graph"  # docker's graph driver directory (its layers, unpacked)
    SNAPSHOTS = "snapshots"  # one namespace's snapshots in one containerd snapshotter (unpacked)
    CONTENT = "content"  # one containerd's content store (blobs), shared by its namespaces

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Store:
    kind: StoreKind
    daemon: str  # identity of the daemon: containerd's socket path, docker's data root (real paths)
    path: str | None = None  # the directory holding the bytes, when known
    namespace: str | None = None  # SNAPSHOTS: the containerd namespace
    driver: str | None = None  # the graph driver or snapshotter ("overlay2", "overlayfs")

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.kind.value, self.daemon, self.namespace)

    @property
    def unpacked(self) -> bool:
        return self.kind is not StoreKind.CONTENT

    def words(self) -> str:
        if self.kind is StoreKind.GRAPH:
            return f"docker's own {self.driver or 'graph driver'} store"
        if self.kind is StoreKind.CONTENT:
            return "containerd's content store"
        return f"containerd namespace {self.namespace}"

    def with_path(self, path: str | None) -> Store:
        return replace(self, path=path) if path and not self.path else self


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
