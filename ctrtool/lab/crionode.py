"""A CRI-O node of the kube lab (``lab up --profile kube --crio-nodes N``): CRI-O 1.37.0 (the crio
profile's build) from flags, its own containers/storage store, and a kubelet made exactly as a
containerd node's (:class:`ctrtool.lab.kubenode.Kubelet`) with its runtime and image endpoints on
CRI-O's socket. The parts are the crio lab's: its flags (:func:`ctrtool.lab.criotools.crio_argv`),
its runtime wrapper (:mod:`ctrtool.lab.runcwrapper`) and podman to load images into the store.

Layout under DIR/nodes/NAME::

    crio/crio.sock, crio.pid, crio.log      CRI-O (flags only: --config /dev/null)
    crio/runtime-wrapper, runc, exits, attach, ns, pods-logs, version*, conf.d, ...
    storage/                                its graph root (overlay-images, overlay-layers, overlay)
    run/                                    its runroot
    storage.conf                            [storage] naming both: podman's ``CONTAINERS_STORAGE_CONF``
    podman-tmp/                             podman's --tmpdir
    crictl.yaml                             crictl on CRI-O's socket
    kubelet/, kubelet.json, kubelet.kubeconfig, kubelet.pid, kubelet.log, host/   as a containerd node's

Images: the sandbox image ``registry.k8s.io/pause:3.10.2`` (CRI-O's ``--pause-image``), the demo
image and ctrtool's node image are loaded with ``podman load`` (through the node's storage.conf)
into CRI-O's store; podman is the lab's tool, never the node image's.

The host's ``/`` is left as it is. ``ctrtool nodes`` mounts the host's ``/`` into its pod, and CRI-O
refuses such a hostPath unless the mount holding it is shared or slave ("path / is mounted on / but
it is not a shared or slave mount"; systemd hosts have ``/`` shared, this lab's machines private).
Instead of ``mount --make-rshared /`` on the host, CRI-O runs in a mount namespace of its own
(``unshare --mount --propagation slave``) where ``/`` alone is made shared: CRI-O, its conmons and
containers see the host's mounts as slaves (the kubelet's shared root dir, bound before CRI-O
starts, keeps propagating the kubelet's volumes to it); CRI-O's own mounts (containers' root
filesystems, shm, network namespaces) stay in that namespace and go with it. Like the kubelets'
namespaces, it holds copies of the host's private mounts that existed when it started, until
``down``.

``down`` removes the pods through CRI-O, stops CRI-O by pid, kills by pid what is left of the node
(conmons and containers: :func:`ctrtool.lab.teardown.processes_of` on the node's directory),
unmounts what is under it; the cluster removes the node's cgroup root.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence

from .. import imagebuild
from ..errors import ToolError
from . import render, teardown
from .common import LabError, Progress, write_if_changed
from .criotools import Stores, Tools, crio_argv, crio_dirs, start_crio, stop_crio, write_runtime_wrapper
from .kubenode import KUBE_PAUSE_IMAGE, Archive, Kubelet, prefixed
from .network import Network
from .runtime import SOCKET_PATH_MAX
from .supervisor import Daemon

# what a CRI-O node needs beyond the kube lab's binaries (crio and pinns come from the crio build)
CRIO_NODE_BINARIES = ("conmon", "podman", "crictl")
# run as: unshare --mount --propagation slave -- sh -c SCRIPT crio-ns MOUNT CRIO ARGS...
NAMESPACE_SCRIPT = 'set -e\n"$1" --make-shared /\nshift\nexec "$@"\n'


class CrioNode:
    """One CRI-O node: CRI-O on its own store under DIR/nodes/NAME, and its kubelet (module docstring)."""

    sandbox_image = KUBE_PAUSE_IMAGE
    runtime_name = "cri-o"

    def __init__(self, directory: pathlib.Path, name: str, network: Network, cgroup_root: str):
        self.directory = d = directory
        self.name = name
        self.network = network
        self.cgroup_root = cgroup_root
        self.crio_dir = c = d / "crio"
        self.socket = c / "crio.sock"
        self.crio = Daemon(
            f"{name}/crio", "crio", "--listen", str(self.socket), c / "crio.pid", self.socket, c / "crio.log"
        )
        self.wrapper = c / "runtime-wrapper"
        self.graphroot = d / "storage"
        self.runroot = d / "run"
        self.storage_conf = d / "storage.conf"
        self.crictl_config = d / "crictl.yaml"
        tmp = d / "podman-tmp"
        # one store: the rootless fields are never used (no rootless store on a node)
        self.stores = Stores(
            self.storage_conf, self.graphroot, self.runroot, tmp, self.graphroot, self.runroot, tmp, self.wrapper
        )
        self.kubelet_host = Kubelet(d, name, cgroup_root)
        self.kubelet, self.kubelet_kubeconfig = self.kubelet_host.daemon, self.kubelet_host.kubeconfig

    def tools(self, binaries: dict[str, str] | None = None) -> Tools:
        from .common import find_binary

        found = {n: find_binary(n) or n for n in ("crictl", "podman")} | (binaries or {})
        return Tools(found, self.stores, self.socket, self.crictl_config, "CRI-O's store")

    # ---- what the cluster asks of every node (as of ctrtool.lab.kubenode.NodeRuntime) ------------

    @property
    def runtime_daemons(self) -> list[Daemon]:
        return [self.crio]

    def endpoints(self) -> dict[str, str]:
        return {self.crio.name: f"unix://{self.socket}"}

    def check_path_lengths(self) -> None:
        if len(str(self.socket).encode()) > SOCKET_PATH_MAX:
            raise LabError(
                f"lab directory path too long for CRI-O's socket {self.socket} (the limit is {SOCKET_PATH_MAX} bytes)",
                "choose a shorter lab directory (--dir)",
            )

    def down_actions(self) -> list[list[str]]:
        """``down --dry-run``'s lines for its runtime: the pods removed through CRI-O, CRI-O stopped,
        then what is left of the node killed."""
        pid = self.crio.running_pid()
        actions = [["crictl", "--runtime-endpoint", f"unix://{self.socket}", "rmp", "-f", "-a"]] if pid else []
        actions += [["kill", "-TERM", str(pid)]] if pid else []
        return actions + [["kill", "-KILL", str(p)] for p in teardown.processes_of(self.directory) if p != pid]

    def start_runtime(
        self, binaries: dict[str, str], images: Sequence[Archive], node_image: Archive, progress: Progress
    ) -> None:
        """Its files, the images in its store (podman load), then CRI-O in its namespace."""
        say = prefixed(progress, self.name)
        for sub in [*crio_dirs(self.crio_dir), self.graphroot, self.runroot, self.stores.podman_tmp]:
            sub.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.storage_conf, render.storage_conf(self.graphroot, self.runroot))
        write_if_changed(self.crictl_config, render.crictl_yaml(self.socket))
        write_runtime_wrapper(self.wrapper, binaries["runc"])
        # before CRI-O's namespace is made: the kubelet's volumes must propagate into it
        self.kubelet_host.share_root(binaries)
        tools = self.tools(binaries)
        for built in [*images, node_image]:
            tools.load(imagebuild.BuiltImage(built.ref, built.path, built.image_id), say)
        self._start_crio(binaries, say)

    def _start_crio(self, binaries: dict[str, str], progress: Progress) -> None:
        flags = crio_argv(
            binaries, self.crio_dir, self.graphroot, self.runroot, self.socket, self.network.cni_dir, self.sandbox_image
        )
        argv = [binaries["unshare"], "--mount", "--propagation", "slave", "--", "/bin/sh", "-c", NAMESPACE_SCRIPT]
        argv += ["crio-ns", binaries["mount"], *flags]
        start_crio(self.crio, self.socket, binaries["crictl"], argv, progress, " (in a mount namespace of its own)")

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
        """The kubelet, its runtime and image endpoints on CRI-O's socket."""
        self.kubelet_host.start(binaries, self.socket, port, gateway, client_ca, cgroups_file, start, progress)

    def stop(self, progress: Progress) -> dict:
        """Its runtime's part of ``down`` (the kubelet is stopped first, by the cluster)."""
        say = prefixed(progress, self.name)
        result = teardown.down_result(self.directory)
        warnings: list[str] = result["warnings"]
        pid = self.crio.running_pid()
        if pid:
            try:
                tools = self.tools()
                pods = tools.crictl("pods", "-q").stdout.split()
                if pods:
                    say(f"crictl: removing {len(pods)} pod(s)")
                    tools.crictl("stopp", *pods, timeout=120, check=False)
                    tools.crictl("rmp", "-f", *pods, timeout=120)
                result["workloads"]["cri"] = len(pods)
            except ToolError as exc:
                warnings.append(f"{self.name}: CRI-O pods: {exc.message}")
        stop_crio(self.crio, pid, self.directory, result, say, "node")
        return result
