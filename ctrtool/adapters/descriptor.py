"""What a backend is, declared once beside its adapter (``DESCRIPTOR`` in each adapter module).

Core, config and the commands ask these facts instead of comparing backend names: which containerd
namespaces a backend works in, whether a copy in a namespace is its own (docker's ``moby``, the
CRI's ``k8s.io``) or only seen by it (ctr sees every namespace), how its endpoint is found, how
images go in and out of it, and how a ctrtool command line reaches a place in it.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Endpoint, Settings


class NamespaceRule(str, enum.Enum):
    NONE = "none"  # no containerd namespaces of its own choosing (docker: detected from the daemon)
    ALL = "all"  # every namespace of its containerd; -n picks one (ctr)
    FIXED = "fixed"  # one namespace, always (crictl: k8s.io)


class NodeDaemon(str, enum.Enum):
    """On a Kubernetes node, the daemon whose socket a backend's tool is given (``ctrtool nodes``)."""

    OWN = "own"  # a daemon of the backend's own (dockerd)
    CONTAINERD = "containerd"  # the containerd that serves the kubelet's CRI
    CRI = "cri"  # the kubelet's CRI endpoint (else containerd's)
    NONE = "none"  # no daemon to give it (a daemonless tool, podman): `ctrtool nodes` leaves it out


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
    # endpoint discovery: the tools' convention it follows (a function of .discovery: docker's CLI,
    # DOCKER_HOST and contexts; containerd's clients, CONTAINERD_ADDRESS; the CRI's, CONTAINER_RUNTIME_
    # ENDPOINT and crictl.yaml), the environment variables it reads, the config file's keys of its
    # section, and the sockets looked at when nothing says where (in order)
    discover: Callable[[Settings, Descriptor], Endpoint] | None = None
    env: tuple[str, ...] = ()
    config_keys: dict[str, Any] = field(default_factory=dict)
    default_sockets: tuple[str, ...] = ()
    endpoint_hint: str = ""
    # the tool's own config file, named in the hint where it says ``{tool_config}`` (crictl's: a
    # function of .discovery, handed in by the adapter module, so that this module imports none)
    tool_config: Callable[[Settings], str] | None = None
    daemon: str = "the daemon"  # what answers at the endpoint, in words (hints)
    # images in and out: whether it can export/import archives itself; if not, the backend whose
    # tool moves the data for it, in its namespace (crictl: ctr -n k8s.io)
    archives: bool = True
    moves_via: str | None = None
    # how a ctrtool command line names a place in this backend ("-n NS" added for ALL)
    selects_namespace: bool = False
    # its tool talks to a daemon at an endpoint (a daemonless tool is there when it is installed)
    needs_endpoint: bool = True
    # it lists pod sandboxes (the CRI's view)
    has_pods: bool = False
    # its daemon runs on a containerd of its own choosing and names it when asked (dockerd): doctor
    # checks that it is the CRI's
    reports_containerd: bool = False
    # on containerd's image store its tool prints the manifest digest as IMAGE ID (Docker 29), not
    # the config digest
    digest_is_id_in_namespace: bool = False
    # on a Kubernetes node: the daemon whose socket it is given (fleet's discovery)
    node_daemon: NodeDaemon = NodeDaemon.CONTAINERD
    # besides being installed (and its endpoint found, when it needs one): what else must hold for it
    # to be there, found without running the tool (podman: a store on this machine; running podman as
    # root to ask would create /var/lib/containers/storage). None: nothing else
    present_when: Callable[[Settings], bool] | None = None

    def endpoint(self, settings: Settings) -> Endpoint:
        """Where this backend's tool connects, found the way the tool finds it (``discover``)."""
        if self.discover is None:
            from ..config import first_socket

            return first_socket(self.name, self.default_sockets)
        return self.discover(settings, self)

    def present(self, settings: Settings) -> bool:
        """Whether this backend is there to ask: its tool is installed and, for a tool that talks to
        a daemon, its endpoint is found; and what ``present_when`` asks besides (a daemonless tool's
        store)."""
        if not installed(settings.binary(self.name)):
            return False
        if self.present_when is not None and not self.present_when(settings):
            return False
        return not self.needs_endpoint or self.endpoint(settings).address is not None

    def hint(self, settings: Settings | None = None) -> str:
        """How to set the endpoint, naming the config file the tool reads here when it has one
        (``{tool_config}`` in ``endpoint_hint``: crictl's)."""
        if "{tool_config}" not in self.endpoint_hint or self.tool_config is None:
            return self.endpoint_hint
        from ..config import Settings

        return self.endpoint_hint.replace("{tool_config}", self.tool_config(settings or Settings()))

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


def installed(binary: str) -> bool:
    """A tool's binary is on PATH, or is an executable path."""
    import shutil

    return bool(shutil.which(binary)) or (os.path.isabs(binary) and os.access(binary, os.X_OK))
