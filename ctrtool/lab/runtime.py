"""One lab runtime: a private containerd (with CRI) and a dockerd on it, under one directory.

The plain lab has one, under the lab directory; each node of the kube lab has its own, under
DIR/nodes/NAME. A runtime writes its configuration files (rendered by :mod:`ctrtool.lab.render`),
starts its daemons through the supervisor, talks to them with ctr, docker and crictl (an explicit
address each time), and on ``stop`` removes its workloads, stops its daemons by pid, its leftover
shims, and unmounts what is under its directory.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import time
from collections.abc import Callable

from .. import runner
from ..errors import ToolError
from . import profiles as profiles_mod
from . import render, supervisor, teardown
from .common import PAUSE_IMAGE, LabError, Progress, find_binary, find_crictl, write_if_changed
from .network import Network
from .supervisor import Daemon

# Unix socket paths are limited to 107 bytes (108 with the NUL). The longest sockets the lab
# creates are containerd's ttrpc socket and dockerd's EXEC/libnetwork/<12 hex>.sock: a lab
# directory of up to ~65 characters is fine.
SOCKET_PATH_MAX = 107

# docker gets an explicit -H: drop what could point it elsewhere or conflict with it
DOCKER_UNSET = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


class Runtime:
    """containerd and dockerd under ``directory``, on ``network``. ``name``: how progress messages
    and daemon names are prefixed ("" for the plain lab, the node's name in a cluster)."""

    def __init__(
        self,
        directory: pathlib.Path,
        profile: profiles_mod.Profile,
        network: Network,
        sandbox_image: str = PAUSE_IMAGE,
        name: str = "",
    ):
        self.directory = d = directory
        self.profile = profile
        self.network = network
        self.sandbox_image = sandbox_image
        self.name = name
        self._hash = hashlib.sha256(str(d).encode()).hexdigest()
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
        self.crictl_config = d / "crictl.yaml"
        prefix = f"{name}/" if name else ""
        self.containerd = Daemon(
            prefix + "containerd",
            "containerd",
            "--config",
            str(self.containerd_config),
            self.containerd_pidfile,
            self.containerd_socket,
            self.containerd_log,
        )
        self.dockerd = Daemon(
            prefix + "dockerd",
            "dockerd",
            "--data-root",
            str(self.docker_data_root),
            self.docker_pidfile,
            self.docker_socket,
            self.docker_log,
        )

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

    def check_path_lengths(self) -> None:
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

    def daemon_rows(self) -> list[dict]:
        """``status()``'s rows of this runtime's daemons (pid files and /proc only)."""
        rows = []
        for daemon in (self.containerd, self.dockerd):
            pid = daemon.running_pid()
            rows.append(
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
        return rows

    # ---- configuration -----------------------------------------------------------------------

    def write_containerd_config(self) -> bool:
        """config.toml and crictl.yaml; True when config.toml changed."""
        paths = render.ContainerdPaths(
            self.containerd_dir,
            self.containerd_socket,
            self.network.cni_dir,
            self.shim_socket_dir,
            self.registry_hosts_dir,
        )
        text = render.containerd_config(self.profile.containerd_major, paths, self.sandbox_image)
        changed = write_if_changed(self.containerd_config, text)
        write_if_changed(self.crictl_config, render.crictl_yaml(self.containerd_socket))
        return changed

    def write_docker_config(self) -> bool:
        return write_if_changed(self.docker_config, render.daemon_json(self.profile, self.docker_key))

    # ---- the tools ---------------------------------------------------------------------------

    def ctr(
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

    def docker(self, binaries: dict[str, str], *args: str, timeout: float = 60, check: bool = True) -> runner.Result:
        argv = [binaries["docker"], "-H", f"unix://{self.docker_socket}", *args]
        return runner.run(
            argv, timeout=timeout, check=check, unset_env=DOCKER_UNSET, endpoint=f"unix://{self.docker_socket}"
        )

    def crictl(self, binaries: dict[str, str], *args: str, timeout: float = 30, check: bool = True) -> runner.Result:
        endpoint = f"unix://{self.containerd_socket}"
        argv = [binaries["crictl"], "--config", str(self.crictl_config)]
        argv += ["--runtime-endpoint", endpoint, "--image-endpoint", endpoint, *args]
        return runner.run(argv, timeout=timeout, check=check, endpoint=endpoint)

    def ctr_image_digests(self, binaries: dict[str, str], namespace: str) -> dict[str, str]:
        """ref -> manifest digest, from the `ctr images ls` table (REF TYPE DIGEST SIZE ...)."""
        result = self.ctr(binaries, "images", "ls", namespace=namespace)
        digests: dict[str, str] = {}
        for line in result.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[2].startswith("sha256:"):
                digests[fields[0]] = fields[2]
        return digests

    # ---- starting ----------------------------------------------------------------------------

    def _running(self, daemon: Daemon, pid: int | None, answers: Callable[[], bool], progress: Progress) -> bool:
        """True when the daemon runs (``pid``) and answers; LabError when it runs but does not answer."""
        if not pid:
            return False
        daemon.record(pid)
        if answers():
            progress(f"{daemon.exe} already running (pid {pid})")
            return True
        raise LabError(
            f"this lab's {daemon.exe} (pid {pid}) runs but does not answer on {daemon.socket}",
            "`ctrtool lab down` stops it; then `ctrtool lab up` again",
        )

    def ensure_containerd(self, binaries: dict[str, str], progress: Progress) -> None:
        daemon = self.containerd
        version = [binaries["ctr"], "--address", str(daemon.socket), "version"]
        if self._running(daemon, daemon.running_pid(), lambda: supervisor.probe(version), progress):
            return
        supervisor.clean_stale(daemon, progress)
        progress("starting containerd")
        argv = [binaries["containerd"], "--config", str(self.containerd_config)]
        proc = supervisor.spawn(argv, daemon.log, self.tool_path())
        daemon.pidfile.write_text(f"{proc.pid}\n")
        t0 = time.monotonic()
        supervisor.wait_ready(daemon, proc, lambda: supervisor.probe(version))
        progress(f"containerd up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")

    def ensure_dockerd(self, binaries: dict[str, str], progress: Progress) -> None:
        daemon = self.dockerd
        version = [binaries["docker"], "-H", f"unix://{daemon.socket}", "version"]
        if self._running(daemon, daemon.running_pid(), lambda: supervisor.probe(version, DOCKER_UNSET), progress):
            return
        # dockerd refuses to start while its pid file names any live process: remove a stale one
        supervisor.clean_stale(daemon, progress)
        self.docker_data_root.mkdir(parents=True, exist_ok=True)
        self.docker_exec_root.mkdir(parents=True, exist_ok=True)
        progress("starting dockerd")
        argv = [
            binaries["dockerd"],
            "--data-root",
            str(self.docker_data_root),
            "--exec-root",
            str(self.docker_exec_root),
        ]
        argv += ["-H", f"unix://{daemon.socket}", "--pidfile", str(daemon.pidfile)]
        argv += ["--config-file", str(self.docker_config), "--containerd", str(self.containerd_socket)]
        argv += ["--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none", "--group", "root"]
        if self.profile.builds and self.profile.docker_store == "overlay2":
            argv += ["--storage-driver", "overlay2"]
        proc = supervisor.spawn(argv, daemon.log, self.tool_path())
        t0 = time.monotonic()
        supervisor.wait_ready(daemon, proc, lambda: supervisor.probe(version, DOCKER_UNSET))
        daemon.record(proc.pid)
        progress(f"dockerd up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")

    # ---- stopping ----------------------------------------------------------------------------

    def _remove_docker_containers(self, warnings: list[str], progress: Progress) -> int:
        binaries = {"docker": find_binary("docker") or "docker"}
        try:
            ids = self.docker(binaries, "ps", "-aq", timeout=30).stdout.split()
            if ids:
                progress(f"docker: removing {len(ids)} container(s)")
                self.docker(binaries, "rm", "-f", *ids, timeout=120)
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
            pods = self.crictl(binaries, "pods", "-q").stdout.split()
            if pods:
                progress(f"crictl: removing {len(pods)} pod(s)")
                self.crictl(binaries, "rmp", "-f", "-a", timeout=120)
            return len(pods)
        except ToolError as exc:
            warnings.append(f"CRI pods: {exc.message}")
            return 0

    def _remove_ctr_workloads(self, warnings: list[str], progress: Progress) -> dict[str, int]:
        binaries = {"ctr": find_binary("ctr") or "ctr"}
        removed: dict[str, int] = {}
        try:
            namespaces = self.ctr(binaries, "namespaces", "ls", "-q").stdout.split()
        except ToolError as exc:
            warnings.append(f"ctr namespaces: {exc.message}")
            return removed
        for ns in namespaces:
            try:
                tasks = self.ctr(binaries, "tasks", "ls", "-q", namespace=ns).stdout.split()
                for task in tasks:
                    self.ctr(binaries, "tasks", "kill", "-s", "SIGKILL", task, namespace=ns, check=False)
                    self.ctr(binaries, "tasks", "delete", "-f", task, namespace=ns, check=False)
                containers = self.ctr(binaries, "containers", "ls", "-q", namespace=ns).stdout.split()
                if containers:
                    progress(f"ctr -n {ns}: removing {len(containers)} container(s)")
                    self.ctr(binaries, "containers", "rm", *containers, namespace=ns, check=False)
                if tasks or containers:
                    removed[ns] = len(containers)
            except ToolError as exc:
                warnings.append(f"ctr namespace {ns}: {exc.message}")
        return removed

    def shims(self) -> list[int]:
        """Pids of this runtime's containerd shims (left behind when containerd is gone)."""
        return teardown.shims_of(self.containerd_socket)

    def stop(self, progress: Progress) -> dict:
        """Remove the workloads, stop dockerd then containerd by pid, stop leftover shims, unmount
        what is under the directory; ``down``'s result (nothing purged)."""
        result = teardown.down_result(self.directory)
        warnings: list[str] = result["warnings"]
        containerd_pid = self.containerd.running_pid()
        docker_pid = self.dockerd.running_pid()

        if docker_pid:
            result["workloads"]["docker"] = self._remove_docker_containers(warnings, progress)
        if containerd_pid:
            result["workloads"]["cri"] = self._remove_cri_pods(warnings, progress)
            result["workloads"]["ctr"] = self._remove_ctr_workloads(warnings, progress)

        for daemon, pid in ((self.dockerd, docker_pid), (self.containerd, containerd_pid)):
            if not supervisor.stop_daemon(daemon, pid, result, progress):
                continue
            for path in supervisor.daemon_files(daemon):
                if supervisor.remove_stale(path):
                    result["removed"].append(str(path))

        for pid in self.shims():
            progress(f"stopping leftover containerd shim (pid {pid})")
            teardown.stop_shim(pid, self.containerd_socket)
            result["shims"].append(pid)

        result["unmounted"] = teardown.unmount_all(self.directory, warnings, progress)
        return result
