"""The ``kube`` lab profile: a real Kubernetes cluster (v1.37.2) of N nodes on this one machine.

Layout of the lab directory DIR (default /var/tmp/ctrtool-lab-kube)::

    DIR/kubeconfig                 the admin's kubeconfig (``ctrtool lab env`` exports KUBECONFIG)
    DIR/kube/pki/                  openssl CA, front-proxy CA, serving and client certificates, SA keys
    DIR/kube/ports.json, nodes     the ports chosen on the first up, and the number of nodes
    DIR/kube/etcd/data, etcd.pid, etcd.log            etcd on 127.0.0.1
    DIR/kube/kube-apiserver.pid, .log (and the controller-manager's and scheduler's)
    DIR/kube/audit-policy.yaml, audit.log   the apiserver's audit log of the admin's requests
    DIR/kube/kubectl-cache         KUBECACHEDIR: kubectl's discovery and HTTP cache
    DIR/cni/                       one CNI network for every node: one bridge, its gateway is the node IP
    DIR/images/                    the demo image and the sandbox image (registry.k8s.io/pause:3.10.2)
    DIR/nodes/node-K/containerd/   node K's containerd 2.4.2 (a lab of its own: see ctrtool.lab.daemons)
    DIR/nodes/node-K/kubelet/      its kubelet's --root-dir (a shared bind mount onto itself)
    DIR/nodes/node-K/kubelet.json, kubelet.kubeconfig, kubelet.pid, kubelet.log
    DIR/nodes/node-K/host/         what the kubelet sees as /var/lib and /var/log (overlay upper dirs),
                                   the sysctl files it finds set, its volume plugin and pod log dirs

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

import dataclasses
import json
import os
import pathlib
import secrets
import socket
import time
from collections.abc import Callable

from .. import imagebuild as image_mod
from .. import runner
from . import profiles as profiles_mod
from .common import CNI_BIN_DIR, CNI_PLUGINS, DEMO_IMAGE, LabError, find_binary, missing_binary_error
from .daemons import Lab, _Daemon, require_root

Progress = Callable[[str], None]

KUBE_PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"  # containerd 2.4's own default sandbox image
DEFAULT_NODES = 2
MAX_NODES = 16
SERVICE_CIDR = "10.96.0.0/24"
SERVICE_IP = "10.96.0.1"
READY_TIMEOUT = 180.0
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
KUBE_BINARIES = ("runc", "busybox", "mount", "umount", "unshare", "openssl", "ip", "docker")
OPENSSL_CONF = """# written by ctrtool lab
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = @alt
[alt]
"""

ADMIN_USER = "ctrtool-lab-admin"
AUDIT_POLICY = f"""# written by ctrtool lab: the admin's requests only (metadata: who, verb, resource, when)
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: ["{ADMIN_USER}"]
  - level: None
