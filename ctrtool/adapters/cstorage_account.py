"""A containers/storage graph root, classified for the byte account (:mod:`ctrtool.account`), read-only.

The store's own files say who holds each directory (:mod:`.cstorage`; go.podman.io/storage's
layers.go, images.go, containers.go and drivers/overlay):

* ``<driver>/<layer id>/`` is a layer's directory (``diff``, ``link``, ``lower``, ``work``, and
  ``merged`` while it is mounted: another filesystem, not counted, as ``du -x``); ``<driver>/l/``
  holds one short symbolic link per layer (the name in the layer's ``link`` file);
* ``<driver>-layers/<layer id>.tar-split.gz`` is how the layer's tar is put back together (it
  goes with the layer); ``layers.json`` and the locks are the store's database;
* ``<driver>-images/<image id>/`` holds an image's manifest, config and signatures (they go with
  the image); ``images.json`` lists the images, each with its top layer;
* ``<driver>-containers/<container id>/`` is a container's own files; ``containers.json`` and
  ``volatile-containers.json`` (CRI-O's) list the containers, each with its writable layer.

A layer is an image layer when an image with a name, or one a container uses, is built on it;
else a container's writable layer; else a dangling (nameless) image's; else orphaned (left by an
interrupted pull or removal: in layers.json or only on disk). ``volumes/`` is podman's volumes;
``libpod/``, ``db.sql``, locks and small files the tools' databases; anything else "other".
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from ..account import Bucket, Classifier, Owner
from .cstorage import Contents, StorageConf, layer_dir, read
from .shared import chain_ids

TOOL = "containers-storage"
_LAYER_ID = re.compile(r"[0-9a-f]{64}")
LINK_LIMIT = 4096  # a layer's ``link`` file: a 26-character name

_METADATA_FILES = ("storage.lock", "userns.lock", "db.sql", "defaultNetworkBackend")


def place(graphroot: str) -> str:
    """A store's place in words, as the account's buckets name it."""
    return f"containers/storage {graphroot}"


def image_item(image_id: str) -> str:
    return f"image:{image_id}"


def container_item(container_id: str) -> str:
    return f"container:{container_id}"


def _link(layer_path: str) -> str | None:
    from ..safeio import read_regular

    try:
        name = read_regular(os.path.join(layer_path, "link"), LINK_LIMIT).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if name and "/" not in name and name not in (".", "..") else None


def classify(conf: StorageConf, cri_visible: bool) -> Classifier:
    """The classifier of one store (``conf``: its graph root and driver). ``cri_visible``: the CRI
    runtime's store (CRI-O's), whose images the kubelet sees. LayoutNotUnderstood (one line) when
    the store's metadata cannot be read."""
    real = os.path.realpath(conf.graphroot)
    conf = StorageConf(real, conf.runroot, conf.driver, conf.source)
    contents = read(conf, containers=True)
    where = place(real)
    c = Classifier(real, TOOL, {}, cri_visible=cri_visible)
    for name in ("libpod", f"{conf.driver}-images", f"{conf.driver}-layers", *_METADATA_FILES):
        c.owners[os.path.join(real, name)] = Owner(Bucket.METADATA)
    c.owners[os.path.join(real, "volumes")] = Owner(Bucket.VOLUMES)
    containers_dir = os.path.join(real, f"{conf.driver}-containers")
    c.owners[containers_dir] = Owner(Bucket.METADATA)
    model = CStorageModel.of(contents)
    c.model = model
    needed, dangling = model.needed(), model.dangling()
    writable = {layer for layer in model.container_layer.values() if layer}
    driver_root = os.path.join(real, conf.driver)
    if conf.driver == "vfs":
        c.under[os.path.join(driver_root, "dir")] = Owner(Bucket.ORPHANED, where)
    else:
        c.under[driver_root] = Owner(Bucket.ORPHANED, where)  # a directory layers.json does not name
    layers_root = os.path.join(driver_root, "dir") if conf.driver == "vfs" else driver_root
    listed = _listdir(layers_root)
    on_disk = {n for n in listed if _LAYER_ID.fullmatch(n)}
    for container_id, writable_layer in model.container_layer.items():
        # its own files go with its writable layer: one item per container
        p = os.path.join(containers_dir, container_id)
        c.owners[p] = Owner(Bucket.CONTAINERS, where)
        c.items[p] = writable_layer or container_item(container_id)
    for name in set(listed) - on_disk:  # the driver's own files (.has-mount-program, l/)
        c.owners[os.path.join(layers_root, name)] = Owner(Bucket.METADATA)
    for layer_id in sorted(set(contents.layers) | on_disk):
        if layer_id in needed:
            owner = Owner(Bucket.LAYERS, where)
        elif layer_id in writable:
            owner = Owner(Bucket.CONTAINERS, where)
        elif layer_id in dangling:
            owner = Owner(Bucket.DANGLING, where)
        else:
            owner = Owner(Bucket.ORPHANED, where)
        path = os.path.dirname(layer_dir(conf, layer_id)) if conf.driver != "vfs" else layer_dir(conf, layer_id)
        paths = [os.path.join(real, f"{conf.driver}-layers", f"{layer_id}.tar-split.gz")]
        link = _link(path) if conf.driver != "vfs" and layer_id in on_disk else None
        if link:
            paths.append(os.path.join(driver_root, "l", link))
        for p in [*paths, path]:  # the directory last: the item's path (RootAccount.item_paths)
            c.owners[p] = owner
            c.items[p] = layer_id
        model.layer_paths[layer_id] = path
    for image_id in model.names:
        p = os.path.join(real, f"{conf.driver}-images", image_id)
        c.owners[p] = Owner(Bucket.METADATA)
        c.items[p] = image_item(image_id)
    return c


