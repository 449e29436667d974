"""ctr: containerd's own client. Images live per namespace; blobs are shared in the content store,
unpacked snapshots are per namespace under the snapshotter's root.

ctr prints text tables only (it calls itself an unsupported debug client), so this module parses
them by their header columns and is tested on recorded output.

Calls per ``images``: ``ctr namespaces ls -q`` and ``ctr plugins ls -d`` (in parallel), then one
``ctr -n NS images ls`` per namespace, all namespaces in parallel. The image id (config digest) and
the exact size in bytes are read from the manifest blobs in containerd's content store on disk
(``ctr images ls`` only prints a rounded size), one small file per distinct manifest.

Calls per ``ps``: ``ctr namespaces ls -q``, then ``containers ls`` and ``tasks ls`` for every
namespace, all in parallel. A ctr container runs as a task: start, stop and rm work on the task
(``tasks start/kill/delete``) and then, for rm, the container. ctr has no logs and no image inspect.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .. import model
from ..errors import Ambiguous, InvalidState, PermissionDenied, ToolError, Unreachable, Unsupported
from ..facts import Answer, Plugin, Unpacked
from ..model import (
    BackendInfo,
    ContainerRecord,
    CopyKind,
    ImageRecord,
    ImageTarget,
    LayerCopy,
    LayerRecord,
    Plan,
    SizeKind,
    State,
    StoredItem,
)
from ..runner import not_understood
from . import discovery
from .base import Adapter, canonical_ref, chain_ids, is_image_layer, parallel, stderr_mentions
from .descriptor import Descriptor, NamespaceRule

DEFAULT_SNAPSHOTTER = "overlayfs"  # ctr's default on Linux; CONTAINERD_SNAPSHOTTER overrides it

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


@dataclass
class Plugins:
    """What ``ctr plugins ls -d`` tells about storage."""

    content_root: str | None = None
    snapshotter_roots: dict[str, str] = field(default_factory=dict)
    failed_snapshotters: set[str] = field(default_factory=set)
    metadata_db: str | None = None  # the metadata plugin's bolt file (it exports its path)

    @property
    def root(self) -> str | None:
        """containerd's root directory: the parent of the content store's root."""
        return os.path.dirname(self.content_root) if self.content_root else None


DESCRIPTOR = Descriptor(
    name="ctr",
    module="ctr",
    discover=discovery.containerd,
    cls="CtrAdapter",
    tool="ctr",
    role="containerd's own client: every namespace of one containerd, its content store and snapshots",
    namespace_rule=NamespaceRule.ALL,
    namespace="default",
    owns_namespace=False,
    selects_namespace=True,
    env=("CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE"),
    config_keys={"address": str, "namespace": str, "binary": str},
    # containerd's own, k3s and RKE2 (both at /run/k3s/containerd), and the containerd that dockerd
    # starts for itself when none is given
    default_sockets=(
        "/run/containerd/containerd.sock",
        "/run/k3s/containerd/containerd.sock",
        "/run/docker/containerd/containerd.sock",
    ),
    daemon="containerd",
    endpoint_hint="set CONTAINERD_ADDRESS, pass --address, or set ctr.address in the ctrtool config file",
)


class CtrAdapter(Adapter):
    name = "ctr"
    # meta.db as read changes with every change (plugins, and blobs by digest, do not)
    cached = ("_metadata",)
    noise = (r'level=warning msg="DEPRECATION: The support for cgroup v1 is deprecated',)

    def connection_args(self) -> list[str]:
        return ["--address", _strip_unix(self.endpoint.require())]

    def ns_argv(self, namespace: str | None, *args: str) -> list[str]:
        return ["--namespace", namespace or "default", *args]

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(
            stderr, "failed to dial", "connection error", "transport: error while dialing", "cannot access socket"
        ):  # the last: ctr 2.x, when the socket is not there
            detail = _first_line(stderr)
            if stderr_mentions(stderr, "permission denied"):
                return PermissionDenied(self.binary, self.endpoint.address, detail)
            return Unreachable(
                self.binary,
                self.endpoint.address,
                detail,
            )
        return None

    @property
    def snapshotter(self) -> str:
        return self.settings.env.get("CONTAINERD_SNAPSHOTTER") or DEFAULT_SNAPSHOTTER

    # -- queries ---------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        return parse_lines(self.run("namespaces", "ls", "--quiet").stdout)

    def plugins(self) -> Plugins:
        result = self.run("plugins", "ls", "--detailed")
        plugins = parse_plugins(result.stdout)
        if plugins.content_root is None:
            raise not_understood(result, "no content plugin with a root directory", self.endpoint.address)
        return plugins

    def account_roots(self) -> list[tuple[str, Callable[[], Any]]]:
        """containerd's root (the content store's parent), classified from meta.db (read-only).
        ``plugins ls`` once per adapter: df's listing has asked it already."""
        plugins = self.__dict__.get("_plugins") or self.plugins()
        self.__dict__["_plugins"] = plugins
        root = plugins.root
        if not root:
            return []

        def classify() -> Any:
            from .containerd_account import classify

            return classify(root, plugins.content_root, plugins.snapshotter_roots)

        return [(root, classify)]

    def layout(self) -> Plugins:
        """containerd's directories: its content store and each snapshotter's root (one call)."""
        return self.plugins()

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

    def image_table(self, namespace: str) -> list[dict[str, str]]:
        result = self.run(*self.ns_argv(namespace, "images", "ls"))
        try:
            return parse_table(result.stdout, required=("REF", "DIGEST"))
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def image_names(self, namespace: str) -> list[str]:
        return parse_lines(self.run(*self.ns_argv(namespace, "images", "ls", "--quiet")).stdout)

    def _images_and_snapshots(self, namespaces: Sequence[str] | None) -> tuple[list[str], Plugins, dict]:
        """Namespaces, plugins, and per namespace its image table and snapshot keys, all listed in
        parallel: got[("images", ns)], got[("snapshots", ns)]."""
        fast = self._fast_tables(namespaces)
        if fast is not None:
            names, plugins, tables = fast
            keys = self._fast_snapshot_keys(plugins, names)
            if keys is not None:
                got: dict[Any, Any] = {("images", ns): tables[ns] for ns in names}
                got.update({("snapshots", ns): keys[ns] for ns in names})
                self.__dict__["_plugins"] = plugins  # the byte account's roots come from it too
                return names, plugins, got
        names, plugins = self._resolve_namespaces(namespaces, self.__dict__.get("_plugins"))
        self.__dict__["_plugins"] = plugins
        calls: dict[Any, Any] = {}
        for ns in names:
            calls[("images", ns)] = partial(self.image_table, ns)
            calls[("snapshots", ns)] = partial(self.snapshot_keys, ns)
        return names, plugins, parallel(calls)

    def _resolve_namespaces(
        self, namespaces: Sequence[str] | None, plugins: Plugins | None = None
    ) -> tuple[list[str], Plugins]:
        if namespaces:
            return list(namespaces), plugins or self.plugins()
        if plugins is not None:  # already asked (the fast path's attempt)
            return self.namespaces(), plugins
        got = parallel({"ns": self.namespaces, "plugins": self.plugins})
        return got["ns"], got["plugins"]

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

    # -- the fast path: containerd's metadata read directly -------------------------------------
    def metadata(self, plugins: Plugins) -> Any:
        """containerd's meta.db (:class:`.metadata.Metadata`), read once per adapter, or None when
        the tools must be asked: ``--via tools``, containerd's root not on this machine or not
        readable (not root), or a file or schema ctrtool does not read (with a warning)."""
        if "_metadata" in self.__dict__:
            return self.__dict__["_metadata"]
        meta = None
        if self.settings.via != "tools" and (plugins.metadata_db or plugins.root):
            from .boltdb import BoltError
            from .metadata import meta_db_path, read_metadata

            path = plugins.metadata_db or meta_db_path(plugins.root or "")
            try:
                meta = read_metadata(path)
            except OSError:
                meta = None  # not on this machine, or not root: ctr reads it through containerd
            except BoltError as exc:  # SchemaUnsupported included
                self.warnings.append(f"ctr: containerd's metadata not read directly ({path}: {exc}); listed with ctr")
        self.__dict__["_metadata"] = meta
        return meta

    def _fast_tables(self, namespaces: Sequence[str] | None) -> tuple[list[str], Plugins, dict] | None:
        """(namespaces, plugins, namespace -> image rows as ``images ls`` gives them) from meta.db,
        or None (the tools). Costs one ``plugins ls``, which the tool path needs too."""
        if self.settings.via == "tools":
            return None
        if "_plugins" not in self.__dict__:
            self.__dict__["_plugins"] = self.plugins()
        plugins = self.__dict__["_plugins"]
        meta = self.metadata(plugins)
        if meta is None:
            return None
        names = list(namespaces) if namespaces else meta.namespaces
        tables = {
            ns: [
                {"REF": i.name, "DIGEST": i.digest or "-", "TYPE": i.media_type or "-"} for i in meta.images.get(ns, [])
            ]
            for ns in names
        }
        return names, plugins, tables

    def _fast_snapshot_keys(self, plugins: Plugins, names: list[str]) -> dict[str, dict[str, str]] | None:
        """namespace -> {key: kind} as ``snapshots ls`` gives them (committed and active only): the
        keys of meta.db joined with the snapshotter's metadata.db by its own name for each; None
        when that cannot be read (the tools then)."""
        from .boltdb import BoltError, read_snapshots

        meta = self.metadata(plugins)
        root = plugins.snapshotter_roots.get(self.snapshotter)
        if meta is None or not root:
            return None
        try:
            kinds = {e.name: e.kind for e in read_snapshots(os.path.join(root, "metadata.db"))}
        except (OSError, BoltError):
            return None
        out = {}
        for ns in names:
            keys = (meta.snapshots.get(ns) or {}).get(self.snapshotter) or {}
            out[ns] = {k: kinds[b] for k, b in keys.items() if kinds.get(b) in ("committed", "active")}
        return out

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

    # -- layers ----------------------------------------------------------------------------------
    def snapshot_keys(self, namespace: str, snapshotter: str | None = None) -> dict[str, str]:
        """key -> kind ("committed", "active") of the snapshots in one namespace (of ctr's
        snapshotter, or ``snapshotter``): committed ones keyed by a chain id are image layers; the
        others belong to containers."""
        result = self.run(*self.ns_argv(namespace, "snapshots", "--snapshotter", snapshotter or self.snapshotter, "ls"))
        try:
            rows = parse_table(result.stdout, required=("KEY", "KIND")) if result.stdout.strip() else []
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None
        return {r["KEY"]: r["KIND"].lower() for r in rows if r["KIND"].lower() in ("committed", "active")}

    def layers(self, ref: str, namespaces: Sequence[str] | None = None) -> list[LayerRecord]:
        """``namespaces ls`` ‖ ``plugins ls``, then ``images ls`` and ``snapshots ls`` for every
        namespace, all in parallel. The image's manifest and config (content store on disk) give
        its compressed blobs and diff ids; the snapshotter's metadata.db maps each namespace's
        snapshot (key = chain id) to its directory."""
        from ..errors import NotFound
        from .base import match_images

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
            from ..errors import LayoutNotUnderstood

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
                    from ..errors import LayoutNotUnderstood

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

    def disk_usage(self, namespaces: Sequence[str] | None = None) -> list[StoredItem]:
        """``namespaces ls`` ‖ ``plugins ls``, then ``images ls`` and ``snapshots ls`` for every
        namespace, all in parallel; the snapshotter's metadata.db read once for every directory.
        Each namespace's committed snapshots are its unpacked layers; the blobs are those the
        images refer to (index, manifest, config, layers), each listed once with the namespaces
        that refer to it."""
        from ..errors import LayoutNotUnderstood

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

    # -- containers ----------------------------------------------------------------------------
    def operation_namespace(self, namespace: str | None) -> str | None:
        """ctr works in one namespace: -n, else CONTAINERD_NAMESPACE or ctr.namespace, else
        ctr's own default, ``default``."""
        return namespace or self.settings.ctr_namespace()[0] or "default"

    def _table(self, namespace: str, what: str, required: Sequence[str]) -> list[dict[str, str]]:
        result = self.run(*self.ns_argv(namespace, what, "ls"))
        try:
            return parse_table(result.stdout, required=required)
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        names = list(namespaces) if namespaces else self.namespaces()
        calls: dict[tuple[str, str], Any] = {}
        for ns in names:
            calls[("containers", ns)] = partial(self._table, ns, "containers", ("CONTAINER",))
            calls[("tasks", ns)] = partial(self._table, ns, "tasks", ("TASK", "STATUS"))
        got = parallel(calls)
        records = []
        for ns in names:
            records += parse_containers(got[("containers", ns)], got[("tasks", ns)], ns)
        return records

    def _task_status(self, c: ContainerRecord) -> str | None:
        for row in self._table(c.namespace or "default", "tasks", ("TASK", "STATUS")):
            if row["TASK"] == c.id:
                return row["STATUS"]
        return None

    def inspect_container(self, c: ContainerRecord) -> Any:
        result = self.run(*self.ns_argv(c.namespace, "containers", "info", c.id))
        return _load_json(result, self.endpoint.address)

    def inspect_image(self, image: ImageTarget) -> Any:
        """ctr has no image inspect: the listing's row, and the manifest and config from
        containerd's content store (``ctr content get``)."""
        ns = image.namespace or "default"
        rows = [r for r in self._table(ns, "images", ("REF", "DIGEST")) if r["REF"] == image.ref]
        if not rows:
            from ..errors import NotFound

            raise NotFound("image", image.ref, f"ctr namespace {ns}")
        row = rows[0]

        def blob(digest: str) -> Any:
            return _load_json(self.run(*self.ns_argv(ns, "content", "get", digest)), self.endpoint.address)

        manifest = blob(row["DIGEST"])
        index = None
        if isinstance(manifest, dict) and "manifests" in manifest:
            index = manifest
            chosen = _pick_platform(manifest.get("manifests") or [])
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

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        raise Unsupported(
            "ctr keeps no container logs: a task's output goes wherever `ctr run` or "
            "`ctr tasks start` sent it (a FIFO, a --log-uri, or /dev/null)",
            "docker and crictl keep logs; with ctr, start the task with --log-uri file:///PATH and read that file",
        )

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        self.require_running(c, "exec")
        # ctr needs an id for every process it adds to a task: one that cannot collide
        exec_id = f"ctrtool-exec-{os.getpid()}-{secrets.token_hex(4)}"
        argv = self.argv(
            *self.ns_argv(
                c.namespace, "tasks", "exec", "--exec-id", exec_id, *(["--tty"] if tty else []), c.id, *command
            )
        )
        if tty:
            return self.interactive(argv).returncode
        # ctr hands its stdin to the process, and passes its end on (CloseIO) only if the process
        # was registered by then: an early EOF (/dev/null, a short pipe) is lost and the process
        # waits for input for ever (containerd issue 4489). So the input's end is held back until
        # `ctr tasks ps` shows this exec.
        ps = self.argv(*self.ns_argv(c.namespace, "tasks", "ps", c.id))

        def started() -> bool:
            from ..runner import run

            got = run(ps, timeout=5, endpoint=self.endpoint.address, check=False)
            return got.returncode != 0 or exec_listed(got.stdout, exec_id)

        return self.stream(argv, stdin=interactive, stdin_gate=started).returncode

    # -- changes ---------------------------------------------------------------------------------
    def _c(self, c: ContainerRecord, *args: str) -> list[str]:
        return self.argv(*self.ns_argv(c.namespace or "default", *args))

    def plan_start(self, c: ContainerRecord) -> Plan:
        """A ctr container runs as a task: ``tasks start -d --null-io`` makes and starts a new one
        (output to /dev/null: ctr keeps no logs). A stopped task is deleted first."""
        what = f"start container {c.id} (ctr namespace {c.namespace})"
        if c.state == State.RUNNING:
            return Plan(what, [], lambda: None, note="already running")
        if c.state == State.PAUSED:
            raise InvalidState(
                f"cannot start container {c.id}: its task is paused",
                f"resume it: ctr -n {c.namespace} tasks resume {c.id}",
            )
        commands = [self._c(c, "tasks", "delete", c.id)] if c.status is not None else []
        commands.append(self._c(c, "tasks", "start", "--detach", "--null-io", c.id))
        return self._plan(what, commands)

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        """Like ``docker stop``: the image's stop signal (ctr's default, else SIGTERM), then up to
        ``seconds`` for the task to stop, then SIGKILL. The stopped task is kept (``ps -a`` shows
        the container exited; ``start`` starts it again; ``rm`` deletes both)."""
        what = (
            f"stop container {c.id} (ctr namespace {c.namespace}): its stop signal, "
            f"then SIGKILL if it still runs after {seconds}s"
        )
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        term = self._c(c, "tasks", "kill", c.id)
        kill = self._c(c, "tasks", "kill", "--signal", "SIGKILL", c.id)

        def execute() -> None:
            self.fresh_deadline()
            self.run_argv(term)
            if self._wait_stopped(c, seconds):
                return
            self.fresh_deadline()
            self.run_argv(kill)
            if not self._wait_stopped(c, self.settings.timeout):
                raise InvalidState(
                    f"container {c.id} (ctr namespace {c.namespace}) still runs after SIGKILL",
                    f"see `ctr -n {c.namespace} tasks ls`",
                )

        return Plan(
            what,
            [term, kill],
            execute,
            destructive=True,
            note=f"the second command runs only if the task still runs after {seconds}s",
        )

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        """``tasks kill --signal SIG``: the signal goes to the task's main process. After SIGKILL
        ctrtool waits (up to the backend's timeout) until ctr reports the task stopped, as docker
        kill does; the stopped task is kept (``ps -a`` shows the container exited)."""
        what = f"send {signal} to container {c.id} (ctr namespace {c.namespace})"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        argv = self._c(c, "tasks", "kill", "--signal", signal, c.id)

        def execute() -> None:
            self.fresh_deadline()
            self.run_argv(argv)
            if signal == "SIGKILL" and not self._wait_stopped(c, self.settings.timeout):
                raise InvalidState(
                    f"container {c.id} (ctr namespace {c.namespace}) still runs after SIGKILL",
                    f"see `ctr -n {c.namespace} tasks ls`; a paused task gets the signal "
                    f"when resumed: ctr -n {c.namespace} tasks resume {c.id}",
                )

        return Plan(what, [argv], execute, destructive=True)

    def _wait_stopped(self, c: ContainerRecord, seconds: float) -> bool:
        end = time.monotonic() + seconds
        delay = 0.05
        while True:
            self.fresh_deadline()
            if self._task_status(c) in (None, "STOPPED"):
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(min(delay, max(0.0, end - time.monotonic())))
            delay = min(delay * 2, 0.5)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        """``containers rm`` (which also removes its snapshot), after deleting its task: a stopped
        one plainly, a running one only with --force (``tasks delete --force`` kills it)."""
        if not force:
            self.refuse_running(c, "remove it")
        commands = []
        if c.status is not None:
            force_task = ["--force"] if c.state in (State.RUNNING, State.PAUSED, State.UNKNOWN) else []
            commands.append(self._c(c, "tasks", "delete", *force_task, c.id))
        commands.append(self._c(c, "containers", "rm", c.id))
        return self._plan(f"remove container {c.id} (ctr namespace {c.namespace})", commands, destructive=True)

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

    def plan_reclaim(self, orphans: Sequence[Any]) -> Plan:
        """Remove what nothing needs through containerd's API (never a directory by hand): a
        snapshot record (``snapshots rm``; children first), a content record (``content rm``), a
        lease (``leases rm --sync``). When records went, a last lease created and removed with
        --sync makes containerd's garbage collector run now, so the bytes are gone when ctrtool
        returns."""
        import secrets

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
        argv = self.argv(*self.ns_argv(ns, "images", "import", *self._export_to_stdout(), path))

        def execute() -> list[str]:
            return parse_imported(self.run_argv(argv, bounded=False).stdout)

        moved = f", replacing {', '.join(replaces)} (now other images)" if replaces else ""
        return Plan(f"import {path} into ctr namespace {ns}{moved}", [argv], execute, destructive=bool(replaces))

    def plan_save(self, images: Sequence[ImageTarget], path: str, namespace: str | None = None) -> Plan:
        ns = self.operation_namespace(namespace)
        argv = self.argv(
            *self.ns_argv(ns, "images", "export", *self._export_to_stdout(), "-", *(i.ref for i in images))
        )
        return self._save_plan(f"export {', '.join(i.ref for i in images)} from ctr namespace {ns}", argv, path)

    def client_major(self) -> int:
        """The ctr client's major version, from ``ctr --version`` (no daemon involved; once)."""
        if "_major" not in self.__dict__:
            from ..runner import run

            got = run([self.binary, "--version"], timeout=10, check=False)
            self.__dict__["_major"] = parse_client_major(got.stdout)
        return self.__dict__["_major"]

    def _export_to_stdout(self) -> list[str]:
        """``images export`` flags for an archive on stdout. ctr 2.x exports through containerd's
        transfer service by default, and to a pipe that stream comes out corrupted now and then (a
        different checksum on each run, "short read" or "unrecognized image format" on import; seen
        with 2.4.2, never with a file or with --local): export in the client (--local) instead. ctr 1.x
        has no --local and no transfer service."""
        return ["--local"] if self.client_major() >= 2 else []

    def export_argv(self, ref: str, namespace: str | None) -> list[str]:
        return self.argv(
            *self.ns_argv(self.operation_namespace(namespace), "images", "export", *self._export_to_stdout(), "-", ref)
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
            image_store="containerd",
            containerd=self.endpoint.address,
        )


