"""The kube lab profile: a real Kubernetes v1.37.2 cluster of two nodes, each a kubelet on its own
containerd 2.4.2, and a third on CRI-O 1.37 (`--crio-nodes 1`: a mixed cluster), through the CLI
(`ctrtool lab up --profile kube`). No mocks.

Its own module-scoped lab (kube is not one of the shared fixtures' profiles), in
$CTRTOOL_TEST_LAB_DIR-kube. Skipped when not root or a binary is missing; failed instead when CI=true.
The tests run in order: up, nodes Ready, pods on each node, the host untouched, down --purge leaves
nothing, a second up uses the build cache.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time

import pytest
from conftest import test_lab_dir as lab_dir_for

from ctrtool.lab import DEMO_IMAGE, LabError

pytestmark = pytest.mark.lab

LAB_DIR = pathlib.Path(lab_dir_for("kube"))
NODES = ("node-1", "node-2")  # on containerd
CRIO_NODES = ("node-crio-1",)  # on CRI-O
ALL_NODES = NODES + CRIO_NODES
# where a kubelet, kubectl or the control plane write when nothing stops them
OUTSIDE = (
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/etc/kubernetes",
    "/usr/libexec/kubernetes",
    "/var/run/kubernetes",
    os.path.expanduser("~/.kube"),
)
SYSCTLS = ("kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory", "vm/panic_on_oom")


def _unavailable() -> str | None:
    from ctrtool.lab import profiles
    from ctrtool.lab.common import find_binary
    from ctrtool.lab.daemons import require_root
    from ctrtool.lab.kube import KUBE_BINARIES

    try:
        require_root()
    except LabError as exc:
        return exc.message
    missing = [b for b in KUBE_BINARIES if not find_binary(b)]
    if missing:
        return f"missing: {', '.join(missing)}"
    if profiles.built_binaries(profiles.get("kube")) is None and not profiles.find_go():
        return "go is not installed and the kube binaries are not built"
    from conftest import crio_unavailable_reason

    return crio_unavailable_reason()  # the CRI-O node's


def _ctrtool(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("CTRTOOL_LAB_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "ctrtool", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _up() -> subprocess.CompletedProcess:
    res = _ctrtool("lab", "up", "--profile", "kube", "--nodes", "2", "--crio-nodes", "1", "--dir", str(LAB_DIR))
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@functools.cache
def _lab_env() -> dict[str, str]:
    res = _ctrtool("lab", "env", "--dir", str(LAB_DIR))
    assert res.returncode == 0, res.stderr
    env = dict(os.environ)
    for line in res.stdout.splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def _kubectl(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    # the `kubectl` the lab puts first on PATH, configured only through KUBECONFIG and KUBECACHEDIR
    res = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout, env=dict(_lab_env()))
    if check:
        assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
    return res


def root_propagation() -> str:
    """The optional fields of the host's / in mountinfo ("" when private, "shared:N" when shared)."""
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ")[0].split()
        if fields[4] == "/":
            return " ".join(fields[6:])
    return "?"


def _host_state() -> dict:
    sysctls = {s: pathlib.Path("/proc/sys", s).read_text().strip() for s in SYSCTLS}
    # the CRI-O node makes / shared in its own mount namespace only
    return {"exists": {p: os.path.lexists(p) for p in OUTSIDE}, "sysctls": sysctls, "root": root_propagation()}


def _iptables_kube_chains() -> list[str]:
    found = []
    for table in ("filter", "nat", "mangle"):
        res = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
        found += [ln for ln in res.stdout.splitlines() if "KUBE" in ln]
    return found


def _lab_cgroups() -> list[str]:
    from ctrtool.lab.kube import KubeLab

    prefix = f"ctrtool-{KubeLab(LAB_DIR)._hash[:6]}-"
    root = pathlib.Path("/sys/fs/cgroup")
    return [str(e) for h in root.iterdir() if h.is_dir() for e in h.iterdir() if e.name.startswith(prefix)]


