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
from ctrtool.lab.crio import CRIO_CONTAINER, PODMAN_CONTAINER, ROOTLESS_IMAGE, ROOTLESS_USER

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
        ("images", "-b", "crictl", "-b", "podman"),
        ("df", "-b", "crictl", "-b", "podman"),
        ("df", "--plan", "-b", "crictl", "-b", "podman"),
        ("explain", DEMO_IMAGE, "-b", "crictl", "-b", "podman"),
        ("doctor", "-v", "--image", ROOTLESS_IMAGE),
    ):
        proc = ctrtool(*args, env={**crio_env, "COLUMNS": "200"})
        assert proc.returncode in ((0, 1) if args[0] == "doctor" else (0,)), (args, proc.stderr)
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


# -- podman beside CRI-O: one store for rootful podman and CRI-O, a store of its own per user --------


def podman(env: dict[str, str], *args: str):
    proc = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout) if "json" in args else proc.stdout


def tree_state(path: str) -> list[tuple[str, int, int, int]]:
    out = []
    for base, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            st = os.lstat(os.path.join(base, name))
            out.append((os.path.join(base, name), st.st_size, st.st_mtime_ns, st.st_uid))
    return sorted(out)


def all_backends(env: dict[str, str], command: str) -> list[dict]:
    """`ctrtool COMMAND -A -o json`: this machine has docker's and ctr's clients but the crio lab
    no daemon of theirs, so they are reported (exit 3), each in one line, and the rest printed."""
    proc = ctrtool(command, "-A", "-o", "json", env=env)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ctrtool: error:")]
    assert proc.returncode == (3 if errors else 0), proc.stderr
    assert all(": no endpoint found" in ln for ln in errors), proc.stderr
    assert not [ln for ln in errors if "crictl" in ln or "podman" in ln], proc.stderr
    return json.loads(proc.stdout)


def test_rootful_podman_and_cri_o_are_one_store_and_a_users_store_is_another(crio_env, crio_lab, graphroot):
    rows = all_backends(crio_env, "images")
    assert {r["backend"] for r in rows} >= {"crictl", "podman"}
    demo = [r for r in rows if r["ref"] == DEMO_IMAGE]
    assert {r["backend"] for r in demo} == {"crictl", "podman"}
    assert {r["store"] for r in demo} == {os.path.join(graphroot, "overlay")}, "one store"
    assert all(r["copies"] == 1 and r["kubelet_visible"] is True for r in demo), demo
    # podman's own listing of the same store: the same image ids
    ids = {f"sha256:{i['Id']}" for i in podman(crio_env, "images", "--format", "json")}
    assert {r["id"] for r in rows if r["backend"] == "podman" and r["store_owner"] is None} <= ids
    # the user's store: its own rows, its owner, invisible to the kubelet
    (theirs,) = [r for r in rows if r["ref"] == ROOTLESS_IMAGE]
    assert theirs["backend"] == "podman" and theirs["store_owner"] == ROOTLESS_USER
    assert theirs["store"] == f"{crio_lab.rootless_graphroot}/overlay"
    assert theirs["kubelet_visible"] is False
    # layers: the demo image's are unpacked once, under the shared graph root
    layers, _ = ctrtool_json("layers", "-b", "crictl", "-b", "podman", DEMO_IMAGE, env=crio_env)
    shared = os.path.join(graphroot, "overlay") + "/"
    for layer in layers:
        ours = [c for c in layer["copies"] if c["path"].startswith(shared)]
        assert [sorted(c["seen_by"]) for c in ours] == [["crictl", "podman"]], layer
        # the busybox layer is also in the user's store (its own image has it): a copy of its own
        theirs = [c for c in layer["copies"] if not c["path"].startswith(shared)]
        assert all(c["path"].startswith(f"{crio_lab.rootless_graphroot}/") for c in theirs)
        assert layer["stored"] == 1 + len(theirs)
    # info: both name the same graph root, and podman its user's store
    infos, _ = ctrtool_json("info", "-b", "crictl", "-b", "podman", env=crio_env)
    assert {i["root"] for i in infos} == {graphroot}
    (mine,) = [i for i in infos if i["backend"] == "podman"]
    assert [(s["user"], s["graphroot"]) for s in mine["user_stores"]] == [
        (ROOTLESS_USER, str(crio_lab.rootless_graphroot))
    ]
    table = ctrtool("info", "-b", "crictl", "-b", "podman", env=crio_env)
    assert f"crictl and podman keep images in the containers/storage store at {graphroot}" in table.stdout


