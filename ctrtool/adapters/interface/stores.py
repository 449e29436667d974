"""The adapter interface for the stores behind a backend: its daemon, the CRI's facts, containerd's
plugins and snapshots, what is on disk and the byte account's roots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...errors import Unsupported
from ...facts import Answer, CriImage, Plugin, Unpacked
from ...model import BackendInfo, Plan, StoredItem
from .where import PartBase


class StoresPart(PartBase):
    """What a backend says of its daemon and stores (doctor, ``df``, ``account``, ``reclaim``)."""

    def info(self) -> BackendInfo:
        raise NotImplementedError

    def answer(self) -> Answer:
        """The daemon behind the endpoint, asked with one cheap call: whether it answers (else the
        tool's error) and what it says of itself (`ctrtool doctor`)."""
        raise Unsupported(f"{self.name} cannot be asked whether its daemon answers")

    # -- what `ctrtool doctor` asks of the CRI's view and of containerd's client (one call each;
    # Unsupported where the backend has no such thing) --------------------------------------------
    def cri_info(self) -> dict[str, Any]:
        """The CRI runtime's status and configuration (``crictl info``)."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def cri_images(self) -> list[CriImage]:
        """The CRI's images: id, names, pinned (``crictl images -o json``)."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def imagefs(self) -> str | None:
        """The mount point of the CRI's image filesystem."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def client_version(self) -> str | None:
        """The tool's own version (the client's), when it knows it."""
        raise Unsupported(f"{self.name} does not say its client's version")

    def snapshotter_of(self, cri_info: dict[str, Any], imagefs: str | None) -> str | None:
        """The snapshotter the CRI unpacks images for, from its info and image filesystem."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def sandbox_image_of(self, cri_info: dict[str, Any], images: Sequence[CriImage]) -> str | None:
        """The pod sandbox (pause) image the CRI runtime uses, from its info and images."""
        raise Unsupported(f"{self.name} does not speak the CRI")

    def containerd_plugins(self) -> list[Plugin]:
        """The plugins of the containerd this backend reaches (``ctr plugins ls``)."""
        raise Unsupported(f"{self.name} cannot list containerd's plugins")

    def unpacked(self, namespace: str) -> list[Unpacked]:
        """Each image of containerd namespace ``namespace`` and the snapshotters it is unpacked in."""
        raise Unsupported(f"{self.name} cannot list containerd's snapshots")

    def plan_reclaim(self, orphans: Sequence[Any]) -> Plan:
        """Remove orphans (:class:`.containerd_account.Orphan`) through the tool's API."""
        raise Unsupported(f"{self.name} cannot remove containerd's orphans")

    def cstorage_root(self) -> str | None:
        """The containers/storage graph root this backend writes images into (rootful podman's,
        CRI-O's), or None: its images go to a containerd namespace or a graph driver store."""
        return None

    def account_roots(self) -> list[tuple[str, Callable[[], Any]]]:
        """The storage roots this backend's tool keeps, each with the function that classifies
        every path under it for the byte account (:mod:`ctrtool.account`). None by default."""
        return []

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """Everything this backend's stores hold on disk for images: each unpacked layer directory
        once (sizes left None for core to walk), and containerd's blobs that images refer to. A
        fixed number of tool calls per backend (ctr: per namespace), however many images."""
        raise Unsupported(f"{self.name} cannot show disk usage")
