"""`ctrtool nodes`' pieces that need no cluster: pod names and manifests, what a node may be asked,
the result line, the merge of a node's answer. The cluster itself: tests/test_nodes_lab.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from ctrtool.adapters.kubectl import PodState, pod_state
from ctrtool.fleet import answers, onnode, rbac_text, where
from ctrtool.fleet import run as fleet_run

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "node",
    ["node-1", "ip-10-0-0-1.ec2.internal", "N" * 200, "a.b.c", "x", "worker_7"],
)
def test_pod_names_are_dns_labels_and_distinct(node):
    name = fleet_run.pod_name("0123abcd", node)
    assert len(name) <= 63 and DNS_LABEL.match(name), name
    assert name.startswith("ctrtool-0123abcd-")
    other = fleet_run.pod_name("0123abcd", node + "x")
    assert other != name


def test_manifest_is_a_node_debug_pod_that_cleans_up_after_itself():
    m = fleet_run.pod_manifest(
        run_id="0123abcd",
        node="node-1",
        image="localhost/ctrtool-node:0.1.0",
        reports=[["images", "-o", "json"]],
        deadline=180,
        expires="2030-01-01T00:00:00Z",
        command="ctrtool nodes images",
    )
    spec = m["spec"]
    assert spec["nodeName"] == "node-1" and spec["hostPID"] is True and spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 180 and spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "Never"
    assert container["args"][:2] == ["run", "node-1"]
    assert onnode.check_reports(json.loads(container["args"][2])) == [["images", "-o", "json"]]
    assert {"mountPath": "/host", "name": "host"} in container["volumeMounts"]
    labels = m["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "ctrtool" and labels["ctrtool.io/run"] == "0123abcd"
    # a published image is pulled once per node; ctrtool's own is imported, never pulled
    m2 = fleet_run.pod_manifest(
        run_id="x",
        node="n",
        image="registry.example/ctrtool-node:1",
        reports=[["df"]],
        deadline=1,
        expires="",
        command="",
    )
    assert m2["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize(
    "reports",
    [[], [["rmi", "x"]], [["images"], ["prune", "--yes"]], "images", [[]], [["images", 3]], {"images": 1}],
)
def test_a_node_runs_only_read_only_reports(reports):
    with pytest.raises(ValueError):
        onnode.check_reports(reports)


def test_a_refused_report_exits_2_and_runs_nothing():
    res = subprocess.run(
        [sys.executable, "-m", "ctrtool.fleet.onnode", "run", "node-1", json.dumps([["rm", "-f", "web"]])],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "not a read-only report: 'rm'" in res.stderr
    assert onnode.MARKER not in res.stdout


def test_backends_are_added_only_to_listings_that_name_none():
    found = ["ctr", "crictl"]
    assert onnode.with_backends(["images", "-o", "json"], found) == [
        "images",
        "-b",
        "ctr",
        "-b",
        "crictl",
        "-o",
        "json",
    ]
    assert onnode.with_backends(["images", "-b", "docker"], found) == ["images", "-b", "docker"]
    assert onnode.with_backends(["images", "--all-backends"], found) == ["images", "--all-backends"]
    assert onnode.with_backends(["doctor", "-o", "json"], found) == ["doctor", "-o", "json"]


def test_the_result_line_round_trips_and_is_found_among_other_log_lines():
    result = {"node": "n", "reports": [{"argv": ["images"], "exit": 0, "stdout": "[]", "stderr": "ü"}]}
    line = onnode.encode(result)
    assert line.startswith(onnode.MARKER) and "\n" not in line
    log = "a warning\n" + line + "\n"
    assert onnode.decode(log) == result
    assert onnode.decode("nothing here\n") is None
    assert onnode.decode(onnode.MARKER + "!!!not base64\n") is None


def _state(**kw) -> PodState:
    return pod_state({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Succeeded"}} | kw)


def _report(argv, code, data):
    return {"argv": argv, "exit": code, "stdout": json.dumps(data), "stderr": "ctrtool: warning: x\n" if code else ""}


def test_a_nodes_answer_decides_its_status():
    ok = onnode.encode({"reports": [_report(["images"], 0, [])]})
    assert fleet_run._outcome("n", "p", _state(), ok).status == "ok"
    partial = onnode.encode({"reports": [_report(["images"], 3, [])]})
    got = fleet_run._outcome("n", "p", _state(), partial)
    assert got.status == "partial" and "exited 3" in (got.reason or "")
    # doctor's exit 1 is its verdict (a problem found), not a failure of the node
    doctor = onnode.encode({"reports": [_report(["doctor"], 1, [{"check": "image", "status": "fail"}])]})
    assert fleet_run._outcome("n", "p", _state(), doctor).status == "ok"
    nothing = fleet_run._outcome("n", "p", _state(), "Traceback ...\nboom\n")
    assert nothing.status == "failed" and "boom" in (nothing.reason or "")


def test_pod_state_reads_waiting_reasons_and_exit_codes():
    state = pod_state(
        {
            "metadata": {"name": "w", "namespace": "default", "deletionTimestamp": "x"},
            "spec": {"nodeName": "node-2", "containers": [{"name": "c", "image": "app:1"}]},
            "status": {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "c", "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "m"}}}
                ],
            },
        }
    )
    assert state.waiting == [("app:1", "ErrImageNeverPull", "m")] and state.node == "node-2" and state.deleting


def test_where_matches_names_as_the_kubelet_normalises_them():
    assert where.same_image("docker.io/library/busybox:latest", "busybox")
    assert where.same_image("busybox:latest", "docker.io/library/busybox")
    assert not where.same_image("busybox:1", "busybox")
    assert not where.same_image(None, "busybox")


def test_the_rbac_manifest_is_what_the_docs_say():
    docs = [d for d in yaml.safe_load_all(rbac_text()) if d]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("Namespace", "ctrtool"),
        ("Role", "ctrtool-nodes"),
        ("RoleBinding", "ctrtool-nodes"),
        ("ClusterRole", "ctrtool-nodes-read"),
        ("ClusterRoleBinding", "ctrtool-nodes-read"),
    ]
    role = docs[1]["rules"]
    assert {"create", "delete", "watch"} <= set(role[0]["verbs"]) and role[1]["resources"] == ["pods/log"]
    cluster = docs[3]["rules"]
    assert all("create" not in r["verbs"] and "delete" not in r["verbs"] for r in cluster)
    assert docs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize(
    "args, message",
    [
        (["images"], "exactly one of --all, --nodes"),
        (["images", "--all", "--nodes", "a"], "exactly one of --all, --nodes"),
        (["df", "--nodes", ",,"], "--nodes names no node"),
        (["df", "--nodes", "a,B\nc"], "is not a node name"),
        (["images", "--nodes", "-x"], "is not a node name"),
        (["images", "--all", "a\nb"], "control characters"),
        (["doctor", "--all", "--timeout", "0"], "--timeout 0"),
        (["where", "x", "--all", "--parallel", "0"], "--parallel 0"),
    ],
)
def test_bad_choices_are_usage_errors_before_any_call(args, message, tmp_path):
    # no kubectl at all: a usage error must come first
    env = {"PATH": str(tmp_path), "CTRTOOL_KUBECTL": str(tmp_path / "no-kubectl"), "NO_COLOR": "1"}
    res = subprocess.run([sys.executable, "-m", "ctrtool", "nodes", *args], capture_output=True, text=True, env=env)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr


def test_no_kubectl_is_one_line(tmp_path):
    env = {"PATH": str(tmp_path), "CTRTOOL_KUBECTL": str(tmp_path / "kubectl"), "NO_COLOR": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "ctrtool", "nodes", "images", "--all"], capture_output=True, text=True, env=env
    )
    assert res.returncode != 0 and "kubectl" in res.stderr and "not installed" in res.stderr
    assert "Traceback" not in res.stderr


def test_build_image_writes_once_and_asks_before_overwriting(tmp_path):
    def build(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ctrtool", "nodes", "build-image", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    target = tmp_path / "node.tar"
    res = build("-o", str(target), "--dry-run")
    assert res.returncode == 0 and "ctrtool nodes build-image -o" in res.stdout and not target.exists()
    res = build("-o", str(target))
    assert res.returncode == 0, res.stderr
    assert f"wrote {target}: localhost/ctrtool-node:" in res.stderr
    import tarfile

    with tarfile.open(target) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [f"localhost/ctrtool-node:{__import__('ctrtool').__version__}"]
    before = target.stat()
    res = build("-o", str(target))  # not on a terminal, no --yes: refused, the file untouched
    assert res.returncode == 5 and "refusing to overwrite" in res.stderr
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert build("-o", "-").returncode == 2
    assert build("-o", str(target), "--tag", "Not A Ref").returncode == 2


class _Nodes:
    """Stands in for the kubectl adapter's node list (the parsing is tested on the lab)."""

    def __init__(self, *nodes):
        self.listed = list(nodes)

    def nodes(self, selector=None):
        return self.listed


