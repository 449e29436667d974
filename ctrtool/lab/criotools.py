"""The CRI-O lab's tools, always with explicit addresses: crictl on the lab's CRI-O socket, podman on
the shared store (``CONTAINERS_STORAGE_CONF`` = DIR/storage.conf) or on the fake rootless user's
store (``--root``/``--runroot``), and the images and workloads ``up`` puts there (see
:mod:`ctrtool.lab.crio` for the names)."""

from __future__ import annotations

import os
import pathlib
import sys
from dataclasses import dataclass
from typing import Any

from .. import imagebuild, runner
from ..errors import ToolError
from . import runcwrapper
from .common import DEMO_IMAGE, PAUSE_IMAGE, LabError, Progress, write_if_changed

# the only image in the rootless user's store, and never in CRI-O's
ROOTLESS_IMAGE = "localhost/ctrtool-lab/rootless-only:1"
CRIO_POD = "ctrtool-lab-crio-pod"
CRIO_CONTAINER = "ctrtool-lab-crio-sleep"
PODMAN_CONTAINER = "ctrtool-lab-podman"
SLEEP = ("sleep", "86400")
# podman is told where every file of its own goes (or /run/libpod and journald would be used);
# podman keeps these in its database, so a later podman with only CONTAINERS_STORAGE_CONF agrees
SIGNATURE_POLICY = "/etc/containers/policy.json"
PODMAN_UNSET = ("CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF", "CONTAINER_HOST", "CONTAINER_CONNECTION")


@dataclass(frozen=True)
class Stores:
    """Where the lab's two containers/storage stores and podman's files are."""

    storage_conf: pathlib.Path  # the shared store's storage.conf (CRI-O's graph root)
    graphroot: pathlib.Path
    runroot: pathlib.Path
    podman_tmp: pathlib.Path  # podman --tmpdir for the shared store
    rootless_graphroot: pathlib.Path
    rootless_runroot: pathlib.Path
    rootless_tmp: pathlib.Path
    runtime: pathlib.Path  # the runtime wrapper (ctrtool.lab.runcwrapper), podman's runc too


