"""An isolated local lab: a private containerd (with CRI) and a private dockerd, under one directory.

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

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from .. import imagebuild as image_mod
from .. import runner
from ..errors import ToolError
from . import profiles as profiles_mod
from .common import (
    CNI_BIN_DIR,
    CNI_PLUGINS,
    DEMO_IMAGE,
    PAUSE_IMAGE,
    LabError,
    NotALab,
    default_dir,
    find_binary,
    find_crictl,
    missing_binary_error,
)

Progress = Callable[[str], None]

# Unix socket paths are limited to 107 bytes (108 with the NUL). The longest sockets the lab
# creates are containerd's ttrpc socket and dockerd's EXEC/libnetwork/<12 hex>.sock: a lab
# directory of up to ~65 characters is fine.
SOCKET_PATH_MAX = 107
CNI_RESULTS_DIR = "/var/lib/cni/results"
START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0

REQUIRED_BINARIES = ("containerd", "ctr", "runc", "dockerd", "docker", "busybox", "umount", "crictl")


def _noop(_: str) -> None:
    pass


def _json_list(text: str) -> list | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


# --------------------------------------------------------------------------------------------
# prerequisites


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (it starts containerd and dockerd, and mounts overlays)",
            "run it as root, e.g. `sudo ctrtool lab up`",
        )


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
    for plugin in CNI_PLUGINS:
        path = os.path.join(CNI_BIN_DIR, plugin)
        if not os.access(path, os.X_OK):
            raise missing_binary_error("cni:" + plugin)
        found["cni:" + plugin] = path
    return found


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
# processes, by pid and /proc only


# Popen objects of the daemons this process started, so that their exit can be collected.
_STARTED: dict[int, subprocess.Popen] = {}


@atexit.register
def _detach_daemons() -> None:
    """The daemons outlive this process on purpose (own session): tell Popen not to warn."""
    for proc in list(_STARTED.values()):
        if proc.poll() is None:
            proc.returncode = 0


def _reap(pid: int) -> None:
    """Collect an exited child of ours, so it does not linger as a zombie."""
    proc = _STARTED.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _STARTED.pop(pid, None)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _cmdline(pid: int) -> list[str]:
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _state(pid: int) -> str | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) S ppid ..." ; comm may hold spaces and parentheses
    rest = stat[stat.rfind(")") + 2 :]
    return rest.split(" ", 1)[0] if rest else None


def _ppid(pid: int) -> int | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (our own exited children are reaped)."""
    if pid <= 0:
        return False
    _reap(pid)
    state = _state(pid)
    return state is not None and state not in ("Z", "X")


def _all_pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _has_option(argv: list[str], flag: str, value: str) -> bool:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv) and argv[i + 1] == value:
            return True
        if arg == f"{flag}={value}":
            return True
    return False


