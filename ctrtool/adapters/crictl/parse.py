"""What crictl prints, parsed (its JSON: images, containers, pods, info, version), and the
CRI's rules read from it. No tool calls here."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ... import model
from ...model import ContainerRecord, ImageRecord, ImageTarget, PodRecord, PodState, SizeKind, State
from ...runner import Result, Streamed, not_understood
from ..shared import canonical_ref

CRI_CONTAINERD_NAMESPACE = "k8s.io"  # fixed in containerd's CRI plugin


# -- parsers (pure functions, tested on recorded output) ---------------------------------------


def prune_candidates(images: Any, ps: Any) -> list[tuple[str, list[str], list[str]]]:
    """What ``crictl rmi --prune`` removes, from ``crictl images -o json`` and ``crictl ps -a -o json``:
    (id, tags, repo digests) of every image that is not pinned and that no container uses (by its
    imageRef, or by the image it names)."""
    if not isinstance(images, dict) or not isinstance(images.get("images"), list):
        raise ValueError("expected an object with an 'images' list")
    if not isinstance(ps, dict) or not isinstance(ps.get("containers", []), list):
        raise ValueError("expected an object with a 'containers' list")
    ids: dict[str, str] = {}  # any name of an image (tags in their full form) -> its id
    for image in images["images"]:
        for name in [image.get("id"), *(image.get("repoDigests") or [])]:
            if name:
                ids[name] = image.get("id")
        for tag in image.get("repoTags") or []:
            ids[canonical_ref(tag)] = image.get("id")
    used = set()
    for item in ps.get("containers") or []:
        for name in (item.get("imageRef"), (item.get("image") or {}).get("image")):
            if name:
                found = ids.get(name) or ids.get(canonical_ref(name))
                if found:
                    used.add(found)
    return [
        (image["id"], list(image.get("repoTags") or []), list(image.get("repoDigests") or []))
        for image in images["images"]
        if image.get("id") not in used and not image.get("pinned")
    ]


def sandbox_image(info_json: str, images: Any = None) -> str | None:
    """The pod sandbox (pause) image in its full form. containerd 1.6 and 1.7 say it in ``crictl
    info -o json`` (config.sandboxImage); 2.x moved it to the CRI images plugin's pinned images
    (``pinned_images.sandbox``), which ``crictl info`` no longer shows: then it is the image the CRI
    lists as pinned in ``crictl images -o json`` (``images``). None when neither says."""
    try:
        config = json.loads(info_json).get("config")
        image = config.get("sandboxImage") if isinstance(config, dict) else None
    except (ValueError, AttributeError):
        image = None
    if isinstance(image, str) and image:
        return canonical_ref(image)
    pinned = [
        tag
        for i in ((images or {}).get("images") or [])
        if isinstance(i, dict) and i.get("pinned")
        for tag in (i.get("repoTags") or [])
    ]
    return canonical_ref(pinned[0]) if len(pinned) == 1 else None


def containerd_snapshotter(info: Any, imagefs_root: str | None) -> str | None:
    """The CRI's snapshotter: config.containerd.snapshotter (containerd 1.6, 1.7), else the name
    of the image filesystem's directory, io.containerd.snapshotter.v1.<name> (2.x, where the
    snapshotter moved to the CRI images plugin and left ``crictl info``)."""
    config = info.get("config") if isinstance(info, dict) else None
    section = config.get("containerd") if isinstance(config, dict) else None
    named = section.get("snapshotter") if isinstance(section, dict) else None
    return named if isinstance(named, str) and named else snapshotter_of_root(imagefs_root)


def parse_deleted(stdout: str) -> list[str]:
    """``crictl rmi``: "Deleted: NAME" per name of each image removed (tags, else repo digests)."""
    return [m[1].strip() for m in re.finditer(r"^Deleted: (.+)$", stdout, re.M)]


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


def parse_client_version(stdout: str) -> str | None:
    """``crictl --version``: "crictl version v1.37.0" -> "v1.37.0"; None for "unknown"."""
    m = re.search(r"version\s+(v?\d+\.\d+[^\s]*)", stdout)
    return m[1] if m else None


def parse_imagefs_mountpoint(data: Any) -> str | None:
    try:
        filesystems = data["status"]["imageFilesystems"]
        return filesystems[0]["fsId"]["mountpoint"] if filesystems else None
    except (KeyError, TypeError, IndexError):
        return None


def snapshotter_of_root(root: str | None) -> str | None:
    """The snapshotter's name from its root directory (io.containerd.snapshotter.v1.<name>)."""
    base = os.path.basename(root.rstrip("/")) if root else ""
    prefix = "io.containerd.snapshotter.v1."
    return base[len(prefix) :] if base.startswith(prefix) else None


