"""An isolated local lab: a private containerd (with CRI) and a private dockerd, under one directory.

``Lab`` composes the parts: its directory (:mod:`~ctrtool.lab.home`), a CNI network
(:mod:`~ctrtool.lab.network`), one runtime (:mod:`~ctrtool.lab.runtime`: containerd + dockerd, their
files rendered by :mod:`~ctrtool.lab.render`, run by :mod:`~ctrtool.lab.supervisor`), its two images
(:mod:`~ctrtool.lab.images`) and a teardown (:mod:`~ctrtool.lab.teardown`).

Layout of the lab directory DIR (default /var/tmp/ctrtool-lab, or ``$CTRTOOL_LAB_DIR``)::

    DIR/containerd/config.toml     written by us: root, state, socket, CRI plugin, CNI dirs
    DIR/containerd/containerd.sock (+ .ttrpc), containerd.pid, containerd.log
    DIR/containerd/root, state     containerd's persistent and runtime state
    DIR/containerd/runc            runc state of CRI containers (runtime option Root)
    DIR/containerd/opt             containerd's "opt" plugin dir (default /opt/containerd)
    DIR/cni/10-ctrtool-lab.conflist, DIR/cni/ipam   CNI config and host-local IPAM leases
    DIR/docker/daemon.json ("{}"), docker.sock, docker.pid, dockerd.log, key.json
    DIR/docker/data, DIR/docker/exec   dockerd's --data-root and --exec-root
    DIR/images/demo.tar, pause.tar, imported.json   the two images and what was imported where
    DIR/crictl.yaml                crictl config pointing at the lab's containerd

Daemons are started with their own session and stopped only by the pid we recorded, after checking
``/proc/PID/cmdline`` names this lab (containerd: ``--config DIR/containerd/config.toml``;
dockerd: ``--data-root DIR/docker/data``). Nothing is ever killed by name, and the system's
/var/lib/docker, /var/lib/containerd, /run/containerd/containerd.sock and /var/run/docker.sock are
never touched.

What the lab still creates outside DIR, because these tools hard-code it:

* containerd 1.6: shim sockets in ``/run/containerd/s/`` (the path is derived from the socket
  address, namespace and container id; containerd and the shim remove them when a task is
  deleted), and ``/run/containerd/runc/NAMESPACE`` for containers started by ``ctr run``
  (``ctr`` passes no runc root; CRI containers use DIR/containerd/runc, docker ones DIR/docker/exec).
* CNI: the ``bridge`` plugin creates a bridge interface (``ctrlab`` + 6 hex of a hash of DIR) and
  veth pairs, and turns on ``net.ipv4.ip_forward`` (isGateway); libcni caches results in
  ``/var/lib/cni/results`` (removed on pod teardown). ``down(purge=True)`` deletes the lab's own
  bridge, and cached results a killed lab left there (they name the lab's network or its pods).
* dockerd 20.10 would write its identity key to ``/etc/docker/key.json``; we pass the hidden flag
  ``"deprecated-key-path": "DIR/docker/key.json"`` in DIR/docker/daemon.json (a config-file-only
  key in 20.10; the CLI flag does not exist) so it does not. It also reads (never writes)
  ``/etc/docker/daemon.json`` unless given ``--config-file``, which we always pass. With
  ``--exec-root`` and ``--pidfile`` nothing lands in /var/run/docker or /var/run/docker.pid.
* cgroups: runc creates one cgroup per container (removed when the container is deleted).
"""

from __future__ import annotations

import os
import pathlib
import time

from . import images as images_mod
from . import profiles as profiles_mod
from . import teardown
from .common import CNI_BIN_DIR, CNI_PLUGINS, PAUSE_IMAGE, LabError, Progress, find_binary, missing_binary_error, noop
from .home import LabHome
from .network import Network
from .runtime import Runtime
from .supervisor import pid_alive

REQUIRED_BINARIES = ("containerd", "ctr", "runc", "dockerd", "docker", "busybox", "umount", "crictl")

# --------------------------------------------------------------------------------------------
# prerequisites


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (it starts containerd and dockerd, and mounts overlays)",
            "run it as root, e.g. `sudo ctrtool lab up`",
        )


