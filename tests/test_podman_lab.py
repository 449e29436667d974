"""ctrtool's podman backend against the real podman, on a store of this test's own under /var/tmp
(a storage.conf named by CONTAINERS_STORAGE_CONF; the lab's two images loaded with `podman load`),
and a rootless-like store in user alice's home (a passwd file named by CTRTOOL_PASSWD_FILE, the
store populated with `podman --root` as root), which ctrtool must list and never write.

Needs root and podman: skipped without them, failed in CI (CI=true). Every store and mount made
here is removed at the end (`podman system reset`, then any overlay mount left under the directory)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import ctrtool, ctrtool_json

from ctrtool import imagebuild

pytestmark = pytest.mark.lab

DEMO, PAUSE = imagebuild.DEMO_IMAGE, imagebuild.PAUSE_IMAGE
# podman's defaults ask for limits a container host may not grant (RLIMIT_NOFILE/NPROC)
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
SCRIPT = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"


def require_podman() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not shutil.which("podman"):
        reason = "podman is not installed"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"podman lab test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class Store:
    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.home = base / "home" / "alice"
        self.user_root = self.home / ".local" / "share" / "containers" / "storage"
        conf = base / "storage.conf"
        # podman refuses a run root longer than 50 characters: base is short
        conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root}"\nrunroot = "{base / "run"}"\n')
        self.home.mkdir(parents=True)
        (base / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\nalice:x:4242:4242::{self.home}:/bin/sh\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRTOOL_", "CONTAINERS_", "DOCKER_"))}
        self.env.update(
            CONTAINERS_STORAGE_CONF=str(conf),
            CTRTOOL_PASSWD_FILE=str(base / "passwd"),
            XDG_CONFIG_HOME="/nonexistent-ctrtool-test",
            NO_COLOR="1",
        )
        self.as_user = ["--root", str(self.user_root), "--runroot", str(base / "ar"), "--storage-driver", "overlay"]

    def podman(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["podman", *argv], env=self.env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0 or not check, proc.stderr
        return proc

    def tree_hash(self, top: Path) -> str:
        """Every path, mode, owner, size, mtime and file content under ``top``."""
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                h.update(f"{path} {st.st_mode} {st.st_uid} {st.st_size} {st.st_mtime_ns}\n".encode())
                if os.path.isfile(path) and not os.path.islink(path):
                    h.update(Path(path).read_bytes())
        return h.hexdigest()


@pytest.fixture(scope="module")
def store():
    require_podman()
    base = Path(tempfile.mkdtemp(prefix="ctrtool-test-podman-lab-", dir="/var/tmp"))
    s = Store(base)
    try:
        built = imagebuild.build_images(base / "images")
        for image in built.values():
            s.podman("load", "--input", str(image.path))
        s.podman(*s.as_user, "load", "--input", str(built[PAUSE].path))
        # alice's home and the directories down to her graph root are hers (the layers keep theirs)
        for d in (s.home, *list(s.user_root.relative_to(s.home).parents)[:-1][::-1], s.user_root.relative_to(s.home)):
            os.chown(s.home / d, 4242, 4242)
        yield s
    finally:
        s.podman("rm", "--all", "--force", "--time", "0", check=False)
        s.podman("system", "reset", "--force", check=False)
        s.podman(*s.as_user, "system", "reset", "--force", check=False)
        with open("/proc/self/mounts") as fh:
            mounts = [line.split()[1] for line in fh if f" {base}/" in line]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "--lazy", mount], check=False)
        shutil.rmtree(base, ignore_errors=True)


def podman_images(s: Store) -> list[dict]:
    return json.loads(s.podman("images", "--all", "--format", "json").stdout)


def test_images_are_podmans_and_alices_store_is_its_own_rows(store):
    before = store.tree_hash(store.home)
    rows, proc = ctrtool_json("images", "-b", "podman", env=store.env)
    mine = {(r["id"], r["ref"]) for r in rows if r["store"] == f"{store.root}/overlay"}
    want = {(f"sha256:{i['Id']}", n) for i in podman_images(store) for n in i["Names"]}
    assert mine == want and len(want) == 2
    theirs = [r for r in rows if r["store"] == f"{store.user_root}/overlay"]
    assert [(r["ref"], r["source"], r["backend"], r["namespace"]) for r in theirs] == [
        (PAUSE, "metadata", "podman", None)
    ]
    assert all(r["store_owner"] == "alice" for r in theirs) and proc.stderr == ""
    (info,), _ = ctrtool_json("info", "-b", "podman", env=store.env)
    assert info["user_stores"] == [
        {"user": "alice", "uid": 4242, "graphroot": str(store.user_root), "driver": "overlay"}
    ]
    pause = [r for r in rows if r["ref"] == PAUSE]
    assert {r["copies"] for r in pause} == {2}, "the same image unpacked in two stores"
    assert store.tree_hash(store.home) == before, "alice's store was written"


def test_info_names_the_graph_root(store):
    table = ctrtool("info", "-b", "podman", env=store.env)
    assert table.returncode == 0, table.stderr
    assert str(store.root) in table.stdout and f"{store.root}/overlay" in table.stdout
    (info,), _ = ctrtool_json("info", "-b", "podman", env=store.env)
    assert info["root"] == str(store.root) and info["image_store"] == "containers-storage"
    assert info["storage_driver"] == "overlay" and info["image_count"] == len(podman_images(store))


def _file_bytes(path: str) -> int:
    total, seen = 0, set()
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def test_layers_are_directories_du_agrees_with(store):
    before = store.tree_hash(store.home)
    layers, _ = ctrtool_json("layers", "-b", "podman", DEMO, env=store.env)
    assert [layer["index"] for layer in layers] == [0, 1]
    built = imagebuild.build_images(store.base / "images")[DEMO]
    assert [layer["diff_id"] for layer in layers] == built.diff_ids
    for layer in layers:
        for c in layer["copies"]:
            assert c["path"].startswith(f"{store.root}/overlay/") or c["path"].startswith(f"{store.user_root}/overlay/")
            assert os.path.isdir(c["path"]) and c["path"].endswith("/diff"), c
            assert c["size"] == _file_bytes(c["path"]), c
            du = subprocess.run(["du", "-sb", c["path"]], capture_output=True, text=True, check=True)
            if c["size"] > 1 << 20:  # du counts the directories' own blocks too: close for big layers only
                assert abs(int(du.stdout.split()[0]) - c["size"]) <= 0.05 * c["size"], (c, du.stdout)
    # the base layer is pause's too: in alice's store as well
    assert len(layers[0]["copies"]) == 2 and len(layers[1]["copies"]) == 1
    assert store.tree_hash(store.home) == before


def test_ps_shows_a_running_container(store):
    store.podman("run", "-d", "--network", "none", *ULIMITS, "--name", "ctrtool-podman-run", DEMO, "sh", "-c", SCRIPT)
    try:
        rows, _ = ctrtool_json("ps", "-b", "podman", env=store.env)
        (row,) = [r for r in rows if r["name"] == "ctrtool-podman-run"]
        assert row["state"] == "running" and row["image"] == DEMO and row["backend"] == "podman"
        said = ctrtool(
            "exec", "-b", "podman", "ctrtool-podman-run", "--", "cat", "/etc/ctrtool-lab-release", env=store.env
        )
        assert said.returncode == 0 and said.stdout == imagebuild.RELEASE_TEXT, said.stderr
        logs = ctrtool("logs", "-b", "podman", "ctrtool-podman-run", env=store.env)
        assert logs.returncode == 0 and logs.stdout == "", logs.stderr
        (inspected,), _ = ctrtool_json("inspect", "-b", "podman", "ctrtool-podman-run", env=store.env)
        assert inspected["id"] == row["id"] and inspected["details"]["Id"] == row["id"]
        stop = ctrtool("stop", "-b", "podman", "--yes", "ctrtool-podman-run", env=store.env)
        assert stop.returncode == 0, stop.stderr
        rows, _ = ctrtool_json("ps", "-b", "podman", "-a", env=store.env)
        assert [r["state"] for r in rows if r["name"] == "ctrtool-podman-run"] == ["exited"]
    finally:
        gone = ctrtool("rm", "-b", "podman", "--yes", "--force", "ctrtool-podman-run", env=store.env)
        assert gone.returncode == 0, gone.stderr
    assert "ctrtool-podman-run" not in store.podman("ps", "-a", "--format", "{{.Names}}").stdout


def test_tag_rmi_save_load(store):
    before = store.tree_hash(store.home)
    extra = "localhost/ctrtool/podman-tag:1"
    dry = ctrtool("tag", "-b", "podman", "--dry-run", DEMO, extra, env=store.env)
    assert dry.returncode == 0 and "podman" in dry.stdout + dry.stderr
    assert extra not in {n for i in podman_images(store) for n in i["Names"]}
    assert ctrtool("tag", "-b", "podman", "--yes", DEMO, extra, env=store.env).returncode == 0
    assert extra in {n for i in podman_images(store) for n in i["Names"]}
    # podman prints an image with two names twice: one row per name all the same
    rows, _ = ctrtool_json("images", "-b", "podman", env=store.env)
    mine = [r["ref"] for r in rows if r["store"] == f"{store.root}/overlay"]
    assert sorted(mine) == sorted(set(mine)) and {DEMO, extra} <= set(mine)
    archive = store.base / "saved.tar"
    saved = ctrtool("save", "-b", "podman", "--yes", "-o", str(archive), extra, env=store.env)
    assert saved.returncode == 0 and archive.stat().st_size > 1 << 20, saved.stderr
    dry = ctrtool("rmi", "-b", "podman", "--dry-run", extra, env=store.env)
    assert dry.returncode == 0 and extra in {n for i in podman_images(store) for n in i["Names"]}
    assert ctrtool("rmi", "-b", "podman", "--yes", extra, env=store.env).returncode == 0
    assert extra not in {n for i in podman_images(store) for n in i["Names"]}
    loaded = ctrtool("load", "-b", "podman", "--yes", str(archive), env=store.env)
    assert loaded.returncode == 0, loaded.stderr
    assert extra in {n for i in podman_images(store) for n in i["Names"]}
    assert ctrtool("rmi", "-b", "podman", "--yes", extra, env=store.env).returncode == 0
    assert store.tree_hash(store.home) == before


def test_an_image_only_in_alices_store_is_refused(store):
    before = store.tree_hash(store.home)
    proc = ctrtool("rmi", "-b", "podman", "--yes", PAUSE + "-nope", env=store.env)
    assert proc.returncode != 0
    # pause is in both stores: the rootful copy is the one removed; alice's stays
    store.podman("tag", PAUSE, "localhost/ctrtool/pause:keep")
    assert ctrtool("rmi", "-b", "podman", "--yes", PAUSE, env=store.env).returncode == 0
    rows, _ = ctrtool_json("images", "-b", "podman", env=store.env)
    assert [r["store"] for r in rows if r["ref"] == PAUSE] == [f"{store.user_root}/overlay"]
    refused = ctrtool("rmi", "-b", "podman", "--yes", PAUSE, env=store.env)
    assert refused.returncode == 2, refused.stderr
    assert "runuser -u alice -- podman" in refused.stderr and "Traceback" not in refused.stderr
    store.podman("tag", "localhost/ctrtool/pause:keep", PAUSE)
    store.podman("rmi", "localhost/ctrtool/pause:keep")
    assert store.tree_hash(store.home) == before, "alice's store was written"


def test_copy_between_podman_and_docker(store, lab, lab_env):
    """`ctrtool copy` moves an image from podman to docker and back through the tools' archives
    (podman save | docker load, docker save | podman load): same image id on both sides."""
    from registry import scratch_image

    image = scratch_image("localhost/ctrtool/podman-copy:1")
    archive = store.base / "copy.tar"
    archive.write_bytes(image.archive)
    store.podman("load", "--input", str(archive))
    env = {**lab_env, **{k: store.env[k] for k in ("CONTAINERS_STORAGE_CONF", "CTRTOOL_PASSWD_FILE")}}
    try:
        there = ctrtool("copy", image.ref, "--from", "podman", "--to", "docker", "--yes", env=env)
        assert there.returncode == 0, there.stderr
        rows, _ = ctrtool_json("images", "-b", "docker", env=env)
        assert [r["id"] for r in rows if r["ref"] == image.ref] == [image.id]
        store.podman("rmi", image.ref)
        back = ctrtool("copy", image.ref, "--from", "docker", "--to", "podman", "--yes", env=env)
        assert back.returncode == 0, back.stderr
        assert [f"sha256:{i['Id']}" for i in podman_images(store) if image.ref in i["Names"]] == [image.id]
    finally:
        ctrtool("rmi", "-b", "docker", "--yes", image.ref, env=env)
        store.podman("rmi", image.ref, check=False)
