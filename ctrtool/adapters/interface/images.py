"""The adapter interface for images: listing, layers, naming a target, inspect, and the plans
that change images (rmi, tag, pull, load, save, prune) or copy them between stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import Ambiguous, NotFound, Unsupported
from ...model import ImageRecord, ImageTarget, LayerRecord, Plan
from ..shared import match_images
from .where import PartBase


class ImagesPart(PartBase):
    """What every backend answers of its images (``Unsupported`` where the tool cannot)."""

    # -- what every backend answers ----------------------------------------------------------
    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        raise NotImplementedError

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """Each layer of image ``ref`` and every copy of it this backend finds on disk (sizes of
        unpacked copies left None: core counts each distinct directory once). NotFound when the
        image is not here. Tool calls do not depend on the number of images."""
        raise Unsupported(f"{self.name} cannot show layers")

    def image_namespace(self, namespace: str | None) -> str | None:
        """The containerd namespace an image operation here works in, or None when the images are in
        a store of the backend's own (docker's graph driver)."""
        return self.operation_namespace(namespace) or self.container_namespace()

    def image_target(self, ref: str, records: Sequence[ImageRecord], where: str) -> ImageTarget:
        found, by_name = match_images(records, ref)
        if not found:
            raise NotFound("image", ref, where)
        ids = list(dict.fromkeys(r.id or r.digest or r.ref for r in found))
        if len(ids) > 1:
            raise Ambiguous(
                f"{ref!r} matches {len(ids)} images in {where}",
                [f"{r.ref or '<none>'} ({(r.id or '?')[:19]})" for r in found],
                "give the full name",
            )
        first = found[0]
        key = first.id or first.digest
        tags = [r.ref for r in records if r.ref and key and (r.id or r.digest) == key]
        if by_name:
            name = first.ref
        else:
            name = self.name_for_id(first, tags)
        return ImageTarget(self.name, first.namespace, name or "", first.id, tags)

    def name_for_id(self, record: ImageRecord, tags: list[str]) -> str:
        """What to hand the tool for an image the user named by id: the id itself (docker and
        the CRI take ids)."""
        return record.id or record.ref or ""

    def inspect_image(self, image: ImageTarget) -> Any:
        raise NotImplementedError

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        raise NotImplementedError

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        """Give ``image`` the name ``target``. ``replaces``: the image ``target`` names now, which
        loses the name (destructive: asks first)."""
        raise NotImplementedError

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        raise NotImplementedError

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        """Load the archive at ``path``. ``replaces``: references it holds that name other images
        here now, which the load moves (destructive: asks first)."""
        raise NotImplementedError

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        """Write ``images`` as one archive to ``path`` ("-": stdout), atomically
        (:func:`ctrtool.runner.run_to_file`); replacing an existing file is destructive."""
        raise NotImplementedError

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """Remove the images nothing needs: the dangling (untagged) ones, or with ``unused`` every
        image no container uses. The plan's ``what`` names the images the tool would remove as far
        as it can tell beforehand; ``execute()`` returns the IDs of the images removed."""
        raise NotImplementedError

    # -- copying images between stores ---------------------------------------------------------
    def moves_through(self) -> tuple[str, str | None]:
        """(the backend whose tool moves images in and out of this one's store, its namespace), for
        a backend without archives of its own (its descriptor's ``moves_via``); crictl decides by
        its runtime (containerd: ctr in k8s.io; CRI-O: the tool whose store is CRI-O's)."""
        from ... import registry

        d = registry.descriptor(self.name)
        if not d.moves_via:
            raise Unsupported(f"{self.name} moves its images itself")
        return d.moves_via, d.namespace

    def stores_at(self, graphroot: str) -> bool:
        """Whether this backend's own tool writes the containers/storage store on ``graphroot``."""
        return False

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        """The call that writes image ``ref`` as a tar archive on stdout."""
        raise Unsupported(f"{self.name} cannot export images")

    def import_argv(self, namespace: str | None) -> list[str]:
        """The call that reads a tar archive of images on stdin."""
        raise Unsupported(f"{self.name} cannot import images")

    def parse_import(self, stdout: str) -> list[str]:
        """The references an import (``import_argv``) says it loaded."""
        return []
