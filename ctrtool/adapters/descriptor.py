"""What a backend is, declared once beside its adapter (``DESCRIPTOR`` in each adapter module).

Core, config and the commands ask these facts instead of comparing backend names: which containerd
namespaces a backend works in, whether a copy in a namespace is its own (docker's ``moby``, the
CRI's ``k8s.io``) or only seen by it (ctr sees every namespace), how its endpoint is found, how
images go in and out of it, and how a ctrtool command line reaches a place in it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class NamespaceRule(str, enum.Enum):
    NONE = "none"  # no containerd namespaces of its own choosing (docker: detected from the daemon)
    ALL = "all"  # every namespace of its containerd; -n picks one (ctr)
    FIXED = "fixed"  # one namespace, always (crictl: k8s.io)


@dataclass(frozen=True)
class Descriptor:
    name: str  # the backend's name on the command line (--backend NAME)
    module: str  # adapter module in ctrtool.adapters
    cls: str  # adapter class in that module
    tool: str  # the tool's binary (config key BACKEND.binary overrides it)
    role: str  # what it is, in a few words (help, docs)
    namespace_rule: NamespaceRule
    # FIXED: its namespace; NONE: the containerd namespace the daemon uses when it does not say
    namespace: str | None = None
    # a copy in ``namespace`` of its containerd is this backend's own: advice and operations on it go
    # through this backend, never behind its back through ctr (docker's moby, the CRI's k8s.io)
    owns_namespace: bool = False
    # endpoint discovery: the tools' convention it follows ("docker-cli": DOCKER_HOST and contexts;
    # "containerd": CONTAINERD_ADDRESS; "cri": CONTAINER_RUNTIME_ENDPOINT and crictl.yaml), the
    # environment variables it reads, the config file's keys of its section, and the sockets looked
    # at when nothing says where (in order)
    discovery: str = "containerd"
    env: tuple[str, ...] = ()
    config_keys: dict[str, Any] = field(default_factory=dict)
    default_sockets: tuple[str, ...] = ()
    endpoint_hint: str = ""
    daemon: str = "the daemon"  # what answers at the endpoint, in words (hints)
    # images in and out: whether it can export/import archives itself; if not, the backend whose
    # tool moves the data for it, in its namespace (crictl: ctr -n k8s.io)
    archives: bool = True
    moves_via: str | None = None
    # how a ctrtool command line names a place in this backend ("-n NS" added for ALL)
    selects_namespace: bool = False
    # it lists pod sandboxes (the CRI's view)
    has_pods: bool = False

    def place_flags(self, namespace: str | None) -> str:
        """``--backend NAME [-n NS]``: what reaches a place in this backend on a command line."""
        flags = f"--backend {self.name}"
        if self.selects_namespace and namespace:
            flags += f" -n {namespace}"
        return flags

    def words(self, namespace: str | None) -> str:
        """Where something is, in words: "docker", "ctr namespace default", "crictl (k8s.io)"."""
        if self.selects_namespace:
            return f"{self.name} namespace {namespace}"
        if self.namespace_rule is NamespaceRule.FIXED and namespace:
            return f"{self.name} ({namespace})"
        return self.name
