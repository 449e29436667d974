"""podman's images: listing (the rootful store through podman, the rootless ones from their
files), layers, inspect, and the plans that change them (rmi, tag, pull, load, save, prune,
copy's export/import), on the rootful store only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import NotFound
from ...model import CopyKind, ImageRecord, ImageTarget, LayerCopy, LayerRecord, Plan
from ...runner import not_understood
from ..cstorage import stored_items
from ..shared import match_images, named_images, parallel
from .common import PodmanBase
from .discover import PodmanStore
from .parse import (
    image_layers,
    load_json,
    parse_images,
    parse_loaded,
    parse_pruned,
    store_images,
)


class PodmanImages(PodmanBase):
    """Images in podman's stores."""

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        """One ``podman images --all --format json`` on the rootful store (``--all``: the
        intermediate images too, as the store's images.json holds them, so that a rootful and a
        rootless store are listed alike and every image that holds layers shows), then each
        rootless store's images.json and layers.json, read-only. No store: no rows, no call."""
        self.rootless()  # where the stores are, before any call: a passwd file it cannot read stops here
        return self.rootful_images() + self.rootless_images()

    def rootful_images(self) -> list[ImageRecord]:
        store = self.rootful()
        if not store.exists:
            return []
        result = self.run("images", "--all", "--format", "json")
        try:
            return parse_images(load_json(result) if result.stdout.strip() else [], store.store())
        except ValueError as exc:
            raise not_understood(result, str(exc), None) from None

    def rootless_images(self) -> list[ImageRecord]:
        out = []
        for store in self.rootless():
            out.extend(store_images(self.files(store), store.store()))
        return out

    def owner_of(self, record: ImageRecord) -> PodmanStore | None:
        """The rootless store a record is from (None: the rootful one)."""
        daemon = record.store.daemon if record.store else None
        return next((s for s in self.rootless() if s.store().daemon == daemon), None)

    def image_target(self, ref: str, records: Sequence[ImageRecord], where: str) -> ImageTarget:
        """The image in the rootful store, else the one in a user's rootless store (which only
        ``save`` and ``copy`` read, through podman's read-only additional image store; every change
        there is refused: :meth:`_changes`)."""
        rootful = [r for r in records if self.owner_of(r) is None]
        if match_images(rootful, ref)[0] or not match_images(records, ref)[0]:
            return super().image_target(ref, rootful, where)
        owner = self.owner_of(match_images(records, ref)[0][0])
        assert owner is not None
        theirs = [r for r in records if self.owner_of(r) == owner]
        return super().image_target(ref, theirs, where)

    def stores_at(self, graphroot: str) -> bool:
        """The rootful store is the one on ``graphroot`` (CRI-O's, when they share it)."""
        import os

        store = self.rootful()
        return store.exists and os.path.realpath(store.graphroot) == os.path.realpath(graphroot)

    def store_of(self, ref: str) -> PodmanStore | None:
        """The rootless store whose image ``ref`` (a name or an id) is, when the rootful store has
        no such image (None: the rootful store's, or nowhere). One listing per adapter, however
        many images an operation names (dropped by ``forget()`` after a change)."""
        if "_listing" not in self.__dict__:
            self.__dict__["_listing"] = self.images()
        rows = self.__dict__["_listing"]
        found = match_images(rows, ref)[0]
        if not found or any(self.owner_of(r) is None for r in found):
            return None
        return self.owner_of(found[0])

    def _changes(self, image: ImageTarget, doing: str) -> None:
        """Refuse a change to an image of a user's store (ctrtool never writes a user's store)."""
        owner = self.store_of(image.ref or image.id or "")
        if owner is not None:
            raise self.refuse_rootless(owner, f"{doing} image {image.ref}")

    def reading(self, ref: str) -> list[str]:
        """podman's flags that read an image of a user's store without writing it: the store as
        a read-only additional image store of the rootful one (``--storage-opt
        additionalimagestore=``); none for an image of the rootful store."""
        owner = self.store_of(ref)
        return ["--storage-opt", f"additionalimagestore={owner.graphroot}"] if owner is not None else []

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """The image from the listing (one call on the rootful store); its layers from the
        images.json and layers.json of a store that holds it; and each layer's copy in every store
        that has it (an image of its own there may use the same layer): ``<graphroot>/<driver>/<id>/
        diff``. Each store's files are read once."""
        found = match_images(self.images(), ref)[0]
        if not found:
            raise NotFound("image", ref, "podman")
        want = (found[0].id or "").removeprefix("sha256:")
        stores = ([self.rootful()] if self.rootful().exists else []) + self.rootless()
        records: list[LayerRecord] = []
        for store in stores:
            files = self.files(store)
            item = next((i for i in files.images if i.id == want), None)
            if item is not None:
                records = image_layers(files.chain(item.top_layer), store.conf())
                break
        if not records:
            from ...errors import LayoutNotUnderstood

            raise LayoutNotUnderstood(
                f"podman lists image {ref}, but no store's images.json has {want[:12]}", self.rootful().graphroot
            )
        first = records[0].copies[0].path
        for store in stores:
            if first.startswith(store.layers_dir + "/"):
                continue  # the copies found above
            held = {i.key: i.path for i in stored_items(self.files(store), self.name, store.store().words())}
            for record in records:
                if record.chain_id in held:
                    record.copies.append(
                        LayerCopy(
                            backend="podman",
                            namespace=None,
                            kind=CopyKind.UNPACKED,
                            path=held[record.chain_id],
                            seen_by=["podman"],
                        )
                    )
        return records

    def inspect_image(self, image: ImageTarget) -> Any:
        data = load_json(self.run(*self.reading(image.ref or image.id or ""), "image", "inspect", image.ref))
        return data[0] if isinstance(data, list) and data else data

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        self._changes(image, "remove")
        flags = ["--force"] if force else []
        return self._plan(
            f"remove image {image.ref} from podman's store {self.rootful().graphroot}",
            [self.argv("image", "rm", *flags, image.ref)],
            destructive=True,
        )

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        self._changes(image, "tag")
        moved = (
            f", moving {target} away from image {(replaces.id or '?')[:19]} (which keeps its other names, "
            "or is left untagged)"
            if replaces is not None
            else ""
        )
        return self._plan(
            f"tag {image.ref} as {target} (podman){moved}",
            [self.argv("tag", image.ref, target)],
            destructive=replaces is not None,
        )

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        return self._pull_plan(
            self.argv("pull", ref), ref, f"pull {ref} into podman's store {self.rootful().graphroot}"
        )

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        argv = self.argv("load", "--input", path)

        def execute() -> list[str]:
            return parse_loaded(self.run_argv(argv, bounded=False).stdout)

        moved = f", replacing {', '.join(replaces)} (now other images)" if replaces else ""
        return Plan(
            f"load {path} into podman's store {self.rootful().graphroot}{moved}",
            [argv],
            execute,
            destructive=bool(replaces),
        )

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        self.require_store([])
        # a docker-archive of several images needs --multi-image-archive (podman saves one otherwise)
        flags = ["--multi-image-archive"] if len(images) > 1 else []
        stores = {tuple(self.reading(i.ref or i.id or "")) for i in images}
        if len(stores) > 1:
            from ...errors import UsageError

            raise UsageError(
                "these images are in different podman stores (the rootful one, users' rootless ones)",
                "save the images of each store into an archive of its own",
            )
        (opts,) = stores
        owner = self.store_of(images[0].ref or images[0].id or "") if opts else None
        where = f"user {owner.user}'s rootless store (read only)" if owner is not None else "podman"
        return self._save_plan(
            f"save {', '.join(i.ref for i in images)} from {where}",
            self.argv(*opts, "save", "--format", "docker-archive", *flags, *(i.ref for i in images)),
            path,
        )

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        return self.argv(*self.reading(ref), "save", "--format", "docker-archive", ref)

    def import_argv(self, namespace: str | None) -> list[str]:
        return self.argv("load")

    def parse_import(self, stdout: str) -> list[str]:
        return parse_loaded(stdout)

    def _used_image_ids(self) -> set[str]:
        """The image IDs of all containers, in any state (what `podman image prune` keeps): the
        ``ps`` listing names them (one call)."""
        result = self.run("ps", "--all", "--format", "json")
        data = load_json(result) if result.stdout.strip() else []
        if not isinstance(data, list):
            raise not_understood(result, "expected a JSON list", None)
        return {f"sha256:{c['ImageID']}" for c in data if isinstance(c, dict) and isinstance(c.get("ImageID"), str)}

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """``podman image prune --force`` (dangling: unnamed images) or with ``--all`` (every image
        no container uses), on the rootful store. What it would remove is read first."""
        got = parallel({"images": self.rootful_images, "used": self._used_image_ids})
        names: dict[str, list[str]] = {}
        for r in got["images"]:
            if r.id:
                names.setdefault(r.id, []).extend([r.ref] if r.ref else [])
        keep = got["used"]
        wanted = set(names) if unused else {i for i, refs in names.items() if not refs}
        doomed = [(i, refs) for i, refs in names.items() if i in wanted and i not in keep]
        kind = "unused" if unused else "dangling"
        argv = self.argv("image", "prune", "--force", *(["--all"] if unused else []))
        where = f"podman's store {self.rootful().graphroot}"
        if not doomed:
            return Plan(
                f"remove {kind} images from {where}",
                [],
                lambda: None,
                note="every one is used by a container" if wanted else f"there are no {kind} images",
            )
        what = (
            f"remove {len(doomed)} {kind} image{'s' if len(doomed) > 1 else ''} from {where} ({named_images(doomed)})"
        )
        candidates = [i for i, _ in doomed]

        def execute() -> list[str]:
            self.fresh_deadline()
            removed = parse_pruned(self.run_argv(argv).stdout)
            return [i for i in candidates if i in removed]

        return Plan(
            what,
            [argv],
            execute,
            destructive=True,
            note="what podman removes is decided again when it runs, with the images and containers there are then",
        )