class Tools:
    def __init__(
        self,
        binaries: dict[str, str],
        stores: Stores,
        socket: pathlib.Path,
        crictl_config: pathlib.Path,
        store_name: str = "the shared store",
    ):
        self.binaries = binaries
        self.store_name = store_name  # how progress messages name the store CRI-O uses
        self.stores = stores
        self.endpoint = f"unix://{socket}"
        self.crictl_config = crictl_config

    def crictl(self, *args: str, timeout: float = 30, check: bool = True) -> runner.Result:
        argv = [self.binaries["crictl"], "--config", str(self.crictl_config)]
        argv += ["--runtime-endpoint", self.endpoint, "--image-endpoint", self.endpoint, *args]
        return runner.run(argv, timeout=timeout, check=check, endpoint=self.endpoint)

    def podman(self, *args: str, rootless: bool = False, timeout: float = 60, check: bool = True) -> runner.Result:
        s = self.stores
        argv = [self.binaries["podman"], "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        if os.access(s.runtime, os.X_OK):  # podman's rlimits are more than runc may set here
            argv += ["--runtime", str(s.runtime)]
        if rootless:
            argv += ["--root", str(s.rootless_graphroot), "--runroot", str(s.rootless_runroot)]
            argv += ["--storage-driver", "overlay", "--tmpdir", str(s.rootless_tmp)]
        else:
            argv += ["--tmpdir", str(s.podman_tmp)]
        env = {"CONTAINERS_STORAGE_CONF": str(s.storage_conf)}
        return runner.run([*argv, *args], timeout=timeout, check=check, env=env, unset_env=PODMAN_UNSET)

    # ---- images --------------------------------------------------------------------------------

    def image_id(self, ref: str, rootless: bool = False) -> str | None:
        res = self.podman("image", "inspect", "--format", "{{.Id}}", ref, rootless=rootless, check=False)
        return res.stdout.strip() or None if res.returncode == 0 else None

    def load(self, image: imagebuild.BuiltImage, progress: Progress, rootless: bool = False) -> None:
        """``podman load`` the archive unless the store holds the image under its ref already."""
        where = "the rootless user's store" if rootless else self.store_name
        if self.image_id(image.ref, rootless) == image.image_id.split(":", 1)[1]:
            progress(f"podman: {image.ref} already in {where}")
            return
        progress(f"podman: loading {image.ref} into {where}")
        self.podman("load", "-q", "-i", str(image.path), rootless=rootless, timeout=120)

    # ---- workloads -----------------------------------------------------------------------------

    def crio_workload(self, pod_json: pathlib.Path, ctr_json: pathlib.Path, progress: Progress) -> None:
        """The CRI-O pod and its sleeping container, unless it runs already."""
        running = self.crictl("ps", "--name", f"^{CRIO_CONTAINER}$", "--state", "running", "-q").stdout.split()
        if running:
            progress(f"crictl: {CRIO_CONTAINER} already running")
            return
        for pod in self.crictl("pods", "--name", f"^{CRIO_POD}$", "-q").stdout.split():
            self.crictl("rmp", "-f", pod, timeout=60, check=False)
        progress(f"crictl: starting pod {CRIO_POD} with {CRIO_CONTAINER}")
        pod = self.crictl("runp", str(pod_json), timeout=120).stdout.strip()
        ctr = self.crictl("create", pod, str(ctr_json), str(pod_json), timeout=120).stdout.strip()
        self.crictl("start", ctr, timeout=60)

    def podman_workload(self, progress: Progress) -> None:
        state = self.podman("container", "inspect", "--format", "{{.State.Status}}", PODMAN_CONTAINER, check=False)
        if state.returncode == 0 and state.stdout.strip() == "running":
            progress(f"podman: {PODMAN_CONTAINER} already running")
            return
        if state.returncode == 0:
            self.podman("rm", "-f", PODMAN_CONTAINER, check=False)
        progress(f"podman: starting {PODMAN_CONTAINER}")
        self.podman("run", "-d", "--name", PODMAN_CONTAINER, "--network", "none", DEMO_IMAGE, *SLEEP, timeout=120)

    def remove_workloads(self, crio_running: bool, warnings: list[str], progress: Progress) -> dict[str, int]:
        """Every CRI-O pod (through CRI-O) and every podman container of both stores."""
        removed: dict[str, int] = {}
        if crio_running:
            try:
                pods = self.crictl("pods", "-q").stdout.split()
                if pods:
                    progress(f"crictl: removing {len(pods)} pod(s)")
                    self.crictl("stopp", *pods, timeout=120, check=False)
                    self.crictl("rmp", "-f", *pods, timeout=120)
                removed["cri"] = len(pods)
            except ToolError as exc:
                warnings.append(f"CRI-O pods: {exc.message}")
        for rootless, graphroot in ((False, self.stores.graphroot), (True, self.stores.rootless_graphroot)):
            if not (graphroot / "libpod").is_dir():  # podman never ran on it: nothing of podman's there
                continue
            key = "podman-rootless" if rootless else "podman"
            try:
                ids = self.podman("ps", "-aq", rootless=rootless).stdout.split()
                if ids:
                    progress(f"podman: removing {len(ids)} container(s)" + (" (rootless store)" if rootless else ""))
                    self.podman("rm", "-f", "-t", "0", *ids, rootless=rootless, timeout=120)
                removed[key] = len(ids)
            except ToolError as exc:
                warnings.append(f"{key} containers: {exc.message}")
        return removed


def rootless_image(images_dir: pathlib.Path, busybox: str) -> imagebuild.BuiltImage:
    """:data:`ROOTLESS_IMAGE`: busybox with a label of its own (an image ID no other lab image has)."""
    base = imagebuild.busybox_layer(busybox)
    base_id = imagebuild.sha256_digest(base)
    config = imagebuild.image_config(
        [base_id],
        ["ctrtool lab: busybox and its applets in /bin"],
        arch=imagebuild.platform_arch(),
        cmd=["/bin/sh"],
        labels={"org.opencontainers.image.title": "ctrtool lab rootless-only"},
    )
    data, image_id = imagebuild.docker_archive(ROOTLESS_IMAGE, config, [base])
    path = images_dir / "rootless-only.tar"
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return imagebuild.BuiltImage(ROOTLESS_IMAGE, path, image_id, [base_id])


def image_ids(tools: Tools) -> dict[str, str | None]:
    """ref -> image ID in the store it belongs to (the rootless-only image in the rootless store)."""
    out: dict[str, str | None] = {ref: tools.image_id(ref) for ref in (PAUSE_IMAGE, DEMO_IMAGE)}
    out[ROOTLESS_IMAGE] = tools.image_id(ROOTLESS_IMAGE, rootless=True)
    return out


def require_policy(path: str) -> None:
    if not pathlib.Path(path).is_file():
        raise LabError(
            f"CRI-O needs the image signature policy {path}, and it is missing",
            "apt-get install podman (its package containers-common installs it)",
        )


def write_runtime_wrapper(path: pathlib.Path, runc: str) -> None:
    """CRI-O's "runc": :mod:`ctrtool.lab.runcwrapper`'s text with a ``#!`` line and the real runc."""
    source = pathlib.Path(runcwrapper.__file__).read_text()
    if 'RUNC = "runc"' not in source:
        raise LabError(f"{runcwrapper.__file__} lost its RUNC line: cannot write the runtime wrapper")
    # the interpreter itself, not a virtualenv's link to it (the wrapper needs the standard library only)
    python = os.path.realpath(sys.executable) if sys.executable else ""
    python = python if os.access(python, os.X_OK) else "/usr/bin/python3"
    write_if_changed(path, f"#!{python}\n" + source.replace('RUNC = "runc"', f'RUNC = "{runc}"', 1))
    os.chmod(path, 0o755)


def crio_argv(
    binaries: dict[str, str],
    crio_dir: pathlib.Path,
    graphroot: pathlib.Path,
    runroot: pathlib.Path,
    socket: pathlib.Path,
    cni_dir: pathlib.Path,
    pause_image: str,
) -> list[str]:
    """CRI-O from flags only (``--config /dev/null``): every file of its own under ``crio_dir``
    (its runtime wrapper there too), its store ``graphroot``/``runroot``."""
    c = crio_dir
    wrapper = c / "runtime-wrapper"
    argv = [binaries["crio"], "--config", "/dev/null", "--config-dir", str(c / "conf.d")]
    argv += ["--root", str(graphroot), "--runroot", str(runroot), "--storage-driver", "overlay"]
    argv += ["--listen", str(socket), "--conmon", binaries["conmon"], "--pinns-path", binaries["pinns"]]
    argv += ["--cni-config-dir", str(cni_dir), "--cni-plugin-dir", os.path.dirname(binaries["cni:bridge"])]
    argv += ["--default-runtime", "runc", "--runtimes", f"runc:{wrapper}:{c / 'runc'}"]
    argv += ["--cgroup-manager", "cgroupfs", "--conmon-cgroup", "pod"]
    argv += ["--log-dir", str(c / "pods-logs"), "--container-exits-dir", str(c / "exits")]
    argv += ["--container-attach-socket-dir", str(c / "attach"), "--namespaces-dir", str(c / "ns")]
    argv += ["--version-file", str(c / "version"), "--version-file-persist", str(c / "version-persist")]
    argv += ["--clean-shutdown-file", str(c / "clean.shutdown"), "--hooks-dir", str(c / "hooks.d")]
    argv += ["--cdi-spec-dirs", str(c / "cdi"), "--enable-nri=false", "--irqbalance-config-restore-file", "disable"]
    # a store podman shares: CRI-O must never wipe it (after a reboot or an unclean shutdown)
    argv += ["--internal-wipe=false"]
    argv += ["--irqbalance-config-file", str(c / "irqbalance"), "--stream-address", "127.0.0.1"]
    # the lab's pause images have no /pause: "" runs their entrypoint
    argv += ["--pause-image", pause_image, "--pause-command", "", "--signature-policy", SIGNATURE_POLICY]
    return argv


def crio_dirs(crio_dir: pathlib.Path) -> list[pathlib.Path]:
    """The directories CRI-O's flags name under ``crio_dir`` (made before it starts)."""
    return [crio_dir / s for s in ("", "runc", "exits", "attach", "ns", "pods-logs", "hooks.d", "cdi", "conf.d")]


def start_crio(
    daemon: Any, socket: pathlib.Path, crictl: str, argv: list[str], progress: Progress, how: str = ""
) -> None:
    """Start CRI-O (``argv``) as ``daemon`` unless it runs and answers on ``socket``; wait until
    `crictl version` answers there. A CRI-O of this lab that runs and does not answer is an error."""
    import time

    from . import supervisor

    version = [crictl, "--runtime-endpoint", f"unix://{socket}", "version"]
    pid = daemon.running_pid()
    if pid:
        daemon.record(pid)
        if supervisor.probe(version):
            progress(f"crio already running (pid {pid})")
            return
        raise LabError(
            f"this lab's crio (pid {pid}) runs but does not answer on {socket}", "`ctrtool lab down` stops it"
        )
    supervisor.clean_stale(daemon, progress)
    progress(f"starting crio{how}")
    proc = supervisor.spawn(argv, daemon.log)
    daemon.pidfile.write_text(f"{proc.pid}\n")  # the same pid once a wrapper script execs crio
    t0 = time.monotonic()
    supervisor.wait_ready(daemon, proc, lambda: supervisor.probe(version))
    progress(f"crio up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")


def stop_crio(daemon: Any, pid: int | None, directory: pathlib.Path, result: dict, say: Progress, what: str) -> None:
    """CRI-O's part of a ``down`` (the crio lab's, a CRI-O node's): stop it by pid, remove its pid
    and socket files, kill what is left of ``directory`` (conmons, containers), unmount under it.
    ``result``: teardown.down_result's, filled in; ``what``: "lab" or "node", in the messages."""
    from . import supervisor, teardown

    warnings: list[str] = result["warnings"]
    if supervisor.stop_daemon(daemon, pid, result, say):
        for path in supervisor.daemon_files(daemon):
            if supervisor.remove_stale(path):
                result["removed"].append(str(path))
    left = teardown.processes_of(directory)
    if left:
        say(f"killing {len(left)} process(es) left of the {what}: {', '.join(map(str, left))}")
        result["shims"] += left
        for stuck in teardown.kill_processes(left):
            warnings.append(f"process {stuck} ({' '.join(supervisor.cmdline(stuck))[:80]}) did not exit")
    result["unmounted"] = teardown.unmount_all(directory, warnings, say)
