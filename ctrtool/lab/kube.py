"""The ``kube`` lab profile: a real Kubernetes cluster (v1.37.2) of N nodes on this one machine.

``KubeLab`` composes the lab's parts: its directory (:mod:`~ctrtool.lab.home`), one CNI network for
every node (:mod:`~ctrtool.lab.network`), the control plane (:mod:`~ctrtool.lab.controlplane`), N nodes
(:mod:`~ctrtool.lab.kubenode`: each a runtime and a kubelet) and the teardown
(:mod:`~ctrtool.lab.teardown`); it inherits from none of them, nor from the plain lab.

Layout of the lab directory DIR (default /var/tmp/ctrtool-lab-kube)::

    DIR/kubeconfig                 the admin's kubeconfig (``ctrtool lab env`` exports KUBECONFIG)
    DIR/kube/pki/                  openssl CA, front-proxy CA, serving and client certificates, SA keys
    DIR/kube/ports.json, nodes, crio-nodes   the ports chosen on the first up, the numbers of nodes
    DIR/kube/etcd/data, etcd.pid, etcd.log            etcd on 127.0.0.1
    DIR/kube/kube-apiserver.pid, .log (and the controller-manager's and scheduler's)
    DIR/kube/audit-policy.yaml, audit.log   the apiserver's audit log of the admin's requests
    DIR/kube/kubectl-cache         KUBECACHEDIR: kubectl's discovery and HTTP cache
    DIR/cni/                       one CNI network for every node: one bridge, its gateway is the node IP
    DIR/images/                    the demo image and the sandbox image (registry.k8s.io/pause:3.10.2)
    DIR/nodes/node-K/containerd/   node K's containerd 2.4.2 (a runtime of its own: ctrtool.lab.runtime)
    DIR/nodes/node-K/kubelet/      its kubelet's --root-dir (a shared bind mount onto itself)
    DIR/nodes/node-K/kubelet.json, kubelet.kubeconfig, kubelet.pid, kubelet.log
    DIR/nodes/node-K/host/         what the kubelet sees as /var/lib and /var/log (overlay upper dirs),
                                   the sysctl files it finds set, its volume plugin and pod log dirs
    DIR/nodes/node-crio-K/         with ``--crio-nodes N``: a node on CRI-O 1.37 instead of containerd
                                   (:mod:`~ctrtool.lab.crionode`: its store, CRI-O, the same kubelet)

A mixed cluster (``--crio-nodes``) needs the crio profile's CRI-O build, conmon, podman and crictl. The
host's ``/`` is left as it is: CRI-O runs in a mount namespace where ``/`` is shared (see crionode).

How the host is protected (the kubelet changes the host freely when it is not stopped):

* each kubelet runs in a private mount namespace (``unshare --mount``) where every mount but its own
  root dir stops propagating to the host; there the sysctl files it would rewrite (kernel.panic,
  vm.overcommit_memory, ...) are bind-mounted files of the lab's holding the values it wants, and
  /var/lib and /var/log are overlays whose upper dirs are in DIR (its device-plugins and
  /var/log/containers paths are hard-coded);
* its root dir is bound onto itself and made shared first, so that the volumes it mounts there reach
  containerd, which runs in the host's namespace;
* ``cgroupRoot`` is the lab's own (``/ctrtool-HASH-node-K``), created beforehand in every hierarchy
  under /sys/fs/cgroup and removed by ``down``: two kubelets sharing /kubepods delete each other's
  pods' cgroups;
* ``makeIPTablesUtilChains: false`` and no kube-proxy: no iptables chain is made; volumePluginDir,
  podLogsDir and kubectl's cache dir point into DIR (or /usr/libexec/kubernetes, /var/log/pods and
  ~/.kube would appear);
* etcd, the apiserver, the controller-manager and the scheduler listen on 127.0.0.1 only, on ports
  chosen free on the first ``up``; kubelets listen on the bridge's gateway address (a node IP may not
  be loopback), each on its own port.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import time
from collections.abc import Callable

from .. import imagebuild, runner
from . import profiles as profiles_mod
from . import supervisor, teardown
from .common import DEMO_IMAGE, LabError, Progress, find_binary, missing_binary_error, noop, write_if_changed
from .controlplane import SERVICE_CIDR, SERVICE_IP, ControlPlane
from .crionode import CRIO_NODE_BINARIES, CrioNode
from .criotools import SIGNATURE_POLICY, require_policy
from .daemons import require_cni_plugins, require_root
from .home import LabHome
from .kubenode import KUBE_PAUSE_IMAGE, Archive, NodeRuntime, cgroup_dirs, recorded_count, remove_cgroups
from .network import Network
from .supervisor import Daemon

DEFAULT_NODES = 2
MAX_NODES = 16
MAX_CRIO_NODES = 4
READY_TIMEOUT = 180.0
KUBE_BINARIES = ("runc", "busybox", "mount", "umount", "unshare", "openssl", "ip", "docker")

__all__ = ["KUBE_BINARIES", "KUBE_PAUSE_IMAGE", "SERVICE_CIDR", "SERVICE_IP", "KubeLab", "NodeRuntime", "kubectl"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KubeLab:
    """A Kubernetes lab directory: etcd, the control plane and N nodes (see the module's docstring)."""

    def __init__(
        self,
        directory: pathlib.Path | str | None = None,
        profile: str | None = None,
        nodes: int | None = None,
        crio_nodes: int | None = None,
    ):
        self.home = LabHome(directory, profile or "kube")
        self.directory = d = self.home.directory
        self.profile = self.home.profile
        if not self.profile.kubernetes:
            raise LabError(f"lab profile {self.profile.name} is not a Kubernetes profile")
        self._hash = self.home.hash
        self.network = Network(d, d / "cni")
        self.cni_dir, self.cni_conflist = self.network.cni_dir, self.network.conflist
        self.bridge, self.network_name = self.network.bridge, self.network.name
        self.images_dir = d / "images"
        self.kube_dir = d / "kube"
        self.kubeconfig = d / "kubeconfig"
        self.kubectl_cache = self.kube_dir / "kubectl-cache"
        self.nodes_file = self.kube_dir / "nodes"
        self.crio_nodes_file = self.kube_dir / "crio-nodes"
        self.cgroups_file = self.kube_dir / "cgroups.json"
        self.control = ControlPlane(self.kube_dir, self.kubeconfig, self.tool_path())
        self.pki = self.control.pki
        self.node_count = recorded_count(d, nodes, self.nodes_file, "--nodes", 1, MAX_NODES) or DEFAULT_NODES
        crio = recorded_count(d, crio_nodes, self.crio_nodes_file, "--crio-nodes", 0, MAX_CRIO_NODES, self.nodes_file)
        self.crio_count = crio or 0  # a lab made before --crio-nodes has none (see recorded_count)
        self.nodes: list[NodeRuntime | CrioNode] = [self._node(f"node-{k}") for k in range(1, self.node_count + 1)]
        self.nodes += [self._crio_node(f"node-crio-{k}") for k in range(1, self.crio_count + 1)]
        self._kubelets_started: dict[str, float] = {}  # node -> when this up started its kubelet

    def _node(self, name: str) -> NodeRuntime:
        cgroup_root = f"/ctrtool-{self._hash[:6]}-{name}"
        return NodeRuntime(self.directory / "nodes" / name, name, self.profile, self.network, cgroup_root)

    def _crio_node(self, name: str) -> CrioNode:
        return CrioNode(self.directory / "nodes" / name, name, self.network, f"/ctrtool-{self._hash[:6]}-{name}")

    def __repr__(self) -> str:
        return f"KubeLab({str(self.directory)!r}, nodes={self.node_count}, crio_nodes={self.crio_count})"

    @property
    def recorded_profile(self) -> str | None:
        return self.home.recorded_profile

    @property
    def marker(self) -> pathlib.Path:
        return self.home.marker

    def gateway(self) -> str | None:
        """The CNI bridge's gateway address: every node's IP."""
        return self.network.gateway()

    def tool_path(self) -> list[str]:
        built = profiles_mod.built_binaries(self.profile) or {}
        return [os.path.dirname(built[c]) for c in ("kubectl", "ctr") if c in built]

    def _daemons(self) -> list[Daemon]:
        out = list(self.control.daemons)
        for node in self.nodes:
            out += [*node.runtime_daemons, node.kubelet]
        return out

    def ready_nodes(self, since: dict[str, float] | None = None) -> set[str]:
        return self.control.ready_nodes(since)

    # ---- public API -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {"CTRTOOL_LAB_DIR": str(self.directory)}
        path = self.tool_path()
        if path:
            env["PATH"] = os.pathsep.join([*path, os.environ.get("PATH", os.defpath)])
        return env | {"KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.kubectl_cache)}

    def status(self) -> dict:
        ports = self.control.ports()
        endpoints = self.control.endpoints()
        gateway = self.gateway()
        for node in self.nodes:
            endpoints |= node.endpoints()
            port = ports.get(f"kubelet-{node.name}")
            endpoints[node.kubelet.name] = f"https://{gateway}:{port}" if port and gateway else None
        daemons = []
        for d in self._daemons():
            pid = d.running_pid()
            daemons.append(
                {
                    "name": d.name,
                    "pid": pid,
                    "running": pid is not None,
                    "socket": endpoints.get(d.name),
                    "pidfile": str(d.pidfile),
                    "log": str(d.log),
                }
            )
        return {
            "directory": str(self.directory),
            "profile": self.profile.name,
            "profile_summary": self.profile.summary
            + (f"; and {self.crio_count} node(s) on CRI-O {profiles_mod.CRIO_VERSION}" if self.crio_count else ""),
            "exists": self.directory.is_dir(),
            "daemons": daemons,
            "nodes": [
                {
                    "name": n.name,
                    "runtime": "cri-o" if isinstance(n, CrioNode) else "containerd",
                    "ip": gateway,
                    "kubelet_port": ports.get(f"kubelet-{n.name}"),
                    "cgroup_root": n.cgroup_root,
                }
                for n in self.nodes
            ],
            "network": {
                "name": self.network_name,
                "bridge": self.bridge,
                "subnet": self.network.current_subnet(),
                "gateway": gateway,
                "conflist": str(self.cni_conflist),
            },
            "kubeconfig": str(self.kubeconfig),
            "env": self.env(),
        }

    def up(self, progress: Progress = noop) -> dict:
        require_root()
        for name in KUBE_BINARIES:
            if not find_binary(name):
                raise missing_binary_error(name)
        cni = require_cni_plugins()
        if self.crio_count:
            for name in CRIO_NODE_BINARIES:
                if not find_binary(name):
                    raise missing_binary_error(name)
            require_policy(SIGNATURE_POLICY)
        self.home.refuse_other_profile()
        if profiles_mod.built_binaries(self.profile) is None and not profiles_mod.find_go():
            raise LabError(
                "lab profile kube builds Kubernetes, etcd and containerd with Go, and go is not installed",
                "install Go (https://go.dev/dl/)",
            )
        binaries = profiles_mod.ensure_built(self.profile, progress)
        if self.crio_count:  # CRI-O's crio and pinns: the crio profile's build
            binaries |= profiles_mod.ensure_built(profiles_mod.get("crio"), progress)
        names = KUBE_BINARIES + (CRIO_NODE_BINARIES if self.crio_count else ())
        binaries |= cni | {name: find_binary(name) or name for name in names}
        for node in self.nodes:
            node.check_path_lengths()
        self.home.claim()
        with self.home.lock():
            self.home.record_profile()
            return self._up_cluster(binaries, progress)

    def down(self, purge: bool = False, progress: Progress = noop) -> dict:
        """Stop the kubelets, each node's runtime, then the control plane, by pid; unmount what is
        under DIR, remove the lab's cgroups; with ``purge`` the directory and the bridge too."""
        require_root()
        self.require_lab_directory()
        with self.home.lock_if_there():
            return self._down(purge, progress)

    def require_lab_directory(self) -> None:
        self.home.require_lab_directory()

    def down_actions(self, purge: bool) -> list[list[str]]:
        self.require_lab_directory()
        actions: list[list[str]] = []
        # in down's order: the kubelets, each node's runtime (and what it left), the control plane
        running = [d.running_pid() for d in [n.kubelet for n in self.nodes]]
        actions += [["kill", "-TERM", str(pid)] for pid in running if pid]
        for node in self.nodes:
            actions += node.down_actions()
        running = [d.running_pid() for d in reversed(self.control.daemons)]
        actions += [["kill", "-TERM", str(pid)] for pid in running if pid]
        actions += [["umount", point] for point in teardown.mounts_under(self.directory)]
        actions += [["rmdir", str(p)] for p in cgroup_dirs(self.cgroups_file, self._cgroup_prefix)]
        if purge and self.directory.exists():
            actions.append(["rm", "-rf", str(self.directory)])
            if teardown.bridge_exists(self.bridge):
                actions.append(["ip", "link", "delete", self.bridge, "type", "bridge"])
        return actions

    @property
    def _cgroup_prefix(self) -> str:
        return f"ctrtool-{self._hash[:6]}-"

    # ---- up ----------------------------------------------------------------------------------

    def _up_cluster(self, binaries: dict[str, str], progress: Progress) -> dict:
        started = time.monotonic()
        for sub in (self.kube_dir, self.pki, self.kube_dir / "etcd", self.cni_dir / "ipam", self.images_dir):
            sub.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o711)
        os.chmod(self.kube_dir, 0o700)
        write_if_changed(self.nodes_file, f"{self.node_count}\n")
        write_if_changed(self.crio_nodes_file, f"{self.crio_count}\n")
        ports = self.control.ports()
        for key in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler") + tuple(
            f"kubelet-{n.name}" for n in self.nodes
        ):
            if key not in ports:
                ports[key] = _free_port()
        write_if_changed(self.control.ports_file, json.dumps(ports, indent=2, sort_keys=True) + "\n")
        self.network.write()
        gateway = self.gateway()
        if gateway is None:
            raise LabError(
                f"cannot read the lab's CNI subnet from {self.cni_conflist}", "`ctrtool lab down --purge` first"
            )
        self.network.ensure_bridge(gateway, progress)
        self.control.ensure_pki(binaries["openssl"], gateway, [n.name for n in self.nodes], progress)
        self.control.write_kubeconfigs(ports["apiserver"], [(n.name, n.kubelet_kubeconfig) for n in self.nodes])
        self.control.start(binaries, ports, gateway, progress)

        built = imagebuild.build_images(self.images_dir, busybox=binaries["busybox"])
        images = [
            built[DEMO_IMAGE],
            imagebuild.build_sandbox_image(self.images_dir, KUBE_PAUSE_IMAGE, "sandbox.tar", binaries["busybox"]),
        ]
        node_image = self._build_node_image(progress)
        for node in self.nodes:
            node.start_runtime(binaries, images, node_image, progress)
            port = ports[f"kubelet-{node.name}"]
            start = self._kubelet_starter(node, progress)
            node.start_kubelet(binaries, port, gateway, self.pki / "ca.crt", self.cgroups_file, start, progress)
        self._wait_cluster_ready(progress)
        progress(f"lab up in {time.monotonic() - started:.1f}s: {self.directory}")
        return self.status()

    def _kubelet_starter(
        self, node: NodeRuntime | CrioNode, progress: Progress
    ) -> Callable[[Daemon, list[str], Callable[[], bool]], None]:
        def start(daemon: Daemon, argv: list[str], ready: Callable[[], bool]) -> None:
            self._kubelets_started[node.name] = time.time()
            supervisor.start(daemon, argv, ready, progress, self.tool_path())

        return start

    def _build_node_image(self, progress: Progress) -> Archive:
        """ctrtool's node image (``ctrtool nodes``), built from this ctrtool on every up: the lab has
        no registry, so every node gets it the way an air-gapped cluster would, by import."""
        from ..fleet import nodeimage

        progress(f"packing ctrtool's node image {nodeimage.NODE_IMAGE}")
        return nodeimage.build(self.images_dir / "ctrtool-node.tar", nodeimage.NODE_IMAGE)

    def _wait_cluster_ready(self, progress: Progress) -> None:
        """Every node Ready, and namespace default's service account made (pods need it)."""
        t0 = time.monotonic()
        deadline = t0 + READY_TIMEOUT
        names = {n.name for n in self.nodes}
        while True:
            ready = self.ready_nodes(self._kubelets_started)
            account = self.control.api("/api/v1/namespaces/default/serviceaccounts/default") is not None
            if names <= ready and account:
                progress(f"{len(names)} node(s) Ready ({time.monotonic() - t0:.1f}s)")
                return
            for node in self.nodes:
                if not node.kubelet.running_pid():
                    raise LabError(
                        f"{node.kubelet.name} exited while starting: {supervisor.log_tail(node.kubelet.log)}",
                        f"see the full log in {node.kubelet.log}",
                    )
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(names - ready)) or "none"
                raise LabError(
                    f"the cluster was not ready within {READY_TIMEOUT:g}s (nodes not Ready: {missing}; "
                    f"default service account: {'yes' if account else 'not yet'})",
                    f"see the kubelets' logs in {self.directory}/nodes/*/kubelet.log",
                )
            time.sleep(1.0)

    # ---- down --------------------------------------------------------------------------------

    def _down(self, purge: bool, progress: Progress) -> dict:
        result = teardown.down_result(self.directory)
        warnings: list[str] = result["warnings"]

        def stop(daemon: Daemon) -> None:
            if supervisor.stop_daemon(daemon, daemon.running_pid(), result, progress):
                supervisor.remove_stale(daemon.pidfile)

        for node in self.nodes:  # first: a running kubelet would start its pods again
            stop(node.kubelet)
        for node in self.nodes:
            if node.directory.is_dir():
                sub = node.stop(progress)
                for key in ("stopped", "shims", "unmounted", "removed", "warnings"):
                    result[key] += sub[key]
                if sub["workloads"]:
                    result["workloads"][node.name] = sub["workloads"]
        for daemon in reversed(self.control.daemons):
            stop(daemon)
        result["unmounted"] += teardown.unmount_all(self.directory, warnings, progress)
        result["removed"] += remove_cgroups(self.cgroups_file, self._cgroup_prefix, warnings)
        if purge and self.directory.exists():
            runtimes = [n.runtime for n in self.nodes if isinstance(n, NodeRuntime)]
            teardown.purge(self.directory, self.marker, self.network_name, result, progress, runtimes)
        if purge and teardown.delete_bridge(self.bridge, warnings):
            result["removed"].append(f"bridge {self.bridge}")
        return result


def kubectl(lab: KubeLab, *args: str, timeout: float = 60, check: bool = True) -> runner.Result:
    """kubectl (the lab's build) with the lab's kubeconfig and cache dir."""
    built = profiles_mod.built_binaries(lab.profile) or {}
    argv = [built.get("kubectl", "kubectl"), "--kubeconfig", str(lab.kubeconfig), "--cache-dir", str(lab.kubectl_cache)]
    return runner.run([*argv, *args], timeout=timeout, check=check)
