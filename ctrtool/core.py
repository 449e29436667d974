"""The library under the commands: choose backends, query them concurrently, combine results.

Data flows one way: command -> core -> adapters (one thread per backend) -> records -> command -> output.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

from .adapters import BACKENDS, adapter_class
from .adapters.base import Adapter, BackendInfo, ImageRecord
from .config import Settings
from .errors import CtrtoolError, ToolTimeout, UsageError

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    backend: str
    value: T | None = None
    error: CtrtoolError | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Gathered:
    """What a multi-backend command prints: rows, the backends that failed, and warnings."""

    rows: list[dict[str, Any]]
    failed: list[Outcome]
    warnings: list[str]


def select_backends(settings: Settings, chosen: Sequence[str] | None, all_backends: bool) -> list[str]:
    """The backends a command talks to.

    ``--backend`` (repeatable) or ``--all-backends`` ask for backends explicitly: each one that then
    fails is reported. Without them: the config file's ``backends:`` list, else every backend whose
    tool is installed and whose endpoint is found (so a node without docker just shows ctr and crictl).
    """
    if chosen and all_backends:
        raise UsageError("use either --backend or --all-backends, not both")
    if all_backends:
        return list(BACKENDS)
    if chosen:
        unknown = [b for b in chosen if b not in BACKENDS]
        if unknown:
            raise UsageError(f"unknown backend {unknown[0]!r}", f"choose from {', '.join(BACKENDS)}")
        return list(dict.fromkeys(chosen))
    configured = settings.default_backends()
    if configured:
        return list(configured)
    present = [b for b in BACKENDS if _installed(settings.binary(b)) and settings.endpoint(b).address]
    if not present:
        raise CtrtoolError(
            "no backend found: none of docker, ctr, crictl is installed with a reachable endpoint",
            "install the tools, or point ctrtool at them (DOCKER_HOST, CONTAINERD_ADDRESS, "
            "CONTAINER_RUNTIME_ENDPOINT); `ctrtool lab up` starts a local lab")
    return present


def _installed(binary: str) -> bool:
    return bool(shutil.which(binary)) or (os.path.isabs(binary) and os.access(binary, os.X_OK))


def fan_out(settings: Settings, backends: Sequence[str], op: Callable[[Adapter], T]) -> list[Outcome[T]]:
    """Run ``op`` on each backend's adapter in its own thread; collect each result or error.

    A failing, missing or hung backend does not hold up the others: each adapter's calls are bounded
    by its deadline (the per-backend timeout), and its error is returned, not raised.
    """
    def one(name: str) -> Outcome[T]:
        adapter = None
        try:
            adapter = adapter_class(name)(settings)
            return Outcome(name, value=op(adapter), warnings=adapter.warnings)
        except CtrtoolError as exc:
            return Outcome(name, error=exc, warnings=adapter.warnings if adapter else [])

    if len(backends) == 1:
        return [one(backends[0])]
    from concurrent.futures import ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=len(backends))
    futures = {name: pool.submit(one, name) for name in backends}
    # a safety net only: every tool call is already killed at its deadline
    done, _ = wait(futures.values(), timeout=settings.timeout + 5)
    pool.shutdown(wait=False)
    outcomes = []
    for name, fut in futures.items():
        if fut in done:
            outcomes.append(fut.result())
        else:
            outcomes.append(Outcome(name, error=ToolTimeout(settings.binary(name), settings.timeout)))
    return outcomes


# -- images ---------------------------------------------------------------------------------

def _gathered(outcomes: list[Outcome], rows: list[dict[str, Any]]) -> Gathered:
    return Gathered(rows, [o for o in outcomes if o.error], [w for o in outcomes for w in o.warnings])


def list_images(settings: Settings, backends: Sequence[str],
                namespaces: Sequence[str] | None = None) -> Gathered:
    """Rows (dicts with the documented JSON fields) for every image copy, and the failed backends."""
    outcomes = fan_out(settings, backends, lambda a: a.images(namespaces))
    records: list[ImageRecord] = []
    for outcome in outcomes:
        records.extend(outcome.value or [])
    rows = [r.to_dict() for r in records]
    annotate_copies(rows)
    return _gathered(outcomes, rows)


def location(row: dict[str, Any]) -> tuple[str, str | None]:
    """Where a copy of an image's layers is stored. crictl and ``ctr -n k8s.io`` on the same
    containerd share one location: the same snapshotter root and namespace."""
    store = os.path.realpath(row["store"]) if row.get("store") else f"{row['backend']}:?"
    return store, row.get("namespace")


def annotate_copies(rows: list[dict[str, Any]]) -> None:
    """Set ``copies``: in how many distinct stores (snapshotter root + namespace, or docker's
    graph driver directory) the same image id is stored, among the backends that were queried."""
    places: dict[str, set] = {}
    for row in rows:
        if row.get("id"):
            places.setdefault(row["id"], set()).add(location(row))
    for row in rows:
        row["copies"] = len(places[row["id"]]) if row.get("id") else 1


# -- info -----------------------------------------------------------------------------------

def backend_info(settings: Settings, backends: Sequence[str]) -> Gathered:
    outcomes = fan_out(settings, backends, lambda a: a.info())
    infos: list[BackendInfo] = [o.value for o in outcomes if o.value is not None]
    _fill_containerd_state(infos)
    return _gathered(outcomes, [i.to_dict() for i in infos])


def _fill_containerd_state(infos: list[BackendInfo]) -> None:
    """ctr cannot see containerd's state directory, crictl can: when both talk to the same
    containerd (same root), ctr's state is the one crictl reports."""
    by_backend = {i.backend: i for i in infos}
    ctr, cri = by_backend.get("ctr"), by_backend.get("crictl")
    if ctr and cri and ctr.state is None and cri.state and ctr.root and cri.root \
            and os.path.realpath(ctr.root) == os.path.realpath(cri.root):
        ctr.state = cri.state
