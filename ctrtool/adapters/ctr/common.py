"""What every part of ctr's adapter shares: reaching containerd, namespaces, errors, and the
reads more than one part makes (plugins, meta.db, the image and snapshot tables)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

from ...errors import ToolError
from ...runner import not_understood
from ..base import Adapter
from ..shared import dial_failure, parallel, stderr_mentions
from .parse import (
    DEFAULT_SNAPSHOTTER,
    Plugins,
    first_line,
    parse_client_major,
    parse_lines,
    parse_plugins,
    parse_table,
    strip_unix,
)


class CtrBase(Adapter):
    """ctr's connection, namespace flags and error words (the parts' common base)."""

    name = "ctr"
    # meta.db as read changes with every change (plugins, and blobs by digest, do not)
    cached = ("_metadata",)
    noise = (r'level=warning msg="DEPRECATION: The support for cgroup v1 is deprecated',)

    def connection_args(self) -> list[str]:
        return ["--address", strip_unix(self.endpoint.require())]

    def ns_argv(self, namespace: str | None, *args: str) -> list[str]:
        return ["--namespace", namespace or "default", *args]

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(
            stderr, "failed to dial", "connection error", "transport: error while dialing", "cannot access socket"
        ):  # the last: ctr 2.x, when the socket is not there
            return dial_failure(self.binary, self.endpoint.address, stderr, first_line(stderr))
        return None

    @property
    def snapshotter(self) -> str:
        return self.settings.env.get("CONTAINERD_SNAPSHOTTER") or DEFAULT_SNAPSHOTTER

    # -- containers ----------------------------------------------------------------------------
    def operation_namespace(self, namespace: str | None) -> str | None:
        """ctr works in one namespace: -n, else CONTAINERD_NAMESPACE or ctr.namespace, else
        ctr's own default, ``default``."""
        return namespace or self.settings.ctr_namespace()[0] or "default"

    def client_major(self) -> int:
        """The ctr client's major version, from ``ctr --version`` (no daemon involved; once)."""
        if "_major" not in self.__dict__:
            from ...runner import run

            got = run([self.binary, "--version"], timeout=10, check=False)
            self.__dict__["_major"] = parse_client_major(got.stdout)
        return self.__dict__["_major"]

    def plugins(self) -> Plugins:
        result = self.run("plugins", "ls", "--detailed")
        plugins = parse_plugins(result.stdout)
        if plugins.content_root is None:
            raise not_understood(result, "no content plugin with a root directory", self.endpoint.address)
        return plugins

    # -- the fast path: containerd's metadata read directly -------------------------------------
    def metadata(self, plugins: Plugins) -> Any:
        """containerd's meta.db (:class:`.metadata.Metadata`), read once per adapter, or None when
        the tools must be asked: ``--via tools``, containerd's root not on this machine or not
        readable (not root), or a file or schema ctrtool does not read (with a warning)."""
        if "_metadata" in self.__dict__:
            return self.__dict__["_metadata"]
        meta = None
        if self.settings.via != "tools" and (plugins.metadata_db or plugins.root):
            from ..boltdb import BoltError
            from ..metadata import meta_db_path, read_metadata

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
        from ..boltdb import BoltError, read_snapshots

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

    def _table(self, namespace: str, what: str, required: Sequence[str]) -> list[dict[str, str]]:
        result = self.run(*self.ns_argv(namespace, what, "ls"))
        try:
            return parse_table(result.stdout, required=required)
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

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
