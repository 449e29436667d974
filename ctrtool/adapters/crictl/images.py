"""The CRI's images through crictl: listing, layers, inspect, and the plans that change them
(rmi, pull, load and save through ctr in the CRI's namespace, prune); the CRI has no tag."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Any

from ... import model
from ...errors import InvalidState, NotFound, Unsupported
from ...facts import CriImage
from ...model import CopyKind, ImageRecord, ImageTarget, LayerCopy, LayerRecord, Plan, State
from ...runner import not_understood
from ..shared import canonical_ref, chain_ids, parallel
from .common import CrictlBase
from .parse import (
    cri_namespace,
    load_json,
    parse_deleted,
    parse_images,
    prune_candidates,
    sandbox_image,
    snapshotter_of_root,
    uses_image,
)


class CrictlImages(CrictlBase):
    """Images as the CRI sees them (containerd namespace k8s.io)."""

    def image_list(self) -> Any:
        """``crictl images -o json`` as crictl prints it (images with repoTags, pinned, ...)."""
        return self._json("images")

    def cri_images(self) -> list[CriImage]:
        """``crictl images -o json``, typed."""
        got = self.image_list()
        rows = got.get("images") if isinstance(got, dict) else None
        return [
            CriImage(
                i.get("id"),
                [t for t in i["repoTags"] if isinstance(t, str)] if isinstance(i.get("repoTags"), list) else None,
                i.get("pinned"),
            )
            for i in rows or []
            if isinstance(i, dict)
        ]

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        got = parallel(
            {"images": lambda: self.run("images", "--output", "json"), "version": self.version, "fs": self.imagefs}
        )
        namespace = cri_namespace(got["version"])
        if namespaces and namespace not in namespaces:
            return []
        result = got["images"]
        fs = got["fs"]
        address = self.endpoint.image_address or self.endpoint.address
        store = content = None
        if namespace:  # containerd: the snapshotter's root is <root>/io.containerd.snapshotter.v1.<name>
            snapshotter = snapshotter_of_root(fs)
            store = model.containerd_snapshots(address, namespace, fs, snapshotter)
            content = model.containerd_content(
                address, os.path.join(os.path.dirname(fs), "io.containerd.content.v1.content") if fs else None
            )
        elif fs:
            store = self.runtime_store(fs)
        try:
            return parse_images(load_json(result, self.endpoint.address), namespace, store, content)
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """``images -o json`` ‖ ``version`` ‖ ``imagefsinfo`` (the image, the namespace, the
        snapshotter's root), then one ``inspecti`` of that image (its diff ids). The CRI's unpacked
        layers are containerd's snapshots in its namespace: the snapshotter's metadata.db maps them
        to directories (the same copies ``ctr -n k8s.io`` sees). crictl does not say where the
        compressed blobs are: those come from ctr."""
        from ..ctr import snapshot_dirs
        from ..shared import match_images

        records = self.images(namespaces)
        found = match_images(records, ref)[0]
        namespace = found[0].namespace if found else None
        if not found:
            raise NotFound("image", ref, "crictl" + (f" ({records[0].namespace})" if records else ""))
        image = found[0]
        data = self._inspect("inspecti", image.id or image.ref or ref)
        info = (data or {}).get("info") or {}
        diff_ids = (((info.get("imageSpec") or {}).get("rootfs")) or {}).get("diff_ids")
        if not isinstance(diff_ids, list):
            from ...errors import OutputNotUnderstood

            raise OutputNotUnderstood(
                self.binary, "`inspecti` gave no info.imageSpec.rootfs.diff_ids", None, endpoint=self.endpoint.address
            )
        if namespace is None:
            return self._storage_layers(image, diff_ids)
        root = image.store.path if image.store else None
        if not root:
            raise Unsupported("crictl's runtime is not containerd with a snapshotter ctrtool knows")
        # the snapshotter's root is <containerd root>/io.containerd.snapshotter.v1.<name>
        dirs = snapshot_dirs(root, os.path.basename(root).rsplit(".", 1)[-1])
        out = []
        for index, (diff, chain) in enumerate(zip(diff_ids, chain_ids(diff_ids))):
            path = dirs.get((namespace, chain))
            copies = (
                [LayerCopy(self.name, namespace, CopyKind.UNPACKED, path, namespaces=[namespace], seen_by=[self.name])]
                if path
                else []
            )
            out.append(LayerRecord(index, diff, chain, None, copies))
        return out

    def _storage_layers(self, image: ImageRecord, diff_ids: list[Any]) -> list[LayerRecord]:
        """CRI-O: the image's layers in its containers/storage store, read from the store's own
        metadata (images.json: the top layer; layers.json: each layer's parent and diff digest),
        each unpacked once under ``<graphroot>/<driver>/<layer id>/diff``."""
        from ..cstorage import layer_dir, read

        conf = self.storage_conf(self.imagefs())
        contents = read(conf)
        stored = contents.find_image(image.id or "")
        if stored is None:
            raise NotFound("image", image.ref or image.id or "?", f"crictl's store {conf.graphroot}")
        chain = contents.chain(stored.top_layer)
        digests = [layer.diff_digest or "" for layer in chain]
        if [str(d) for d in diff_ids] != digests:
            from ...errors import LayoutNotUnderstood

            raise LayoutNotUnderstood(
                f"image {stored.id[:12]}'s layers in the store are not the diff ids crictl gave", conf.graphroot
            )
        out = []
        for index, (layer, chain_id) in enumerate(zip(chain, chain_ids(digests))):
            path = layer_dir(conf, layer.id)
            copies = [LayerCopy(self.name, None, CopyKind.UNPACKED, path, seen_by=[self.name])]
            out.append(LayerRecord(index, layer.diff_digest or "", chain_id, None, copies))
        return out

    def inspect_image(self, image: ImageTarget) -> Any:
        return self._inspect("inspecti", image.id or image.ref)

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        """``crictl rmi``: the CRI removes an image even while a container runs from it, so ctrtool
        looks first (one ``ps -a``): a running container's image is refused without ``--force``,
        and the question names every container that uses it."""
        names = ", ".join(t for t in image.tags if not t.startswith("sha256:")) or image.ref
        users = [c for c in self.containers() if uses_image(c, image)]
        running = [c for c in users if c.state == State.RUNNING]
        if running and not force:
            raise InvalidState(
                f"image {image.ref} is used by running CRI container(s) "
                f"{', '.join(f'{c.name} ({c.id[:13]}, pod {c.pod or c.pod_id})' for c in running)}: "
                "crictl would remove it from under them",
                "stop them first (the kubelet restarts a pod's containers: delete the pod), or add --force "
                "to remove the image anyway",
            )
        using = (
            "; containers that use it: " + ", ".join(f"{c.name} ({c.state}, pod {c.pod or c.pod_id})" for c in users)
            if users
            else ""
        )
        return self._plan(
            f"remove image {image.ref} from the CRI ({image.namespace or 'its store'}): "
            f"the CRI removes the whole image, every name of it ({names}){using}",
            [self.argv("rmi", image.ref)],
            destructive=True,
        )

    def moves_through(self) -> tuple[str, str | None]:
        """containerd: ctr in the CRI's namespace. CRI-O: the backend whose tool writes CRI-O's
        containers/storage store (rootful podman on the same graph root); none: Unsupported."""
        namespace = cri_namespace(self.version())
        if namespace is not None:
            return super().moves_through()
        from ... import registry
        from .. import adapter_class
        from ..cstorage import conf_of_images_dir

        fs = self.imagefs()
        conf = conf_of_images_dir(fs) if fs else None
        if conf is None:
            raise Unsupported("crictl's runtime keeps its images where ctrtool knows no tool that writes them")
        for name in registry.BACKENDS:
            if name != self.name and registry.descriptor(name).archives:
                adapter = adapter_class(name)(self.settings)
                if adapter.stores_at(conf.graphroot):
                    return name, None
        raise Unsupported(
            f"no tool here writes the CRI runtime's store (containers/storage, graph root {conf.graphroot})",
            "point rootful podman at it (graphroot in /etc/containers/storage.conf, or CONTAINERS_STORAGE_CONF): "
            "`ctrtool doctor --check snapshotter` gives the line",
        )

    def _store_hint(self, args: Sequence[str]) -> str | None:
        """On a CRI runtime that is not containerd (CRI-O): how to do it in its containers/storage
        store instead, with podman on the same graph root; None on containerd."""
        from ..cstorage import conf_of_images_dir

        if cri_namespace(self.version()) is not None:
            return None
        fs = self.imagefs()
        conf = conf_of_images_dir(fs) if fs else None
        root = f" (graph root {conf.graphroot})" if conf else ""
        return (
            f"the CRI's runtime keeps its images in containers/storage{root}: with podman on the same graph "
            f"root (`ctrtool info -A` shows both), {shlex.join(['ctrtool', *args])}"
        )

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        # ctr works on names: given an image ID, the hint names the image by one of its names (ctr
        # refuses an ID with several names)
        name = next((t for t in image.tags if not t.startswith("sha256:")), image.ref)
        raise Unsupported(
            "crictl cannot tag images: the CRI has no tag call",
            self._store_hint(["tag", "--backend", "podman", name, target])
            or "the CRI sees containerd namespace k8s.io: "
            + shlex.join(["ctrtool", "tag", "--backend", "ctr", "-n", "k8s.io", name, target]),
        )

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        return self._pull_plan(self.argv("pull", ref), ref, f"pull {ref} through the CRI")

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        raise Unsupported(
            "crictl cannot load images: the CRI has no import call",
            self._store_hint(["load", "--backend", "podman", path])
            or "import it into containerd namespace k8s.io, the one the kubelet sees: "
            f"ctrtool load --backend ctr -n k8s.io {path}  (runs: ctr -n k8s.io images import {path})",
        )

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        refs = " ".join(i.ref for i in images)
        raise Unsupported(
            "crictl cannot save images: the CRI has no export call",
            self._store_hint(["save", "--backend", "podman", "-o", path, *(i.ref for i in images)])
            or f"export them from containerd namespace k8s.io: ctrtool save --backend ctr -n k8s.io "
            f"-o {path} {refs}  (runs: ctr -n k8s.io images export {path} {refs})",
        )

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        """``crictl rmi --prune``: every image no container (in any state) uses, except pinned ones.
        The CRI has no dangling-only mode, so that needs ``unused`` (--all). crictl counts containers
        only, not pod sandboxes: the sandbox (pause) image goes too unless the runtime pins it."""
        from ..shared import named_images

        if not unused:
            raise Unsupported(
                "crictl cannot remove only the dangling (untagged) images: `crictl rmi --prune` "
                "removes every image no container uses",
                "add --all to remove every unused image; or remove untagged ones one by one: "
                "ctrtool rmi --backend crictl ID  (`ctrtool images -b crictl` lists them)",
            )
        got = parallel(
            {
                "images": lambda: self.run("images", "--output", "json"),
                "ps": lambda: self.run("ps", "--all", "--output", "json"),
                "info": lambda: self.run("info", "--output", "json", check=False),
                "version": self.version,
            }
        )
        listed = {key: load_json(got[key], self.endpoint.address) for key in ("images", "ps")}
        try:
            doomed = prune_candidates(listed["images"], listed["ps"])
        except ValueError as exc:
            raise not_understood(
                got["images" if "images" in str(exc) else "ps"], str(exc), self.endpoint.address
            ) from None
        argv = self.argv("rmi", "--prune")
        namespace = cri_namespace(got["version"])
        where = f"through the CRI in {namespace}" if namespace else "through the CRI, in its runtime's store"
        if not doomed:
            return Plan(
                f"remove the images no container uses {where}",
                [],
                lambda: None,
                note="every image is used by a container or pinned"
                if listed["images"]["images"]
                else "there are no images",
            )
        # only to warn about the sandbox image: without `crictl info` the list is still right
        sandbox = sandbox_image(got["info"].stdout if got["info"].returncode == 0 else "{}", listed["images"])
        what = (
            f"remove {len(doomed)} image{'s' if len(doomed) > 1 else ''} no container uses {where} "
            f"({named_images([(i, names) for i, names, _digests in doomed])})"
        )
        if sandbox and any(sandbox in {canonical_ref(n) for n in names} for _i, names, _d in doomed):
            what += f", the sandbox (pause) image {sandbox} among them (new pods need it)"

        def execute() -> list[str]:
            self.fresh_deadline()
            removed = set(parse_deleted(self.run_argv(argv).stdout))
            return [i for i, names, digests in doomed if removed & {i, *names, *digests}]

        return Plan(
            what,
            [argv],
            execute,
            destructive=True,
            note="what crictl removes is decided again when it runs, with the images and containers there are then",
        )
