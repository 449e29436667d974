"""The backends by name, and where each one's adapter package is (under ``ctrtool.adapters``).

A table and one look-up, importing nothing of ctrtool's: config and the adapters' registry
(``ctrtool.adapters``) both read it, and a backend's package is imported only when its descriptor is
first asked for, so that `ctrtool --version` and a Tab load no adapter and no config."""

from __future__ import annotations

import importlib
from typing import Any

# backend name -> its package under ctrtool.adapters (adding a backend: one line here)
MODULES = {"docker": "docker", "ctr": "ctr", "crictl": "crictl", "podman": "podman"}

BACKENDS = tuple(MODULES)


def descriptor(backend: str) -> Any:
    """The backend's descriptor, ``ctrtool.adapters.<package>.DESCRIPTOR`` (KeyError for an unknown
    name)."""
    return importlib.import_module(f"ctrtool.adapters.{MODULES[backend]}").DESCRIPTOR
