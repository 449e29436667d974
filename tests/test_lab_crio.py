"""The crio lab profile: a real CRI-O 1.37.0 and podman on one containers/storage store, and a fake
rootless user's store, through crictl, podman and the CLI. No mocks.

The shared session lab (conftest's ``crio_lab``, in $CTRTOOL_TEST_LAB_DIR-crio) for what runs; a lab
of its own ($CTRTOOL_TEST_LAB_DIR-crio-down) for ``up`` then ``down --purge`` through the CLI.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from conftest import test_lab_dir as lab_dir_for

from ctrtool.lab.crio import CRIO_CONTAINER, CRIO_POD, DEMO_IMAGE, PAUSE_IMAGE, PODMAN_CONTAINER, ROOTLESS_IMAGE

pytestmark = pytest.mark.lab

DOWN_DIR = pathlib.Path(lab_dir_for("crio") + "-down")


def _run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr[-2000:]}"
    return res


def _ctrtool(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(env if env is not None else os.environ, NO_COLOR="1")
    env.pop("CTRTOOL_LAB_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "ctrtool", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _bare(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


def _crictl_images(env: dict[str, str]) -> dict[str, str]:
    """tag -> image ID (hex), from `crictl images -o json` on the lab's CRI-O."""
    images = json.loads(_run(["crictl", "images", "-o", "json"], env).stdout)["images"]
    return {tag: _bare(img["id"]) for img in images for tag in img.get("repoTags") or []}


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process is gone or a zombie (its parent, init here, reaps it in its own time), waiting a
    bounded time for it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _lab_processes(directory: pathlib.Path) -> list[str]:
    """Every process whose command line names the directory, from /proc (independent of the lab's code)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(directory).encode() in a for a in argv) and not _gone(int(entry.name), timeout=0):
            found.append(f"{entry.name}: {b' '.join(argv)[:120]!r}")
    return found


def _mounts_under(directory: pathlib.Path) -> list[str]:
    lines = pathlib.Path("/proc/self/mountinfo").read_text().splitlines()
    return [ln for ln in lines if f" {directory}/" in ln or f" {directory} " in ln]


def test_crictl_talks_to_crio_1_37(crio_env):
    out = _run(["crictl", "version"], crio_env).stdout
    assert "RuntimeName:  cri-o" in out
    assert "RuntimeVersion:  1.37.0" in out


def test_crictl_and_podman_share_one_store(crio_lab, crio_env):
    cri = _crictl_images(crio_env)
    assert DEMO_IMAGE in cri and PAUSE_IMAGE in cri, cri
    podman = json.loads(_run(["podman", "images", "--format", "json"], crio_env).stdout)
    ids = {name: _bare(img["Id"]) for img in podman for name in img.get("Names") or []}
    assert ids[DEMO_IMAGE] == cri[DEMO_IMAGE]
    # the image's top layer, unpacked in the shared graph root
    meta = json.loads((crio_lab.graphroot / "overlay-images" / "images.json").read_text())
    (record,) = [m for m in meta if DEMO_IMAGE in (m.get("names") or [])]
    assert record["id"] == cri[DEMO_IMAGE]
    diff = crio_lab.graphroot / "overlay" / record["layer"] / "diff"
    size = int(_run(["du", "-sb", str(diff)], crio_env).stdout.split()[0])
    assert size > 0


def test_the_rootless_image_is_only_in_the_rootless_store(crio_lab, crio_env):
    argv = ["podman", "--root", str(crio_lab.rootless_graphroot), "images", "--format", "{{.Repository}}:{{.Tag}}"]
    assert ROOTLESS_IMAGE in _run(argv, crio_env).stdout.split()
    assert ROOTLESS_IMAGE not in _crictl_images(crio_env)
    shared = _run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], crio_env).stdout.split()
    assert ROOTLESS_IMAGE not in shared
    # the fake user: its home in the lab's passwd file, its storage.conf naming that store
    (line,) = pathlib.Path(crio_env["CTRTOOL_PASSWD_FILE"]).read_text().splitlines()
    name, _, uid, _, _, home, _ = line.split(":")
    assert name == "labuser" and int(uid) > 0 and pathlib.Path(home) == crio_lab.user_home
    conf = (crio_lab.user_home / ".config" / "containers" / "storage.conf").read_text()
    assert f'graphroot = "{crio_lab.rootless_graphroot}"' in conf


def test_crictl_ps_shows_the_lab_container_running(crio_env):
    containers = json.loads(_run(["crictl", "ps", "-o", "json"], crio_env).stdout)["containers"]
    mine = [c for c in containers if c["metadata"]["name"] == CRIO_CONTAINER]
    assert mine and mine[0]["state"] == "CONTAINER_RUNNING", containers
    pods = json.loads(_run(["crictl", "pods", "-o", "json"], crio_env).stdout)["items"]
    assert [p["state"] for p in pods if p["metadata"]["name"] == CRIO_POD] == ["SANDBOX_READY"]


def test_podman_ps_shows_the_podman_container_running(crio_env):
    containers = json.loads(_run(["podman", "ps", "--format", "json"], crio_env).stdout)
    mine = [c for c in containers if PODMAN_CONTAINER in (c.get("Names") or [])]
    assert mine and mine[0]["State"] == "running", containers


def test_lab_status_and_env(crio_lab):
    d = str(crio_lab.directory)
    res = _ctrtool("lab", "status", "--dir", d, "-o", "json")
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)
    assert status["profile"] == "crio"
    (daemon,) = status["daemons"]
    assert daemon["name"] == "crio" and daemon["running"] and daemon["pid"]
    assert pathlib.Path(daemon["pidfile"]).read_text().strip() == str(daemon["pid"])
    text = _ctrtool("lab", "status", "--dir", d).stdout
    assert "crio" in text and "CRI-O 1.37.0" in text
    env = _ctrtool("lab", "env", "--dir", d).stdout
    endpoint = f"unix://{crio_lab.socket}"
    for line in (
        f"export CONTAINER_RUNTIME_ENDPOINT={endpoint}",
        f"export IMAGE_SERVICE_ENDPOINT={endpoint}",
        f"export CONTAINERS_STORAGE_CONF={crio_lab.directory}/storage.conf",
        f"export CTRTOOL_PASSWD_FILE={crio_lab.directory}/passwd",
    ):
        assert line in env.splitlines(), env
    assert "DOCKER_HOST" not in env and "CONTAINERD_ADDRESS" not in env


def test_up_then_down_purge_leaves_nothing():
    """A lab of its own: up through the CLI, then down --purge: no process, mount or directory left."""
    if _ctrtool("lab", "status", "--dir", str(DOWN_DIR)).returncode == 0:
        pytest.fail(f"{DOWN_DIR} runs a lab already: it is this test's own")
    if DOWN_DIR.exists():
        _ctrtool("lab", "down", "--purge", "--yes", "--dir", str(DOWN_DIR))
    started = time.monotonic()
    res = _ctrtool("lab", "up", "--profile", "crio", "--dir", str(DOWN_DIR))
    seconds = time.monotonic() - started
    try:
        assert res.returncode == 0, res.stderr[-3000:]
        assert "lab up in" in res.stderr, res.stderr
        assert _lab_processes(DOWN_DIR), "the lab's crio and conmons name its directory"
        status = json.loads(_ctrtool("lab", "status", "--dir", str(DOWN_DIR), "-o", "json").stdout)
        pid = status["daemons"][0]["pid"]
    finally:
        down = _ctrtool("lab", "down", "--purge", "--yes", "--dir", str(DOWN_DIR), "-o", "json")
    assert down.returncode == 0, down.stderr
    result = json.loads(down.stdout)
    assert result["purged"] and result["warnings"] == [], result
    assert result["workloads"]["cri"] == 1 and result["workloads"]["podman"] == 1
    assert [s["pid"] for s in result["stopped"]] == [pid]
    assert _gone(pid)
    assert _lab_processes(DOWN_DIR) == []
    assert _mounts_under(DOWN_DIR) == []
    assert not DOWN_DIR.exists()
    assert seconds < 300, f"up took {seconds:.0f}s"


def test_purge_refuses_a_directory_without_the_marker(tmp_path):
    keep = tmp_path / "keep-me"
    keep.write_text("not a lab\n")
    res = _ctrtool("lab", "down", "--purge", "--yes", "--profile", "crio", "--dir", str(tmp_path))
    assert res.returncode == 2, res.stderr
    assert "not a lab directory" in res.stderr
    assert keep.read_text() == "not a lab\n"
