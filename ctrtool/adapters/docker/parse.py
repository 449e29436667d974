"""What docker prints and keeps on disk, parsed: images, containers, its store (graph driver or
containerd's), the layers' directories. No tool calls here."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ... import model
from ...model import ContainerRecord, CopyKind, ImageRecord, LayerCopy, LayerRecord, SizeKind, State, Store
from ...runner import Result, not_understood
from ..shared import chain_ids

# docker runs its containers (and, on containerd's image store, keeps its images) in this containerd
# namespace unless dockerd is started with --containerd-namespace; `docker info` reports it since API
# 1.46 (Containerd.Namespaces.Containers), older daemons do not.
DOCKER_CONTAINERD_NAMESPACE = "moby"


@dataclass(frozen=True)
class DockerStore:
    """Where this dockerd keeps its images, from `docker info`."""

    store: Store  # graph driver directory, or its namespace's snapshots in containerd
    content: Store | None  # containerd's content store (containerd image store only)
    namespace: str | None  # the containerd namespace of its images (containerd image store only)
    containerd: str | None  # containerd's address as docker reports it

    @property
    def on_containerd(self) -> bool:
        return self.content is not None


def docker_store(info: dict[str, Any]) -> DockerStore:
    """docker's image store from `docker info`: overlay2 (or another graph driver) under its data
    root, or containerd's image store (driver-type io.containerd.snapshotter.v1): then its images
    are namespace Containerd.Namespaces.Containers of the containerd at Containerd.Address."""
    root, driver = info.get("DockerRootDir"), info.get("Driver")
    containerd: dict[str, Any] = info["Containerd"] if isinstance(info.get("Containerd"), dict) else {}
    address = containerd.get("Address") or None
    on_containerd = any(
        isinstance(pair, list) and len(pair) == 2 and pair[0] == "driver-type" and "snapshotter" in str(pair[1])
        for pair in info.get("DriverStatus") or []
    )
    if not on_containerd:
        path = os.path.join(root, driver) if root and driver else None
        return DockerStore(model.graph_store(root, path, driver), None, None, address)
    namespace = (containerd.get("Namespaces") or {}).get("Containers") or DOCKER_CONTAINERD_NAMESPACE
    return DockerStore(
        model.containerd_snapshots(address, namespace, None, driver),
        model.containerd_content(address, None),
        namespace,
        address,
    )


# -- parsers (pure functions, tested on recorded output) ---------------------------------------


def docker_image_id(record: ImageRecord) -> str | None:
    """The image ID docker itself prints for a record: the config digest on its graph driver, the
    manifest's (index's) digest on containerd's image store (then in ``digest``)."""
    return record.digest if record.content is not None else record.id


def parse_image_ids(stdout: str) -> list[str]:
    """Unique ids from ``docker image ls -q --no-trunc`` (one line per tag), in order."""
    seen: dict[str, None] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if line:
            seen.setdefault(line, None)
    return list(seen)


def docker_layers(root: str, store: str, diff_ids: Sequence[str]) -> list[LayerRecord]:
    """Each layer's overlay2 directory, from docker's layer database on disk."""
    records = []
    for index, (diff, chain) in enumerate(zip(diff_ids, chain_ids(diff_ids))):
        path = layer_dir(root, store, chain)
        records.append(
            LayerRecord(
                index,
                diff,
                chain,
                None,
                [LayerCopy(backend="docker", namespace=None, kind=CopyKind.UNPACKED, path=path, seen_by=["docker"])],
            )
        )
    return records


def layer_dir(root: str, store: str, chain: str) -> str:
    """The overlay2 directory of the layer with chain id ``chain``, from docker's layer database:
    ``<root>/image/overlay2/layerdb/sha256/<chain>/cache-id`` names ``<store>/<cache-id>/diff``."""
    from ...errors import LayoutNotUnderstood

    algo, _, hexpart = chain.partition(":")
    meta = os.path.join(root, "image", "overlay2", "layerdb", algo, hexpart)
    from ...safeio import read_regular

    try:
        cache_id = read_regular(os.path.join(meta, "cache-id"), 4096).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutNotUnderstood(
            f"docker's layer database has no readable cache-id for layer {chain} "
            f"({(getattr(exc, 'strerror', None) or str(exc)).lower()})",
            meta,
        ) from None
    path = os.path.join(store, cache_id, "diff")
    if not re.fullmatch(r"[0-9a-f]{16,128}", cache_id) or not os.path.isdir(path):
        raise LayoutNotUnderstood(
            f"layer {chain}: docker's layer database names {cache_id!r}, "
            "which is not a directory in its overlay2 store",
            path,
        )
    return path