def require_cni_plugins() -> dict[str, str]:
    found: dict[str, str] = {}
    for plugin in CNI_PLUGINS:
        path = os.path.join(CNI_BIN_DIR, plugin)
        if not os.access(path, os.X_OK):
            raise missing_binary_error("cni:" + plugin)
        found["cni:" + plugin] = path
    return found


def require_binaries(profile: profiles_mod.Profile | None = None) -> dict[str, str]:
    """Every binary the lab runs, as name -> path; a clear LabError for the first one missing.
    A profile's own builds (modern containerd, dockerd) are taken from the build cache and are not
    required here: :meth:`Lab.up` builds them when missing."""
    found: dict[str, str] = {}
    built = {c for b in profile.builds for c in b.commands} if profile else set()
    for name in REQUIRED_BINARIES:
        if name in built:
            continue
        path = find_binary(name)
        if not path:
            raise missing_binary_error(name)
        found[name] = path
    return found | require_cni_plugins()


def preflight(profile: profiles_mod.Profile | None = None) -> dict[str, str]:
    """Root and every binary; raises :class:`LabError` naming what is missing and how to install it.
    For a profile with builds, Go must be there unless the builds are cached."""
    require_root()
    found = require_binaries(profile)
    if profile and profile.builds and profiles_mod.built_binaries(profile) is None and not profiles_mod.find_go():
        raise LabError(
            f"lab profile {profile.name} builds containerd and dockerd with Go, and go is not installed",
            "install Go (https://go.dev/dl/), or use `--profile debian`",
        )
    return found


# --------------------------------------------------------------------------------------------
# the lab


