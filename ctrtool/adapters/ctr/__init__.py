"""ctr: containerd's own client. Images live per namespace; blobs are shared in the content store,
unpacked snapshots are per namespace under the snapshotter's root.

ctr prints text tables only (it calls itself an unsupported debug client), so this module parses
them by their header columns and is tested on recorded output.

Calls per ``images``: ``ctr namespaces ls -q`` and ``ctr plugins ls -d`` (in parallel), then one
``ctr -n NS images ls`` per namespace, all namespaces in parallel. The image id (config digest) and
the exact size in bytes are read from the manifest blobs in containerd's content store on disk
(``ctr images ls`` only prints a rounded size), one small file per distinct manifest.

Calls per ``ps``: ``ctr namespaces ls -q``, then ``containers ls`` and ``tasks ls`` for every
namespace, all in parallel. A ctr container runs as a task: start, stop and rm work on the task
(``tasks start/kill/delete``) and then, for rm, the container. ctr has no logs and no image inspect.
"""

from __future__ import annotations

from .. import discovery
from ..descriptor import Descriptor, NamespaceRule
from .common import CtrBase
from .containers import CtrContainers
from .images import CtrImages
from .parse import (
    BLOB_LIMIT,
    DEFAULT_SNAPSHOTTER,
    INDEX_TYPES,
    TASK_STATES,
    BlobReader,
    Plugins,
    exec_listed,
    first_line,
    load_json,
    loopback_registry,
    parse_client_major,
    parse_containers,
    parse_imported,
    parse_lines,
    parse_plugins,
    parse_table,
    parse_version,
    pick_platform,
    snapshot_dirs,
    strip_unix,
)
from .stores import CtrStores

__all__ = [
    "BLOB_LIMIT",
    "BlobReader",
    "CtrAdapter",
    "CtrBase",
    "CtrContainers",
    "CtrImages",
    "CtrStores",
    "DEFAULT_SNAPSHOTTER",
    "DESCRIPTOR",
    "INDEX_TYPES",
    "Plugins",
    "TASK_STATES",
    "exec_listed",
    "first_line",
    "load_json",
    "loopback_registry",
    "parse_client_major",
    "parse_containers",
    "parse_imported",
    "parse_lines",
    "parse_plugins",
    "parse_table",
    "parse_version",
    "pick_platform",
    "snapshot_dirs",
    "strip_unix",
]

DESCRIPTOR = Descriptor(
    name="ctr",
    module="ctr",
    discover=discovery.containerd,
    cls="CtrAdapter",
    tool="ctr",
    role="containerd's own client: every namespace of one containerd, its content store and snapshots",
    namespace_rule=NamespaceRule.ALL,
    namespace="default",
    owns_namespace=False,
    selects_namespace=True,
    env=("CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE"),
    config_keys={"address": str, "namespace": str, "binary": str},
    # containerd's own, k3s and RKE2 (both at /run/k3s/containerd), and the containerd that dockerd
    # starts for itself when none is given
    default_sockets=(
        "/run/containerd/containerd.sock",
        "/run/k3s/containerd/containerd.sock",
        "/run/docker/containerd/containerd.sock",
    ),
    daemon="containerd",
    endpoint_hint="set CONTAINERD_ADDRESS, pass --address, or set ctr.address in the ctrtool config file",
)


class CtrAdapter(CtrImages, CtrContainers, CtrStores):
    """ctr's adapter, one part per resource: images (images.py), containers and their tasks
    (containers.py), containerd's stores (stores.py); what they share is :class:`CtrBase`."""
