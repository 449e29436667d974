"""Adapters: one package per tool, each declaring its backend in a ``DESCRIPTOR`` beside its adapter.

Adding a backend (nerdctl, podman) = one adapter package here (its descriptor and adapter class in
``__init__.py``, a part per resource, its parsers: docs/architecture.md, "Adapters: one part per
resource"), its name in ``ctrtool.registry.MODULES``, and its recorded fixtures; core, config and the commands find it
through :func:`get_descriptor` and :func:`adapter_class`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..registry import BACKENDS as BACKENDS
from ..registry import descriptor as _descriptor

if TYPE_CHECKING:
    from .base import Adapter
    from .descriptor import Descriptor


def get_descriptor(backend: str) -> Descriptor:
    """The backend's descriptor (KeyError for an unknown name): ctrtool.registry's table names its
    package, imported on first use to keep start-up fast."""
    return _descriptor(backend)


def all_descriptors() -> list[Descriptor]:
    return [get_descriptor(name) for name in BACKENDS]


def adapter_class(backend: str) -> type[Adapter]:
    d = get_descriptor(backend)
    return getattr(importlib.import_module(f"{__name__}.{d.module}"), d.cls)


def pods_backend() -> str:
    """The backend that lists pods (the CRI's: crictl)."""
    return next(d.name for d in all_descriptors() if d.has_pods)


def all_namespaces_backend() -> str:
    """The backend that sees every namespace of a containerd (ctr)."""
    return next(d.name for d in all_descriptors() if d.namespace_rule.value == "all")


def owner_of(namespace: str | None, docker_namespace: str | None = None) -> str | None:
    """The backend that owns a copy in containerd namespace ``namespace`` (crictl for the CRI's,
    docker for the one its daemon uses, as reported: ``docker_namespace``), or None: then it is
    ctr's, which sees every namespace and owns none."""
    for d in all_descriptors():
        if not d.owns_namespace:
            continue
        own = docker_namespace if (d.namespace_rule.value == "none" and docker_namespace) else d.namespace
        if namespace and namespace == own:
            return d.name
    return None
