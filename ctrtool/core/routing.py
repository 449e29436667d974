"""Which backend and namespace an operation goes to, and finding its container or image there
(or saying where else it is, and the command that reaches it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..adapters import BACKENDS, adapter_class, get_descriptor
from ..adapters.base import Adapter
from ..config import Settings
from ..errors import Ambiguous, CtrtoolError, NotFound, UsageError
from ..model import ImageRecord
from .query import cri_namespace, fan_out, select_backends
from .views import complete_stores

# The ctrtool command line that would reach a thing in another place: (backend, namespace) -> text.
Rerun = Callable[[str, "str | None"], str]


def operation_adapter(settings: Settings, backend: str, namespace: str | None) -> Adapter:
    """The adapter for an operation sent to one backend; -n must make sense for it."""
    from ..adapters import get_descriptor
    from ..adapters.descriptor import NamespaceRule

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}", f"choose from {', '.join(BACKENDS)}")
    d = get_descriptor(backend)
    choosers = [x for x in BACKENDS if get_descriptor(x).selects_namespace]
    if namespace and d.namespace_rule is NamespaceRule.NONE:
        raise UsageError(
            f"-n/--namespace is for {' and '.join(choosers)}: {backend} chooses its own store and namespace",
            f"drop -n, or use --backend {choosers[0]} -n NS",
        )
    if namespace and d.namespace_rule is NamespaceRule.FIXED and namespace != d.namespace:
        raise UsageError(
            f"{backend} works in containerd namespace {d.namespace} only, not {namespace!r}",
            f"use --backend {choosers[0]} -n {namespace}",
        )
    return adapter_class(backend)(settings)


def creation_adapter(settings: Settings, backend: str | None, namespace: str | None, doing: str) -> Adapter:
    """For operations that make something new (pull, load) or work on a whole store (prune):
    there is nothing to look for, so the backend must be given unless only one is there."""
    if backend is None:
        present = select_backends(settings, None, False)
        if len(present) != 1:
            raise UsageError(
                f"say where to {doing}: --backend {'|'.join(present)}",
                "docker has its own store; ctr works in one containerd namespace (-n); "
                "crictl (the kubelet's view) in k8s.io",
            )
        backend = present[0]
    return operation_adapter(settings, backend, namespace)


def _search_backends(settings: Settings, namespace: str | None) -> list[str]:
    """Where to look for a thing when no --backend is given: the backends found on this machine
    (docker only when no namespace was asked for: -n means containerd)."""
    from ..adapters import get_descriptor
    from ..adapters.descriptor import NamespaceRule

    names = select_backends(settings, None, False)
    return [b for b in names if not (namespace and get_descriptor(b).namespace_rule is NamespaceRule.NONE)]


class Searched(dict):
    """backend -> (adapter, records) for the backends that answered a search; ``unanswered``:
    backend -> the error of those that did not."""

    def __init__(self):
        super().__init__()
        self.unanswered: dict[str, CtrtoolError] = {}


def _search(settings: Settings, kind: str, backends: Sequence[str], namespace: str | None) -> Searched:
    """One listing per backend (ctr: every namespace, or just ``namespace``), in parallel.
    Backends that fail are left out (and kept in ``unanswered``): this only looks for where things are."""
    adapters: dict[str, Adapter] = {}

    def op(adapter: Adapter) -> list:
        adapters[adapter.name] = adapter
        ns = [namespace] if namespace else None
        if kind == "container":
            return adapter.containers(ns)
        records = adapter.images(ns)
        complete_stores(settings, records, adapter.warnings)
        return records

    found = Searched()
    for outcome in fan_out(settings, backends, op):
        if outcome.error is None and outcome.backend in adapters:
            found[outcome.backend] = (adapters[outcome.backend], outcome.value or [])
        elif outcome.error is not None:
            found.unanswered[outcome.backend] = outcome.error
    return found


def _places(kind: str, ref: str, searched: Searched, prefer_ctr: bool = False) -> dict[tuple[str, str | None], list]:
    """(backend, namespace) -> the matching records there. ctr's views of docker's and the CRI's
    things are dropped for docker and crictl, or, with ``prefer_ctr`` (the user works with ctr),
    the other way round."""
    from ..adapters.base import match_containers, match_images

    matches: dict[tuple[str, str | None], list] = {}
    for backend, (_adapter, records) in searched.items():
        for namespace in dict.fromkeys(r.namespace for r in records):
            here = [r for r in records if r.namespace == namespace]
            got = match_containers(here, ref) if kind == "container" else match_images(here, ref)[0]
            if got:
                matches[(backend, namespace)] = got
    # a backend that sees every namespace (ctr) also shows what belongs to a backend that owns a
    # namespace (docker's moby, the CRI's k8s.io): the same thing seen twice. Name the owner's place,
    # or, with ``prefer_ctr`` (the user works with ctr), the other way round.
    from ..adapters import get_descriptor
    from ..adapters.descriptor import NamespaceRule

    idents = {key: {x for r in recs for x in (r.id, getattr(r, "digest", None)) if x} for key, recs in matches.items()}
    owners: dict[str, tuple[str, str | None]] = {}
    for backend, namespace in matches:
        d = get_descriptor(backend)
        if d.owns_namespace and (namespace or d.namespace):
            owners[namespace or d.namespace or ""] = (backend, namespace)
    dropped: set[tuple[str, str | None]] = set()
    for key in matches:
        backend, namespace = key
        owner = owners.get(namespace or "")
        if get_descriptor(backend).namespace_rule is NamespaceRule.ALL and owner and idents[key] & idents[owner]:
            dropped.add(owner if prefer_ctr else key)
    return {key: recs for key, recs in matches.items() if key not in dropped}


def _not_found(
    settings: Settings, kind: str, ref: str, backend: str, namespace: str | None, where: str, rerun: Rerun
) -> NotFound:
    """NotFound, saying where else the thing is and the command that reaches it there."""
    from ..adapters import get_descriptor
    from ..adapters.base import place
    from ..adapters.descriptor import NamespaceRule

    searched = _search(settings, kind, BACKENDS, None)
    sees_all = get_descriptor(backend).namespace_rule is NamespaceRule.ALL
    places = [p for p in _places(kind, ref, searched, prefer_ctr=sees_all) if p != (backend, namespace)]
    if not places:
        return NotFound(kind, ref, where)
    there = [place(b, ns) for b, ns in places]
    commands = [rerun(b, ns) for b, ns in places]
    hint = "reach it with: " + "  or  ".join(commands)
    k8s = cri_namespace()
    if kind == "image" and namespace == k8s and not any(ns == k8s for _, ns in places):
        # the kubelet's namespace: copy it there from where it is, through the tool that owns it
        b, ns = sorted(places, key=lambda p: get_descriptor(p[0]).namespace_rule is not NamespaceRule.ALL)[0]
        src = b if not get_descriptor(b).selects_namespace else f"{b}:{ns}"
        hint = (
            f"it was put into {place(b, ns)}, which the kubelet cannot see: the kubelet sees only containerd "
            f"namespace {k8s}. Copy it there: ctrtool copy {ref} --from {src} --to "
            + next(x for x in BACKENDS if get_descriptor(x).namespace_rule is NamespaceRule.FIXED)
        )
    return NotFound(kind, ref, where, hint=hint, elsewhere=places, there=there)


def _require_complete(kind: str, refs: Sequence[str], searched: Searched, rerun: Rerun) -> None:
    """A change found by name needs every backend's answer: a backend that did not answer may
    hold the same name, and the one place that answered would then be the wrong one."""
    if not searched.unanswered:
        return
    from ..errors import IncompleteLookup

    answered = [b for b in searched]
    hint = (
        "nothing was changed; say where with --backend (and -n for ctr)"
        + (
            f", e.g. {rerun(answered[0], None)}"
            if len(answered) == 1 and not get_descriptor(answered[0]).selects_namespace
            else ""
        )
        + ", or try again when every backend answers"
    )
    raise IncompleteLookup(kind, ", ".join(refs), searched.unanswered, hint)


def _listed_in(
    settings: Settings, backend: str, namespace: str | None, listing: Callable[[Adapter, list[str] | None], list]
) -> tuple[Adapter, list, str | None, str]:
    """For an operation sent to ``backend``: its adapter, its ``listing`` of the namespace the
    operation uses (ctr: -n or its default), that namespace and the place in words."""
    from ..adapters.base import place

    adapter = operation_adapter(settings, backend, namespace)
    ns = adapter.operation_namespace(namespace)
    records = listing(adapter, [ns] if ns else None)
    actual = ns or adapter.container_namespace()
    return adapter, records, actual, place(backend, actual)


def _each_in(
    settings: Settings,
    kind: str,
    refs: Sequence[str],
    backend: str,
    namespace: str | None,
    rerun: Rerun,
    pick: Callable[[str], tuple[Adapter, Any]],
) -> list[tuple[Adapter, Any]]:
    """``pick(ref)`` for each ref in one place (``backend``, ``namespace``); not found there: the
    error says where else it is."""
    from ..adapters.base import place

    out = []
    for ref in refs:
        try:
            out.append(pick(ref))
        except NotFound:
            raise _not_found(settings, kind, ref, backend, namespace, place(backend, namespace), rerun) from None
    return out


def _search_all(
    settings: Settings, kind: str, namespace: str | None, refs: Sequence[str], rerun: Rerun, complete: bool
) -> Searched:
    """Every backend's listing of ``kind``; ``complete``: every one must have answered."""
    searched = _search(settings, kind, _search_backends(settings, namespace), namespace)
    if complete:
        _require_complete(kind, refs, searched, rerun)
    return searched


