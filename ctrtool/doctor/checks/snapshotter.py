"""Snapshotter consistency: images in ``k8s.io`` not unpacked for the CRI's snapshotter (imported
with ``--snapshotter native``, or unpacked by another client): the first pod start unpacks them
again, slowly, and the disk holds both copies."""

from __future__ import annotations

import shlex
from typing import Any

from ...errors import CtrtoolError
from .. import Evidence, Fix, Options, Result, Skip, Status
from ..probe import Probe
from .common import containerd, error_evidence, place_flags

NAME = "snapshotter"
TITLE = "Snapshotter: the CRI's images unpacked where the CRI's runtime looks for them"


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
    """CRI-O: one store, so each image is unpacked once, by its graph driver. What matters is which
    store that is: the system's storage.conf (what podman, buildah and skopeo use as root) must
    name the same graph root, or an image they load is invisible to the kubelet (a crio.conf that
    sets ``root`` gives CRI-O a store of its own)."""
    import os

    from ...adapters.cstorage import system_conf
    from ...errors import ConfigError
    from ..procs import crio_serving, crio_storage_setting

    evidence = []
    found = probe.evidence("imagefsinfo", "--output", "json", tool=probe.cri, pick=lambda line: "mountpoint" in line)
    if found:
        evidence.append(found)
    ours = f"containers/storage at {store.graphroot}, unpacked once each by the {store.driver} driver"
    try:
        system = system_conf()
    except ConfigError as exc:
        return Result(
            NAME,
            TITLE,
            Status.WARN,
            f"the CRI runtime keeps its images in {ours}; the system's storage.conf is not readable: {exc.message}",
            evidence=evidence,
        )
    conf_line = _line_of(system.source, "graphroot") if system.source else None
    said = f"{system.source}:{conf_line[0]}" if conf_line else system.source or "containers/storage's default"
    evidence.append(Evidence(said, conf_line[1] if conf_line else f'graphroot = "{system.graphroot}"', kind="file"))
    if os.path.realpath(system.graphroot) == os.path.realpath(store.graphroot):
        return Result(
            NAME,
            TITLE,
            Status.OK,
            f"the CRI runtime keeps its images in {ours}; the system's storage.conf ({said}) names the same graph "
            "root: an image podman loads as root is the kubelet's, stored once",
            evidence=evidence,
        )
    if not os.path.isdir(system.graphroot):
        return Result(
            NAME,
            TITLE,
            Status.OK,
            f"the CRI runtime keeps its images in {ours}",
            evidence=evidence,
            details=[
                f"the system's storage.conf ({said}) names {system.graphroot}, where nothing is stored: podman, "
                "buildah or skopeo run as root would store images there, invisible to the kubelet"
            ],
        )
    daemon = crio_serving(probe.settings.endpoint(probe.cri).address)
    details = []
    if daemon is not None:
        setting = crio_storage_setting(*daemon, "root")
        if setting is not None:
            where = f"{setting.source}:{setting.line}" if setting.line else setting.source
            evidence.append(Evidence(where, setting.text, kind="file"))
            details.append(f"CRI-O (pid {daemon[0]}) has its graph root from {where}: {setting.text}")
    lines = [f'graphroot = "{store.graphroot}"']
    return Result(
        NAME,
        TITLE,
        Status.WARN,
        f"the CRI runtime keeps its images in {ours}, but the system's storage.conf ({said}) names "
        f"{system.graphroot}: an image podman, buildah or skopeo store as root is invisible to the kubelet",
        evidence=evidence,
        details=details,
        fixes=[
            Fix(
                f"make them one store: in {system.source or '/etc/containers/storage.conf'}, under [storage], set "
                f"graphroot to the CRI runtime's (images already in {system.graphroot} stay there: copy those the "
                "kubelet needs with `ctrtool copy` first)",
                file=system.source or "/etc/containers/storage.conf",
                lines=lines,
            )
        ],
    )


def _line_of(path: str, key: str) -> tuple[int, str] | None:
    """(number, text) of the line of the storage.conf at ``path`` that sets ``key``."""
    import re

    from ... import safeio
    from ...errors import ConfigError

    try:
        text = safeio.read_text(path, safeio.CONFIG_LIMIT, "storage.conf")
    except ConfigError:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*{key}\s*=", line):
            return number, line.strip()
    return None
