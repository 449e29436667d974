"""Copying an image from one store to another: the plan, its cost, and the hint when the image is
not where the copy starts."""

from __future__ import annotations

from typing import Any

from ..adapters import BACKENDS, get_descriptor
from ..config import Settings
from ..errors import CtrtoolError, NotFound, UsageError
from ..model import PlaceId, StoreKind
from .query import cri_namespace
from .routing import Rerun, locate_images, operation_adapter


def _image_namespace(settings: Settings, target: tuple[str, str | None]) -> str | None:
    """The containerd namespace a target backend keeps its images in when that is not one it is
    given (docker on containerd's image store: moby), else None."""

    backend, ns = target
    d = get_descriptor(backend)
    if d.moves_via or d.selects_namespace:
        return None
    try:
        return operation_adapter(settings, backend, ns).image_namespace(ns)
    except CtrtoolError:
        return None


def _owned_namespaces(settings: Settings) -> dict[str, str]:
    """containerd namespace -> the backend that keeps its images there without being given it
    (docker on containerd's image store: moby): a copy found there is reached through that backend."""

    out = {}
    for backend in BACKENDS:
        ns = _image_namespace(settings, (backend, None))
        if ns:
            out[ns] = backend
    return out


def _copy_hint(
    exc: NotFound,
    target: tuple[str, str | None],
    rerun: Rerun,
    target_store: str | None = None,
    owners: dict[str, str] | None = None,
) -> None:
    """The hint when the image is not in the --from store: if it is already in the --to store, that
    (it suggested copying it from there onto itself, which copy refuses); else the copy from where
    it is to the --to store given (it suggested `--to crictl` whatever --to was)."""
    from ..adapters.base import place

    # the places as the backends name them: the one containerd ctr and crictl reach (its directory
    # is not needed to tell its namespaces apart), and docker's store by docker
    def store(backend: str, ns: str | None) -> PlaceId:
        d = get_descriptor(backend)
        if d.moves_via:  # crictl: the CRI's namespace of the containerd ctr reaches
            return PlaceId(StoreKind.SNAPSHOTS, "", d.namespace or cri_namespace())
        if d.selects_namespace:  # ctr: one containerd namespace
            return PlaceId(StoreKind.SNAPSHOTS, "", ns or "default")
        return PlaceId(StoreKind.GRAPH, backend)  # docker: its own store, whatever namespace a listing gave it

    # docker on containerd's image store: its store is that namespace, which ctr lists too
    wanted = PlaceId(StoreKind.SNAPSHOTS, "", target_store) if target_store else store(*target)

    def same(backend: str, ns: str | None) -> bool:
        return store(backend, ns) == wanted

    # a copy in a namespace another backend keeps its images in is reached through that backend
    owned = owners or {}
    exc.elsewhere = list(dict.fromkeys((owned[ns], None) if ns in owned else (b, ns) for b, ns in exc.elsewhere))
    there = [p for p in exc.elsewhere if same(*p) or (target_store and p == (target[0], None))]
    if there:
        # named as the user named the --to store (docker, not the namespace it keeps its images in)
        exc.hint = f"nothing to copy: it is already in {place(*(target if target_store else there[0]))}, the --to store"
    elif exc.elsewhere:  # the copy to the --to store the user gave (the kubelet's hint names crictl)
        exc.hint = "copy it from where it is: " + "  or  ".join(rerun(b, ns) for b, ns in exc.elsewhere)


