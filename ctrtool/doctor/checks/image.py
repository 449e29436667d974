"""``--image REF``: can the kubelet start a container from REF without pulling it? In ``k8s.io``,
under the name a pod spec's image normalises to (``busybox`` is ``docker.io/library/busybox:latest``),
visible to the CRI, unpacked for the CRI's snapshotter, for this node's platform. When REF is
elsewhere (docker, another namespace), where, and the `ctrtool copy` that fixes it."""

from __future__ import annotations

import os
import shlex
from typing import Any

from .. import Evidence, Fix, Options, Result, Skip, Status
from ..probe import Probe
from .common import containerd, error_evidence, place_flags, place_words
from .placement import copy_fix, load_fix, locate, store_writer
from .snapshotter import unpack_fix

NAME = "image"
TITLE = "Image: the kubelet can start a container from it without pulling"
NEEDS_IMAGE = True

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


def node_platform() -> str:
    machine = os.uname().machine
    return f"linux/{_ARCH.get(machine, machine)}"


def by_id(probe: Probe, ref: str) -> tuple[str, str] | None:
    """(a name of the image, the words saying so) when REF is no image's name but an image ID or a
    prefix of one, as `docker images`, `ctr` or `crictl` print it (Docker 29 on containerd's image
    store prints the manifest digest), else None. The kubelet is asked for names: the check is then
    about that name."""
    import re

    from ...adapters.base import match_images
    from ...errors import CtrtoolError

    if not re.fullmatch(r"(sha256:)?[0-9a-f]{3,64}", ref):
        return None
    try:
        rows = [r for r in probe.images().rows if r.ref and not r.ref.startswith("sha256:")]
    except CtrtoolError:
        return None
    found, by_name = match_images(rows, ref)
    if not found or by_name:
        return None
    names = sorted(
        {r.ref for r in found if r.ref},
        key=lambda n: (not any(r.ref == n and r.namespace == "k8s.io" for r in found), n),
    )
    if len({r.id for r in found}) > 1:
        return None  # a prefix of several images: the name check says nothing is there
    whose = ", ".join(sorted({r.backend for r in found}))
    said = f"{ref} is an image ID (as {whose} print it) of {', '.join(names)}; the kubelet asks for {names[0]}"
    return names[0], said


def pull_policy(ref: str) -> tuple[str, str]:
    """(the imagePullPolicy the kubelet defaults to for a pod spec naming ``ref``, why): Always for
    the tag latest, which a name with neither tag nor digest has; IfNotPresent otherwise (another
    tag, or a digest alone)."""
    name, at, _digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if tag == "latest":
        return "Always", "its tag is latest"
    if not tag and not at:
        return "Always", "it has no tag (the tag is then latest)"
    return "IfNotPresent", ("it names a digest" if at and not tag else f"its tag is {tag}")


def _pull_policy_problem(ref: str) -> tuple[str, Fix] | None:
    """The warning for a reference whose default pull policy is Always: the kubelet pulls it at
    every container start, whatever the node has."""
    policy, why = pull_policy(ref)
    if policy != "Always":
        return None
    return (
        f"{why}: a pod spec naming it without imagePullPolicy gets imagePullPolicy: Always, so the kubelet "
        "pulls it at every container start, even with the image on the node",
        Fix(
            "set imagePullPolicy: IfNotPresent in the pod spec, or name the image by a tag other than latest "
            "(`ctrtool tag --backend ctr -n k8s.io` gives it one in the kubelet's namespace, at no cost in bytes)"
        ),
    )


def _same_bytes_in_namespace(probe: Probe, ref: str, namespace: str = "k8s.io") -> tuple[str, str] | None:
    """(a name the image has in ``namespace``, its image id) when ``ref`` is elsewhere on the node
    and the same image (same image id) is in ``namespace`` under another name, else None."""
    from ...adapters.base import canonical_ref
    from ...core.views import is_id_ref
    from ...errors import CtrtoolError

    try:
        rows = probe.images().rows
    except CtrtoolError:
        return None
    name = canonical_ref(ref)
    ids = {r.id for r in rows if r.id and r.ref and canonical_ref(r.ref) == name}
    for image_id in sorted(ids):
        there = sorted(
            r.ref
            for r in rows
            if r.backend == containerd()
            and r.namespace == namespace
            and r.id == image_id
            and r.ref
            and not is_id_ref(r.ref)
        )
        if there:
            return there[0], image_id
    return None


