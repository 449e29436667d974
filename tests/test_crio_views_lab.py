"""crictl on CRI-O (the crio lab: CRI-O 1.37 and podman on one containers/storage store): what
ctrtool says of the CRI's store is true on disk, the kubelet's images are marked so, and nothing
speaks of containerd's namespaces.

Checked against crictl itself, CRI-O's store on disk and du."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from helpers import ctrtool, ctrtool_json, doctor

from ctrtool.lab.common import DEMO_IMAGE, PAUSE_IMAGE
from ctrtool.lab.crio import CRIO_CONTAINER

pytestmark = pytest.mark.lab


def crictl(env: dict[str, str], *args: str):
    endpoint = env["CONTAINER_RUNTIME_ENDPOINT"]
    proc = subprocess.run(
        ["crictl", "--runtime-endpoint", endpoint, "--image-endpoint", endpoint, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout) if "json" in args else proc.stdout


@pytest.fixture(scope="module")
def graphroot(crio_env):
    """CRI-O's graph root as CRI-O itself says it (the image filesystem is <graphroot>/overlay-images)."""
    fs = crictl(crio_env, "imagefsinfo", "--output", "json")
    mount = fs["status"]["imageFilesystems"][0]["fsId"]["mountpoint"]
    assert os.path.basename(mount) == "overlay-images", mount
    return os.path.dirname(mount)


def file_bytes(path: str) -> int:
    """du's apparent bytes of the files under path (a hard-linked file once), without the directories'
    own sizes: what SIZE counts."""
    got = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    dirs = subprocess.run(["find", path, "-type", "d", "-printf", "%s\n"], capture_output=True, text=True, check=True)
    return int(got.stdout.split()[0]) - sum(int(n) for n in dirs.stdout.split())


def test_images_are_the_cri_runtimes_and_kubelet_visible(crio_env, graphroot):
    rows, _ = ctrtool_json("images", "-b", "crictl", env=crio_env)
    listed = crictl(crio_env, "images", "--output", "json")["images"]
    assert {r["id"] for r in rows} == {i["id"] for i in listed}
    demo = next(r for r in rows if r["ref"] == DEMO_IMAGE)
    assert demo["namespace"] is None and demo["kubelet_visible"] is True
    assert demo["store_kind"] == "containers-storage"
    # the directory the layers are unpacked in, not the image metadata CRI-O names as its image fs
    assert demo["store"] == os.path.join(graphroot, "overlay") and os.path.isdir(demo["store"])
    assert all(r["kubelet_visible"] is True for r in rows)


def test_no_word_of_containerd_namespaces_on_a_crio_node(crio_env):
    for args in (
        ("images", "-b", "crictl"),
        ("ps", "-b", "crictl"),
        ("info", "-b", "crictl"),
        ("df", "-b", "crictl"),
        ("layers", "-b", "crictl", DEMO_IMAGE),
    ):
        proc = ctrtool(*args, env={**crio_env, "COLUMNS": "200"})
        assert proc.returncode == 0, (args, proc.stderr)
        text = proc.stdout + proc.stderr
        assert "namespace" not in text.lower() and "k8s.io" not in text, (args, text)
    info, _ = ctrtool_json("info", "-b", "crictl", env=crio_env)
    assert info[0]["namespaces"] == [] and info[0]["containerd"] is None


def test_info_names_cri_o_its_graph_root_and_sandbox_image(crio_env, graphroot):
    (info,), _ = ctrtool_json("info", "-b", "crictl", env=crio_env)
    assert info["runtime"] == "cri-o 1.37.0"
    assert info["image_store"] == "containers-storage"
    assert (info["root"], info["store"], info["storage_driver"]) == (graphroot, f"{graphroot}/overlay", "overlay")
    assert info["sandbox_image"] == PAUSE_IMAGE
    assert info["image_count"] == len(crictl(crio_env, "images", "--output", "json")["images"])


def test_layers_are_unpacked_once_under_the_graph_root_as_du_says(crio_env, graphroot):
    layers, _ = ctrtool_json("layers", "-b", "crictl", DEMO_IMAGE, env=crio_env)
    inspect = crictl(crio_env, "inspecti", "--output", "json", DEMO_IMAGE)
    assert [layer["diff_id"] for layer in layers] == inspect["info"]["imageSpec"]["rootfs"]["diff_ids"]
    for layer in layers:
        (copy,) = layer["copies"]
        assert copy["kind"] == "unpacked" and layer["stored"] == 1
        parent, leaf = os.path.split(copy["path"])
        assert leaf == "diff" and os.path.dirname(parent) == os.path.join(graphroot, "overlay"), copy["path"]
        assert copy["size"] == file_bytes(copy["path"]), copy


def test_df_counts_each_layer_and_container_layer_as_du_does(crio_env, graphroot):
    usage, _ = ctrtool_json("df", "-b", "crictl", env=crio_env)
    stores = {s["kind"]: s for s in usage["stores"]}
    assert set(stores) == {"unpacked", "container"}, stores.keys()
    for store in stores.values():
        assert store["path"] == os.path.join(graphroot, "overlay")
        paths = [e["path"] for e in store["entries"]]
        assert all(os.path.isdir(p) for p in paths)
        assert store["bytes"] == sum(file_bytes(p) for p in paths)
    # the running container's writable layer is one of them
    containers = crictl(crio_env, "ps", "--output", "json")["containers"]
    assert any(c["metadata"]["name"] == CRIO_CONTAINER for c in containers)
    assert stores["container"]["items"] >= 1


def test_ps_shows_the_cri_o_container_running(crio_env):
    rows, _ = ctrtool_json("ps", "-b", "crictl", env=crio_env)
    (row,) = [r for r in rows if r["name"] == CRIO_CONTAINER]
    assert row["state"] == "running" and row["namespace"] is None


def test_doctor_on_cri_o(crio_env, graphroot):
    got, _ = doctor(env=crio_env)
    assert got["cri_plugin"]["status"] == "ok" and "cri-o" in got["cri_plugin"]["summary"]
    sandbox = got["sandbox_image"]
    assert sandbox["status"] == "ok", sandbox
    assert f"{PAUSE_IMAGE} is in the CRI runtime's store" in sandbox["summary"] and "k8s.io" not in sandbox["summary"]
    store = got["snapshotter"]
    assert store["status"] == "ok" and graphroot in store["summary"], store
    assert any("cri-o 1.37.0: 1.37 is among the 3 supported" in d for d in got["versions"]["details"])
    for result in got.values():
        assert "k8s.io" not in json.dumps(result), result


def test_doctor_says_when_the_system_storage_conf_is_another_store(crio_env, graphroot, tmp_path):
    """storage.conf naming another graph root that holds images: podman loads there, the kubelet
    does not see it. The warning names the storage.conf line and where CRI-O's root comes from."""
    other = tmp_path / "other-store"
    other.mkdir()
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{other}"\n')
    got, _ = doctor("--check", "snapshotter", env={**crio_env, "CONTAINERS_STORAGE_CONF": str(conf)})
    result = got["snapshotter"]
    assert result["status"] == "warn", result
    assert str(other) in result["summary"] and graphroot in result["summary"]
    sources = [e["source"] for e in result["evidence"]]
    assert f"{conf}:3" in sources, sources
    assert any(s.startswith("/proc/") and s.endswith("/cmdline") for s in sources), sources
    (fix,) = result["fixes"]
    assert fix["file"] == str(conf) and fix["lines"] == [f'graphroot = "{graphroot}"']
