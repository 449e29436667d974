"""Image and container names for a Tab, from one listing each: the completers behind
``ctrtool.completion`` that need no typer, so that ``ctrtool.launch`` can run them before the app
loads. ``ctx`` is click's context or anything with ``params`` and ``find_root().params``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

TIMEOUT = 1.0  # seconds per backend while the user waits at the prompt: a hung one gives up then


def deadline() -> float:
    """Seconds per backend at a Tab: TIMEOUT, or CTRTOOL_COMPLETION_TIMEOUT (0.1 to 30) for a node
    whose tools answer slowly; anything else there is ignored (a Tab never fails on it)."""
    try:
        value = float(os.environ.get("CTRTOOL_COMPLETION_TIMEOUT", TIMEOUT))
    except ValueError:
        return TIMEOUT
    return value if 0.1 <= value <= 30 else TIMEOUT


def settings_of(ctx: Any):
    """Settings from the global options on the command line so far, with a short timeout."""
    from .config import Flags, load

    root = ctx.find_root().params if ctx is not None else {}
    flags = Flags(
        config=root.get("config"),
        timeout=min(root.get("timeout") or deadline(), deadline()),
        docker_host=root.get("docker_host"),
        docker_context=root.get("docker_context"),
        containerd_address=root.get("address"),
        runtime_endpoint=root.get("runtime_endpoint"),
        image_endpoint=root.get("image_endpoint"),
    )
    return load(flags)


def chosen_of(ctx: Any) -> tuple[list[str] | None, list[str] | None]:
    """The --backend and --namespace given to the command being completed."""
    params = ctx.params if ctx is not None else {}
    backend = params.get("backend")
    namespace = params.get("namespace")
    backends = [backend] if isinstance(backend, str) else list(backend) if backend else None
    namespaces = [namespace] if isinstance(namespace, str) else list(namespace) if namespace else None
    return backends, namespaces


def quietly(produce: Callable[[], Iterable[str]], incomplete: str) -> list[str]:
    """Candidates that start with ``incomplete``, control characters escaped (a name's escape
    sequence must not reach the shell's line editor raw); nothing when the listing fails."""
    try:
        words = sorted(set(produce()))
    except BaseException:  # noqa: BLE001 -- a completion shows nothing rather than an error
        return []
    from .output import one_line

    return [one_line(w) for w in words if w.startswith(incomplete)]


def images(ctx: Any, incomplete: str) -> list[str]:
    """Image names from one listing (the calls `ctrtool images` makes, never one per image)."""

    def produce() -> list[str]:
        from .core.listing import list_images
        from .core.query import select_backends

        conf = settings_of(ctx)
        chosen, spaces = chosen_of(ctx)
        got = list_images(conf, select_backends(conf, chosen, False), spaces)
        return [r.ref for r in got.rows if r.ref and not r.ref.startswith("sha256:")]

    return quietly(produce, incomplete)


def containers(ctx: Any, incomplete: str) -> list[str]:
    """Container names from one listing (the calls `ctrtool ps -a` makes)."""

    def produce() -> list[str]:
        from .core.listing import list_containers
        from .core.query import select_backends
        from .model import ContainerKind

        conf = settings_of(ctx)
        chosen, spaces = chosen_of(ctx)
        got = list_containers(conf, select_backends(conf, chosen, False), spaces)
        return [r.name for r in got.rows if r.name and getattr(r, "kind", None) != ContainerKind.SANDBOX]

    return quietly(produce, incomplete)


def objects(ctx: Any, incomplete: str) -> list[str]:
    """For `inspect NAME`: containers, then images."""
    return containers(ctx, incomplete) + images(ctx, incomplete)
