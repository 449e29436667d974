"""The local lab with real daemons: containerd (CRI), dockerd, ctr and crictl. No mocks.

Each test module run uses its own short lab directory under /var/tmp, never the default one, and
removes it at the end. Skipped when not root or a binary is missing; failed instead when CI=true.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import signal
import time

import pytest
from conftest import TEST_PROFILES

from ctrtool import runner
from ctrtool.lab import (
    APT_INSTALL,
    DEFAULT_DIR,
    DEMO_IMAGE,
    PAUSE_IMAGE,
    Lab,
    LabError,
    default_dir,
    find_crictl,
    pid_alive,
)
from ctrtool.lab.supervisor import cmdline as _cmdline

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module", params=TEST_PROFILES)
def lab(lab_prerequisites, request):
    directory = pathlib.Path(f"/var/tmp/ctrtool-lab-test-{secrets.token_hex(3)}")
    assert not directory.exists()
    the_lab = Lab(directory, request.param)
    try:
        yield the_lab
    finally:
        if directory.exists():
            the_lab.down(purge=True)


@pytest.fixture(scope="module")
def first_up(lab):
    messages: list[str] = []
    started = time.monotonic()
    status = lab.up(progress=messages.append)
    return {"status": status, "messages": messages, "seconds": time.monotonic() - started}


def _pids(status: dict) -> dict[str, int | None]:
    return {d["name"]: d["pid"] for d in status["daemons"]}


def _docker(lab: Lab, *args: str) -> runner.Result:
    return runner.run(
        ["docker", "-H", f"unix://{lab.docker_socket}", *args],
        timeout=60,
        env={"DOCKER_HOST": "", "DOCKER_CONTEXT": ""},
    )


def _ctr(lab: Lab, namespace: str, *args: str) -> runner.Result:
    return runner.run(["ctr", "-a", str(lab.containerd_socket), "-n", namespace, *args], timeout=60)


def _crictl(lab: Lab, *args: str, check: bool = True) -> runner.Result:
    crictl = find_crictl()
    assert crictl
    return runner.run([crictl, "--config", str(lab.crictl_config), *args], timeout=60, check=check)


def _mounts_under(directory: pathlib.Path) -> list[str]:
    root = str(directory)
    points = [line.split(" ")[4] for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == root or p.startswith(root + "/")]


def _lab_shims(lab: Lab) -> list[int]:
    shims = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = _cmdline(int(entry))
            if argv and "containerd-shim" in argv[0] and str(lab.containerd_socket) in argv:
                shims.append(int(entry))
    return shims


def test_up_starts_both_daemons_and_imports_images(lab, first_up):
    status = first_up["status"]
    assert status["directory"] == str(lab.directory)
    pids = _pids(status)
    assert set(pids) == {"containerd", "dockerd"}
    for daemon in status["daemons"]:
        assert daemon["running"] is True
        assert pid_alive(daemon["pid"])
        assert pathlib.Path(daemon["socket"]).is_socket()
        assert pathlib.Path(daemon["log"]).is_file()

    docker_images = _docker(lab, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert DEMO_IMAGE in docker_images
    assert DEMO_IMAGE in _ctr(lab, "default", "images", "ls", "-q").stdout.split()
    k8s = _ctr(lab, "k8s.io", "images", "ls", "-q").stdout.split()
    assert DEMO_IMAGE in k8s and PAUSE_IMAGE in k8s
    cri = json.loads(_crictl(lab, "images", "-o", "json").stdout)
    tags = {tag for img in cri["images"] for tag in img.get("repoTags") or []}
    assert {DEMO_IMAGE, PAUSE_IMAGE} <= tags


def test_up_again_is_idempotent(lab, first_up):
    messages: list[str] = []
    status = lab.up(progress=messages.append)
    assert _pids(status) == _pids(first_up["status"])
    text = "\n".join(messages)
    assert "starting" not in text
    assert "importing" not in text and "loading" not in text
    assert "already running" in text


def test_status_reports_live_daemons(lab, first_up):
    status = lab.status()
    for daemon in status["daemons"]:
        assert daemon["running"] and pid_alive(daemon["pid"])
        argv = _cmdline(daemon["pid"])
        assert os.path.basename(argv[0]) == daemon["name"]
        assert str(lab.directory) in " ".join(argv)
    assert lab.containerd_pidfile.read_text().strip() == str(_pids(status)["containerd"])
    assert lab.docker_pidfile.read_text().strip() == str(_pids(status)["dockerd"])
    assert len(status["network"]["bridge"]) <= 15
    assert status["network"]["subnet"].startswith("10.213.")


def test_env_points_at_existing_sockets(lab, first_up):
    env = lab.env()
    path = ["PATH"] if lab.profile.builds else []  # the profile's own ctr first
    assert list(env) == [
        "CTRTOOL_LAB_DIR",
        *path,
        "DOCKER_HOST",
        "CONTAINERD_ADDRESS",
        "CONTAINER_RUNTIME_ENDPOINT",
        "IMAGE_SERVICE_ENDPOINT",
        "CRI_CONFIG_FILE",
    ]
    assert env["CTRTOOL_LAB_DIR"] == str(lab.directory)
    if path:
        ctr = pathlib.Path(env["PATH"].split(os.pathsep)[0]) / "ctr"
        assert "2.4.2" in runner.run([str(ctr), "--version"], timeout=30).stdout
    assert env["DOCKER_HOST"] == f"unix://{lab.docker_socket}"
    for key in ("DOCKER_HOST", "CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT"):
        assert env[key].startswith("unix://")
        assert pathlib.Path(env[key][len("unix://") :]).is_socket()
    assert pathlib.Path(env["CONTAINERD_ADDRESS"]).is_socket()
    config = pathlib.Path(env["CRI_CONFIG_FILE"]).read_text()
    assert f"runtime-endpoint: unix://{lab.containerd_socket}" in config
    assert f"image-endpoint: unix://{lab.containerd_socket}" in config
    # the environment alone is enough for the tools
    res = runner.run(["ctr", "version"], timeout=30, env={"CONTAINERD_ADDRESS": env["CONTAINERD_ADDRESS"]})
    assert "Server:" in res.stdout


def _pod_config(lab: Lab, name: str) -> pathlib.Path:
    path = lab.directory / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "metadata": {"name": name, "namespace": "default", "uid": secrets.token_hex(8), "attempt": 0},
                "log_directory": str(lab.directory / "podlogs" / name),
                "linux": {},
            }
        )
    )
    return path


def test_pod_sandbox_runs_on_the_pause_image(lab, first_up):
    pod = _crictl(lab, "runp", str(_pod_config(lab, "sandbox-test"))).stdout.strip()
    try:
        info = json.loads(_crictl(lab, "inspectp", "-o", "json", pod).stdout)
        assert info["status"]["state"] == "SANDBOX_READY"
        assert "trap 'exit 0' TERM INT" in " ".join(_cmdline(info["info"]["pid"]))
        assert info["status"]["network"]["ip"].startswith(lab.status()["network"]["subnet"].rsplit(".", 2)[0])
        # the sandbox's process is our pause image's shell, and it stops cleanly on SIGTERM
        _crictl(lab, "stopp", pod)
        info = json.loads(_crictl(lab, "inspectp", "-o", "json", pod).stdout)
        assert info["status"]["state"] == "SANDBOX_NOTREADY"
    finally:
        _crictl(lab, "rmp", "-f", pod, check=False)
    assert pod not in _crictl(lab, "pods", "-q").stdout.split()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_pause_image_exits_0_on_signal_as_pid_1(lab, first_up, sig):
    name = f"pause-{sig.lower()}"
    runc_root = str(lab.containerd_dir / "runc")  # keep ctr's runc state inside the lab
    _ctr(lab, "k8s.io", "run", "-d", "--null-io", "--runc-root", runc_root, PAUSE_IMAGE, name)
    try:
        _ctr(lab, "k8s.io", "tasks", "kill", "-s", sig, name)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = [ln.split() for ln in _ctr(lab, "k8s.io", "tasks", "ls").stdout.splitlines()[1:]]
            if [name, "STOPPED"] in [[r[0], r[-1]] for r in rows if r]:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"pause container did not stop on {sig}")
        # ctr warns "task NAME exit with non-zero exit code N" (and still exits 0) otherwise
        deleted = _ctr(lab, "k8s.io", "tasks", "delete", name)
        assert "non-zero exit code" not in deleted.stderr
    finally:
        base = ["ctr", "-a", str(lab.containerd_socket), "-n", "k8s.io"]
        runner.run(base + ["tasks", "delete", "-f", name], timeout=30, check=False)
        runner.run(base + ["containers", "rm", name], timeout=30, check=False)


def test_stale_pid_files_are_not_trusted(lab, first_up):
    """Daemons killed (as after a reboot), pid files left naming an unrelated live process."""
    old = _pids(lab.status())
    for name in ("dockerd", "containerd"):
        os.kill(old[name], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in old.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(p) for p in old.values())
    assert lab.containerd_socket.exists()  # left behind by the killed daemon
    me = os.getpid()
    lab.containerd_pidfile.write_text(f"{me}\n")
    lab.docker_pidfile.write_text(f"{me}\n")

    before = lab.status()
    assert all(not d["running"] for d in before["daemons"])

    status = lab.up()
    new = _pids(status)
    assert all(new[name] and new[name] != me and new[name] != old[name] for name in new)
    assert pid_alive(me)
    assert lab.containerd_pidfile.read_text().strip() == str(new["containerd"])
    assert lab.docker_pidfile.read_text().strip() == str(new["dockerd"])
    assert DEMO_IMAGE in _docker(lab, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()


def test_down_stops_everything_and_purge_removes_the_directory(lab, first_up):
    # leave workloads behind for down() to clean: a docker container and a CRI pod
    _docker(lab, "run", "-d", "--network", "none", "--name", "lab-test", DEMO_IMAGE, "sleep", "600")
    _crictl(lab, "runp", str(_pod_config(lab, "down-test")))
    assert _mounts_under(lab.directory)
    assert _lab_shims(lab)
    pids = _pids(lab.status())

    started = time.monotonic()
    result = lab.down()
    assert time.monotonic() - started < 30
    assert {s["name"] for s in result["stopped"]} == {"containerd", "dockerd"}
    assert result["workloads"]["docker"] == 1 and result["workloads"]["cri"] == 1
    assert not any(pid_alive(p) for p in pids.values())
    assert all(not d["running"] for d in lab.status()["daemons"])
    assert _mounts_under(lab.directory) == []
    deadline = time.monotonic() + 5
    while _lab_shims(lab) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _lab_shims(lab) == []
    assert lab.directory.is_dir()

    again = lab.down(purge=True)
    assert again["stopped"] == [] and again["purged"] is True
    assert not lab.directory.exists()
    assert not pathlib.Path(f"/sys/class/net/{lab.bridge}").exists()


def test_other_lab_directories_get_their_own_network():
    a, b = Lab("/var/tmp/ctrtool-lab-a"), Lab("/var/tmp/ctrtool-lab-b")
    assert a.bridge != b.bridge
    assert len(a.bridge) <= 15 and a.bridge.startswith("ctrlab")
    assert a.containerd_socket == pathlib.Path("/var/tmp/ctrtool-lab-a/containerd/containerd.sock")
    assert a.crictl_config == pathlib.Path("/var/tmp/ctrtool-lab-a/crictl.yaml")


def test_missing_binary_names_it_and_the_install_command(monkeypatch):
    from ctrtool.lab import daemons

    real = daemons.find_binary
    monkeypatch.setattr(daemons, "find_binary", lambda name: None if name == "crictl" else real(name))
    with pytest.raises(LabError) as info:
        daemons.require_binaries()
    assert "crictl" in info.value.message
    assert "go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0" in info.value.hint

    monkeypatch.setattr(daemons, "find_binary", lambda name: None if name == "dockerd" else real(name))
    with pytest.raises(LabError) as info:
        daemons.require_binaries()
    assert "dockerd" in info.value.message and "docker.io" in info.value.message
    assert APT_INSTALL in info.value.hint
    assert APT_INSTALL == "apt-get install -y containerd runc docker.io containernetworking-plugins busybox-static"


def test_default_dir_follows_the_environment(monkeypatch):
    monkeypatch.delenv("CTRTOOL_LAB_DIR", raising=False)
    assert default_dir() == pathlib.Path(DEFAULT_DIR) == pathlib.Path("/var/tmp/ctrtool-lab")
    assert Lab().directory == pathlib.Path(DEFAULT_DIR)
    monkeypatch.setenv("CTRTOOL_LAB_DIR", "/var/tmp/elsewhere")
    assert Lab().directory == pathlib.Path("/var/tmp/elsewhere")


def test_foreign_directory_is_neither_used_nor_purged(lab_prerequisites, tmp_path):
    keep = tmp_path / "precious.txt"
    keep.write_text("not a lab")
    foreign = Lab(tmp_path)
    with pytest.raises(LabError) as info:
        foreign.up()
    assert "not a ctrtool lab directory" in info.value.message
    with pytest.raises(LabError):
        foreign.down(purge=True)
    assert keep.read_text() == "not a lab"
    assert not (tmp_path / "containerd").exists()


def test_down_cleans_up_after_killed_daemons_with_running_workloads(lab_prerequisites):
    """As after `kill -9` of both daemons: shims, containers and mounts are left; down copes."""
    killed = Lab(f"/var/tmp/ctrtool-lab-test-{secrets.token_hex(3)}")
    try:
        killed.up()
        _docker(killed, "run", "-d", "--network", "none", DEMO_IMAGE, "sleep", "600")
        _crictl(killed, "runp", str(_pod_config(killed, "killed-test")))
        pids = _pids(killed.status())
        shims = _lab_shims(killed)
        assert len(shims) == 2
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(pid_alive(p) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.05)

        result = killed.down(purge=True)
        assert result["stopped"] == []
        assert sorted(result["shims"]) == sorted(shims)
        assert not any(pid_alive(p) for p in shims)
        assert _mounts_under(killed.directory) == []
        assert result["purged"] and not killed.directory.exists()
        results = pathlib.Path("/var/lib/cni/results")
        if results.is_dir():
            assert not [p for p in results.iterdir() if p.name.startswith(killed.network_name)]
    finally:
        if killed.directory.exists():
            killed.down(purge=True)


@pytest.mark.parametrize("builder", ["_go_install", "_go_build"])
def test_a_build_without_go_says_so_and_makes_nothing(builder, monkeypatch, tmp_path):
    from ctrtool.lab import profiles

    monkeypatch.setenv(profiles.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(profiles, "find_go", lambda: None)
    build = profiles.CONTAINERD_BUILD if builder == "_go_install" else profiles.KUBERNETES_BUILD
    with pytest.raises(LabError, match=f"needs {build.module}@{build.version}, built with Go, and go is not installed"):
        getattr(profiles, builder)(build, lambda _m: None)
    assert not (tmp_path / "cache").exists()
