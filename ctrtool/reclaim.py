"""`ctrtool df --plan`: the removals that actually free bytes, per store, and what stops each one.

An image unpacked in several stores is kept in one of them (the CRI's namespace when it is there:
the kubelet sees only that one; else a store where a container uses it; else the first) and
removed from the others. For each removal the plan computes, from the layer graph, the bytes it
frees: the layers (chain ids) of the image in that store that no other image there uses. It
names what stands in the way: containers using the image there (removed first), the image's
other names there (one name alone frees nothing), and the images that need some of its layers
(those bytes stay). Each step is an exact ctrtool command line through the tool that owns the
copy: docker for its own store or namespace, crictl never (its copy is the one kept), ctr for the
other namespaces. Facts only from the listings `images`, `df` and `ps` make (no call per image).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .adapters.base import chain_ids
from .config import Settings
from .core.listing import list_containers, list_images
from .core.query import Gathered, cri_namespace
from .core.storage import disk_usage
from .core.views import image_groups
from .model import ContainerRecord, CopyKind, ImageRecord, PlaceId, State, StoreKind, StoreUsage, place_of


@dataclass
class ReclaimStep:
    """One removal: the image's copy in one store, and what removing it frees."""

    store: str  # in words: "docker", "containerd namespace default"
    backend: str  # the backend the commands go through (the copy's owner)
    namespace: str | None
    image: str  # the image's first name there (or its id)
    id: str | None
    refs: list[str]  # every name the image has in that store (all are removed)
    kept_in: str  # the store whose copy stays
    frees: int  # bytes: the files of the layers no other image in that store uses
    layers: int  # how many layer directories go
    paths: list[str]  # those directories
    commands: list[str]  # exact ctrtool command lines, in order
    blockers: list[str] = field(default_factory=list)  # what is in the way, in words
    used_by: list[str] = field(default_factory=list)  # names of the containers there that use it
    blocked_by: list[str] = field(default_factory=list)  # containers in the way: the step has no command
    removes: list[str] = field(default_factory=list, repr=False)  # ids of the stopped containers it removes first
    orphan: Any = field(default=None, repr=False)  # an orphan step's Orphan (containerd_account)
    kind: str = "image"  # "image": a copy of an image; "orphan": what nothing needs
    shared_with: list[str] = field(default_factory=list)  # images there that keep some of its layers
    kept_bytes: int = 0  # bytes of its layers that those images keep
    blobs: int = 0  # content-store blobs that go with it (their last reference)
    measured: bool = False  # frees comes from the byte account, in plan order (else: layers alone)
    # the user whose own (rootless) store holds the copy: ctrtool leaves it to them (no command)
    store_owner: str | None = None
    store_dir: str | None = None  # the store's directory (the copy's unpacked layers are under it)
    user_frees: int = 0  # a copy left to its store's owner: what their own removal would free there

    @property
    def held(self) -> bool:
        """Not carried out: a container or the store's owner stands in the way (no command, frees 0)."""
        return bool(self.blocked_by or self.store_owner)


@dataclass
class ReclaimPlan(Gathered):
    frees: int = 0
    kubelets: str = "k8s.io"  # the kubelet's store in words: the CRI's namespace, or CRI-O's store


def _owner(record: ImageRecord, docker_namespace: str | None) -> Any:
    """The descriptor of the backend that owns this copy."""
    from .adapters import all_namespaces_backend, get_descriptor, owner_of

    if record.namespace is None:
        return get_descriptor(record.backend)
    return get_descriptor(owner_of(record.namespace, docker_namespace) or all_namespaces_backend())


