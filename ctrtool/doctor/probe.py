"""What the checks look at, gathered once per run and shared: each fact is asked of an adapter
the first time a check needs it (so a check that is not run costs nothing), and every tool call
the adapters make is kept, so that a check can cite the call and the lines of its output it rests
on. Doctor itself never runs a tool: only the adapters do."""

from __future__ import annotations

import os
import shlex
import shutil
import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import CtrtoolError
from .result import Evidence


class Probe:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.calls: list[Any] = []  # runner.Result of every tool call, in the order they ended
        self._memo: dict[str, tuple[Any, CtrtoolError | None]] = {}
        self._lock = threading.Lock()

    # -- recording ------------------------------------------------------------------------------
    def __enter__(self) -> Probe:
        from .. import runner

        runner.set_recorder(self.calls.append)
        return self

    def __exit__(self, *exc: object) -> None:
        from .. import runner

        runner.set_recorder(None)

    def evidence(
        self,
        *words: str,
        tool: str | None = None,
        pick: Callable[[str], bool] | None = None,
        limit: int = 12,
        excerpt: str | None = None,
        header: Callable[[str], bool] | None = None,
    ) -> Evidence | None:
        """The last tool call whose argv holds every one of ``words``: its command line and the
        lines of its output that ``pick`` keeps (all, when None), at most ``limit``, after the table
        header lines ``header`` keeps; "(no line about it)" when ``pick`` kept none. For output that
        is one long JSON document, ``excerpt``: the fields that matter, as the check read them.
        ``tool``: only calls of that backend's binary."""
        binary = self.settings.binary(tool) if tool else None
        for result in reversed(self.calls):
            if binary and result.argv[0] != binary:
                continue
            if all(w in result.argv for w in words):
                if excerpt is not None:
                    return Evidence(shlex.join(result.argv), excerpt)
                text = result.stdout if result.returncode == 0 or result.stdout.strip() else result.stderr
                lines = [line.rstrip() for line in text.splitlines() if line.strip()]
                heads = [line for line in lines if header is not None and header(line)]
                if pick is not None:
                    lines = [line for line in lines if line not in heads and pick(line)]
                if len(lines) > limit:
                    lines = lines[:limit] + [f"... ({len(lines) - limit} more lines)"]
                if pick is not None and not lines:
                    lines.append("(no line about it)")
                lines = heads + lines
                if result.returncode != 0:
                    lines.append(f"(exit status {result.returncode})")
                return Evidence(shlex.join(result.argv), "\n".join(lines))
        return None

    # -- facts ----------------------------------------------------------------------------------
    def installed(self, backend: str) -> bool:
        binary = self.settings.binary(backend)
        return bool(shutil.which(binary)) or (os.path.isabs(binary) and os.access(binary, os.X_OK))

    def adapter(self, backend: str) -> Any:
        """A fresh adapter (its own deadline: the per-backend timeout)."""
        from ..adapters import adapter_class

        return adapter_class(backend)(self.settings)

    def fact(self, key: str, get: Callable[[], Any]) -> Any:
        """``get()`` once per run; its error is kept and raised again to every check that asks."""
        with self._lock:
            if key not in self._memo:
                try:
                    self._memo[key] = (get(), None)
                except CtrtoolError as exc:
                    self._memo[key] = (None, exc)
            value, error = self._memo[key]
        if error is not None:
            raise error
        return value

    def ask(self, backend: str, method: str, *args: Any) -> Any:
        """``adapter.method(*args)`` of ``backend``, once per run."""
        key = f"{backend}.{method}{args!r}"
        return self.fact(key, lambda: getattr(self.adapter(backend), method)(*args))

    def error_of(self, key: str) -> CtrtoolError | None:
        got = self._memo.get(key)
        return got[1] if got else None

    # the CRI (crictl) --------------------------------------------------------------------------
    def cri_version(self) -> dict[str, str]:
        return self.ask("crictl", "version")

    def cri_info(self) -> dict[str, Any]:
        return self.ask("crictl", "cri_info")

    def cri_images(self) -> Any:
        return self.ask("crictl", "image_list")

    def cri_imagefs(self) -> str | None:
        return self.ask("crictl", "imagefs")

    def cri_snapshotter(self) -> str | None:
        from ..adapters.crictl import containerd_snapshotter

        return containerd_snapshotter(self.cri_info(), self.cri_imagefs())

    def sandbox_image(self) -> str | None:
        import json

        from ..adapters.crictl import sandbox_image

        return sandbox_image(json.dumps(self.cri_info()), self.cri_images())

    # containerd (ctr) and docker -----------------------------------------------------------------
    def ctr_plugins(self) -> list[dict[str, str]]:
        return self.ask("ctr", "plugin_rows")

    def unpacked(self, namespace: str) -> list[Any]:
        return self.ask("ctr", "unpacked", namespace)

    def docker_info(self) -> dict[str, Any]:
        return self.ask("docker", "daemon_info")

    def images(self) -> Any:
        """Every image copy every backend found lists (list_images: kubelet visibility set)."""
        from ..core.listing import list_images

        return self.fact("images", lambda: list_images(self.settings, self.present_backends()))

    def present_backends(self) -> list[str]:
        from ..adapters import BACKENDS

        return [b for b in BACKENDS if self.installed(b) and self.settings.endpoint(b).address]
