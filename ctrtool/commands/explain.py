"""`ctrtool explain IMAGE`: where an image is stored and what it costs, in plain words.

Only formats the facts of `core.image_layers` (the same as `ctrtool layers`): no tool knowledge here.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import typer

from ..output import Output, human_size
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors
from .layers import ImageArg

if TYPE_CHECKING:
    from ..adapters.base import LayerRow

# the documented JSON fields (docs/reference.md), in order
FIELDS = ("image", "stored", "duplicated", "places", "blobs", "advice", "sentences")
PLACE_FIELDS = ("store", "backend", "namespace", "seen_by", "has_image", "paths", "bytes")
BLOB_FIELDS = ("paths", "bytes", "namespaces")


def _rule(backend: str):
    from ..adapters import get_descriptor

    return get_descriptor(backend).namespace_rule


def _cri_backend() -> str:
    """The backend that is the kubelet's view (fixed to one namespace: crictl)."""
    from ..adapters import BACKENDS
    from ..adapters.descriptor import NamespaceRule

    return next(b for b in BACKENDS if _rule(b) is NamespaceRule.FIXED)


def places(rows: list[LayerRow], homes: set) -> list[dict[str, Any]]:
    """The image's unpacked copies by store: docker, then each containerd namespace. ``has_image``:
    the image itself is there (else only another image that shares its layers)."""
    found: dict[Any, dict[str, Any]] = {}
    for row in rows:
        for c in row.copies:
            if c.kind != "unpacked":
                continue
            key = ("containerd", c.namespace) if c.namespace else ("graph", None)
            place = found.setdefault(
                key,
                {
                    "store": c.backend if key[0] == "graph" else f"containerd namespace {c.namespace}",
                    "backend": c.backend,
                    "namespace": c.namespace,
                    "seen_by": [],
                    "has_image": key in homes,
                    "paths": [],
                    "bytes": 0,
                },
            )
            place["seen_by"] += [b for b in c.seen_by if b not in place["seen_by"]]
            place["paths"].append(c.path)
            place["bytes"] += c.size or 0
    return sorted(found.values(), key=lambda p: (p["namespace"] is not None, p["namespace"] or ""))


def blobs(rows: list[LayerRow]) -> dict[str, Any]:
    out: dict[str, Any] = {"paths": [], "bytes": 0, "namespaces": []}
    for row in rows:
        for c in row.copies:
            if c.kind == "blob" and c.path not in out["paths"]:
                out["paths"].append(c.path)
                out["bytes"] += c.size or 0
                out["namespaces"] += [n for n in c.namespaces if n not in out["namespaces"]]
    return out


def _dirs(paths: list[str]) -> str:
    return ", ".join(paths)


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _owner(p: dict[str, Any], docker_namespace: str | None) -> str:
    """The backend a copy belongs to, so that advice acts through it and never behind its back:
    docker for its namespace (or its own store), crictl for the CRI's, ctr for any other namespace."""
    from ..adapters import owner_of

    if p["namespace"] is None:
        return p["backend"]
    from ..adapters import all_namespaces_backend

    return owner_of(p["namespace"], docker_namespace) or all_namespaces_backend()


def _rmi(image: str, p: dict[str, Any], docker_namespace: str | None) -> str:
    from ..adapters import get_descriptor

    owner = get_descriptor(_owner(p, docker_namespace))
    return shlex.join(["ctrtool", "rmi", *owner.place_flags(p["namespace"]).split(), image])


def advice(
    image: str, where: list[dict[str, Any]], containerd_asked: bool, docker_namespace: str | None = None
) -> list[str]:
    """What to do about it, as ctrtool command lines through the tool that owns each copy.
    ``containerd_asked``: ctr or crictl was queried, so an image not in k8s.io is known not to be
    there. ``docker_namespace``: the containerd namespace docker keeps its images in, when it is on
    containerd's image store. One recommendation: keep the kubelet's copy when there is one; when
    there is none, copy the image there first (never "keep X" and "copy X" together)."""
    from ..adapters import get_descriptor

    cri = get_descriptor(_cri_backend())
    k8s = cri.namespace
    where = [p for p in where if p["has_image"]]
    spaces = [p["namespace"] for p in where if p["namespace"]]
    out = []
    if where and k8s in spaces:
        drop = [p for p in where if p["namespace"] != k8s]
        if drop:
            out.append(
                f"keep one copy (the one in {k8s}: the kubelet, through crictl, sees only that namespace) and "
                "remove the others: "
                + "; ".join(_rmi(image, p, docker_namespace) for p in drop)
                + ". A layer's directory is freed only when no other image in that store uses it."
            )
    elif where and containerd_asked:
        first = where[0]
        owner = get_descriptor(_owner(first, docker_namespace))
        src = f"{owner.name}:{first['namespace']}" if owner.selects_namespace else owner.name
        line = (
            f"the kubelet cannot see this image: it sees only containerd namespace {k8s}; copy it there: "
            + shlex.join(["ctrtool", "copy", image, "--from", src, "--to", cri.name])
        )
        if len(where) > 1:
            line += "; then, if only the kubelet needs it, the other copies can go: " + "; ".join(
                _rmi(image, p, docker_namespace) for p in where
            )
        out.append(line)
    elif len(where) > 1:
        keep, drop = where[0], where[1:]
        out.append(
            f"keep one copy (the one in {keep['store']}) and remove the others: "
            + "; ".join(_rmi(image, p, docker_namespace) for p in drop)
            + ". A layer's directory is freed only when no other image in that store uses it."
        )
    if not out:
        out.append("nothing: the image is stored once")
    return out


