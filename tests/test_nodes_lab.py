"""`ctrtool nodes` on the kube lab: a real Kubernetes v1.37.2 cluster, two nodes each a kubelet and a
dockerd 29 on its own containerd 2.4.2 and a third on CRI-O (tests/test_nodes_crio_lab.py is about
that one), ctrtool's node image imported by `lab up` (no registry). Everything goes through
kubectl's own configuration (KUBECONFIG from `lab env`).

What each node's answer says is checked against the node's own tools (ctr, docker on that node's
sockets). Runs after the other lab tests and before the lab's own (conftest); its own lab, purged
at the end (conftest's kube_cluster, shared with tests/test_nodes_crio_lab.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import yaml
from test_lab_kube import ALL_NODES, LAB_DIR, NODES, _ctrtool, _kubectl, _lab_env, _up

pytestmark = pytest.mark.lab

MANAGED = "app.kubernetes.io/managed-by=ctrtool"
EVERY_KIND = "all,sa,secrets,configmaps,roles,rolebindings,clusterroles,clusterrolebindings,daemonsets,jobs"


def _sock(node: str, kind: str) -> str:
    d = LAB_DIR / "nodes" / node
    return str(d / "containerd" / "containerd.sock") if kind == "containerd" else str(d / "docker" / "docker.sock")


def _ctr(node: str, *args: str, namespace: str = "k8s.io") -> subprocess.CompletedProcess:
    res = subprocess.run(
        ["ctr", "-a", _sock(node, "containerd"), "-n", namespace, *args],
        capture_output=True,
        text=True,
        env=dict(_lab_env()),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res


def _docker(node: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(_lab_env(), DOCKER_HOST=f"unix://{_sock(node, 'docker')}")
    env.pop("DOCKER_CONTEXT", None)
    res = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def _wait_cri(node: str, ref: str, present: bool = True) -> None:
    """Until the node's CRI lists ``ref`` (the CRI plugin learns of a ctr change by an event)."""
    env = dict(_lab_env(), CONTAINER_RUNTIME_ENDPOINT=f"unix://{_sock(node, 'containerd')}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        res = subprocess.run(["crictl", "images", "-o", "json"], capture_output=True, text=True, env=env, timeout=30)
        tags = {t for i in json.loads(res.stdout or "{}").get("images", []) for t in i.get("repoTags") or []}
        if (ref in tags) == present:
            return
        time.sleep(0.3)
    raise AssertionError(f"the CRI of {node} does not list {ref}")


def _nodes(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`ctrtool nodes ARGS` configured like kubectl: only KUBECONFIG (and PATH) from `lab env`."""
    env = dict(_lab_env(), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "ctrtool", "nodes", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _apply(manifest: str) -> None:
    """``kubectl apply`` of a manifest (YAML or JSON), as the lab's admin."""
    subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=manifest,
        env=dict(_lab_env()),
        check=True,
        capture_output=True,
        text=True,
    )


def _waiting_reason(pod: str, wanted: str, seconds: float = 60) -> str:
    """The reason a pod's container waits, polled until it is ``wanted`` or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    reason = ""
    while time.monotonic() < deadline and reason != wanted:
        got = json.loads(_kubectl("get", "pod", pod, "-o", "json").stdout)
        waiting = [s["state"].get("waiting") or {} for s in got["status"].get("containerStatuses") or []]
        reason = waiting[0].get("reason", "") if waiting else ""
        if reason != wanted:
            time.sleep(0.5)
    return reason


def _sleeper(name: str, node: str, image: str, metadata: dict | None = None) -> None:
    """A pod on ``node`` that sleeps in ``image`` (never pulled)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **(metadata or {})},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": image, "imagePullPolicy": "Never", "command": ["sleep", "3600"]}],
        },
    }
    _apply(json.dumps(pod))


def _ours() -> list[str]:
    """Every object ctrtool made that still exists, in any namespace."""
    res = _kubectl("get", EVERY_KIND, "-A", "-l", MANAGED, "-o", "name")
    return res.stdout.split()


@pytest.fixture(scope="module")
def cluster(kube_cluster):
    """The mixed lab (conftest): NODES on containerd, CRIO_NODES on CRI-O."""
    return kube_cluster