def _node(name, ready=True, arch="amd64"):
    from ctrtool.adapters.kubectl import NodeInfo

    return NodeInfo(
        name=name,
        ready=ready,
        reason="" if ready else "NodeStatusUnknown: gone",
        unschedulable=False,
        architecture=arch,
    )


def test_node_selection_rows_for_the_nodes_that_get_no_pod():
    kube = _Nodes(_node("a"), _node("b", ready=False), _node("c", arch="arm64"))
    targets, others = fleet_run.select_nodes(
        kube, selector=None, names=["a", "b", "c", "zz", "a"], all_nodes=False, arch="amd64"
    )  # type: ignore[arg-type]
    assert [t.name for t in targets] == ["a"]
    rows = {o.node: o for o in others}
    assert rows["b"].status == "not-ready" and "NodeStatusUnknown" in (rows["b"].reason or "")
    assert rows["c"].status == "failed" and "the node is arm64, ctrtool's node image is amd64" in (
        rows["c"].reason or ""
    )
    assert rows["zz"].status == "not-found"
    # a published image may be multi-arch: no architecture check
    targets, _ = fleet_run.select_nodes(kube, selector=None, names=[], all_nodes=True, arch=None)  # type: ignore[arg-type]
    assert [t.name for t in targets] == ["a", "c"]


