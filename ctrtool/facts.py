"""What a backend's daemon says of itself, typed: the facts `ctrtool doctor` asks the adapters for
(each adapter parses its tool's output into these; doctor never reads a tool's raw output)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """A backend's daemon answering its cheapest call (``Adapter.answer``): which it is, and the
    words of that call, so that doctor can cite it as evidence."""

    call: str  # a word of the call's argv ("info", "version")
    version: str | None = None  # the daemon's version, as it says it
    runtime: str | None = None  # the runtime behind the endpoint, when it says (the CRI: "containerd")
    api: str | None = None  # the API version it serves, when it says (the CRI: "v1")
    root: str | None = None  # its data root, when it says (dockerd's DockerRootDir)
    containerd: str | None = None  # the containerd it works with, when it says (dockerd's Containerd.Address)
    # a JSON answer is cited by the field read ("ServerVersion: 29.1.3"); None: by its version lines
    excerpt: str | None = None


@dataclass(frozen=True)
class Plugin:
    """One plugin of a containerd (``ctr plugins ls``)."""

    type: str  # "io.containerd.snapshotter.v1"
    id: str  # "overlayfs"
    status: str  # "ok", "skip", "error"
    platforms: str = ""

    @property
    def loaded(self) -> bool:
        return self.status.lower() == "ok"


@dataclass
class Unpacked:
    """One image of a containerd namespace and the snapshotters it is unpacked in."""

    ref: str
    id: str | None  # config digest
    top_layer: str | None  # the chain id of its last layer (None: config not readable)
    platform: str | None  # os/architecture from its config
    snapshotters: list[str]


@dataclass(frozen=True)
class CriImage:
    """One image as the CRI lists it (``crictl images -o json``)."""

    id: str | None
    repo_tags: list[str] | None  # as listed (None: the field was not there)
    pinned: bool | None = None  # the runtime keeps it from the kubelet's image GC (None: not said)
