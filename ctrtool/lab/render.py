"""The lab's configuration files, as pure functions: paths and settings in, file text out.

Nothing here reads or writes a file or looks at the machine: the lab's parts write what these return
(with :func:`ctrtool.lab.common.write_if_changed`), and a new lab profile (CRI-O's) adds its renderer
here beside the others.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

from .common import CNI_BIN_DIR
from .profiles import DEFAULT_PROFILE, Profile

q = json.dumps  # TOML basic strings accept JSON string escapes

# ---- containerd --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerdPaths:
    """Where one lab containerd keeps everything (root, state, opt and runc's state under ``base``)."""

    base: pathlib.Path
    socket: pathlib.Path
    cni_dir: pathlib.Path
    shim_socket_dir: pathlib.Path
    registry_hosts_dir: pathlib.Path


Table = tuple[int, str, Sequence[tuple[str, str]]]  # (depth, name, [(key, TOML value)])


def _toml(tables: Sequence[Table]) -> list[str]:
    """Tables indented two spaces per depth, their keys two more."""
    lines: list[str] = []
    for depth, name, items in tables:
        lines.append("  " * depth + f"[{name}]")
        lines += ["  " * (depth + 1) + f"{key} = {value}" for key, value in items]
    return lines


def containerd_config(major: int, p: ContainerdPaths, sandbox_image: str) -> str:
    """config.toml of a lab containerd with the CRI plugin: config version 2 for containerd 1.x, 3 for
    2.x. 2.x splits the CRI plugin into images (snapshotter, pinned sandbox image) and runtime (CNI,
    runtimes), and is given no conf.d imports, no NRI socket and a private shim socket directory, so
    nothing lands in /etc, /run/containerd or /var/run/nri. Snapshotters that cannot work here still
    load (and fail) as on a stock node, so the recorded `ctr plugins ls -d` shows what ctrtool meets."""
    v2 = major >= 2
    disabled = ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
    disabled += ["io.containerd.nri.v1.nri"] if v2 else []
    head = [
        f"# written by ctrtool lab: an isolated containerd{' 2.x' if v2 else ''} with the CRI plugin",
        f"version = {3 if v2 else 2}",
        f"root = {q(str(p.base / 'root'))}",
        f"state = {q(str(p.base / 'state'))}",
        "oom_score = 0",
        *(["imports = []"] if v2 else []),
        f"disabled_plugins = [{', '.join(q(d) for d in disabled)}]",
        "",
        *_toml([(0, "grpc", [("address", q(str(p.socket)))])]),
        "",
        *_toml([(0, "debug", [("level", q("info"))])]),
        "",
        "[plugins]",
    ]
    plugin = (lambda name: f"plugins.'{name}'") if v2 else (lambda name: f'plugins."{name}"')
    opt = (1, plugin("io.containerd.internal.v1.opt"), [("path", q(str(p.base / "opt")))])
    sandbox_settings = [("restrict_oom_score_adj", "true"), ("netns_mounts_under_state_dir", "true")]
    stream = [
        ("disable_tcp_service", "true"),
        ("stream_server_address", q("127.0.0.1")),
        ("stream_server_port", q("0")),
    ]
    selinux = [("enable_selinux", "false")]
    runc = [("runtime_type", q("io.containerd.runc.v2"))]
    runc_options = [("Root", q(str(p.base / "runc"))), ("SystemdCgroup", "false")]
    cni = [("conf_dir", q(str(p.cni_dir))), ("max_conf_num", "1")]
    tables: list[Table]
    if v2:
        images, rt = plugin("io.containerd.cri.v1.images"), plugin("io.containerd.cri.v1.runtime")
        tables = [
            opt,
            (1, plugin("io.containerd.shim.v1.manager"), [("socket_dir", q(str(p.shim_socket_dir)))]),
            (1, images, [("snapshotter", q("overlayfs"))]),
            (1, f"{images}.pinned_images", [("sandbox", q(sandbox_image))]),
            (1, f"{images}.registry", [("config_path", q(str(p.registry_hosts_dir)))]),
            (1, rt, sandbox_settings + selinux),
            (1, f"{rt}.cni", [("bin_dirs", f"[{q(CNI_BIN_DIR)}]"), *cni]),
            (1, f"{rt}.containerd", [("default_runtime_name", q("runc"))]),
            (1, f"{rt}.containerd.runtimes.runc", runc),
            (1, f"{rt}.containerd.runtimes.runc.options", runc_options),
            (1, plugin("io.containerd.grpc.v1.cri"), stream),
        ]
    else:
        cri = plugin("io.containerd.grpc.v1.cri")
        tables = [
            opt,
            (1, cri, [("sandbox_image", q(sandbox_image)), *sandbox_settings, *stream, *selinux]),
            (2, f"{cri}.cni", [("bin_dir", q(CNI_BIN_DIR)), *cni]),
            (2, f"{cri}.containerd", [("snapshotter", q("overlayfs")), ("default_runtime_name", q("runc"))]),
            (3, f"{cri}.containerd.runtimes.runc", runc),
            (4, f"{cri}.containerd.runtimes.runc.options", runc_options),
        ]
    return "\n".join([*head, *_toml(tables), ""])


# ---- dockerd, crictl, CNI ----------------------------------------------------------------------


def daemon_json(profile: Profile, key_path: pathlib.Path) -> str:
    """dockerd's daemon.json (always passed with --config-file, so /etc/docker/daemon.json is not read)."""
    if profile.name == DEFAULT_PROFILE:
        # "deprecated-key-path" exists only as a daemon.json key in dockerd 20.10 (the CLI flag was
        # never exposed); without it dockerd writes its identity key to /etc/docker/key.json.
        return json.dumps({"deprecated-key-path": str(key_path)}, indent=2) + "\n"
    # dockerd 29 gives containers a time namespace, which Debian's runc 1.1 does not know; on
    # the overlay2 profile it keeps its own graph driver instead of containerd's image store
    features = {"time-namespaces": False, "containerd-snapshotter": profile.docker_store == "containerd"}
    # dockerd 20.10 speaks plain HTTP to registries on loopback by itself; 29 on containerd's image
    # store needs to be told (a registry on this machine is what tests pull from)
    return json.dumps({"features": features, "insecure-registries": ["127.0.0.0/8"]}, indent=2) + "\n"


def crictl_yaml(socket: pathlib.Path) -> str:
    endpoint = f"unix://{socket}"
    return (
        "# written by ctrtool lab\n"
        f"runtime-endpoint: {endpoint}\n"
        f"image-endpoint: {endpoint}\n"
        "timeout: 10\n"
        "debug: false\n"
        "pull-image-on-create: false\n"
    )


def cni_conflist(name: str, bridge: str, subnet: str, ipam_dir: pathlib.Path) -> str:
    """One bridge network with host-local IPAM; the bridge is the gateway (isGateway)."""
    conf = {
        "cniVersion": "0.4.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "loopback"},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


# ---- Kubernetes --------------------------------------------------------------------------------

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


def openssl_conf(sans: Sequence[str]) -> str:
    """openssl's config for the lab's CA and certificates, with the apiserver's subject alt names."""
    return OPENSSL_CONF + "\n".join(sans) + "\n"


def kubeconfig(pki: pathlib.Path, user: str, port: int) -> str:
    """A kubeconfig for ``user`` (its certificate and key in ``pki``) on the apiserver's ``port``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "ctrtool-lab",
                "cluster": {"server": f"https://127.0.0.1:{port}", "certificate-authority": str(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(pki / f"{user}.crt"), "client-key": str(pki / f"{user}.key")},
            }
        ],
        "contexts": [{"name": "ctrtool-lab", "context": {"cluster": "ctrtool-lab", "user": user}}],
        "current-context": "ctrtool-lab",
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(
    *, gateway: str, port: int, client_ca: pathlib.Path, socket: pathlib.Path, cgroup_root: str, host_dir: pathlib.Path
) -> str:
    """A node's KubeletConfiguration: serving on the gateway, its runtime the node's containerd."""
    endpoint = f"unix://{socket}"
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
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": endpoint,
        "imageServiceEndpoint": endpoint,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failCgroupV1": False,
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "protectKernelDefaults": False,
        "oomScoreAdj": 0,
        "hairpinMode": "none",
        "volumePluginDir": str(host_dir / "volume-plugins"),
        "podLogsDir": str(host_dir / "pod-logs"),
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


# ---- CRI-O and podman (the crio profile) -------------------------------------------------------


def storage_conf(graphroot: pathlib.Path, runroot: pathlib.Path) -> str:
    """A containers/storage storage.conf (``CONTAINERS_STORAGE_CONF``) naming one graph root."""
    return (
        "# written by ctrtool lab\n"
        "[storage]\n"
        'driver = "overlay"\n'
        f"graphroot = {q(str(graphroot))}\n"
        f"runroot = {q(str(runroot))}\n"
    )


def passwd_line(user: str, uid: int, home: pathlib.Path) -> str:
    """One passwd(5) line: the lab's fake user (``CTRTOOL_PASSWD_FILE``)."""
    return f"{user}:x:{uid}:{uid}:ctrtool lab fake user:{home}:/bin/sh\n"


def crio_pod_config(name: str, uid: str, cgroup_parent: str, log_dir: pathlib.Path, host_network: bool) -> str:
    """crictl runp's pod sandbox config."""
    conf: dict = {
        "metadata": {"name": name, "namespace": "default", "uid": uid, "attempt": 0},
        "log_directory": str(log_dir),
        "linux": {"cgroup_parent": cgroup_parent, "security_context": {"namespace_options": {"network": 0}}},
    }
    if host_network:
        conf["linux"]["security_context"]["namespace_options"]["network"] = 2  # NODE
    return json.dumps(conf, indent=2) + "\n"


def crio_container_config(name: str, image: str, command: Sequence[str]) -> str:
    """crictl create's container config."""
    conf = {
        "metadata": {"name": name, "attempt": 0},
        "image": {"image": image},
        "command": list(command),
        "log_path": f"{name}.log",
        "linux": {},
    }
    return json.dumps(conf, indent=2) + "\n"