def test_a_cluster_without_nodes_is_an_error_not_an_empty_answer():
    from ctrtool.errors import CtrtoolError

    kube = _Nodes()
    kube.endpoint = "current context"  # type: ignore[attr-defined]
    with pytest.raises(CtrtoolError, match="the cluster has no nodes"):
        fleet_run.select_nodes(kube, selector=None, names=[], all_nodes=True)  # type: ignore[arg-type]


def test_an_older_nodes_id_name_rows_are_folded_into_the_image_they_name():
    """`nodes images` folds the CRI's id-names of a node whose ctrtool listed them as rows (no
    ``aliases`` field): into every row of that id in the same backend and namespace; an id-name
    with no other name there (untagged) stays a row; other fields are kept."""
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    rows = [
        {"backend": "ctr", "namespace": "k8s.io", "ref": "app:1", "id": a, "store": "/s", "copies": 2},
        {"backend": "ctr", "namespace": "k8s.io", "ref": a, "id": a, "store": "/s", "copies": 2},
        {"backend": "ctr", "namespace": "default", "ref": a, "id": a, "store": "/s", "copies": 2},
        {"backend": "ctr", "namespace": "k8s.io", "ref": b, "id": b, "store": "/s", "copies": 1},
        {"backend": "crictl", "namespace": "k8s.io", "ref": "app:1", "id": a, "store": "/s", "copies": 2},
    ]
    got = answers.fold_alias_rows(rows)
    assert [(r["backend"], r["namespace"], r["ref"], r["aliases"]) for r in got] == [
        ("ctr", "k8s.io", "app:1", [a]),
        ("ctr", "default", a, []),
        ("ctr", "k8s.io", b, []),
        ("crictl", "k8s.io", "app:1", []),
    ]
    assert got[0]["copies"] == 2 and "aliases" not in rows[0]  # the node's rows are not changed


def test_id_names_fold_into_image_records():
    from ctrtool.core.views import fold_aliases
    from ctrtool.model import ImageRecord

    a = "sha256:" + "c" * 64

    def rec(ns, ref):
        return ImageRecord("ctr", ns, ref, a, None, 1, "content", None, kubelet_visible=True)

    rows = [rec("k8s.io", "app:1"), rec("k8s.io", "app:2"), rec("k8s.io", a), rec("default", a)]
    got = fold_aliases(rows)
    assert [(r.namespace, r.ref, r.aliases) for r in got] == [
        ("k8s.io", "app:1", [a]),
        ("k8s.io", "app:2", [a]),
        ("default", a, []),
    ]
    assert got[0].to_dict()["aliases"] == [a]
