"""What crictl says of the CRI and its stores: version, info, the image filesystem, the snapshotter
and sandbox image, disk usage, info."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from ...errors import Unsupported
from ...facts import Answer, CriImage
from ...model import BackendInfo, CopyKind, ImageStore, StoredItem
from ...runner import not_understood
from ..shared import is_image_layer, parallel
from .common import CrictlBase
from .parse import (
    containerd_snapshotter,
    cri_namespace,
    load_json,
    parse_client_version,
    parse_imagefs_mountpoint,
    sandbox_image,
)


class CrictlStores(CrictlBase):
    """The CRI runtime's facts and what its stores hold on disk."""

    def answer(self) -> Answer:
        """``crictl version``: the CRI runtime's name, version and API version."""
        v = self.version()
        return Answer(
            "version",
            version=v.get("RuntimeVersion") or None,
            runtime=v.get("RuntimeName") or None,
            api=v.get("RuntimeApiVersion") or None,
        )

    def _runtime(self) -> dict[str, Any]:
        """``version`` ‖ ``imagefsinfo``: the runtime and its image filesystem, asked once per
        adapter (df's listing, the byte account's roots and a copy's cost all need them); dropped
        by forget()."""
        if "_runtime_facts" not in self.__dict__:
            self.__dict__["_runtime_facts"] = parallel({"version": self.version, "fs": self.imagefs})
        return self.__dict__["_runtime_facts"]

    def imagefs(self) -> str | None:
        return parse_imagefs_mountpoint(self._json("imagefsinfo"))

    # -- facts for `ctrtool doctor` (each one call) --------------------------------------------
    def cri_info(self) -> dict[str, Any]:
        """``crictl info -o json``: the CRI runtime's status and configuration."""
        result = self.run("info", "--output", "json")
        data = load_json(result, self.endpoint.address)
        if not isinstance(data, dict):
            raise not_understood(result, "expected a JSON object", self.endpoint.address)
        return data

    def client_version(self) -> str | None:
        """crictl's own version (``crictl --version``): "v1.37.0", or None when the binary does not
        know it (a ``go install`` build says "unknown")."""
        return parse_client_version(self.run("--version").stdout)

    def snapshotter_of(self, cri_info: dict[str, Any], imagefs: str | None) -> str | None:
        return containerd_snapshotter(cri_info, imagefs)

    def sandbox_image_of(self, cri_info: dict[str, Any], images: Sequence[CriImage]) -> str | None:
        listed = {"images": [{"repoTags": i.repo_tags, "pinned": i.pinned} for i in images]}
        return sandbox_image(json.dumps(cri_info), listed)

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """``version`` ‖ ``imagefsinfo`` (the namespace, the snapshotter's root); the CRI's
        unpacked layers are the committed snapshots of its namespace in the snapshotter's
        metadata.db (the same directories ``ctr -n k8s.io`` reaches). Blobs come from ctr."""
        from ..ctr import snapshot_dirs

        got = self._runtime()
        namespace, root = cri_namespace(got["version"]), got["fs"]
        if namespace is None:
            return [] if namespaces else self._storage_usage(root)
        if namespaces and namespace not in namespaces:
            return []
        if not root:
            raise Unsupported("crictl's runtime is not containerd with a snapshotter ctrtool knows")
        kinds: dict[tuple[str, str], str] = {}
        dirs = snapshot_dirs(root, os.path.basename(root).rsplit(".", 1)[-1], kinds)
        return [
            StoredItem(
                self.name,
                ns,
                CopyKind.UNPACKED if kinds[(ns, key)] == "committed" and is_image_layer(key) else CopyKind.CONTAINER,
                key,
                path,
                root,
                seen_by=[self.name],
            )
            for (ns, key), path in sorted(dirs.items())
            if ns == namespace
        ]

    def cstorage_root(self) -> str | None:
        got = self._runtime()
        if cri_namespace(got["version"]) is not None:
            return None
        return str(self.storage_conf(got["fs"]).graphroot)

    def account_roots(self) -> list[tuple[str, Any]]:
        """CRI-O's containers/storage graph root (the kubelet's store), classified from the store's
        own files; none on containerd (ctr's adapter gives containerd's root)."""
        got = self._runtime()
        if cri_namespace(got["version"]) is not None:
            return []
        from functools import partial

        from ..cstorage_account import classify

        conf = self.storage_conf(got["fs"])
        return [(conf.graphroot, partial(classify, conf, cri_visible=True))]

    def _storage_usage(self, imagefs: str | None) -> list[StoredItem]:
        """CRI-O: every layer of its containers/storage store, from the store's metadata read once."""
        from ..cstorage import read, stored_items

        return stored_items(read(self.storage_conf(imagefs), containers=True), self.name, "containers/storage")

    def info(self) -> BackendInfo:
        got = parallel(
            {
                "info": lambda: self.run("info", "--output", "json"),
                "version": self.version,
                "fs": self.imagefs,
                "images": lambda: self._json("images"),
            }
        )
        version, info = got["version"], load_json(got["info"], self.endpoint.address)
        config = info.get("config") if isinstance(info, dict) else None
        config = config if isinstance(config, dict) else {}
        root = config.get("containerdRootDir")
        state = config.get("stateDir")
        namespace = cri_namespace(version)
        runtime = " ".join(v for v in (version.get("RuntimeName"), version.get("RuntimeVersion")) if v)
        if namespace is None:
            return self._runtime_info(version, got, runtime)
        return BackendInfo(
            backend=self.name,
            version=version.get("RuntimeApiVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=root,
            # the CRI plugin's state dir is <containerd state>/io.containerd.grpc.v1.cri
            state=os.path.dirname(state) if state and state.endswith("io.containerd.grpc.v1.cri") else state,
            storage_driver=containerd_snapshotter(info, got["fs"]) if namespace else None,
            store=got["fs"],
            content_store=os.path.join(root, "io.containerd.content.v1.content") if root else None,
            namespaces=[namespace] if namespace else [],
            image_count=len({i.get("id") for i in (got["images"] or {}).get("images") or [] if isinstance(i, dict)}),
            runtime=runtime or None,
            image_store=ImageStore.CONTAINERD if namespace else None,
            containerd=self.endpoint.address if namespace else None,
            sandbox_image=sandbox_image(got["info"].stdout, got["images"]) if namespace else None,
        )

    def _runtime_info(self, version: dict[str, str], got: dict[str, Any], runtime: str) -> BackendInfo:
        """A CRI runtime that is not containerd (CRI-O): its containers/storage store, from the image
        filesystem it names; no containerd, no namespaces."""
        from ..cstorage import conf_of_images_dir, driver_dir

        conf = conf_of_images_dir(got["fs"]) if got["fs"] else None
        images = (got["images"] or {}).get("images") or []
        return BackendInfo(
            backend=self.name,
            version=version.get("RuntimeApiVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=conf.graphroot if conf else None,
            state=None,
            storage_driver=conf.driver if conf else None,
            store=driver_dir(conf) if conf else None,
            content_store=None,
            namespaces=[],
            image_count=len({i.get("id") for i in images if isinstance(i, dict)}),
            runtime=runtime or None,
            image_store=ImageStore.CONTAINERS_STORAGE if conf else None,
            containerd=None,
            sandbox_image=sandbox_image(got["info"].stdout, got["images"]),
        )
