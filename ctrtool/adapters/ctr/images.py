"""ctr's images: listing (one ``images ls`` per namespace, ids and sizes from the content store),
inspect, and the plans that change them (rmi, tag, pull, load, save, prune, copy's export/import)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

from ... import model
from ...errors import Ambiguous, Unsupported
from ...model import CopyKind, ImageRecord, ImageTarget, LayerCopy, LayerRecord, Plan, SizeKind
from ..shared import canonical_ref, chain_ids, parallel
from .common import CtrBase
from .parse import BlobReader, Plugins, load_json, loopback_registry, parse_imported, pick_platform, snapshot_dirs


class CtrImages(CtrBase):
    """Images per namespace, read with ``ctr images`` and containerd's content store."""

    @staticmethod
    def config_digests(content_root: str, digests: Sequence[str]) -> dict[str, str]:
        """manifest or index digest -> the image config's digest, read from the content store on
        disk (for this machine's platform), each distinct digest once."""
        blobs = BlobReader(content_root)
        out = {}
        for digest in dict.fromkeys(digests):
            config, _size = blobs.image_config_and_size(digest, None)
            if config:
                out[digest] = config
        return out

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        """Fast path (``--via auto``, containerd's files readable): ``plugins ls`` and one read of
        meta.db for every namespace. Else ``namespaces ls`` ‖ ``plugins ls``, then ``images ls``
        per namespace in parallel. Either way the manifests on disk give the id and size."""
        fast = self._fast_tables(namespaces)
        if fast is not None:
            names, plugins, tables = fast
            return self._image_records(names, plugins, tables, "metadata")
        names, plugins = self._resolve_namespaces(namespaces, self.__dict__.get("_plugins"))
        tables = parallel({ns: partial(self.image_table, ns) for ns in names})
        return self._image_records(names, plugins, tables, "tool")

    def _image_records(
        self, names: list[str], plugins: Plugins, tables: dict[str, list[dict[str, str]]], source: str
    ) -> list[ImageRecord]:
        root = plugins.snapshotter_roots.get(self.snapshotter)
        content = model.containerd_content(self.endpoint.address, plugins.content_root)
        blobs = BlobReader(plugins.content_root)
        records = []
        for ns in names:
            store = model.containerd_snapshots(self.endpoint.address, ns, root, self.snapshotter)
            unknown = 0
            for row in tables[ns]:
                digest = row["DIGEST"] if row["DIGEST"].startswith("sha256:") else None
                config, size = blobs.image_config_and_size(digest, row.get("TYPE"))
                unknown += config is None
                records.append(
                    ImageRecord(
                        backend=self.name,
                        namespace=ns,
                        ref=row["REF"],
                        id=config,
                        digest=digest,
                        size=size,
                        size_kind=SizeKind.CONTENT,
                        store=store,
                        content=content,
                        source=source,
                    )
                )
            if unknown:
                self.warnings.append(
                    f"ctr: {unknown} image(s) in namespace {ns}: manifest not readable under "
                    f"{plugins.content_root} ({blobs.problem or 'missing'}); their id and size are unknown"
                )
        return records

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """``namespaces ls`` ‖ ``plugins ls``, then ``images ls`` and ``snapshots ls`` for every
        namespace, all in parallel. The image's manifest and config (content store on disk) give
        its compressed blobs and diff ids; the snapshotter's metadata.db maps each namespace's
        snapshot (key = chain id) to its directory."""
        from ...errors import NotFound
        from ..shared import match_images

        names, plugins, got = self._images_and_snapshots(namespaces)
        blobs = BlobReader(plugins.content_root)
        records = []
        for ns in names:
            for row in got[("images", ns)]:
                digest = row["DIGEST"] if row["DIGEST"].startswith("sha256:") else None
                config, _size = blobs.image_config_and_size(digest, row.get("TYPE"))
                records.append(
                    ImageRecord(self.name, ns, row["REF"], config, digest, None, SizeKind.CONTENT, None, None)
                )
        found = [r for ns in names for r in match_images([x for x in records if x.namespace == ns], ref)[0]]
        if not found:
            raise NotFound(
                "image",
                ref,
                "ctr (namespaces " + ", ".join(names) + ")" if len(names) != 1 else f"ctr namespace {names[0]}",
            )
        if len({r.id for r in found}) > 1:
            raise Ambiguous(
                f"{ref!r} names different images in different namespaces",
                [f"{r.ref} in {r.namespace} ({(r.id or '?')[:19]})" for r in found],
                "pick one with -n",
            )
        manifest = blobs.manifest(found[0].digest)
        config_doc = blobs.document(found[0].id) if found[0].id else None
        diff_ids = ((config_doc or {}).get("rootfs") or {}).get("diff_ids")
        if manifest is None or not isinstance(diff_ids, list):
            from ...errors import LayoutNotUnderstood

            raise LayoutNotUnderstood(
                f"the manifest or config of {ref} is not readable in containerd's content "
                f"store ({blobs.problem or 'missing or not JSON'})",
                plugins.content_root,
            )
        layer_blobs = [layer.get("digest") for layer in manifest.get("layers") or []]
        # which namespaces reference each blob: those with an image whose manifest lists it
        referenced: dict[str, list[str]] = {}
        for r in records:
            for layer in (blobs.manifest(r.digest) or {}).get("layers") or []:
                spaces = referenced.setdefault(layer.get("digest"), [])
                if r.namespace and r.namespace not in spaces:
                    spaces.append(r.namespace)
        root = plugins.snapshotter_roots.get(self.snapshotter)
        dirs = snapshot_dirs(root, self.snapshotter) if root else {}
        out = []
        for index, (diff, chain) in enumerate(zip(diff_ids, chain_ids(diff_ids))):
            blob = layer_blobs[index] if index < len(layer_blobs) else None
            copies = []
            for ns in names:
                if got[("snapshots", ns)].get(chain) != "committed":
                    continue
                path = dirs.get((ns, chain))
                if path is None:
                    from ...errors import LayoutNotUnderstood

                    raise LayoutNotUnderstood(
                        f"snapshot {chain} of namespace {ns} is not in the snapshotter's metadata.db",
                        os.path.join(root or "?", "metadata.db"),
                    )
                copies.append(LayerCopy(self.name, ns, CopyKind.UNPACKED, path, namespaces=[ns], seen_by=[self.name]))
            blob_path = blobs.path(blob) if blob else None
            if blob_path and os.path.isfile(blob_path):
                copies.append(
                    LayerCopy(
                        self.name,
                        None,
                        CopyKind.BLOB,
                        blob_path,
                        size=os.path.getsize(blob_path),
                        namespaces=referenced.get(blob or "", []),
                        seen_by=[self.name],
                    )
                )
            out.append(LayerRecord(index, diff, chain, blob, copies))
        return out

    def inspect_image(self, image: ImageTarget) -> Any:
        """ctr has no image inspect: the listing's row, and the manifest and config from
        containerd's content store (``ctr content get``)."""
        ns = image.namespace or "default"
        rows = [r for r in self._table(ns, "images", ("REF", "DIGEST")) if r["REF"] == image.ref]
        if not rows:
            from ...errors import NotFound

            raise NotFound("image", image.ref, f"ctr namespace {ns}")
        row = rows[0]

        def blob(digest: str) -> Any:
            return load_json(self.run(*self.ns_argv(ns, "content", "get", digest)), self.endpoint.address)

        manifest = blob(row["DIGEST"])
        index = None
        if isinstance(manifest, dict) and "manifests" in manifest:
            index = manifest
            chosen = pick_platform(manifest.get("manifests") or [])
            manifest = blob(chosen["digest"]) if chosen else None
        config_digest = ((manifest or {}).get("config") or {}).get("digest")
        return {
            "name": row["REF"],
            "type": row.get("TYPE"),
            "digest": row["DIGEST"],
            "size": row.get("SIZE"),
            "platforms": row.get("PLATFORMS"),
            "labels": row.get("LABELS"),
            "index": index,
            "manifest": manifest,
            "config": blob(config_digest) if config_digest else None,
        }

    def name_for_id(self, record: ImageRecord, tags: list[str]) -> str:
        # ctr knows images by name only
        if len(tags) > 1:
            raise Ambiguous(
                f"{record.id} has {len(tags)} names in ctr namespace {record.namespace}",
                tags,
                "give the name: ctr works on names",
            )
        return record.ref or ""

    def plan_rmi(self, image: ImageTarget, force: bool = False) -> Plan:
        # --sync: containerd's garbage collector has removed what the name alone held when ctr
        # returns, so that what `df` says next is already true
        return self._plan(
            f"remove image {image.ref} from ctr namespace {image.namespace}",
            [self.argv(*self.ns_argv(image.namespace, "images", "rm", "--sync", image.ref))],
            destructive=True,
        )

    def plan_tag(self, image: ImageTarget, target: str, replaces: ImageRecord | None = None) -> Plan:
        # ctr images tag refuses an existing name unless --force; the user has agreed to move it
        force = ["--force"] if replaces is not None else []
        moved = (
            (
                f", moving {target} away from image {(replaces.id or '?')[:19]} (which keeps its other names, "
                f"or is left unnamed)"
            )
            if replaces is not None
            else ""
        )
        return self._plan(
            f"tag {image.ref} as {target} (ctr namespace {image.namespace}){moved}",
            [self.argv(*self.ns_argv(image.namespace, "images", "tag", *force, image.ref, target))],
            destructive=replaces is not None,
        )

    def plan_pull(self, ref: str, namespace: str | None = None) -> Plan:
        ns = self.operation_namespace(namespace)
        full = canonical_ref(ref)  # ctr does not complete "busybox" to docker.io/library/busybox:latest
        # ctr 1.x speaks plain HTTP to a registry on this machine by itself, 2.x only when told:
        # ctrtool tells it for loopback registries only, so that both behave as 1.x (and docker) do
        plain = ["--plain-http"] if loopback_registry(full) else []
        return self._pull_plan(
            self.argv(*self.ns_argv(ns, "images", "pull", *plain, full)), full, f"pull {full} into ctr namespace {ns}"
        )

    def plan_load(self, path: str, namespace: str | None = None, replaces: Sequence[str] = ()) -> Plan:
        ns = self.operation_namespace(namespace)
        # ctr 2.x imports through the transfer service by default, which printed no name at all for
        # an import that moved a tag (seen in the lab); in the client (--local) it says what it unpacked
        argv = self.argv(*self.ns_argv(ns, "images", "import", *self.in_client(), path))

        def execute() -> list[str]:
            return parse_imported(self.run_argv(argv, bounded=False).stdout)

        moved = f", replacing {', '.join(replaces)} (now other images)" if replaces else ""
        return Plan(f"import {path} into ctr namespace {ns}{moved}", [argv], execute, destructive=bool(replaces))

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        ns = self.operation_namespace(namespace)
        argv = self.argv(*self.ns_argv(ns, "images", "export", *self.in_client(), "-", *(i.ref for i in images)))
        return self._save_plan(f"export {', '.join(i.ref for i in images)} from ctr namespace {ns}", argv, path)

    def in_client(self) -> list[str]:
        """``images export`` and ``images import`` flags that move the archive in ctr itself.
        ctr 2.x goes through containerd's transfer service by default, and that stream comes out
        corrupted now and then (a different checksum on each run, "short read" or "unrecognized
        image format" on import; seen with 2.4.2 to a pipe, and, in CI, a `docker save -o FILE`
        translated to ctr that wrote a truncated tar): in the client (--local) it does not. ctr
        1.x has no --local and no transfer service."""
        return ["--local"] if self.client_major() >= 2 else []

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        return self.argv(
            *self.ns_argv(self.operation_namespace(namespace), "images", "export", *self.in_client(), "-", ref)
        )

    def import_argv(self, namespace: str | None) -> list[str]:
        return self.argv(*self.ns_argv(self.operation_namespace(namespace), "images", "import", "-"))

    def parse_import(self, stdout: str) -> list[str]:
        return parse_imported(stdout)

    def plan_prune(self, unused: bool, namespace: str | None = None) -> Plan:
        ns = self.operation_namespace(namespace)
        raise Unsupported(
            "ctr has no prune: containerd removes content no image refers to, but never an image itself",
            f"remove the ones you no longer need by name: ctrtool rmi --backend ctr -n {ns} REF "
            "(`ctrtool images -b ctr` lists them); for namespace k8s.io, "
            "`ctrtool prune --backend crictl --all` removes every image no CRI container uses",
        )