BLOB_LIMIT = 16 << 20  # an index, manifest or config blob read as JSON


class BlobReader:
    """Reads manifests from containerd's content store on disk, each distinct digest once."""

    def __init__(self, content_root: str | None):
        self.content_root = content_root
        self._cache: dict[str, tuple[str | None, int | None]] = {}
        self.problem: str | None = None  # why a blob could not be read, e.g. "permission denied"

    def path(self, digest: str) -> str | None:
        if not self.content_root or ":" not in digest:
            return None
        algo, hexpart = digest.split(":", 1)
        return os.path.join(self.content_root, "blobs", algo, hexpart)

    def _load(self, digest: str) -> tuple[dict | None, int | None]:
        path = self.path(digest)
        if path is None:
            return None, None
        from ..safeio import read_regular

        try:
            raw = read_regular(path, BLOB_LIMIT)  # a regular file, never blocking, bounded
        except OSError as exc:
            self.problem = (exc.strerror or str(exc)).lower()
            return None, None
        try:
            return json.loads(raw), len(raw)
        except (ValueError, RecursionError):
            return None, len(raw)

    def manifest(self, digest: str | None) -> dict | None:
        """The image manifest an image's target digest resolves to (an index: the default
        platform's), each distinct digest read once."""
        if digest is None:
            return None
        cache = self.__dict__.setdefault("_manifests", {})
        if digest not in cache:
            doc, _size = self._load(digest)
            if isinstance(doc, dict) and "manifests" in doc:
                chosen = _pick_platform(doc.get("manifests") or [])
                doc = self._load(chosen["digest"])[0] if chosen else None
            cache[digest] = doc if isinstance(doc, dict) else None
        return cache[digest]

    def referenced(self, digest: str | None) -> list[str]:
        """The blobs an image target refers to for the default platform: itself, the chosen
        manifest (when it is an index), the config and the layers. Each digest read once."""
        if digest is None:
            return []
        cache = self.__dict__.setdefault("_referenced", {})
        if digest not in cache:
            out = [digest]
            doc, _size = self._load(digest)
            if isinstance(doc, dict) and "manifests" in doc:
                chosen = _pick_platform(doc.get("manifests") or [])
                doc = self._load(chosen["digest"])[0] if chosen else None
                if chosen:
                    out.append(chosen["digest"])
            if isinstance(doc, dict):
                config = (doc.get("config") or {}).get("digest")
                out += [config] if config else []
                out += [layer.get("digest") for layer in doc.get("layers") or [] if layer.get("digest")]
            cache[digest] = out
        return cache[digest]

    def document(self, digest: str) -> dict | None:
        doc, _size = self._load(digest)
        return doc if isinstance(doc, dict) else None

    def image_config_and_size(self, digest: str | None, media_type: str | None) -> tuple[str | None, int | None]:
        """(config digest, content size) of an image target, as containerd computes it for the
        default platform: the index (if any) + manifest + config + layers."""
        if digest is None:
            return None, None
        if digest not in self._cache:
            self._cache[digest] = self._compute(digest, media_type)
        return self._cache[digest]

    def _compute(self, digest: str, media_type: str | None) -> tuple[str | None, int | None]:
        doc, size = self._load(digest)
        if doc is None or size is None:
            return None, None
        total = size
        kind = doc.get("mediaType") or media_type
        if kind in INDEX_TYPES or "manifests" in doc:
            chosen = _pick_platform(doc.get("manifests") or [])
            if chosen is None:
                return None, None
            doc, msize = self._load(chosen["digest"])
            if doc is None or msize is None:
                return None, None
            total += msize
        config = doc.get("config") or {}
        layers = doc.get("layers") or []
        try:
            total += int(config.get("size", 0)) + sum(int(layer.get("size", 0)) for layer in layers)
        except (TypeError, ValueError):
            return config.get("digest"), None
        return config.get("digest"), total


