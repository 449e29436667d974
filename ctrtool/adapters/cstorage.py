"""containers/storage, read-only: the store CRI-O, podman, buildah and skopeo share on a graph root.

Layout (go.podman.io/storage, store.go, layers.go, images.go, containers.go), with DRIVER the graph
driver ("overlay", "vfs"):

- ``<graphroot>/<DRIVER>-images/images.json``: every image: ``id``, ``names``, ``digest``, ``layer``
  (its top layer), ``created``, ``big-data-sizes`` (manifest, config);
- ``<graphroot>/<DRIVER>-layers/layers.json`` (and ``volatile-layers.json`` beside it): every layer:
  ``id``, ``parent``, ``diff-digest``, ``diff-size``, ``compressed-size``, ``names``;
- ``<graphroot>/<DRIVER>-containers/containers.json`` (and ``volatile-containers.json``, where CRI-O
  keeps its own): every container: ``id``, ``names``, ``image``, ``layer`` (its writable layer);
- ``<graphroot>/overlay/<layer id>/diff``: a layer's files, unpacked once per store, whoever uses it
  (``<graphroot>/vfs/dir/<layer id>`` for vfs).

Each file is read once per call (regular files only, at most :data:`JSON_LIMIT` bytes), so reading
a store costs the same few reads however many images it holds. A file that is not there is an
empty list (a new store has none); one that cannot be read or parsed is a
:class:`~ctrtool.errors.LayoutNotUnderstood`, one line naming it.

storage.conf (TOML) is read for the three keys that place a store, ``driver``, ``graphroot`` and
``runroot`` of its ``[storage]`` table; nothing else of it changes where bytes are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import LayoutNotUnderstood
from ..safeio import MIB, read_regular

JSON_LIMIT = 64 * MIB  # images.json, layers.json, containers.json of one store
CONF_LIMIT = 1 * MIB  # a storage.conf
DEFAULT_GRAPHROOT = "/var/lib/containers/storage"
DEFAULT_RUNROOT = "/run/containers/storage"
DEFAULT_DRIVER = "overlay"
# where containers/storage looks for the system's storage.conf when CONTAINERS_STORAGE_CONF is not
# set (the first that exists; /etc overrides the packaged default under /usr/share)
SYSTEM_CONFS = ("/etc/containers/storage.conf", "/usr/share/containers/storage.conf")


@dataclass(frozen=True)
class StorageConf:
    """Where one store is: its graph root, run root and graph driver; ``source`` the file that said
    so (None: containers/storage's defaults)."""

    graphroot: str
    runroot: str
    driver: str
    source: str | None = None


@dataclass(frozen=True)
class CImage:
    id: str
    names: tuple[str, ...]
    digest: str | None
    top_layer: str | None
    created: str | None
    metadata_bytes: int  # manifest, config and signatures the store keeps beside the layers


@dataclass(frozen=True)
class CLayer:
    id: str
    parent: str | None
    diff_digest: str | None
    diff_size: int | None
    compressed_size: int | None
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class CContainer:
    id: str
    names: tuple[str, ...]
    image: str | None
    layer: str | None


@dataclass
class Contents:
    """One store's images, layers and containers, each file read once."""

    conf: StorageConf
    images: list[CImage] = field(default_factory=list)
    layers: dict[str, CLayer] = field(default_factory=dict)
    containers: list[CContainer] = field(default_factory=list)

    def chain(self, top: str | None) -> list[CLayer]:
        """The layers from the bottom up to ``top`` (an image's ``layer``); LayoutNotUnderstood when
        a parent is missing or the chain loops."""
        out: list[CLayer] = []
        seen: set[str] = set()
        current = top
        while current:
            if current in seen:
                raise LayoutNotUnderstood(f"layer {current[:12]} is its own ancestor", layers_file(self.conf))
            seen.add(current)
            layer = self.layers.get(current)
            if layer is None:
                raise LayoutNotUnderstood(f"layer {current[:12]} is not in the store", layers_file(self.conf))
            out.append(layer)
            current = layer.parent
        return out[::-1]

    def image_layer_ids(self) -> set[str]:
        """Every layer some image is built of (a container's own layer is not one)."""
        ids: set[str] = set()
        for image in self.images:
            ids.update(layer.id for layer in self.chain(image.top_layer))
        return ids

    def find_image(self, key: str) -> CImage | None:
        """The image whose id is ``key`` (or starts with it, 12 characters at least) or that has the
        name ``key``."""
        key = key[len("sha256:") :] if key.startswith("sha256:") else key
        for image in self.images:
            if image.id == key or key in image.names:
                return image
        if len(key) >= 12:
            found = [i for i in self.images if i.id.startswith(key)]
            if len(found) == 1:
                return found[0]
        return None


def layer_dir(conf: StorageConf, layer_id: str) -> str:
    """The directory of a layer's files: ``<graphroot>/overlay/<id>/diff`` (``vfs/dir/<id>`` for vfs)."""
    if conf.driver == "vfs":
        return os.path.join(conf.graphroot, "vfs", "dir", layer_id)
    return os.path.join(conf.graphroot, conf.driver, layer_id, "diff")


def driver_dir(conf: StorageConf) -> str:
    """The directory that holds the unpacked layers: ``<graphroot>/<driver>``."""
    return os.path.join(conf.graphroot, conf.driver)


def images_dir(conf: StorageConf) -> str:
    return os.path.join(conf.graphroot, f"{conf.driver}-images")


def layers_file(conf: StorageConf) -> str:
    return os.path.join(conf.graphroot, f"{conf.driver}-layers", "layers.json")


def graphroot_of_layer(path: str) -> str | None:
    """The graph root of a containers/storage store that a layer directory is in
    (``<graphroot>/<driver>/<id>/diff``, ``<graphroot>/vfs/dir/<id>``), as the store's own
    ``<driver>-layers`` directory beside it confirms; None for any other directory."""
    parts = os.path.normpath(path).split(os.sep)
    if len(parts) >= 4 and parts[-1] == "diff" and _ID.fullmatch(parts[-2]):
        root, driver = os.sep.join(parts[:-3]) or os.sep, parts[-3]
    elif len(parts) >= 4 and parts[-2] == "dir" and parts[-3] == "vfs" and _ID.fullmatch(parts[-1]):
        root, driver = os.sep.join(parts[:-3]) or os.sep, "vfs"
    else:
        return None
    return root if os.path.isdir(os.path.join(root, f"{driver}-layers")) else None


def words(owner: str | None) -> str:
    """A containers/storage store in words (as :meth:`ctrtool.model.Store.words`)."""
    return f"containers/storage of user {owner}, rootless" if owner else "containers/storage"


def conf_of_images_dir(path: str) -> StorageConf | None:
    """The store whose image metadata directory is ``path`` (``<graphroot>/<driver>-images``, what
    ``crictl imagefsinfo`` names on CRI-O), or None for any other directory."""
    path = path.rstrip("/")
    base = os.path.basename(path)
    if not base.endswith("-images") or base == "-images":
        return None
    return StorageConf(os.path.dirname(path), "", base[: -len("-images")])


def read(conf: StorageConf, containers: bool = False) -> Contents:
    """The store's images and layers (and containers when asked), each file read once."""
    out = Contents(conf)
    for item in _json_list(os.path.join(images_dir(conf), "images.json")):
        image = _image(item)
        if image:
            out.images.append(image)
    layer_dir_path = os.path.dirname(layers_file(conf))
    for name in ("layers.json", "volatile-layers.json"):
        for item in _json_list(os.path.join(layer_dir_path, name)):
            layer = _layer(item)
            if layer:
                out.layers[layer.id] = layer
    if containers:  # CRI-O's are volatile (volatile-containers.json), podman's not
        directory = os.path.join(conf.graphroot, f"{conf.driver}-containers")
        for name in ("containers.json", "volatile-containers.json"):
            for item in _json_list(os.path.join(directory, name)):
                container = _container(item)
                if container:
                    out.containers.append(container)
    return out


def _json_list(path: str) -> list[Mapping[str, Any]]:
    import errno
    import json

    try:
        data = read_regular(path, JSON_LIMIT)
    except FileNotFoundError:
        return []
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EFBIG:
            reason = f"too big: {reason}"
        raise LayoutNotUnderstood(f"cannot read {os.path.basename(path)}: {reason}", path) from None
    if not data.strip():
        return []
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
        raise LayoutNotUnderstood(f"{os.path.basename(path)} is {reason}", path) from None
    if not isinstance(value, list):
        raise LayoutNotUnderstood(f"{os.path.basename(path)} is not a JSON list", path)
    return [v for v in value if isinstance(v, dict)]


_ID = re.compile(r"[0-9a-f]{64}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _names(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str) and v) if isinstance(value, list) else ()


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _image(item: Mapping[str, Any]) -> CImage | None:
    image_id = _text(item.get("id"))
    if not image_id or not _ID.fullmatch(image_id):
        return None
    sizes = item.get("big-data-sizes")
    metadata = sum(_size(v) or 0 for v in sizes.values()) if isinstance(sizes, dict) else 0
    return CImage(
        image_id,
        _names(item.get("names")),
        _text(item.get("digest")),
        _text(item.get("layer")),
        _text(item.get("created")),
        metadata,
    )


def _layer(item: Mapping[str, Any]) -> CLayer | None:
    layer_id = _text(item.get("id"))
    if not layer_id or not _ID.fullmatch(layer_id):
        return None
    return CLayer(
        layer_id,
        _text(item.get("parent")),
        _text(item.get("diff-digest")),
        _size(item.get("diff-size")),
        _size(item.get("compressed-size")),
        _names(item.get("names")),
    )


def _container(item: Mapping[str, Any]) -> CContainer | None:
    container_id = _text(item.get("id"))
    if not container_id:
        return None
    return CContainer(container_id, _names(item.get("names")), _text(item.get("image")), _text(item.get("layer")))


# -- storage.conf ----------------------------------------------------------------------------------

_KEY = re.compile(r"""^\s*(driver|graphroot|runroot)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(?:#.*)?$""")
_TABLE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(?:#.*)?$")


def parse_conf(text: str, source: str | None = None) -> StorageConf:
    """The ``[storage]`` table's driver, graphroot and runroot (containers/storage's defaults for
    those not set). Only basic and literal strings are read; other keys and tables are skipped."""
    found: dict[str, str] = {}
    table = None
    for line in text.splitlines():
        m = _TABLE.match(line)
        if m:
            table = m[1]
            continue
        if table != "storage":
            continue
        m = _KEY.match(line)
        if m:
            value = m[2] if m[2] is not None else m[3]
            if m[2] is not None:
                value = value.replace('\\"', '"').replace("\\\\", "\\")
            found[m[1]] = value
    return StorageConf(
        found.get("graphroot") or DEFAULT_GRAPHROOT,
        found.get("runroot") or DEFAULT_RUNROOT,
        found.get("driver") or DEFAULT_DRIVER,
        source,
    )


def read_conf(path: str) -> StorageConf:
    """The storage.conf at ``path``; ConfigError (one line) when it cannot be read."""
    from ..safeio import decode, read_bytes

    return parse_conf(decode(path, read_bytes(path, CONF_LIMIT, "storage.conf"), "storage.conf"), path)


def system_conf(env: Mapping[str, str] | None = None) -> StorageConf:
    """The store a root process of containers/storage uses: ``CONTAINERS_STORAGE_CONF``, else the
    system's storage.conf, else the defaults."""
    env = os.environ if env is None else env
    named = env.get("CONTAINERS_STORAGE_CONF")
    if named:
        return read_conf(named)
    for path in SYSTEM_CONFS:
        if os.path.exists(path):
            return read_conf(path)
    return StorageConf(DEFAULT_GRAPHROOT, DEFAULT_RUNROOT, DEFAULT_DRIVER)


def stored_items(contents: Contents, backend: str, label: str) -> list[Any]:
    """`df`'s items of one store: each layer an image uses once, keyed by its chain id (as every
    store's unpacked layers are, so that the same layer unpacked in two stores is seen as one), and
    each other layer (a container's writable one, or one of nothing) by its layer id; their
    directories, sizes left for core to walk. ``label``: the store in words. ``contents`` must have
    been read with its containers."""
    from ..model import CopyKind, StoredItem
    from .shared import chain_ids

    root = driver_dir(contents.conf)
    out: dict[str, StoredItem] = {}
    used: set[str] = set()
    for image in contents.images:
        chain = contents.chain(image.top_layer)
        for layer, chain_id in zip(chain, chain_ids([layer.diff_digest or "" for layer in chain])):
            used.add(layer.id)
            path = layer_dir(contents.conf, layer.id)
            out.setdefault(
                chain_id,
                StoredItem(backend, None, CopyKind.UNPACKED, chain_id, path, root, seen_by=[backend], label=label),
            )
    writable = {c.layer for c in contents.containers if c.layer}
    for layer_id in sorted(set(contents.layers) - used):
        # a container's writable layer; or a layer no image and no container has (left by an
        # interrupted pull or removal): its bytes are there all the same, said apart
        kind, words = (
            (CopyKind.CONTAINER, f"containers in {label}")
            if layer_id in writable
            else (CopyKind.UNPACKED, f"layers of no image in {label}")
        )
        path = layer_dir(contents.conf, layer_id)
        out.setdefault(layer_id, StoredItem(backend, None, kind, layer_id, path, root, seen_by=[backend], label=words))
    return list(out.values())
