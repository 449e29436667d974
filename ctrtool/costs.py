"""What a copy costs on disk, said before it runs and measured after.

A copy into a containerd namespace writes the blobs the content store does not have yet (none
when the image comes from another namespace of the same containerd: one content store) and
unpacks the layers that namespace has not unpacked yet. A copy into docker's overlay2 store
unpacks the layers docker has not got. The figures come from the byte account
(:mod:`ctrtool.account`): a layer's size is its unpacked copy's in the source store; a blob the
copy writes from docker's store is the layer's tar as `docker save` writes it, counted as its
unpacked size (so ``exact`` is False then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class CopyCost:
    blobs: int  # bytes of blobs the copy writes
    unpacked: int  # bytes of layers it unpacks
    shared: int  # bytes the target already holds (blobs or layers), not written again
    layers: int  # layers it unpacks
    exact: bool  # False: the blobs' sizes are estimated from the unpacked layers
    root: str  # the target's storage root, measured before and after
    added: int | None = None  # measured once the copy ran: the root's bytes after, less before (databases aside)
    backends: tuple[str, ...] = ()  # the backends whose account measures the root
    blob_store: bool = True  # the target keeps blobs (containerd); containers/storage keeps none

    @property
    def total(self) -> int:
        return self.blobs + self.unpacked

    def words(self) -> str:
        from .output import human_size

        about = "" if self.exact else "about "
        blobs = f"blobs {human_size(self.blobs)}, " if self.blob_store else ""
        text = (
            f"adds {about}{human_size(self.total)} ({self.total} bytes): {blobs}"
            f"{self.layers} layer(s) unpacked {human_size(self.unpacked)}"
        )
        if self.shared:
            text += f"; {human_size(self.shared)} already there is shared, not written again"
        return text


def copy_cost(
    settings: Any,
    backends: Sequence[str],
    image: Any,
    source_ns: str | None,
    target_ns: str | None,
    roots: list[Any] | None = None,
    source_dir: str | None = None,
    target_dir: str | None = None,
) -> CopyCost | None:
    """The cost of copying ``image`` (an ImageTarget, in ``source_ns`` or docker's graph store when
    None) into ``target_ns`` (a containerd namespace) or docker's graph store (None). None when the
    stores' metadata cannot be read (the copy still runs; it just cannot say)."""
    from .adapters.containerd_account import ContainerdModel
    from .adapters.docker_account import DockerModel
    from .core.storage import storage_account

    if roots is None:
        roots = storage_account(settings, backends, [])
    containerd: Any = next((r for r in roots if isinstance(r.model, ContainerdModel)), None)
    docker: Any = next((r for r in roots if isinstance(r.model, DockerModel)), None)
    if source_dir is not None or target_dir is not None:
        return _cstorage_cost(roots, image, source_ns, target_ns, source_dir, target_dir, containerd, docker, backends)
    if source_ns is not None:
        if containerd is None:
            return None
        source, layers = containerd, containerd.model.image_layers(source_ns, image.ref)
    else:
        if docker is None or not image.id:
            return None
        source, layers = docker, docker.model.image_layers(image.id)
    if not layers:
        return None
    target: Any = containerd if target_ns is not None else docker
    if target is None:
        return None
    blobs = unpacked = shared = count = 0
    exact = True
    for chain, blob, item in layers:
        size = source.item_bytes.get(item, 0)
        if target is containerd:
            assert target_ns is not None
            if containerd.model.unpacked(target_ns, chain):
                shared += size
            else:
                unpacked, count = unpacked + size, count + 1
            if blob and containerd.model.has_blob(blob):
                shared += source.item_bytes.get(blob, 0) if source is containerd else size
            elif source is not containerd:
                blobs, exact = blobs + size, False
        elif target.model.unpacked(chain):
            shared += size
        else:
            unpacked, count = unpacked + size, count + 1
    return CopyCost(blobs, unpacked, shared, count, exact, target.root, None, tuple(backends))


def _root_under(roots: list[Any], directory: str) -> Any:
    """The account root a store's directory is under (a containers/storage graph root), or None."""
    import os

    from .adapters.cstorage_account import CStorageModel

    real = os.path.realpath(directory)
    return next(
        (
            r
            for r in roots
            if isinstance(r.model, CStorageModel) and (real == r.root or real.startswith(r.root.rstrip("/") + "/"))
        ),
        None,
    )


def _cstorage_cost(
    roots: list[Any],
    image: Any,
    source_ns: str | None,
    target_ns: str | None,
    source_dir: str | None,
    target_dir: str | None,
    containerd: Any,
    docker: Any,
    backends: Sequence[str],
) -> CopyCost | None:
    """A copy from or into a containers/storage store (CRI-O's, podman's): such a store keeps no
    blobs, only each layer unpacked once (with its tar-split), so the copy adds the layers the
    target has not got (by chain id), each its size in the source store."""
    source: Any
    if source_dir is not None:
        source = _root_under(roots, source_dir)
        layers = source.model.image_layers(image.id or image.ref) if source is not None else []
    elif source_ns is not None:
        source = containerd
        layers = containerd.model.image_layers(source_ns, image.ref) if containerd is not None else []
    else:
        source = docker
        layers = docker.model.image_layers(image.id) if docker is not None and image.id else []
    if source is None or not layers:
        return None
    target: Any = _root_under(roots, target_dir) if target_dir is not None else None
    if target is None:  # into containerd or docker from a containers/storage store: not said yet
        return None
    unpacked = shared = count = 0
    for chain, _blob, item in layers:
        size = source.item_bytes.get(item, 0)
        if target.model.unpacked(chain):
            shared += size
        else:
            unpacked, count = unpacked + size, count + 1
    return CopyCost(0, unpacked, shared, count, True, target.root, None, tuple(backends), blob_store=False)


def measure(settings: Any, backends: Sequence[str], root: str) -> int | None:
    """The bytes under a storage root, its databases and indexes aside (the ``metadata`` bucket:
    a bolt file grows in steps that say nothing of one image), as the account counts them."""
    from .account import Bucket
    from .core.storage import storage_account

    for r in storage_account(settings, backends, []):
        if r.root == root:
            return r.bytes - r.of(Bucket.METADATA)
    return None