def _found_places(kind: str, ref: str, searched: Searched, namespace: str | None) -> dict[tuple[str, str | None], list]:
    """The places ``ref`` is in; none: NotFound."""
    places = _places(kind, ref, searched)
    if not places:
        raise _nowhere(kind, ref, searched, namespace)
    return places


def locate_containers(
    settings: Settings,
    backend: str | None,
    namespace: str | None,
    refs: Sequence[str],
    rerun: Rerun,
    complete: bool = False,
) -> list[tuple[Adapter, Any]]:
    """(adapter, ContainerRecord) for each ref, from one listing per backend.

    With --backend: that backend (ctr: one namespace, -n or its default). Not found there: the
    error says where else it is. Without: every backend found on this machine; a name found in
    more than one place is ambiguous and the error lists the places with the command for each.
    ``complete`` (a change): every backend must answer the lookup, else IncompleteLookup (exit
    3) names the ones that did not."""
    from ..adapters.base import place, resolve_container

    if backend:
        adapter, records, actual, where = _listed_in(settings, backend, namespace, lambda a, ns: a.containers(ns))
        return _each_in(
            settings,
            "container",
            refs,
            backend,
            actual,
            rerun,
            lambda ref: (adapter, resolve_container(records, ref, where)),
        )
    searched = _search_all(settings, "container", namespace, refs, rerun, complete)
    out = []
    for ref in refs:
        places = _found_places("container", ref, searched, namespace)
        candidates = [(key, r) for key, recs in places.items() for r in recs]
        if len(candidates) > 1:
            raise Ambiguous(
                f"{ref!r} names {len(candidates)} containers",
                [f"{place(*key)} {r.id[:12]} ({r.name}, {r.state}): {rerun(*key)}" for key, r in candidates],
                "choose one with --backend (and -n for ctr), or give the full ID",
            )
        ((key, record),) = candidates
        out.append((searched[key[0]][0], record))
    return out