def reclaim_plan(
    settings: Settings,
    backends: Sequence[str],
    namespaces: Sequence[str] | None = None,
    remove_stopped: bool = False,
    lease_age: str = "24h",
) -> ReclaimPlan:
    from concurrent.futures import ThreadPoolExecutor

    from .adapters import get_descriptor
    from .adapters.descriptor import NamespaceRule

    with ThreadPoolExecutor(max_workers=3) as pool:
        images_f = pool.submit(list_images, settings, backends, namespaces)
        usage_f = pool.submit(disk_usage, settings, backends, namespaces)
        containers_f = pool.submit(list_containers, settings, backends, namespaces)
        images, usage, containers = images_f.result(), usage_f.result(), containers_f.result()
    failed = {o.backend: o for g in (images, usage, containers) for o in g.failed}
    warnings = list(dict.fromkeys(w for g in (images, usage, containers) for w in g.warnings))
    records: list[ImageRecord] = images.rows
    stores: list[StoreUsage] = [s for s in usage.rows if s.kind == CopyKind.UNPACKED]
    by_store = {place_of(s.path, s.namespace): s for s in stores}
    sizes = {key: {e.key: (e.size or 0, e.path) for e in s.entries} for key, s in by_store.items()}
    docker_ns = next(
        (
            r.namespace
            for r in records
            if r.namespace and get_descriptor(r.backend).namespace_rule is NamespaceRule.NONE
        ),
        None,
    )
    k8s = cri_namespace()
    # the CRI runtime's stores: its namespace of containerd, or CRI-O's containers/storage (whoever
    # lists it): the kubelet's images, never a step's
    cri_places = {
        place_of(r.store.path, r.namespace)
        for r in records
        if r.store and get_descriptor(r.backend).namespace_rule is NamespaceRule.FIXED
    }

    def kubelets(key: PlaceId) -> bool:
        return key.namespace == k8s or (key.namespace is None and key in cri_places)

    # every image in each store: its id (or digest) and its chain ids
    in_store: dict[PlaceId, dict[str, list[ImageRecord]]] = {}
    for r in records:
        if r.store is None:
            continue
        image_key = r.id or r.digest or r.ref or ""
        in_store.setdefault(place_of(r.store.path, r.namespace), {}).setdefault(image_key, []).append(r)
    steps: list[ReclaimStep] = []
    for group in image_groups(records):
        copies: dict[PlaceId, list[ImageRecord]] = {}
        for r in group:
            if r.store is not None:
                copies.setdefault(place_of(r.store.path, r.namespace), []).append(r)
        if len(copies) < 2:
            continue
        users = {key: _users(recs, containers.rows, usage.account) for key, recs in copies.items()}
        keep = keeper(copies, users, kubelets)
        kept_words = _words(copies[keep][0], docker_ns)
        for key, recs in copies.items():
            if key == keep or kubelets(key):  # the kubelet's store is never a step's
                continue
            steps.append(_step(key, recs, users[key], kept_words, in_store, sizes, docker_ns, remove_stopped))
    steps.sort(key=lambda s: -s.frees)
    steps += orphan_steps(usage.account, lease_age, k8s)
    if not simulate(steps, usage.account, records):
        if steps:
            warnings.append(
                "the byte account could not be made, so each step's bytes are its layer directories only, "
                "as if it ran alone (blobs and earlier steps not counted)"
            )
    rows_failed = list(failed.values())
    cri_words = next(
        (
            r.store.words()
            for r in records
            if r.store
            and r.store.kind is StoreKind.CSTORAGE
            and not r.store.owner
            and place_of(r.store.path, r.namespace) in cri_places
        ),
        k8s,
    )
    return ReclaimPlan(steps, rows_failed, warnings, sum(s.frees for s in steps), cri_words)


