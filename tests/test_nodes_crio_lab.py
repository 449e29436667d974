"""`ctrtool nodes` on the CRI-O node of a mixed kube lab (issue 21, item 7: "a mixed cluster is the
real case"): the lab of tests/test_nodes_lab.py (conftest's kube_cluster: node-1 and node-2 on
containerd, node-crio-1 on CRI-O 1.37 with its own containers/storage store), no extra lab start.

What the CRI-O node's answer says is checked against that node's own store: crictl on its CRI-O
socket, podman through its storage.conf (the lab's tool, never the node image's), du on its graph
root.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import time

import pytest
from test_lab_kube import ALL_NODES, CRIO_NODES, LAB_DIR, _kubectl, _lab_env, root_propagation
from test_nodes_lab import _nodes, _ours, _sleeper, _waiting_reason

pytestmark = pytest.mark.lab

NODE = CRIO_NODES[0]
NODE_DIR = LAB_DIR / "nodes" / NODE
GRAPHROOT = NODE_DIR / "storage"
SOCKET = NODE_DIR / "crio" / "crio.sock"
SANDBOX = "registry.k8s.io/pause:3.10.2"
DEMO = "localhost/ctrtool/demo:1.0"


@pytest.fixture(scope="module")
def cluster(kube_cluster):
    """The mixed lab (conftest), started once for this file and tests/test_nodes_lab.py."""
    return kube_cluster


def _crictl(*args: str) -> dict:
    endpoint = f"unix://{SOCKET}"
    res = subprocess.run(
        ["crictl", "--runtime-endpoint", endpoint, "--image-endpoint", endpoint, *args, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _podman(*args: str) -> subprocess.CompletedProcess:
    """podman on the CRI-O node's store (its storage.conf), as `lab up` loads images with it."""
    env = dict(_lab_env(), CONTAINERS_STORAGE_CONF=str(NODE_DIR / "storage.conf"))
    argv = [
        "podman",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
        "--tmpdir",
        str(NODE_DIR / "podman-tmp"),
    ]
    res = subprocess.run([*argv, *args], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def _wait_cri(ref: str, present: bool = True) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tags = {t for i in _crictl("images")["images"] for t in i.get("repoTags") or []}
        if (ref in tags) == present:
            return
        time.sleep(0.3)
    raise AssertionError(f"CRI-O of {NODE} does not list {ref}")


def file_bytes(path: str) -> int:
    """du's apparent bytes of the files under path (a hard-linked file once), without the
    directories' own sizes: what SIZE counts."""
    got = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    dirs = subprocess.run(["find", path, "-type", "d", "-printf", "%s\n"], capture_output=True, text=True, check=True)
    return int(got.stdout.split()[0]) - sum(int(n) for n in dirs.stdout.split())


def test_images_on_a_mixed_cluster_give_rows_from_the_cri_o_node(cluster):
    root_before = root_propagation()
    res = _nodes("images", "--all", "-o", "json")
    assert res.returncode == 0, res.stderr
    answer = {n["node"]: n for n in json.loads(res.stdout)}
    assert sorted(answer) == list(ALL_NODES)
    got = answer[NODE]
    assert got["status"] == "ok" and got["reason"] is None
    found = got["found"]
    # its kubelet's runtime: CRI-O's socket; no containerd, and the host's one dockerd is node-1's
    assert found["cri"]["endpoint"] == f"unix://{SOCKET}"
    assert found["backends"] == ["crictl"] and "containerd" not in found and "docker" not in found
    assert found["crio"]["root"] == str(GRAPHROOT)
    rows = got["images"]
    assert rows and {r["backend"] for r in rows} == {"crictl"}
    for r in rows:
        assert r["namespace"] is None and r["kubelet_visible"] is True, r
        assert r["store_kind"] == "containers-storage" and r["store"] == str(GRAPHROOT / "overlay"), r
    truth = {t for i in _crictl("images")["images"] for t in i.get("repoTags") or []}
    assert {r["ref"] for r in rows} == truth
    assert {DEMO, SANDBOX, "localhost/ctrtool-node:0.1.0"} <= truth  # loaded by `lab up` (podman load)
    # the table: the CRI-O node's rows name no containerd namespace
    table = _nodes("images", "--all")
    assert table.returncode == 0, table.stderr
    lines = [ln.split() for ln in table.stdout.splitlines() if ln.startswith(NODE + " ")]
    assert lines and all(ln[1] == "crictl" and ln[2] == "-" for ln in lines), table.stdout
    # CRI-O's hostPath of / worked with the host's / as it was (CRI-O's own namespace has it shared)
    assert root_propagation() == root_before
    assert _ours() == []


def test_where_names_the_cri_o_nodes_store(cluster):
    ref = "localhost/ctrtool/fleet-crio-only:1"
    _podman("tag", DEMO, ref)
    _wait_cri(ref)
    try:
        res = _nodes("where", ref, "--all", "-o", "json")
        assert res.returncode == 0, res.stderr
        rows = {r["node"]: r for r in json.loads(res.stdout)}
        here = rows[NODE]
        assert [(p["backend"], p["namespace"]) for p in here["present"]] == [("crictl", None)]
        assert here["kubelet_visible"] is True and here["doctor"] is None
        assert here["found"]["crio"]["root"] == str(GRAPHROOT)
        for other in set(ALL_NODES) - {NODE}:
            assert rows[other]["present"] == [] and rows[other]["kubelet_visible"] is False
        table = _nodes("where", ref, "--all")
        line = next(ln for ln in table.stdout.splitlines() if ln.startswith(NODE))
        assert line.split()[1:3] == ["crictl", "✓"], line
    finally:
        _podman("rmi", ref)
    assert _ours() == []


def test_where_a_pod_waits_on_the_cri_o_node(cluster):
    ref = "localhost/ctrtool/fleet-crio-missing:1"
    _sleeper("fleet-crio-waiter", NODE, ref)
    try:
        assert _waiting_reason("fleet-crio-waiter", "ErrImageNeverPull") == "ErrImageNeverPull"
        res = _nodes("where", ref, "--all", "-o", "json")
        assert res.returncode == 0, res.stderr
        here = {r["node"]: r for r in json.loads(res.stdout)}[NODE]
        assert here["present"] == [] and here["kubelet_visible"] is False
        assert [(p["name"], p["reasons"]) for p in here["pods"]] == [("fleet-crio-waiter", ["ErrImageNeverPull"])]
        image_check = next(c for c in here["doctor"] if c["check"] == "image")
        assert image_check["status"] == "fail"
        # what doctor looked at: the node's CRI-O, not a containerd
        assert any(str(SOCKET) in e["source"] for e in image_check["evidence"]), image_check
    finally:
        _kubectl("delete", "pod", "fleet-crio-waiter", "--wait=true", "--timeout=60s", check=False)
    assert _ours() == []


def test_df_on_the_cri_o_node_is_what_du_counts_on_its_graph_root(cluster):
    res = _nodes("df", "--nodes", NODE, "-o", "json")
    assert res.returncode == 0, res.stderr
    (node,) = json.loads(res.stdout)
    stores = {s["kind"]: s for s in node["df"]["stores"]}
    assert set(stores) == {"unpacked", "container"}, stores.keys()
    for store in stores.values():
        assert store["backend"] == "crictl" and store["namespace"] is None
        assert store["path"] == str(GRAPHROOT / "overlay")
    layers = stores["unpacked"]
    paths = [e["path"] for e in layers["entries"]]
    assert paths and all(pathlib.Path(p).parent.parent == GRAPHROOT / "overlay" for p in paths)
    # every image layer of the store is counted, and counted as du counts it
    listed = json.loads((GRAPHROOT / "overlay-layers" / "layers.json").read_text())
    images = json.loads((GRAPHROOT / "overlay-images" / "images.json").read_text())
    image_layers = {i["layer"] for i in images}
    assert image_layers <= {pathlib.Path(p).parent.name for p in paths} <= {la["id"] for la in listed}
    assert layers["bytes"] == sum(file_bytes(p) for p in paths)
    for entry in layers["entries"]:
        assert entry["size"] == file_bytes(entry["path"]), entry
    table = _nodes("df", "--nodes", NODE)
    assert table.returncode == 0 and str(GRAPHROOT / "overlay") in table.stdout, table.stdout


def test_doctor_on_the_cri_o_node(cluster):
    res = _nodes("doctor", "--nodes", NODE, "-o", "json")
    assert res.returncode in (0, 1), res.stderr
    (node,) = json.loads(res.stdout)
    checks = {c["check"]: c for c in node["checks"]}
    assert checks["cri_plugin"]["status"] == "ok" and "cri-o" in checks["cri_plugin"]["summary"]
    sandbox = checks["sandbox_image"]
    assert sandbox["status"] == "ok" and f"{SANDBOX} is in the CRI runtime's store" in sandbox["summary"], sandbox
    assert str(GRAPHROOT) in sandbox["summary"]
    store = checks["snapshotter"]
    assert store["status"] == "ok" and str(GRAPHROOT) in store["summary"], store
    assert any("cri-o 1.37.0" in d for d in checks["versions"]["details"]), checks["versions"]
    # the disk check reads this node's own kubelet's thresholds (three kubelets on this host)
    assert str(NODE_DIR / "kubelet.json") in json.dumps(checks["disk"])
    for result in checks.values():  # no word of a containerd namespace (registry.k8s.io is the image's name)
        assert not re.search(r"(?<!registry\.)k8s\.io", json.dumps(result)), result
    table = _nodes("doctor", "--nodes", NODE)
    assert table.returncode in (0, 1) and all(ln.startswith(NODE) for ln in table.stdout.splitlines()[2:] if ln)
