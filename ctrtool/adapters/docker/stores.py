"""What docker says of its daemon and stores: the daemon's answer, namespaces, disk usage, the byte
account's roots, info."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ...facts import Answer
from ...model import BackendInfo, CopyKind, ImageStore, StoredItem
from ..shared import chain_ids
from .common import DockerBase
from .parse import DOCKER_CONTAINERD_NAMESPACE, docker_store, layer_dir, overlay2_store


class DockerStores(DockerBase):
    """The daemon's facts and what its store holds on disk."""

    def answer(self) -> Answer:
        """``docker info``: its version, data root and the containerd it works with."""
        info = self.daemon_info()
        containerd = info["Containerd"] if isinstance(info.get("Containerd"), dict) else {}
        version = info.get("ServerVersion")
        return Answer(
            "info",
            version=None if version is None else str(version),
            runtime="docker",  # Docker Engine (doctor's end-of-life table names it so)
            root=info.get("DockerRootDir"),
            containerd=containerd.get("Address") or None,
            excerpt=f"ServerVersion: {version}",
        )

    def namespaces(self) -> list[str]:
        return [DOCKER_CONTAINERD_NAMESPACE]

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """``image ls -q`` then one ``image inspect`` of every image; each distinct layer (chain
        id) is mapped to its overlay2 directory through docker's layer database, once."""
        items = self._inspect(self._image_ids())
        if not items:
            return []
        store = overlay2_store(items)
        self._view_of_containerd(items)
        if store is None:
            from ...errors import Unsupported

            driver = (items[0].get("GraphDriver") or {}).get("Name")
            raise Unsupported(
                f"docker's graph driver is {driver}: ctrtool maps layers to directories for overlay2 only"
            )
        out: dict[str, StoredItem] = {}
        for item in items:
            diff_ids = (item.get("RootFS") or {}).get("Layers") or []
            for chain in chain_ids(diff_ids):
                if chain not in out:
                    out[chain] = StoredItem(
                        "docker",
                        None,
                        CopyKind.UNPACKED,
                        chain,
                        layer_dir(os.path.dirname(store), store, chain),
                        store,
                        seen_by=["docker"],
                    )
        return list(out.values())

    def account_roots(self) -> list[tuple[str, Callable[[], Any]]]:
        """docker's data root, classified from its own layer and image databases (read-only)."""
        data = self.__dict__.get("_account_info") or self._info()
        root, driver = data.get("DockerRootDir"), data.get("Driver")
        if not isinstance(root, str) or not root:
            return []

        def classify() -> Any:
            from ..docker_account import classify

            return classify(root, driver if isinstance(driver, str) else None)

        return [(root, classify)]

    def info(self) -> BackendInfo:
        data = self._info()
        where = docker_store(data)
        return BackendInfo(
            backend=self.name,
            version=data.get("ServerVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=data.get("DockerRootDir"),
            state=None,  # dockerd's --exec-root is not reported by `docker info`
            storage_driver=data.get("Driver"),
            store=where.store.path,  # on containerd's image store: core fills it in from containerd
            content_store=where.content.path if where.content else None,
            namespaces=[
                where.namespace
                or (data.get("Containerd") or {}).get("Namespaces", {}).get("Containers")
                or DOCKER_CONTAINERD_NAMESPACE
            ],
            image_count=data.get("Images"),
            image_store=ImageStore.CONTAINERD if where.on_containerd else ImageStore.GRAPH,
            containerd=where.containerd,
        )
