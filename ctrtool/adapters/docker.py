"""docker: its own image store (graph driver directory under its data root).

Calls per ``images``: ``docker image ls -q``, then one ``docker image inspect`` for all image ids at
once (never one call per image). The store directory comes from the layers' own paths with overlay2;
with any other graph driver ``docker info`` is asked as well.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ..errors import PermissionDenied, ToolError, Unreachable
from ..runner import Result, not_understood
from .base import UNPACKED, Adapter, BackendInfo, ImageRecord, stderr_mentions

# docker runs its containers through containerd in this namespace unless dockerd is started with
# --containerd-namespace; `docker info` does not report it.
DOCKER_CONTAINERD_NAMESPACE = "moby"


class DockerAdapter(Adapter):
    name = "docker"

    def connection_args(self) -> list[str]:
        if self.endpoint.context:
            return ["--context", self.endpoint.context]
        return ["--host", self.endpoint.require()]

    def unset_env(self) -> Sequence[str]:
        # we always say where to connect; these would conflict with --host/--context
        return ("DOCKER_HOST", "DOCKER_CONTEXT")

    def classify(self, returncode: int, stderr: str) -> ToolError | None:
        if stderr_mentions(stderr, "permission denied while trying to connect"):
            return PermissionDenied(self.binary, self.endpoint.address, _first_line(stderr))
        if stderr_mentions(stderr, "cannot connect to the docker daemon", "error during connect",
                           "is the docker daemon running"):
            return Unreachable(self.binary, self.endpoint.address, _first_line(stderr),
                               hint="is dockerd running at this address? set DOCKER_HOST or --docker-host")
        return None

    # -- queries ---------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        result = self.run("info", "--format", "{{json .}}")
        data = _json(result, self.endpoint.address)
        if not isinstance(data, dict) or "DockerRootDir" not in data:
            raise not_understood(result, "expected a JSON object with DockerRootDir", self.endpoint.address)
        return data

    def _image_ids(self) -> list[str]:
        result = self.run("image", "ls", "--quiet", "--no-trunc")
        return parse_image_ids(result.stdout)

    def _inspect(self, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        result = self.run("image", "inspect", *ids, check=False)
        if result.returncode != 0 and not stderr_mentions(result.stderr, "no such image"):
            from ..runner import failure

            raise failure(result, endpoint=self.endpoint.address, classify=self.classify)
        # an image removed between the two calls is simply not listed
        data = _json(result, self.endpoint.address) if result.stdout.strip() else []
        if not isinstance(data, list):
            raise not_understood(result, "expected a JSON list", self.endpoint.address)
        return data

    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        items = self._inspect(self._image_ids())
        store = overlay2_store(items)
        if items and store is None:
            store = graph_store(self._info())
        return parse_inspect(items, store)

    def namespaces(self) -> list[str]:
        return [DOCKER_CONTAINERD_NAMESPACE]

    def info(self) -> BackendInfo:
        data = self._info()
        return BackendInfo(
            backend=self.name,
            version=data.get("ServerVersion"),
            endpoint=self.endpoint.address,
            endpoint_source=self.endpoint.source,
            root=data.get("DockerRootDir"),
            state=None,  # dockerd's --exec-root is not reported by `docker info`
            storage_driver=data.get("Driver"),
            store=graph_store(data),
            content_store=None,
            namespaces=self.namespaces(),
            image_count=data.get("Images"),
        )


# -- parsers (pure functions, tested on recorded output) ---------------------------------------

def parse_image_ids(stdout: str) -> list[str]:
    """Unique ids from ``docker image ls -q --no-trunc`` (one line per tag), in order."""
    seen: dict[str, None] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line:
            seen.setdefault(line, None)
    return list(seen)


def graph_store(info: dict[str, Any]) -> str | None:
    """The directory holding docker's image layers: <DockerRootDir>/<graph driver>.

    With docker's containerd image store (driver-type io.containerd.snapshotter.v1) the layers live
    in containerd, not under the data root: then this returns None rather than a wrong path.
    """
    root, driver = info.get("DockerRootDir"), info.get("Driver")
    for pair in info.get("DriverStatus") or []:
        if isinstance(pair, list) and len(pair) == 2 and pair[0] == "driver-type" \
                and "snapshotter" in str(pair[1]):
            return None
    if not root or not driver:
        return None
    return os.path.join(root, driver)


def overlay2_store(items: list[dict[str, Any]]) -> str | None:
    """overlay2 keeps each layer in <store>/<layer id>/diff: the store is read off an image's
    UpperDir, which saves a ``docker info`` call. None for other drivers (then ask docker info)."""
    for item in items:
        driver = item.get("GraphDriver") or {}
        upper = (driver.get("Data") or {}).get("UpperDir")
        if driver.get("Name") == "overlay2" and upper and os.path.basename(upper) == "diff":
            return os.path.dirname(os.path.dirname(upper))
    return None


def parse_inspect(items: list[dict[str, Any]], store: str | None) -> list[ImageRecord]:
    """One record per tag (or one untagged record) from ``docker image inspect`` output."""
    records: list[ImageRecord] = []
    for item in items:
        image_id = item.get("Id")
        size = item.get("Size")
        digests = item.get("RepoDigests") or []
        tags = item.get("RepoTags") or [None]
        for tag in tags:
            records.append(ImageRecord(
                backend="docker",
                namespace=None,
                ref=tag,
                id=image_id,
                digest=_digest_for(tag, digests),
                size=size if isinstance(size, int) else None,
                size_kind=UNPACKED,
                store=store,
            ))
    return records


def _digest_for(tag: str | None, repo_digests: list[str]) -> str | None:
    """The manifest digest docker recorded for this tag's repository (RepoDigests), if any."""
    repo = tag.rsplit(":", 1)[0] if tag and ":" in tag.rsplit("/", 1)[-1] else tag
    fallback = None
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if repo is not None and name == repo:
            return digest
        fallback = fallback or digest
    return fallback


def _json(result: Result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