def test_images_on_every_node_agree_with_each_nodes_tools(cluster):
    res = _nodes("images", "--all", "-o", "json")
    assert res.returncode == 0, res.stderr
    answer = {n["node"]: n for n in json.loads(res.stdout)}
    assert sorted(answer) == list(ALL_NODES)
    for node in NODES:  # the containerd nodes (the CRI-O node's: tests/test_nodes_crio_lab.py)
        got = answer[node]
        assert got["status"] == "ok" and got["reason"] is None
        # the node's own containerd, found from its kubelet (not a default socket)
        assert got["found"]["cri"]["endpoint"] == f"unix://{_sock(node, 'containerd')}"
        assert got["found"]["docker"]["host"] == f"unix://{_sock(node, 'docker')}"
        assert set(got["found"]["backends"]) == {"docker", "ctr", "crictl"}
        k8s = [r for r in got["images"] if r["backend"] == "ctr" and r["namespace"] == "k8s.io"]
        listed = {r["ref"] for r in k8s}
        aliases = {a for r in k8s for a in r["aliases"]}
        truth = set(_ctr(node, "images", "ls", "-q").stdout.split())
        # the CRI's id-names (sha256:<id>) are in their image's row, not rows of their own
        assert listed | aliases == truth and not listed & aliases
        assert aliases and all(a.startswith("sha256:") and any(r["id"] == a for r in k8s) for a in aliases)
        assert "localhost/ctrtool-node:0.1.0" in truth  # imported by `lab up`, never pulled
    assert _ours() == []


def test_table_has_a_node_column(cluster):
    res = _nodes("images", "--nodes", "node-2")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:4] == ["NODE", "BACKEND", "NAMESPACE", "IMAGE"]
    body = [ln for ln in lines[2:] if ln.startswith("node-")]
    assert body and all(ln.startswith("node-2 ") for ln in body)


def test_where_an_image_on_one_node_only(cluster):
    ref = "localhost/ctrtool/fleet-one:1"
    _ctr("node-1", "images", "tag", "localhost/ctrtool/demo:1.0", ref)
    _wait_cri("node-1", ref)
    try:
        res = _nodes("where", ref, "--all", "-o", "json")
        assert res.returncode == 0, res.stderr
        rows = {r["node"]: r for r in json.loads(res.stdout)}
        assert {(p["backend"], p["namespace"]) for p in rows["node-1"]["present"]} == {
            ("ctr", "k8s.io"),
            ("crictl", "k8s.io"),
        }
        assert rows["node-1"]["kubelet_visible"] is True
        assert rows["node-2"]["present"] == [] and rows["node-2"]["kubelet_visible"] is False
        assert rows["node-1"]["doctor"] is None and rows["node-2"]["pods"] == []
    finally:
        _ctr("node-1", "images", "rm", ref)


