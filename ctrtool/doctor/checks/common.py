"""Small helpers the checks share."""

from __future__ import annotations

import shlex
from typing import Any

from ..result import Evidence


def error_evidence(exc: Any) -> Evidence:
    """A failed tool call as evidence: its command line (when known) and the error it gave."""
    argv = getattr(exc, "argv", None)
    source = shlex.join(argv) if argv else getattr(exc, "tool", None) or "ctrtool"
    return Evidence(source, exc.message)


def file_evidence(path: str, lines: list[str]) -> Evidence:
    return Evidence(path, "\n".join(lines), kind="file")


def same_socket(a: str | None, b: str | None) -> bool:
    import os

    from ...config import socket_path

    if not a or not b:
        return False
    return os.path.realpath(socket_path(a)) == os.path.realpath(socket_path(b))


def bytes_words(n: int) -> str:
    from ...output import human_size

    return f"{human_size(n)} ({n} bytes)"


# -- the backends by what they are (their descriptors say; the checks name none) -------------------
def cri() -> str:
    """The kubelet's view: the backend that speaks the CRI."""
    from ...adapters import pods_backend

    return pods_backend()


def containerd() -> str:
    """containerd's own client: the backend that sees every namespace of a containerd."""
    from ...adapters import all_namespaces_backend

    return all_namespaces_backend()


def place_words(backend: str, namespace: str | None) -> str:
    """Where a copy is, in words: "docker", "ctr namespace default"."""
    from ...adapters import get_descriptor

    return get_descriptor(backend).words(namespace)


def place_flags(backend: str, namespace: str | None = None) -> list[str]:
    """The ctrtool options that reach a place: ["--backend", "ctr", "-n", "k8s.io"]."""
    from ...adapters import get_descriptor

    return shlex.split(get_descriptor(backend).place_flags(namespace))
