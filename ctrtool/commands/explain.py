"""`ctrtool explain IMAGE`: where an image is stored and what it costs, in plain words.

Only formats the facts of `core.image_layers` (the same as `ctrtool layers`): no tool knowledge here.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import typer

from ..model import CopyKind, PlaceId, StoreKind, layer_place
from ..output import Output, human_size
from ..refs import distinct_names
from . import listing
from .common import AllBackendsOpt, BackendOpt, NamespaceOpt, OutputOpt, check_format, handle_errors
from .layers import ImageArg

if TYPE_CHECKING:
    from ..model import LayerRow


def _rule(backend: str):
    from ..adapters import get_descriptor

    return get_descriptor(backend).namespace_rule


def _cri_backend() -> str:
    """The backend that is the kubelet's view (fixed to one namespace: crictl)."""
    from ..adapters import BACKENDS
    from ..adapters.descriptor import NamespaceRule

    return next(b for b in BACKENDS if _rule(b) is NamespaceRule.FIXED)


@dataclass
class Place:
    """A store with unpacked layers of the image (JSON ``places``)."""

    store: str  # "docker", "containerd namespace NS"
    backend: str
    namespace: str | None
    seen_by: list[str]
    has_image: bool  # false: only another image that shares its layers is there
    paths: list[str] = field(default_factory=list)
    bytes: int = 0
    refs: list[str] = field(default_factory=list)  # the image's names in this store
    used_by: list[str] = field(default_factory=list)  # containers here that use it
    place: PlaceId | None = field(default=None, repr=False)  # its identity (not a JSON field)
    owner: str | None = field(default=None, repr=False)  # a user's rootless store (not a JSON field)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("place", "owner")}


@dataclass
class Blobs:
    paths: list[str] = field(default_factory=list)
    bytes: int = 0
    namespaces: list[str] = field(default_factory=list)


@dataclass
class Recommendation:
    """The one thing to do, as exact ctrtool command lines in order."""

    action: str  # "nothing", "remove" (keep one copy), "copy" (to the kubelet's namespace first) or "blocked"
    headline: str  # what to do, in words
    text: str  # the headline with the commands, in one line
    commands: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # what the commands first clear out of the way
    frees: int | None = None  # bytes the removals free, from the byte account (None: not measured)
    copy_cost: Any = None  # what the copy adds (ctrtool.costs.CopyCost), for a "copy"

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("action", "headline", "text", "commands", "blockers", "frees")}
        cost = self.copy_cost
        out["copy_adds"] = (
            None if cost is None else {"blobs": cost.blobs, "unpacked": cost.unpacked, "shared": cost.shared}
        )
        return out


@dataclass
class Explanation:
    image: str
    stored: int
    duplicated: int
    places: list[Place]
    blobs: Blobs
    advice: list[str]  # the recommendation in one line (kept for scripts written before `recommendation`)
    sentences: list[str]
    verdict: str
    recommendation: Recommendation


def places(rows: list[LayerRow], holdings: dict[PlaceId, Any]) -> list[Place]:
    """The image's unpacked copies by store (:class:`~ctrtool.model.PlaceId`: two graph stores are
    two): graph stores, then each containerd namespace. ``holdings``: the stores that hold the image
    itself (core.image_holdings), with its names and users there."""
    found: dict[PlaceId, Place] = {}
    for row in rows:
        for c in row.copies:
            if c.kind != CopyKind.UNPACKED:
                continue
            key = layer_place(c.path, c.namespace, holdings)
            held = holdings.get(key)
            place = found.get(key)
            if place is None:
                place = found[key] = Place(
                    store=_store_words(c, key, held.owner if held else None),
                    backend=c.backend,
                    namespace=c.namespace,
                    seen_by=[],
                    has_image=held is not None,
                    refs=list(held.refs) if held else [],
                    used_by=[u.name for u in held.used_by] if held else [],
                    place=key,
                    owner=held.owner if held else None,
                )
            place.seen_by += [b for b in c.seen_by if b not in place.seen_by]
            place.paths.append(c.path)
            place.bytes += c.size or 0
    return sorted(found.values(), key=lambda p: (p.namespace is not None, p.namespace or ""))


def blobs(rows: list[LayerRow]) -> Blobs:
    out = Blobs()
    for row in rows:
        for c in row.copies:
            if c.kind == CopyKind.BLOB and c.path not in out.paths:
                out.paths.append(c.path)
                out.bytes += c.size or 0
                out.namespaces += [n for n in c.namespaces if n not in out.namespaces]
    return out