def simulate(steps: list[ReclaimStep], roots: list[Any], records: Sequence[ImageRecord]) -> bool:
    """Each step's bytes from the account, in order, as if the steps before it are done: the
    blobs and snapshot (or layer) directories that no root reaches any more once its containers
    and names are gone, as containerd's GC or docker's rmi would remove them (the parents docker
    removes with a name, the blobs that leave with their last reference). Steps that free most
    alone come first. False when there is no account to read (the layer-only figures stay)."""
    from .adapters.containerd_account import ContainerdModel
    from .adapters.cstorage_account import CStorageModel
    from .adapters.docker_account import DockerModel

    containerd = [r for r in roots if isinstance(r.model, ContainerdModel)]
    docker = [r for r in roots if isinstance(r.model, DockerModel)]
    cstorage = [r for r in roots if isinstance(r.model, CStorageModel)]
    if not steps or not (containerd or docker or cstorage):
        return False
    state: dict[str, Gone] = {r.root: Gone() for r in roots if r.model is not None}
    alive = {root: state[root].alive(r.model) for r in roots if (root := r.root) in state}

    def root_of(step: ReclaimStep) -> Any:
        if step.store_dir is not None:  # a containers/storage store: the root it is under
            import os

            real = os.path.realpath(step.store_dir)
            found = [r for r in cstorage if real == r.root or real.startswith(r.root.rstrip("/") + "/")]
            return found[0] if found else None
        pool = containerd if step.namespace is not None else docker
        return pool[0] if pool else None

    alone = {}
    for step in steps:
        r = root_of(step)
        if r is None or step.blocked_by:
            alone[id(step)] = 0
            continue
        after = Gone().after(step, r.model).alive(r.model)
        alone[id(step)] = sum(r.item_bytes.get(i, 0) for i in alive[r.root] - after)
        if step.store_owner:  # the user's own removal, said; not the plan's
            step.user_frees, alone[id(step)] = alone[id(step)], 0
            step.blockers = [
                f"{b}: frees {step.user_frees} bytes there"
                if b.startswith(_LEFT_TO_USER.format(where=step.store))
                else b
                for b in step.blockers
            ]
    steps.sort(key=lambda s: (phase(s), -alone[id(s)]))
    for step in steps:
        r = root_of(step)
        if r is None or step.held:
            step.frees, step.layers, step.paths, step.blobs = 0, 0, [], 0
            continue
        before = state[r.root]
        state[r.root] = before.after(step, r.model)
        now = state[r.root].alive(r.model)
        freed = [i for i in alive[r.root] - now if i in r.item_bytes]
        item = step.orphan.item if step.orphan is not None else None
        if item and item in r.item_bytes and item not in now and item not in freed:
            if before.present(r.model, item) and not state[r.root].present(r.model, item):
                freed.append(item)
        alive[r.root] = now
        step.frees = sum(r.item_bytes[i] for i in freed)
        dirs = sorted(r.item_paths[i] for i in freed if i in r.item_paths and not _record_item(i))
        step.layers, step.paths = len(dirs), dirs
        step.blobs = sum(1 for i in freed if i.startswith("sha256:"))
        step.measured = True
    return True


def keeper(copies: dict[PlaceId, list[ImageRecord]], users: dict[PlaceId, list[Any]], kubelets: Any) -> PlaceId:
    """The copy that stays: the kubelet's (its namespace, or CRI-O's store); else one a container
    uses; else the first. A copy in a user's own store is theirs: the copy kept for everyone else
    is never one of those while another is there."""
    shared = [k for k in copies if not _owned(copies[k])] or list(copies)
    return next(
        (k for k in copies if kubelets(k)),
        next((k for k in shared if users[k]), shared[0]),
    )


_LEFT_TO_USER = "{where} is "  # the start of the blocker that leaves a copy to its store's owner


def _owned(recs: list[ImageRecord]) -> bool:
    """The copy is in a user's own (rootless) store."""
    return any(r.store is not None and r.store.owner for r in recs)


def _record_item(item: str) -> bool:
    """An account item that is a record, not a layer directory: a blob, or a containers/storage
    image's or container's own directory."""
    return item.startswith(("sha256:", "image:", "container:"))


def duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``2d`` -> seconds (--lease-age)."""
    from .errors import UsageError

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) > 10**7:
        raise UsageError(f"--lease-age {text!r}: expected a number and a unit, as 90s, 30m, 12h or 2d")
    return int(number) * units[unit]


def orphan_steps(roots: list[Any], lease_age: str, kubelets: str) -> list[ReclaimStep]:
    """A step for each thing containerd keeps that nothing needs (:meth:`ContainerdModel.orphans`),
    carried out by `ctrtool reclaim` through containerd's API; none in the kubelet's namespace
    (``kubelets``: the CRI's own pulls and leases are the CRI's business; they stay in the account)."""
    import datetime as dt

    from .adapters import all_namespaces_backend
    from .adapters.containerd_account import ContainerdModel

    age = dt.timedelta(seconds=duration(lease_age))
    steps = []
    for r in roots:
        if not isinstance(r.model, ContainerdModel):
            continue
        for o in r.model.orphans(age):
            if o.namespace == kubelets:
                continue
            if o.kind == "lease":
                why = f"lease {o.key}, created {o.created or 'at an unknown time'}, " + (
                    "expired" if o.expired else f"older than {lease_age}, holding no ingest and no active snapshot"
                )
            elif o.kind == "snapshot":
                why = f"snapshot {o.key} ({o.snapshotter}): no image, container or lease reaches it"
            else:
                why = f"blob {o.key}: no image, container or lease in namespace {o.namespace} refers to it"
            flags = [] if lease_age == "24h" else ["--lease-age", lease_age]
            steps.append(
                ReclaimStep(
                    store=f"containerd namespace {o.namespace}",
                    backend=all_namespaces_backend(),
                    namespace=o.namespace,
                    image=o.spec,
                    id=None,
                    refs=[],
                    kept_in="-",
                    frees=0,
                    layers=0,
                    paths=[],
                    commands=[shlex.join(["ctrtool", "reclaim", *flags, o.spec])],
                    blockers=[why],
                    orphan=o,
                    kind="orphan",
                )
            )
    return steps


def phase(step: ReclaimStep) -> int:
    """The order of a plan: orphaned records first (any later removal's garbage collection would
    sweep them anyway), then the images, then the leases, then what is blocked."""
    if step.held:
        return 3
    if step.orphan is None:
        return 1
    return 2 if step.orphan.kind == "lease" else 0


@dataclass
class Gone:
    """What the steps so far take away from one root: image names (containerd: per namespace),
    docker's image ids, and containers."""

    names: dict[str, set[str]] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)
    containers: set[str] = field(default_factory=set)
    leases: set[str] = field(default_factory=set)  # NS/ID
    records: set[tuple[str, str]] = field(default_factory=set)  # (namespace, snapshot item or digest)

    def after(self, step: ReclaimStep, model: Any) -> Gone:
        from .adapters.containerd_account import ContainerdModel
        from .refs import canonical

        wanted = {canonical(n) for n in step.refs or [step.image]}
        gone = Gone(
            {k: set(v) for k, v in self.names.items()},
            set(self.images),
            self.containers | set(step.removes),
            set(self.leases),
            set(self.records),
        )
        if step.orphan is not None:
            o = step.orphan
            if o.kind == "lease":
                gone.leases.add(f"{o.namespace}/{o.key}")
            else:
                gone.records.add((o.namespace, o.item or ""))
        elif isinstance(model, ContainerdModel):
            ns = step.namespace or ""
            meta = {n for n in model.graph.images.get(ns, {}) if canonical(n) in wanted}
            already = gone.names.get(ns, set())
            gone.names[ns] = already | model.names_going(ns, meta | already, _by_docker(step))
        else:
            before = {canonical(n) for i in self.images for n in model.names.get(i, ())}
            gone.images |= model.images_going(wanted | before, gone.containers)
        return gone

    def alive(self, model: Any) -> set[str]:
        from .adapters.containerd_account import ContainerdModel

        if isinstance(model, ContainerdModel):
            return model.alive(self.names, self.containers, self.leases)
        return model.alive(self.images, self.containers)

    def present(self, model: Any, item: str) -> bool:
        """Whether an item's record is still there: a snapshot in its namespace, a blob while
        any namespace still has a record of it."""
        from .adapters.containerd_account import ContainerdModel

        if not isinstance(model, ContainerdModel):
            return True
        if not item.startswith("sha256:"):
            return not any(i == item for _ns, i in self.records)
        holders = {ns for ns, content in model.graph.content.items() if item in content}
        return bool(holders - {ns for ns, i in self.records if i == item})


def _by_docker(step: ReclaimStep) -> bool:
    """The copy goes through docker on containerd's image store (its own rmi rules)."""
    from .adapters import get_descriptor
    from .adapters.descriptor import NamespaceRule

    return step.namespace is not None and get_descriptor(step.backend).namespace_rule is NamespaceRule.NONE


def _words(record: ImageRecord, docker_ns: str | None) -> str:
    if record.store is not None and record.store.kind is StoreKind.CSTORAGE:
        return record.store.words()  # one store, whichever tools list it (CRI-O's and podman's)
    if record.namespace is None:
        return record.backend
    return f"containerd namespace {record.namespace}"


def _users(
    recs: list[ImageRecord], containers: Sequence[ContainerRecord], roots: Sequence[Any] = ()
) -> list[ContainerRecord]:
    from .core.storage import uses_image
    from .core.views import one_row_per_container

    store = recs[0].store
    if store is not None and store.kind is StoreKind.CSTORAGE and store.path:
        # containers/storage: the containers are the store's own (containers.json), whichever
        # tool made them; not every container without a namespace
        model = _cstorage_model(roots, store.path)
        if model is not None:
            ids = {(r.id or "").removeprefix("sha256:") for r in recs if r.id}
            mine = {cid for cid, image in model.container_image.items() if image in ids}
            return [c for c in one_row_per_container(containers) if c.id in mine]

    names = [r.ref for r in recs if r.ref]
    ids = {k for r in recs for k in (r.id, r.digest) if k}
    namespace = recs[0].namespace
    # docker's containers carry no namespace: they are its store's (namespace moby, or its graph)
    owners = recs[0].backend
    found = []
    for c in one_row_per_container(containers):
        here = c.namespace == namespace or (c.namespace is None and c.backend == owners)
        if here and uses_image(c, names, ids):
            found.append(c)
    return found


