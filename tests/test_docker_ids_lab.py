"""docker's own image IDs, on every lab profile: the ID `docker images` prints (Docker 29 on
containerd's image store prints the manifest digest; docker on overlay2 the config digest), and its
prefixes, are taken by explain, layers, rmi and doctor --image, and the docker row of `ctrtool images`
shows that ID. The config digest, the same image's ID in every store, stays in the JSON's `id`
(issue 20, item 2: with the digest Docker 29 prints, all four said "not found" or "nowhere on this
node", the table showed another ID than docker's, and rmi planned `docker image rm` of the config
digest, which Docker 29 answers with "No such image")."""

from __future__ import annotations

import subprocess

import pytest
from helpers import ctrtool, ctrtool_json

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
CONFIG_DIGEST = "sha256:10da968d4b97b257d0a6d346712cd6d3bc4cb63b2b5032eabab3e008e4fb5e7a"


@pytest.fixture(scope="module")
def docker_id(lab_env) -> str:
    got = subprocess.run(
        ["docker", "images", "--no-trunc", "--format", "{{.ID}}", DEMO],
        env=lab_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (printed,) = got.stdout.split()
    assert printed.startswith("sha256:") and len(printed) == 71
    return printed


def test_the_docker_rows_image_id_is_the_one_docker_prints(lab_env, docker_id, lab):
    table = ctrtool("images", "-b", "docker", env=dict(lab_env, COLUMNS="200"))
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("docker") and DEMO in line)
    assert docker_id[7:19] in row.split(), row
    data, _ = ctrtool_json("images", "-b", "docker", env=lab_env)
    (record,) = [r for r in data if r["ref"] == DEMO]
    assert record["id"] == CONFIG_DIGEST  # the same in every store
    if lab.profile.docker_store == "containerd":
        assert docker_id != CONFIG_DIGEST and record["digest"] == docker_id
    else:
        assert docker_id == CONFIG_DIGEST


@pytest.mark.parametrize("length", [None, 12, 7])
def test_commands_take_the_id_docker_prints_and_its_prefixes(lab_env, docker_id, length):
    ref = docker_id if length is None else docker_id[7 : 7 + length]
    explain = ctrtool("explain", ref, env=lab_env)
    assert explain.returncode == 0, explain.stderr
    layers = ctrtool("layers", "-b", "docker", ref, env=lab_env)
    assert layers.returncode == 0, layers.stderr
    assert "namespace moby" in layers.stdout or "docker's own store" in layers.stdout, layers.stdout
    rmi = ctrtool("rmi", "-b", "docker", "--dry-run", ref, env=lab_env)
    assert rmi.returncode == 0, rmi.stderr
    # the ID docker itself knows (the config digest is "No such image" to Docker 29's containerd store)
    assert rmi.stdout.rstrip().endswith(f"image rm {docker_id}"), rmi.stdout
    doctor = ctrtool("doctor", "--image", ref, "--check", "image", env=lab_env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.startswith(f"[ok] image: {DEMO} is in k8s.io"), doctor.stdout
    assert f"{ref} is an image ID" in doctor.stdout, doctor.stdout
