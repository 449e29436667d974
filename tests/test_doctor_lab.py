"""`ctrtool doctor` on a healthy lab: every check ok, except the honest warning about end-of-life
versions on the Debian profile; the exit status follows (0, or 1 for that warning); JSON, YAML and
the table say the same."""

from __future__ import annotations

import pytest
import yaml
from helpers import ctrtool, doctor

from ctrtool.lab import DEMO_IMAGE

pytestmark = pytest.mark.lab

CHECKS = ["endpoints", "cri_plugin", "sandbox_image", "image", "snapshotter", "disk", "versions"]
FIELDS = ["check", "title", "status", "summary", "details", "evidence", "fixes"]


def test_healthy_lab(lab, lab_env):
    got, proc = doctor("--image", DEMO_IMAGE, env=lab_env)
    assert list(got) == CHECKS
    for r in got.values():
        assert list(r) == FIELDS
        assert all(list(e) == ["kind", "source", "excerpt"] for e in r["evidence"])
        assert all(list(f) == ["summary", "commands", "file", "lines"] for f in r["fixes"])
    expected_warn = {"versions"} if lab.profile.name == "debian" else set()
    if got["disk"]["status"] != "ok":  # the host's disk, not the lab's doing
        expected_warn.add("disk")
    assert {name for name, r in got.items() if r["status"] != "ok"} == expected_warn, got
    assert proc.returncode == (1 if expected_warn else 0)


def test_outputs_agree(lab_env):
    got, _ = doctor(env=lab_env)
    as_yaml = ctrtool("doctor", "-o", "yaml", env=lab_env)
    assert {r["check"]: r["status"] for r in yaml.safe_load(as_yaml.stdout)} == {k: v["status"] for k, v in got.items()}
    table = ctrtool("doctor", env=lab_env)
    assert table.returncode == as_yaml.returncode
    lines = table.stdout.splitlines()
    for name, r in got.items():
        mark = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skipped": "skipped"}[r["status"]]
        assert f"[{mark}] {name}: {r['summary']}" in lines
    assert table.stderr == ""


def test_read_only(lab_env, tmp_path):
    """Doctor runs only listing and describing calls (every tool call traced)."""
    import json

    trace = tmp_path / "trace.jsonl"
    ctrtool("doctor", "--image", DEMO_IMAGE, env={**lab_env, "CTRTOOL_TRACE": str(trace)})
    calls = [json.loads(line)["argv"] for line in trace.read_text().splitlines()]
    assert calls
    reads = {
        "version",
        "--version",
        "info",
        "images",
        "imagefsinfo",
        "plugins",
        "namespaces",
        "snapshots",
        "ps",
        "pods",
        "image",
        "ls",
        "inspect",
    }
    for argv in calls:
        words = [a for a in argv[1:] if not a.startswith("-") or a == "--version"]
        assert any(w in reads for w in words), argv
        assert not {"rm", "rmi", "import", "load", "tag", "pull", "prune", "delete", "remove"} & set(argv), argv


def test_exit_status_rule():
    from ctrtool.doctor import Result, Status, exit_code

    def results(*statuses):
        return [Result(f"c{i}", "t", s, "x") for i, s in enumerate(statuses)]

    assert exit_code(results(Status.OK, Status.OK)) == 0
    assert exit_code(results(Status.OK, Status.SKIPPED)) == 3
    assert exit_code(results(Status.WARN, Status.SKIPPED)) == 1
    assert exit_code(results(Status.FAIL, Status.OK)) == 1


def test_nothing_answers(lab_env):
    """Every endpoint dead: endpoints fails with each tool's call as evidence, the other checks say
    why they could not run."""
    env = {
        **{k: v for k, v in lab_env.items() if k != "CRI_CONFIG_FILE"},
        "DOCKER_HOST": "unix:///nonexistent/d.sock",
        "CONTAINERD_ADDRESS": "/nonexistent/c.sock",
        "CONTAINER_RUNTIME_ENDPOINT": "unix:///nonexistent/c.sock",
        "IMAGE_SERVICE_ENDPOINT": "unix:///nonexistent/c.sock",
    }
    got, proc = doctor(env=env)
    assert proc.returncode == 1
    assert got["endpoints"]["status"] == "fail"
    assert got["endpoints"]["summary"] == "docker, ctr and crictl do not answer at their endpoints"
    assert {e["source"].split()[0] for e in got["endpoints"]["evidence"]} == {"docker", "ctr", "crictl"}
    for name in ("cri_plugin", "sandbox_image", "snapshotter", "disk", "versions"):
        assert got[name]["status"] == "skipped" and got[name]["summary"], got[name]


def test_check_runs_only_the_checks_named_and_refuses_unknown_ones(lab_env):
    results, proc = doctor("--check", "versions", "--check", "endpoints", env=lab_env)
    assert list(results) == ["endpoints", "versions"]  # in doctor's order, each once
    bad = ctrtool("doctor", "--check", "nope", env=lab_env)
    assert bad.returncode == 2 and bad.stdout == "" and "no check named 'nope'" in bad.stderr
    lone = ctrtool("doctor", "--check", "image", env=lab_env)
    assert lone.returncode == 2 and "needs --image" in lone.stderr
