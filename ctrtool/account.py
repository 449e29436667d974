"""One account of the bytes under each container storage root: every byte in exactly one bucket.

A *root* is a directory a tool keeps its storage under (containerd's root, docker's data root). The
account walks it once, as ``du -sxb --apparent-size`` does (every inode's apparent size, directories
included, a hard-linked file once, never into another filesystem: a running container's rootfs is a
mount), and gives each file to one bucket. Which bucket an image layer, a blob or a container's
layer goes to comes from the tool's own metadata (an adapter's classifier, read-only), by what
holds it: an image in a place, a container, a lease, or nothing at all (an orphan). So each
root's buckets add up to its ``du``, and ``df``, ``df --plan``, ``explain`` and doctor's disk check
can all read one account.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Bucket(str, enum.Enum):
    """What a byte is for. The values are the JSON's ``kind`` (docs/reference.md)."""

    LAYERS = "layers"  # image layers unpacked in one place (docker's graph directory, a namespace's snapshots)
    BLOBS = "blobs"  # content-store blobs that images refer to
    CONTAINERS = "containers"  # containers' writable and -init layers, and their own files (logs, config)
    DANGLING = "dangling"  # docker's untagged images' layers
    BUILD_CACHE = "build-cache"  # docker's build cache (buildkit)
    LEASED = "leased"  # held by a containerd lease only (a pull or import in progress, or left behind)
    HELD = "held"  # held by nothing but a containerd.io/gc.root label
    ORPHANED = "orphaned"  # nothing refers to it: containerd's GC or the tool's prune would remove it
    INGEST = "ingest"  # the content store's downloads in progress, or left over (ingest/)
    TMPMOUNTS = "tmpmounts"  # containerd's temporary mount points, left over
    VOLUMES = "volumes"  # docker's volumes
    METADATA = "metadata"  # the tools' databases and indexes
    OTHER = "other"  # anything else under the root


# the buckets a person can act on to free space, and how the bar draws them
# (docker's build cache is docker's to judge, `docker builder prune`: drawn as needed)
NEEDED = (
    Bucket.LAYERS,
    Bucket.BLOBS,
    Bucket.CONTAINERS,
    Bucket.BUILD_CACHE,
    Bucket.VOLUMES,
    Bucket.METADATA,
    Bucket.OTHER,
)
RECLAIMABLE = (Bucket.DANGLING,)
ORPHANS = (Bucket.ORPHANED, Bucket.LEASED, Bucket.INGEST, Bucket.TMPMOUNTS, Bucket.HELD)


@dataclass(frozen=True)
class Owner:
    """Who a path's bytes go to: a bucket, the place it belongs to (``containerd namespace k8s.io``,
    ``docker``; None for a root-wide bucket), and the namespaces (blobs: those whose images refer
    to it; leases: the lease's own)."""

    bucket: Bucket
    place: str | None = None
    namespaces: tuple[str, ...] = ()
    lease: str | None = None


@dataclass
class BucketUsage:
    kind: Bucket
    place: str | None
    bytes: int = 0
    items: int = 0  # the things counted: snapshots, blobs, layer directories, files
    namespaces: list[str] = field(default_factory=list)
    leases: list[dict] = field(default_factory=list)  # leased: each lease's id, age, labels


@dataclass
class RootAccount:
    """One storage root: its buckets add up to ``bytes``, what ``du -sxb --apparent-size`` says."""

    root: str
    tool: str  # whose root: "containerd", "docker"
    bytes: int
    buckets: list[BucketUsage]
    notes: list[str] = field(default_factory=list)  # what the classifier could not tell
    # not in the JSON: each counted thing's bytes (a snapshot, a blob, a layer directory), its
    # directory or file, and the tool's reference graph
    item_bytes: dict[str, int] = field(default_factory=dict, repr=False)
    item_paths: dict[str, str] = field(default_factory=dict, repr=False)
    model: Any = field(default=None, repr=False)
    # a root of the CRI's runtime (containerd's): the kubelet sees images there (not in the JSON)
    cri_visible: bool = field(default=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "tool": self.tool,
            "bytes": self.bytes,
            "buckets": self.buckets,
            "notes": self.notes,
        }

    def of(self, kind: Bucket) -> int:
        return sum(b.bytes for b in self.buckets if b.kind is kind)

    def of_needed_layers(self) -> int:
        """Image layers and dangling images' layers: what a tool keeps for images here."""
        return self.of(Bucket.LAYERS) + self.of(Bucket.DANGLING)


# A classifier maps a path under the root to its owner. ``owners`` holds the paths whose owner is
# known (a directory's owner covers everything under it unless a deeper path is listed); ``items``
# names, per path, the thing counted (a snapshot, a blob) so that items are counted once.
@dataclass
class Classifier:
    root: str
    tool: str
    owners: dict[str, Owner]
    default: Owner = Owner(Bucket.OTHER)
    items: dict[str, str] = field(default_factory=dict)
    # a directory whose own inode is the enclosing owner's, but whose entries are this owner's
    # (``ingest/`` itself is the content store's; what is in it is an ingest)
    under: dict[str, Owner] = field(default_factory=dict)
    leases: dict[str, dict] = field(default_factory=dict)  # lease id -> its description
    notes: list[str] = field(default_factory=list)
    model: Any = None  # the tool's reference graph, for the plan's simulation (:mod:`ctrtool.reclaim`)
    cri_visible: bool = False  # a root of the CRI's runtime: the kubelet sees images there


