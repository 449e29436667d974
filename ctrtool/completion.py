"""Shell completion (bash, zsh, fish): commands and options from the CLI itself, backends from the
descriptors, and namespaces, image and container names from one listing each.

The shells call ctrtool back with ``_CTRTOOL_COMPLETE`` set (click's protocol, through typer); the
scripts come from ``ctrtool completion SHELL``. A completion never prints an error and never waits
long: it uses the global options already typed on the line (``-H``, ``-a``, ``-r``, ``--config``),
the ``--backend`` and ``--namespace`` given to the command, and a short timeout; anything that fails
gives no candidates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import typer

COMPLETE_VAR = "_CTRTOOL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
TIMEOUT = 3.0  # seconds per backend while the user waits at the prompt


def script(shell: str) -> str:
    """The script that makes ``shell`` complete ctrtool (``source <(ctrtool completion bash)``)."""
    from typer.completion import completion_init, get_completion_script

    completion_init()
    return get_completion_script(prog_name="ctrtool", complete_var=COMPLETE_VAR, shell=shell)


def requested() -> bool:
    """Whether this run answers a shell's completion request."""
    return bool(os.environ.get(COMPLETE_VAR))


def prepare() -> None:
    """Register the shells' completion classes (only on a completion request: start-up stays lean)."""
    from typer.completion import completion_init

    completion_init()


def _settings(ctx: Any):
    """Settings from the global options on the command line so far, with a short timeout."""
    from .config import Flags, load

    root = ctx.find_root().params if ctx is not None else {}
    flags = Flags(
        config=root.get("config"),
        timeout=min(root.get("timeout") or TIMEOUT, TIMEOUT),
        docker_host=root.get("docker_host"),
        docker_context=root.get("docker_context"),
        containerd_address=root.get("address"),
        runtime_endpoint=root.get("runtime_endpoint"),
        image_endpoint=root.get("image_endpoint"),
    )
    return load(flags)


def _chosen(ctx: Any) -> tuple[list[str] | None, list[str] | None]:
    """The --backend and --namespace given to the command being completed."""
    params = ctx.params if ctx is not None else {}
    backend = params.get("backend")
    namespace = params.get("namespace")
    backends = [backend] if isinstance(backend, str) else list(backend) if backend else None
    namespaces = [namespace] if isinstance(namespace, str) else list(namespace) if namespace else None
    return backends, namespaces


def _quietly(produce: Callable[[], Iterable[str]], incomplete: str) -> list[str]:
    """Candidates that start with ``incomplete``, control characters escaped (a name's escape
    sequence must not reach the shell's line editor raw); nothing when the listing fails."""
    try:
        words = sorted(set(produce()))
    except BaseException:  # noqa: BLE001 -- a completion shows nothing rather than an error
        return []
    from .output import one_line

    return [one_line(w) for w in words if w.startswith(incomplete)]


def backends(incomplete: str) -> list[str]:
    from .adapters import all_descriptors

    return [d.name for d in all_descriptors() if d.name.startswith(incomplete)]


def namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    """containerd's namespaces: one `ctr namespaces ls`."""

    def produce() -> list[str]:
        from .adapters import adapter_class, all_namespaces_backend

        return adapter_class(all_namespaces_backend())(_settings(ctx)).namespaces()

    return _quietly(produce, incomplete)


def images(ctx: typer.Context, incomplete: str) -> list[str]:
    """Image names from one listing (the calls `ctrtool images` makes, never one per image)."""

    def produce() -> list[str]:
        from . import core

        conf = _settings(ctx)
        chosen, spaces = _chosen(ctx)
        got = core.list_images(conf, core.select_backends(conf, chosen, False), spaces)
        return [r.ref for r in got.rows if r.ref and not r.ref.startswith("sha256:")]

    return _quietly(produce, incomplete)


def containers(ctx: typer.Context, incomplete: str) -> list[str]:
    """Container names from one listing (the calls `ctrtool ps -a` makes)."""

    def produce() -> list[str]:
        from . import core

        conf = _settings(ctx)
        chosen, spaces = _chosen(ctx)
        got = core.list_containers(conf, core.select_backends(conf, chosen, False), spaces)
        return [r.name for r in got.rows if r.name and getattr(r, "kind", None) != "sandbox"]

    return _quietly(produce, incomplete)


def objects(ctx: typer.Context, incomplete: str) -> list[str]:
    """For `inspect NAME`: containers, then images."""
    return containers(ctx, incomplete) + images(ctx, incomplete)


def formats(incomplete: str) -> list[str]:
    from .output import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]
