"""One node of the kube lab: a runtime of its own (containerd 2.4 and a dockerd 29 on containerd's
image store, under DIR/nodes/NAME) and a kubelet in a private mount namespace, with the host prepared
for it (sysctl files, overlays of /var/lib and /var/log, its own cgroup root). See
:mod:`ctrtool.lab.kube` for how the host is protected."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Sequence
from typing import Protocol

from .. import runner
from . import render
from .common import LabError, Progress, write_if_changed
from .network import Network
from .profiles import Profile
from .runtime import Runtime
from .supervisor import Daemon
from .teardown import is_mount_point

KUBE_PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"  # containerd 2.4's own default sandbox image
CGROUP_FS = pathlib.Path("/sys/fs/cgroup")
# what the kubelet sets unless /proc/sys already shows it (pkg/kubelet/cm: setupKernelTunables)
SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}

# Run in the kubelet's new mount namespace (sh -c SCRIPT kubelet-ns ROOT NODEDIR KUBELET ARGS...):
# stop every shared mount but the kubelet's root dir from propagating to the host, show the kubelet
# the sysctl values it wants and overlays of /var/lib and /var/log, then become the kubelet.
NAMESPACE_SCRIPT = r"""set -e
root=$1; node=$2; shift 2
while read -r _ _ _ _ point _ rest; do
  case "${rest%% - *}" in *shared:*) ;; *) continue ;; esac
  case "$point" in "$root"|"$root"/*) continue ;; esac
  mount --make-slave "$point" 2>/dev/null || true
done < /proc/self/mountinfo
for f in "$node"/host/sysctl/*; do
  mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"
done
for d in lib log; do
  mount -t overlay overlay \
    -o "lowerdir=/var/$d,upperdir=$node/host/var-$d/upper,workdir=$node/host/var-$d/work" "/var/$d"
done
exec "$@"
"""


class Archive(Protocol):
    """An image written as a docker-archive tar: the lab's (:mod:`ctrtool.imagebuild`) or the node image."""

    @property
    def ref(self) -> str: ...

    @property
    def image_id(self) -> str: ...

    @property
    def path(self) -> pathlib.Path: ...


def prefixed(progress: Progress, prefix: str) -> Progress:
    return lambda message: progress(f"{prefix}: {message}")


# ---- cgroups -------------------------------------------------------------------------------------


def hierarchies() -> list[pathlib.Path]:
    """The cgroup hierarchies' root directories: /sys/fs/cgroup itself on cgroup v2, else every
    hierarchy mounted under it (cgroup v1, and the hybrid layout's "unified")."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    try:
        entries = sorted(CGROUP_FS.iterdir())
    except OSError:
        return []
    return [h for h in entries if h.is_dir() and not h.is_symlink() and is_mount_point(h)]


def recorded_cgroups(cgroups_file: pathlib.Path) -> list[str]:
    try:
        value = json.loads(cgroups_file.read_text())
    except (OSError, ValueError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def cgroup_dirs(cgroups_file: pathlib.Path, prefix: str) -> list[pathlib.Path]:
    """A lab's cgroup roots that exist: the recorded ones, and any top-level one named ``prefix*``."""
    found = {pathlib.Path(p) for p in recorded_cgroups(cgroups_file)}
    for hierarchy in hierarchies():
        try:
            found.update(e for e in hierarchy.iterdir() if e.is_dir() and e.name.startswith(prefix))
        except OSError:
            continue
    return sorted(p for p in found if p.is_dir())


def remove_cgroups(cgroups_file: pathlib.Path, prefix: str, warnings: list[str]) -> list[str]:
    removed = []
    for top in cgroup_dirs(cgroups_file, prefix):
        # deepest first: a cgroup directory is removed with rmdir once it has no children
        for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                path.rmdir()
            except OSError:
                pass
        try:
            top.rmdir()
            removed.append(str(top))
        except OSError as exc:
            warnings.append(f"cgroup {top} left in place: {exc.strerror}")
    return removed


def recorded_count(
    directory: pathlib.Path,
    asked: int | None,
    recorded_in: pathlib.Path,
    flag: str,
    least: int,
    most: int,
    none_since: pathlib.Path | None = None,
) -> int | None:
    """A lab's number of nodes of one kind: as asked (``flag``), else as recorded in ``recorded_in``
    (0 when that file is missing but ``none_since`` exists: a lab made before the kind was)."""
    try:
        text = recorded_in.read_text().strip()
    except OSError:
        text = "0" if none_since is not None and none_since.exists() else ""
    recorded = int(text) if text.isdigit() else None
    what = "nodes" if flag == "--nodes" else flag.removeprefix("--")  # "crio-nodes"
    if asked is not None and not least <= asked <= most:
        raise LabError(f"{flag} {asked}: a kube lab has {least} to {most} {what}", f"e.g. {flag} {least + 1}")
    if asked is not None and recorded is not None and asked != recorded:
        raise LabError(
            f"{directory} holds a lab of {recorded} {what[:-1]}(s), not {asked}",
            f"`ctrtool lab down --purge --dir {directory}` first, or leave {flag} out",
        )
    return recorded if asked is None else asked


# ---- the node ------------------------------------------------------------------------------------


class Kubelet:
    """A node's kubelet: its files under the node's directory, its own cgroup root, the host
    prepared for it, started in a private mount namespace; its runtime is whatever CRI socket
    ``start`` is given (the node's containerd, or its CRI-O)."""

    def __init__(self, directory: pathlib.Path, name: str, cgroup_root: str):
        self.directory = d = directory
        self.name = name
        self.cgroup_root = cgroup_root
        self.root = d / "kubelet"
        self.config = d / "kubelet.json"
        self.kubeconfig = d / "kubelet.kubeconfig"
        self.host_dir = d / "host"
        self.daemon = Daemon(
            f"{name}/kubelet", "kubelet", "--config", str(self.config), d / "kubelet.pid", self.root, d / "kubelet.log"
        )

    def prepare_host(self, binaries: dict[str, str], cgroups_file: pathlib.Path) -> None:
        """Everything the kubelet's namespace script expects: sysctl files, overlay dirs, its own
        cgroup root in every hierarchy (recorded in ``cgroups_file``), and its root dir as a shared
        bind mount."""
        host = self.host_dir
        sysctl = host / "sysctl"
        for sub in (sysctl, host / "volume-plugins", host / "pod-logs", self.root):
            sub.mkdir(parents=True, exist_ok=True)
        for d in ("lib", "log"):
            for part in ("upper", "work"):
                (host / f"var-{d}" / part).mkdir(parents=True, exist_ok=True)
        for name, value in SYSCTLS.items():
            if pathlib.Path("/proc/sys", name).exists():
                write_if_changed(sysctl / name.replace("/", "."), value + "\n")
        created = set(recorded_cgroups(cgroups_file))
        for hierarchy in hierarchies():
            target = hierarchy / self.cgroup_root.lstrip("/")
            if not target.exists():
                target.mkdir()
                created.add(str(target))
            if hierarchy.name == "cpuset":  # a v1 cpuset cgroup starts empty: no task could join it
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not (target / f).read_text().strip():
                        (target / f).write_text((hierarchy / f).read_text())
        write_if_changed(cgroups_file, json.dumps(sorted(created), indent=2) + "\n")
        self.share_root(binaries)

    def share_root(self, binaries: dict[str, str]) -> None:
        """Its root dir a shared bind mount onto itself: the volumes it mounts there reach the runtime."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not is_mount_point(self.root):
            runner.run([binaries["mount"], "--bind", str(self.root), str(self.root)], timeout=15)
        runner.run([binaries["mount"], "--make-shared", str(self.root)], timeout=15)

    def start(
        self,
        binaries: dict[str, str],
        socket: pathlib.Path,
        port: int,
        gateway: str,
        client_ca: pathlib.Path,
        cgroups_file: pathlib.Path,
        start: Callable[[Daemon, list[str], Callable[[], bool]], None],
        progress: Progress,
    ) -> None:
        """Write the kubelet's configuration (its runtime on ``socket``) and start it (through
        ``start``) unless it runs."""
        config = render.kubelet_config(
            gateway=gateway,
            port=port,
            client_ca=client_ca,
            socket=socket,
            cgroup_root=self.cgroup_root,
            host_dir=self.host_dir,
        )
        write_if_changed(self.config, config)
        if self.daemon.running_pid():
            progress(f"{self.daemon.name} already running (pid {self.daemon.running_pid()})")
            return
        self.prepare_host(binaries, cgroups_file)
        argv = [binaries["unshare"], "--mount", "--propagation", "unchanged", "--", "/bin/sh", "-c", NAMESPACE_SCRIPT]
        argv += ["kubelet-ns", str(self.root), str(self.directory), binaries["kubelet"]]
        argv += ["--config", str(self.config), "--kubeconfig", str(self.kubeconfig)]
        argv += ["--root-dir", str(self.root), "--hostname-override", self.name, "--node-ip", gateway]
        start(self.daemon, argv, lambda: self.daemon.running_pid() is not None)


class NodeRuntime:
    """One node: its runtime (containerd and dockerd, a lab runtime of its own under DIR/nodes/NAME,
    on the cluster's CNI network, with containerd 2.4's stock sandbox image name) and its kubelet.
    Its dockerd (29) runs on the node's containerd with containerd's image store (namespace
    ``moby``), as Docker 29 installs on a node that also runs a kubelet."""

    sandbox_image = KUBE_PAUSE_IMAGE

    def __init__(
        self, directory: pathlib.Path, name: str, runtime_profile: Profile, network: Network, cgroup_root: str
    ):
        self.directory = d = directory
        self.name = name
        self.cgroup_root = cgroup_root
        self.runtime = Runtime(d, runtime_profile, network, self.sandbox_image, name=name)
        self.containerd, self.dockerd = self.runtime.containerd, self.runtime.dockerd
        self.containerd_socket, self.docker_socket = self.runtime.containerd_socket, self.runtime.docker_socket
        self.kubelet_host = Kubelet(d, name, cgroup_root)
        self.kubelet, self.kubelet_kubeconfig = self.kubelet_host.daemon, self.kubelet_host.kubeconfig
        self.kubelet_root, self.kubelet_config = self.kubelet_host.root, self.kubelet_host.config
        self.host_dir = self.kubelet_host.host_dir

    # ---- what the cluster asks of every node (ctrtool.lab.crionode.CrioNode has the same) -------

    @property
    def runtime_daemons(self) -> list[Daemon]:
        return [self.containerd, self.dockerd]

    def endpoints(self) -> dict[str, str]:
        return {self.containerd.name: str(self.containerd_socket), self.dockerd.name: f"unix://{self.docker_socket}"}

    def check_path_lengths(self) -> None:
        self.runtime.check_path_lengths()

    def down_actions(self) -> list[list[str]]:
        """``down --dry-run``'s lines for its runtime: dockerd and containerd, then leftover shims."""
        pids = [d.running_pid() for d in (self.dockerd, self.containerd)]
        return [["kill", "-TERM", str(p)] for p in pids if p] + [
            ["kill", "-KILL", str(p)] for p in self.runtime.shims()
        ]

    def start_runtime(
        self, binaries: dict[str, str], images: Sequence[Archive], node_image: Archive, progress: Progress
    ) -> None:
        """containerd, dockerd, the demo and sandbox images and ctrtool's node image in k8s.io."""
        self.start_containerd(binaries, progress)
        self.start_dockerd(binaries, progress)
        self.import_images(binaries, images, progress)
        self.import_node_image(binaries, node_image, progress)

    def start_kubelet(
        self,
        binaries: dict[str, str],
        port: int,
        gateway: str,
        client_ca: pathlib.Path,
        cgroups_file: pathlib.Path,
        start: Callable[[Daemon, list[str], Callable[[], bool]], None],
        progress: Progress,
    ) -> None:
        """The kubelet, its runtime the node's containerd."""
        self.kubelet_host.start(
            binaries, self.containerd_socket, port, gateway, client_ca, cgroups_file, start, progress
        )

    def stop(self, progress: Progress) -> dict:
        """Its runtime's part of ``down`` (the kubelet is stopped first, by the cluster)."""
        return self.runtime.stop(prefixed(progress, self.name))

    # ---- containerd and dockerd -----------------------------------------------------------------

    def start_containerd(self, binaries: dict[str, str], progress: Progress) -> None:
        rt = self.runtime
        for sub in (rt.containerd_dir, rt.containerd_dir / "runc"):
            sub.mkdir(parents=True, exist_ok=True)
        rt.shim_socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if rt.write_containerd_config() and self.containerd.running_pid():
            progress(f"{self.name}: containerd's configuration changed while it runs; `lab down` then `lab up`")
        rt.ensure_containerd(binaries, prefixed(progress, self.name))

    def start_dockerd(self, binaries: dict[str, str], progress: Progress) -> None:
        rt = self.runtime
        rt.docker_dir.mkdir(parents=True, exist_ok=True)
        if rt.write_docker_config() and self.dockerd.running_pid():
            progress(f"{self.name}: dockerd's configuration changed while it runs; `lab down` then `lab up`")
        rt.ensure_dockerd(binaries, prefixed(progress, self.name))

    def import_images(self, binaries: dict[str, str], images: Sequence[Archive], progress: Progress) -> None:
        """The demo and sandbox images into k8s.io, unless that namespace already has them."""
        present = self.runtime.ctr_image_digests(binaries, "k8s.io")
        for built in images:
            if built.ref in present:
                continue
            progress(f"{self.name}: ctr -n k8s.io: importing {built.ref}")
            self.runtime.ctr(binaries, "images", "import", str(built.path), namespace="k8s.io", timeout=120)

    def import_node_image(self, binaries: dict[str, str], built: Archive, progress: Progress) -> None:
        """ctrtool's node image into k8s.io, every time (its content follows ctrtool's code)."""
        progress(f"{self.name}: ctr -n k8s.io: importing {built.ref}")
        self.runtime.ctr(binaries, "images", "import", str(built.path), namespace="k8s.io", timeout=120)
