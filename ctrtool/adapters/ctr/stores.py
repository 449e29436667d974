"""containerd's stores as ctr reaches them: namespaces, plugins (the content store's and the
snapshotters' roots), meta.db, snapshots, disk usage, the byte account's roots, orphans, info."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ...facts import Answer, Plugin, Unpacked
from ...model import BackendInfo, CopyKind, ImageStore, Plan, StoredItem
from ...runner import not_understood
from ..shared import chain_ids, is_image_layer, parallel
from .common import CtrBase
from .parse import BlobReader, Plugins, parse_lines, parse_table, parse_version, snapshot_dirs


class CtrStores(CtrBase):
    """Namespaces, plugins, snapshots, meta.db and what is on disk."""

    # -- queries ---------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        return parse_lines(self.run("namespaces", "ls", "--quiet").stdout)

    def account_roots(self) -> list[tuple[str, Callable[[], Any]]]:
        """containerd's root (the content store's parent), classified from meta.db (read-only).
        ``plugins ls`` once per adapter: df's listing has asked it already."""
        plugins = self.__dict__.get("_plugins") or self.plugins()
        self.__dict__["_plugins"] = plugins
        root = plugins.root
        if not root:
            return []

        def classify() -> Any:
            from ..containerd_account import classify

            return classify(root, plugins.content_root, plugins.snapshotter_roots)

        return [(root, classify)]

    def layout(self) -> Plugins:
        """containerd's directories: its content store and each snapshotter's root (one call)."""
        return self.plugins()

    # -- facts for `ctrtool doctor` ----------------------------------------------------------------
    def plugin_rows(self) -> list[dict[str, str]]:
        """``ctr plugins ls``: one row per plugin (TYPE, ID, PLATFORMS, STATUS: ok, skip, error)."""
        result = self.run("plugins", "ls")
        try:
            return parse_table(result.stdout, required=("TYPE", "ID", "STATUS"))
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def containerd_plugins(self) -> list[Plugin]:
        """``ctr plugins ls``, typed."""
        return [Plugin(r["TYPE"], r["ID"], r["STATUS"], r.get("PLATFORMS", "")) for r in self.plugin_rows()]

    def versions(self) -> dict[str, str]:
        """``ctr version``: {"client": ..., "server": ...}."""
        return parse_version(self.run("version").stdout)

    def answer(self) -> Answer:
        """``ctr version``: containerd's version (the server's)."""
        return Answer("version", version=self.versions().get("server"), runtime="containerd")

    def unpacked(self, namespace: str) -> list[Unpacked]:
        """Each image of one namespace and the snapshotters that hold its top layer (its chain id)
        as a committed snapshot: ``plugins ls -d`` ‖ ``plugins ls`` ‖ ``images ls``, then ``snapshots
        ls`` for every snapshotter that loaded (status ok), in parallel; manifests and configs from
        the content store on disk."""
        got = parallel(
            {"plugins": self.plugins, "rows": self.plugin_rows, "images": partial(self.image_table, namespace)}
        )
        plugins: Plugins = got["plugins"]
        names = sorted(
            r["ID"] for r in got["rows"] if r["TYPE"] == "io.containerd.snapshotter.v1" and r["STATUS"].lower() == "ok"
        )
        keys = parallel({name: partial(self.snapshot_keys, namespace, name) for name in names})
        blobs = BlobReader(plugins.content_root)
        out = []
        for row in got["images"]:
            digest = row["DIGEST"] if row["DIGEST"].startswith("sha256:") else None
            config, _size = blobs.image_config_and_size(digest, row.get("TYPE"))
            doc = blobs.document(config) if config else None
            diff_ids = ((doc or {}).get("rootfs") or {}).get("diff_ids")
            top = chain_ids(diff_ids)[-1] if isinstance(diff_ids, list) and diff_ids else None
            platform = "/".join(str((doc or {}).get(k)) for k in ("os", "architecture") if (doc or {}).get(k)) or None
            out.append(
                Unpacked(
                    ref=row["REF"],
                    id=config,
                    top_layer=top,
                    platform=platform,
                    snapshotters=[name for name in names if top and keys[name].get(top) == "committed"],
                )
            )
        return out

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """``namespaces ls`` ‖ ``plugins ls``, then ``images ls`` and ``snapshots ls`` for every
        namespace, all in parallel; the snapshotter's metadata.db read once for every directory.
        Each namespace's committed snapshots are its unpacked layers; the blobs are those the
        images refer to (index, manifest, config, layers), each listed once with the namespaces
        that refer to it."""
        from ...errors import LayoutNotUnderstood

        names, plugins, got = self._images_and_snapshots(namespaces)
        root = plugins.snapshotter_roots.get(self.snapshotter)
        out: list[StoredItem] = []
        if root and any(got[("snapshots", ns)] for ns in names):
            dirs = snapshot_dirs(root, self.snapshotter)
            for ns in names:
                for key, kind in sorted(got[("snapshots", ns)].items()):
                    path = dirs.get((ns, key))
                    if path is None:
                        raise LayoutNotUnderstood(
                            f"snapshot {key} of namespace {ns} is not in the snapshotter's metadata.db",
                            os.path.join(root, "metadata.db"),
                        )
                    layer = CopyKind.UNPACKED if kind == "committed" and is_image_layer(key) else CopyKind.CONTAINER
                    out.append(StoredItem(self.name, ns, layer, key, path, root, seen_by=[self.name]))
        blobs = BlobReader(plugins.content_root)
        referenced: dict[str, list[str]] = {}
        for ns in names:
            for row in got[("images", ns)]:
                digest = row["DIGEST"] if row["DIGEST"].startswith("sha256:") else None
                for d in blobs.referenced(digest):
                    spaces = referenced.setdefault(d, [])
                    if ns not in spaces:
                        spaces.append(ns)
        for digest, spaces in referenced.items():
            path = blobs.path(digest)
            if path and os.path.isfile(path):
                out.append(
                    StoredItem(
                        self.name,
                        None,
                        CopyKind.BLOB,
                        digest,
                        path,
                        plugins.content_root or "",
                        size=os.path.getsize(path),
                        namespaces=spaces,
                        seen_by=[self.name],
                    )
                )
        return out

    def plan_reclaim(self, orphans: Sequence[Any]) -> Plan:
        """Remove what nothing needs through containerd's API (never a directory by hand): a
        snapshot record (``snapshots rm``; children first), a content record (``content rm``), a
        lease (``leases rm --sync``). When records went, a last lease created and removed with
        --sync makes containerd's garbage collector run now, so the bytes are gone when ctrtool
        returns."""

        commands: list[list[str]] = []
        spaces: list[str] = []
        for o in orphans:
            if o.kind == "snapshot":
                args = ["snapshots", "--snapshotter", o.snapshotter, "rm", o.key]
            elif o.kind == "content":
                args = ["content", "rm", o.key]
            else:
                args = ["leases", "rm", "--sync", o.key]
            commands.append(self.argv(*self.ns_argv(o.namespace, *args)))
            if o.kind != "lease" and o.namespace not in spaces:
                spaces.append(o.namespace)
        for ns in spaces[:1]:
            sweep = f"ctrtool-sweep-{secrets.token_hex(4)}"
            commands.append(self.argv(*self.ns_argv(ns, "leases", "create", "--id", sweep, "--expires", "1m")))
            commands.append(self.argv(*self.ns_argv(ns, "leases", "rm", "--sync", sweep)))
        return self._plan(
            "remove what nothing needs: " + ", ".join(o.spec for o in orphans), commands, destructive=True
        )

    def info(self) -> BackendInfo:
        got = parallel({"version": lambda: self.run("version").stdout, "ns": self.namespaces, "plugins": self.plugins})
        names, plugins = got["ns"], got["plugins"]
        meta = self.metadata(plugins)
        if meta is not None:  # the fast path: every namespace's names from meta.db, no more calls
            counts = {ns: len(meta.images.get(ns, [])) for ns in names}
        else:
            listed = parallel({ns: partial(self.image_names, ns) for ns in names})
            counts = {ns: len(refs) for ns, refs in listed.items()}
        return BackendInfo(
            backend=self.name,
            version=parse_version(got["version"]).get("server"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=plugins.root,
            state=None,  # containerd does not export its state directory to ctr
            storage_driver=self.snapshotter,
            store=plugins.snapshotter_roots.get(self.snapshotter),
            content_store=plugins.content_root,
            namespaces=names,
            image_count=sum(counts.values()),
            namespace_image_counts=counts,
            image_store=ImageStore.CONTAINERD,
            containerd=self.endpoint.address,
        )
