"""What the checks look at, gathered once per run and shared: each fact is asked of an adapter
the first time a check needs it (so a check that is not run costs nothing), and every tool call
the adapters make is kept, so that a check can cite the call and the lines of its output it rests
on. Doctor itself never runs a tool: only the adapters do."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..errors import CtrtoolError
from ..facts import Answer, CriImage, Plugin, Unpacked
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
        from ..adapters.descriptor import installed

        return installed(self.settings.binary(backend))

    def adapter(self, backend: str) -> Any:
        """A fresh adapter (its own deadline: the per-backend timeout)."""
        from ..adapters import adapter_class

        return adapter_class(backend)(self.settings)

    def fact(self, key: str, get: Callable[[], Any]) -> Any:
        """``get()`` once per run; its error is kept and raised again to every check that asks.
        ``get`` runs under the probe's lock: it must not ask another fact."""
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

    def error_of(self, key: str) -> CtrtoolError | None:
        got = self._memo.get(key)
        return got[1] if got else None

    # -- the backends by what they are (their descriptors say; doctor names none) ---------------
    @property
    def cri(self) -> str:
        """The kubelet's view: the backend that speaks the CRI (it lists pods)."""
        from ..adapters import pods_backend

        return pods_backend()

    @property
    def containerd(self) -> str:
        """containerd's own client: the backend that sees every namespace of a containerd."""
        from ..adapters import all_namespaces_backend

        return all_namespaces_backend()

    def own_daemons(self) -> list[str]:
        """The backends with a daemon and a store of their own (docker): neither the CRI's view nor
        containerd's client, nor a daemonless tool (its descriptor needs no endpoint)."""
        from ..adapters import BACKENDS, get_descriptor

        return [b for b in BACKENDS if b not in (self.cri, self.containerd) and get_descriptor(b).needs_endpoint]

    def answer(self, backend: str) -> Answer:
        """Whether ``backend``'s daemon answers, and what it says of itself (``Adapter.answer``),
        once per run."""
        return self.fact(f"{backend}.answer", lambda: self.adapter(backend).answer())

    # the CRI -------------------------------------------------------------------------------------
    def cri_version(self) -> Answer:
        return self.answer(self.cri)

    def cri_info(self) -> dict[str, Any]:
        return self.fact("cri.info", lambda: self.adapter(self.cri).cri_info())

    def cri_images(self) -> list[CriImage]:
        return self.fact("cri.images", lambda: self.adapter(self.cri).cri_images())

    def cri_imagefs(self) -> str | None:
        return self.fact("cri.imagefs", lambda: self.adapter(self.cri).imagefs())

    def cri_client_version(self) -> str | None:
        return self.fact("cri.client", lambda: self.adapter(self.cri).client_version())

    def cri_snapshotter(self) -> str | None:
        info, imagefs = self.cri_info(), self.cri_imagefs()  # facts first: fact() holds the lock
        return self.adapter(self.cri).snapshotter_of(info, imagefs)

    def cri_store(self) -> Any:
        """The containers/storage store the CRI's runtime keeps its images in (CRI-O: the image
        filesystem it names is ``<graphroot>/<driver>-images``), or None: containerd, or not known."""
        from ..adapters.cstorage import conf_of_images_dir

        try:
            imagefs = self.cri_imagefs()
        except CtrtoolError:
            return None
        return conf_of_images_dir(imagefs) if imagefs else None

    def sandbox_image(self) -> str | None:
        info, images = self.cri_info(), self.cri_images()
        return self.adapter(self.cri).sandbox_image_of(info, images)

    # containerd ----------------------------------------------------------------------------------
    def ctr_plugins(self) -> list[Plugin]:
        return self.fact("containerd.plugins", lambda: self.adapter(self.containerd).containerd_plugins())

    def unpacked(self, namespace: str) -> list[Unpacked]:
        return self.fact(f"containerd.unpacked.{namespace}", lambda: self.adapter(self.containerd).unpacked(namespace))

    def images(self) -> Any:
        """Every image copy every backend found lists (list_images: kubelet visibility set)."""
        from ..core.listing import list_images

        return self.fact("images", lambda: list_images(self.settings, self.present_backends()))

    def present_backends(self) -> list[str]:
        from ..adapters import all_descriptors

        return [d.name for d in all_descriptors() if d.present(self.settings)]
