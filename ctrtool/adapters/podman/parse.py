"""What podman prints, and what containers/storage keeps on disk, parsed: no tool calls.

podman's JSON (4.x, libpod's entities): ``podman images --format json`` gives per image ``Id`` (hex,
no ``sha256:``), ``Names`` (every name; ``RepoTags`` is null), ``Digest`` (the manifest's),
``RepoDigests``, ``Size``, ``SharedSize``, ``Created`` (Unix seconds) and ``CreatedAt``. ``podman ps
-a --format json`` a list with ``Id``, ``Names`` (a list), ``Image``, ``ImageID``, ``State``,
``Status``, ``Created`` (Unix seconds), ``Labels`` (a mapping), ``Pod``, ``PodName``, ``IsInfra``.
``podman info --format json``: ``store.graphRoot``, ``store.runRoot``, ``store.graphDriverName``,
``store.imageStore.number``, ``version.Version``.

containers/storage on disk (read for the rootless stores, which ctrtool does not run podman on, and
for every store's layers) is read by :mod:`..cstorage` (images.json, layers.json, containers.json,
each at most ``cstorage.JSON_LIMIT``, 64 MiB); the records are made here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ... import model
from ...model import (
    ContainerRecord,
    CopyKind,
    ImageRecord,
    LayerCopy,
    LayerRecord,
    SizeKind,
    State,
    Store,
)
from ...runner import Result, not_understood
from .. import cstorage
from ..shared import chain_ids

# podman's container states (libpod's define.ContainerStatus) -> the one vocabulary
STATES = {
    "running": State.RUNNING,
    "created": State.CREATED,
    "configured": State.CREATED,
    "initialized": State.CREATED,
    "exited": State.EXITED,
    "stopped": State.EXITED,
    "removing": State.EXITED,
    "paused": State.PAUSED,
}


def sha(hexid: Any) -> str | None:
    """podman's ids are bare hex: ``sha256:<hex>`` as the other backends write them."""
    if not isinstance(hexid, str) or not hexid:
        return None
    return hexid if ":" in hexid else f"sha256:{hexid}"