def overlay2_store(items: list[dict[str, Any]]) -> str | None:
    """overlay2 keeps each layer in <store>/<layer id>/diff: the store is read off an image's
    UpperDir, which saves a ``docker info`` call. None for other drivers (then ask docker info)."""
    for item in items:
        driver = item.get("GraphDriver") or {}
        upper = (driver.get("Data") or {}).get("UpperDir")
        if driver.get("Name") == "overlay2" and upper and os.path.basename(upper) == "diff":
            return os.path.dirname(os.path.dirname(upper))
    return None


def parse_inspect(items: list[dict[str, Any]], store: Store | None, content: Store | None = None) -> list[ImageRecord]:
    """One record per tag (or one untagged record) from ``docker image inspect`` output.

    On its graph driver, docker's image ID is the config digest. On containerd's image store
    (``content`` given) it is the digest of the image's manifest or index (``Descriptor``): that
    goes in ``digest``, and the config digest is left for core to find in containerd's content store."""
    records: list[ImageRecord] = []
    for item in items:
        size = item.get("Size")
        digests = item.get("RepoDigests") or []
        tags = item.get("RepoTags") or [None]
        target = (item.get("Descriptor") or {}).get("digest") if isinstance(item.get("Descriptor"), dict) else None
        for tag in tags:
            if content is None:
                image_id, digest = item.get("Id"), digest_for(tag, digests)
            else:
                image_id, digest = None, target or item.get("Id")
            records.append(
                ImageRecord(
                    backend="docker",
                    namespace=store.namespace if store else None,
                    ref=tag,
                    id=image_id,
                    digest=digest,
                    size=size if isinstance(size, int) else None,
                    size_kind=SizeKind.UNPACKED if content is None else SizeKind.CONTENT_AND_UNPACKED,
                    store=store,
                    content=content,
                    created=model.rfc3339_utc(item.get("Created")),
                    diff_ids=[str(d) for d in ((item.get("RootFS") or {}).get("Layers") or [])],
                )
            )
    return records


def digest_for(tag: str | None, repo_digests: list[str]) -> str | None:
    """The manifest digest docker recorded for this tag's repository (RepoDigests), if any."""
    repo = tag.rsplit(":", 1)[0] if tag and ":" in tag.rsplit("/", 1)[-1] else tag
    fallback = None
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if repo is not None and name == repo:
            return digest
        fallback = fallback or digest
    return fallback


# docker's container states -> the one vocabulary ("restarting": between two runs, so unknown)
STATES = {
    "running": State.RUNNING,
    "created": State.CREATED,
    "exited": State.EXITED,
    "dead": State.EXITED,
    "removing": State.EXITED,
    "paused": State.PAUSED,
}


def parse_ps(stdout: str) -> list[ContainerRecord]:
    """``docker ps -a --no-trunc --format '{{json .}}'``: one JSON object per line."""
    records = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"a line is not JSON ({exc})") from None
        if not isinstance(item, dict) or "ID" not in item:
            raise ValueError("expected one JSON object with an ID per line")
        state = str(item.get("State") or "").lower()
        records.append(
            ContainerRecord(
                backend="docker",
                namespace=None,
                id=item["ID"],
                name=str(item.get("Names") or "").split(",")[0] or item["ID"],
                image=item.get("Image") or None,
                state=STATES.get(state, State.UNKNOWN),
                status=item.get("Status") or state or None,
                pod=None,
                pod_id=None,
                created=docker_time(item.get("CreatedAt")),
                labels=_labels(item.get("Labels")),
            )
        )
    return records


def _labels(text: Any) -> dict[str, str]:
    """``docker ps``'s Labels: "k=v,k2=v2" (a value with a comma cannot be told apart: docker
    joins them so)."""
    if not isinstance(text, str) or not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


def docker_time(text: str | None) -> str | None:
    """ "2024-01-02 03:04:05 +0000 UTC" (Go's time.String) -> "2024-01-02T03:04:05Z"."""
    from datetime import datetime, timezone

    if not text:
        return None
    m = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? ([+-]\d{4})", text)
    if not m:
        return None
    moment = datetime.strptime(f"{m[1]} {m[2]} {m[3]}", "%Y-%m-%d %H:%M:%S %z")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_pruned(stdout: str) -> set[str]:
    """``docker image prune``: the IDs on its "deleted: sha256:..." lines (images and layers)."""
    return {m[1] for m in re.finditer(r"^deleted: (sha256:[0-9a-f]{64})\s*$", stdout, re.M)}


def parse_loaded(stdout: str) -> list[str]:
    """``docker load``: "Loaded image: REF" or "Loaded image ID: sha256:..." per image."""
    return [m[1].strip() for m in re.finditer(r"^Loaded image(?: ID)?: (.+)$", stdout, re.M)]


def load_json(result: Result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