def locate_images(
    settings: Settings,
    backend: str | None,
    namespace: str | None,
    refs: Sequence[str],
    rerun: Rerun,
    complete: bool = False,
) -> list[tuple[Adapter, Any]]:
    """(adapter, ImageTarget) for each ref; the same rules as :func:`locate_containers`."""
    from ..adapters.base import place

    if backend:
        adapter, records, actual, where = _listed_in(settings, backend, namespace, lambda a, ns: a.images(ns))
        complete_stores(settings, records, adapter.warnings)
        return _each_in(
            settings,
            "image",
            refs,
            backend,
            actual,
            rerun,
            lambda ref: (adapter, adapter.image_target(ref, records, where)),
        )
    searched = _search_all(settings, "image", namespace, refs, rerun, complete)
    out = []
    for ref in refs:
        places = _found_places("image", ref, searched, namespace)
        if len(places) > 1:
            raise Ambiguous(
                f"{ref!r} is in {len(places)} places",
                [f"{place(*key)}: {rerun(*key)}" for key in places],
                "choose one with --backend (and -n for ctr)",
            )
        ((b, ns),) = places
        adapter, records = searched[b]
        here = [r for r in records if r.namespace == ns]
        out.append((adapter, adapter.image_target(ref, here, place(b, ns))))
    return out


def _nowhere(kind: str, ref: str, searched: Searched, namespace: str | None) -> NotFound:
    """Not found in any backend that answered; the ones that did not answer are named."""
    names = list(searched) or ["any backend (none answered)"]
    where = " or ".join(names) + (f" (namespace {namespace})" if namespace else "")
    unasked = searched.unanswered
    if not unasked:
        return NotFound(kind, ref, where)
    return NotFound(
        kind,
        ref,
        where,
        hint="not asked, so it may be there: "
        + "; ".join(e.message if e.message.startswith(b) else f"{b}: {e.message}" for b, e in unasked.items()),
    )


def locate_pod(settings: Settings, ref: str) -> tuple[Adapter, Any]:
    from ..adapters import pods_backend

    adapter = operation_adapter(settings, pods_backend(), None)
    return adapter, adapter.find_pod(ref)


def existing_images(adapter: Adapter, namespace: str | None, refs: Sequence[str]) -> dict[str, ImageRecord]:
    """The images that ``refs`` name now in one place (``adapter``, ctr: ``namespace``), by name
    only (never an id prefix): a tag or a load onto one of these names moves it. One listing."""
    from ..adapters.base import match_images

    if not refs:
        return {}
    ns = adapter.operation_namespace(namespace)
    records = [r for r in adapter.images([ns] if ns else None) if not ns or r.namespace == ns]
    complete_stores(adapter.settings, records, adapter.warnings)  # config digests, whatever id the tool prints
    found = {}
    for ref in refs:
        matches, by_name = match_images(records, ref)
        if matches and by_name:
            found[ref] = matches[0]
    return found
