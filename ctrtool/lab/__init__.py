"""An isolated local lab of real daemons: a private containerd (with CRI) and dockerd.

``Lab(directory).up()`` starts both daemons under one directory (default ``/var/tmp/ctrtool-lab``,
or ``$CTRTOOL_LAB_DIR``), builds two tiny busybox images and imports them into docker and into
containerd's ``default`` and ``k8s.io`` namespaces; ``down()`` stops exactly what ``up()`` started.
See :mod:`ctrtool.lab.daemons` for the layout and for what the tools still create outside the
directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import (
    APT_INSTALL,
    CRICTL_INSTALL,
    DEFAULT_DIR,
    DEMO_IMAGE,
    PAUSE_IMAGE,
    LabError,
    default_dir,
    find_crictl,
)
from .daemons import Lab, pid_alive, preflight, require_binaries, require_root

if TYPE_CHECKING:
    from .crio import CrioLab
    from .kube import KubeLab


def open_lab(
    directory: str | None = None, profile: str | None = None, nodes: int | None = None, crio_nodes: int | None = None
) -> Lab | KubeLab | CrioLab:
    """The lab in ``directory``: a :class:`Lab`, for the ``kube`` profile (asked for, or recorded in
    the directory) a :class:`ctrtool.lab.kube.KubeLab` of ``nodes`` nodes (and ``crio_nodes`` on
    CRI-O), for the ``crio`` profile a
    :class:`ctrtool.lab.crio.CrioLab`."""
    lab = Lab(directory, profile)
    if lab.profile.kubernetes:
        from .kube import KubeLab

        return KubeLab(directory, lab.profile.name, nodes=nodes, crio_nodes=crio_nodes)
    for flag, value in (("--nodes", nodes), ("--crio-nodes", crio_nodes)):
        if value is not None:
            raise LabError(
                f"{flag} is for the kube profile; lab profile {lab.profile.name} has no nodes", f"leave {flag} out"
            )
    if lab.profile.crio:
        from .crio import CrioLab

        return CrioLab(directory, lab.profile.name)
    return lab


__all__ = [
    "APT_INSTALL",
    "CRICTL_INSTALL",
    "DEFAULT_DIR",
    "DEMO_IMAGE",
    "PAUSE_IMAGE",
    "Lab",
    "LabError",
    "default_dir",
    "find_crictl",
    "open_lab",
    "pid_alive",
    "preflight",
    "require_binaries",
    "require_root",
]
