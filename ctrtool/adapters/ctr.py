"""ctr: containerd's own client. Images live per namespace; blobs are shared in the content store,
unpacked snapshots are per namespace under the snapshotter's root.

ctr prints text tables only (it calls itself an unsupported debug client), so this module parses
them by their header columns and is tested on recorded output.

Calls per ``images``: ``ctr namespaces ls -q`` and ``ctr plugins ls -d`` (in parallel), then one
``ctr -n NS images ls`` per namespace, all namespaces in parallel. The image id (config digest) and
the exact size in bytes are read from the manifest blobs in containerd's content store on disk
(``ctr images ls`` only prints a rounded size), one small file per distinct manifest.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import PermissionDenied, ToolError, Unreachable
from ..runner import not_understood
from .base import CONTENT, Adapter, BackendInfo, ImageRecord, parallel, stderr_mentions

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

    @property
    def root(self) -> str | None:
        """containerd's root directory: the parent of the content store's root."""
        return os.path.dirname(self.content_root) if self.content_root else None


class CtrAdapter(Adapter):
    name = "ctr"

    def connection_args(self) -> list[str]:
        return ["--address", _strip_unix(self.endpoint.require())]

    def ns_argv(self, namespace: str, *args: str) -> list[str]:
        return ["--namespace", namespace, *args]

    def classify(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(stderr, "failed to dial", "connection error", "transport: error while dialing"):
            detail = _first_line(stderr)
            if stderr_mentions(stderr, "permission denied"):
                return PermissionDenied(self.binary, self.endpoint.address, detail)
            return Unreachable(self.binary, self.endpoint.address, detail,
                               hint="is containerd running at this address? set CONTAINERD_ADDRESS or --address")
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

    def image_table(self, namespace: str) -> list[dict[str, str]]:
        result = self.run(*self.ns_argv(namespace, "images", "ls"))
        try:
            return parse_table(result.stdout, required=("REF", "DIGEST"))
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def image_names(self, namespace: str) -> list[str]:
        return parse_lines(self.run(*self.ns_argv(namespace, "images", "ls", "--quiet")).stdout)

    def _resolve_namespaces(self, namespaces: Sequence[str] | None) -> tuple[list[str], Plugins]:
        if namespaces:
            return list(namespaces), self.plugins()
        got = parallel({"ns": self.namespaces, "plugins": self.plugins})
        return got["ns"], got["plugins"]

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        names, plugins = self._resolve_namespaces(namespaces)
        tables = parallel({ns: (lambda ns=ns: self.image_table(ns)) for ns in names})
        store = plugins.snapshotter_roots.get(self.snapshotter)
        blobs = BlobReader(plugins.content_root)
        records = []
        for ns in names:
            unknown = 0
            for row in tables[ns]:
                digest = row["DIGEST"] if row["DIGEST"].startswith("sha256:") else None
                config, size = blobs.image_config_and_size(digest, row.get("TYPE"))
                unknown += config is None
                records.append(ImageRecord(
                    backend=self.name, namespace=ns, ref=row["REF"], id=config, digest=digest,
                    size=size, size_kind=CONTENT, store=store,
                ))
            if unknown:
                self.warnings.append(
                    f"ctr: {unknown} image(s) in namespace {ns}: manifest not readable under "
                    f"{plugins.content_root} ({blobs.problem or 'missing'}); their id and size are unknown")
        return records

    def info(self) -> BackendInfo:
        got = parallel({"version": lambda: self.run("version").stdout, "ns": self.namespaces,
                        "plugins": self.plugins})
        names, plugins = got["ns"], got["plugins"]
        counts = parallel({ns: (lambda ns=ns: len(self.image_names(ns))) for ns in names})
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
        )


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
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            self.problem = (exc.strerror or str(exc)).lower()
            return None, None
        try:
            return json.loads(raw), len(raw)
        except ValueError:
            return None, len(raw)

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
        config = (doc.get("config") or {})
        layers = doc.get("layers") or []
        try:
            total += int(config.get("size", 0)) + sum(int(layer.get("size", 0)) for layer in layers)
        except (TypeError, ValueError):
            return config.get("digest"), None
        return config.get("digest"), total


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
            row[name] = line[starts[i]:end].strip()
        rows.append(row)
    return rows


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
    return address[len("unix://"):] if address.startswith("unix://") else address


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
