"""Adapters' parsers on output recorded from the real tools (scripts/record_fixtures.py).

The recorded calls cross-check each other: e.g. the refs parsed from `ctr images ls` must be the
ones `ctr images ls -q` printed, and the ids parsed from docker's inspect the ones `image ls -q` gave.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctrtool.adapters import crictl, ctr, docker
from ctrtool.errors import PermissionDenied, Unreachable
from ctrtool.model import SizeKind, StoreKind, containerd_snapshots

UNPACKED, CONTENT = SizeKind.UNPACKED, SizeKind.CONTENT  # the size kinds (an enum in ctrtool.model)

FIXTURES = Path(__file__).parent / "fixtures"


def rec(tool: str, name: str) -> dict:
    return json.loads((FIXTURES / tool / f"{name}.json").read_text())


def out(tool: str, name: str) -> str:
    return rec(tool, name)["stdout"]


# -- ctr --------------------------------------------------------------------------------------


@pytest.mark.parametrize("ns", ["default", "k8s.io"])
def test_ctr_images_table_matches_the_quiet_listing(ns):
    rows = ctr.parse_table(out("ctr", f"namespace_{ns}_images_ls"), required=("REF", "DIGEST"))
    refs = ctr.parse_lines(out("ctr", f"namespace_{ns}_images_ls_--quiet"))
    assert [r["REF"] for r in rows] == refs
    for row in rows:
        assert row["DIGEST"].startswith("sha256:") and len(row["DIGEST"]) == 71
        assert row["SIZE"].endswith("iB"), "a cell with a space inside is kept whole"
        assert row["PLATFORMS"] == "linux/amd64"


def test_ctr_table_without_expected_columns_is_rejected():
    with pytest.raises(ValueError, match="lacks column"):
        ctr.parse_table(out("ctr", "namespaces_ls_--quiet"), required=("REF", "DIGEST"))
    with pytest.raises(ValueError, match="empty"):
        ctr.parse_table("", required=("REF",))


def test_ctr_plugins_give_the_storage_roots():
    plugins = ctr.parse_plugins(out("ctr", "plugins_ls_--detailed"))
    recorded = json.loads((FIXTURES / "recorded-from.json").read_text())
    assert plugins.content_root == recorded["content_root"]
    assert plugins.root == str(Path(recorded["content_root"]).parent)
    assert plugins.snapshotter_roots["overlayfs"] == f"{plugins.root}/io.containerd.snapshotter.v1.overlayfs"
    assert all(root.startswith(plugins.root) for root in plugins.snapshotter_roots.values())
    # the metadata plugin exports its bolt file's path (the fast read path reads it)
    assert plugins.metadata_db == f"{plugins.root}/io.containerd.metadata.v1.bolt/meta.db"


def test_ctr_plugins_drop_snapshotters_that_failed_to_load():
    text = out("ctr", "plugins_ls_--detailed")
    # aufs exports a root but failed to load (Error block): its directory holds nothing
    assert "io.containerd.snapshotter.v1.aufs" in text and "aufs is not supported" in text
    plugins = ctr.parse_plugins(text)
    assert "aufs" in plugins.failed_snapshotters
    assert "aufs" not in plugins.snapshotter_roots and "btrfs" not in plugins.snapshotter_roots


def test_ctr_version_and_namespaces():
    version = ctr.parse_version(out("ctr", "version"))
    assert version["server"].startswith("1.") and version["client"]
    assert set(ctr.parse_lines(out("ctr", "namespaces_ls_--quiet"))) >= {"default", "k8s.io"}


def test_ctr_blob_reader_gives_config_digest_and_exact_size():
    reader = ctr.BlobReader(str(FIXTURES / "ctr" / "content"))
    rows = ctr.parse_table(out("ctr", "namespace_k8s.io_images_ls"))
    crictl_images = json.loads(out("crictl", "images_--output_json"))["images"]
    sizes_by_id = {i["id"]: int(i["size"]) for i in crictl_images}
    for row in rows:
        config, size = reader.image_config_and_size(row["DIGEST"], row["TYPE"])
        # the CRI computed the same id and size independently
        assert config in sizes_by_id
        assert size == sizes_by_id[config]
    assert reader.image_config_and_size("sha256:" + "0" * 64, None) == (None, None)


def test_ctr_unreachable_is_classified():
    from ctrtool.config import Endpoint, Settings

    adapter = ctr.CtrAdapter(Settings(), Endpoint("ctr", "/nonexistent/containerd.sock", "test"))
    err = adapter.classify(1, rec("ctr", "unreachable_version")["stderr"])
    assert isinstance(err, Unreachable) and not isinstance(err, PermissionDenied)
    assert "failed to dial" in err.message
    assert adapter.classify(1, 'ctr: image "x": not found') is None


# -- docker -----------------------------------------------------------------------------------


def test_docker_inspect_gives_one_record_per_tag_with_exact_sizes():
    ids = docker.parse_image_ids(out("docker", "image_ls_--quiet_--no-trunc"))
    info = json.loads(out("docker", "info_--format"))
    items = json.loads(out("docker", "image_inspect"))
    where = docker.docker_store(info)
    store = where.store
    assert not where.on_containerd and store.kind is StoreKind.GRAPH
    assert store.path == f"{info['DockerRootDir']}/overlay2"
    assert docker.overlay2_store(items) == store.path, "read off the layers' paths, the same directory"
    records = docker.parse_inspect(items, store)
    assert [r.id for r in records] == [i["Id"] for i in items for _ in (i["RepoTags"] or [None])]
    assert {r.id for r in records} == set(ids)
    assert {r.ref for r in records} == {t for i in items for t in i["RepoTags"]}
    for r in records:
        assert r.size_kind == UNPACKED and isinstance(r.size, int) and r.size > 0
        assert r.namespace is None and r.store == store
    assert info["Images"] == len(ids)


def test_docker_digest_is_taken_from_the_matching_repository():
    assert docker._digest_for("reg.io/a/b:1", ["reg.io/x/y@sha256:1", "reg.io/a/b@sha256:2"]) == "sha256:2"
    assert docker._digest_for("localhost:5000/b", ["localhost:5000/b@sha256:3"]) == "sha256:3"
    assert docker._digest_for(None, []) is None


def test_docker_store_needs_docker_info_for_other_drivers():
    items = [dict(i, GraphDriver={"Name": "btrfs", "Data": None}) for i in json.loads(out("docker", "image_inspect"))]
    assert docker.overlay2_store(items) is None


def test_docker_containerd_image_store_has_no_graph_directory():
    info = json.loads(out("docker", "info_--format"))
    info = dict(info, Driver="overlayfs", DriverStatus=[["driver-type", "io.containerd.snapshotter.v1"]])
    where = docker.docker_store(info)
    assert where.on_containerd and where.store.kind is StoreKind.SNAPSHOTS and where.store.path is None


def test_docker_unreachable_is_classified():
    from ctrtool.config import Endpoint, Settings

    adapter = docker.DockerAdapter(Settings(), Endpoint("docker", "unix:///nonexistent/docker.sock", "test"))
    err = adapter.classify(1, rec("docker", "unreachable_info_--format")["stderr"])
    assert isinstance(err, Unreachable)
    assert "Cannot connect to the Docker daemon" in err.message
    denied = adapter.classify(1, "permission denied while trying to connect to the Docker daemon socket at x")
    assert isinstance(denied, PermissionDenied) and "root" in denied.hint


# -- crictl -----------------------------------------------------------------------------------


def test_crictl_images_one_record_per_tag():
    data = json.loads(out("crictl", "images_--output_json"))
    fs = crictl.parse_imagefs_mountpoint(json.loads(out("crictl", "imagefsinfo_--output_json")))
    version = crictl.parse_version(out("crictl", "version"))
    assert version["RuntimeName"] == "containerd" and version["RuntimeApiVersion"] == "v1"
    ns = crictl.cri_namespace(version)
    assert ns == "k8s.io"
    records = crictl.parse_images(data, ns, containerd_snapshots("unix:///x.sock", ns, fs, "overlayfs"))
    quiet_ids = set(out("crictl", "images_--quiet").split())
    assert {r.id for r in records} == quiet_ids
    assert len(records) == sum(len(i["repoTags"]) or 1 for i in data["images"])
    for r in records:
        assert r.size_kind == CONTENT and r.size > 0 and r.store.path == fs and r.namespace == "k8s.io"
    assert fs.endswith("io.containerd.snapshotter.v1.overlayfs")


def test_crictl_info_names_containerd_directories():
    info = json.loads(out("crictl", "info_--output_json"))
    fs = crictl.parse_imagefs_mountpoint(json.loads(out("crictl", "imagefsinfo_--output_json")))
    assert fs.startswith(info["config"]["containerdRootDir"] + "/")


def test_crictl_bad_json_shape_is_rejected():
    with pytest.raises(ValueError):
        crictl.parse_images({"items": []}, "k8s.io", None)


def test_crictl_unreachable_is_classified_with_the_log_message():
    from ctrtool.config import Endpoint, Settings

    adapter = crictl.CrictlAdapter(Settings(), Endpoint("crictl", "unix:///nonexistent/cri.sock", "test"))
    err = adapter.classify(1, rec("crictl", "unreachable_version")["stderr"])
    assert isinstance(err, Unreachable)
    assert err.message.count("\n") == 0
    assert "level=" not in err.message and "validate service connection" in err.message


def test_ctr_blob_reader_says_why_a_manifest_is_unknown(tmp_path):
    reader = ctr.BlobReader(str(tmp_path / "no-content-store"))
    digest = ctr.parse_table(out("ctr", "namespace_default_images_ls"))[0]["DIGEST"]
    assert reader.image_config_and_size(digest, None) == (None, None)
    assert reader.problem == "no such file or directory"
