"""A place (where an image's unpacked copy lives) has one identity, ``model.PlaceId``: two graph
driver stores at different paths (two dockerds, or docker's overlay2 and another engine's store)
stay two places in core's holdings, in explain's places and in reclaim's keys."""

from __future__ import annotations

from ctrtool.commands import explain
from ctrtool.core import storage
from ctrtool.core.query import Outcome
from ctrtool.model import (
    CopyKind,
    ImageRecord,
    LayerCopy,
    LayerRow,
    PlaceId,
    SizeKind,
    StoreKind,
    graph_store,
    layer_place,
    place_of,
)

REF = "docker.io/library/busybox:latest"


def _record(backend: str, root: str, namespace: str | None = None) -> ImageRecord:
    store = graph_store(root, f"{root}/overlay2", "overlay2")
    return ImageRecord(backend, namespace, REF, "sha256:" + "a" * 64, None, 10, SizeKind.UNPACKED, store)


def _holdings(monkeypatch, outcomes):
    monkeypatch.setattr(storage, "fan_out", lambda settings, backends, op: outcomes)
    return storage.image_holdings(None, [o.backend for o in outcomes], REF)  # type: ignore[arg-type]


def test_two_graph_stores_are_two_holdings(monkeypatch, tmp_path):
    one, two = str(tmp_path / "docker-a"), str(tmp_path / "docker-b")
    holdings = _holdings(
        monkeypatch,
        [Outcome("docker", ([_record("docker", one)], [])), Outcome("docker", ([_record("docker", two)], []))],
    )
    assert set(holdings) == {place_of(f"{one}/overlay2", None), place_of(f"{two}/overlay2", None)}
    assert all(p.kind is StoreKind.GRAPH for p in holdings)


def test_two_graph_stores_are_two_places_in_explain(monkeypatch, tmp_path):
    one, two = str(tmp_path / "docker-a"), str(tmp_path / "docker-b")
    holdings = _holdings(monkeypatch, [Outcome("docker", ([_record("docker", one)], []))])
    copies = [
        LayerCopy("docker", None, CopyKind.UNPACKED, f"{root}/overlay2/{cache}/diff", size=5, seen_by=["docker"])
        for root, cache in ((one, "c1"), (two, "c2"))
    ]
    got = explain.places([LayerRow(0, "sha256:d", "sha256:c", None, 5, 2, 5, copies)], holdings)
    assert len(got) == 2
    assert [p.has_image for p in got].count(True) == 1  # the image is in the first store only
    held = next(p for p in got if p.has_image)
    assert held.paths == [f"{one}/overlay2/c1/diff"] and held.refs == [REF]
    assert "place" not in explain.Place("docker", "docker", None, [], True).to_dict()


def test_place_of_a_layer():
    snap = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"
    assert layer_place(f"{snap}/snapshots/12/fs", "k8s.io") == PlaceId(StoreKind.SNAPSHOTS, snap, "k8s.io")
    assert layer_place(f"{snap}/snapshots/12/fs", "moby") != layer_place(f"{snap}/snapshots/12/fs", "k8s.io")
    assert layer_place("/srv/a/overlay2/x/diff", None) == PlaceId(StoreKind.GRAPH, "/srv/a/overlay2")
    # a store whose directory no tool reported takes the copies of its kind and namespace
    unknown = place_of(None, "k8s.io")
    assert layer_place(f"{snap}/snapshots/12/fs", "k8s.io", [unknown]) == unknown


def test_reclaim_keys_two_graph_stores_apart():
    assert place_of("/srv/a/overlay2", None) != place_of("/srv/b/overlay2", None)
    assert place_of("/srv/a/overlay2", None) == _record("docker", "/srv/a").store.place  # type: ignore[union-attr]


def test_image_store_and_pod_state_are_kinds_written_as_their_words():
    import json

    from ctrtool.model import BackendInfo, ImageStore, PodRecord, PodState, plain

    info = BackendInfo("docker", None, None, "default", None, None, None, None, None, image_store=ImageStore.GRAPH)
    assert info.image_store is ImageStore.GRAPH and info.image_store == "graph"
    assert json.loads(json.dumps(plain(info)))["image_store"] == "graph"
    pod = PodRecord("crictl", "k8s.io", "p", "web", "default", None, PodState.NOTREADY, "SANDBOX_NOTREADY", None, 0, 1)
    assert pod.state is PodState.NOTREADY and f"{pod.state}" == "notready"
    assert plain(pod)["state"] == "notready"


def test_images_caption_names_two_graph_stores_apart():
    from ctrtool.commands.images import caption

    rows = [_record("docker", "/srv/a"), _record("docker", "/srv/b")]
    for r in rows:
        r.copies = 2
    line = next(line for line in caption(rows) if "unpacked 2 times" in line)
    assert "the overlay2 graph driver store under /srv/a/overlay2" in line
    assert "the overlay2 graph driver store under /srv/b/overlay2" in line
    assert "docker's own" not in line


def test_a_view_without_its_directory_is_the_place_its_peer_reported(monkeypatch, tmp_path):
    """Docker 29 on containerd's image store lists its images in namespace moby without the
    snapshotter's directory; ctr lists the same namespace with it. They are one place, whose users
    are docker's containers (CI's modern run: explain recommended removing docker's copy that a
    container used, as the two views were two places and the layer went to ctr's)."""
    from ctrtool.model import ContainerRecord, State, Store

    snapshots = str(tmp_path / "io.containerd.snapshotter.v1.overlayfs")
    docker_copy = ImageRecord("docker", "moby", REF, "sha256:" + "a" * 64, None, 10, SizeKind.UNPACKED, None)
    ctr_store = Store(StoreKind.SNAPSHOTS, "/run/containerd.sock", snapshots, "moby", "overlayfs")
    ctr_copy = ImageRecord("ctr", "moby", REF, "sha256:" + "a" * 64, None, 10, SizeKind.CONTENT, ctr_store)
    user = ContainerRecord("docker", None, "c" * 64, "web", REF, State.CREATED, None, None, None, None)
    holdings = _holdings(monkeypatch, [Outcome("docker", ([docker_copy], [user])), Outcome("ctr", ([ctr_copy], []))])
    assert list(holdings) == [place_of(snapshots, "moby")]
    (held,) = holdings.values()
    assert held.backend == "docker" and [c.name for c in held.used_by] == ["web"]
    assert layer_place(f"{snapshots}/snapshots/1/fs", "moby", holdings) == place_of(snapshots, "moby")