def _dirs(paths: list[str]) -> str:
    return ", ".join(paths)


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _owner(p: Place, docker_namespace: str | None) -> str:
    """The backend a copy belongs to, so that advice acts through it and never behind its back:
    docker for its namespace (or its own store), crictl for the CRI's, ctr for any other namespace."""
    from ..adapters import all_namespaces_backend, owner_of

    if p.namespace is None:
        return p.backend
    return owner_of(p.namespace, docker_namespace) or all_namespaces_backend()


def _removal(image: str, p: Place, docker_namespace: str | None, blockers: list[str]) -> list[str]:
    """The command that takes the image out of one store, through its owner: every name the image
    has there, each once (one name alone frees nothing while another remains). A copy that a
    container uses gets no command: advice never removes a container (it is named as what is in
    the way; whether it is still needed is the person's call)."""
    from ..adapters import get_descriptor

    owner = get_descriptor(_owner(p, docker_namespace))
    flags = owner.place_flags(p.namespace).split()
    where = owner.words(p.namespace)
    if p.owner:
        blockers.append(
            f"in user {p.owner}'s rootless store the image is the user's: that copy stays "
            "(ctrtool never advises changing another user's store)"
        )
        return []
    if p.used_by:
        blockers.append(
            f"in {where}, container {', '.join(p.used_by)} uses the image: that copy stays "
            "(ctrtool never advises removing a container)"
        )
        return []
    names = distinct_names(p.refs or [image])
    if len(names) > 1:
        blockers.append(f"in {where} the image is also named {', '.join(n for n in names if n != image) or '-'}")
    return [shlex.join(["ctrtool", "rmi", *flags, *names])]


FREED = "a layer's directory is freed only when no other image in that store uses it"


def kubelets_place(p: Place) -> bool:
    """The store the kubelet sees: containerd's k8s.io, or whatever store the CRI itself listed
    the copy in (CRI-O's containers/storage, seen by crictl)."""
    cri = _cri_backend()
    from ..adapters import get_descriptor

    return p.namespace == get_descriptor(cri).namespace or (p.namespace is None and cri in p.seen_by)


def recommend(
    image: str,
    where: list[Place],
    containerd_asked: bool,
    docker_namespace: str | None = None,
    cri_on_containerd: bool = True,
) -> Recommendation:
    """One recommendation, through the tool that owns each copy. ``containerd_asked``: ctr or
    crictl was queried, so an image not in k8s.io is known not to be there. ``docker_namespace``:
    the containerd namespace docker keeps its images in (containerd's image store). Keep the
    kubelet's copy when there is one; when there is none, copy the image there first and then
    remove the others: never "keep X" and "copy X" together."""
    from ..adapters import get_descriptor

    cri = get_descriptor(_cri_backend())
    k8s = cri.namespace
    holding = [p for p in where if p.has_image]
    blockers: list[str] = []
    kubelets = [p for p in holding if kubelets_place(p)]
    if kubelets:
        drop = [p for p in holding if not kubelets_place(p)]
        if drop:
            commands = [c for p in drop for c in _removal(image, p, docker_namespace, blockers)]
            there = f"in {k8s}" if kubelets[0].namespace else "in the CRI runtime's store"
            sees = "that namespace" if kubelets[0].namespace else "that store"
            head = f"keep the copy {there} (the kubelet, through {cri.name}, sees only {sees}) and remove the others"
            return _removing(head, commands, blockers)
    elif holding and containerd_asked:
        first = holding[0]
        owner = get_descriptor(_owner(first, docker_namespace))
        src = f"{owner.name}:{first.namespace}" if owner.selects_namespace else owner.name
        copy = shlex.join(["ctrtool", "copy", image, "--from", src, "--to", cri.name])
        sees = f"containerd namespace {k8s}" if cri_on_containerd else "the CRI runtime's store"
        head = f"the kubelet cannot see this image (it sees only {sees}): copy it there"
        removals = [c for p in holding for c in _removal(image, p, docker_namespace, blockers)]
        text = f"{head}: {copy}"
        if removals:
            text += "; then, if only the kubelet needs it, remove the other copies: " + "; ".join(removals)
            head += ", then (if only the kubelet needs it) remove the other copies"
        return Recommendation("copy", head, text, [copy, *removals], blockers)
    elif len(holding) > 1:
        # keep a copy that a container uses, if one does: removing it would remove the container too
        keep = next((p for p in holding if p.used_by), holding[0])
        drop = [p for p in holding if p is not keep]
        commands = [c for p in drop for c in _removal(image, p, docker_namespace, blockers)]
        head = f"keep the copy in {keep.store} and remove the others"
        return _removing(head, commands, blockers)
    return Recommendation("nothing", "nothing: the image is stored once", "nothing: the image is stored once")


