"""The crio lab's parts that need no daemon: the runtime wrapper's edits of config.json and its
pass-through, the pinned source tarball, the profile. (The lab itself: tests/test_lab_crio.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ctrtool.errors import LabError
from ctrtool.lab import profiles, runcwrapper, sourcebuild


def test_the_wrapper_fixes_the_three_traps_and_clamps_rlimits():
    config = {
        "process": {
            "oomScoreAdj": -998,
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_BPF"], "effective": ["CAP_CHOWN"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}],
        },
        "linux": {"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}], "cpu": {"shares": 2}}},
    }
    allowed = {"CAP_CHOWN", "CAP_BPF"}
    assert runcwrapper.fix_config(config, allowed, hard_limit=lambda name: 20000)
    assert config["process"]["oomScoreAdj"] == 0
    assert config["process"]["capabilities"] == {"bounding": ["CAP_CHOWN", "CAP_BPF"], "effective": ["CAP_CHOWN"]}
    assert config["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
    assert config["linux"]["resources"] == {"cpu": {"shares": 2}}
    # a config that needs nothing is left as it is
    assert not runcwrapper.fix_config(config, allowed, hard_limit=lambda name: 20000)


def test_the_wrapper_reads_the_bounding_set():
    caps = runcwrapper.bounding_set("Name:\tx\nCapBnd:\t000001fffeffffff\n")
    assert "CAP_SYS_ADMIN" in caps and "CAP_CHECKPOINT_RESTORE" in caps
    assert "CAP_SYS_RESOURCE" not in caps  # bit 24


@pytest.mark.parametrize(
    ("argv", "bundle"),
    [
        (["--root", "/r", "create", "--bundle", "/b", "--pid-file", "/p", "id"], "/b"),
        (["--root=/r", "--log", "/l", "create", "-b", "/b", "id"], "/b"),
        (["run", "--bundle=/b", "id"], "/b"),
        (["--root", "/r", "start", "id"], None),
        (["--root", "/r", "state", "create"], None),  # a container named "create"
        (["--version"], None),
    ],
)
def test_the_wrapper_finds_the_bundle_of_create_and_run_only(argv, bundle):
    assert runcwrapper.bundle_of(argv) == bundle


def test_the_wrapper_passes_other_invocations_through_unchanged(tmp_path):
    """Written as the lab writes it, its runc a script that prints its arguments."""
    fake = tmp_path / "runc"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
    fake.chmod(0o755)
    source = open(runcwrapper.__file__).read().replace('RUNC = "runc"', f'RUNC = "{fake}"', 1)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(f"#!{sys.executable}\n{source}")
    wrapper.chmod(0o755)
    args = ["--root", "/r", "kill", "id with space", "SIGTERM"]
    out = subprocess.run([str(wrapper), *args], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"[{a}]" for a in args]
    # create: config.json edited in the bundle, the arguments passed as they came
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"oomScoreAdj": -998}}))
    out = subprocess.run([str(wrapper), "create", "--bundle", str(bundle), "c1"], capture_output=True, text=True)
    assert out.stdout.splitlines() == ["[create]", "[--bundle]", f"[{bundle}]", "[c1]"]
    assert json.loads((bundle / "config.json").read_text())["process"]["oomScoreAdj"] == 0


def test_the_source_tarball_is_pinned(tmp_path, monkeypatch):
    other = tmp_path / "cri-o-deadbeef.tar.gz"
    other.write_bytes(b"not cri-o")
    monkeypatch.setenv(sourcebuild.CRIO_SOURCE_ENV, str(other))
    with pytest.raises(LabError, match="pinned sha256"):
        sourcebuild.find_crio_source()
    monkeypatch.setenv(sourcebuild.CRIO_SOURCE_ENV, str(tmp_path / "missing.tar.gz"))
    with pytest.raises(LabError, match="missing.tar.gz"):
        sourcebuild.find_crio_source()


def test_the_crio_profile():
    crio = profiles.get("crio")
    assert crio.crio and not crio.kubernetes and crio.docker_store == ""
    assert crio.default_dir == "/var/tmp/ctrtool-lab-crio"
    (build,) = crio.builds
    assert build.directory() == profiles.cache_dir() / "crio-1.37.0"
    assert build.commands == ("crio", "pinns") and build.source_sha256 == sourcebuild.CRIO_SOURCE_SHA256


def test_open_lab_gives_a_crio_lab(tmp_path):
    from ctrtool.lab import open_lab
    from ctrtool.lab.crio import CrioLab

    lab = open_lab(str(tmp_path / "lab"), "crio")
    assert isinstance(lab, CrioLab)
    env = lab.env()
    assert env["CONTAINERS_STORAGE_CONF"] == str(tmp_path / "lab" / "storage.conf")
    assert env["CTRTOOL_PASSWD_FILE"] == str(tmp_path / "lab" / "passwd")
    assert env["CONTAINER_RUNTIME_ENDPOINT"] == env["IMAGE_SERVICE_ENDPOINT"] == f"unix://{lab.socket}"
    assert "DOCKER_HOST" not in env and "CONTAINERD_ADDRESS" not in env
    assert os.path.dirname(lab.status()["daemons"][0]["pidfile"]) == str(tmp_path / "lab" / "crio")


def test_a_kube_lab_with_crio_nodes_names_them_and_records_how_many(tmp_path):
    from ctrtool.lab import open_lab
    from ctrtool.lab.crionode import CrioNode
    from ctrtool.lab.kube import KubeLab
    from ctrtool.lab.kubenode import KUBE_PAUSE_IMAGE, NodeRuntime

    d = tmp_path / "kube"
    lab = open_lab(str(d), "kube", 1, 1)
    assert isinstance(lab, KubeLab) and lab.crio_count == 1
    assert [n.name for n in lab.nodes] == ["node-1", "node-crio-1"]
    assert isinstance(lab.nodes[0], NodeRuntime) and isinstance(lab.nodes[1], CrioNode)
    crio = lab.nodes[1]
    assert crio.sandbox_image == KUBE_PAUSE_IMAGE
    assert crio.graphroot == d / "nodes" / "node-crio-1" / "storage"
    assert crio.cgroup_root != lab.nodes[0].cgroup_root and crio.cgroup_root.endswith("-node-crio-1")
    status = lab.status()
    assert [(n["name"], n["runtime"]) for n in status["nodes"]] == [("node-1", "containerd"), ("node-crio-1", "cri-o")]
    names = [x["name"] for x in status["daemons"]]
    assert names[-2:] == ["node-crio-1/crio", "node-crio-1/kubelet"]
    assert "node-crio-1/containerd" not in names and "node-crio-1/dockerd" not in names
    # the counts as `up` records them: asked again, or left out
    (d / "kube").mkdir(parents=True)
    (d / "kube" / "nodes").write_text("1\n")
    (d / "kube" / "crio-nodes").write_text("1\n")
    assert KubeLab(d).crio_count == 1 and KubeLab(d).node_count == 1
    with pytest.raises(LabError, match="holds a lab of 1 crio-node"):
        KubeLab(d, crio_nodes=2)
    with pytest.raises(LabError, match="holds a lab of 1 node"):
        KubeLab(d, nodes=2)
    with pytest.raises(LabError, match="--crio-nodes 9: a kube lab has 0 to 4 crio-nodes"):
        KubeLab(tmp_path / "other", crio_nodes=9)
    assert KubeLab(tmp_path / "plain").crio_count == 0
    # a lab made before --crio-nodes: none, and none added (its certificates name its nodes only)
    (d / "kube" / "crio-nodes").unlink()
    assert KubeLab(d).crio_count == 0
    with pytest.raises(LabError, match="holds a lab of 0 crio-node"):
        KubeLab(d, crio_nodes=1)


def test_crio_nodes_are_for_the_kube_profile_only(tmp_path):
    from ctrtool.lab import open_lab

    with pytest.raises(LabError, match="--crio-nodes is for the kube profile"):
        open_lab(str(tmp_path / "lab"), "crio", None, 1)


def test_a_crio_node_starts_crio_in_a_namespace_where_root_is_shared(tmp_path):
    """The script CRI-O is started through: makes / shared (in the namespace unshare made), then
    becomes CRI-O with its argv unchanged."""
    from ctrtool.lab.crionode import NAMESPACE_SCRIPT

    fake_mount = tmp_path / "mount"
    fake_mount.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "said"}\n')
    fake_mount.chmod(0o755)
    res = subprocess.run(
        ["/bin/sh", "-c", NAMESPACE_SCRIPT, "crio-ns", str(fake_mount), "/bin/echo", "--listen", "a b"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0 and res.stdout == "--listen a b\n"
    assert (tmp_path / "said").read_text() == "--make-shared /\n"
