"""The adapter interface and the records every adapter returns.

An adapter is the only place that knows one tool's flags and output format. It builds argv lists,
runs them through :mod:`ctrtool.runner`, parses the output and returns plain records. It never
formats anything for people.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from ..config import Endpoint, Settings
from ..errors import ToolError, ToolTimeout
from ..runner import Deadline, Result, run

# size_kind values: what an image's ``size`` counts
UNPACKED = "unpacked"  # the image's unpacked layers (docker's own figure)
CONTENT = "content"  # the image's blobs in containerd's content store: manifest, config, compressed layers
REPORTED = "reported"  # whatever a non-containerd CRI runtime (CRI-O) reports


@dataclass
class ImageRecord:
    backend: str
    namespace: str | None
    ref: str | None  # None for an untagged image
    id: str | None  # the image id: the digest of the image config ("sha256:...")
    digest: str | None  # the manifest (or index) digest, where known
    size: int | None  # bytes
    size_kind: str
    store: str | None  # absolute path of the directory holding this copy's layers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BackendInfo:
    backend: str
    version: str | None
    endpoint: str | None
    endpoint_source: str
    root: str | None  # the daemon's storage root
    state: str | None  # the daemon's state directory (None when the tool does not expose it)
    storage_driver: str | None  # docker graph driver or containerd snapshotter
    store: str | None  # the directory that holds unpacked layers
    content_store: str | None  # containerd's content (blob) store; None for docker
    namespaces: list[str] = field(default_factory=list)
    image_count: int | None = None
    namespace_image_counts: dict[str, int] | None = None
    runtime: str | None = None  # crictl: the CRI runtime behind the endpoint, e.g. "containerd 1.6.20"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Adapter:
    """Base of the docker, ctr and crictl adapters.

    One adapter object serves one command: its :class:`Deadline` bounds the time all of its tool
    calls may take together (the per-backend timeout).
    """

    name: ClassVar[str]

    def __init__(self, settings: Settings, endpoint: Endpoint | None = None, timeout: float | None = None):
        self.settings = settings
        self.endpoint = endpoint or settings.endpoint(self.name)
        self.binary = settings.binary(self.name)
        self.deadline = Deadline(settings.timeout if timeout is None else timeout)
        # facts the user should know about a result that is still usable (printed on stderr)
        self.warnings: list[str] = []

    # -- what every backend answers ----------------------------------------------------------
    def images(self, namespaces: Sequence[str] | None = None) -> list[ImageRecord]:
        raise NotImplementedError

    def info(self) -> BackendInfo:
        raise NotImplementedError

    def namespaces(self) -> list[str]:
        """The containerd namespaces this backend works in ([] when that does not apply)."""
        return []

    # -- running the tool ------------------------------------------------------------------
    def connection_args(self) -> list[str]:
        """The flags that point the tool at :attr:`endpoint`."""
        raise NotImplementedError

    def unset_env(self) -> Sequence[str]:
        return ()

    def classify(self, returncode: int, stderr: str) -> ToolError | None:
        """Map a failed call's stderr to a precise error (unreachable, permission denied)."""
        return None

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.connection_args(), *args]

    def run(self, *args: str, check: bool = True, input: str | None = None) -> Result:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise ToolTimeout(self.binary, self.deadline.seconds, endpoint=self.endpoint.address,
                              argv=self.argv(*args))
        try:
            return run(self.argv(*args), timeout=remaining, endpoint=self.endpoint.address,
                       unset_env=self.unset_env(), check=check, input=input, classify=self.classify)
        except ToolTimeout as exc:
            # report the backend's whole budget, which is what the user configured
            raise ToolTimeout(exc.tool, self.deadline.seconds, endpoint=exc.endpoint, argv=exc.argv) from None


def parallel(calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent calls in threads; return their results by key, or raise the first error.

    Every call is itself bounded by its adapter's deadline, so this never waits longer than that.
    """
    if len(calls) <= 1:
        return {key: fn() for key, fn in calls.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        futures = {key: pool.submit(fn) for key, fn in calls.items()}
        return {key: fut.result() for key, fut in futures.items()}


def stderr_mentions(stderr: str, *needles: str) -> bool:
    low = stderr.lower()
    return any(n.lower() in low for n in needles)


def realpath_or_none(path: str | None) -> str | None:
    return os.path.realpath(path) if path else None