def test_where_docker_on_one_node_k8s_on_the_other_and_a_pod_that_cannot_start(cluster):
    ref = "localhost/ctrtool/fleet-split:1"
    demo = str(LAB_DIR / "images" / "demo.tar")
    _docker("node-2", "load", "-i", demo)
    _docker("node-2", "tag", "localhost/ctrtool/demo:1.0", ref)
    _ctr("node-1", "images", "tag", "localhost/ctrtool/demo:1.0", ref)
    _wait_cri("node-1", ref)
    _sleeper("fleet-waiter", "node-2", ref, {"labels": {"app": "fleet-test"}})
    try:
        assert _waiting_reason("fleet-waiter", "ErrImageNeverPull") == "ErrImageNeverPull"

        res = _nodes("where", ref, "--all", "-o", "json")
        assert res.returncode == 0, res.stderr
        rows = {r["node"]: r for r in json.loads(res.stdout)}
        one, two = rows["node-1"], rows["node-2"]
        assert one["kubelet_visible"] is True, one
        assert one["pods"] == [] and one["doctor"] is None
        assert {p["backend"] for p in two["present"]} == {"docker", "ctr"}
        assert {p["namespace"] for p in two["present"]} == {"moby"}
        assert two["kubelet_visible"] is False
        assert [(p["namespace"], p["name"], p["reasons"]) for p in two["pods"]] == [
            ("default", "fleet-waiter", ["ErrImageNeverPull"])
        ]
        image_check = next(c for c in two["doctor"] if c["check"] == "image")
        assert image_check["status"] == "fail"
        # node-2's k8s.io has the same image as localhost/ctrtool/demo:1.0: a new name, not a copy
        fix = image_check["fixes"][0]["commands"][0]
        assert fix == f"ctrtool tag --backend ctr -n k8s.io localhost/ctrtool/demo:1.0 {ref}"
        assert "costs 0 bytes" in image_check["fixes"][0]["summary"]

        table = _nodes("where", ref, "--all")
        assert table.returncode == 0, table.stderr
        line = next(ln for ln in table.stdout.splitlines() if ln.startswith("node-2"))
        assert "fleet-waiter" in line and "ErrImageNeverPull" in line

        # doctor's fix, carried out on node-2 (its own sockets), makes the image usable there
        env = dict(
            _lab_env(),
            DOCKER_HOST=f"unix://{_sock('node-2', 'docker')}",
            CONTAINERD_ADDRESS=_sock("node-2", "containerd"),
            CONTAINER_RUNTIME_ENDPOINT=f"unix://{_sock('node-2', 'containerd')}",
        )
        done = subprocess.run(
            [sys.executable, "-m", "ctrtool", *fix.split()[1:]], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        res = _nodes("where", ref, "--nodes", "node-2", "-o", "json")
        assert json.loads(res.stdout)[0]["kubelet_visible"] is True
    finally:
        _kubectl("delete", "pod", "fleet-waiter", "--wait=true", "--timeout=60s", check=False)
        _ctr("node-1", "images", "rm", ref)
    assert _ours() == []


def test_doctor_on_every_node(cluster):
    res = _nodes("doctor", "--all", "-o", "json")
    assert res.returncode in (0, 1), res.stderr
    assert sorted(n["node"] for n in json.loads(res.stdout)) == list(ALL_NODES)
    for node in json.loads(res.stdout):
        checks = {c["check"]: c for c in node["checks"]}
        assert checks["cri_plugin"]["status"] == "ok"
        assert checks["sandbox_image"]["status"] == "ok", checks["sandbox_image"]
        # two kubelets run on this host: the disk check reads the thresholds of this node's own
        assert str(LAB_DIR / "nodes" / node["node"] / "kubelet.json") in json.dumps(checks["disk"])


def test_df_on_every_node_counts_what_is_on_disk(cluster):
    res = _nodes("df", "--all", "-o", "json")
    assert res.returncode == 0, res.stderr
    for node in (n for n in json.loads(res.stdout) if n["node"] in NODES):
        stores = {s["store"]: s for s in node["df"]["stores"]}
        k8s = stores["containerd namespace k8s.io"]
        # the node's own snapshotter root, under that node's containerd root in the lab
        assert k8s["path"].startswith(str(LAB_DIR / "nodes" / node["node"])), k8s["path"]
        for entry in k8s["entries"][:5]:
            assert pathlib.Path(entry["path"]).is_dir()


def test_dry_run_prints_the_pods_and_creates_nothing(cluster):
    res = _nodes("images", "--all", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "# namespace: default" in res.stdout
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    assert sorted(d["spec"]["nodeName"] for d in docs) == list(ALL_NODES)
    for d in docs:
        assert d["kind"] == "Pod" and d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ctrtool"
        assert d["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert _ours() == []


def test_choosing_no_nodes_is_a_usage_error(cluster):
    res = _nodes("images")
    assert res.returncode == 2 and "exactly one of --all, --nodes" in res.stderr, res.stderr
    res = _nodes("images", "--nodes", "node-1,nosuch", "-o", "json")
    assert res.returncode == 3, res.stderr
    rows = {r["node"]: r for r in json.loads(res.stdout)}
    assert rows["nosuch"]["status"] == "not-found" and rows["node-1"]["status"] == "ok"


def test_expired_pods_of_a_crashed_run_are_removed(cluster):
    # a pod as a run that crashed left it: ctrtool's labels, an expiry in the past
    labels = {
        "app.kubernetes.io/managed-by": "ctrtool",
        "app.kubernetes.io/name": "ctrtool-node",
        "ctrtool.io/run": "deadbeef",
    }
    expired = {"labels": labels, "annotations": {"ctrtool.io/expires": "2020-01-01T00:00:00Z"}}
    _sleeper("ctrtool-deadbeef-node-1", "node-1", "localhost/ctrtool/demo:1.0", expired)
    assert _ours() == ["pod/ctrtool-deadbeef-node-1"]
    res = _nodes("images", "--nodes", "node-2", "-o", "json")
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 30
    while _ours() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ours() == []


def test_minimal_rbac_is_enough_and_needed(cluster):
    manifest = subprocess.run(
        [sys.executable, "-m", "ctrtool", "nodes", "rbac"], capture_output=True, text=True, check=True
    ).stdout
    _apply(manifest)
    try:
        who = ("--as", "alice", "--as-group", "ctrtool-operators", "-n", "ctrtool")
        res = _nodes("images", "--all", "-o", "json", *who)
        assert res.returncode == 0, res.stderr
        assert {n["status"] for n in json.loads(res.stdout)} == {"ok"}
        res = _nodes("where", "localhost/ctrtool/demo:1.0", "--all", "-o", "json", *who)
        assert res.returncode == 0, res.stderr
        # without the group: refused by the API, one line naming kubectl and a hint
        res = _nodes("images", "--all", "--as", "mallory", "-n", "ctrtool")
        assert res.returncode == 1
        assert "forbidden" in res.stderr and "ctrtool nodes rbac" in res.stderr and "Traceback" not in res.stderr
    finally:
        subprocess.run(
            ["kubectl", "delete", "-f", "-", "--wait=true"],
            input=manifest,
            env=dict(_lab_env()),
            capture_output=True,
            text=True,
        )
    assert _ours() == []


def test_kubectl_plugin(cluster):
    scripts = pathlib.Path(sys.executable).parent
    plugin = scripts / "kubectl-ctrtool"
    assert plugin.exists(), "the package installs kubectl-ctrtool"
    env = dict(_lab_env(), NO_COLOR="1")
    env["PATH"] = f"{scripts}{os.pathsep}{env['PATH']}"
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True, env=env)
    assert str(plugin) in listed.stdout, listed.stdout + listed.stderr
    res = subprocess.run(
        ["kubectl", "ctrtool", "nodes", "images", "--all", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert sorted(n["node"] for n in json.loads(res.stdout)) == list(ALL_NODES)
    # kubectl refuses its flags before a plugin's name; after the command they mean what they mean to it
    context = _kubectl("config", "current-context").stdout.strip()
    res = subprocess.run(
        ["kubectl", "ctrtool", "nodes", "images", "--all", "--context", context, "-n", "default", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert {n["status"] for n in json.loads(res.stdout)} == {"ok"}
    usage = subprocess.run(["kubectl", "ctrtool", "nodes", "images"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "`kubectl ctrtool nodes images --all`" in usage.stderr, usage.stderr


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_leaves_nothing(cluster, sig, status):
    env = dict(_lab_env(), NO_COLOR="1")
    for _attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctrtool", "nodes", "df", "--all"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not _ours() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None:
            continue  # done before a pod was seen: try again
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == status, err
        assert "Traceback" not in err
        break
    else:
        pytest.fail("the run always finished before its pods could be seen")
    assert _ours() == []


def test_a_stopped_kubelet_is_a_row_and_a_partial_result(cluster):
    status = json.loads(_ctrtool("lab", "status", "--dir", str(LAB_DIR), "-o", "json").stdout)
    kubelet = next(d for d in status["daemons"] if d["name"] == "node-2/kubelet")
    os.kill(kubelet["pid"], signal.SIGTERM)
    try:
        # before the API notices: the pod is never started on node-2, and the run's time runs out
        res = _nodes("images", "--all", "-o", "json", "--timeout", "10")
        assert res.returncode == 3, res.stderr
        rows = {r["node"]: r for r in json.loads(res.stdout)}
        assert rows["node-1"]["status"] == "ok"
        assert rows["node-2"]["status"] in ("timeout", "not-ready"), rows["node-2"]
        assert rows["node-2"]["images"] is None and rows["node-2"]["reason"]
        # once the node is NotReady, no pod is made for it: a row says why
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            node = json.loads(_kubectl("get", "node", "node-2", "-o", "json").stdout)
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            if ready["status"] != "True":
                break
            time.sleep(1)
        res = _nodes("images", "--all")
        assert res.returncode == 3, res.stderr
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("node-2"))
        assert "not-ready" in line and "NotReady" in line
    finally:
        _up()  # starts the kubelet again
    assert _ours() == []


def test_a_node_image_that_is_not_there_is_a_row_per_node(cluster):
    res = _nodes("images", "--all", "-o", "json", "--node-image", "localhost/ctrtool-node:nosuch")
    assert res.returncode == 1, res.stderr  # no node answered
    rows = {r["node"]: r for r in json.loads(res.stdout)}
    for node in ALL_NODES:
        assert rows[node]["status"] == "no-image"
        assert "localhost/ctrtool-node:nosuch is not on this node" in rows[node]["reason"]
    assert _ours() == []
    res = _nodes("images", "--all", "--node-image", "localhost/ctrtool-node:nosuch")
    assert res.returncode == 1 and "ctrtool nodes build-image -o F" in res.stderr, res.stderr
    assert "(no-image: ctrtool's node image localhost/ctrtool-node:nosuch is not on this node" in res.stdout
    res = _nodes("images", "--all", "--node-image", "not a ref")
    assert res.returncode == 2 and "is not an image reference" in res.stderr


def test_a_namespace_that_refuses_privileged_pods_is_one_line(cluster):
    _kubectl("create", "namespace", "locked")
    _kubectl("label", "namespace", "locked", "pod-security.kubernetes.io/enforce=restricted")
    try:
        res = _nodes("images", "--all", "-n", "locked")
        assert res.returncode == 1, res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert lines[0].startswith("ctrtool: error: kubectl") and "PodSecurity" in lines[0], res.stderr
        assert "ctrtool nodes rbac" in res.stderr and "Traceback" not in res.stderr
    finally:
        _kubectl("delete", "namespace", "locked", "--wait=false", check=False)


def test_a_label_selector_chooses_the_nodes(cluster):
    _kubectl("label", "node", "node-2", "ctrtool-test/pool=blue", "--overwrite")
    try:
        res = _nodes("images", "-l", "ctrtool-test/pool=blue", "-o", "json")
        assert res.returncode == 0, res.stderr
        assert [n["node"] for n in json.loads(res.stdout)] == ["node-2"]
        res = _nodes("images", "--selector", "ctrtool-test/pool=green")
        assert res.returncode == 2 and "no node matches the selector" in res.stderr, res.stderr
    finally:
        _kubectl("label", "node", "node-2", "ctrtool-test/pool-")


def test_kubeconfig_and_context_flags_as_kubectl(cluster, tmp_path):
    """No KUBECONFIG: --kubeconfig and --context name the cluster, as they do for kubectl."""
    config = yaml.safe_load((LAB_DIR / "kubeconfig").read_text())
    config["contexts"][0]["name"] = "lab-admin"
    config["contexts"].append({"name": "elsewhere", "context": dict(config["contexts"][0]["context"], user="nobody")})
    config["current-context"] = "elsewhere"
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in _lab_env().items() if k != "KUBECONFIG"}
    env["NO_COLOR"] = "1"
    env["HOME"] = str(tmp_path)  # no ~/.kube/config to fall back on

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ctrtool", "nodes", "images", "--all", "-o", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    res = run("--kubeconfig", str(path), "--context", "lab-admin")
    assert res.returncode == 0, res.stderr
    assert sorted(n["node"] for n in json.loads(res.stdout)) == list(ALL_NODES)
    # the file's current context names a user the file does not have: kubectl's own error, one line
    res = run("--kubeconfig", str(path))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.startswith("ctrtool: error: kubectl"), res.stderr
    res = run("--kubeconfig", str(path), "--context", "nosuch")
    assert res.returncode != 0 and "nosuch" in res.stderr and "Traceback" not in res.stderr


def test_a_watch_that_ends_mid_run_is_started_again(cluster):
    """An API server ends every watch after a while, and connections drop: the run watches again
    (the new watch lists the pods first) and every node still answers."""
    env = dict(_lab_env(), NO_COLOR="1", CTRTOOL_DEBUG="1")
    for _attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctrtool", "nodes", "df", "--all", "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed = False
        deadline = time.monotonic() + 30
        while proc.poll() is None and not killed and time.monotonic() < deadline:
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if b"--watch" in argv and ppid == proc.pid:
                    os.kill(int(pid), signal.SIGKILL)
                    killed = True
                    break
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
        if not killed:
            continue
        assert proc.returncode == 0, err
        assert "the watch ended" in err and "watching again" in err
        assert {n["status"] for n in json.loads(out)} == {"ok"}
        break
    else:
        pytest.fail("the watch could not be caught running")
    assert _ours() == []


def test_parallel_bounds_the_pods_running_at_once(cluster):
    """--parallel 1: each node's pod is made only once the one before has ended (sampled from the
    API while the run goes on), and every node answers."""
    env = dict(_lab_env(), NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctrtool", "nodes", "images", "--all", "--parallel", "1", "-o", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    most, seen = 0, set()
    while proc.poll() is None:
        res = _kubectl("get", "pods", "-l", MANAGED, "-o", "json", check=False)
        items = json.loads(res.stdout or "{}").get("items", [])
        # a pod still at work: its container has not ended (the phase follows a moment later)
        running = [
            p
            for p in items
            if p["status"].get("phase") not in ("Succeeded", "Failed")
            and not any("terminated" in (c.get("state") or {}) for c in p["status"].get("containerStatuses") or [])
        ]
        most = max(most, len(running))
        seen |= {p["metadata"]["name"] for p in items}
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert {n["status"] for n in json.loads(out)} == {"ok"}
    assert len(seen) == len(ALL_NODES), seen  # every pod was seen: the sampling did see the run
    assert most == 1
    assert _ours() == []
