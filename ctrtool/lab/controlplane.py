"""The kube lab's control plane: its certificates (openssl), kubeconfigs, etcd, kube-apiserver,
kube-controller-manager and kube-scheduler on 127.0.0.1, each started by the supervisor with its pid
file and log in DIR/kube, and the apiserver's view of the nodes."""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import time
from collections.abc import Callable, Sequence

from .. import runner
from . import render, supervisor
from .common import Progress, write_if_changed
from .supervisor import Daemon

SERVICE_CIDR = "10.96.0.0/24"
SERVICE_IP = "10.96.0.1"


class ControlPlane:
    def __init__(self, kube_dir: pathlib.Path, kubeconfig: pathlib.Path, path_first: Sequence[str] = ()):
        self.kube_dir = kube_dir
        self.pki = kube_dir / "pki"
        self.kubeconfig = kubeconfig
        self.ports_file = kube_dir / "ports.json"
        self.audit_policy = kube_dir / "audit-policy.yaml"
        self.audit_log = kube_dir / "audit.log"
        self.path_first = list(path_first)

        def daemon(name: str, flag: str, value: pathlib.Path) -> Daemon:
            pid, log = kube_dir / f"{name}.pid", kube_dir / f"{name}.log"
            return Daemon(name, name, flag, str(value), pid, pathlib.Path(name), log)

        self.etcd = daemon("etcd", "--data-dir", kube_dir / "etcd" / "data")
        self.apiserver = daemon("kube-apiserver", "--tls-cert-file", self.pki / "apiserver.crt")
        self.controller_manager = daemon(
            "kube-controller-manager", "--kubeconfig", kube_dir / "controller-manager.kubeconfig"
        )
        self.scheduler = daemon("kube-scheduler", "--kubeconfig", kube_dir / "scheduler.kubeconfig")
        self.daemons = [self.etcd, self.apiserver, self.controller_manager, self.scheduler]

    def ports(self) -> dict[str, int]:
        try:
            data = json.loads(self.ports_file.read_text())
            return {k: int(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def endpoints(self) -> dict[str, str | None]:
        ports = self.ports()

        def url(scheme: str, key: str) -> str | None:
            return f"{scheme}://127.0.0.1:{ports[key]}" if key in ports else None

        return {
            "etcd": url("http", "etcd"),
            "kube-apiserver": url("https", "apiserver"),
            "kube-controller-manager": url("https", "controller-manager"),
            "kube-scheduler": url("https", "scheduler"),
        }

    # ---- certificates and kubeconfigs ---------------------------------------------------------

    def ensure_pki(self, openssl: str, gateway: str, node_names: Sequence[str], progress: Progress) -> None:
        p = self.pki
        if (p / "done").exists():
            return
        progress(f"writing certificates with openssl into {p}")
        sans = ["IP.1 = 127.0.0.1", f"IP.2 = {gateway}", f"IP.3 = {SERVICE_IP}", "DNS.1 = localhost"]
        names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
        sans += [f"DNS.{i} = {name}" for i, name in enumerate(names, start=2)]
        conf = p / "openssl.cnf"
        conf.write_text(render.openssl_conf(sans))

        def run(*args: str) -> None:
            runner.run([openssl, *args], timeout=60)

        def key(name: str) -> str:
            path = str(p / f"{name}.key")
            run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
            os.chmod(path, 0o600)
            return path

        def ca_cert(name: str, cn: str) -> None:
            run(
                *("req", "-x509", "-new", "-config", str(conf), "-extensions", "ca", "-key", key(name)),
                *("-subj", f"/CN={cn}", "-days", "3650", "-sha256", "-out", str(p / f"{name}.crt")),
            )

        def cert(name: str, subject: str, kind: str, signer: str = "ca") -> None:
            csr = str(p / f"{name}.csr")
            run("req", "-new", "-config", str(conf), "-key", key(name), "-subj", subject, "-out", csr)
            run(
                *("x509", "-req", "-in", csr, "-CA", str(p / f"{signer}.crt"), "-CAkey", str(p / f"{signer}.key")),
                *("-set_serial", "0x" + secrets.token_hex(8), "-days", "3650", "-sha256"),
                *("-extfile", str(conf), "-extensions", kind, "-out", str(p / f"{name}.crt")),
            )
            os.unlink(csr)

        ca_cert("ca", "ctrtool-lab-ca")
        ca_cert("front-proxy-ca", "ctrtool-lab-front-proxy-ca")
        cert("apiserver", "/CN=kube-apiserver", "server")
        cert("admin", f"/O=system:masters/CN={render.ADMIN_USER}", "client")
        cert("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "client")
        cert("controller-manager", "/CN=system:kube-controller-manager", "client")
        cert("scheduler", "/CN=system:kube-scheduler", "client")
        cert("front-proxy-client", "/CN=front-proxy-client", "client", signer="front-proxy-ca")
        for name in node_names:
            cert(f"node-{name}", f"/O=system:nodes/CN=system:node:{name}", "client")
        run("pkey", "-in", key("sa"), "-pubout", "-out", str(p / "sa.pub"))
        (p / "done").write_text("certificates complete\n")

    def write_kubeconfigs(self, port: int, kubelets: Sequence[tuple[str, pathlib.Path]]) -> None:
        """The admin's, the components' and each node's (``kubelets``: node name, its kubeconfig)."""
        write_if_changed(self.kubeconfig, render.kubeconfig(self.pki, "admin", port))
        os.chmod(self.kubeconfig, 0o600)
        for name in ("controller-manager", "scheduler"):
            write_if_changed(self.kube_dir / f"{name}.kubeconfig", render.kubeconfig(self.pki, name, port))
        for node, path in kubelets:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_if_changed(path, render.kubeconfig(self.pki, f"node-{node}", port))

    # ---- the apiserver's answers ----------------------------------------------------------------

    def api(self, path: str, timeout: float = 5.0) -> dict | None:
        """GET on the apiserver as the lab's admin: the JSON, or None when it does not answer 200."""
        import ssl
        import urllib.error
        import urllib.request

        port = self.ports().get("apiserver")
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
    def http_ok(url: str) -> bool:
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

    def ready_nodes(self, since: dict[str, float] | None = None) -> set[str]:
        """Names of the nodes whose Ready condition is True; for a node in ``since`` (its kubelet
        started at that time) only once its kubelet has reported after that: a restarted kubelet's
        node still shows the Ready of the kubelet before it for a while."""
        import calendar

        nodes = self.api("/api/v1/nodes") or {}
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

    # ---- starting -------------------------------------------------------------------------------

    def start(self, binaries: dict[str, str], ports: dict[str, int], gateway: str, progress: Progress) -> None:
        """etcd, the apiserver, the controller-manager and the scheduler, in that order."""
        self._start_etcd(binaries, ports, progress)
        self._start_apiserver(binaries, ports, gateway, progress)
        self._start_controller_manager(binaries, ports, progress)
        port = ports["scheduler"]
        argv = self._component_argv(binaries["kube-scheduler"], "scheduler", port)
        self._start(self.scheduler, argv, lambda: self.http_ok(f"https://127.0.0.1:{port}/healthz"), progress)

    def _start(self, daemon: Daemon, argv: list[str], ready: Callable[[], bool], progress: Progress) -> None:
        supervisor.start(daemon, argv, ready, progress, self.path_first)

    def _start_etcd(self, binaries: dict[str, str], ports: dict[str, int], progress: Progress) -> None:
        client, peer = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['etcd-peer']}"
        argv = [binaries["etcd"], "--name", "ctrtool-lab", "--data-dir", self.etcd.value]
        argv += ["--listen-client-urls", client, "--advertise-client-urls", client]
        argv += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
        argv += ["--initial-cluster", f"ctrtool-lab={peer}", "--log-level", "warn"]
        self._start(self.etcd, argv, lambda: self.http_ok(f"{client}/health"), progress)

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
        write_if_changed(self.audit_policy, render.AUDIT_POLICY)
        self._start(self.apiserver, argv, lambda: (self.api("/readyz") or {}).get("text") == "ok", progress)

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
        self._start(daemon, argv, lambda: self.http_ok(f"https://127.0.0.1:{port}/healthz"), progress)
