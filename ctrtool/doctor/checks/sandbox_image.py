"""Sandbox image: the CRI's configured pause image (containerd 1.6/1.7 ``sandbox_image``, 2.x
``pinned_images.sandbox``) present in ``k8s.io``, visible to the CRI, unpacked for the CRI's
snapshotter, and pinned. Missing, every new pod sandbox would pull it from a registry (an
air-gapped node starts no pod)."""

from __future__ import annotations

from typing import Any

from ...errors import CtrtoolError
from .. import Evidence, Options, Result, Skip, Status
from ..probe import Probe
from .common import containerd, cri, error_evidence, file_evidence, place_words
from .placement import copy_fix, load_fix, locate, store_writer

NAME = "sandbox_image"
TITLE = "Sandbox (pause) image: in the CRI's store, unpacked, pinned"


def configured(probe: Probe) -> tuple[str | None, Evidence | None]:
    """The sandbox image and where it was read: ``crictl info`` (1.x: config.sandboxImage), else
    containerd's config file (2.x: pinned_images.sandbox of io.containerd.cri.v1.images)."""
    info = probe.cri_info()
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    image = config.get("sandboxImage") if isinstance(config, dict) else None
    if isinstance(image, str) and image:
        return image, probe.evidence("info", "--output", "json", tool=cri(), excerpt=f'config.sandboxImage: "{image}"')
    from ..procs import serving

    daemon = serving(probe.settings.endpoint(cri()).address) or serving(probe.settings.endpoint(containerd()).address)
    if daemon is not None:
        plugins = daemon.config.get("plugins")
        section = plugins.get("io.containerd.cri.v1.images") if isinstance(plugins, dict) else None
        images = section.get("pinned_images") if isinstance(section, dict) else None
        pinned = images.get("sandbox") if isinstance(images, dict) else None
        if isinstance(pinned, str) and pinned:
            return pinned, file_evidence(
                daemon.config_path, ["[plugins.'io.containerd.cri.v1.images'.pinned_images]", f'sandbox = "{pinned}"']
            )
    # 2.x with no readable config: the image the CRI pins (sandbox_image below reads that)
    image = probe.sandbox_image()
    if image:
        return image, probe.evidence("images", "--output", "json", tool=cri(), excerpt=f"pinned: {image}")
    return None, None


def run(probe: Probe, options: Options) -> Result:
    try:
        image, source = configured(probe)
    except CtrtoolError as exc:
        raise Skip(f"the CRI did not answer: {exc.message}", [error_evidence(exc)]) from None
    if not image:
        raise Skip("the CRI does not say which sandbox image it uses, and containerd's config was not readable")
    store = probe.cri_store()
    if store is not None:
        return _in_runtime_store(probe, image, source, store)
    where = locate(probe, image)
    evidence = ([source] if source else []) + where.evidence
    details: list[str] = list(where.problems)
    why = f"every new pod needs the sandbox image {image}"
    if not where.in_namespace and not where.cri:
        fixes = [copy_fix(image, place, why, probe) for place in where.elsewhere[:1]] or [load_fix(image, why)]
        if where.elsewhere:
            places = ", ".join(place_words(b, ns) for b, ns in where.elsewhere)
            details.append(f"it is in {places}, which the CRI does not see")
        return Result(
            NAME,
            TITLE,
            Status.FAIL,
            f"the sandbox image {image} is not in containerd namespace k8s.io: "
            "every new pod sandbox would pull it from a registry",
            evidence=evidence,
            fixes=fixes,
            details=details,
        )
    status = Status.OK
    problems = []
    gap = where.not_unpacked("the first pod")
    if gap and where.snapshotter:
        status = Status.WARN
        problems.append(gap)
        found = probe.evidence("snapshots", "--snapshotter", where.snapshotter, "ls", tool=containerd(), limit=6)
        if found:
            evidence.append(found)
    if where.cri_known and not where.cri:
        status = Status.FAIL
        problems.append("in k8s.io, but the CRI does not list it (imported around the CRI's image cache)")
    pinned = [i.pinned for i in where.cri]
    if pinned and not any(pinned):
        details.append(
            "the CRI does not report it pinned (containerd pins the sandbox image from 1.7 on): "
            "`crictl rmi --prune` and the kubelet's image GC may remove it while no pod runs"
        )
    summary = (
        f"the sandbox image {image} is in k8s.io, visible to the CRI"
        + (f", unpacked for {where.snapshotter}" if where.snapshotter and status is Status.OK else "")
        + (", pinned" if pinned and all(pinned) else "")
    )
    if problems:
        summary = f"the sandbox image {image}: " + "; ".join(problems)
    fixes = []
    if status is not Status.OK:
        from .snapshotter import unpack_fix

        fixes.append(unpack_fix(image, where.snapshotter))
    return Result(NAME, TITLE, status, summary, evidence=evidence, fixes=fixes, details=details)


def _in_runtime_store(probe: Probe, image: str, source: Evidence | None, store: Any) -> Result:
    """A CRI runtime on containers/storage (CRI-O): the image is there when the CRI lists it (its
    store is the one it lists), and nothing is unpacked apart from it (one store, one copy)."""
    from ...adapters.base import canonical_ref

    evidence = [source] if source else []
    name = canonical_ref(image)
    try:
        listed = [i for i in probe.cri_images() if any(canonical_ref(t) == name for t in i.repo_tags or [])]
    except CtrtoolError as exc:
        raise Skip(f"the CRI did not list its images: {exc.message}", [error_evidence(exc)]) from None
    found = probe.evidence("images", "--output", "json", tool=probe.cri, excerpt=f"{len(listed)} image(s) named {name}")
    if found:
        evidence.append(found)
    where = f"the CRI runtime's store (containers/storage, graph root {store.graphroot})"
    if not listed:
        return Result(
            NAME,
            TITLE,
            Status.FAIL,
            f"the sandbox image {image} is not in {where}: every new pod sandbox would pull it from a registry",
            evidence=evidence,
            fixes=[load_fix(image, f"every new pod needs the sandbox image {image}", store, store_writer(probe))],
        )
    pinned = [i.pinned for i in listed]
    details = (
        []
        if all(pinned)
        else ["the CRI does not report it pinned: the kubelet's image GC may remove it while no pod runs"]
    )
    return Result(
        NAME,
        TITLE,
        Status.OK,
        f"the sandbox image {image} is in {where}, visible to the CRI" + (", pinned" if all(pinned) else ""),
        evidence=evidence,
        details=details,
    )