def walk(classifier: Classifier, skip: frozenset[str] = frozenset()) -> RootAccount:
    """Walk the root once and add every inode's apparent size to its owner's bucket. ``skip``:
    other roots inside this one (docker's bundled containerd under its data root), counted there."""
    root = classifier.root
    top = os.lstat(root)
    seen: set[tuple[int, int]] = set()
    sums: dict[Owner, list] = {}
    counted: set[tuple[Owner, str]] = set()

    item_bytes: dict[str, int] = {}

    def add(owner: Owner, size: int, item: str | None) -> None:
        slot = sums.setdefault(owner, [0, 0])
        slot[0] += size
        if item is not None:
            item_bytes[item] = item_bytes.get(item, 0) + size
        if item is not None and (owner, item) not in counted:
            counted.add((owner, item))
            slot[1] += 1

    add(classifier.owners.get(root, classifier.default), top.st_size, None)
    seen.add((top.st_dev, top.st_ino))
    stack: list[tuple[str, Owner, str | None]] = [(root, classifier.owners.get(root, classifier.default), None)]
    while stack:
        directory, owner, item = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # gone while walking (a container stopped): its bytes went with it
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_dev != top.st_dev or entry.path in skip:
                continue  # a mount point (a running container's rootfs): another filesystem, as du -x
            here = classifier.owners.get(entry.path, owner)
            what = classifier.items.get(entry.path, item)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                add(here, st.st_size, what)
            if stat.S_ISDIR(st.st_mode):
                stack.append((entry.path, classifier.under.get(entry.path, here), what))
    merged: dict[tuple[Bucket, str | None], BucketUsage] = {}
    for owner, (size, items) in sums.items():
        row = merged.setdefault((owner.bucket, owner.place), BucketUsage(owner.bucket, owner.place))
        row.bytes += size
        row.items += items
        row.namespaces += [n for n in owner.namespaces if n not in row.namespaces]
        if owner.lease and owner.lease in classifier.leases:
            if all(lease["id"] != owner.lease for lease in row.leases):
                row.leases.append(classifier.leases[owner.lease])
    order = {b: i for i, b in enumerate(Bucket)}
    buckets = sorted(merged.values(), key=lambda b: (order[b.kind], b.place or ""))
    for b in buckets:
        b.namespaces.sort()
    total = sum(b.bytes for b in buckets)
    paths = {item: path for path, item in classifier.items.items()}
    return RootAccount(
        root,
        classifier.tool,
        total,
        buckets,
        list(classifier.notes),
        item_bytes,
        paths,
        classifier.model,
        cri_visible=classifier.cri_visible,
    )


def account(roots: dict[str, Callable[[], Classifier]]) -> list[RootAccount]:
    """Each root's account (``roots``: real path -> its classifier), walked in parallel; a root
    inside another is counted in its own account only."""
    from concurrent.futures import ThreadPoolExecutor

    if not roots:
        return []

    def one(root: str) -> RootAccount:
        inner = frozenset(r for r in roots if r != root and r.startswith(root.rstrip("/") + "/"))
        return walk(roots[root](), inner)

    with ThreadPoolExecutor(max_workers=min(4, len(roots))) as pool:
        return list(pool.map(one, sorted(roots)))


def parts(row: RootAccount, duplicated: int) -> list[tuple[str, int]]:
    """A root's bytes in the four parts the bar draws: needed (less what is duplicated),
    duplicated (layers unpacked in another store too: one copy would do), reclaimable (docker's
    dangling images) and orphaned (nothing needs it: orphans, leases, ingests,
    tmpmounts, gc.root-only)."""
    needed = sum(row.of(b) for b in NEEDED)
    duplicated = min(duplicated, needed)
    return [
        ("needed", needed - duplicated),
        ("duplicated", duplicated),
        ("reclaimable", sum(row.of(b) for b in RECLAIMABLE)),
        ("orphaned", sum(row.of(b) for b in ORPHANS)),
    ]


CHARS = {"needed": "█", "duplicated": "▓", "reclaimable": "▒", "orphaned": "░"}
ASCII_CHARS = {"needed": "#", "duplicated": "=", "reclaimable": "+", "orphaned": "."}


def chars(encoding: str | None) -> dict[str, str]:
    """The bar's characters for an output encoding: block shades, or ASCII where they cannot be
    written (an ASCII-only locale)."""
    try:
        "".join(CHARS.values()).encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII_CHARS
    return CHARS


def bar(shares: list[tuple[str, int]], width: int, glyphs: dict[str, str] = CHARS) -> str:
    """``shares`` as one bar ``width`` characters wide, each part its own character (so it reads
    without color); a part that is there gets at least one character."""
    total = max(1, sum(size for _n, size in shares))
    cells = [max(1 if size else 0, round(size * width / total)) for _n, size in shares]
    while sum(cells) > width and max(cells) > 1:
        cells[cells.index(max(cells))] -= 1
    return "".join(glyphs[name] * n for (name, _s), n in zip(shares, cells))
