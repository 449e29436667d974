"""Where an image is, seen from the kubelet: in the CRI's namespace (ctr's view), visible to the CRI
(crictl's view), unpacked for the CRI's snapshotter, and where else it is (docker, other
namespaces), with the `ctrtool copy` that brings it to the kubelet. Shared by the sandbox_image and
image checks."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from ...errors import CtrtoolError
from ...facts import CriImage
from .. import Evidence, Fix
from ..probe import Probe
from .common import containerd, cri, place_flags, place_words


@dataclass
class Placement:
    ref: str  # as asked
    name: str  # the name the kubelet asks the CRI for (normalised)
    in_namespace: list[Any] = field(default_factory=list)  # ctr's Unpacked rows in k8s.io that match
    exact: bool = False  # one of them has exactly the kubelet's name
    cri: list[CriImage] = field(default_factory=list)  # the CRI's images that match
    cri_known: bool = False  # crictl answered
    ctr_known: bool = False  # ctr answered
    elsewhere: list[tuple[str, str | None]] = field(default_factory=list)  # (backend, namespace)
    snapshotter: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def not_unpacked(self, first: str) -> str | None:
        """The problem when ctr lists the image here but not unpacked for the CRI's snapshotter
        (``first``: what unpacks it then), else None."""
        if not (self.ctr_known and self.in_namespace and self.snapshotter):
            return None
        if any(self.snapshotter in r.snapshotters for r in self.in_namespace):
            return None
        others = sorted({s for r in self.in_namespace for s in r.snapshotters})
        return (
            f"not unpacked for the CRI's snapshotter {self.snapshotter}"
            + (f" (only for {', '.join(others)})" if others else "")
            + f": {first} unpacks it"
        )


def locate(probe: Probe, ref: str, namespace: str = "k8s.io") -> Placement:
    from ...adapters.base import canonical_ref

    name = canonical_ref(ref)
    p = Placement(ref, name)
    try:
        rows = probe.unpacked(namespace)
        p.ctr_known = True
        p.in_namespace = [r for r in rows if r.ref == ref or canonical_ref(r.ref) == name]
        p.exact = any(r.ref == name for r in p.in_namespace)
        found = probe.evidence(
            "images",
            "ls",
            tool=probe.containerd,
            pick=lambda line: _names(line, name, ref),
            header=lambda line: line.startswith("REF"),
        )
        if found:
            p.evidence.append(found)
    except CtrtoolError as exc:
        p.problems.append(f"ctr could not list namespace {namespace}: {exc.message}")
    try:
        images = probe.cri_images()
        p.cri_known = True
        p.cri = [i for i in images if any(t == name or canonical_ref(t) == name for t in i.repo_tags or [])]
        crictl = probe.evidence("images", "--output", "json", tool=probe.cri, excerpt=_cri_excerpt(p.cri, name))
        if crictl and not any(e.source == crictl.source for e in p.evidence):
            p.evidence.append(crictl)
    except CtrtoolError as exc:
        p.problems.append(f"crictl could not list images: {exc.message}")
    try:
        p.snapshotter = probe.cri_snapshotter()
    except CtrtoolError:
        p.snapshotter = None
    if not p.in_namespace:
        p.elsewhere = _elsewhere(probe, ref, namespace)
    return p


def _names(line: str, name: str, ref: str) -> bool:
    first = line.split(None, 1)[0] if line.strip() else ""
    from ...adapters.base import canonical_ref

    return first in (name, ref) or (bool(first) and canonical_ref(first) == name)


def _cri_excerpt(found: list[CriImage], name: str) -> str:
    if not found:
        return f"(no image named {name})"
    import json

    return "\n".join(json.dumps({"id": i.id, "repoTags": i.repo_tags, "pinned": i.pinned}) for i in found[:5])


def _elsewhere(probe: Probe, ref: str, namespace: str) -> list[tuple[str, str | None]]:
    """Where else the image is, from every backend's listing (ctr's other namespaces, docker)."""
    from ...adapters import get_descriptor, owner_of
    from ...adapters.base import canonical_ref

    try:
        got = probe.images()
    except CtrtoolError:
        return []
    name = canonical_ref(ref)
    places: list[tuple[str, str | None]] = []
    for r in got.rows:
        if not r.ref or canonical_ref(r.ref) != name or r.namespace == namespace:
            continue
        d = get_descriptor(r.backend)
        if d.has_pods:  # the CRI's own view: that is where the image is missing
            continue
        # a copy in a namespace another backend owns (docker's moby) is reached through that backend
        if d.selects_namespace and owner_of(r.namespace) not in (None, r.backend):
            continue
        place = (r.backend, r.namespace if d.selects_namespace else None)
        if place not in places:
            places.append(place)
    # a store of a backend's own (docker's) first, then the namespaces
    return sorted(places, key=lambda p: (get_descriptor(p[0]).selects_namespace, p[1] or ""))


def elsewhere_rows(probe: Probe, ref: str) -> list[Any]:
    """The image rows named ``ref`` that no backend with pods (the CRI's own view) listed: where
    else the image is, in each backend's words (a user's rootless store with its owner)."""
    from ...adapters import get_descriptor
    from ...adapters.base import canonical_ref

    try:
        rows = probe.images().rows
    except CtrtoolError:
        return []
    name = canonical_ref(ref)
    return [
        r
        for r in rows
        if r.ref and canonical_ref(r.ref) == name and not get_descriptor(r.backend).has_pods and not r.kubelet_visible
    ]


def copy_fix(
    ref: str, place: tuple[str, str | None], why: str, probe: Probe | None = None, to: str | None = None
) -> Fix:
    """The `ctrtool copy` that brings ``ref`` from ``place`` to the kubelet (``to``: the kubelet's
    store in words; ctr namespace k8s.io unless said), with what it will add on disk (from the byte
    account) when the stores could be read."""
    backend, namespace = place
    from ...adapters import get_descriptor

    source = f"{backend}:{namespace}" if get_descriptor(backend).selects_namespace and namespace else backend
    where = place_words(backend, namespace)
    cost = _copy_cost(probe, ref, place) if probe is not None else None
    return Fix(
        f"{why}: it is in {where}; copy it to the kubelet's store ({to or 'containerd namespace k8s.io'})"
        + (f"; the copy {cost.words()}" if cost is not None else ""),
        commands=[shlex.join(["ctrtool", "copy", ref, "--from", source, "--to", cri()])],
    )


def load_fix(ref: str, why: str, store: Any = None, writer: str | None = None) -> Fix:
    """Pull it through the CRI, or load an archive where the kubelet looks: containerd's k8s.io, or,
    on CRI-O (``store``: its containers/storage), the runtime's store through the tool that writes
    it: ``writer``, the backend the CRI's adapter moves images through, None when none writes it:
    `ctrtool doctor --check snapshotter` says why)."""
    pull = shlex.join(["ctrtool", "pull", *place_flags(cri()), ref])
    if store is not None:
        return Fix(
            f"{why}: pull it through the CRI; on a node without a registry, save it on a machine that has it "
            f"(`ctrtool save -o IMAGE.tar REF`) and load the archive into the CRI runtime's store (graph root "
            f"{store.graphroot}) with a tool that writes that store",
            commands=[pull] + ([shlex.join(["ctrtool", "load", *place_flags(writer), "IMAGE.tar"])] if writer else []),
        )
    return Fix(
        f"{why}: pull it through the CRI; on a node without a registry, save it on a machine that has "
        "it (`ctrtool save -o IMAGE.tar REF`) and load the archive into namespace k8s.io",
        commands=[pull, shlex.join(["ctrtool", "load", *place_flags(containerd(), "k8s.io"), "IMAGE.tar"])],
    )


def _copy_cost(probe: Probe, ref: str, place: tuple[str, str | None]) -> Any:
    from ...adapters.base import canonical_ref
    from ...core.query import cri_namespace
    from ...core.storage import disk_usage
    from ...costs import copy_cost

    backend, namespace = place
    try:
        rows = probe.images().rows
        usage: Any = probe.fact("df", lambda: disk_usage(probe.settings, probe.present_backends()))
    except CtrtoolError:
        return None
    record = next(
        (
            r
            for r in rows
            if r.backend == backend
            and (namespace is None or r.namespace == namespace)
            and r.ref
            and canonical_ref(r.ref) == canonical_ref(ref)
        ),
        None,
    )
    if record is None:
        return None
    from ...model import StoreKind

    try:
        target_dir = probe.adapter(probe.cri).cstorage_root()  # CRI-O's store, else None
        source_dir = record.store.path if record.store and record.store.kind is StoreKind.CSTORAGE else None
        return copy_cost(
            probe.settings, [], record, record.namespace, cri_namespace(), usage.account, source_dir, target_dir
        )
    except CtrtoolError:
        return None


def store_writer(probe: Probe) -> str | None:
    """The backend whose tool writes the CRI runtime's store (the one the CRI moves images
    through: rootful podman on CRI-O's graph root), or None."""
    try:
        return probe.adapter(probe.cri).moves_through()[0]
    except CtrtoolError:
        return None
