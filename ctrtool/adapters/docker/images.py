"""docker's images: listing (ids, then one inspect), layers, inspect, and the plans that change them
(rmi, tag, pull, load, save, prune, copy's export/import)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ... import model
from ...model import ImageRecord, ImageTarget, LayerRecord, Plan
from ...runner import not_understood
from ..shared import stderr_mentions
from .common import DockerBase
from .parse import (
    docker_image_id,
    docker_layers,
    docker_store,
    load_json,
    overlay2_store,
    parse_image_ids,
    parse_inspect,
    parse_loaded,
    parse_pruned,
)


class DockerImages(DockerBase):
    """Images in docker's store (its graph driver's, or containerd's namespace moby)."""

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        """``image ls -q`` then one ``image inspect`` of them all (plus ``info`` unless overlay2):
        through the Engine API on a local socket with ``--via auto`` (``source`` "api"), else the
        CLI."""
        records = self._image_records()
        if self.__dict__.get("_api_used") and self.api() is not None:
            for r in records:
                r.source = "api"
        return records

    def _image_records(self) -> list[ImageRecord]:
        items = self._inspect(self._image_ids())
        path = overlay2_store(items)
        if path is not None:  # overlay2 says where its layers are: no `docker info` needed
            return parse_inspect(items, model.graph_store(os.path.dirname(path), path, "overlay2"))
        if not items:
            return []
        where = docker_store(self._info())
        return parse_inspect(items, where.store, where.content)

    def image_namespace(self, namespace: str | None) -> str | None:
        """On containerd's image store, docker's images are a containerd namespace (one `docker info`)."""
        return self.store().namespace

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """One ``docker image inspect REF`` (diff ids, the overlay2 directory); then docker's own
        map on disk, ``<data-root>/image/overlay2/layerdb/sha256/<chain id>/cache-id``, names each
        layer's directory ``<data-root>/overlay2/<cache-id>/diff``."""
        result = self.run("image", "inspect", ref, check=False)
        if result.returncode != 0:
            if stderr_mentions(result.stderr, "no such image"):
                from ...errors import NotFound

                raise NotFound("image", ref, "docker")
            raise self.failed(result)
        data = load_json(result, self.endpoint.address)
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise not_understood(result, "expected a JSON list with one image", self.endpoint.address)
        item = data[0]
        store = overlay2_store([item])
        self._view_of_containerd([item])
        if store is None:
            from ...errors import Unsupported

            driver = (item.get("GraphDriver") or {}).get("Name")
            raise Unsupported(
                f"docker's graph driver is {driver}: ctrtool maps layers to directories for overlay2 only"
            )
        diff_ids = (item.get("RootFS") or {}).get("Layers") or []
        return docker_layers(os.path.dirname(store), store, diff_ids)

    def inspect_image(self, image: ImageTarget) -> Any:
        return load_json(self.run("image", "inspect", image.ref), self.endpoint.address)[0]

    def name_for_id(self, record: ImageRecord, tags: list[str]) -> str:
        """The ID docker itself knows: on containerd's image store (Docker 29) the manifest digest
        (``docker image rm`` of the config digest is "No such image" there), else the config digest."""
        if record.namespace and record.digest:
            return record.digest
        return super().name_for_id(record, tags)

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        flags = ["--force"] if force else []
        return self._plan(
            f"remove image {image.ref} from docker's store",
            [self.argv("image", "rm", *flags, image.ref)],
            destructive=True,
        )

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        moved = (
            (
                f", moving {target} away from image {(replaces.id or '?')[:19]} (which keeps its other names, "
                f"or is left untagged)"
            )
            if replaces is not None
            else ""
        )
        return self._plan(
            f"tag {image.ref} as {target} (docker){moved}",
            [self.argv("tag", image.ref, target)],
            destructive=replaces is not None,
        )

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        return self._pull_plan(self.argv("pull", ref), ref, f"pull {ref} into docker's store")

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        argv = self.argv("load", "--input", path)

        def execute() -> list[str]:
            return parse_loaded(self.run_argv(argv, bounded=False).stdout)

        moved = f", replacing {', '.join(replaces)} (now other images)" if replaces else ""
        return Plan(f"load {path} into docker's store{moved}", [argv], execute, destructive=bool(replaces))

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        return self._save_plan(
            f"save {', '.join(i.ref for i in images)} from docker", self.argv("save", *(i.ref for i in images)), path
        )

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        return self.argv("save", ref)

    def import_argv(self, namespace: str | None) -> list[str]:
        return self.argv("load")

    def parse_import(self, stdout: str) -> list[str]:
        return parse_loaded(stdout)

    def _used_image_ids(self) -> set[str]:
        """The image IDs of all containers, in any state (what `docker image prune` keeps): one
        ``ps`` and one ``container inspect`` for all of them."""
        ids = [c.id for c in self.containers()]
        if not ids:
            return set()
        # a container removed between the two calls is simply not there
        result = self.run("container", "inspect", "--format", "{{.Image}}", *ids, check=False)
        if result.returncode != 0 and not stderr_mentions(result.stderr, "no such container"):
            raise self.failed(result)
        return set(parse_image_ids(result.stdout))

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """``docker image prune --force`` (dangling images) or with ``--all`` (every image no
        container uses). What it would remove is read first: the images docker lists (dangling:
        ``image ls --filter dangling=true``) that no container, running or not, uses."""
        from ..shared import named_images, parallel

        calls: dict[str, Callable[[], Any]] = {"images": self.images, "used": self._used_image_ids}
        if not unused:
            calls["dangling"] = lambda: parse_image_ids(
                self.run("image", "ls", "--filter", "dangling=true", "--quiet", "--no-trunc").stdout
            )
        got = parallel(calls)
        names: dict[str, list[str]] = {}
        for r in got["images"]:
            own = docker_image_id(r)  # the ID docker lists, prunes and prints
            if own:
                names.setdefault(own, []).extend([r.ref] if r.ref else [])
        keep = got["used"]
        wanted = set(got["dangling"]) if not unused else set(names)
        doomed = [(i, refs) for i, refs in names.items() if i in wanted and i not in keep]
        kind = "unused" if unused else "dangling"
        argv = self.argv("image", "prune", "--force", *(["--all"] if unused else []))
        if not doomed:
            return Plan(
                f"remove {kind} images from docker's store",
                [],
                lambda: None,
                note="every one is used by a container" if wanted else f"there are no {kind} images",
            )
        what = (
            f"remove {len(doomed)} {kind} image{'s' if len(doomed) > 1 else ''} from docker's store "
            f"({named_images(doomed)})"
        )
        candidates = [i for i, _ in doomed]

        def execute() -> list[str]:
            self.fresh_deadline()
            removed = parse_pruned(self.run_argv(argv).stdout)
            return [i for i in candidates if i in removed]  # "deleted:" lines name layers too

        return Plan(
            what,
            [argv],
            execute,
            destructive=True,
            note="what docker removes is decided again when it runs, with the images and containers there are then",
        )
