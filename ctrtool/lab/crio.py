"""The ``crio`` lab profile: a real CRI-O 1.37.0 (built from source) and podman (Debian's 4.3) sharing
one containers/storage store, and a second store standing for a rootless user's.

``CrioLab`` composes the lab's parts: its directory (:mod:`~ctrtool.lab.home`), a CNI network
(:mod:`~ctrtool.lab.network`), CRI-O run by the supervisor (:mod:`~ctrtool.lab.supervisor`), the
tools and workloads (:mod:`~ctrtool.lab.criotools`) and the teardown (:mod:`~ctrtool.lab.teardown`).

Layout of the lab directory DIR (default /var/tmp/ctrtool-lab-crio)::

    DIR/storage.conf               [storage] overlay, graphroot DIR/storage, runroot DIR/run/s:
                                   ``CONTAINERS_STORAGE_CONF`` for podman (ONE store with CRI-O)
    DIR/storage/                   the shared graph root (CRI-O's --root): overlay-images/images.json,
                                   overlay-layers/layers.json, overlay/<layer id>/diff, libpod/ (podman)
    DIR/run/s/                     its runroot; DIR/run/libpod podman's --tmpdir
    DIR/crio/crio.sock, crio.pid, crio.log     CRI-O (flags only: --config /dev/null)
    DIR/crio/runtime-wrapper       CRI-O's "runc" (:mod:`ctrtool.lab.runcwrapper`), then /usr/sbin/runc
    DIR/crio/runc, exits, attach, ns, pods-logs, version*, clean.shutdown, hooks.d, cdi, conf.d
    DIR/crictl.yaml                crictl config pointing at the lab's CRI-O
    DIR/cni/                       the CNI network of the lab (its pod runs on it)
    DIR/passwd                     ``CTRTOOL_PASSWD_FILE``: one line, user labuser (uid 1000), home below
    DIR/home/labuser/.local/share/containers/storage    the rootless user's graph root (made by podman
                                   as root with --root, --runroot DIR/run/u)
    DIR/home/labuser/.config/containers/storage.conf    naming that graph root
    DIR/images/                    demo.tar, pause.tar, rootless-only.tar (docker-archives, built here)
    DIR/workloads/pod.json, container.json     crictl runp/create configs

Images: :data:`PAUSE_IMAGE` (CRI-O's ``--pause-image``) and :data:`DEMO_IMAGE` are loaded with
podman into the shared store before CRI-O starts; :data:`ROOTLESS_IMAGE`
(``localhost/ctrtool-lab/rootless-only:1``, busybox with a label of its own) only into the rootless
store, so CRI-O never lists it. Workloads: the CRI-O pod :data:`CRIO_POD` with container
:data:`CRIO_CONTAINER` (``sleep``), and the podman container :data:`PODMAN_CONTAINER` (``sleep``,
``--network none``) in the shared store.

What is outside DIR: runc's state of podman's containers (/run/runc, podman's default as root), the
pod's cgroups (``/ctrtool-crio-HASH`` in every hierarchy, removed by ``down``), podman's conmons'
cgroup (/libpod_parent), the CNI bridge (``ctrlab`` + hash, removed by ``down --purge``) and libcni's
cache in /var/lib/cni. ``down`` stops CRI-O by pid, then kills by pid what is left of the lab: the
processes whose command line names DIR (conmon), their descendants and the processes in those
containers' cgroups (:func:`ctrtool.lab.teardown.processes_of`); nothing is killed by name.
"""

from __future__ import annotations

import os
import pathlib
import time

from .. import imagebuild
from . import profiles as profiles_mod
from . import render, teardown
from .common import (
    DEMO_IMAGE,
    PAUSE_IMAGE,
    LabError,
    Progress,
    find_binary,
    missing_binary_error,
    noop,
    write_if_changed,
)
from .criotools import (
    CRIO_CONTAINER,
    CRIO_POD,
    PODMAN_CONTAINER,
    ROOTLESS_IMAGE,
    SIGNATURE_POLICY,
    SLEEP,
    Stores,
    Tools,
    crio_argv,
    image_ids,
    require_policy,
    rootless_image,
    start_crio,
    stop_crio,
    write_runtime_wrapper,
)
from .daemons import require_cni_plugins, require_root
from .home import LabHome
from .kubenode import remove_cgroups
from .network import Network
from .supervisor import Daemon

