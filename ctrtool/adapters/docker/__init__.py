"""docker: its own image store (graph driver directory under its data root).

Calls per ``images``: ``docker image ls -q``, then one ``docker image inspect`` for all image ids at
once (never one call per image). The store directory comes from the layers' own paths with overlay2;
with any other graph driver ``docker info`` is asked as well.

Calls per ``ps``: one ``docker ps --all --no-trunc --size=false --format '{{json .}}'``. Operations
take the container's name (docker resolves it) after ctrtool has found it in that listing.
"""

from __future__ import annotations

from .. import discovery
from ..descriptor import Descriptor, NamespaceRule, NodeDaemon
from .common import DockerBase
from .containers import DockerContainers
from .images import DockerImages
from .parse import (
    DOCKER_CONTAINERD_NAMESPACE,
    STATES,
    DockerStore,
    digest_for,
    docker_image_id,
    docker_layers,
    docker_store,
    docker_time,
    first_line,
    layer_dir,
    load_json,
    overlay2_store,
    parse_image_ids,
    parse_inspect,
    parse_loaded,
    parse_pruned,
    parse_ps,
)
from .stores import DockerStores

__all__ = [
    "DESCRIPTOR",
    "DOCKER_CONTAINERD_NAMESPACE",
    "DockerAdapter",
    "DockerBase",
    "DockerContainers",
    "DockerImages",
    "DockerStore",
    "DockerStores",
    "STATES",
    "digest_for",
    "docker_image_id",
    "docker_layers",
    "docker_store",
    "docker_time",
    "first_line",
    "layer_dir",
    "load_json",
    "overlay2_store",
    "parse_image_ids",
    "parse_inspect",
    "parse_loaded",
    "parse_pruned",
    "parse_ps",
]

# the name tests/test_parsers.py knows it by (private while it lived in docker.py)
_digest_for = digest_for

DESCRIPTOR = Descriptor(
    name="docker",
    module="docker",
    discover=discovery.docker_cli,
    cls="DockerAdapter",
    tool="docker",
    role="docker's images: its own graph driver store, or a namespace of containerd's image store",
    node_daemon=NodeDaemon.OWN,
    namespace_rule=NamespaceRule.NONE,
    namespace=DOCKER_CONTAINERD_NAMESPACE,
    owns_namespace=True,
    env=("DOCKER_HOST", "DOCKER_CONTEXT"),
    config_keys={"host": str, "context": str, "binary": str},
    default_sockets=("unix:///var/run/docker.sock",),
    daemon="dockerd",
    reports_containerd=True,
    digest_is_id_in_namespace=True,
    endpoint_hint="set DOCKER_HOST, pass --docker-host, or set docker.host in the ctrtool config file",
)


class DockerAdapter(DockerImages, DockerContainers, DockerStores):
    """docker's adapter, one part per resource: images (images.py), containers (containers.py),
    its daemon and stores (stores.py); what they share is :class:`DockerBase`."""
