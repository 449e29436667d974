"""docker's data root, classified for the byte account (:mod:`ctrtool.account`), read-only.

On the overlay2 graph driver (``<data-root>/image/overlay2``):

* ``repositories.json`` names the tagged images; ``imagedb/content/sha256/<id>`` is each image's
  config, whose ``rootfs.diff_ids`` give its layers' chain ids;
* ``layerdb/sha256/<chain id>/cache-id`` names the layer's directory under ``overlay2/``, and
  ``parent`` its parent layer;
* ``layerdb/mounts/<container id>/`` holds a container's ``mount-id`` (its writable layer),
  ``init-id`` (its ``-init`` layer) and ``parent`` (the image's top layer).

A layer directory is an image layer when a tagged image (or one a container uses) reaches it,
else a container's own layer, else a dangling (untagged) image's, else orphaned. ``containers/`` is
the containers' own files, ``buildkit/`` the build cache, ``volumes/`` the volumes, ``image/`` and
``overlay2/l`` metadata. On containerd's image store docker keeps no layers here: they are in
containerd's root, which its own account covers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field

from ..account import Bucket, Classifier, Owner
from .containerd_account import among
from .shared import chain_ids

LIMIT = 4 << 20  # an image config or a small layerdb file: far less than this


def _small(path: str) -> str | None:
    """A small regular file's text, or None (missing, not regular, too big, not UTF-8)."""
    from ..safeio import read_regular

    try:
        return read_regular(path, LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _json(path: str) -> object:
    text = _small(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def classify(root: str, driver: str | None) -> Classifier:
    real = os.path.realpath(root)
    c = Classifier(real, "docker", {})
    for name, bucket in (
        ("containers", Bucket.CONTAINERS),
        ("buildkit", Bucket.BUILD_CACHE),
        ("volumes", Bucket.VOLUMES),
        ("image", Bucket.METADATA),
    ):
        c.owners[os.path.join(real, name)] = Owner(bucket)
    if driver != "overlay2":
        if driver and os.path.isdir(os.path.join(real, driver)):
            c.notes.append(f"docker's {driver} directory is counted as other")
        return c
    meta = os.path.join(real, "image", "overlay2")
    layers_dir = os.path.join(real, "overlay2")
    c.owners[os.path.join(layers_dir, "l")] = Owner(Bucket.METADATA)
    c.under[layers_dir] = Owner(Bucket.ORPHANED, "docker")  # a directory no layer names
    layerdb = os.path.join(meta, "layerdb", "sha256")
    parent: dict[str, str | None] = {}
    cache: dict[str, str] = {}
    for chain in _listdir(layerdb):
        cid = _small(os.path.join(layerdb, chain, "cache-id"))
        if cid:
            cache[f"sha256:{chain}"] = cid.strip()
        p = _small(os.path.join(layerdb, chain, "parent"))
        parent[f"sha256:{chain}"] = p.strip() if p else None

    def chain_of(top: str | None) -> set[str]:
        out: set[str] = set()
        while top and top not in out:
            out.add(top)
            top = parent.get(top)
        return out

    repos = _json(os.path.join(meta, "repositories.json"))
    tagged: set[str] = set()
    if isinstance(repos, dict) and isinstance(repos.get("Repositories"), dict):
        for refs in repos["Repositories"].values():
            if isinstance(refs, dict):
                tagged.update(v for v in refs.values() if isinstance(v, str))
    image_tops: dict[str, str | None] = {}
    image_diffs: dict[str, list[str]] = {}
    content = os.path.join(meta, "imagedb", "content", "sha256")
    for image in _listdir(content):
        config = _json(os.path.join(content, image))
        diff_ids = []
        if isinstance(config, dict) and isinstance(config.get("rootfs"), dict):
            diff_ids = [d for d in config["rootfs"].get("diff_ids") or [] if isinstance(d, str)]
        chains = chain_ids(diff_ids)
        image_tops[f"sha256:{image}"] = chains[-1] if chains else None
        image_diffs[f"sha256:{image}"] = diff_ids
    mounts = os.path.join(meta, "layerdb", "mounts")
    tops_by_container: dict[str, str] = {}
    dirs_by_container: dict[str, set[str]] = {}
    for container in _listdir(mounts):
        for name in ("mount-id", "init-id"):
            value = _small(os.path.join(mounts, container, name))
            if value:
                dirs_by_container.setdefault(container, set()).add(value.strip())
        p = _small(os.path.join(mounts, container, "parent"))
        if p:
            tops_by_container[container] = p.strip()
    used_tops = set(tops_by_container.values())
    container_dirs = {d for dirs in dirs_by_container.values() for d in dirs}
    needed: set[str] = set()
    for image, top in image_tops.items():
        if image in tagged:
            needed |= chain_of(top)
    for top in used_tops:
        needed |= chain_of(top)
    dangling: set[str] = set()
    for image, top in image_tops.items():
        if image not in tagged:
            dangling |= chain_of(top) - needed
    names: dict[str, set[str]] = {}
    if isinstance(repos, dict) and isinstance(repos.get("Repositories"), dict):
        for refs in repos["Repositories"].values():
            if isinstance(refs, dict):
                for ref, image in refs.items():
                    if isinstance(image, str):
                        names.setdefault(image, set()).add(ref)
    parents = {}
    metadata = os.path.join(meta, "imagedb", "metadata", "sha256")
    for image in _listdir(metadata):
        p = _small(os.path.join(metadata, image, "parent"))
        if p:
            parents[f"sha256:{image}"] = p.strip()
    c.model = DockerModel(names, image_tops, parents, parent, cache, tops_by_container, dirs_by_container, image_diffs)
    by_dir = {d: chain for chain, d in cache.items()}
    for d in _listdir(layers_dir):
        if d == "l":
            continue
        path = os.path.join(layers_dir, d)
        chain = by_dir.get(d, "")
        if chain in needed:
            owner = Owner(Bucket.LAYERS, "docker")
        elif d in container_dirs:
            owner = Owner(Bucket.CONTAINERS, "docker")
        elif chain in dangling:
            owner = Owner(Bucket.DANGLING, "docker")
        else:
            owner = Owner(Bucket.ORPHANED, "docker")
        c.owners[path] = owner
        c.items[path] = d
    return c


@dataclass
class DockerModel:
    """docker's graph (overlay2), to tell what ``docker rmi`` of some names frees: the layer
    directories still needed before and after."""

    names: dict[str, set[str]]  # image id -> its names (repositories.json)
    tops: dict[str, str | None]  # image id -> its top layer's chain id
    parents: dict[str, str]  # image id -> its parent image (built images)
    layer_parent: dict[str, str | None]  # chain id -> parent chain id
    cache: dict[str, str]  # chain id -> directory name under overlay2/
    container_tops: dict[str, str]  # container id -> the image layer it sits on
    container_dirs: dict[str, set[str]]  # container id -> its own directories (writable, -init)
    diffs: dict[str, list[str]] = field(default_factory=dict)  # image id -> its layers' diff ids

    def image_layers(self, image_id: str) -> list[tuple[str, str | None, str]]:
        """An image's layers, base first: (chain id, diff id: the digest of the layer's tar as
        `docker save` writes it, the account's item for its directory)."""
        diffs = self.diffs.get(image_id) or []
        return [(c, d, self.cache.get(c, "")) for c, d in zip(chain_ids(diffs), diffs)]

    def unpacked(self, chain_id: str) -> bool:
        return chain_id in self.cache

    def images_going(self, names: set[str], containers_gone: Collection[str] = ()) -> set[str]:
        """The images ``docker rmi`` of ``names`` (canonical forms) deletes (daemon/images/
        image_delete.go): an image whose every name is among them and that no container sits on,
        then its parents while they have no name, no other child and no container."""
        from ..refs import canonical

        used = set()
        for cid, top in self.container_tops.items():
            if not among(cid, set(containers_gone)):
                used |= {i for i, t in self.tops.items() if t == top}
        going = {
            i for i, refs in self.names.items() if refs and {canonical(r) for r in refs} <= names and i not in used
        }
        for image in list(going):
            parent = self.parents.get(image)
            while parent and parent not in going and not self.names.get(parent) and parent not in used:
                children = {c for c, p in self.parents.items() if p == parent and c not in going}
                if children:
                    break
                going.add(parent)
                parent = self.parents.get(parent)
        return going

    def alive(self, gone: set[str], containers_gone: Collection[str] = ()) -> set[str]:
        """The layer directories still needed once the images ``gone`` and the containers
        ``containers_gone`` are deleted."""
        tops = [t for i, t in self.tops.items() if i not in gone and t]
        tops += [t for cid, t in self.container_tops.items() if not among(cid, set(containers_gone))]
        chains: set[str] = set()
        for top in tops:
            here: str | None = top
            while here and here not in chains:
                chains.add(here)
                here = self.layer_parent.get(here)
        own = {d for cid, dirs in self.container_dirs.items() if not among(cid, set(containers_gone)) for d in dirs}
        return {self.cache[c] for c in chains if c in self.cache} | own


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []
