"""`ctrtool df --plan` against the real lab: each step's bytes come from the layer graph, what
stands in the way is named, and carrying a step out frees what it said (du confirms)."""

from __future__ import annotations

import subprocess

import pytest
from helpers import ctrtool, ctrtool_json
from registry import scratch_image

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"


def du(paths: list[str]) -> int:
    if not paths:
        return 0
    got = subprocess.run(["du", "-scb", "--apparent-size", *paths], capture_output=True, text=True)
    return int(got.stdout.splitlines()[-1].split()[0])


def test_plan_frees_what_it_says(native, lab_env, tmp_path, docker_place):
    """Image A is in docker, ctr's default and k8s.io, with a docker container using it; image B,
    another image with the same layer, is in default only. The plan keeps A's k8s.io copy; in
    default, removing A frees nothing (B needs the layer); in docker, the container goes first and
    then the layer directory does."""
    a_ref, b_ref, name = "localhost/ctrtool/plan-a:1", "localhost/ctrtool/plan-b:1", "ctrtool-plan-user"
    a, b = scratch_image(a_ref), scratch_image(b_ref)
    assert a.id != b.id and a.layer == b.layer
    a_tar, b_tar = tmp_path / "a.tar", tmp_path / "b.tar"
    a_tar.write_bytes(a.archive)
    b_tar.write_bytes(b.archive)
    try:
        native.docker("load", "-i", str(a_tar))
        for ns in ("default", "k8s.io"):
            native.ctr(ns, "images", "import", str(a_tar))
        native.ctr("default", "images", "import", str(b_tar))
        native.docker("create", "--name", name, a_ref, "true")
        plan, proc = ctrtool_json("df", "--plan", "-A", env=lab_env)
        assert list(plan) == ["steps", "frees"]
        mine = [s for s in plan["steps"] if s["id"] == a.id]
        assert sorted(s["store"] for s in mine) == sorted([docker_place, "containerd namespace default"])
        assert all(s["kept_in"] == "containerd namespace k8s.io" for s in mine)
        (default,) = [s for s in mine if s["namespace"] == "default"]
        assert default["frees"] == 0 and default["layers"] == 0 and default["paths"] == []
        assert default["shared_with"] == [b_ref] and default["kept_bytes"] > 0
        pin = a.id.removeprefix("sha256:")[:12]
        assert default["commands"] == [f"ctrtool rmi --backend ctr -n default --if-id {pin} {a_ref}"]
        # by default a step never removes a container: docker's copy is blocked, with no command
        (docker,) = [s for s in mine if s["backend"] == "docker"]
        assert docker["blocked_by"] == [name] and docker["commands"] == [] and docker["frees"] == 0
        assert docker["used_by"] == [name] and default["used_by"] == [] and default["blocked_by"] == []
        table = ctrtool("df", "--plan", "-A", env=dict(lab_env, COLUMNS="200"))
        assert table.returncode == 0 and f"blocked by {name}" in table.stdout
        # asked to, a step removes the stopped container first (without --force), then the image
        plan, proc = ctrtool_json("df", "--plan", "--remove-stopped", "-A", env=lab_env)
        mine = [s for s in plan["steps"] if s["id"] == a.id]
        (docker,) = [s for s in mine if s["backend"] == "docker"]
        assert docker["commands"] == [
            f"ctrtool rm --backend docker {name}",
            f"ctrtool rmi --backend docker --if-id {pin} {a_ref}",
        ]
        assert any(name in b for b in docker["blockers"]) and docker["shared_with"] == []
        # the bytes are the directories', as du counts them (each directory itself included): the
        # image's one layer, and the container's writable and -init layers that go with it
        assert docker["layers"] == 3 and docker["frees"] == du(docker["paths"]) > 0
        assert plan["frees"] == sum(s["frees"] for s in plan["steps"])
        # the demo image's copies are in the plan too (not carried out here)
        assert any(s["image"] == DEMO for s in plan["steps"])
        table = ctrtool("df", "--plan", "--remove-stopped", "-A", env=dict(lab_env, COLUMNS="200"))
        assert table.returncode == 0 and f"kept for {b_ref}" in table.stdout and f"used by {name}" in table.stdout
        assert f"ctrtool rm --backend docker {name}" in table.stdout
        # carry out the docker step: its layer directory goes, and with it the bytes the plan said
        assert du(docker["paths"]) >= docker["frees"]
        for command in docker["commands"]:
            done = ctrtool(*command.split()[1:], "--yes", env=lab_env)
            assert done.returncode == 0, (command, done.stderr)
        native.wait(lambda: du_exists(docker["paths"]) == [])
        # the default step frees nothing, as said: B keeps the layer
        usage, _ = ctrtool_json("df", "-b", "ctr", "-n", "default", env=lab_env)
        before_default = next(s["bytes"] for s in usage["stores"] if s["kind"] == "unpacked")
        done = ctrtool(*default["commands"][0].split()[1:], "--yes", env=lab_env)
        assert done.returncode == 0, done.stderr
        usage, _ = ctrtool_json("df", "-b", "ctr", "-n", "default", env=lab_env)
        assert next(s["bytes"] for s in usage["stores"] if s["kind"] == "unpacked") == before_default
    finally:
        native.docker("rm", "-f", name, check=False)
        # by name: Docker 29 on containerd's image store knows no image by its config digest
        native.forget_images(a_ref, b_ref)


def du_exists(paths: list[str]) -> list[str]:
    import os

    return [p for p in paths if os.path.exists(p)]


def test_plan_changes_nothing_and_bad_input_is_refused(lab_env, native):
    before = native.ctr("default", "images", "ls", "-q").stdout
    plan = ctrtool("df", "--plan", "-A", "-o", "yaml", env=lab_env)
    assert plan.returncode == 0 and "steps:" in plan.stdout
    assert native.ctr("default", "images", "ls", "-q").stdout == before
