"""Endpoint discovery of a real layout: a containerd at k3s's paths, found with no flags and no env.

k3s (and RKE2) run their containerd with the socket /run/k3s/containerd/containerd.sock, the root
/var/lib/rancher/k3s/agent/containerd (RKE2: /var/lib/rancher/rke2/agent/containerd) and the state
/run/k3s/containerd. This test starts the lab profile's containerd there, on a machine that has none,
and removes only what it created. It refuses to run where any of those paths already exists (a real
k3s): in CI that is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest
from helpers import ctrtool

pytestmark = pytest.mark.lab

SOCKET = pathlib.Path("/run/k3s/containerd/containerd.sock")
ROOT = pathlib.Path("/var/lib/rancher/k3s/agent/containerd")
STATE = pathlib.Path("/run/k3s/containerd")
# the system's own containerd socket would be found first: its absence is part of "a machine that has none"
SYSTEM = pathlib.Path("/run/containerd/containerd.sock")


def _created(path: pathlib.Path) -> list[pathlib.Path]:
    """Make ``path``; return the directories this made, deepest first (to remove exactly those)."""
    made = []
    for parent in [*reversed(path.parents), path]:
        if not parent.exists():
            parent.mkdir(mode=0o711)
            made.append(parent)
    return list(reversed(made))


@pytest.fixture
def k3s_containerd(lab, tmp_path):
    present = [p for p in (SOCKET.parent, ROOT, pathlib.Path("/var/lib/rancher"), SYSTEM) if p.exists()]
    if present:
        message = f"this machine has a containerd layout of its own ({present[0]}): not touching it"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    made = _created(ROOT) + _created(STATE)
    config = tmp_path / "config.toml"
    config.write_text(
        "\n".join(
            [
                "version = 2",
                f'root = "{ROOT}"',
                f'state = "{STATE}"',
                'disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", '
                '"io.containerd.internal.v1.tracing"]',
                "[grpc]",
                f'  address = "{SOCKET}"',
                '[plugins."io.containerd.grpc.v1.cri"]',
                "  restrict_oom_score_adj = true",
                "  disable_tcp_service = true",
                '  stream_server_port = "0"',
                '[plugins."io.containerd.grpc.v1.cri".cni]',
                '  bin_dir = "/usr/lib/cni"',
                f'  conf_dir = "{tmp_path / "cni"}"',
                "",
            ]
        )
    )
    binary = [p for p in lab.tool_path() if (pathlib.Path(p) / "containerd").exists()]
    containerd = str(pathlib.Path(binary[0]) / "containerd") if binary else shutil.which("containerd")
    log = open(tmp_path / "containerd.log", "wb")
    proc = subprocess.Popen(
        [containerd, "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not SOCKET.is_socket():
            assert proc.poll() is None, (tmp_path / "containerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "containerd did not start"
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)
        assert not any(p.exists() for p in made), "everything the test made is gone"


def test_k3s_layout_is_found_with_no_flags(k3s_containerd, lab_env, tmp_path):
    # no endpoint anywhere: not in the environment, no config file, no crictl.yaml
    env = {
        k: v
        for k, v in lab_env.items()
        if k not in ("CONTAINERD_ADDRESS", "CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT", "DOCKER_HOST")
    }
    env["CRI_CONFIG_FILE"] = str(tmp_path / "no-crictl.yaml")
    proc = ctrtool("info", "-b", "ctr", "-b", "crictl", "-o", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    got = {i["backend"]: i for i in json.loads(proc.stdout)}
    ctr, cri = got["ctr"], got["crictl"]
    assert ctr["endpoint"] == str(SOCKET) and ctr["endpoint_source"] == f"default location {SOCKET} (found)"
    assert cri["endpoint"] == f"unix://{SOCKET}" and "(found)" in cri["endpoint_source"]
    assert ctr["root"] == cri["root"] == str(ROOT)
    assert ctr["store"] == cri["store"] == str(ROOT / "io.containerd.snapshotter.v1.overlayfs")
    assert os.path.isdir(ctr["store"]) and cri["storage_driver"] == "overlayfs"
    assert ctr["state"] == str(STATE)