def unix_utc(seconds: Any) -> str | None:
    """Unix seconds -> "2024-01-01T00:00:00Z"; None for anything else (podman's zero time is negative)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def load_json(result: Result, endpoint: str | None = None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def _names(value: Any) -> list[str]:
    return [n for n in value if isinstance(n, str) and n] if isinstance(value, list) else []


def _digest_for(name: str | None, repo_digests: list[str], fallback: str | None) -> str | None:
    repo = name.rsplit(":", 1)[0] if name and ":" in name.rsplit("/", 1)[-1] else name
    for entry in repo_digests:
        base, _, digest = entry.partition("@")
        if repo is not None and base == repo and digest:
            return digest
    return fallback


def parse_images(items: Any, store: Store | None) -> list[ImageRecord]:
    """One record per name (or one unnamed record) from ``podman images --all --format json``
    (which repeats an image once per name it has: each image is taken once)."""
    if not isinstance(items, list):
        raise ValueError("expected a JSON list")
    records = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Id"), str):
            raise ValueError("expected objects with an Id")
        if item["Id"] in seen:  # podman 4.3 prints an image with N names N times, each with all N
            continue
        seen.add(item["Id"])
        size = item.get("Size")
        names = _names(item.get("Names")) or _names(item.get("RepoTags"))
        digests = _names(item.get("RepoDigests"))
        digest = item.get("Digest") if isinstance(item.get("Digest"), str) else None
        refs: list[str | None] = [*names] or [None]
        for name in refs:
            records.append(
                ImageRecord(
                    backend="podman",
                    namespace=None,
                    ref=name,
                    id=sha(item["Id"]),
                    digest=_digest_for(name, digests, digest) or None,
                    size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                    size_kind=SizeKind.UNPACKED,
                    store=store,
                    created=model.rfc3339_utc(item.get("CreatedAt")) or unix_utc(item.get("Created")),
                )
            )
    return records


def parse_ps(items: Any) -> list[ContainerRecord]:
    """``podman ps --all --format json``."""
    if not isinstance(items, list):
        raise ValueError("expected a JSON list")
    records = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Id"), str):
            raise ValueError("expected objects with an Id")
        state = str(item.get("State") or "").lower()
        labels: dict[str, Any] = item["Labels"] if isinstance(item.get("Labels"), dict) else {}
        records.append(
            ContainerRecord(
                backend="podman",
                namespace=None,
                id=item["Id"],
                name=(_names(item.get("Names")) or [item["Id"]])[0],
                image=item.get("Image") or None,
                state=STATES.get(state, State.UNKNOWN),
                status=item.get("Status") or state or None,
                pod=None,
                pod_id=None,
                created=unix_utc(item.get("Created")),
                labels={str(k): str(v) for k, v in labels.items()},
            )
        )
    return records


def parse_loaded(stdout: str) -> list[str]:
    """``podman load``: "Loaded image: REF" (podman 4), "Loaded image(s): A,B" (older)."""
    out: list[str] = []
    for m in re.finditer(r"^Loaded image(?:\(s\))?: (.+)$", stdout, re.M):
        out.extend(ref.strip() for ref in m[1].split(",") if ref.strip())
    return out


def parse_pruned(stdout: str) -> set[str]:
    """``podman image prune``: one removed image id (bare hex) per line."""
    return {f"sha256:{m[1]}" for m in re.finditer(r"^([0-9a-f]{64})\s*$", stdout, re.M)}


def info_fields(data: Any) -> dict[str, Any]:
    """The fields of ``podman info --format json`` ctrtool uses; ValueError when it is not that."""
    if not isinstance(data, dict) or not isinstance(data.get("store"), dict):
        raise ValueError("expected a JSON object with store")
    store: dict[str, Any] = data["store"]
    version: dict[str, Any] = data["version"] if isinstance(data.get("version"), dict) else {}
    images: dict[str, Any] = store["imageStore"] if isinstance(store.get("imageStore"), dict) else {}
    count = images.get("number")
    return {
        "graphroot": store.get("graphRoot") if isinstance(store.get("graphRoot"), str) else None,
        "runroot": store.get("runRoot") if isinstance(store.get("runRoot"), str) else None,
        "driver": store.get("graphDriverName") if isinstance(store.get("graphDriverName"), str) else None,
        "version": str(version["Version"]) if version.get("Version") is not None else None,
        "images": count if isinstance(count, int) and not isinstance(count, bool) else None,
    }


# -- containers/storage's files (the rootless stores; the layers of every store), as cstorage reads them


def store_images(contents: cstorage.Contents, store: Store) -> list[ImageRecord]:
    """Image records of a store read from its files: size as podman counts it (its layers'
    ``diff-size`` plus the image's big data: manifest, config, signatures)."""
    records = []
    for image in contents.images:
        chain = contents.chain(image.top_layer)
        sizes = [layer.diff_size for layer in chain]
        size = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes) + image.metadata_bytes
        refs: list[str | None] = [*image.names] or [None]
        for name in refs:
            records.append(
                ImageRecord(
                    backend="podman",
                    namespace=None,
                    ref=name,
                    id=sha(image.id),
                    digest=image.digest,
                    size=size,
                    size_kind=SizeKind.UNPACKED,
                    store=store,
                    created=model.rfc3339_utc(image.created),
                    source="metadata",
                    diff_ids=[layer.diff_digest for layer in chain if layer.diff_digest],
                )
            )
    return records


def store_containers(contents: cstorage.Contents) -> list[ContainerRecord]:
    """Container records of a store read from its containers.json: the image by its first name in
    the store (else its id); the state is in libpod's database, not here: unknown."""
    names = {i.id: (i.names[0] if i.names else None) for i in contents.images}
    return [
        ContainerRecord(
            backend="podman",
            namespace=None,
            id=c.id,
            name=c.names[0] if c.names else c.id,
            image=names.get(c.image or "") or sha(c.image),
            state=State.UNKNOWN,
            status=None,
            pod=None,
            pod_id=None,
            created=None,
        )
        for c in contents.containers
    ]


def image_layers(chain: Sequence[cstorage.CLayer], conf: cstorage.StorageConf) -> list[LayerRecord]:
    """Each layer of an image (base first) and its directory (``<graphroot>/<driver>/<id>/diff``)."""
    diff_ids = [layer.diff_digest or "" for layer in chain]
    records = []
    for index, (layer, chain_id) in enumerate(zip(chain, chain_ids(diff_ids))):
        path = cstorage.layer_dir(conf, layer.id)
        copy = LayerCopy(backend="podman", namespace=None, kind=CopyKind.UNPACKED, path=path, seen_by=["podman"])
        records.append(LayerRecord(index, diff_ids[index], chain_id, None, [copy]))
    return records


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()
