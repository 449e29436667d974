"""ctrtool on every node of a Kubernetes cluster (``ctrtool nodes ...``), through the Kubernetes API.

* :mod:`.nodeimage` builds the image that carries ctrtool onto a node (its own Python, nothing
  needed on the node but its container tools);
* :mod:`.onnode` is what runs inside that image, on the host (chroot /host);
* :mod:`.run` creates one pod per node, watches them, reads their logs and cleans up.
"""


def rbac_text() -> str:
    """The RBAC manifest shipped with ctrtool (ctrtool/fleet/rbac.yaml)."""
    from importlib.resources import files

    return files(__name__).joinpath("rbac.yaml").read_text(encoding="utf-8")