def sentences(
    image: str, stored: int, duplicated: int, where: list[dict[str, Any]], shared: dict[str, Any], todo: list[str]
) -> list[str]:
    others = [p for p in where if not p["has_image"]]
    where = [p for p in where if p["has_image"]]
    dup = f"{human_size(duplicated)} ({duplicated} bytes) duplicated"
    if not duplicated:
        dup = "nothing duplicated"
    elif others:
        dup += " (its layers are also unpacked for other images)"
    lines = [f"{image} is stored {_times(stored)}, {dup}:"]
    for p in where:
        size = f"{human_size(p['bytes'])} ({p['bytes']} bytes)"
        if p["namespace"] is None:
            lines.append(f"{p['backend']} keeps its own unpacked copy, {size}, under {_dirs(p['paths'])}")
        else:
            who = ""
            from ..adapters.descriptor import NamespaceRule

            rules = {b: _rule(b) for b in p["seen_by"]}
            cri = [b for b, r in rules.items() if r is NamespaceRule.FIXED]
            own = [b for b, r in rules.items() if r is NamespaceRule.NONE]
            if cri:
                who = f" (also what {cri[0]} and the kubelet see)"
            elif own:
                who = f" ({own[0]}'s images: {own[0]} is on containerd's image store)"
            lines.append(
                f"containerd namespace {p['namespace']}{who} unpacks its own snapshot, {size}, "
                f"under {_dirs(p['paths'])}"
            )
    for p in others:
        size = f"{human_size(p['bytes'])} ({p['bytes']} bytes)"
        lines.append(
            f"{p['store']} does not have the image, but other images there unpack some of its layers "
            f"too, {size}, under {_dirs(p['paths'])}"
        )
    if shared["paths"]:
        lines.append(
            f"the compressed blobs, {human_size(shared['bytes'])} ({shared['bytes']} bytes), are stored "
            f"once in containerd's content store and shared by namespaces "
            f"{', '.join(shared['namespaces']) or '(none)'}: {_dirs(shared['paths'])}"
        )
    lines += [f"what to do: {t}" for t in todo]
    return lines


@handle_errors
def explain(
    ctx: typer.Context,
    image: ImageArg,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = "table",
) -> None:
    """Where IMAGE is stored and what it costs, in plain words, with the paths and what to do.

    The facts of `ctrtool layers`: how many times the image is unpacked (docker's store, each
    containerd namespace), the bytes duplicated, the blobs containerd shares between namespaces.
    Exit status 1: the image is in no backend; 3: some backends failed, the rest printed.
    """
    from .. import core
    from .images import _default_namespace

    out = Output(check_format(output))
    conf, names = listing.backends(ctx, backend, all_backends)
    got = core.image_layers(conf, names, image, namespace or _default_namespace(conf))
    # the sentences are built from the same facts `layers` prints, and where the image itself is
    where = places(got.rows, core.image_homes(conf, names, image, namespace or _default_namespace(conf)))
    shared = blobs(got.rows)
    ns = namespace or _default_namespace(conf)
    from ..adapters.descriptor import NamespaceRule

    # the namespace docker keeps its images in, when it is on containerd's image store
    docker_ns = next(
        (p["namespace"] for p in where if p["namespace"] and any(_rule(b) is NamespaceRule.NONE for b in p["seen_by"])),
        None,
    )
    k8s = core.cri_namespace()
    containerd_asked = any(_rule(b) is not NamespaceRule.NONE for b in names) and (not ns or k8s in ns)
    todo = advice(image, where, containerd_asked, docker_ns)
    stored = sum(p["has_image"] for p in where)
    words = sentences(image, stored, got.duplicated, where, shared, todo)

    def table() -> None:
        facts = [w for w in words[1:] if not w.startswith("what to do: ")]
        text = words[0] + "\n" + "".join(f"  - {w};\n" for w in facts)
        text += "".join(f"{w}\n" for w in words[1 + len(facts) :])
        if got.absent:
            text += f"not in: {', '.join(got.absent)}\n"
        out.lines([text.rstrip("\n")])

    listing.show(
        out,
        got,
        len(names),
        nothing=not got.rows and bool(got.failed),
        table=table,
        data=lambda: {
            "image": image,
            "stored": stored,
            "duplicated": got.duplicated,
            "places": [{k: p[k] for k in PLACE_FIELDS} for p in where],
            "blobs": {k: shared[k] for k in BLOB_FIELDS},
            "advice": todo,
            "sentences": words,
        },
    )
