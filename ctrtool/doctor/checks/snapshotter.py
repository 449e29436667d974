"""Snapshotter consistency: images in ``k8s.io`` not unpacked for the CRI's snapshotter (imported
with ``--snapshotter native``, or unpacked by another client): the first pod start unpacks them
again, slowly, and the disk holds both copies."""

from __future__ import annotations

import shlex
from typing import Any

from ...errors import CtrtoolError
from .. import Fix, Options, Result, Skip, Status
from ..probe import Probe
from .common import containerd, error_evidence, place_flags

NAME = "snapshotter"
TITLE = "Snapshotter: images in k8s.io unpacked for the CRI's snapshotter (containers/storage: its driver)"


def unpack_fix(ref: str, snapshotter: str | None) -> Fix:
    """Export the image from k8s.io and import it again: the import unpacks it for ctr's snapshotter
    (CONTAINERD_SNAPSHOTTER, set to the CRI's), and the CRI sees the image event."""
    archive = "/var/tmp/" + "".join(c if c.isalnum() or c in "._-" else "_" for c in ref) + ".tar"
    env = f"CONTAINERD_SNAPSHOTTER={snapshotter} " if snapshotter and snapshotter != "overlayfs" else ""
    return Fix(
        f"unpack {ref} for {snapshotter or 'the CRI snapshotter'}: export it from k8s.io and import it again "
        f"(the import unpacks it); remove {archive} afterwards",
        commands=[
            shlex.join(["ctrtool", "save", *place_flags(containerd(), "k8s.io"), "-o", archive, ref]),
            env + shlex.join(["ctrtool", "load", *place_flags(containerd(), "k8s.io"), archive]),
        ],
    )


def run(probe: Probe, options: Options) -> Result:
    try:
        snapshotter = probe.cri_snapshotter()
    except CtrtoolError as exc:
        raise Skip(f"the CRI did not answer: {exc.message}", [error_evidence(exc)]) from None
    if not snapshotter:
        store = probe.cri_store()
        if store is not None:
            return _containers_storage(probe, store)
        raise Skip("the CRI does not say which snapshotter it uses (not containerd?)")
    try:
        rows = probe.unpacked("k8s.io")
    except CtrtoolError as exc:
        raise Skip(f"ctr could not list namespace k8s.io: {exc.message}", [error_evidence(exc)]) from None
    evidence = []
    source = probe.evidence(
        "info",
        "--output",
        "json",
        tool=probe.cri,
        excerpt=f'snapshotter: "{snapshotter}" (config.containerd.snapshotter, '
        "or the image filesystem's directory io.containerd.snapshotter.v1.<name>)",
    )
    if source:
        evidence.append(source)
    named = [r for r in rows if not r.ref.startswith("sha256:")]
    unknown = [r for r in named if r.top_layer is None]
    missing = [r for r in named if r.top_layer and snapshotter not in r.snapshotters]
    details = [f"{r.ref}: its config is not readable in the content store; not judged" for r in unknown]
    if not missing:
        return Result(
            NAME,
            TITLE,
            Status.OK,
            f"every image in k8s.io ({len(named)}) is unpacked for the CRI's snapshotter {snapshotter}",
            evidence=evidence,
            details=details,
        )
    for r in missing:
        others = ", ".join(r.snapshotters) or "no snapshotter"
        details.append(f"{r.ref} ({(r.id or '?')[:19]}): unpacked for {others}, not for {snapshotter}")
    found = probe.evidence(
        "--namespace", "k8s.io", "snapshots", "--snapshotter", snapshotter, "ls", tool=probe.containerd, limit=8
    )
    if found:
        evidence.append(found)
    for other in sorted({s for r in missing for s in r.snapshotters}):
        more = probe.evidence(
            "--namespace", "k8s.io", "snapshots", "--snapshotter", other, "ls", tool=probe.containerd, limit=8
        )
        if more:
            evidence.append(more)
    names = ", ".join(r.ref for r in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return Result(
        NAME,
        TITLE,
        Status.WARN,
        f"{len(missing)} image(s) in k8s.io not unpacked for the CRI's snapshotter {snapshotter} ({names}): "
        "the first pod start unpacks them again, and the disk holds both copies",
        evidence=evidence,
        fixes=[unpack_fix(r.ref, snapshotter) for r in missing[:10]],
        details=details,
    )


def _containers_storage(probe: Probe, store: Any) -> Result:
    """CRI-O: one store, so each image is unpacked once, by its graph driver; what to know is which
    store that is (the graph root and driver), so that other tools can be pointed at it."""
    evidence = []
    found = probe.evidence("imagefsinfo", "--output", "json", tool=probe.cri, pick=lambda line: "mountpoint" in line)
    if found:
        evidence.append(found)
    return Result(
        NAME,
        TITLE,
        Status.OK,
        f"the CRI runtime keeps its images in containers/storage at {store.graphroot}, unpacked once each by "
        f"the {store.driver} driver under {store.graphroot}/{store.driver}",
        evidence=evidence,
    )
