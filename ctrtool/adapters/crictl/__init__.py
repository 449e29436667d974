"""crictl: the kubelet's view, through the CRI. With containerd, the CRI plugin works in
containerd namespace ``k8s.io`` and shares that namespace's images and snapshots with ``ctr -n k8s.io``.

Calls per ``images``: ``crictl images -o json``, ``crictl version`` and ``crictl imagefsinfo -o json``,
all in parallel. Never one call per image. Calls per ``ps`` (and ``pods``): ``crictl ps -a -o json``,
``crictl pods -o json`` and ``crictl version``, in parallel; names are resolved to the IDs crictl
needs from that one listing. The CRI has no tag, import or export: those operations are refused
with the ctr command for namespace k8s.io instead.
"""

from __future__ import annotations

from .. import discovery
from ..descriptor import Descriptor, NamespaceRule, NodeDaemon
from .common import CrictlBase
from .containers import CrictlContainers
from .images import CrictlImages
from .parse import (
    CONTAINER_STATES,
    CRI_CONTAINERD_NAMESPACE,
    EXIT_REPORT,
    POD_STATES,
    containerd_snapshotter,
    cri_namespace,
    cri_time,
    error_line,
    exec_status,
    is_exit_report,
    load_json,
    parse_client_version,
    parse_deleted,
    parse_imagefs_mountpoint,
    parse_images,
    parse_pods,
    parse_ps,
    parse_version,
    pod_items,
    prune_candidates,
    sandbox_image,
    snapshotter_of_root,
    uses_image,
)
from .stores import CrictlStores

__all__ = [
    "CONTAINER_STATES",
    "CRI_CONTAINERD_NAMESPACE",
    "CrictlAdapter",
    "CrictlBase",
    "CrictlContainers",
    "CrictlImages",
    "CrictlStores",
    "DESCRIPTOR",
    "EXIT_REPORT",
    "POD_STATES",
    "containerd_snapshotter",
    "cri_namespace",
    "cri_time",
    "error_line",
    "exec_status",
    "is_exit_report",
    "load_json",
    "parse_client_version",
    "parse_deleted",
    "parse_imagefs_mountpoint",
    "parse_images",
    "parse_pods",
    "parse_ps",
    "parse_version",
    "pod_items",
    "prune_candidates",
    "sandbox_image",
    "snapshotter_of_root",
    "uses_image",
]

DESCRIPTOR = Descriptor(
    name="crictl",
    module="crictl",
    discover=discovery.cri,
    cls="CrictlAdapter",
    tool="crictl",
    role="the kubelet's view, through the CRI",
    node_daemon=NodeDaemon.CRI,
    namespace_rule=NamespaceRule.FIXED,
    namespace=CRI_CONTAINERD_NAMESPACE,
    owns_namespace=True,
    env=("CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT", "CRI_CONFIG_FILE"),
    config_keys={"runtime-endpoint": str, "image-endpoint": str, "binary": str, "config": str},
    default_sockets=(
        "unix:///run/containerd/containerd.sock",
        "unix:///run/k3s/containerd/containerd.sock",
        "unix:///run/crio/crio.sock",
        "unix:///var/run/cri-dockerd.sock",
    ),
    daemon="the CRI runtime",
    # {tool_config}: the crictl config file crictl reads here (CRI_CONFIG_FILE, else /etc/crictl.yaml)
    endpoint_hint="set CONTAINER_RUNTIME_ENDPOINT, pass --runtime-endpoint, or set runtime-endpoint in {tool_config}",
    tool_config=discovery.cri_config_path,
    archives=False,
    moves_via="ctr",
    has_pods=True,
)


class CrictlAdapter(CrictlImages, CrictlContainers, CrictlStores):
    """crictl's adapter, one part per resource: images (images.py), containers and pods
    (containers.py), the CRI's facts and stores (stores.py); what they share is :class:`CrictlBase`."""
