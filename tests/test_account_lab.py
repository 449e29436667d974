"""The byte account (`ctrtool df`'s ``account``) against the real lab, on every profile: each
storage root's buckets add up to what ``du -sxb --apparent-size`` says of it, the image layers and
blobs are where the tools say, and a directory nothing names is counted as orphaned."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest
from helpers import ctrtool, ctrtool_json

pytestmark = pytest.mark.lab


def du(path: str) -> int:
    got = subprocess.run(["du", "-sxb", "--apparent-size", path], capture_output=True, text=True, check=True)
    return int(got.stdout.split()[0])


def close(said: int, measured: int) -> bool:
    """Within 2% plus 64 KiB (the tools write their logs and databases while we read)."""
    return abs(said - measured) <= measured * 0.02 + 65536


def roots(lab_env) -> list[dict]:
    got, _ = ctrtool_json("df", "-A", env=lab_env)
    return got["account"]


def test_every_root_adds_up_to_du(lab, lab_env):
    accounted = roots(lab_env)
    tools = sorted(r["tool"] for r in accounted)
    assert "containerd" in tools and "docker" in tools, accounted
    for r in accounted:
        assert sum(b["bytes"] for b in r["buckets"]) == r["bytes"]
        assert close(r["bytes"], du(r["root"])), (r["root"], r["bytes"], du(r["root"]))
        kinds = {b["kind"] for b in r["buckets"]}
        assert kinds <= {
            "layers",
            "blobs",
            "containers",
            "dangling",
            "build-cache",
            "leased",
            "held",
            "orphaned",
            "ingest",
            "tmpmounts",
            "volumes",
            "metadata",
            "other",
        }
    (containerd,) = [r for r in accounted if r["tool"] == "containerd"]
    layers = {b["place"]: b for b in containerd["buckets"] if b["kind"] == "layers"}
    # the lab's demo image is unpacked in default and k8s.io (and moby, on docker's containerd store)
    assert {"containerd namespace default", "containerd namespace k8s.io"} <= set(layers)
    (blobs,) = [b for b in containerd["buckets"] if b["kind"] == "blobs"]
    assert {"default", "k8s.io"} <= set(blobs["namespaces"]) and blobs["bytes"] > 0
    (docker,) = [r for r in accounted if r["tool"] == "docker"]
    docker_layers = [b for b in docker["buckets"] if b["kind"] == "layers"]
    if lab.profile.docker_store == "overlay2":
        assert docker_layers and docker_layers[0]["place"] == "docker"
    else:  # docker on containerd's image store keeps its layers in namespace moby
        assert not docker_layers and "containerd namespace moby" in layers


def test_a_directory_nothing_names_is_orphaned(lab, lab_env):
    """A snapshot directory the snapshotter's metadata does not list (containerd#13416's kind of
    left-over) is counted as orphaned, to the byte, and the total still matches du."""
    (containerd,) = [r for r in roots(lab_env) if r["tool"] == "containerd"]
    before = sum(b["bytes"] for b in containerd["buckets"] if b["kind"] == "orphaned")
    stray = os.path.join(
        containerd["root"], "io.containerd.snapshotter.v1.overlayfs", "snapshots", f"9{secrets.randbelow(10**8)}"
    )
    os.makedirs(os.path.join(stray, "fs"))
    try:
        with open(os.path.join(stray, "fs", "left-over"), "wb") as fh:
            fh.write(b"x" * 300_000)
        (after,) = [r for r in roots(lab_env) if r["tool"] == "containerd"]
        orphaned = sum(b["bytes"] for b in after["buckets"] if b["kind"] == "orphaned")
        assert orphaned - before == du(stray)
        assert close(after["bytes"], du(after["root"]))
    finally:
        shutil.rmtree(stray)


def test_the_table_draws_a_bar_per_root(lab, lab_env):
    shown = ctrtool("df", "-A", env=dict(lab_env, COLUMNS="80"))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    for r in roots(lab_env):
        (head,) = [i for i, line in enumerate(lines) if line.startswith(f"{r['root']} ({r['tool']}): ")]
        bar, legend = lines[head + 1], lines[head + 2]
        assert 10 <= len(bar.strip()) <= 76 and set(bar.strip()) <= set("█▓▒░")
        assert all(word in legend for word in ("needed", "duplicated", "reclaimable", "orphaned"))
        assert max(len(line) for line in (bar, legend)) <= 80


def test_the_account_asks_the_tools_nothing_more(lab_env, tmp_path):
    """The roots come from what df's listing already asked: ctr's one `plugins ls`, docker's one
    `docker info` (CLI path), however many roots and buckets."""
    import json

    def calls(backend: str) -> list[list[str]]:
        trace = tmp_path / f"{backend}.jsonl"
        env = dict(lab_env, CTRTOOL_TRACE=str(trace), CTRTOOL_VIA="tools")
        got, _ = ctrtool_json("df", "-b", backend, env=env)
        assert got["account"], got
        return [json.loads(line)["argv"] for line in trace.read_text().splitlines()]

    ctr = calls("ctr")
    assert sum("plugins" in a for a in ctr) == 1, ctr
    docker = calls("docker")
    assert sum(a[0].endswith("docker") and "info" in a for a in docker) == 1, docker
    # crictl on containerd gives no root of its own (ctr's is containerd's); asking whether it has
    # one reuses the runtime facts df's listing asked for
    trace = tmp_path / "crictl.jsonl"
    ctrtool_json("df", "-b", "crictl", env=dict(lab_env, CTRTOOL_TRACE=str(trace)))
    crictl = [json.loads(line)["argv"] for line in trace.read_text().splitlines()]
    assert sum("version" in a for a in crictl) == 1 and sum("imagefsinfo" in a for a in crictl) == 1, crictl
