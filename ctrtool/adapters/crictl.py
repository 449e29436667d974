"""crictl: the kubelet's view, through the CRI. With containerd, the CRI plugin works in
containerd namespace ``k8s.io`` and shares that namespace's images and snapshots with ``ctr -n k8s.io``.

Calls per ``images``: ``crictl images -o json``, ``crictl version`` and ``crictl imagefsinfo -o json``,
all in parallel. Never one call per image.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

from ..errors import PermissionDenied, ToolError, Unreachable
from ..runner import Result, not_understood
from .base import CONTENT, REPORTED, Adapter, BackendInfo, ImageRecord, parallel, stderr_mentions

CRI_CONTAINERD_NAMESPACE = "k8s.io"  # fixed in containerd's CRI plugin


class CrictlAdapter(Adapter):
    name = "crictl"

    def connection_args(self) -> list[str]:
        ep = self.endpoint
        args = []
        if ep.tool_config:
            args += ["--config", ep.tool_config]
        args += ["--runtime-endpoint", ep.require(), "--image-endpoint", ep.image_address or ep.require()]
        # crictl's own per-request timeout: within our budget for this backend
        seconds = max(1, math.ceil(min(self.deadline.remaining(), self.deadline.seconds)))
        args += ["--timeout", f"{seconds}s"]
        return args

    def classify(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(stderr, "validate service connection", "connection error", "error while dialing"):
            detail = _error_line(stderr)
            if stderr_mentions(stderr, "permission denied"):
                return PermissionDenied(self.binary, self.endpoint.address, detail)
            return Unreachable(self.binary, self.endpoint.address, detail,
                               hint="is the CRI runtime running at this endpoint? set "
                                    "CONTAINER_RUNTIME_ENDPOINT or --runtime-endpoint")
        return None

    # -- queries ---------------------------------------------------------------------------
    def _json(self, *args: str) -> Any:
        result = self.run(*args, "--output", "json")
        return _json(result, self.endpoint.address)

    def version(self) -> dict[str, str]:
        return parse_version(self.run("version").stdout)

    def imagefs(self) -> str | None:
        return parse_imagefs_mountpoint(self._json("imagefsinfo"))

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        got = parallel({"images": lambda: self.run("images", "--output", "json"),
                        "version": self.version, "fs": self.imagefs})
        namespace = cri_namespace(got["version"])
        if namespaces and namespace not in namespaces:
            return []
        result = got["images"]
        try:
            return parse_images(_json(result, self.endpoint.address), namespace, got["fs"])
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def namespaces(self) -> list[str]:
        ns = cri_namespace(self.version())
        return [ns] if ns else []

    def info(self) -> BackendInfo:
        got = parallel({"info": lambda: self._json("info"), "version": self.version,
                        "fs": self.imagefs, "ids": lambda: self.run("images", "--quiet").stdout})
        version, info = got["version"], got["info"]
        config = info.get("config") if isinstance(info, dict) else None
        config = config if isinstance(config, dict) else {}
        root = config.get("containerdRootDir")
        state = config.get("stateDir")
        namespace = cri_namespace(version)
        runtime = " ".join(v for v in (version.get("RuntimeName"), version.get("RuntimeVersion")) if v)
        return BackendInfo(
            backend=self.name,
            version=version.get("RuntimeApiVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=root,
            # the CRI plugin's state dir is <containerd state>/io.containerd.grpc.v1.cri
            state=os.path.dirname(state) if state and state.endswith("io.containerd.grpc.v1.cri") else state,
            storage_driver=(config.get("containerd") or {}).get("snapshotter") if isinstance(
                config.get("containerd"), dict) else None,
            store=got["fs"],
            content_store=os.path.join(root, "io.containerd.content.v1.content") if root else None,
            namespaces=[namespace] if namespace else [],
            image_count=len(set(got["ids"].split())),
            runtime=runtime or None,
        )


# -- parsers (pure functions, tested on recorded output) ---------------------------------------

def cri_namespace(version: dict[str, str]) -> str | None:
    return CRI_CONTAINERD_NAMESPACE if version.get("RuntimeName") == "containerd" else None


def parse_version(stdout: str) -> dict[str, str]:
    """``crictl version`` prints ``Key:  value`` lines (it has no JSON output)."""
    out = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_imagefs_mountpoint(data: Any) -> str | None:
    try:
        filesystems = data["status"]["imageFilesystems"]
        return filesystems[0]["fsId"]["mountpoint"] if filesystems else None
    except (KeyError, TypeError, IndexError):
        return None


def parse_images(data: Any, namespace: str | None, store: str | None) -> list[ImageRecord]:
    """One record per tag (or one untagged record) from ``crictl images -o json``."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError("expected an object with an 'images' list")
    records = []
    for image in data["images"]:
        digests = image.get("repoDigests") or []
        digest = digests[0].partition("@")[2] if digests else None
        try:
            size = int(image.get("size"))
        except (TypeError, ValueError):
            size = None
        for tag in image.get("repoTags") or [None]:
            records.append(ImageRecord(
                backend="crictl", namespace=namespace, ref=tag, id=image.get("id"), digest=digest,
                size=size, size_kind=CONTENT if namespace else REPORTED, store=store,
            ))
    return records


def _json(result: Result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def _error_line(stderr: str) -> str:
    """crictl logs with logrus: prefer the msg of the last error line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "level=fatal" in line or "level=error" in line:
            start = line.find('msg="')
            if start >= 0:
                return line[start + 5:].rstrip('"').replace('\\"', '"')
            return line
    return lines[-1] if lines else ""
