"""Adapters: one module per tool. ``ADAPTERS`` maps a backend name to its class.

Adding a backend (nerdctl, podman) = one module here with its parsers and recorded fixtures, plus
one line in ``_MODULES``; the commands find it through :func:`adapter_class`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Adapter

# backend name -> (module, class); imported on first use to keep start-up fast
_MODULES = {
    "docker": ("docker", "DockerAdapter"),
    "ctr": ("ctr", "CtrAdapter"),
    "crictl": ("crictl", "CrictlAdapter"),
}

BACKENDS = tuple(_MODULES)


def adapter_class(backend: str) -> type["Adapter"]:
    module, cls = _MODULES[backend]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