def _retag_fix(existing: str, name: str, image_id: str, why: str) -> Fix:
    """`ctrtool tag` in the kubelet's namespace: the bytes are there already, under another name."""
    return Fix(
        f"{why}: the same image ({image_id[:19]}…) is already in k8s.io as {existing}; give it the name {name} "
        "there (a new name for the same image: it costs 0 bytes)",
        commands=[shlex.join(["ctrtool", "tag", *place_flags(containerd(), "k8s.io"), existing, name])],
    )


def run(probe: Probe, options: Options) -> Result:
    ref = options.image or ""
    resolved = by_id(probe, ref)
    if resolved:
        ref = resolved[0]
    policy = _pull_policy_problem(ref)
    store = probe.cri_store()
    if store is not None:
        return _in_runtime_store(probe, ref, resolved, policy, store)
    where = locate(probe, ref)
    if not where.ctr_known and not where.cri_known:
        raise Skip("neither ctr nor crictl could list images: " + "; ".join(where.problems))
    evidence = list(where.evidence)
    details = ([resolved[1]] if resolved else []) + list(where.problems)
    name = where.name
    if name != ref:
        details.append(f"a pod spec naming {ref!r} asks the CRI for {name}")
    if not where.in_namespace and not where.cri:
        details += [policy[0]] if policy else []
        why = f"the kubelet looks for {name} in containerd namespace k8s.io"
        same = _same_bytes_in_namespace(probe, ref)
        if same:
            places = ", ".join(place_words(b, ns) for b, ns in where.elsewhere)
            return Result(
                NAME,
                TITLE,
                Status.FAIL,
                f"{ref} is not in containerd namespace k8s.io under that name, which the kubelet asks for; "
                f"the same image is there as {same[0]}" + (f" (and {ref} is in {places})" if places else ""),
                evidence=evidence,
                fixes=[_retag_fix(same[0], name, same[1], why)],
                details=details,
            )
        if where.elsewhere:
            places = ", ".join(place_words(b, ns) for b, ns in where.elsewhere)
            return Result(
                NAME,
                TITLE,
                Status.FAIL,
                f"{ref} is not in containerd namespace k8s.io, which the kubelet uses; it is in {places}",
                evidence=evidence,
                fixes=[copy_fix(ref, where.elsewhere[0], why, probe)],
                details=details,
            )
        return Result(
            NAME,
            TITLE,
            Status.FAIL,
            f"{ref} is nowhere on this node (not in docker, nor in any containerd namespace): the kubelet must pull it",
            evidence=evidence,
            fixes=[load_fix(ref, why)],
            details=details,
        )
    problems: list[str] = []
    fixes: list[Fix] = []
    status = Status.OK
    if where.ctr_known and where.in_namespace and not where.exact:
        status = Status.FAIL
        stored = where.in_namespace[0].ref
        problems.append(
            f"k8s.io has it as {stored!r}, not under the full name {name} the kubelet asks for (ctr takes names as given: "
            "`ctr images tag` does not normalise them)"
        )
        fixes.append(_tag_fix(probe, stored, name))
    elif where.cri_known and not where.cri:
        status = Status.FAIL
        problems.append(
            "ctr lists it in k8s.io but the CRI does not (imported around the CRI's image cache: containerd 1.7's "
            "`ctr import` through the transfer service without --local, or early 2.0's cache)"
        )
        fixes.append(unpack_fix(ref, where.snapshotter))
    gap = where.not_unpacked("the first container start")
    if gap and where.snapshotter:
        if status is Status.OK:
            status = Status.WARN
        problems.append(gap)
        if not fixes:
            fixes.append(unpack_fix(ref, where.snapshotter))
    if policy:
        if status is Status.OK:
            status = Status.WARN
        problems.append(policy[0])
        fixes.append(policy[1])
    node = node_platform()
    platforms = {r.platform for r in where.in_namespace if r.platform}
    if platforms and node not in platforms:
        status = Status.FAIL
        problems.append(f"its platform is {', '.join(sorted(platforms))}; this node is {node}")
        evidence.append(Evidence("os.uname().machine", os.uname().machine, kind="system"))
        fixes.append(load_fix(ref, f"get the {node} variant of the image"))
    return _verdict(
        ref,
        status,
        problems,
        fixes,
        f"{ref} is in k8s.io as {name}, visible to the CRI, unpacked for {where.snapshotter or 'its snapshotter'}, "
        f"for {node}: the kubelet can start it without pulling (imagePullPolicy IfNotPresent or Never)",
        evidence=evidence,
        details=details,
    )