def parse_images(
    data: Any, namespace: str | None, store: model.Store | None, content: model.Store | None = None
) -> list[ImageRecord]:
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
            records.append(
                ImageRecord(
                    backend="crictl",
                    namespace=namespace,
                    ref=tag,
                    id=image.get("id"),
                    digest=digest,
                    size=size,
                    size_kind=SizeKind.CONTENT if namespace else SizeKind.REPORTED,
                    store=store,
                    content=content,
                )
            )
    return records


# the CRI's container states -> the one vocabulary
CONTAINER_STATES = {
    "CONTAINER_RUNNING": State.RUNNING,
    "CONTAINER_CREATED": State.CREATED,
    "CONTAINER_EXITED": State.EXITED,
    "CONTAINER_UNKNOWN": State.UNKNOWN,
}
POD_STATES = {"SANDBOX_READY": PodState.READY, "SANDBOX_NOTREADY": PodState.NOTREADY}


def uses_image(c: ContainerRecord, image: ImageTarget) -> bool:
    """Whether CRI container ``c`` runs from ``image``: the CRI names a container's image by its
    id (``sha256:...``) or by a name the image has."""
    if not c.image:
        return False
    if image.id and c.image in (image.id, image.id.removeprefix("sha256:")):
        return True
    names = {image.ref, *image.tags}
    try:
        return c.image in names or canonical_ref(c.image) in {canonical_ref(n) for n in names}
    except ValueError:
        return False


def cri_time(nanoseconds: Any) -> str | None:
    """The CRI's createdAt (nanoseconds since the epoch, as a string) -> RFC 3339, UTC."""
    from datetime import datetime, timezone

    try:
        seconds = int(nanoseconds) / 1e9
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ps(ps: Any, pods: Any, namespace: str | None) -> list[ContainerRecord]:
    """``crictl ps -a -o json`` with the pod names from ``crictl pods -o json``."""
    if not isinstance(ps, dict) or not isinstance(ps.get("containers", []), list):
        raise ValueError("expected an object with a 'containers' list")
    pod_names = {p.get("id"): (p.get("metadata") or {}).get("name") for p in pod_items(pods)}
    records = []
    for item in ps.get("containers") or []:
        meta = item.get("metadata") or {}
        image = (item.get("image") or {}).get("image") or item.get("imageRef") or None
        state = item.get("state")
        records.append(
            ContainerRecord(
                backend="crictl",
                namespace=namespace,
                id=item["id"],
                name=meta.get("name") or item["id"],
                image=image,
                state=CONTAINER_STATES.get(state, State.UNKNOWN),
                status=state,
                pod=pod_names.get(item.get("podSandboxId")),
                pod_id=item.get("podSandboxId"),
                created=cri_time(item.get("createdAt")),
                labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
            )
        )
    return records


def pod_items(pods: Any) -> list[dict[str, Any]]:
    if not isinstance(pods, dict) or not isinstance(pods.get("items", []), list):
        raise ValueError("expected an object with an 'items' list of pods")
    return pods.get("items") or []


def parse_pods(pods: Any, ps: Any, namespace: str | None) -> list[PodRecord]:
    """``crictl pods -o json``, with each pod's number of containers from ``crictl ps -a -o json``."""
    counts: dict[str, int] = {}
    for item in (ps or {}).get("containers") or []:
        counts[item.get("podSandboxId")] = counts.get(item.get("podSandboxId"), 0) + 1
    records = []
    for item in pod_items(pods):
        meta = item.get("metadata") or {}
        state = item.get("state")
        attempt = meta.get("attempt")
        records.append(
            PodRecord(
                backend="crictl",
                namespace=namespace,
                id=item["id"],
                name=meta.get("name") or item["id"],
                pod_namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                state=POD_STATES.get(state or "", PodState.UNKNOWN),
                status=state,
                created=cri_time(item.get("createdAt")),
                attempt=int(attempt) if isinstance(attempt, (int, str)) and str(attempt).isdigit() else None,
                containers=counts.get(item["id"], 0),
            )
        )
    return records


EXIT_REPORT = re.compile(r"execing command in container \S+: command terminated with exit code (\d+)")


def is_exit_report(line: str) -> bool:
    return EXIT_REPORT.search(line) is not None


def exec_status(got: Streamed) -> int:
    """The command's own exit status: crictl's report of it when there is one."""
    for line in got.withheld:
        m = EXIT_REPORT.search(line)
        if m:
            return int(m[1])
    return got.returncode


def load_json(result: Result, endpoint: str | None) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise not_understood(result, f"invalid JSON ({exc})", endpoint) from None


def error_line(stderr: str) -> str:
    """crictl logs with logrus: prefer the msg of the last error line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "level=fatal" in line or "level=error" in line:
            start = line.find('msg="')
            if start >= 0:
                return line[start + 5 :].rstrip('"').replace('\\"', '"')
            return line
    return lines[-1] if lines else ""
