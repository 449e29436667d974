"""The listings the commands print: images, containers, pods and backends' info, over every
backend asked, merged by :mod:`.views`."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..config import Settings
from ..errors import CtrtoolError
from ..model import BackendInfo, ContainerKind, ContainerRecord, ImageRecord, ImageStore, daemon_id
from .query import Gathered, containerd_reader, fan_out, gathered
from .views import annotate_copies, annotate_kubelet, annotate_views, complete_configs, complete_stores, kubelet_listed


def list_images(settings: Settings, backends: Sequence[str], namespaces: Sequence[str] | None = None) -> Gathered:
    """Every image copy (typed :class:`ImageRecord` rows, ``copies`` set) and the failed backends."""
    outcomes = fan_out(settings, backends, lambda a: a.images(namespaces))
    records: list[ImageRecord] = [r for o in outcomes for r in (o.value or [])]
    warnings = [w for o in outcomes for w in o.warnings]
    complete_stores(settings, records, warnings)
    complete_configs(records)
    annotate_copies(records)
    annotate_kubelet(records, kubelet_listed([o.backend for o in outcomes if o.error is None], namespaces))
    return Gathered(records, [o for o in outcomes if o.error], warnings)


def backend_info(settings: Settings, backends: Sequence[str]) -> Gathered:
    outcomes = fan_out(settings, backends, lambda a: a.info())
    infos: list[BackendInfo] = [o.value for o in outcomes if o.value is not None]
    warnings = [w for o in outcomes for w in o.warnings]
    complete_infos(settings, infos, warnings)
    return Gathered(infos, [o for o in outcomes if o.error], warnings)


def complete_infos(settings: Settings, infos: list[BackendInfo], warnings: list[str]) -> None:
    """Fill in what one tool does not report from another that works with the same containerd
    (the same socket, or the same root): the state directory (ctr does not see it, crictl does),
    and, for docker on containerd's image store, the directories of the containerd it uses (docker
    reports only the socket); when no backend queried reads that containerd, it is asked directly."""
    on_containerd = [i for i in infos if i.image_store is ImageStore.CONTAINERD and i.containerd]
    for info in on_containerd:
        peers = [
            o
            for o in on_containerd
            if o is not info
            and (
                daemon_id(o.containerd) == daemon_id(info.containerd)
                or (o.root and info.root and os.path.realpath(o.root) == os.path.realpath(info.root))
            )
        ]
        for peer in peers:
            if info.root and peer.root and os.path.realpath(info.root) == os.path.realpath(peer.root):
                info.state = info.state or peer.state  # containerd's own: ctr does not see it, crictl does
            if info.root is None or info.store is None:
                info.store = info.store or peer.store
                info.content_store = info.content_store or peer.content_store
        if info.store is None or info.content_store is None:
            reader = containerd_reader(settings, info.containerd or "")
            if reader is None:
                continue
            try:
                layout = reader.layout()
            except CtrtoolError as exc:
                warnings.append(
                    f"{info.backend}: the directories of its containerd at {info.containerd} are "
                    f"unknown ({exc.message})"
                )
                continue
            info.store = info.store or layout.snapshotter_roots.get(info.storage_driver or "")
            info.content_store = info.content_store or layout.content_root


def list_containers(settings: Settings, backends: Sequence[str], namespaces: Sequence[str] | None = None) -> Gathered:
    """Rows for every container of every backend (any state): one listing per backend (ctr: per
    namespace, in parallel), never a call per container. Every record is kept (``all_views``
    in `ps`); :func:`one_row_per_container` merges the views."""
    outcomes = fan_out(settings, backends, lambda a: a.containers_view(namespaces))
    records: list[ContainerRecord] = [r for o in outcomes for r in (o.value[0] if o.value else [])]
    sandboxes = {i for o in outcomes if o.value for i in o.value[1]}
    for r in records:
        if r.id in sandboxes:
            r.kind = ContainerKind.SANDBOX
    annotate_views(records)
    return gathered(outcomes, records)


def list_pods(settings: Settings) -> Gathered:
    from ..adapters import pods_backend

    outcomes = fan_out(settings, [pods_backend()], lambda a: a.pods())
    return gathered(outcomes, [r for o in outcomes for r in (o.value or [])])
