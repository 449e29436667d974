"""Which backends a command talks to, and asking them all at once: one thread per backend, each
result or error kept (:class:`Outcome`), gathered into what a command prints (:class:`Gathered`).
Also the reader of a whole containerd, for the backends that only know its address."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..adapters import BACKENDS, adapter_class, get_descriptor
from ..adapters.base import Adapter
from ..config import Settings
from ..errors import CtrtoolError, ToolTimeout, UsageError

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

    rows: list[Any]
    failed: list[Outcome]
    warnings: list[str]


def select_backends(settings: Settings, chosen: Sequence[str] | None, all_backends: bool) -> list[str]:
    """The backends a command talks to.

    ``--backend`` (repeatable) or ``--all-backends`` ask for backends explicitly: each one that then
    fails is reported (``--all-backends``: those whose tool is installed or configured). Without them: the config file's ``backends:`` list, else every backend whose
    tool is installed and whose endpoint is found (so a node without docker just shows ctr and crictl).
    """
    if chosen and all_backends:
        raise UsageError("use either --backend or --all-backends, not both")
    if all_backends:
        # every backend whose tool is here (installed, or named in the config file: then a missing
        # binary is reported), so that each one that does not answer says why; a tool whose presence
        # is more than being installed (a daemonless tool: its store, present_when) only where
        # present; a tool neither installed nor configured is not there (a CRI-O node has no docker)
        def here(b: str) -> bool:
            d = get_descriptor(b)
            if d.present_when is not None:
                return d.present(settings)
            return _installed(settings.binary(b)) or settings.binary(b) != d.tool

        return [b for b in BACKENDS if here(b)]
    if chosen:
        unknown = [b for b in chosen if b not in BACKENDS]
        if unknown:
            raise UsageError(f"unknown backend {unknown[0]!r}", f"choose from {', '.join(BACKENDS)}")
        return list(dict.fromkeys(chosen))
    configured = settings.default_backends()
    if configured:
        return list(configured)
    present = [b for b in BACKENDS if get_descriptor(b).present(settings)]
    if not present:
        raise CtrtoolError(
            "no backend found: none of docker, ctr, crictl is installed with a reachable endpoint",
            "install the tools, or point ctrtool at them (DOCKER_HOST, CONTAINERD_ADDRESS, "
            "CONTAINER_RUNTIME_ENDPOINT); `ctrtool lab up` starts a local lab",
        )
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
    # a safety net only: every tool call is already killed at its deadline. Waited for in short
    # slices: a signal the kernel hands a backend's thread only sets a flag, which the main thread
    # acts on when it next runs Python; one long wait would hold it until a thread that waits on no
    # tool (docker's Engine API on a socket that never answers) ran into its timeout
    import time

    deadline = time.monotonic() + settings.timeout + 5
    pending = set(futures.values())
    while pending and (left := deadline - time.monotonic()) > 0:
        _finished, pending = wait(pending, timeout=min(0.2, left))
    done = set(futures.values()) - pending
    pool.shutdown(wait=False)
    outcomes = []
    for name, fut in futures.items():
        if fut in done:
            outcomes.append(fut.result())
        else:
            outcomes.append(Outcome(name, error=ToolTimeout(settings.binary(name), settings.timeout)))
    return outcomes


def gathered(outcomes: list[Outcome], rows: list[Any]) -> Gathered:
    return Gathered(rows, [o for o in outcomes if o.error], [w for o in outcomes for w in o.warnings])


def containerd_reader_class(settings: Settings) -> Any:
    """The adapter class that reads a whole containerd (the backend whose descriptor sees every
    namespace: ctr), or None when its tool is not installed."""
    from ..adapters import all_descriptors
    from ..adapters.descriptor import NamespaceRule

    for d in all_descriptors():
        if d.namespace_rule is NamespaceRule.ALL and _installed(settings.binary(d.name)):
            return adapter_class(d.name)
    return None


def containerd_reader(settings: Settings, address: str) -> Any:
    """That adapter, pointed at the containerd at ``address`` (as docker reported it)."""
    from ..config import Endpoint

    cls = containerd_reader_class(settings)
    return cls(settings, Endpoint(cls.name, address, "reported by docker info")) if cls else None


def cri_namespace() -> str:
    """The containerd namespace the kubelet sees: the one the CRI backend is fixed to (k8s.io)."""
    from ..adapters import all_descriptors
    from ..adapters.descriptor import NamespaceRule

    return next(d.namespace for d in all_descriptors() if d.namespace_rule is NamespaceRule.FIXED and d.namespace)
