"""A node's JSON is parsed back into the records the local commands use, where it arrives
(fleet.run._outcome), and `nodes images`/`nodes where` work on those records."""

from __future__ import annotations

import json

from ctrtool.adapters.kubectl import pod_state
from ctrtool.fleet import onnode, where
from ctrtool.fleet import run as fleet_run
from ctrtool.fleet.answers import image_record, image_records
from ctrtool.fleet.onnode import node_backends
from ctrtool.model import ImageRecord, Store, StoreKind

A = "sha256:" + "a" * 64
M = "sha256:" + "b" * 64


def _records() -> list[ImageRecord]:
    graph = Store(StoreKind.GRAPH, "/var/lib/docker", "/var/lib/docker/overlay2", driver="overlay2")
    snaps = Store(StoreKind.SNAPSHOTS, "/run/containerd.sock", "/var/lib/containerd/snap", "k8s.io", "overlayfs")
    content = Store(StoreKind.CONTENT, "/run/containerd.sock", "/var/lib/containerd/content")
    return [
        ImageRecord("docker", None, "busybox:1", A, None, 4_000_000, "unpacked", graph, created="2026-01-02T03:04:05Z"),
        ImageRecord(
            "ctr",
            "k8s.io",
            "app:1",
            A,
            M,
            2_000_000,
            "content",
            snaps,
            content,
            copies=2,
            kubelet_visible=True,
            source="metadata",
            aliases=[A],
        ),
        ImageRecord("crictl", "k8s.io", None, A, None, None, "reported", None, kubelet_visible=False),
        ImageRecord("docker", "moby", "web:2", A, M, 1, "content+unpacked", Store(StoreKind.SNAPSHOTS, "d"), content),
    ]


def test_an_image_row_round_trips_through_its_json():
    for r in _records():
        row = json.loads(json.dumps(r.to_dict()))
        assert image_record(row).to_dict() == r.to_dict(), r


