"""podman: a daemonless tool on containers/storage graph roots (the rootful one, and each user's
rootless one), found from files (:mod:`.discover`); podman is never run to find out.

Calls per ``images``: one ``podman images --all --format json`` on the rootful store; each rootless
store's images.json and layers.json are read (read-only), never through podman. Per ``ps``: one
``podman ps --all --format json``, plus each rootless store's containers.json. ``layers`` and ``df``
read each store's images.json and layers.json once. Changes run podman on the rootful store only.
"""

from __future__ import annotations

from ..descriptor import Descriptor, NamespaceRule, NodeDaemon
from .common import NoStore, PodmanBase, RootlessRefused
from .containers import PodmanContainers
from .discover import PodmanStore, has_store, passwd_homes, read_storage_conf, rootful_store, rootless_stores
from .images import PodmanImages
from .parse import (
    STATES,
    image_layers,
    info_fields,
    parse_images,
    parse_loaded,
    parse_pruned,
    parse_ps,
    store_containers,
    store_images,
)
from .stores import PodmanStores

__all__ = [
    "DESCRIPTOR",
    "NoStore",
    "PodmanAdapter",
    "PodmanBase",
    "PodmanContainers",
    "PodmanImages",
    "PodmanStore",
    "PodmanStores",
    "RootlessRefused",
    "STATES",
    "has_store",
    "image_layers",
    "info_fields",
    "parse_images",
    "parse_loaded",
    "parse_ps",
    "parse_pruned",
    "passwd_homes",
    "read_storage_conf",
    "rootful_store",
    "rootless_stores",
    "store_containers",
    "store_images",
]

DESCRIPTOR = Descriptor(
    name="podman",
    module="podman",
    cls="PodmanAdapter",
    tool="podman",
    role="podman's images: a containers/storage graph root (rootful, and each user's rootless one, read-only)",
    namespace_rule=NamespaceRule.NONE,
    namespace=None,
    env=("CONTAINERS_STORAGE_CONF", "CTRTOOL_PASSWD_FILE"),
    config_keys={"binary": str},
    daemon="podman (no daemon)",
    archives=True,
    needs_endpoint=False,
    # no daemon on a node to hand it: `ctrtool nodes` does not ask it (its stores are found from files
    # on the node, which fleet does not do yet)
    node_daemon=NodeDaemon.NONE,
    present_when=has_store,
    endpoint_hint="podman has no daemon: CONTAINERS_STORAGE_CONF names the storage.conf of its store",
)


class PodmanAdapter(PodmanImages, PodmanContainers, PodmanStores):
    """podman's adapter, one part per resource: images (images.py), containers (containers.py),
    its stores (stores.py); what they share is :class:`PodmanBase`, where they are :mod:`.discover`."""