CRIO_BINARIES = ("runc", "conmon", "podman", "crictl", "busybox", "umount")
ROOTLESS_USER = "labuser"
ROOTLESS_UID = 1000
RUNROOT_MAX = 50
HOST_NETWORK = False  # the pod on the lab's CNI network (True: the host's)

__all__ = [
    "CRIO_BINARIES",
    "CRIO_CONTAINER",
    "CRIO_POD",
    "DEMO_IMAGE",
    "PAUSE_IMAGE",
    "PODMAN_CONTAINER",
    "ROOTLESS_IMAGE",
    "ROOTLESS_UID",
    "ROOTLESS_USER",
    "CrioLab",
]


class CrioLab:
    """A CRI-O lab directory: CRI-O, podman on its store, a rootless user's store (module docstring)."""

    def __init__(self, directory: pathlib.Path | str | None = None, profile: str | None = None):
        self.home = LabHome(directory, profile or "crio")
        self.directory = d = self.home.directory
        self.profile = self.home.profile
        if not self.profile.crio:
            raise LabError(f"lab profile {self.profile.name} is not the CRI-O profile")
        self.network = Network(d, d / "cni")
        self.cni_dir, self.bridge, self.network_name = self.network.cni_dir, self.network.bridge, self.network.name
        self.crio_dir = c = d / "crio"
        self.socket = c / "crio.sock"
        self.crio = Daemon("crio", "crio", "--listen", str(self.socket), c / "crio.pid", self.socket, c / "crio.log")
        self.wrapper = c / "runtime-wrapper"  # CRI-O's runc and podman's (ctrtool.lab.runcwrapper)
        self.crictl_config = d / "crictl.yaml"
        self.storage_conf = d / "storage.conf"
        self.graphroot = d / "storage"
        self.runroot = d / "run" / "s"  # podman refuses a runroot longer than 50 characters
        self.passwd = d / "passwd"
        self.user_home = d / "home" / ROOTLESS_USER
        self.rootless_graphroot = self.user_home / ".local" / "share" / "containers" / "storage"
        self.rootless_storage_conf = self.user_home / ".config" / "containers" / "storage.conf"
        self.images_dir = d / "images"
        self.workloads_dir = d / "workloads"
        self.stores = Stores(
            self.storage_conf,
            self.graphroot,
            self.runroot,
            d / "run" / "libpod",
            self.rootless_graphroot,
            d / "run" / "u",
            d / "run" / "labuser-libpod",
            d / "crio" / "runtime-wrapper",
        )
        self.cgroup_parent = f"/ctrtool-crio-{self.home.hash[:6]}"

    def __repr__(self) -> str:
        return f"CrioLab({str(self.directory)!r})"

    @property
    def recorded_profile(self) -> str | None:
        return self.home.recorded_profile

    @property
    def marker(self) -> pathlib.Path:
        return self.home.marker

    def tools(self, binaries: dict[str, str] | None = None) -> Tools:
        found = {n: find_binary(n) or n for n in ("crictl", "podman")} | (binaries or {})
        return Tools(found, self.stores, self.socket, self.crictl_config)

    # ---- public API -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """CRI-O's endpoints for crictl and ctrtool, the shared store for podman, the fake passwd."""
        endpoint = f"unix://{self.socket}"
        return {
            "CTRTOOL_LAB_DIR": str(self.directory),
            "CONTAINER_RUNTIME_ENDPOINT": endpoint,
            "IMAGE_SERVICE_ENDPOINT": endpoint,
            "CRI_CONFIG_FILE": str(self.crictl_config),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "CTRTOOL_PASSWD_FILE": str(self.passwd),
        }

    def status(self) -> dict:
        """What runs and where, from pid files and /proc only (no tool is called)."""
        pid = self.crio.running_pid()
        return {
            "directory": str(self.directory),
            "profile": self.profile.name,
            "profile_summary": self.profile.summary,
            "exists": self.directory.is_dir(),
            "daemons": [
                {
                    "name": self.crio.name,
                    "pid": pid,
                    "running": pid is not None,
                    "socket": str(self.socket),
                    "socket_exists": self.socket.is_socket(),
                    "pidfile": str(self.crio.pidfile),
                    "log": str(self.crio.log),
                }
            ],
            "stores": {
                "shared": {"graphroot": str(self.graphroot), "runroot": str(self.runroot)},
                "rootless": {
                    "user": ROOTLESS_USER,
                    "home": str(self.user_home),
                    "graphroot": str(self.rootless_graphroot),
                },
            },
            "images": {"shared": [PAUSE_IMAGE, DEMO_IMAGE], "rootless": [ROOTLESS_IMAGE]},
            "workloads": {"crio": {"pod": CRIO_POD, "container": CRIO_CONTAINER}, "podman": [PODMAN_CONTAINER]},
            "network": self.network.status(),
            "crictl_config": str(self.crictl_config),
            "env": self.env(),
        }

    def up(self, progress: Progress = noop) -> dict:
        """Build CRI-O if needed, start it (or reuse it), load the images, start the workloads."""
        require_root()
        binaries = {}
        for name in CRIO_BINARIES:
            path = find_binary(name)
            if not path:
                raise missing_binary_error(name)
            binaries[name] = path
        binaries |= require_cni_plugins()
        require_policy(SIGNATURE_POLICY)
        self.home.refuse_other_profile()
        if profiles_mod.built_binaries(self.profile) is None and not profiles_mod.find_go():
            raise LabError(
                "lab profile crio builds CRI-O with Go, and go is not installed", "install Go (https://go.dev/dl/)"
            )
        binaries |= profiles_mod.ensure_built(self.profile, progress)
        if len(str(self.stores.rootless_runroot)) > RUNROOT_MAX:
            raise LabError(
                f"lab directory path too long: podman refuses a runroot ({self.stores.rootless_runroot}) longer "
                f"than {RUNROOT_MAX} characters",
                "choose a shorter --dir (at most 44 characters)",
            )
        self.home.claim()
        with self.home.lock():
            self.home.record_profile()
            return self._up(binaries, progress)

    def down(self, purge: bool = False, progress: Progress = noop) -> dict:
        """Remove the pods and podman containers, stop CRI-O by pid, kill what is left of the lab by
        pid, unmount what is under DIR, remove the pod cgroups; with ``purge`` DIR and the bridge too."""
        require_root()
        self.require_lab_directory()
        with self.home.lock_if_there():
            return self._down(purge, progress)

    def require_lab_directory(self) -> None:
        self.home.require_lab_directory()

    def down_actions(self, purge: bool) -> list[list[str]]:
        self.require_lab_directory()
        actions: list[list[str]] = []
        pid = self.crio.running_pid()
        if pid:
            actions.append(["crictl", "--runtime-endpoint", f"unix://{self.socket}", "rmp", "-f", "-a"])
        if (self.graphroot / "libpod").is_dir():
            actions.append(["env", f"CONTAINERS_STORAGE_CONF={self.storage_conf}", "podman", "rm", "-f", "-a"])
        if (self.rootless_graphroot / "libpod").is_dir():
            actions.append(["podman", "--root", str(self.rootless_graphroot), "rm", "-f", "-a"])
        if pid:
            actions.append(["kill", "-TERM", str(pid)])
        # then whatever of the lab is left (those commands remove most of it)
        actions += [["kill", "-KILL", str(p)] for p in teardown.processes_of(self.directory) if p != pid]
        actions += [["umount", point] for point in teardown.mounts_under(self.directory)]
        if purge and self.directory.exists():
            actions.append(["rm", "-rf", str(self.directory)])
            if teardown.bridge_exists(self.bridge):
                actions.append(["ip", "link", "delete", self.bridge, "type", "bridge"])
        return actions

    # ---- up ----------------------------------------------------------------------------------

    def _write_files(self, binaries: dict[str, str]) -> None:
        d, c = self.directory, self.crio_dir
        for sub in (c, c / "runc", c / "exits", c / "attach", c / "ns", c / "pods-logs", c / "hooks.d", c / "cdi"):
            sub.mkdir(parents=True, exist_ok=True)
        for sub in (c / "conf.d", self.graphroot, self.runroot, self.stores.podman_tmp, self.images_dir):
            sub.mkdir(parents=True, exist_ok=True)
        for sub in (self.rootless_graphroot, self.stores.rootless_runroot, self.stores.rootless_tmp):
            sub.mkdir(parents=True, exist_ok=True)
        for sub in (self.rootless_storage_conf.parent, self.workloads_dir, self.cni_dir / "ipam"):
            sub.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o711)
        write_if_changed(self.storage_conf, render.storage_conf(self.graphroot, self.runroot))
        write_if_changed(
            self.rootless_storage_conf, render.storage_conf(self.rootless_graphroot, self.stores.rootless_runroot)
        )
        write_if_changed(self.passwd, render.passwd_line(ROOTLESS_USER, ROOTLESS_UID, self.user_home))
        write_if_changed(self.crictl_config, render.crictl_yaml(self.socket))
        self.network.write()
        write_runtime_wrapper(self.wrapper, binaries["runc"])
        pod = render.crio_pod_config(
            CRIO_POD, "ctrtool-lab-" + self.home.hash[:12], self.cgroup_parent, c / "pods-logs", HOST_NETWORK
        )
        write_if_changed(self.workloads_dir / "pod.json", pod)
        write_if_changed(
            self.workloads_dir / "container.json", render.crio_container_config(CRIO_CONTAINER, DEMO_IMAGE, SLEEP)
        )

    def crio_argv(self, binaries: dict[str, str]) -> list[str]:
        return crio_argv(binaries, self.crio_dir, self.graphroot, self.runroot, self.socket, self.cni_dir, PAUSE_IMAGE)

    def _start_crio(self, binaries: dict[str, str], tools: Tools, progress: Progress) -> None:
        start_crio(self.crio, self.socket, binaries["crictl"], self.crio_argv(binaries), progress)

    def _up(self, binaries: dict[str, str], progress: Progress) -> dict:
        started = time.monotonic()
        self._write_files(binaries)
        tools = self.tools(binaries)
        built = imagebuild.build_images(self.images_dir, busybox=binaries["busybox"])
        for ref in (PAUSE_IMAGE, DEMO_IMAGE):  # the pause image before CRI-O needs it
            tools.load(built[ref], progress)
        tools.load(rootless_image(self.images_dir, binaries["busybox"]), progress, rootless=True)
        self._start_crio(binaries, tools, progress)
        tools.crio_workload(self.workloads_dir / "pod.json", self.workloads_dir / "container.json", progress)
        tools.podman_workload(progress)
        progress(f"lab up in {time.monotonic() - started:.1f}s: {self.directory}")
        return self.status()

    def image_ids(self) -> dict[str, str | None]:
        """ref -> its image ID in its store (podman; for tests)."""
        return image_ids(self.tools())

    # ---- down --------------------------------------------------------------------------------

    def _down(self, purge: bool, progress: Progress) -> dict:
        result = teardown.down_result(self.directory)
        warnings: list[str] = result["warnings"]
        pid = self.crio.running_pid()
        if self.directory.is_dir():
            result["workloads"] = self.tools().remove_workloads(pid is not None, warnings, progress)
        stop_crio(self.crio, pid, self.directory, result, progress, "lab")
        result["removed"] += remove_cgroups(self.directory / "cgroups.json", self.cgroup_parent.lstrip("/"), warnings)
        if purge and self.directory.exists():
            teardown.purge(self.directory, self.marker, self.network_name, result, progress, [])
            result["removed"] += teardown.remove_cni_results(self.network_name, self.crio_dir)
        if purge and teardown.delete_bridge(self.bridge, warnings):
            result["removed"].append(f"bridge {self.bridge}")
        return result