def copy_plan(
    settings: Settings, ref: str, source: tuple[str, str | None], target: tuple[str, str | None], rerun: Rerun
):
    """The plan that streams image ``ref`` from one store to another, and the place it goes to.

    ``source`` and ``target`` are (backend, namespace). crictl has no export or import: the data
    moves through ``ctr -n k8s.io`` (the namespace the CRI works in, on the same containerd), and
    crictl is what checks the result (``crictl images``). The copy replaces a reference the target
    already has: only then is it destructive (asks first)."""
    from ..adapters.base import place, plan_copy

    (src_backend, src_ns), (dst_backend, dst_ns) = source, target
    try:
        ((found_adapter, image),) = locate_images(settings, src_backend, src_ns, [ref], rerun)
    except NotFound as exc:
        _copy_hint(exc, target, rerun, _image_namespace(settings, target), _owned_namespaces(settings))
        raise
    src_d, dst_d = get_descriptor(src_backend), get_descriptor(dst_backend)
    # a backend without archives of its own (crictl) moves images through another in its store: ctr
    # in the CRI's namespace on containerd, the tool writing CRI-O's store on CRI-O (its adapter says)
    src_via = found_adapter.moves_through() if src_d.moves_via else None
    mover = operation_adapter(settings, *src_via) if src_via else found_adapter
    if dst_d.moves_via:
        verify = operation_adapter(settings, dst_backend, dst_ns)
        via_backend, target_ns = verify.moves_through()
        target_adapter, verify_ns = operation_adapter(settings, via_backend, target_ns), target_ns
    else:
        target_adapter = operation_adapter(settings, dst_backend, dst_ns)
        target_ns = target_adapter.operation_namespace(dst_ns)
        verify, verify_ns = target_adapter, target_ns
    src_place = place(src_backend, image.namespace)
    dst_place = place(dst_backend, verify_ns)
    # the same store: the same containerd namespace (docker on containerd's image store is its
    # namespace), or the same backend's own graph driver store
    src_store = image.namespace or f"{src_backend}:graph"
    dst_store = target_adapter.image_namespace(target_ns) or f"{dst_backend}:graph"
    if src_store == dst_store:
        raise UsageError(
            f"{ref} would be copied onto itself: {src_place} and {dst_place} are the same store",
            "choose another --to (docker, ctr:NS, crictl)",
        )
    records = verify.images([verify_ns] if verify_ns else None)
    from ..adapters.base import match_images

    there = match_images(records, image.ref)[0]
    exists = bool(there)
    _same_store(found_adapter, image, there, src_place, dst_place)
    plan = plan_copy(
        mover,
        image,
        target_adapter,
        target_ns,
        verify,
        verify_ns,
        exists,
        f"copy {image.ref} from {src_place} to {dst_place}",
    )
    movers = [src_via[0] if src_via else None, target_adapter.name if dst_d.moves_via else None]
    try:
        dirs = (_cstorage_dir(found_adapter, image), target_adapter.cstorage_root())
    except CtrtoolError:
        dirs = (None, None)
    cost = _copy_cost(settings, [src_backend, dst_backend, *movers], image, dst_store, plan, dirs)
    return plan, dst_place, cost


def _cstorage_dir(source: Any, image: Any) -> str | None:
    """The containers/storage store the image is copied from (its directory), or None."""
    from ..adapters.base import match_images
    from ..model import StoreKind

    try:
        found = match_images(source.images(), image.id or image.ref)[0]
    except CtrtoolError:
        return None
    return next((r.store.path for r in found if r.store and r.store.kind is StoreKind.CSTORAGE), None)


def _same_store(source: Any, image: Any, there: list[Any], src_place: str, dst_place: str) -> None:
    """Refuse a copy whose image the target already holds in the same store: two tools on one
    containers/storage graph root (rootful podman and CRI-O) are one store, and copying would write
    what is there. Said, and nothing written."""
    from ..adapters.base import match_images

    if not there:
        return
    bare = (image.id or "").removeprefix("sha256:")  # crictl prints ids without the algorithm
    held = {r.store.key for r in there if r.store and bare and (r.id or "").removeprefix("sha256:") == bare}
    mine = {r.store.key for r in match_images(source.images(), image.id or image.ref)[0] if r.store}
    if held & mine:
        raise UsageError(
            f"nothing to copy: {image.ref} is already in {dst_place}: {src_place} and {dst_place} are one store",
            "the kubelet can use it as it is (`ctrtool images -A` shows one copy, seen by both)",
        )


def _copy_cost(
    settings: Settings,
    backends: list[str | None],
    image: Any,
    dst_store: str,
    plan: Any,
    dirs: tuple[str | None, str | None] = (None, None),
) -> Any:
    """What the copy will add (said in the plan's words, so in the prompt and --dry-run), and,
    once it ran, what it added: the target root measured before and after (``cost.added``)."""
    from ..costs import copy_cost, measure

    target_ns = None if dst_store.endswith(":graph") else dst_store
    try:
        wanted = [b for b in dict.fromkeys(backends) if b]
        cost = copy_cost(settings, wanted, image, image.namespace, target_ns, None, *dirs)
    except CtrtoolError:
        return None
    if cost is None:
        return None
    plan.what = f"{plan.what} ({cost.words()})"
    inner = plan.execute

    def execute() -> Any:
        before = measure(settings, cost.backends, cost.root)
        found = inner()
        after = measure(settings, cost.backends, cost.root)
        cost.added = after - before if after is not None and before is not None else None
        return found

    plan.execute = execute
    return cost