def test_ps_all_backends_shows_the_cri_o_container_and_podmans_own(crio_env):
    rows = all_backends(crio_env, "ps")
    got = {(r["backend"], r["name"]): r["state"] for r in rows}
    assert got[("crictl", CRIO_CONTAINER)] == "running"
    assert got[("podman", PODMAN_CONTAINER)] == "running"


def test_copy_of_an_image_already_in_the_shared_store_writes_nothing(crio_env, graphroot):
    before = tree_state(os.path.join(graphroot, "overlay-images"))
    proc = ctrtool("copy", DEMO_IMAGE, "--from", "podman", "--to", "crictl", "--yes", env=crio_env)
    assert proc.returncode == 2, proc.stderr
    assert "nothing to copy" in proc.stderr and "one store" in proc.stderr
    assert tree_state(os.path.join(graphroot, "overlay-images")) == before


def test_doctor_finds_the_rootless_only_image_and_its_fix_makes_the_kubelet_see_it(crio_env, crio_lab, graphroot):
    user_store = crio_lab.rootless_graphroot
    before_user = tree_state(user_store)
    names = lambda: {t for i in crictl(crio_env, "images", "--output", "json")["images"] for t in i["repoTags"]}  # noqa: E731
    assert ROOTLESS_IMAGE not in names()
    got, proc = doctor("--image", ROOTLESS_IMAGE, "--check", "image", env=crio_env)
    result = got["image"]
    assert result["status"] == "fail" and proc.returncode == 1
    assert f"user {ROOTLESS_USER}, rootless" in result["summary"] and "invisible to the kubelet" in result["summary"]
    assert "k8s.io" not in json.dumps(result)
    (fix,) = result["fixes"]
    assert fix["commands"] == [f"ctrtool copy {ROOTLESS_IMAGE} --from podman --to crictl"]
    assert all("--yes" not in c for c in fix["commands"])
    layers_before = set(os.listdir(os.path.join(graphroot, "overlay")))
    du_before = int(subprocess.run(["du", "-sb", graphroot], capture_output=True, text=True).stdout.split()[0])
    try:
        # carried out as a person would (the prompt answered by --yes here, never in the advice)
        argv = fix["commands"][0].split()[1:] + ["--yes"]
        done = ctrtool(*argv, env=crio_env)
        assert done.returncode == 0, done.stderr
        assert ROOTLESS_IMAGE in names(), "crictl sees it now"
        got, _ = doctor("--image", ROOTLESS_IMAGE, "--check", "image", env=crio_env)
        assert got["image"]["status"] == "ok", got["image"]
        # its one layer is the busybox layer the store had: no layer unpacked again, only metadata
        assert set(os.listdir(os.path.join(graphroot, "overlay"))) == layers_before
        du_after = int(subprocess.run(["du", "-sb", graphroot], capture_output=True, text=True).stdout.split()[0])
        assert 0 < du_after - du_before < 1 << 20, (du_before, du_after)
        assert tree_state(user_store) == before_user, "the user's store was written"
    finally:
        subprocess.run(
            ["crictl", "--runtime-endpoint", crio_env["CONTAINER_RUNTIME_ENDPOINT"], "rmi", ROOTLESS_IMAGE],
            capture_output=True,
        )


def test_explain_on_cri_o_keeps_the_kubelets_copy_and_never_touches_a_users_store(crio_env):
    demo, _ = ctrtool_json("explain", DEMO_IMAGE, "-b", "crictl", "-b", "podman", env=crio_env)
    assert demo["recommendation"]["action"] == "nothing", demo["recommendation"]
    theirs, _ = ctrtool_json("explain", ROOTLESS_IMAGE, "-b", "crictl", "-b", "podman", env=crio_env)
    todo = theirs["recommendation"]
    assert todo["action"] == "copy" and "the CRI runtime's store" in todo["headline"], todo
    assert todo["commands"] == [f"ctrtool copy {ROOTLESS_IMAGE} --from podman --to crictl"]
    assert any(f"user {ROOTLESS_USER}'s rootless store" in b for b in todo["blockers"]), todo
    assert "k8s.io" not in json.dumps(theirs) and "namespace" not in todo["text"]


def test_doctor_on_cri_o_loads_an_image_that_is_nowhere_into_the_runtimes_store(crio_env, graphroot):
    got, _ = doctor("--image", "localhost/nowhere/at-all:1", "--check", "image", env=crio_env)
    (fix,) = got["image"]["fixes"]
    assert fix["commands"] == [
        "ctrtool pull --backend crictl localhost/nowhere/at-all:1",
        "ctrtool load --backend podman IMAGE.tar",  # podman writes CRI-O's store here (one graph root)
    ]
    assert graphroot in fix["summary"] and "k8s.io" not in json.dumps(got["image"])