"""

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


def _noop(_: str) -> None:
    pass


def _prefixed(progress: Progress, prefix: str) -> Progress:
    return lambda message: progress(f"{prefix}: {message}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_mount_point(path: pathlib.Path) -> bool:
    target = str(path)
    try:
        lines = pathlib.Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    return any(len(f := line.split(" ")) > 4 and Lab._unescape(f[4]) == target for line in lines)


def _hierarchies() -> list[pathlib.Path]:
    """The cgroup hierarchies' root directories: /sys/fs/cgroup itself on cgroup v2, else every
    hierarchy mounted under it (cgroup v1, and the hybrid layout's "unified")."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    try:
        entries = sorted(CGROUP_FS.iterdir())
    except OSError:
        return []
    return [h for h in entries if h.is_dir() and not h.is_symlink() and _is_mount_point(h)]


class NodeRuntime(Lab):
    """One node's containerd and dockerd: a lab of its own under DIR/nodes/NAME. Its dockerd (29)
    runs on the node's containerd with containerd's image store (namespace ``moby``), as Docker 29
    installs on a node that also runs a kubelet; it shares the cluster's CNI network and uses
    containerd 2.4's stock sandbox image name."""

    sandbox_image = KUBE_PAUSE_IMAGE

    def __init__(self, cluster: KubeLab, name: str):
        super().__init__(cluster.directory / "nodes" / name, cluster.profile.name)
        self.cluster = cluster
        self.name = name
        self.cni_dir = cluster.cni_dir
        self.cni_conflist = cluster.cni_conflist
        self.bridge = cluster.bridge
        self.network_name = cluster.network_name
        self.containerd = dataclasses.replace(self.containerd, name=f"{name}/containerd")
        self.dockerd = dataclasses.replace(self.dockerd, name=f"{name}/dockerd")
        d = self.directory
        self.kubelet_root = d / "kubelet"
        self.kubelet_config = d / "kubelet.json"
        self.kubelet_kubeconfig = d / "kubelet.kubeconfig"
        self.host_dir = d / "host"
        self.kubelet = _Daemon(
            f"{name}/kubelet",
            "kubelet",
            "--config",
            str(self.kubelet_config),
            d / "kubelet.pid",
            self.kubelet_root,
            d / "kubelet.log",
        )

    @property
    def cgroup_root(self) -> str:
        return f"/ctrtool-{self.cluster._hash[:6]}-{self.name}"

    def start_containerd(self, binaries: dict[str, str], progress: Progress) -> None:
        for sub in (self.containerd_dir, self.containerd_dir / "runc"):
            sub.mkdir(parents=True, exist_ok=True)
        self.shim_socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._write_if_changed(self.containerd_config, self._containerd_config_text()) and (
            self.containerd.running_pid()
        ):
            progress(f"{self.name}: containerd's configuration changed while it runs; `lab down` then `lab up`")
        self._write_if_changed(self.crictl_config, self._crictl_yaml())
        self._ensure_containerd(binaries, _prefixed(progress, self.name))

    def start_dockerd(self, binaries: dict[str, str], progress: Progress) -> None:
        self.docker_dir.mkdir(parents=True, exist_ok=True)
        if self._write_if_changed(self.docker_config, self._daemon_json()) and self.dockerd.running_pid():
            progress(f"{self.name}: dockerd's configuration changed while it runs; `lab down` then `lab up`")
        self._ensure_dockerd(binaries, _prefixed(progress, self.name))

    def import_images(self, binaries: dict[str, str], images: list[image_mod.BuiltImage], progress: Progress) -> None:
        """The demo and sandbox images into k8s.io, unless that namespace already has them."""
        present = self._ctr_image_digests(binaries, "k8s.io")
        for built in images:
            if built.ref in present:
                continue
            progress(f"{self.name}: ctr -n k8s.io: importing {built.ref}")
            self._ctr(binaries, "images", "import", str(built.path), namespace="k8s.io", timeout=120)

    def import_node_image(self, binaries: dict[str, str], built, progress: Progress) -> None:
        """ctrtool's node image into k8s.io, every time (its content follows ctrtool's code)."""
        progress(f"{self.name}: ctr -n k8s.io: importing {built.ref}")
        self._ctr(binaries, "images", "import", str(built.path), namespace="k8s.io", timeout=120)


class KubeLab(Lab):
    """A Kubernetes lab directory: etcd, the control plane and N nodes (see the module's docstring)."""

    def __init__(
        self, directory: pathlib.Path | str | None = None, profile: str | None = None, nodes: int | None = None
    ):
        super().__init__(directory, profile or "kube")
        if not self.profile.kubernetes:
            raise LabError(f"lab profile {self.profile.name} is not a Kubernetes profile")
        d = self.directory
        self.kube_dir = d / "kube"
        self.pki = self.kube_dir / "pki"
        self.kubeconfig = d / "kubeconfig"
        self.kubectl_cache = self.kube_dir / "kubectl-cache"
        self.ports_file = self.kube_dir / "ports.json"
        self.nodes_file = self.kube_dir / "nodes"
        self.cgroups_file = self.kube_dir / "cgroups.json"
        self.audit_policy = self.kube_dir / "audit-policy.yaml"
        self.audit_log = self.kube_dir / "audit.log"
        recorded = self._recorded_nodes()
        if nodes is not None and not 1 <= nodes <= MAX_NODES:
            raise LabError(f"--nodes {nodes}: a kube lab has 1 to {MAX_NODES} nodes", "e.g. --nodes 2")
        if nodes is not None and recorded is not None and nodes != recorded:
            raise LabError(
                f"{d} holds a lab of {recorded} node(s), not {nodes}",
                f"`ctrtool lab down --purge --dir {d}` first, or leave --nodes out",
            )
        self.node_count = nodes or recorded or DEFAULT_NODES
        self.nodes = [NodeRuntime(self, f"node-{k}") for k in range(1, self.node_count + 1)]

        def daemon(name: str, flag: str, value: pathlib.Path, endpoint: str = "") -> _Daemon:
            return _Daemon(
                name,
                name,
                flag,
                str(value),
                self.kube_dir / f"{name}.pid",
                pathlib.Path(endpoint or name),
                self.kube_dir / f"{name}.log",
            )

        self.etcd = daemon("etcd", "--data-dir", self.kube_dir / "etcd" / "data")
        self.apiserver = daemon("kube-apiserver", "--tls-cert-file", self.pki / "apiserver.crt")
        self.controller_manager = daemon(
            "kube-controller-manager", "--kubeconfig", self.kube_dir / "controller-manager.kubeconfig"
        )
        self.scheduler = daemon("kube-scheduler", "--kubeconfig", self.kube_dir / "scheduler.kubeconfig")
        self.control_plane = [self.etcd, self.apiserver, self.controller_manager, self.scheduler]
        self._kubelets_started: dict[str, float] = {}  # node -> when this up started its kubelet

    def __repr__(self) -> str:
        return f"KubeLab({str(self.directory)!r}, nodes={self.node_count})"

    def _recorded_nodes(self) -> int | None:
        try:
            text = self.nodes_file.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def _ports(self) -> dict[str, int]:
        try:
            data = json.loads(self.ports_file.read_text())
            return {k: int(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def gateway(self) -> str | None:
        """The CNI bridge's gateway address: every node's IP."""
        subnet = self._current_subnet()
        if not subnet:
            return None
        return subnet.rsplit(".", 1)[0] + ".1"

    def tool_path(self) -> list[str]:
        built = profiles_mod.built_binaries(self.profile) or {}
        return [os.path.dirname(built[c]) for c in ("kubectl", "ctr") if c in built]

    def _daemons(self) -> list[_Daemon]:
        out = list(self.control_plane)
        for node in self.nodes:
            out += [node.containerd, node.dockerd, node.kubelet]
        return out

    # ---- public API -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {"CTRTOOL_LAB_DIR": str(self.directory)}
        path = self.tool_path()
        if path:
            env["PATH"] = os.pathsep.join([*path, os.environ.get("PATH", os.defpath)])
        return env | {"KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.kubectl_cache)}

    def status(self) -> dict:
        ports = self._ports()
        endpoints = {
            "etcd": f"http://127.0.0.1:{ports['etcd']}" if "etcd" in ports else None,
            "kube-apiserver": f"https://127.0.0.1:{ports['apiserver']}" if "apiserver" in ports else None,
            "kube-controller-manager": f"https://127.0.0.1:{ports['controller-manager']}"
            if "controller-manager" in ports
            else None,
            "kube-scheduler": f"https://127.0.0.1:{ports['scheduler']}" if "scheduler" in ports else None,
        }
        gateway = self.gateway()
        for node in self.nodes:
            endpoints[node.containerd.name] = str(node.containerd_socket)
            endpoints[node.dockerd.name] = f"unix://{node.docker_socket}"
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
            "profile_summary": self.profile.summary,
            "exists": self.directory.is_dir(),
            "daemons": daemons,
            "nodes": [
                {
                    "name": n.name,
                    "ip": gateway,
                    "kubelet_port": ports.get(f"kubelet-{n.name}"),
                    "cgroup_root": n.cgroup_root,
                }
                for n in self.nodes
            ],
            "network": {
                "name": self.network_name,
                "bridge": self.bridge,
                "subnet": self._current_subnet(),
                "gateway": gateway,
                "conflist": str(self.cni_conflist),
            },
            "kubeconfig": str(self.kubeconfig),
            "env": self.env(),
        }

    def up(self, progress: Progress = _noop) -> dict:
        require_root()
        for name in KUBE_BINARIES:
            if not find_binary(name):
                raise missing_binary_error(name)
        for plugin in CNI_PLUGINS:
            if not os.access(os.path.join(CNI_BIN_DIR, plugin), os.X_OK):
                raise missing_binary_error("cni:" + plugin)
        if self.recorded_profile and self.recorded_profile != self.profile.name:
            raise LabError(
                f"{self.directory} holds a lab of profile {self.recorded_profile}, not {self.profile.name}",
                f"use another directory (--dir), or `ctrtool lab down --purge --dir {self.directory}` first",
            )
        if profiles_mod.built_binaries(self.profile) is None and not profiles_mod.find_go():
            raise LabError(
                "lab profile kube builds Kubernetes, etcd and containerd with Go, and go is not installed",
                "install Go (https://go.dev/dl/)",
            )
        binaries = profiles_mod.ensure_built(self.profile, progress)
        binaries |= {name: find_binary(name) or name for name in KUBE_BINARIES}
        self._check_path_lengths()
        self._claim_directory()
        with self._lock():
            if self.recorded_profile is None:
                self._write_if_changed(self.profile_file, self.profile.name + "\n")
                self.recorded_profile = self.profile.name
            return self._up_cluster(binaries, progress)

    def down_actions(self, purge: bool) -> list[list[str]]:
        self.require_lab_directory()
        actions: list[list[str]] = []
        for d in reversed(self._daemons()):
            pid = d.running_pid()
            if pid:
                actions.append(["kill", "-TERM", str(pid)])
        for node in self.nodes:
            actions += [["kill", "-KILL", str(pid)] for pid in node._lab_shims()]
        actions += [["umount", point] for point in self._mounts_under()]
        actions += [["rmdir", str(p)] for p in self._cgroup_dirs()]
        if purge and self.directory.exists():
            actions.append(["rm", "-rf", str(self.directory)])
            if pathlib.Path(f"/sys/class/net/{self.bridge}").exists():
                actions.append(["ip", "link", "delete", self.bridge, "type", "bridge"])
        return actions

    # ---- up ----------------------------------------------------------------------------------

    def _check_path_lengths(self) -> None:
        for node in self.nodes:
            node._check_path_lengths()

    def _up_cluster(self, binaries: dict[str, str], progress: Progress) -> dict:
        started = time.monotonic()
        for sub in (self.kube_dir, self.pki, self.kube_dir / "etcd", self.cni_dir / "ipam", self.images_dir):
            sub.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o711)
        os.chmod(self.kube_dir, 0o700)
        self._write_if_changed(self.nodes_file, f"{self.node_count}\n")
        ports = self._ports()
        for key in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler") + tuple(
            f"kubelet-{n.name}" for n in self.nodes
        ):
            if key not in ports:
                ports[key] = _free_port()
        self._write_if_changed(self.ports_file, json.dumps(ports, indent=2, sort_keys=True) + "\n")
        self._write_cni_conflist()
        gateway = self.gateway()
        if gateway is None:
            raise LabError(
                f"cannot read the lab's CNI subnet from {self.cni_conflist}", "`ctrtool lab down --purge` first"
            )
        self._ensure_bridge(gateway, progress)
        self._ensure_pki(binaries["openssl"], gateway, progress)
        self._write_kubeconfigs(ports)

        self._start_etcd(binaries, ports, progress)
        self._start_apiserver(binaries, ports, gateway, progress)
        self._start_controller_manager(binaries, ports, progress)
        self._start_scheduler(binaries, ports, progress)

        built = image_mod.build_images(self.images_dir, busybox=binaries["busybox"])
        images = [
            built[DEMO_IMAGE],
            image_mod.build_sandbox_image(self.images_dir, KUBE_PAUSE_IMAGE, "sandbox.tar", binaries["busybox"]),
        ]
        node_image = self._build_node_image(progress)
        for node in self.nodes:
            node.start_containerd(binaries, progress)
            node.start_dockerd(binaries, progress)
            node.import_images(binaries, images, progress)
            node.import_node_image(binaries, node_image, progress)
            self._start_kubelet(node, binaries, ports, gateway, progress)
        self._wait_cluster_ready(progress)
        progress(f"lab up in {time.monotonic() - started:.1f}s: {self.directory}")
        return self.status()

    def _build_node_image(self, progress: Progress):
        """ctrtool's node image (``ctrtool nodes``), built from this ctrtool on every up: the lab has
        no registry, so every node gets it the way an air-gapped cluster would, by import."""
        from ..fleet import nodeimage

        progress(f"packing ctrtool's node image {nodeimage.NODE_IMAGE}")
        return nodeimage.build(self.images_dir / "ctrtool-node.tar", nodeimage.NODE_IMAGE)

    def _ensure_bridge(self, gateway: str, progress: Progress) -> None:
        """The CNI bridge exists, is up and holds the gateway address before any kubelet starts
        (the bridge plugin would add them only with the first pod)."""
        ip = find_binary("ip") or "ip"
        if not pathlib.Path(f"/sys/class/net/{self.bridge}").exists():
            progress(f"creating bridge {self.bridge} ({gateway})")
            runner.run([ip, "link", "add", self.bridge, "type", "bridge"], timeout=15)
        prefix = (self._current_subnet() or "/24").rsplit("/", 1)[1]
        shown = runner.run([ip, "-o", "-4", "addr", "show", "dev", self.bridge], timeout=15).stdout
        if f" {gateway}/" not in shown:
            runner.run([ip, "addr", "add", f"{gateway}/{prefix}", "dev", self.bridge], timeout=15)
        runner.run([ip, "link", "set", self.bridge, "up"], timeout=15)

    # ---- certificates and kubeconfigs ---------------------------------------------------------

    def _ensure_pki(self, openssl: str, gateway: str, progress: Progress) -> None:
        p = self.pki
        if (p / "done").exists():
            return
        progress(f"writing certificates with openssl into {p}")
        sans = ["IP.1 = 127.0.0.1", f"IP.2 = {gateway}", f"IP.3 = {SERVICE_IP}", "DNS.1 = localhost"]
        sans += [
            f"DNS.{i} = {name}"
            for i, name in enumerate(
                ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
                start=2,
            )
        ]
        conf = p / "openssl.cnf"
        conf.write_text(OPENSSL_CONF + "\n".join(sans) + "\n")

        def run(*args: str) -> None:
            runner.run([openssl, *args], timeout=60)

        def key(name: str) -> str:
            path = str(p / f"{name}.key")
            run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
            os.chmod(path, 0o600)
            return path

        def ca(name: str, cn: str) -> None:
            run(
                "req",
                "-x509",
                "-new",
                "-config",
                str(conf),
                "-extensions",
                "ca",
                "-key",
                key(name),
                "-subj",
                f"/CN={cn}",
                "-days",
                "3650",
                "-sha256",
                "-out",
                str(p / f"{name}.crt"),
            )

        def cert(name: str, subject: str, kind: str, signer: str = "ca") -> None:
            csr = str(p / f"{name}.csr")
            run("req", "-new", "-config", str(conf), "-key", key(name), "-subj", subject, "-out", csr)
            run(
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                str(p / f"{signer}.crt"),
                "-CAkey",
                str(p / f"{signer}.key"),
                "-set_serial",
                "0x" + secrets.token_hex(8),
                "-days",
                "3650",
                "-sha256",
                "-extfile",
                str(conf),
                "-extensions",
                kind,
                "-out",
                str(p / f"{name}.crt"),
            )
            os.unlink(csr)

        ca("ca", "ctrtool-lab-ca")
        ca("front-proxy-ca", "ctrtool-lab-front-proxy-ca")
        cert("apiserver", "/CN=kube-apiserver", "server")
        cert("admin", f"/O=system:masters/CN={ADMIN_USER}", "client")
        cert("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "client")
        cert("controller-manager", "/CN=system:kube-controller-manager", "client")
        cert("scheduler", "/CN=system:kube-scheduler", "client")
        cert("front-proxy-client", "/CN=front-proxy-client", "client", signer="front-proxy-ca")
        for node in self.nodes:
            cert(f"node-{node.name}", f"/O=system:nodes/CN=system:node:{node.name}", "client")
        run("pkey", "-in", key("sa"), "-pubout", "-out", str(p / "sa.pub"))
        (p / "done").write_text("certificates complete\n")

    def _kubeconfig_text(self, user: str, port: int) -> str:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "ctrtool-lab",
                    "cluster": {
                        "server": f"https://127.0.0.1:{port}",
                        "certificate-authority": str(self.pki / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate": str(self.pki / f"{user}.crt"),
                        "client-key": str(self.pki / f"{user}.key"),
                    },
                }
            ],
            "contexts": [{"name": "ctrtool-lab", "context": {"cluster": "ctrtool-lab", "user": user}}],
            "current-context": "ctrtool-lab",
        }
        return json.dumps(config, indent=2) + "\n"

    def _write_kubeconfigs(self, ports: dict[str, int]) -> None:
        port = ports["apiserver"]
        self._write_if_changed(self.kubeconfig, self._kubeconfig_text("admin", port))
        os.chmod(self.kubeconfig, 0o600)
        for name in ("controller-manager", "scheduler"):
            self._write_if_changed(self.kube_dir / f"{name}.kubeconfig", self._kubeconfig_text(name, port))
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            self._write_if_changed(node.kubelet_kubeconfig, self._kubeconfig_text(f"node-{node.name}", port))

    # ---- daemons ------------------------------------------------------------------------------

    def _api(self, path: str, timeout: float = 5.0) -> dict | None:
        """GET on the apiserver as the lab's admin: the JSON, or None when it does not answer 200."""
        import ssl
        import urllib.error
        import urllib.request

        port = self._ports().get("apiserver")
        if not port:
            return None
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", timeout=timeout, context=context) as r:
                body = r.read()
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return None
        try:
            value = json.loads(body)
        except ValueError:
            return {"text": body.decode(errors="replace")}
        return value if isinstance(value, dict) else None

    @staticmethod
    def _http_ok(url: str) -> bool:
        import ssl
        import urllib.error
        import urllib.request

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url, timeout=3, context=context) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    def _start(self, daemon: _Daemon, argv: list[str], probe: Callable[[], bool], progress: Progress) -> None:
        pid = daemon.running_pid()
        if pid:
            if daemon.recorded_pid() != pid:
                daemon.pidfile.write_text(f"{pid}\n")
            progress(f"{daemon.name} already running (pid {pid})")
            return
        if daemon.recorded_pid() is not None:
            progress(f"{daemon.name}: removing the stale pid file {daemon.pidfile}")
            self._remove_stale(daemon.pidfile)
        progress(f"starting {daemon.name}")
        proc = self._spawn(argv, daemon.log)
        daemon.pidfile.write_text(f"{proc.pid}\n")
        t0 = time.monotonic()
        deadline = t0 + 60.0
        delay = 0.1
        while not probe():
            if proc.poll() is not None:
                raise LabError(
                    f"{daemon.name} exited with code {proc.returncode} while starting: {self._log_tail(daemon.log)}",
                    f"see the full log in {daemon.log}",
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"{daemon.name} did not become ready within 60s: {self._log_tail(daemon.log)}",
                    f"see the full log in {daemon.log}; `ctrtool lab down` stops it",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        progress(f"{daemon.name} up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")

    def _start_etcd(self, binaries: dict[str, str], ports: dict[str, int], progress: Progress) -> None:
        client, peer = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['etcd-peer']}"
        argv = [
            binaries["etcd"],
            "--name",
            "ctrtool-lab",
            "--data-dir",
            self.etcd.value,
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"ctrtool-lab={peer}",
            "--log-level",
            "warn",
        ]
        self._start(self.etcd, argv, lambda: self._http_ok(f"{client}/health"), progress)

    def _start_apiserver(
        self, binaries: dict[str, str], ports: dict[str, int], gateway: str, progress: Progress
    ) -> None:
        p = self.pki
        argv = [
            binaries["kube-apiserver"],
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            f"--advertise-address={gateway}",
            f"--secure-port={ports['apiserver']}",
            f"--cert-dir={self.kube_dir / 'apiserver-certs'}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
            "--profiling=false",
            # every request the lab's admin makes (kubectl, ctrtool nodes), for the benchmarks'
            # count of API calls (benchmarks/nodes_cost.py); the components' requests are not kept
            f"--audit-policy-file={self.audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-maxsize=50",
            "--audit-log-maxbackup=1",
        ]
        self._write_if_changed(self.audit_policy, AUDIT_POLICY)
        self._start(self.apiserver, argv, lambda: (self._api("/readyz") or {}).get("text") == "ok", progress)

    def _component_argv(self, binary: str, name: str, port: int) -> list[str]:
        kubeconfig = str(self.kube_dir / f"{name}.kubeconfig")
        return [
            binary,
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--leader-elect=false",
            "--profiling=false",
            f"--cert-dir={self.kube_dir / (name + '-certs')}",
        ]

    def _start_controller_manager(self, binaries: dict[str, str], ports: dict[str, int], progress: Progress) -> None:
        p = self.pki
        port = ports["controller-manager"]
        argv = self._component_argv(binaries["kube-controller-manager"], "controller-manager", port)
        argv += [
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # a stopped kubelet shows as NotReady after 16 s, not 50 (the kubelets renew their
            # lease every 4 s: nodeLeaseDurationSeconds 16)
            "--node-monitor-grace-period=16s",
            # default /usr/libexec/kubernetes/kubelet-plugins/volume/exec, which it creates
            f"--flex-volume-plugin-dir={self.kube_dir / 'volume-plugins'}",
        ]
        daemon = self.controller_manager
        self._start(daemon, argv, lambda: self._http_ok(f"https://127.0.0.1:{port}/healthz"), progress)

    def _start_scheduler(self, binaries: dict[str, str], ports: dict[str, int], progress: Progress) -> None:
        port = ports["scheduler"]
        argv = self._component_argv(binaries["kube-scheduler"], "scheduler", port)
        self._start(self.scheduler, argv, lambda: self._http_ok(f"https://127.0.0.1:{port}/healthz"), progress)

    def _kubelet_config(self, node: NodeRuntime, port: int, gateway: str) -> str:
        endpoint = f"unix://{node.containerd_socket}"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": gateway,
            "port": port,
            "readOnlyPort": 0,
            "healthzPort": 0,
            "enableServer": True,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": endpoint,
            "imageServiceEndpoint": endpoint,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": node.cgroup_root,
            "failCgroupV1": False,
            "failSwapOn": False,
            "makeIPTablesUtilChains": False,
            "protectKernelDefaults": False,
            "oomScoreAdj": 0,
            "hairpinMode": "none",
            "volumePluginDir": str(node.host_dir / "volume-plugins"),
            "podLogsDir": str(node.host_dir / "pod-logs"),
            "clusterDomain": "cluster.local",
            "resolvConf": "",
            "maxPods": 30,
            # the lab's images cannot be pulled again: never collect them, never evict for disk
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "registerNode": True,
            "nodeLeaseDurationSeconds": 16,
            "nodeStatusUpdateFrequency": "4s",
            "logging": {"format": "text"},
        }
        return json.dumps(config, indent=2) + "\n"

    def _prepare_node_host(self, node: NodeRuntime, binaries: dict[str, str]) -> None:
        """Everything the kubelet's namespace script expects: sysctl files, overlay dirs, its own
        cgroup root in every hierarchy, and its root dir as a shared bind mount."""
        host = node.host_dir
        sysctl = host / "sysctl"
        for sub in (sysctl, host / "volume-plugins", host / "pod-logs", node.kubelet_root):
            sub.mkdir(parents=True, exist_ok=True)
        for d in ("lib", "log"):
            for part in ("upper", "work"):
                (host / f"var-{d}" / part).mkdir(parents=True, exist_ok=True)
        for name, value in SYSCTLS.items():
            if pathlib.Path("/proc/sys", name).exists():
                self._write_if_changed(sysctl / name.replace("/", "."), value + "\n")
        created = set(self._recorded_cgroups())
        for hierarchy in _hierarchies():
            target = hierarchy / node.cgroup_root.lstrip("/")
            if not target.exists():
                target.mkdir()
                created.add(str(target))
            if hierarchy.name == "cpuset":  # a v1 cpuset cgroup starts empty: no task could join it
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not (target / f).read_text().strip():
                        (target / f).write_text((hierarchy / f).read_text())
        self._write_if_changed(self.cgroups_file, json.dumps(sorted(created), indent=2) + "\n")
        if not _is_mount_point(node.kubelet_root):
            runner.run([binaries["mount"], "--bind", str(node.kubelet_root), str(node.kubelet_root)], timeout=15)
        runner.run([binaries["mount"], "--make-shared", str(node.kubelet_root)], timeout=15)

    def _start_kubelet(
        self, node: NodeRuntime, binaries: dict[str, str], ports: dict[str, int], gateway: str, progress: Progress
    ) -> None:
        port = ports[f"kubelet-{node.name}"]
        self._write_if_changed(node.kubelet_config, self._kubelet_config(node, port, gateway))
        if node.kubelet.running_pid():
            progress(f"{node.kubelet.name} already running (pid {node.kubelet.running_pid()})")
            return
        self._prepare_node_host(node, binaries)
        argv = [
            binaries["unshare"],
            "--mount",
            "--propagation",
            "unchanged",
            "--",
            "/bin/sh",
            "-c",
            NAMESPACE_SCRIPT,
            "kubelet-ns",
            str(node.kubelet_root),
            str(node.directory),
            binaries["kubelet"],
            "--config",
            str(node.kubelet_config),
            "--kubeconfig",
            str(node.kubelet_kubeconfig),
            "--root-dir",
            str(node.kubelet_root),
            "--hostname-override",
            node.name,
            "--node-ip",
            gateway,
        ]
        self._kubelets_started[node.name] = time.time()
        self._start(node.kubelet, argv, lambda: node.kubelet.running_pid() is not None, progress)

    def _wait_cluster_ready(self, progress: Progress) -> None:
        """Every node Ready, and namespace default's service account made (pods need it)."""
        t0 = time.monotonic()
        deadline = t0 + READY_TIMEOUT
        names = {n.name for n in self.nodes}
        while True:
            ready = self.ready_nodes(self._kubelets_started)
            account = self._api("/api/v1/namespaces/default/serviceaccounts/default") is not None
            if names <= ready and account:
                progress(f"{len(names)} node(s) Ready ({time.monotonic() - t0:.1f}s)")
                return
            for node in self.nodes:
                if not node.kubelet.running_pid():
                    raise LabError(
                        f"{node.kubelet.name} exited while starting: {self._log_tail(node.kubelet.log)}",
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

    def ready_nodes(self, since: dict[str, float] | None = None) -> set[str]:
        """Names of the nodes whose Ready condition is True; for a node in ``since`` (its kubelet
        started at that time) only once its kubelet has reported after that: a restarted kubelet's
        node still shows the Ready of the kubelet before it for a while."""
        import calendar

        nodes = self._api("/api/v1/nodes") or {}
        ready = set()
        for item in nodes.get("items") or []:
            name = str((item.get("metadata") or {}).get("name"))
            for cond in (item.get("status") or {}).get("conditions") or []:
                if cond.get("type") != "Ready" or cond.get("status") != "True":
                    continue
                if since and name in since:
                    try:
                        beat = calendar.timegm(time.strptime(str(cond.get("lastHeartbeatTime")), "%Y-%m-%dT%H:%M:%SZ"))
                    except ValueError:
                        continue
                    if beat < int(since[name]):
                        continue
                ready.add(name)
        return ready

    # ---- down --------------------------------------------------------------------------------

    def _recorded_cgroups(self) -> list[str]:
        try:
            value = json.loads(self.cgroups_file.read_text())
        except (OSError, ValueError):
            return []
        return [str(v) for v in value] if isinstance(value, list) else []

    def _cgroup_dirs(self) -> list[pathlib.Path]:
        """This lab's cgroup roots that exist: the recorded ones, and any ``/ctrtool-HASH-*``."""
        found = {pathlib.Path(p) for p in self._recorded_cgroups()}
        prefix = f"ctrtool-{self._hash[:6]}-"
        for hierarchy in _hierarchies():
            try:
                found.update(e for e in hierarchy.iterdir() if e.is_dir() and e.name.startswith(prefix))
            except OSError:
                continue
        return sorted(p for p in found if p.is_dir())

    def _remove_cgroups(self, warnings: list[str]) -> list[str]:
        removed = []
        for top in self._cgroup_dirs():
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

    def _down(self, purge: bool, progress: Progress) -> dict:
        result = self._down_result()
        warnings: list[str] = result["warnings"]

        def stop(daemon: _Daemon) -> None:
            if self._stop_daemon(daemon, daemon.running_pid(), result, progress):
                self._remove_stale(daemon.pidfile)

        for node in self.nodes:  # first: a running kubelet would start its pods again
            stop(node.kubelet)
        for node in self.nodes:
            if node.directory.is_dir():
                sub = node._down(False, _prefixed(progress, node.name))
                for key in ("stopped", "shims", "unmounted", "removed", "warnings"):
                    result[key] += sub[key]
                if sub["workloads"]:
                    result["workloads"][node.name] = sub["workloads"]
        for daemon in reversed(self.control_plane):
            stop(daemon)
        result["unmounted"] += self._unmount_all(warnings, progress)
        result["removed"] += self._remove_cgroups(warnings)
        if purge and self.directory.exists():
            self._purge(result, progress, self.nodes)
        if purge and self._delete_bridge(warnings):
            result["removed"].append(f"bridge {self.bridge}")
        return result


def kubectl(lab: KubeLab, *args: str, timeout: float = 60, check: bool = True) -> runner.Result:
    """kubectl (the lab's build) with the lab's kubeconfig and cache dir."""
    built = profiles_mod.built_binaries(lab.profile) or {}
    argv = [built.get("kubectl", "kubectl"), "--kubeconfig", str(lab.kubeconfig), "--cache-dir", str(lab.kubectl_cache)]
    return runner.run([*argv, *args], timeout=timeout, check=check)