def snapshot_dirs(
    root: str, snapshotter: str, kinds: dict[tuple[str, str], str] | None = None
) -> dict[tuple[str, str], str]:
    """(namespace, snapshot key) -> the directory holding a committed or active snapshot's files,
    from the snapshotter's own metadata.db (read-only); each committed one is checked to exist (an
    active one may be going away). ``kinds``, when given, gets each snapshot's kind."""
    from ..errors import LayoutNotUnderstood
    from .boltdb import BoltError, read_snapshots

    db = os.path.join(root, "metadata.db")
    sub = {"overlayfs": "fs", "native": ""}.get(snapshotter)
    if sub is None:
        raise Unsupported(
            f"ctrtool maps snapshots to directories for the overlayfs and native snapshotters, not {snapshotter}"
        )
    try:
        entries = read_snapshots(db)
    except OSError as exc:
        raise LayoutNotUnderstood(
            f"cannot read the snapshotter's metadata.db: {(exc.strerror or str(exc)).lower()}", db
        ) from None
    except BoltError as exc:
        raise LayoutNotUnderstood(f"the snapshotter's metadata.db is not readable consistently: {exc}", db) from None
    dirs = {}
    for e in entries:
        if e.kind not in ("committed", "active"):
            continue
        path = os.path.join(root, "snapshots", str(e.id), sub) if sub else os.path.join(root, "snapshots", str(e.id))
        path = path.rstrip("/")
        if not os.path.isdir(path):
            if e.kind != "committed":
                continue
            raise LayoutNotUnderstood(
                f"snapshot {e.key} of namespace {e.namespace} should be in {path}, which is not a directory", db
            )
        dirs[(e.namespace, e.key)] = path
        if kinds is not None:
            kinds[(e.namespace, e.key)] = e.kind
    return dirs