def _cstorage_model(roots: Sequence[Any], store_dir: str) -> Any:
    """The containers/storage model of the account root a store's directory is under, or None."""
    import os

    from .adapters.cstorage_account import CStorageModel

    real = os.path.realpath(store_dir)
    for r in roots:
        if isinstance(r.model, CStorageModel) and (real == r.root or real.startswith(r.root.rstrip("/") + "/")):
            return r.model
    return None


def _step(
    key: PlaceId,
    recs: list[ImageRecord],
    users: list[ContainerRecord],
    kept_words: str,
    in_store: dict[PlaceId, dict[str, list[ImageRecord]]],
    sizes: dict[PlaceId, dict[str, tuple[int, str]]],
    docker_ns: str | None,
    remove_stopped: bool,
) -> ReclaimStep:
    from .core.views import is_id_ref
    from .refs import distinct_names

    first = recs[0]
    owner = _owner(first, docker_ns)
    flags = owner.place_flags(first.namespace).split()
    where = (
        _words(first, docker_ns)
        if first.store and first.store.kind is StoreKind.CSTORAGE
        else owner.words(first.namespace)
    )
    names = list(dict.fromkeys(r.ref for r in recs if r.ref and not is_id_ref(r.ref)))
    image = names[0] if names else (first.id or first.digest or "?")
    mine = set(chain_ids(next((r.diff_ids for r in recs if r.diff_ids), [])))
    here = sizes.get(key, {})
    own_key = first.id or first.digest or first.ref or ""
    others: dict[str, set[str]] = {}
    for image_key, other in in_store.get(key, {}).items():
        if image_key == own_key or not other[0].diff_ids:
            continue
        shared = mine & set(chain_ids(other[0].diff_ids))
        if shared:
            label = next((r.ref for r in other if r.ref and not is_id_ref(r.ref)), image_key)
            others[label] = shared
    kept = set().union(*others.values()) if others else set()
    going = [c for c in mine if c not in kept and c in here]
    names = distinct_names(names)
    blockers, blocked_by, commands, removes = [], [], [], []
    for c in users:
        if remove_stopped and c.state in (State.CREATED, State.EXITED):
            blockers.append(f"stopped container {c.name} in {where} uses the image: it is removed first")
            commands.append(shlex.join(["ctrtool", "rm", *flags, c.name]))
            removes.append(c.id)
        else:
            blocked_by.append(c.name)
            blockers.append(
                f"{c.state} container {c.name} in {where} uses the image: no command (ctrtool never removes "
                + (
                    "a running container"
                    if c.state not in (State.CREATED, State.EXITED)
                    else "a container unless asked: --remove-stopped"
                )
                + ")"
            )
    if len(names) > 1:
        blockers.append(f"the image has {len(names)} names in {where}: all are removed (one alone frees nothing)")
    owner_user = first.store.owner if first.store else None
    if owner_user:
        blockers.append(
            _LEFT_TO_USER.format(where=where)
            + f"user {owner_user}'s own store: ctrtool leaves a user's images to them "
            f"(as {owner_user}: podman rmi {shlex.join(names or [image])})"
        )
    if blocked_by or owner_user:
        commands, going = [], []  # not carried out: frees nothing
    else:
        pin = ["--if-id", (first.id or "").removeprefix("sha256:")[:12]] if first.id else []
        commands.append(shlex.join(["ctrtool", "rmi", *flags, *pin, *(names or [image])]))
    return ReclaimStep(
        store=_words(first, docker_ns),
        backend=owner.name,
        namespace=first.namespace,
        image=image,
        id=first.id,
        refs=names,
        kept_in=kept_words,
        frees=sum(here[c][0] for c in going),
        layers=len(going),
        paths=sorted(here[c][1] for c in going),
        commands=commands,
        blockers=blockers,
        shared_with=sorted(others),
        kept_bytes=sum(here[c][0] for c in kept if c in here),
        used_by=[c.name for c in users],
        blocked_by=blocked_by,
        removes=removes,
        store_owner=owner_user,
        store_dir=first.store.path if first.store and first.store.kind is StoreKind.CSTORAGE else None,
    )
