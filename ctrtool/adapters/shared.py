"""What the adapters share that is not the interface: name matching (images and containers as the
tools match them), places in words, chain ids, a tree's size, running calls in parallel."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import Ambiguous, NotFound, PermissionDenied, ToolError, Unreachable
from ..model import ContainerRecord, ImageRecord


def is_image_layer(key: str) -> bool:
    """A snapshot holds an image layer when its key is the layer's chain id (how containerd's
    unpacker names them); containers' snapshots are named after the container ("<id>", "<id>-init")."""
    return bool(re.fullmatch(r"sha256:[0-9a-f]{64}", key))


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """chain[0] = diff[0]; chain[i] = sha256 of "chain[i-1] diff[i]" (the OCI image spec)."""
    import hashlib

    out: list[str] = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def tree_size(path: str) -> int:
    """Bytes of the files under ``path``, in one walk: apparent sizes of regular files and symlinks
    (like ``du --apparent-size -b`` without the directories' own blocks), a hard-linked file once."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def named_images(images: Sequence[tuple[str, Sequence[str]]], limit: int = 10) -> str:
    """(id, names) pairs in words for a plan's ``what``: "localhost/app:1, localhost/app:latest;
    untagged sha256:4f1c2a3b9d0e" (images apart by "; "), named ones first, the first ``limit``
    of them and how many more."""
    ordered = sorted(images, key=lambda pair: (not pair[1], sorted(pair[1]), pair[0]))
    words = [", ".join(names) if names else f"untagged {image_id[:19]}" for image_id, names in ordered[:limit]]
    if len(ordered) > limit:
        words.append(f"and {len(ordered) - limit} more")
    return "; ".join(words)


def place(backend: str, namespace: str | None) -> str:
    """Where something is, in words: "docker", "ctr namespace default", "crictl (k8s.io)"."""
    if backend == "ctr":
        return f"ctr namespace {namespace}"
    if backend == "crictl" and namespace:
        return f"crictl ({namespace})"
    return backend


def match_containers(records: Sequence[ContainerRecord], ref: str) -> list[ContainerRecord]:
    """The containers ``ref`` names, best kind of match first: the exact id, else the exact name,
    else a unique id prefix (as the tools accept). More than one result means ambiguous."""
    for test in (lambda r: r.id == ref, lambda r: r.name == ref, lambda r: len(ref) >= 3 and r.id.startswith(ref)):
        found = [r for r in records if test(r)]
        if found:
            return found
    return []


def resolve_container(records: Sequence[ContainerRecord], ref: str, where: str) -> ContainerRecord:
    """The one container ``ref`` names among ``records`` (one listing of one place)."""
    found = match_containers(records, ref)
    if not found:
        raise NotFound("container", ref, where)
    if len(found) > 1:
        raise Ambiguous(
            f"{ref!r} matches {len(found)} containers in {where}",
            [describe_container(r) for r in found],
            "give the container's ID",
        )
    return found[0]


def describe_container(r: ContainerRecord) -> str:
    pod = f", pod {r.pod}" if r.pod else ""
    return f"{r.id[:12]} ({r.name}{pod}, {r.state})"


def image_names(ref: str) -> list[str]:
    """The names a short reference stands for, as docker and the CRI normalise it:
    ``busybox`` -> ``busybox:latest``, ``docker.io/library/busybox:latest`` (ctrtool/refs.py)."""
    from ..refs import names_for

    return names_for(ref)


def canonical_ref(ref: str) -> str:
    """The full form of an image name: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    from ..refs import canonical

    return canonical(ref)


def match_images(records: Sequence[ImageRecord], ref: str) -> tuple[list[ImageRecord], bool]:
    """The image records ``ref`` names, and whether it named them by name (else by id): the same
    name (both normalised), else the exact id or manifest digest, else a prefix of either."""
    want = canonical_ref(ref)
    found = [r for r in records if r.ref and (r.ref == ref or canonical_ref(r.ref) == want)]
    if found:
        return found, True
    bare = ref[7:] if ref.startswith("sha256:") else ref
    hexish = re.fullmatch(r"[0-9a-f]{3,64}", bare) is not None
    for test in (
        lambda r: r.id == f"sha256:{bare}" or r.digest == f"sha256:{bare}",
        # a prefix of the id, or of the manifest digest: Docker 29 on containerd's image store
        # prints that as its IMAGE ID
        lambda r: hexish and any(d and d[7:].startswith(bare) for d in (r.id, r.digest)),
    ):
        found = [r for r in records if test(r)]
        if found:
            return found, False
    return [], False


def parallel(calls: Mapping[Any, Callable[[], Any]]) -> dict[Any, Any]:
    """Run independent calls in threads; return their results by key, or raise the first error.

    Every call is itself bounded by its adapter's deadline, so this never waits longer than that.
    """
    if len(calls) <= 1:
        return {key: fn() for key, fn in calls.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        futures = {key: pool.submit(fn) for key, fn in calls.items()}
        return {key: fut.result() for key, fut in futures.items()}


def stderr_mentions(stderr: str, *needles: str) -> bool:
    low = stderr.lower()
    return any(n.lower() in low for n in needles)


def dial_failure(binary: str, address: str | None, stderr: str, detail: str) -> ToolError:
    """The tool could not reach its daemon: PermissionDenied when ``stderr`` says so, else Unreachable."""
    if stderr_mentions(stderr, "permission denied"):
        return PermissionDenied(binary, address, detail)
    return Unreachable(binary, address, detail)


def realpath_or_none(path: str | None) -> str | None:
    return os.path.realpath(path) if path else None


def docker_style_exec(adapter: Any, c: ContainerRecord, command: Sequence[str], interactive: bool, tty: bool) -> int:
    """``TOOL exec [--interactive] [--tty] ID CMD...``, as docker and podman take it: a terminal of
    its own with --tty, else the tool's streams passed through (stdin with --interactive)."""
    adapter.require_running(c, "exec")
    flags = (["--interactive"] if interactive else []) + (["--tty"] if tty else [])
    argv = adapter.argv("exec", *flags, c.id, *command)
    if tty:
        return adapter.interactive(argv).returncode
    return adapter.stream(argv, stdin=interactive).returncode