def _verdict(
    ref: str,
    status: Status,
    problems: list[str],
    fixes: list[Fix],
    ok: str,
    *,
    evidence: list[Evidence],
    details: list[str],
) -> Result:
    """The check's result once the image is where the kubelet looks: its ``problems`` (with their
    ``fixes``) in one line at ``status``; none: ok, in the words ``ok``."""
    if problems:
        return Result(
            NAME, TITLE, status, f"{ref}: " + "; ".join(problems), evidence=evidence, fixes=fixes, details=details
        )
    return Result(NAME, TITLE, Status.OK, ok, evidence=evidence, details=details)


def _tag_fix(probe: Probe, stored: str, name: str) -> Fix:
    """ctr's own tag (its adapter's command line): ctrtool's `tag` treats the two names as one, as
    docker and the CRI do, so the command is ctr's."""
    from ...model import ImageTarget

    plan = probe.adapter(probe.containerd).plan_tag(ImageTarget(probe.containerd, "k8s.io", stored, None), name)
    return Fix(
        f"give it the name the kubelet asks for: tag {stored} as {name} in k8s.io",
        commands=[shlex.join(argv) for argv in plan.commands],
    )


def _in_runtime_store(probe: Probe, ref: str, resolved: Any, policy: Any, store: Any) -> Result:
    """A CRI runtime on containers/storage (CRI-O): REF is the kubelet's when the CRI lists it under
    the name a pod spec normalises to (its store is the one it lists); else where else it is on the
    node (a user's rootless podman store, docker, containerd), and the `ctrtool copy` into it."""
    from ...adapters.base import canonical_ref
    from ...errors import CtrtoolError
    from .placement import elsewhere_rows

    name = canonical_ref(ref)
    details = ([resolved[1]] if resolved else []) + (
        [f"a pod spec naming {ref!r} asks the CRI for {name}"] if name != ref else []
    )
    try:
        listed = [i for i in probe.cri_images() if any(canonical_ref(t) == name for t in i.repo_tags or [])]
    except CtrtoolError as exc:
        raise Skip(f"the CRI did not list its images: {exc.message}", [error_evidence(exc)]) from None
    evidence = []
    found = probe.evidence("images", "--output", "json", tool=probe.cri, excerpt=f"{len(listed)} image(s) named {name}")
    if found:
        evidence.append(found)
    here = f"the CRI runtime's store (containers/storage, graph root {store.graphroot})"
    if not listed:
        details += [policy[0]] if policy else []
        why = f"the kubelet looks for {name} in the CRI runtime's store"
        rows = elsewhere_rows(probe, ref)
        if rows:
            places = "; ".join(dict.fromkeys(_row_words(r) for r in rows))
            first = rows[0]
            return Result(
                NAME,
                TITLE,
                Status.FAIL,
                f"{ref} is not in {here}, which the kubelet uses; it is in {places}, invisible to the kubelet",
                evidence=evidence,
                fixes=[
                    copy_fix(
                        ref, (first.backend, first.namespace), why, probe, to="the CRI runtime's containers/storage"
                    )
                ],
                details=details,
            )
        return Result(
            NAME,
            TITLE,
            Status.FAIL,
            f"{ref} is nowhere on this node: the kubelet must pull it",
            evidence=evidence,
            fixes=[load_fix(ref, why, store, store_writer(probe))],
            details=details,
        )
    status, problems, fixes = Status.OK, [], []
    if policy:
        status = Status.WARN
        problems.append(policy[0])
        fixes.append(policy[1])
    return _verdict(
        ref,
        status,
        problems,
        fixes,
        f"{ref} is in {here} as {name}, visible to the CRI: the kubelet can start it without pulling "
        "(imagePullPolicy IfNotPresent or Never)",
        evidence=evidence,
        details=details,
    )


def _row_words(r: Any) -> str:
    where = place_words(r.backend, r.namespace)
    return f"{where}: {r.store.words()}" if r.store and r.store.owner else where