def test_a_nodes_listing_becomes_records_where_it_arrives():
    rows = [r.to_dict() for r in _records()]
    log = onnode.encode({"reports": [{"argv": ["images", "-o", "json"], "exit": 0, "stdout": json.dumps(rows)}]})
    state = pod_state({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Succeeded"}})
    got = fleet_run._outcome("n", "p", state, log)
    assert got.images is not None and all(isinstance(r, ImageRecord) for r in got.images)
    assert [r.to_dict() for r in got.images] == rows
    row = where.row(got, "app:1", [])
    assert row.to_dict()["present"] == [
        {"backend": "ctr", "namespace": "k8s.io", "ref": "app:1", "id": A, "kubelet_visible": True}
    ]
    assert row.kubelet_visible is True and where.stores_words(row) == "ctr k8s.io" and row.doctor is None


def test_a_nodes_doctor_report_round_trips_through_results():
    from ctrtool.doctor.result import Evidence, Fix, Result, Status

    checks = [
        Result(
            "image",
            "Image",
            Status.FAIL,
            "not in k8s.io",
            [Evidence("ctr images ls", "REF")],
            [Fix("copy it", ["ctrtool copy a --from docker --to crictl"])],
            ["it is in docker"],
        ),
        Result("endpoints", "Endpoints", Status.OK, "fine", fixes=[Fix("write it", file="/etc/x", lines=["a: b"])]),
    ]
    rows = [c.to_dict() for c in checks]
    log = onnode.encode({"reports": [{"argv": ["doctor", "-o", "json"], "exit": 1, "stdout": json.dumps(rows)}]})
    state = pod_state({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Succeeded"}})
    got = fleet_run._outcome("n", "p", state, log)
    assert got.status == "ok" and got.checks is not None and [c.to_dict() for c in got.checks] == rows
    assert where.verdict_words(got.checks) == "[fail] not in k8s.io; fix: ctrtool copy a --from docker --to crictl"
    from ctrtool.commands.nodes import first_fix

    assert [first_fix(c) for c in got.checks] == ["ctrtool copy a --from docker --to crictl", "in /etc/x: a: b"]


def test_an_older_nodes_id_names_are_folded_and_no_listing_is_none():
    rows = [
        {"backend": "ctr", "namespace": "k8s.io", "ref": "app:1", "id": A},
        {"backend": "ctr", "namespace": "k8s.io", "ref": A, "id": A},
    ]
    got = image_records(rows)
    assert got is not None and [(r.ref, r.aliases) for r in got] == [("app:1", [A])]
    assert image_records(None) is None and image_records({"not": "a list"}) is None


def test_a_nodes_backends_come_from_the_descriptors():
    from ctrtool.adapters.descriptor import NodeDaemon

    assert node_backends({NodeDaemon.OWN: 1, NodeDaemon.CONTAINERD: 1, NodeDaemon.CRI: 1}) == [
        "docker",
        "ctr",
        "crictl",
    ]
    assert node_backends({NodeDaemon.OWN: None, NodeDaemon.CONTAINERD: 1, NodeDaemon.CRI: 1}) == ["ctr", "crictl"]
    assert node_backends({NodeDaemon.CONTAINERD: None, NodeDaemon.CRI: None}) == []


def test_a_nodes_df_round_trips_through_store_usage_records():
    from ctrtool.model import StoreEntry, StoreUsage, plain

    doc = plain(
        {
            "stores": [
                StoreUsage(
                    "docker",
                    "unpacked",
                    "docker",
                    None,
                    "/d",
                    ["docker"],
                    [],
                    3,
                    1000,
                    10,
                    [StoreEntry("sha256:x", "/p", 5, 2, ["a"])],
                ),
                StoreUsage("containerd namespace k8s.io", "unpacked", "ctr", "k8s.io", "/s", [], ["k8s.io"]),
            ],
            "duplicated": 10,
            "could_save": 5,
            "account": [{"root": "/r", "tool": "containerd", "bytes": 1, "buckets": [], "notes": []}],
        }
    )
    log = onnode.encode({"reports": [{"argv": ["df", "-o", "json"], "exit": 0, "stdout": json.dumps(doc)}]})
    state = pod_state({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Succeeded"}})
    got = fleet_run._outcome("n", "p", state, log)
    assert got.df is not None and all(isinstance(s, StoreUsage) for s in got.df.stores)
    assert plain(got.df) == doc


def test_a_cri_o_nodes_row_keeps_its_store_and_no_namespace():
    """CRI-O's images: no containerd namespace, the containers/storage graph root's overlay dir."""
    store = Store(StoreKind.CSTORAGE, "/g/overlay", "/g/overlay")
    r = ImageRecord("crictl", None, "app:1", A, M, 2_000_000, "reported", store, kubelet_visible=True)
    row = json.loads(json.dumps(r.to_dict()))
    assert row["store_kind"] == "containers-storage" and row["namespace"] is None
    back = image_record(row)
    assert back.to_dict() == r.to_dict() and back.store is not None and back.store.kind is StoreKind.CSTORAGE
    log = onnode.encode({"reports": [{"argv": ["images", "-o", "json"], "exit": 0, "stdout": json.dumps([row])}]})
    state = pod_state({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Succeeded"}})
    places = where.row(fleet_run._outcome("n", "p", state, log), "app:1", [])
    assert places.to_dict()["present"] == [
        {"backend": "crictl", "namespace": None, "ref": "app:1", "id": A, "kubelet_visible": True}
    ]
    assert places.kubelet_visible is True and where.stores_words(places) == "crictl"


def test_the_only_dockerd_is_not_a_cri_o_nodes_when_it_runs_on_another_nodes_containerd():
    from types import SimpleNamespace

    from ctrtool.fleet.onnode import _on_other_node

    ours = SimpleNamespace(endpoint="unix:///lab/nodes/node-crio-1/crio/crio.sock")
    theirs = SimpleNamespace(endpoint="unix:///lab/nodes/node-1/containerd/containerd.sock")
    dockerd = ["dockerd", "--containerd", "/lab/nodes/node-1/containerd/containerd.sock"]
    assert _on_other_node(dockerd, [ours, theirs], ours)
    # the host's one node: its dockerd on docker's own containerd, or on none named
    assert not _on_other_node(["dockerd", "--containerd", "/run/docker/containerd/containerd.sock"], [ours], ours)
    assert not _on_other_node(["dockerd"], [ours, theirs], ours)