def _lab_mounts() -> list[str]:
    text = pathlib.Path("/proc/mounts").read_text()
    return [ln for ln in text.splitlines() if str(LAB_DIR) in ln]


def require_lab() -> None:
    """The kube lab can run here: else fail in CI, skip elsewhere."""
    reason = _unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"kube lab test cannot run in CI: {reason}", pytrace=False)
        pytest.skip(f"kube lab unavailable: {reason}")


def purge() -> None:
    if LAB_DIR.exists():
        _ctrtool("lab", "down", "--purge", "--yes", "--dir", str(LAB_DIR))


@pytest.fixture(scope="module")
def kube_lab():
    require_lab()
    purge()
    before = _host_state()
    chains_before = _iptables_kube_chains()
    started = time.monotonic()
    res = _up()
    state = {"before": before, "chains_before": chains_before, "up": res, "seconds": time.monotonic() - started}
    try:
        yield state
    finally:
        purge()


def test_nodes_ready(kube_lab):
    nodes = json.loads(_kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == list(ALL_NODES)
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["status"]["conditions"]
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.37.2"
        if node["metadata"]["name"] in CRIO_NODES:
            assert info["containerRuntimeVersion"] == "cri-o://1.37.0"
        else:
            assert info["containerRuntimeVersion"].startswith("containerd://2.4.2")  # "2.4.2+unknown": a go build
    # one node IP (the bridge's gateway), one kubelet port each
    ips = {a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
    ports = {n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] for n in nodes}
    assert len(ips) == 1 and not next(iter(ips)).startswith("127.")
    assert len(ports) == len(ALL_NODES)


def test_status_lists_every_daemon(kube_lab):
    res = _ctrtool("lab", "status", "--dir", str(LAB_DIR), "-o", "json")
    assert res.returncode == 0, res.stderr
    daemons = {d["name"]: d for d in json.loads(res.stdout)["daemons"]}
    expected = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    expected |= {f"{n}/{d}" for n in NODES for d in ("containerd", "dockerd", "kubelet")}
    expected |= {f"{n}/{d}" for n in CRIO_NODES for d in ("crio", "kubelet")}
    assert set(daemons) == expected
    for name, d in daemons.items():
        assert d["running"] and d["pid"], name
        assert pathlib.Path(d["pidfile"]).read_text().strip() == str(d["pid"])
    text = _ctrtool("lab", "status", "--dir", str(LAB_DIR)).stdout
    assert "node-2/kubelet" in text and "kube-apiserver" in text


def test_a_pod_runs_on_each_node(kube_lab):
    for node in ALL_NODES:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"demo-{node}", "labels": {"app": "ctrtool-lab-test"}},
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "demo",
                        "image": DEMO_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["/bin/sh", "-c", "cat /etc/ctrtool-lab-release; exec sleep 3600"],
                    }
                ],
            },
        }
        res = subprocess.run(
            ["kubectl", "apply", "-f", "-"], input=json.dumps(pod), capture_output=True, text=True, env=dict(_lab_env())
        )
        assert res.returncode == 0, res.stderr
    try:
        for node in ALL_NODES:
            _kubectl("wait", "--for=condition=Ready", f"pod/demo-{node}", "--timeout=120s", timeout=150)
        pods = json.loads(_kubectl("get", "pods", "-l", "app=ctrtool-lab-test", "-o", "json").stdout)["items"]
        assert sorted(p["spec"]["nodeName"] for p in pods) == list(ALL_NODES)
        assert all(p["status"]["phase"] == "Running" for p in pods)
        # the service account token the kubelet mounts reached the CRI-O node's container too
        token = _kubectl("exec", f"demo-{CRIO_NODES[0]}", "--", "ls", "/var/run/secrets/kubernetes.io/serviceaccount")
        assert "token" in token.stdout.split()
        for node in ALL_NODES:  # logs go through the apiserver to that node's kubelet
            assert "NAME=ctrtool-lab" in _kubectl("logs", f"demo-{node}").stdout
    finally:
        _kubectl("delete", "pods", "-l", "app=ctrtool-lab-test", "--wait=true", "--timeout=60s", check=False)