def _pick_platform(manifests: list[dict]) -> dict | None:
    import platform as _platform

    machine = _platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)
    for m in manifests:
        p = m.get("platform") or {}
        if p.get("os") == "linux" and p.get("architecture") == arch:
            return m
    return None


# -- parsers (pure functions, tested on recorded output) ---------------------------------------


def parse_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip()]


def parse_table(stdout: str, required: Sequence[str] = ()) -> list[dict[str, str]]:
    """Parse a ctr text table by the start columns of its header words.

    ctr aligns columns with Go's tabwriter (spaces), so every cell starts where its header starts;
    a cell may itself contain single spaces ("1.9 MiB").
    """
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("empty output, expected a header line")
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    missing = [r for r in required if r not in names]
    if missing:
        raise ValueError(f"header {header.strip()!r} lacks column(s) {', '.join(missing)}")
    rows = []
    for line in lines[1:]:
        row = {}
        for i, name in enumerate(names):
            end = starts[i + 1] if i + 1 < len(starts) else None
            row[name] = line[starts[i] : end].strip()
        rows.append(row)
    return rows


# ctr's task statuses -> the one vocabulary
TASK_STATES = {
    "RUNNING": State.RUNNING,
    "CREATED": State.CREATED,
    "STOPPED": State.EXITED,
    "PAUSED": State.PAUSED,
    "PAUSING": State.PAUSED,
}


