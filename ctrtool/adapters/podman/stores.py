"""What podman says of its stores: info (``podman info`` on the rootful store) and disk usage (each
store's layers, from its own files: no call per image)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ...model import BackendInfo, ImageStore, StoredItem
from ...runner import not_understood
from ..cstorage import stored_items
from .common import PodmanBase
from .parse import info_fields, load_json


class PodmanStores(PodmanBase):
    """podman's stores on disk."""

    def info(self) -> BackendInfo:
        """One ``podman info --format json`` (the rootful store; without one, the error that says
        so: ctrtool does not run podman to make it)."""
        rootless = self.rootless()  # a passwd file that cannot be read is said first
        if not self.rootful().exists and rootless:
            return self._rootless_info(rootless)
        result = self.run("info", "--format", "json")
        try:
            got = info_fields(load_json(result))
        except ValueError as exc:
            raise not_understood(result, str(exc), None) from None
        root, driver = got["graphroot"], got["driver"]
        return BackendInfo(
            backend=self.name,
            version=got["version"],
            endpoint=None,
            endpoint_source="(no daemon)",
            root=root,
            state=got["runroot"],
            storage_driver=driver,
            store=os.path.join(root, driver) if root and driver else None,
            content_store=None,
            namespaces=[],
            image_count=got["images"],
            # not set: `runtime` is the CRI runtime behind crictl's endpoint (info prints "CRI ...")
            runtime=None,
            image_store=ImageStore.CONTAINERS_STORAGE,
            user_stores=_user_stores(rootless),
        )

    def _rootless_info(self, rootless: list[Any]) -> BackendInfo:
        """No rootful store, users' stores only: what their files say (podman is not run: as root
        it would make the rootful store)."""
        return BackendInfo(
            backend=self.name,
            version=None,
            endpoint=None,
            endpoint_source="(no daemon)",
            root=None,
            state=None,
            storage_driver=None,
            store=None,
            content_store=None,
            namespaces=[],
            image_count=None,
            runtime=None,
            image_store=ImageStore.CONTAINERS_STORAGE,
            user_stores=_user_stores(rootless),
        )

    def cstorage_root(self) -> str | None:
        store = self.rootful()
        return store.graphroot if store.exists else None

    def account_roots(self) -> list[tuple[str, Any]]:
        """Each store's graph root (the rootful one where it exists, each user's), classified from
        the store's own files (no tool call). Where CRI-O shares the rootful root, crictl's adapter
        gives it too, marked as the kubelet's."""
        from functools import partial

        from ..cstorage_account import classify

        stores = ([self.rootful()] if self.rootful().exists else []) + self.rootless()
        return [(store.graphroot, partial(classify, store.conf(), cri_visible=False)) for store in stores]

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """Every store's images.json and layers.json, read once each: each layer an image uses, once
        per store, ``<graphroot>/<driver>/<id>/diff`` (sizes left for core to walk). No tool call."""
        out: list[StoredItem] = []
        stores = ([self.rootful()] if self.rootful().exists else []) + self.rootless()
        for store in stores:
            out.extend(stored_items(self.files(store), self.name, store.store().words()))
        return out


def _user_stores(rootless: list[Any]) -> list[dict[str, Any]]:
    return [{"user": r.user, "uid": r.uid, "graphroot": r.graphroot, "driver": r.driver} for r in rootless]