@dataclass
class CStorageModel:
    """A containers/storage store, to tell what removing images and containers frees there
    (store.go ``DeleteImage``: an image's layers go when no other image and no container is built
    on them; a name alone only untags while the image has another)."""

    names: dict[str, set[str]]  # image id -> its names
    tops: dict[str, str | None]  # image id -> its top layer id
    layer_parent: dict[str, str | None]  # layer id -> parent layer id
    diffs: dict[str, str | None]  # layer id -> its diff digest (uncompressed)
    container_layer: dict[str, str | None]  # container id -> its writable layer
    container_image: dict[str, str | None]  # container id -> the image it was made from
    layer_paths: dict[str, str] = field(default_factory=dict)  # layer id -> its directory

    @classmethod
    def of(cls, contents: Contents) -> CStorageModel:
        return cls(
            {i.id: set(i.names) for i in contents.images},
            {i.id: i.top_layer for i in contents.images},
            {layer.id: layer.parent for layer in contents.layers.values()},
            {layer.id: layer.diff_digest for layer in contents.layers.values()},
            {c.id: c.layer for c in contents.containers},
            {c.id: c.image for c in contents.containers},
        )

    def chain(self, top: str | None) -> list[str]:
        """Layer ids from ``top`` down to the base (a loop or a missing parent ends it)."""
        out: list[str] = []
        while top and top not in out:
            out.append(top)
            top = self.layer_parent.get(top)
        return out

    def _container_parents(self, containers_gone: Collection[str] = ()) -> set[str]:
        """The layers the containers (those not gone) sit on: their writable layers' parents."""
        out: set[str] = set()
        for cid, layer in self.container_layer.items():
            if cid not in containers_gone and layer:
                out |= set(self.chain(self.layer_parent.get(layer)))
        return out

    def needed(self) -> set[str]:
        """Layers of images with a name, and of the images containers use."""
        used_images = {i for i in self.container_image.values() if i}
        out = self._container_parents()
        for image, top in self.tops.items():
            if self.names.get(image) or image in used_images:
                out |= set(self.chain(top))
        return out

    def dangling(self) -> set[str]:
        """Layers only nameless images (that no container uses) are built on."""
        needed = self.needed()
        out: set[str] = set()
        for image, top in self.tops.items():
            if not self.names.get(image):
                out |= set(self.chain(top)) - needed
        return out

    def image_layers(self, key: str) -> list[tuple[str, str | None, str]]:
        """An image's layers (by id, name or digest-less id prefix), base first: (chain id, diff
        digest, the account's item: the layer id). Empty when it is not here."""
        key = key.removeprefix("sha256:")
        image = next((i for i, n in self.names.items() if i == key or key in n), None)
        if image is None and len(key) >= 12:
            found = [i for i in self.names if i.startswith(key)]
            image = found[0] if len(found) == 1 else None
        if image is None:
            return []
        ids = self.chain(self.tops.get(image))[::-1]
        diffs = [self.diffs.get(i) or "" for i in ids]
        return list(zip(chain_ids(diffs), diffs, ids))

    def unpacked(self, chain_id: str) -> bool:
        """Whether a layer with this chain id is in the store (any image's)."""
        return chain_id in self._chains()

    def _chains(self) -> set[str]:
        cached = self.__dict__.get("_chain_set")
        if cached is None:
            cached = set()
            for top in self.tops.values():
                ids = self.chain(top)[::-1]
                cached |= set(chain_ids([self.diffs.get(i) or "" for i in ids]))
            self.__dict__["_chain_set"] = cached
        return cached

    def images_going(self, names: set[str], containers_gone: Collection[str] = ()) -> set[str]:
        """The images ``podman rmi`` of ``names`` (canonical forms) deletes: an image whose every
        name is among them and that no container (not gone) uses."""
        from ..refs import canonical

        used = {i for cid, i in self.container_image.items() if i and cid not in containers_gone}
        return {i for i, refs in self.names.items() if refs and {canonical(r) for r in refs} <= names and i not in used}

    def alive(self, gone: set[str], containers_gone: Collection[str] = ()) -> set[str]:
        """The account's items still there once the images ``gone`` and the containers
        ``containers_gone`` are deleted: layers, image and container directories."""
        layers = self._container_parents(containers_gone)
        for image, top in self.tops.items():
            if image not in gone:
                layers |= set(self.chain(top))
        own = {layer for cid, layer in self.container_layer.items() if cid not in containers_gone and layer}
        kept_images = {image_item(i) for i in self.names if i not in gone}
        kept_containers = {
            container_item(c) for c, layer in self.container_layer.items() if not layer and c not in containers_gone
        }
        return layers | own | kept_images | kept_containers


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def kubelet_blind(account: object) -> dict[str, int]:
    """Of the CRI runtime's containers/storage root (CRI-O's), the bytes the kubelet's image GC
    frees none of: the layers of images containers use (it skips them) and what nothing needs
    (orphaned layers: no CRI call names them). Empty for any other root."""
    from ..account import Bucket

    model = getattr(account, "model", None)
    if not isinstance(model, CStorageModel) or not getattr(account, "cri_visible", False):
        return {}
    item_bytes: dict[str, int] = getattr(account, "item_bytes", {})
    in_use = model._container_parents()
    return {
        "in_use": sum(item_bytes.get(layer, 0) for layer in in_use),
        "orphans": account.of(Bucket.ORPHANED),  # type: ignore[attr-defined]
    }