class Lab:
    """One lab directory and the daemons it holds. Every method is safe to call repeatedly."""

    # the CRI plugin's sandbox image (containerd 2.x: pinned_images.sandbox)
    sandbox_image = PAUSE_IMAGE

    def __init__(self, directory: pathlib.Path | str | None = None, profile: str | None = None):
        """``profile``: what to run (see :mod:`ctrtool.lab.profiles`). None: the profile recorded in
        the directory by an earlier ``up``, else ``debian``. ``directory`` None: $CTRTOOL_LAB_DIR,
        else the profile's default directory."""
        self.home = LabHome(directory, profile)
        self.directory = d = self.home.directory
        self.profile = self.home.profile
        self.network = Network(d, d / "cni")
        self.runtime = rt = Runtime(d, self.profile, self.network, self.sandbox_image)
        self.images_dir = d / "images"
        # the paths callers read on a lab (tests, benchmarks, `ctrtool lab status`)
        self.containerd, self.dockerd = rt.containerd, rt.dockerd
        self.containerd_dir, self.containerd_socket = rt.containerd_dir, rt.containerd_socket
        self.containerd_pidfile, self.containerd_log = rt.containerd_pidfile, rt.containerd_log
        self.docker_socket, self.docker_pidfile = rt.docker_socket, rt.docker_pidfile
        self.crictl_config, self.registry_hosts_dir = rt.crictl_config, rt.registry_hosts_dir
        self.cni_dir, self.cni_conflist = self.network.cni_dir, self.network.conflist
        self.bridge, self.network_name = self.network.bridge, self.network.name

    def __repr__(self) -> str:
        return f"Lab({str(self.directory)!r}, profile={self.profile.name!r})"

    @property
    def recorded_profile(self) -> str | None:
        return self.home.recorded_profile

    @property
    def marker(self) -> pathlib.Path:
        return self.home.marker

    def tool_path(self) -> list[str]:
        """Directories to put first on PATH so that ctr (and containerd's shim) are the profile's."""
        return self.runtime.tool_path()

    # ---- public API -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment that points docker, ctr and crictl at this lab (ordered)."""
        env = {"CTRTOOL_LAB_DIR": str(self.directory)}
        path = self.tool_path()
        if path:
            env["PATH"] = os.pathsep.join([*path, os.environ.get("PATH", os.defpath)])
        return env | {
            "DOCKER_HOST": f"unix://{self.docker_socket}",
            "CONTAINERD_ADDRESS": str(self.containerd_socket),
            "CONTAINER_RUNTIME_ENDPOINT": f"unix://{self.containerd_socket}",
            "IMAGE_SERVICE_ENDPOINT": f"unix://{self.containerd_socket}",
            "CRI_CONFIG_FILE": str(self.crictl_config),
        }

    def status(self) -> dict:
        """What runs and where, read from pid files and /proc only (no tool is called)."""
        return {
            "directory": str(self.directory),
            "profile": self.profile.name,
            "profile_summary": self.profile.summary,
            "exists": self.directory.is_dir(),
            "daemons": self.runtime.daemon_rows(),
            "images": images_mod.image_status(self.images_dir),
            "network": self.network.status(),
            "crictl_config": str(self.crictl_config),
            "env": self.env(),
        }

    def up(self, progress: Progress = noop) -> dict:
        """Start (or reuse) containerd and dockerd, build and import the images; returns status()."""
        binaries = preflight(self.profile)
        self.home.refuse_other_profile()
        binaries |= profiles_mod.ensure_built(self.profile, progress)
        self.runtime.check_path_lengths()
        self.home.claim()
        with self.home.lock():
            self.home.record_profile()
            return self._up(binaries, progress)

    def down(self, purge: bool = False, progress: Progress = noop) -> dict:
        """Remove the lab's workloads, stop its daemons by pid, unmount what is under DIR.

        With ``purge`` the lab directory is removed too (only once nothing is mounted under it),
        and so is the lab's CNI bridge.
        """
        require_root()
        self.require_lab_directory()
        with self.home.lock_if_there():
            return self._down(purge, progress)

    def require_lab_directory(self) -> None:
        self.home.require_lab_directory()

    def down_actions(self, purge: bool) -> list[list[str]]:
        """What `down` will do, as the commands a person would type for it (for consent and --dry-run):
        stop each running daemon and leftover shim by pid, unmount what is mounted under DIR, and with
        ``purge`` delete DIR and the lab's bridge."""
        self.require_lab_directory()
        actions: list[list[str]] = []
        for daemon in (self.dockerd, self.containerd):
            pid = daemon.running_pid()
            if pid:
                actions.append(["kill", "-TERM", str(pid)])
        actions += [["kill", "-KILL", str(pid)] for pid in self.runtime.shims()]
        actions += [["umount", point] for point in teardown.mounts_under(self.directory)]
        if purge and self.directory.exists():
            actions.append(["rm", "-rf", str(self.directory)])
            if teardown.bridge_exists(self.bridge):
                actions.append(["ip", "link", "delete", self.bridge, "type", "bridge"])
        return actions

    # ---- up and down -------------------------------------------------------------------------

    def _up(self, binaries: dict[str, str], progress: Progress) -> dict:
        started = time.monotonic()
        rt = self.runtime
        for sub in (rt.containerd_dir, rt.docker_dir, self.cni_dir, self.images_dir, self.cni_dir / "ipam"):
            sub.mkdir(parents=True, exist_ok=True)
        (rt.containerd_dir / "runc").mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o711)
        if self.profile.containerd_major >= 2:
            rt.shim_socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

        changed = {rt.containerd: rt.write_containerd_config(), rt.dockerd: rt.write_docker_config()}
        self.network.write()
        for daemon, was_changed in changed.items():
            if was_changed and daemon.running_pid():
                progress(
                    f"{daemon.name}: its configuration changed while it runs; "
                    "`ctrtool lab down` then `ctrtool lab up` applies it"
                )

        rt.ensure_containerd(binaries, progress)
        rt.ensure_dockerd(binaries, progress)
        images_mod.ensure_images(rt, self.images_dir, binaries, progress)
        progress(f"lab up in {time.monotonic() - started:.1f}s: {self.directory}")
        return self.status()

    def _down(self, purge: bool, progress: Progress) -> dict:
        result = self.runtime.stop(progress)
        if purge and self.directory.exists():
            teardown.purge(self.directory, self.marker, self.network_name, result, progress, [self.runtime])
        if purge:
            if teardown.delete_bridge(self.bridge, result["warnings"]):
                result["removed"].append(f"bridge {self.bridge}")
        return result


__all__ = ["Lab", "pid_alive", "preflight", "require_binaries", "require_root"]
