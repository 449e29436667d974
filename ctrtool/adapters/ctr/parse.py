"""What ctr prints and what containerd keeps on disk, parsed: tables, plugins, versions, and
the content store's blobs (:class:`BlobReader`). No tool calls here."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import Unsupported
from ...model import ContainerRecord, State
from ...runner import not_understood

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
        from ...safeio import read_regular

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
                chosen = pick_platform(doc.get("manifests") or [])
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
                chosen = pick_platform(doc.get("manifests") or [])
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
            chosen = pick_platform(doc.get("manifests") or [])
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
    from ...errors import LayoutNotUnderstood
    from ..boltdb import BoltError, read_snapshots

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


def pick_platform(manifests: list[dict]) -> dict | None:
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


def load_json(result, endpoint: str | None) -> Any:
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


def strip_unix(address: str) -> str:
    return address[len("unix://") :] if address.startswith("unix://") else address


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