def _cri_on_containerd(conf: Any, names: list[str]) -> bool:
    """Whether the CRI asked is containerd's plugin (its namespace), not CRI-O (one call, only when
    the CRI was asked: ``crictl version``)."""
    from ..adapters import adapter_class
    from ..errors import CtrtoolError

    cri = _cri_backend()
    if cri not in names:
        return True
    try:
        return bool(adapter_class(cri)(conf).namespaces())
    except CtrtoolError:
        return True


def _removing(head: str, commands: list[str], blockers: list[str]) -> Recommendation:
    if commands:
        return Recommendation("remove", head, f"{head}: {'; '.join(commands)} ({FREED})", commands, blockers)
    head = "nothing to remove now: every other copy is in use by a container"
    return Recommendation("blocked", head, f"{head} ({'; '.join(blockers)})", [], blockers)


def frees(conf: Any, names: list[str], image: str, where: list[Place], docker_ns: str | None, todo: Any) -> int | None:
    """What the recommended removals free, in order, on the byte account: the same simulation as
    `df --plan` (:func:`ctrtool.reclaim.simulate`). None when the account cannot be made."""
    from ..core.storage import storage_account
    from ..reclaim import ReclaimStep, simulate

    removing = [c for c in todo.commands if shlex.split(c)[1:2] == ["rmi"]]
    if not removing:
        return None
    dropped = [p for p in where if p.has_image and not p.used_by and not p.owner and not kubelets_place(p)]
    steps = [
        ReclaimStep(
            store=p.store,
            backend=_owner(p, docker_ns),
            namespace=p.namespace,
            image=image,
            id=None,
            refs=distinct_names(p.refs or [image]),
            kept_in="",
            frees=0,
            layers=0,
            paths=[],
            commands=[],
        )
        for p in dropped
    ]
    roots = storage_account(conf, names, [])
    if not steps or not simulate(steps, roots, []):
        return None
    return sum(s.frees for s in steps)


def copy_cost(conf: Any, names: list[str], image: str, where: list[Place], holdings: dict) -> Any:
    """What the recommended copy to the kubelet's namespace adds, from the byte account."""
    from types import SimpleNamespace

    from ..core.query import cri_namespace
    from ..costs import copy_cost as cost_of
    from ..errors import CtrtoolError

    source = next((p for p in where if p.has_image), None)
    if source is None:
        return None
    from ..adapters import adapter_class, cstorage

    held = holdings.get(source.place) if source.place else None
    target = SimpleNamespace(ref=(source.refs or [image])[0], id=held.id if held else None, namespace=source.namespace)
    try:
        cri = next((n for n in names if _rule(n) is _fixed()), None)
        target_dir = adapter_class(cri)(conf).cstorage_root() if cri else None
        source_dir = next((d for d in (cstorage.graphroot_of_layer(p) for p in source.paths) if d), None)
        return cost_of(conf, names, target, source.namespace, cri_namespace(), None, source_dir, target_dir)
    except CtrtoolError:
        return None


def _fixed() -> Any:
    from ..adapters.descriptor import NamespaceRule

    return NamespaceRule.FIXED


def _store_words(copy: Any, key: PlaceId, owner: str | None) -> str:
    """A place in words: a containerd namespace, a containers/storage store (whoever lists it), or
    the backend's own graph driver store."""
    from ..adapters import cstorage

    if key.kind is not StoreKind.GRAPH:
        return f"containerd namespace {copy.namespace}"
    if cstorage.graphroot_of_layer(copy.path):
        return cstorage.words(owner)
    return str(copy.backend)


def verdict(image: str, stored: int, duplicated: int, where: list[Place]) -> str:
    others = [p for p in where if not p.has_image]
    dup = f"{human_size(duplicated)} ({duplicated} bytes) duplicated"
    if not duplicated:
        dup = "nothing duplicated"
    elif others:
        dup += " (its layers are also unpacked for other images)"
    return f"{image} is stored {_times(stored)}, {dup}"


def evidence(where: list[Place], shared: Blobs) -> list[str]:
    """One sentence per store, then the blobs: where the bytes are, with paths and sizes."""
    from ..adapters.descriptor import NamespaceRule

    lines = []
    for p in [p for p in where if p.has_image]:
        size = f"{human_size(p.bytes)} ({p.bytes} bytes)"
        used = f"; used by container {', '.join(p.used_by)}" if p.used_by else ""
        if p.namespace is None:
            whose = f"{p.backend} keeps its own" if p.store == p.backend else f"{p.store} keeps one"
            lines.append(f"{whose} unpacked copy, {size}, under {_dirs(p.paths)}{used}")
            continue
        rules = {b: _rule(b) for b in p.seen_by}
        cri = [b for b, r in rules.items() if r is NamespaceRule.FIXED]
        own = [b for b, r in rules.items() if r is NamespaceRule.NONE]
        who = ""
        if cri:
            who = f" (also what {cri[0]} and the kubelet see)"
        elif own:
            who = f" ({own[0]}'s images: {own[0]} is on containerd's image store)"
        lines.append(
            f"containerd namespace {p.namespace}{who} unpacks its own snapshot, {size}, under {_dirs(p.paths)}{used}"
        )
    for p in [p for p in where if not p.has_image]:
        size = f"{human_size(p.bytes)} ({p.bytes} bytes)"
        lines.append(
            f"{p.store} does not have the image, but other images there unpack some of its layers "
            f"too, {size}, under {_dirs(p.paths)}"
        )
    if shared.paths:
        lines.append(blob_sentence(shared, sum(compressed(p) for p in shared.paths)))
    return lines