def parse_containers(
    containers: list[dict[str, str]], tasks: list[dict[str, str]], namespace: str
) -> list[ContainerRecord]:
    """Rows of ``ctr containers ls`` joined with ``ctr tasks ls`` (same namespace). A container
    without a task has never been started (or its task was deleted): ``created``."""
    status = {t["TASK"]: t.get("STATUS") or None for t in tasks}
    records = []
    for row in containers:
        cid = row["CONTAINER"]
        task = status.get(cid)
        image = row.get("IMAGE")
        records.append(
            ContainerRecord(
                backend="ctr",
                namespace=namespace,
                id=cid,
                name=cid,
                image=None if image in (None, "", "-") else image,
                state=TASK_STATES.get(task, State.UNKNOWN) if task else State.CREATED,
                status=task,
                pod=None,
                pod_id=None,
                created=None,
            )
        )
    return records


def parse_client_major(version: str) -> int:
    """``ctr --version``: "ctr github.com/containerd/containerd 1.6.20~ds1" or "ctr
    github.com/containerd/containerd/v2 2.4.2+unknown" -> 1 or 2 (1 when it cannot tell)."""
    m = re.search(r"\s[v]?(\d+)\.\d+", version)
    return int(m[1]) if m else 1


def loopback_registry(ref: str) -> bool:
    """Whether ``ref`` names a registry on this machine: localhost, 127.x or [::1], any port."""
    host = ref.split("/", 1)[0] if "/" in ref else ""
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.endswith("]") is False and ":" in host else host
    host = host.strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def exec_listed(stdout: str, exec_id: str) -> bool:
    """Whether ``ctr tasks ps`` lists the exec process ``exec_id``: its INFO column reads
    ``&ProcessDetails{ExecID:ID,}`` in ctr 1.x and ``exec_id:"ID"`` in ctr 2.x."""
    return f"ExecID:{exec_id}," in stdout or f'exec_id:"{exec_id}"' in stdout