@dataclass(frozen=True)
class _Daemon:
    name: str
    exe: str  # basename of argv[0]
    flag: str  # the option whose value marks this lab's process
    value: str
    pidfile: pathlib.Path
    socket: pathlib.Path
    log: pathlib.Path

    def owns(self, pid: int) -> bool:
        argv = _cmdline(pid)
        return bool(argv) and os.path.basename(argv[0]) == self.exe and _has_option(argv, self.flag, self.value)

    def recorded_pid(self) -> int | None:
        try:
            text = self.pidfile.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def running_pid(self) -> int | None:
        """The pid of this lab's daemon if it runs: the pid file's, verified, else found in /proc."""
        pid = self.recorded_pid()
        if pid and pid_alive(pid) and self.owns(pid):
            return pid
        for other in _all_pids():
            if other != pid and self.owns(other) and pid_alive(other):
                return other
        return None


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
        chosen = profiles_mod.get(profile) if profile else None
        if directory is None:
            directory = default_dir(chosen.default_dir if chosen else None)
        self.directory = pathlib.Path(os.path.abspath(directory))
        self.recorded_profile = self._read_profile()
        self.profile = chosen or profiles_mod.get(self.recorded_profile or profiles_mod.DEFAULT_PROFILE)
        d = self.directory
        self.containerd_dir = d / "containerd"
        self.containerd_socket = self.containerd_dir / "containerd.sock"
        self.containerd_config = self.containerd_dir / "config.toml"
        self.containerd_pidfile = self.containerd_dir / "containerd.pid"
        self.containerd_log = self.containerd_dir / "containerd.log"
        self.docker_dir = d / "docker"
        self.docker_socket = self.docker_dir / "docker.sock"
        self.docker_data_root = self.docker_dir / "data"
        self.docker_exec_root = self.docker_dir / "exec"
        self.docker_pidfile = self.docker_dir / "docker.pid"
        self.docker_log = self.docker_dir / "dockerd.log"
        self.docker_config = self.docker_dir / "daemon.json"
        self.docker_key = self.docker_dir / "key.json"
        self.cni_dir = d / "cni"
        self.cni_conflist = self.cni_dir / "10-ctrtool-lab.conflist"
        self.images_dir = d / "images"
        self.imported_file = self.images_dir / "imported.json"
        self.crictl_config = d / "crictl.yaml"
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()
        self._hash = digest
        self.bridge = "ctrlab" + digest[:6]  # 12 chars: interface names are limited to 15
        self.network_name = "ctrtool-lab-" + digest[:6]
        self.containerd = _Daemon(
            "containerd",
            "containerd",
            "--config",
            str(self.containerd_config),
            self.containerd_pidfile,
            self.containerd_socket,
            self.containerd_log,
        )
        self.dockerd = _Daemon(
            "dockerd",
            "dockerd",
            "--data-root",
            str(self.docker_data_root),
            self.docker_pidfile,
            self.docker_socket,
            self.docker_log,
        )

    def __repr__(self) -> str:
        return f"Lab({str(self.directory)!r}, profile={self.profile.name!r})"

    @property
    def profile_file(self) -> pathlib.Path:
        return self.directory / "profile"

    def _read_profile(self) -> str | None:
        try:
            name = (self.directory / "profile").read_text().strip()
        except OSError:
            return None
        return name if name in profiles_mod.PROFILES else None

    @property
    def registry_hosts_dir(self) -> pathlib.Path:
        """containerd 2.x's CRI registry hosts directory (config_path): DIR/containerd/certs.d."""
        return self.containerd_dir / "certs.d"

    @property
    def shim_socket_dir(self) -> pathlib.Path:
        """Where containerd 2.x puts its shims' sockets (at most 42 characters, or the sockets'
        paths are too long): DIR/s when short enough, else a directory under /run named after DIR."""
        inside = self.directory / "s"
        if len(str(inside)) <= 42:
            return inside
        return pathlib.Path("/run") / f"ctrtool-lab-{self._hash[:10]}"

    def tool_path(self) -> list[str]:
        """Directories to put first on PATH so that ctr (and containerd's shim) are the profile's."""
        built = profiles_mod.built_binaries(self.profile) or {}
        return [os.path.dirname(built["ctr"])] if "ctr" in built else []

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
        daemons = []
        for daemon in (self.containerd, self.dockerd):
            pid = daemon.running_pid()
            daemons.append(
                {
                    "name": daemon.name,
                    "pid": pid,
                    "running": pid is not None,
                    "socket": str(daemon.socket),
                    "socket_exists": daemon.socket.is_socket(),
                    "pidfile": str(daemon.pidfile),
                    "log": str(daemon.log),
                }
            )
        return {
            "directory": str(self.directory),
            "profile": self.profile.name,
            "profile_summary": self.profile.summary,
            "exists": self.directory.is_dir(),
            "daemons": daemons,
            "images": self._image_status(),
            "network": {
                "name": self.network_name,
                "bridge": self.bridge,
                "subnet": self._current_subnet(),
                "conflist": str(self.cni_conflist),
            },
            "crictl_config": str(self.crictl_config),
            "env": self.env(),
        }

    def up(self, progress: Progress = _noop) -> dict:
        """Start (or reuse) containerd and dockerd, build and import the images; returns status()."""
        binaries = preflight(self.profile)
        if self.recorded_profile and self.recorded_profile != self.profile.name:
            raise LabError(
                f"{self.directory} holds a lab of profile {self.recorded_profile}, not {self.profile.name}",
                f"use another directory (--dir), or `ctrtool lab down --purge --dir {self.directory}` first",
            )
        binaries |= profiles_mod.ensure_built(self.profile, progress)
        self._check_path_lengths()
        self._claim_directory()
        with self._lock():
            if self.recorded_profile is None:
                self._write_if_changed(self.profile_file, self.profile.name + "\n")
                self.recorded_profile = self.profile.name
            return self._up(binaries, progress)

    @property
    def marker(self) -> pathlib.Path:
        """DIR/.ctrtool-lab: written on the first up(); down(purge=True) removes only marked dirs."""
        return self.directory / ".ctrtool-lab"

    def _claim_directory(self) -> None:
        if self.directory.is_dir() and not self.marker.exists():
            if any(self.directory.iterdir()):
                raise LabError(
                    f"{self.directory} exists, is not empty and is not a ctrtool lab directory",
                    "choose another lab directory (CTRTOOL_LAB_DIR): `down --purge` deletes it",
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.marker.exists():
            self.marker.write_text("ctrtool lab directory: `ctrtool lab down --purge` removes it\n")

    def down(self, purge: bool = False, progress: Progress = _noop) -> dict:
        """Remove the lab's workloads, stop its daemons by pid, unmount what is under DIR.

        With ``purge`` the lab directory is removed too (only once nothing is mounted under it),
        and so is the lab's CNI bridge.
        """
        require_root()
        self.require_lab_directory()
        if not self.directory.is_dir():
            return self._down(purge, progress)
        with self._lock():
            return self._down(purge, progress)

    def require_lab_directory(self) -> None:
        """Refuse to act on a directory that `lab up` did not make (no DIR/.ctrtool-lab marker): `down`
        unmounts everything under DIR and `--purge` deletes it, which on `/`, a home directory or any
        directory with a mount in it would destroy what is not the lab's. A directory that does not
        exist is fine (nothing to do there, only leftovers of a lab that is gone)."""
        if self.directory.exists() and not self.marker.exists():
            raise NotALab(
                f"{self.directory} is not a lab directory (it has no {self.marker.name} marker, which "
                "`ctrtool lab up` writes): not stopping, unmounting or deleting anything there",
                "give the lab's own directory with --dir (`ctrtool lab status` shows it)",
            )

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
        actions += [["kill", "-KILL", str(pid)] for pid in self._lab_shims()]
        actions += [["umount", point] for point in self._mounts_under()]
        if purge and self.directory.exists():
            actions.append(["rm", "-rf", str(self.directory)])
            if pathlib.Path(f"/sys/class/net/{self.bridge}").exists():
                actions.append(["ip", "link", "delete", self.bridge, "type", "bridge"])
        return actions

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One up/down at a time per lab directory (flock on DIR/.lock)."""
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                deadline = time.monotonic() + 120
                while True:
                    time.sleep(0.2)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise LabError(
                                f"another `ctrtool lab` command holds {self.directory / '.lock'}",
                                "wait for it to finish, then try again",
                            ) from None
            yield
        finally:
            os.close(fd)

    def _up(self, binaries: dict[str, str], progress: Progress) -> dict:
        started = time.monotonic()
        for sub in (
            self.containerd_dir,
            self.docker_dir,
            self.cni_dir,
            self.images_dir,
            self.cni_dir / "ipam",
            self.containerd_dir / "runc",
        ):
            sub.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o711)
        if self.profile.containerd_major >= 2:
            self.shim_socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

        changed = {
            self.containerd: self._write_if_changed(self.containerd_config, self._containerd_config_text()),
            self.dockerd: self._write_if_changed(self.docker_config, self._daemon_json()),
        }
        self._write_cni_conflist()
        self._write_if_changed(self.crictl_config, self._crictl_yaml())
        for daemon, was_changed in changed.items():
            if was_changed and daemon.running_pid():
                progress(
                    f"{daemon.name}: its configuration changed while it runs; "
                    "`ctrtool lab down` then `ctrtool lab up` applies it"
                )

        self._ensure_containerd(binaries, progress)
        self._ensure_dockerd(binaries, progress)
        self._ensure_images(binaries, progress)
        progress(f"lab up in {time.monotonic() - started:.1f}s: {self.directory}")
        return self.status()

    def _down_result(self) -> dict:
        """What ``down`` reports (the JSON of ``lab down -o json``), empty."""
        return {
            "directory": str(self.directory),
            "workloads": {},
            "stopped": [],
            "shims": [],
            "unmounted": [],
            "removed": [],
            "purged": False,
            "warnings": [],
        }

    def _stop_daemon(self, daemon: _Daemon, pid: int | None, result: dict, progress: Progress) -> bool:
        """Stop one of the lab's daemons by its pid (TERM, then KILL); False when it did not exit."""
        if not pid:
            return True
        progress(f"stopping {daemon.name} (pid {pid})")
        how = self._stop_pid(pid, daemon.owns)
        result["stopped"].append({"name": daemon.name, "pid": pid, "how": how})
        if pid_alive(pid):
            result["warnings"].append(f"{daemon.name} (pid {pid}) did not exit")
            return False
        return True

    def _purge(self, result: dict, progress: Progress, runtimes: Sequence[Lab]) -> None:
        """Remove the lab directory, once it is certainly a lab's and nothing of it runs or is mounted
        there; then the shims' socket directories of ``runtimes`` (the containerds) kept outside it."""
        if not self.marker.exists():
            raise LabError(
                f"not removing {self.directory}: it has no {self.marker.name} marker, so it "
                "is not a lab directory made by `ctrtool lab up`",
                "remove it by hand if it really is a lab directory",
            )
        if any(pid_alive(s["pid"]) for s in result["stopped"]):
            raise LabError(
                f"not removing {self.directory}: a lab daemon is still running",
                "`ctrtool lab status` shows it; run down --purge again",
            )
        remaining = self._mounts_under()
        if remaining:
            raise LabError(
                f"not removing {self.directory}: still mounted under it: {remaining[0]}",
                f"unmount it by hand (`umount -l {remaining[0]}`), then run down --purge again",
            )
        for runtime in runtimes:
            result["removed"] += runtime._remove_cni_results()
        progress(f"removing {self.directory}")
        shutil.rmtree(self.directory)
        result["purged"] = True
        for runtime in runtimes:
            outside = runtime.shim_socket_dir
            if not outside.is_relative_to(self.directory) and outside.is_dir():
                try:
                    outside.rmdir()  # empty once every shim is gone
                    result["removed"].append(str(outside))
                except OSError as exc:
                    result["warnings"].append(f"{outside} left in place: {exc.strerror}")

    def _down(self, purge: bool, progress: Progress) -> dict:
        result = self._down_result()
        warnings: list[str] = result["warnings"]
        containerd_pid = self.containerd.running_pid()
        docker_pid = self.dockerd.running_pid()

        if docker_pid:
            result["workloads"]["docker"] = self._remove_docker_containers(warnings, progress)
        if containerd_pid:
            result["workloads"]["cri"] = self._remove_cri_pods(warnings, progress)
            result["workloads"]["ctr"] = self._remove_ctr_workloads(warnings, progress)

        for daemon, pid in ((self.dockerd, docker_pid), (self.containerd, containerd_pid)):
            if not self._stop_daemon(daemon, pid, result, progress):
                continue
            for path in (daemon.pidfile, daemon.socket, pathlib.Path(str(daemon.socket) + ".ttrpc")):
                if self._remove_stale(path):
                    result["removed"].append(str(path))

        for pid in self._lab_shims():
            progress(f"stopping leftover containerd shim (pid {pid})")
            self._stop_shim(pid)
            result["shims"].append(pid)

        result["unmounted"] = self._unmount_all(warnings, progress)

        if purge and self.directory.exists():
            self._purge(result, progress, [self])
        if purge:
            if self._delete_bridge(warnings):
                result["removed"].append(f"bridge {self.bridge}")
        return result

    # ---- configuration files -----------------------------------------------------------------

    @staticmethod
    def _write_if_changed(path: pathlib.Path, text: str) -> bool:
        try:
            if path.read_text() == text:
                return False
        except OSError:
            pass
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return True

    def _containerd_config_text(self) -> str:
        if self.profile.containerd_major >= 2:
            return self._containerd2_config_text()
        c = self.containerd_dir
        q = json.dumps  # TOML basic strings accept JSON string escapes
        cri = '[plugins."io.containerd.grpc.v1.cri"'
        return "\n".join(
            [
                "# written by ctrtool lab: an isolated containerd with the CRI plugin",
                "version = 2",
                f"root = {q(str(c / 'root'))}",
                f"state = {q(str(c / 'state'))}",
                "oom_score = 0",
                # snapshotters that cannot work here still load (and fail) as on a stock node, so the
                # recorded `ctr plugins ls -d` shows what ctrtool meets in the field
                'disabled_plugins = ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
                "",
                "[grpc]",
                f"  address = {q(str(self.containerd_socket))}",
                "",
                "[debug]",
                '  level = "info"',
                "",
                "[plugins]",
                '  [plugins."io.containerd.internal.v1.opt"]',
                f"    path = {q(str(c / 'opt'))}",
                f"  {cri}]",
                f"    sandbox_image = {q(PAUSE_IMAGE)}",
                "    restrict_oom_score_adj = true",
                "    netns_mounts_under_state_dir = true",
                "    disable_tcp_service = true",
                '    stream_server_address = "127.0.0.1"',
                '    stream_server_port = "0"',
                "    enable_selinux = false",
                f"    {cri}.cni]",
                f"      bin_dir = {q(CNI_BIN_DIR)}",
                f"      conf_dir = {q(str(self.cni_dir))}",
                "      max_conf_num = 1",
                f"    {cri}.containerd]",
                '      snapshotter = "overlayfs"',
                '      default_runtime_name = "runc"',
                f"      {cri}.containerd.runtimes.runc]",
                '        runtime_type = "io.containerd.runc.v2"',
                f"        {cri}.containerd.runtimes.runc.options]",
                f"          Root = {q(str(c / 'runc'))}",
                "          SystemdCgroup = false",
                "",
            ]
        )

    def _containerd2_config_text(self) -> str:
        """containerd 2.x (config version 3): the CRI plugin is split into images (snapshotter,
        pinned sandbox image) and runtime (CNI, runtimes); no conf.d imports, no NRI socket, and the
        shims' sockets in a private directory, so nothing lands in /etc, /run/containerd or /var/run/nri."""
        c = self.containerd_dir
        q = json.dumps
        images = "[plugins.'io.containerd.cri.v1.images'"
        rt = "[plugins.'io.containerd.cri.v1.runtime'"
        return "\n".join(
            [
                "# written by ctrtool lab: an isolated containerd 2.x with the CRI plugin",
                "version = 3",
                f"root = {q(str(c / 'root'))}",
                f"state = {q(str(c / 'state'))}",
                "oom_score = 0",
                "imports = []",
                'disabled_plugins = ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", '
                '"io.containerd.nri.v1.nri"]',
                "",
                "[grpc]",
                f"  address = {q(str(self.containerd_socket))}",
                "",
                "[debug]",
                '  level = "info"',
                "",
                "[plugins]",
                "  [plugins.'io.containerd.internal.v1.opt']",
                f"    path = {q(str(c / 'opt'))}",
                "  [plugins.'io.containerd.shim.v1.manager']",
                f"    socket_dir = {q(str(self.shim_socket_dir))}",
                f"  {images}]",
                '    snapshotter = "overlayfs"',
                f"  {images}.pinned_images]",
                f"    sandbox = {q(self.sandbox_image)}",
                f"  {images}.registry]",
                f"    config_path = {q(str(self.registry_hosts_dir))}",
                f"  {rt}]",
                "    restrict_oom_score_adj = true",
                "    netns_mounts_under_state_dir = true",
                "    enable_selinux = false",
                f"  {rt}.cni]",
                f"    bin_dirs = [{q(CNI_BIN_DIR)}]",
                f"    conf_dir = {q(str(self.cni_dir))}",
                "    max_conf_num = 1",
                f"  {rt}.containerd]",
                '    default_runtime_name = "runc"',
                f"  {rt}.containerd.runtimes.runc]",
                '    runtime_type = "io.containerd.runc.v2"',
                f"  {rt}.containerd.runtimes.runc.options]",
                f"    Root = {q(str(c / 'runc'))}",
                "    SystemdCgroup = false",
                "  [plugins.'io.containerd.grpc.v1.cri']",
                "    disable_tcp_service = true",
                '    stream_server_address = "127.0.0.1"',
                '    stream_server_port = "0"',
                "",
            ]
        )

    def _daemon_json(self) -> str:
        if self.profile.name == profiles_mod.DEFAULT_PROFILE:
            # "deprecated-key-path" exists only as a daemon.json key in dockerd 20.10 (the CLI flag was
            # never exposed); without it dockerd writes its identity key to /etc/docker/key.json.
            return json.dumps({"deprecated-key-path": str(self.docker_key)}, indent=2) + "\n"
        # dockerd 29 gives containers a time namespace, which Debian's runc 1.1 does not know; on
        # the overlay2 profile it keeps its own graph driver instead of containerd's image store
        features = {"time-namespaces": False, "containerd-snapshotter": self.profile.docker_store == "containerd"}
        # dockerd 20.10 speaks plain HTTP to registries on loopback by itself; 29 on containerd's image
        # store needs to be told (a registry on this machine is what tests pull from)
        return json.dumps({"features": features, "insecure-registries": ["127.0.0.0/8"]}, indent=2) + "\n"

    def _crictl_yaml(self) -> str:
        endpoint = f"unix://{self.containerd_socket}"
        return (
            "# written by ctrtool lab\n"
            f"runtime-endpoint: {endpoint}\n"
            f"image-endpoint: {endpoint}\n"
            "timeout: 10\n"
            "debug: false\n"
            "pull-image-on-create: false\n"
        )

    def _current_subnet(self) -> str | None:
        try:
            conf = json.loads(self.cni_conflist.read_text())
            return conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None

    def _choose_subnet(self) -> str:
        """10.213.N.0/24 with N from the hash of DIR, skipping /24s routed via another interface."""
        used: set[int] = set()
        try:
            lines = pathlib.Path("/proc/net/route").read_text().splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[0] == self.bridge:
                continue
            dest = int(fields[1], 16)  # little-endian on the wire order
            mask = int(fields[7], 16)
            octets = [(dest >> s) & 0xFF for s in (0, 8, 16, 24)]
            if mask and octets[0] == 10 and octets[1] == 213:
                used.add(octets[2])
        start = int(self._hash[6:8], 16)
        for step in range(256):
            n = (start + step) % 256
            if n not in used:
                return f"10.213.{n}.0/24"
        raise LabError(
            "no free /24 left in 10.213.0.0/16 for the lab's CNI network",
            "stop other labs (`ctrtool lab down` with their CTRTOOL_LAB_DIR)",
        )

    def _write_cni_conflist(self) -> None:
        subnet = self._current_subnet() or self._choose_subnet()
        conf = {
            "cniVersion": "0.4.0",
            "name": self.network_name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.cni_dir / "ipam"),
                    },
                },
                {"type": "loopback"},
            ],
        }
        self._write_if_changed(self.cni_conflist, json.dumps(conf, indent=2) + "\n")

    def _check_path_lengths(self) -> None:
        longest = [
            str(self.containerd_socket) + ".ttrpc",
            str(self.docker_socket),
            # dockerd 20.10's libnetwork listens on "<exec-root>/libnetwork/<12 hex>.sock"
            str(self.docker_exec_root / "libnetwork" / ("0" * 12 + ".sock")),
        ]
        for path in longest:
            if len(path.encode()) > SOCKET_PATH_MAX:
                raise LabError(
                    f"lab directory path too long for unix sockets ({path} is "
                    f"{len(path.encode())} bytes, the limit is {SOCKET_PATH_MAX})",
                    "choose a shorter lab directory (CTRTOOL_LAB_DIR)",
                )

    # ---- starting ----------------------------------------------------------------------------

    def _remove_stale(self, path: pathlib.Path) -> bool:
        try:
            if path.is_symlink() or path.is_socket() or path.is_file():
                path.unlink()
                return True
        except FileNotFoundError:
            pass
        return False

    def _clean_stale(self, daemon: _Daemon, progress: Progress) -> None:
        recorded = daemon.recorded_pid()
        if recorded is not None:
            progress(
                f"{daemon.name}: pid file names pid {recorded}, which is gone or is not this lab's "
                f"{daemon.name}; removing the stale pid file"
            )
        for path in (daemon.pidfile, daemon.socket, pathlib.Path(str(daemon.socket) + ".ttrpc")):
            self._remove_stale(path)

    def _spawn(self, argv: list[str], log: pathlib.Path) -> subprocess.Popen:
        # containerd looks its shim up on PATH first: the profile's own build goes first
        env = dict(os.environ, PATH=os.pathsep.join([*self.tool_path(), os.environ.get("PATH", os.defpath)]))
        with open(log, "ab") as fh:
            fh.write(f"\n==== ctrtool lab: {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            fh.flush()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd="/",
                env=env,
            )
        _STARTED[proc.pid] = proc
        return proc

    @staticmethod
    def _log_tail(log: pathlib.Path, lines: int = 8) -> str:
        try:
            text = log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        tail = [ln.strip() for ln in text[-lines:] if ln.strip()]
        return " | ".join(tail)[-1200:] or "(empty log)"

    def _wait_ready(self, daemon: _Daemon, proc: subprocess.Popen, probe: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        delay = 0.05
        while True:
            if proc.poll() is not None:
                _STARTED.pop(proc.pid, None)
                raise LabError(
                    f"{daemon.name} exited with code {proc.returncode} while starting: {self._log_tail(daemon.log)}",
                    f"see the full log in {daemon.log}",
                )
            if daemon.socket.is_socket() and probe():
                return
            if time.monotonic() > deadline:
                raise LabError(
                    f"{daemon.name} did not answer on {daemon.socket} within "
                    f"{START_TIMEOUT:g}s: {self._log_tail(daemon.log)}",
                    f"see the full log in {daemon.log}; `ctrtool lab down` stops it",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _probe(self, argv: list[str], unset_env: tuple[str, ...] = ()) -> bool:
        try:
            return runner.run(argv, timeout=5, check=False, unset_env=unset_env).returncode == 0
        except ToolError:
            return False

    def _ctr(
        self,
        binaries: dict[str, str],
        *args: str,
        namespace: str | None = None,
        timeout: float = 30,
        check: bool = True,
    ) -> runner.Result:
        argv = [binaries["ctr"], "--address", str(self.containerd_socket)]
        if namespace:
            argv += ["--namespace", namespace]
        return runner.run(argv + list(args), timeout=timeout, check=check, endpoint=str(self.containerd_socket))

    # docker gets an explicit -H: drop what could point it elsewhere or conflict with it
    DOCKER_UNSET = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")

    def _docker(self, binaries: dict[str, str], *args: str, timeout: float = 60, check: bool = True) -> runner.Result:
        argv = [binaries["docker"], "-H", f"unix://{self.docker_socket}", *args]
        return runner.run(
            argv, timeout=timeout, check=check, unset_env=self.DOCKER_UNSET, endpoint=f"unix://{self.docker_socket}"
        )

    def _crictl(self, binaries: dict[str, str], *args: str, timeout: float = 30, check: bool = True) -> runner.Result:
        endpoint = f"unix://{self.containerd_socket}"
        argv = [
            binaries["crictl"],
            "--config",
            str(self.crictl_config),
            "--runtime-endpoint",
            endpoint,
            "--image-endpoint",
            endpoint,
            *args,
        ]
        return runner.run(argv, timeout=timeout, check=check, endpoint=endpoint)

    def _ensure_containerd(self, binaries: dict[str, str], progress: Progress) -> None:
        daemon = self.containerd
        pid = daemon.running_pid()
        if pid:
            if daemon.recorded_pid() != pid:
                daemon.pidfile.write_text(f"{pid}\n")
            if self._probe([binaries["ctr"], "--address", str(daemon.socket), "version"]):
                progress(f"containerd already running (pid {pid})")
                return
            raise LabError(
                f"this lab's containerd (pid {pid}) runs but does not answer on {daemon.socket}",
                "`ctrtool lab down` stops it; then `ctrtool lab up` again",
            )
        self._clean_stale(daemon, progress)
        progress("starting containerd")
        argv = [binaries["containerd"], "--config", str(self.containerd_config)]
        proc = self._spawn(argv, daemon.log)
        daemon.pidfile.write_text(f"{proc.pid}\n")
        t0 = time.monotonic()
        self._wait_ready(
            daemon, proc, lambda: self._probe([binaries["ctr"], "--address", str(daemon.socket), "version"])
        )
        progress(f"containerd up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")

    def _ensure_dockerd(self, binaries: dict[str, str], progress: Progress) -> None:
        daemon = self.dockerd
        probe = [binaries["docker"], "-H", f"unix://{daemon.socket}", "version"]
        pid = daemon.running_pid()
        if pid:
            if daemon.recorded_pid() != pid:
                daemon.pidfile.write_text(f"{pid}\n")
            if self._probe(probe, unset_env=self.DOCKER_UNSET):
                progress(f"dockerd already running (pid {pid})")
                return
            raise LabError(
                f"this lab's dockerd (pid {pid}) runs but does not answer on {daemon.socket}",
                "`ctrtool lab down` stops it; then `ctrtool lab up` again",
            )
        # dockerd refuses to start while its pid file names any live process: remove a stale one
        self._clean_stale(daemon, progress)
        self.docker_data_root.mkdir(parents=True, exist_ok=True)
        self.docker_exec_root.mkdir(parents=True, exist_ok=True)
        progress("starting dockerd")
        argv = [
            binaries["dockerd"],
            "--data-root",
            str(self.docker_data_root),
            "--exec-root",
            str(self.docker_exec_root),
            "-H",
            f"unix://{daemon.socket}",
            "--pidfile",
            str(daemon.pidfile),
            "--config-file",
            str(self.docker_config),
            "--containerd",
            str(self.containerd_socket),
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
            "--group",
            "root",
        ]
        if self.profile.builds and self.profile.docker_store == "overlay2":
            argv += ["--storage-driver", "overlay2"]
        proc = self._spawn(argv, daemon.log)
        t0 = time.monotonic()
        self._wait_ready(daemon, proc, lambda: self._probe(probe, unset_env=self.DOCKER_UNSET))
        if daemon.recorded_pid() != proc.pid:
            daemon.pidfile.write_text(f"{proc.pid}\n")
        progress(f"dockerd up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")

    # ---- images ------------------------------------------------------------------------------

    def _load_imported(self) -> dict:
        try:
            data = json.loads(self.imported_file.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _image_status(self) -> dict:
        recorded = self._load_imported()
        out = {}
        for ref, name in image_mod.ARCHIVE_NAMES.items():
            path = self.images_dir / name
            out[ref] = {
                "archive": str(path) if path.exists() else None,
                "imported": sorted(k.split("/", 1)[0] for k, v in recorded.items() if k.split("/", 1)[1] == ref),
            }
        return out

    def _ctr_image_digests(self, binaries: dict[str, str], namespace: str) -> dict[str, str]:
        """ref -> manifest digest, from the `ctr images ls` table (REF TYPE DIGEST SIZE ...)."""
        result = self._ctr(binaries, "images", "ls", namespace=namespace)
        digests: dict[str, str] = {}
        for line in result.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[2].startswith("sha256:"):
                digests[fields[0]] = fields[2]
        return digests

    def _ensure_images(self, binaries: dict[str, str], progress: Progress) -> None:
        built = image_mod.build_images(self.images_dir, busybox=binaries["busybox"])
        recorded = self._load_imported()
        changed = False

        # docker: the image ID is the config digest, so it can be compared directly
        demo = built[DEMO_IMAGE]
        res = self._docker(
            binaries, "image", "inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}", DEMO_IMAGE, check=False
        )
        # on its graph driver docker's image ID is the config digest; on containerd's image store it is
        # the manifest's, so the layers (diff ids) are what is compared there
        loaded_id, _, layers = res.stdout.strip().partition(" ")
        if res.returncode == 0 and (
            loaded_id == demo.image_id
            or (self.profile.docker_store == "containerd" and _json_list(layers) == demo.diff_ids)
        ):
            progress(f"docker: {DEMO_IMAGE} already loaded")
        else:
            progress(f"docker: loading {DEMO_IMAGE}")
            self._docker(binaries, "load", "-i", str(demo.path), timeout=120)
            recorded[f"docker/{DEMO_IMAGE}"] = {"image_id": demo.image_id}
            changed = True

        # containerd: ctr shows the manifest digest it made on import; remember it per namespace
        for namespace, refs in (("default", [DEMO_IMAGE]), ("k8s.io", [DEMO_IMAGE, PAUSE_IMAGE])):
            present = self._ctr_image_digests(binaries, namespace)
            for ref in refs:
                key = f"{namespace}/{ref}"
                entry = recorded.get(key) or {}
                if (
                    ref in present
                    and entry.get("digest") == present[ref]
                    and entry.get("image_id") == built[ref].image_id
                ):
                    progress(f"ctr -n {namespace}: {ref} already imported")
                    continue
                progress(f"ctr -n {namespace}: importing {ref}")
                self._ctr(binaries, "images", "import", str(built[ref].path), namespace=namespace, timeout=120)
                digest = self._ctr_image_digests(binaries, namespace).get(ref)
                if not digest:
                    raise LabError(
                        f"ctr imported {built[ref].path} into namespace {namespace} but "
                        f"`ctr images ls` does not show {ref}",
                        f"see {self.containerd_log}",
                    )
                recorded[key] = {"image_id": built[ref].image_id, "digest": digest}
                changed = True
        if changed:
            tmp = self.imported_file.with_name(self.imported_file.name + ".tmp")
            tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.imported_file)

    # ---- stopping ----------------------------------------------------------------------------

    def _remove_docker_containers(self, warnings: list[str], progress: Progress) -> int:
        binaries = {"docker": find_binary("docker") or "docker"}
        try:
            ids = self._docker(binaries, "ps", "-aq", timeout=30).stdout.split()
            if ids:
                progress(f"docker: removing {len(ids)} container(s)")
                self._docker(binaries, "rm", "-f", *ids, timeout=120)
            return len(ids)
        except ToolError as exc:
            warnings.append(f"docker containers: {exc.message}")
            return 0

    def _remove_cri_pods(self, warnings: list[str], progress: Progress) -> int:
        crictl = find_crictl()
        if not crictl:
            warnings.append("crictl not found: CRI pods not removed through CRI (ctr removes their containers)")
            return 0
        binaries = {"crictl": crictl}
        try:
            pods = self._crictl(binaries, "pods", "-q").stdout.split()
            if pods:
                progress(f"crictl: removing {len(pods)} pod(s)")
                self._crictl(binaries, "rmp", "-f", "-a", timeout=120)
            return len(pods)
        except ToolError as exc:
            warnings.append(f"CRI pods: {exc.message}")
            return 0

    def _remove_ctr_workloads(self, warnings: list[str], progress: Progress) -> dict[str, int]:
        binaries = {"ctr": find_binary("ctr") or "ctr"}
        removed: dict[str, int] = {}
        try:
            namespaces = self._ctr(binaries, "namespaces", "ls", "-q").stdout.split()
        except ToolError as exc:
            warnings.append(f"ctr namespaces: {exc.message}")
            return removed
        for ns in namespaces:
            try:
                tasks = self._ctr(binaries, "tasks", "ls", "-q", namespace=ns).stdout.split()
                for task in tasks:
                    self._ctr(binaries, "tasks", "kill", "-s", "SIGKILL", task, namespace=ns, check=False)
                    self._ctr(binaries, "tasks", "delete", "-f", task, namespace=ns, check=False)
                containers = self._ctr(binaries, "containers", "ls", "-q", namespace=ns).stdout.split()
                if containers:
                    progress(f"ctr -n {ns}: removing {len(containers)} container(s)")
                    self._ctr(binaries, "containers", "rm", *containers, namespace=ns, check=False)
                if tasks or containers:
                    removed[ns] = len(containers)
            except ToolError as exc:
                warnings.append(f"ctr namespace {ns}: {exc.message}")
        return removed

    def _stop_pid(self, pid: int, owns: Callable[[int], bool], timeout: float = STOP_TIMEOUT) -> str:
        """SIGTERM, wait, then SIGKILL: only while ``owns(pid)`` still says the pid is ours."""
        how = "already gone"
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if not pid_alive(pid) or not owns(pid):
                return how
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return how
            how = "SIGTERM" if sig == signal.SIGTERM else "SIGKILL"
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                proc = _STARTED.get(pid)
                if proc is not None and proc.poll() is not None:
                    _STARTED.pop(pid, None)
                if not pid_alive(pid):
                    _STARTED.pop(pid, None)
                    return how
                time.sleep(0.05)
        return how

    def _is_lab_shim(self, pid: int) -> bool:
        argv = _cmdline(pid)
        return (
            bool(argv)
            and os.path.basename(argv[0]).startswith("containerd-shim")
            and _has_option(argv, "-address", str(self.containerd_socket))
        )

    def _lab_shims(self) -> list[int]:
        return sorted(pid for pid in _all_pids() if pid != os.getpid() and self._is_lab_shim(pid))

    def _stop_shim(self, pid: int) -> None:
        """A shim left behind: kill the container processes it parents, then the shim."""
        children = [p for p in _all_pids() if _ppid(p) == pid]
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._stop_pid(pid, self._is_lab_shim, timeout=5.0)

    # ---- mounts ------------------------------------------------------------------------------

    @staticmethod
    def _unescape(field: str) -> str:
        # mountinfo escapes space, tab, newline and backslash as \ooo
        out, i = [], 0
        while i < len(field):
            if field[i] == "\\" and len(field[i + 1 : i + 4]) == 3 and field[i + 1 : i + 4].isdigit():
                out.append(chr(int(field[i + 1 : i + 4], 8)))
                i += 4
            else:
                out.append(field[i])
                i += 1
        return "".join(out)

    def _mounts_under(self) -> list[str]:
        """Mount points under DIR, deepest first."""
        root = str(self.directory).rstrip("/")
        found: list[str] = []
        try:
            lines = pathlib.Path("/proc/self/mountinfo").read_text().splitlines()
        except OSError:
            return found
        for line in lines:
            fields = line.split(" ")
            if len(fields) < 5:
                continue
            point = self._unescape(fields[4])
            if point == root or point.startswith(root + "/"):
                found.append(point)
        # deepest first; a path mounted twice is listed twice, and unmounted twice
        return sorted(found, key=lambda p: (p.count("/"), len(p)), reverse=True)

    def _unmount_all(self, warnings: list[str], progress: Progress) -> list[str]:
        umount = find_binary("umount") or "umount"
        done: list[str] = []
        for _ in range(3):
            mounts = self._mounts_under()
            if not mounts:
                break
            for point in mounts:
                res = runner.run([umount, point], timeout=30, check=False)
                if res.returncode != 0:
                    res = runner.run([umount, "-l", point], timeout=30, check=False)
                if res.returncode == 0:
                    progress(f"unmounted {point}")
                    done.append(point)
        left = self._mounts_under()
        if left:
            warnings.append(f"still mounted under {self.directory}: {', '.join(left[:5])}")
        return done

    def _remove_cni_results(self) -> list[str]:
        """libcni's cached results of this lab's pods, left in /var/lib/cni/results when a pod was
        not torn down through CNI (daemons killed): ours by network name, or by sandbox id."""
        results = pathlib.Path(CNI_RESULTS_DIR)
        if not results.is_dir():
            return []
        sandboxes: set[str] = set()
        for base in (self.containerd_dir / "state", self.containerd_dir / "root"):
            d = base / "io.containerd.grpc.v1.cri" / "sandboxes"
            if d.is_dir():
                sandboxes.update(p.name for p in d.iterdir())
        removed = []
        for entry in results.iterdir():
            ours = entry.name.startswith(self.network_name + "-") or any(
                entry.name == f"cni-loopback-{sid}-lo" for sid in sandboxes
            )
            if ours and entry.is_file():
                entry.unlink()
                removed.append(str(entry))
        return removed

    def _delete_bridge(self, warnings: list[str]) -> bool:
        if not pathlib.Path(f"/sys/class/net/{self.bridge}").exists():
            return False
        ip = find_binary("ip")
        if not ip:
            warnings.append(f"bridge {self.bridge} left in place: `ip` not found (package iproute2)")
            return False
        res = runner.run([ip, "link", "delete", self.bridge, "type", "bridge"], timeout=15, check=False)
        if res.returncode != 0:
            warnings.append(f"could not delete bridge {self.bridge}: {res.stderr.strip()}")
            return False
        return True