def test_up_again_reuses_what_runs(kube_lab):
    def pids() -> dict[str, int]:
        res = _ctrtool("lab", "status", "--dir", str(LAB_DIR), "-o", "json")
        return {d["name"]: d["pid"] for d in json.loads(res.stdout)["daemons"]}

    before = pids()
    res = _up()
    assert "node-2/kubelet already running" in res.stderr and "starting" not in res.stderr, res.stderr
    assert pids() == before
    # a lab keeps its node count; --nodes is only the kube profile's
    res = _ctrtool("lab", "up", "--profile", "kube", "--nodes", "3", "--dir", str(LAB_DIR))
    assert res.returncode != 0 and "holds a lab of 2 node(s), not 3" in res.stderr, res.stderr
    res = _ctrtool("lab", "up", "--crio-nodes", "2", "--dir", str(LAB_DIR))
    assert res.returncode != 0 and "holds a lab of 1 crio-node(s), not 2" in res.stderr, res.stderr
    res = _ctrtool("lab", "up", "--profile", "debian", "--nodes", "3", "--dir", str(LAB_DIR) + "-x")
    assert res.returncode != 0 and "--nodes is for the kube profile" in res.stderr, res.stderr
    assert not pathlib.Path(str(LAB_DIR) + "-x").exists()


def test_up_restarts_a_killed_kubelet(kube_lab):
    import signal

    status = json.loads(_ctrtool("lab", "status", "--dir", str(LAB_DIR), "-o", "json").stdout)
    kubelet = next(d for d in status["daemons"] if d["name"] == "node-1/kubelet")
    os.kill(kubelet["pid"], signal.SIGKILL)  # the pid the lab recorded: a stale pid file is left
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{kubelet['pid']}") and time.monotonic() < deadline:
        time.sleep(0.1)
    res = _ctrtool("lab", "status", "--dir", str(LAB_DIR))
    assert res.returncode == 1
    res = _up()
    assert "removing the stale pid file" in res.stderr and "starting node-1/kubelet" in res.stderr, res.stderr
    assert "starting node-2/kubelet" not in res.stderr
    nodes = json.loads(_kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert all(c["status"] == "True" for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready")


def test_host_untouched_while_running(kube_lab):
    assert _host_state() == kube_lab["before"]
    assert _iptables_kube_chains() == kube_lab["chains_before"]
    # every kubelet has its own cgroup root, in every hierarchy
    cgroups = _lab_cgroups()
    for node in ALL_NODES:
        assert any(c.endswith(f"-{node}") and "/memory/" in c for c in cgroups), cgroups


def test_down_purge_leaves_nothing(kube_lab):
    res = _ctrtool("lab", "down", "--purge", "--yes", "--dir", str(LAB_DIR))
    assert res.returncode == 0, res.stderr
    assert not LAB_DIR.exists()
    assert _lab_mounts() == []
    assert _lab_cgroups() == []
    assert _host_state() == kube_lab["before"]
    assert _iptables_kube_chains() == kube_lab["chains_before"]
    from ctrtool.lab.kube import KubeLab

    assert not pathlib.Path(f"/sys/class/net/{KubeLab(LAB_DIR).bridge}").exists()
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(LAB_DIR).encode() not in cmdline, cmdline


def test_second_up_uses_the_build_cache(kube_lab):
    from ctrtool.lab import profiles

    marker = profiles.KUBERNETES_BUILD.directory() / "build.json"
    mtime = marker.stat().st_mtime_ns
    res = _up()
    for build in (profiles.KUBERNETES_BUILD, profiles.ETCD_BUILD, profiles.CONTAINERD_BUILD, profiles.CRIO_BUILD):
        assert f"{build.name} {build.version}: cached in" in res.stderr
    assert "building" not in res.stderr, res.stderr
    assert marker.stat().st_mtime_ns == mtime
    nodes = json.loads(_kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == len(ALL_NODES)