def parse_imported(stdout: str) -> list[str]:
    """The references ``ctr images import`` loaded: "unpacking REF (sha256:...)...done" per image
    (ctr 1.x, and 2.x with --local), or "REF <tab>saved" per image (ctr 2.x, through containerd's
    transfer service)."""
    old = [m[1] for m in re.finditer(r"^unpacking (\S+) \(sha256:[0-9a-f]+\)", stdout, re.M)]
    new = [m[1] for m in re.finditer(r"^(\S+)\s+saved\s*$", stdout, re.M)]
    return list(dict.fromkeys(old + new))


def _load_json(result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def parse_plugins(stdout: str) -> Plugins:
    """Storage roots from ``ctr plugins ls --detailed``."""
    plugins = Plugins()
    ptype = pid = None
    section = None
    for line in stdout.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            section = key
            if key == "Type":
                ptype, pid = value, None
            elif key == "ID":
                pid = value
            elif key == "Error" and ptype == "io.containerd.snapshotter.v1" and pid:
                plugins.failed_snapshotters.add(pid)
            continue
        if section != "Exports":
            continue
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] == "path" and ptype == "io.containerd.metadata.v1":
            plugins.metadata_db = parts[1].strip()
        if len(parts) != 2 or parts[0] != "root":
            continue
        root = parts[1].strip()
        if ptype == "io.containerd.content.v1":
            plugins.content_root = root
        elif ptype == "io.containerd.snapshotter.v1" and pid:
            plugins.snapshotter_roots[pid] = root
    for failed in plugins.failed_snapshotters:
        plugins.snapshotter_roots.pop(failed, None)
    return plugins


def parse_version(stdout: str) -> dict[str, str]:
    """``ctr version``: {"client": ..., "server": ...}."""
    out: dict[str, str] = {}
    section = None
    for line in stdout.splitlines():
        stripped = line.strip()
        if stripped in ("Client:", "Server:"):
            section = stripped[:-1].lower()
        elif stripped.startswith("Version:") and section:
            out[section] = stripped.split(":", 1)[1].strip()
    return out


def _strip_unix(address: str) -> str:
    return address[len("unix://") :] if address.startswith("unix://") else address


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
