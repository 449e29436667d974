"""`ctrtool doctor`, endpoints check, against the lab: every tool's endpoint found and answering;
crictl with no configuration and no environment: doctor names the file crictl reads and the lines
to put in it, and once they are written doctor says ok."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import apply_fix, doctor

pytestmark = pytest.mark.lab


def test_healthy_lab_every_endpoint_answers(lab_env):
    got, _ = doctor(env=lab_env)
    r = got["endpoints"]
    assert r["status"] == "ok", r
    for backend in ("docker", "ctr", "crictl"):
        assert any(d.startswith(f"{backend}: ") and d.endswith("answers") for d in r["details"]), r["details"]
    assert {e["kind"] for e in r["evidence"]} == {"command"}
    assert any(e["source"].startswith("crictl ") and "RuntimeName:  containerd" in e["excerpt"] for e in r["evidence"])


def test_crictl_without_config_gets_the_file_to_write(lab, lab_env):
    scratch = os.path.join(lab.directory, "doctor-no-crictl-config")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    path = os.path.join(scratch, "crictl.yaml")  # crictl's config file: CRI_CONFIG_FILE, missing
    env = {k: v for k, v in lab_env.items() if k not in ("CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT")}
    env["CRI_CONFIG_FILE"] = path
    env["HOME"] = scratch
    try:
        got, proc = doctor(env=env)
        r = got["endpoints"]
        # no default socket on this machine: fail; where /run/containerd/containerd.sock exists: warn
        assert r["status"] in ("fail", "warn"), r
        assert proc.returncode == 1
        assert r["summary"].startswith("crictl has no")
        assert {"kind": "file", "source": path, "excerpt": "(no such file)"} in r["evidence"]
        (fix,) = r["fixes"]
        assert fix["file"] == path
        socket = "unix://" + lab_env["CONTAINERD_ADDRESS"]
        assert fix["lines"][:2] == [f"runtime-endpoint: {socket}", f"image-endpoint: {socket}"]
        apply_fix(fix, env)
        got, _ = doctor(env=env)
        assert got["endpoints"]["status"] == "ok", got["endpoints"]
        assert any(d.startswith("crictl: ") and f"runtime-endpoint in {path}" in d for d in got["endpoints"]["details"])
        assert got["cri_plugin"]["status"] == "ok"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_table_output_names_problem_and_fix(lab, lab_env):
    from helpers import ctrtool

    env = {k: v for k, v in lab_env.items() if k not in ("CONTAINER_RUNTIME_ENDPOINT", "IMAGE_SERVICE_ENDPOINT")}
    env["CRI_CONFIG_FILE"] = os.path.join(lab.directory, "doctor-nowhere", "crictl.yaml")
    proc = ctrtool("doctor", env=env)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(
        line.startswith(("[FAIL] endpoints: crictl has no", "[WARN] endpoints: crictl has no")) for line in lines
    )
    assert f"      in {env['CRI_CONFIG_FILE']}:" in lines


def test_docker_on_its_own_containerd(lab, lab_env):
    """A dockerd that started a containerd of its own: docker 23+ reports it (Containerd.Address),
    doctor says the kubelet's CRI is another containerd, names the daemon.json dockerd reads (from
    its command line) and the line for it; with that line and a restart, docker is on the CRI's
    containerd. Docker 20.10 (Debian) does not report its containerd: doctor says so."""
    import json

    from doctor_daemons import OwnDockerd

    d = OwnDockerd(lab, "owndocker")
    try:
        d.start()
        env = {**lab_env, "DOCKER_HOST": d.host}
        got, proc = doctor(env=env)
        r = got["endpoints"]
        if not lab.profile.builds:
            assert r["status"] == "ok", r
            assert any("does not say which containerd it uses" in x for x in r["details"])
            return
        assert r["status"] == "warn" and proc.returncode == 1, r
        cri = lab_env["CONTAINERD_ADDRESS"]
        assert r["summary"].startswith("docker works with the containerd at ")
        assert f"the kubelet's CRI with the one at unix://{cri}" in r["summary"]
        assert any(
            e["source"].startswith("docker ") and e["excerpt"].startswith("Containerd.Address: ") for e in r["evidence"]
        )
        assert any(e["source"] == f"/proc/{d.proc.pid}/cmdline" for e in r["evidence"])
        (fix,) = r["fixes"]
        assert fix["file"] == str(d.config)
        assert fix["lines"] == [f'"containerd": "{cri}"']
        # the fix: that key in that file, then a restart of dockerd
        settings = json.loads(d.config.read_text())
        settings.update(json.loads("{" + fix["lines"][0] + "}"))
        d.config.write_text(json.dumps(settings, indent=2) + "\n")
        assert fix["commands"] == ["systemctl restart docker"]
        d.stop()
        d.start()
        got, _ = doctor(env=env)
        assert got["endpoints"]["status"] == "ok", got["endpoints"]
        assert f"docker works with the CRI's containerd ({cri})" in got["endpoints"]["details"]
    finally:
        d.purge()
