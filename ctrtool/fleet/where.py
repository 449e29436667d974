"""`ctrtool nodes where IMAGE`: the pods waiting for IMAGE (from the API), and each node's answer
(its images listing, and doctor's verdict where a pod waits) merged into one row per node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..adapters.kubectl import Kubectl
    from ..doctor.result import Result
    from ..model import ImageRecord
    from .run import NodeOutcome


def same_image(ref: str | None, wanted: str) -> bool:
    """A listed name is the image a pod spec names: both normalised as the kubelet does
    (``busybox`` is ``docker.io/library/busybox:latest``); or ``wanted`` is an image id."""
    from ..refs import canonical, looks_like_id

    if not ref:
        return False
    if looks_like_id(wanted):
        return False
    return canonical(ref) == canonical(wanted)


def waiting_pods(kube: Kubectl, image: str) -> dict[str, list[dict[str, Any]]]:
    """Pending pods with a container of ``image``, by node ("" for those not scheduled yet): one
    list call over every namespace."""
    out: dict[str, list[dict[str, Any]]] = {}
    for pod in kube.pods(all_namespaces=True, phase="Pending"):
        if not any(same_image(i, image) for i in pod.images):
            continue
        reasons = [r for i, r, _m in pod.waiting if same_image(i, image) and r]
        messages = [m for i, _r, m in pod.waiting if same_image(i, image) and m]
        if not pod.node:
            status, why = pod.conditions.get("PodScheduled", ("", ""))
            reasons = reasons or [why or "Unscheduled"]
        out.setdefault(pod.node or "", []).append(
            {
                "namespace": pod.namespace,
                "name": pod.name,
                "reasons": reasons or ["Pending"],
                "message": messages[0] if messages else None,
            }
        )
    return out


@dataclass
class NodePlaces:
    """One node's answer to `nodes where IMAGE`: its copies of the image (records), whether its
    kubelet can use one, the pods waiting for it there, and doctor's checks where a pod waits."""

    node: str
    answered: bool  # the node printed its image listing
    missing: str  # why not, in words: "(status: reason)"
    image: str
    present: list[ImageRecord]
    kubelet_visible: bool | None
    pods: list[dict[str, Any]]
    doctor: list[Result] | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields (documented in docs/reference.md)."""
        return {
            "node": self.node,
            "image": self.image,
            "present": [
                {
                    "backend": r.backend,
                    "namespace": r.namespace,
                    "ref": r.ref,
                    "id": r.id,
                    "kubelet_visible": r.kubelet_visible,
                }
                for r in self.present
            ],
            "kubelet_visible": self.kubelet_visible,
            "pods": self.pods,
            "doctor": None if self.doctor is None else [c.to_dict() for c in self.doctor],
        }


def row(o: NodeOutcome, image: str, pods: list[dict[str, Any]]) -> NodePlaces:
    """One node's answer, from its records (parsed where they arrived)."""
    from ..refs import looks_like_id

    listed = o.images if o.answered else None
    present = []
    for r in listed or []:
        by_id = looks_like_id(image) and any(
            (v or "").removeprefix("sha256:").startswith(image.removeprefix("sha256:")) for v in (r.id, r.digest)
        )
        if by_id or same_image(r.ref, image):
            present.append(r)
    return NodePlaces(
        node=o.node,
        answered=listed is not None,
        missing=f"({o.status}: {o.reason})" if o.reason else f"({o.status})",
        image=image,
        present=present,
        kubelet_visible=any(p.kubelet_visible for p in present) if listed is not None else None,
        pods=pods,
        doctor=o.checks if o.answered else None,
    )


def stores_words(r: NodePlaces) -> str:
    from ..adapters import BACKENDS, get_descriptor

    if not r.present:
        return "none"
    seen = []
    for p in r.present:
        picks = p.backend in BACKENDS and get_descriptor(p.backend).selects_namespace
        words = p.backend + (f" {p.namespace}" if p.namespace and picks else "")
        if words not in seen:
            seen.append(words)
    return ", ".join(seen)


def pods_words(pods: list[dict[str, Any]]) -> str:
    return "; ".join(f"{p['namespace']}/{p['name']} {','.join(p['reasons'])}" for p in pods)


def verdict_words(checks: list[Result] | None) -> str | None:
    """doctor's image check, in one line: its status, what it found and its first fix."""
    if not checks:
        return None
    check = next((c for c in checks if c.check == "image"), None)
    if check is None:
        return None
    words = f"[{check.status.value}] {check.summary}"
    for fix in check.fixes:
        if fix.commands:
            return f"{words}; fix: {fix.commands[0]}"
    return words