def compressed(path: str) -> bool:
    """A blob that starts as gzip or zstd does (its first four bytes; a blob that cannot be read is
    not called compressed)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head[:2] == b"\x1f\x8b" or head == b"\x28\xb5\x2f\xfd"


def blob_sentence(shared: Blobs, packed: int) -> str:
    """The content store's sentence, in words that are true of these blobs: compressed or not (a
    layer from `docker save` is a plain tar), shared by several namespaces or used by one."""
    n = len(shared.paths)
    what = (
        "the compressed blobs"
        if packed == n
        else "the blobs (uncompressed tars)"
        if packed == 0
        else f"the blobs ({packed} of {n} compressed)"
    )
    spaces = shared.namespaces
    if len(spaces) > 1:
        who = f"shared by namespaces {', '.join(spaces)}"
    elif spaces:
        who = f"used by namespace {spaces[0]} only"
    else:
        who = "referred to by no namespace's image"
    size = f"{human_size(shared.bytes)} ({shared.bytes} bytes)"
    return f"{what}, {size}, are stored once in containerd's content store and {who}: {_dirs(shared.paths)}"


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
    from ..core.query import cri_namespace
    from ..core.storage import image_holdings, image_layers

    out = Output(check_format(output))
    conf, names = listing.backends(ctx, backend, all_backends)
    ns = namespace or listing.default_namespaces(conf)
    got = image_layers(conf, names, image, ns)
    # the sentences are built from the same facts `layers` prints, and where the image itself is
    holdings = image_holdings(conf, names, image, ns)
    where = places(got.rows, holdings)
    shared = blobs(got.rows)
    from ..adapters.descriptor import NamespaceRule

    # the namespace docker keeps its images in, when it is on containerd's image store
    docker_ns = next(
        (p.namespace for p in where if p.namespace and any(_rule(b) is NamespaceRule.NONE for b in p.seen_by)),
        None,
    )
    k8s = cri_namespace()
    containerd_asked = any(_rule(b) is not NamespaceRule.NONE for b in names) and (not ns or k8s in ns)
    todo = recommend(image, where, containerd_asked, docker_ns, _cri_on_containerd(conf, names))
    todo.frees = frees(conf, names, image, where, docker_ns, todo)
    if todo.action == "copy":
        todo.copy_cost = copy_cost(conf, names, image, where, holdings)
        if todo.copy_cost is not None:
            todo.text = f"{todo.text} (the copy {todo.copy_cost.words()})"
    stored = sum(p.has_image for p in where)
    said = verdict(image, stored, got.duplicated, where)
    facts = evidence(where, shared)
    told = Explanation(
        image=image,
        stored=stored,
        duplicated=got.duplicated,
        places=where,
        blobs=shared,
        advice=[todo.text],
        sentences=[said, f"recommended: {todo.text}", *facts],
        verdict=said,
        recommendation=todo,
    )

    def table() -> None:
        from ..output import wrap

        text = [said + ".", f"recommended: {todo.headline}" + (":" if todo.commands else "")]
        commands = [f"  {c}" for c in todo.commands]
        text += commands
        if todo.copy_cost is not None:
            text.append(f"  (the copy {todo.copy_cost.words()})")
        text += [f"  ({b})" for b in todo.blockers]
        if todo.frees is not None and any(" rmi " in f" {c} " for c in todo.commands):
            text.append(f"  (they free {human_size(todo.frees)}, {todo.frees} bytes, as du counts them)")
        elif todo.action == "remove":
            text.append(f"  ({FREED})")
        text.append("evidence:")
        text += [f"  - {f}" for f in facts]
        if got.absent:
            text.append(f"not in: {', '.join(got.absent)}")
        # the sentences wrap at the terminal's width between words (a path, a name, an id is one
        # word: never split); a command stays on one line, to paste
        width = out.prose_width
        out.lines(line for t in text for line in ([t] if t in commands else wrap(t, width)))

    listing.show(out, got, len(names), nothing=not got.rows and bool(got.failed), table=table, data=lambda: told)
