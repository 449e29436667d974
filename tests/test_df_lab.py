"""`ctrtool df` against the real lab: every path and size it prints is checked on disk (du), and
its tool calls do not grow with the number of image tags.

The demo image is unpacked in docker, ctr `default` and `k8s.io` (crictl's k8s.io is ctr's); its
compressed blobs are in containerd's content store once, referred to by both namespaces.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from helpers import ctrtool, ctrtool_json
from test_layers_lab import close, file_bytes

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
FIELDS = ["stores", "duplicated", "could_save", "account"]
STORE_FIELDS = [
    "store",
    "kind",
    "backend",
    "namespace",
    "path",
    "seen_by",
    "namespaces",
    "items",
    "bytes",
    "duplicated",
    "entries",
]
ENTRY_FIELDS = ["key", "path", "size", "copies", "namespaces"]


@pytest.fixture(scope="module")
def usage(lab_env):
    data, _ = ctrtool_json("df", "--all-backends", env=lab_env)
    return data


@pytest.fixture(scope="module")
def demo_layers(lab_env):
    data, _ = ctrtool_json("layers", "--all-backends", DEMO, env=lab_env)
    return data


def by_store(usage):
    return {s["store"]: s for s in usage["stores"]}


def test_stores_and_fields(usage, lab, docker_place):
    assert list(usage) == FIELDS
    stores = by_store(usage)
    assert {
        docker_place,
        "containerd namespace default",
        "containerd namespace k8s.io",
        "containerd content store",
    } <= set(stores)
    for s in usage["stores"]:
        assert list(s) == STORE_FIELDS
        assert all(list(e) == ENTRY_FIELDS for e in s["entries"])
        assert os.path.isdir(s["path"]), s["path"]
        assert s["items"] == len(s["entries"])
        assert s["bytes"] == sum(e["size"] for e in s["entries"])
    assert stores["containerd namespace k8s.io"]["seen_by"] == ["ctr", "crictl"]
    if lab.profile.docker_store == "overlay2":
        assert stores["docker"]["path"].endswith("/overlay2")
    else:  # docker's images are namespace moby's snapshots, which ctr sees too
        assert stores[docker_place]["path"].endswith("/io.containerd.snapshotter.v1.overlayfs")
        assert stores[docker_place]["seen_by"] == ["docker", "ctr"]
        assert "moby" in stores["containerd content store"]["namespaces"]


def test_every_path_and_size_agrees_with_du(usage):
    for s in usage["stores"]:
        paths = [e["path"] for e in s["entries"]]
        assert len(set(map(os.path.realpath, paths))) == len(paths), "a directory listed twice"
        for e in s["entries"]:
            assert os.path.realpath(e["path"]).startswith(os.path.realpath(s["path"]) + "/"), (s["path"], e)
            if s["kind"] == "blob":
                assert e["size"] == os.path.getsize(e["path"])
            else:
                assert os.path.isdir(e["path"])
                assert e["size"] == file_bytes(e["path"]), e
        if not paths:
            continue
        # du of the reported directories (directories' own blocks included): within a few percent
        du = subprocess.run(["du", "-scb", *paths], capture_output=True, text=True, check=True)
        total = int(du.stdout.strip().splitlines()[-1].split()[0])
        assert close(s["bytes"], total), (s["store"], s["bytes"], total)


def test_the_demo_image_is_unpacked_three_times_and_its_blobs_shared(usage, demo_layers, docker_place):
    stores = by_store(usage)
    for layer in demo_layers:
        for name in (docker_place, "containerd namespace default", "containerd namespace k8s.io"):
            (entry,) = [e for e in stores[name]["entries"] if e["key"] == layer["chain_id"]]
            assert entry["copies"] == 3
            (copy,) = [c for c in layer["copies"] if c["kind"] == "unpacked" and c["path"] == entry["path"]]
            assert copy["size"] == entry["size"]
        (blob,) = [e for e in stores["containerd content store"]["entries"] if e["key"] == layer["blob"]]
        assert {"default", "k8s.io"} <= set(blob["namespaces"])
    content = stores["containerd content store"]
    assert {"default", "k8s.io"} <= set(content["namespaces"]) and content["duplicated"] == 0


def test_duplicated_and_could_save(usage):
    # (k-1) x size per layer: all copies of a chain id minus its largest
    copies: dict[str, list[int]] = {}
    for s in usage["stores"]:
        if s["kind"] == "unpacked":
            for e in s["entries"]:
                copies.setdefault(e["key"], []).append(e["size"])
    expected = sum(sum(v) - max(v) for v in copies.values())
    assert usage["could_save"] == usage["duplicated"] == expected
    for s in usage["stores"]:
        if s["kind"] == "unpacked":
            assert s["duplicated"] == sum(e["size"] for e in s["entries"] if len(copies[e["key"]]) > 1)


def test_table_names_every_store_path_and_the_total(usage, lab_env):
    table = ctrtool("df", "-A", env=dict(lab_env, COLUMNS="250"))
    assert table.returncode == 0, table.stderr
    for s in usage["stores"]:
        assert s["path"] in table.stdout
    m = re.search(r"(\d+) bytes unpacked more than once", table.stdout)
    assert m and int(m[1]) == usage["could_save"]
    assert "shared by namespaces" in table.stdout


def test_each_rows_path_is_what_du_checks(usage, lab_env):
    """Namespaces share one snapshotter root: a row's PATH is its own directories (brace form),
    and du of that PATH, expanded by bash, gives the row's bytes (its files; du adds the
    directories' own sizes, within the tolerance)."""
    table = ctrtool("df", "-A", "-o", "wide", env=dict(lab_env, COLUMNS="2000"))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert any(line.startswith("PATH: the directories measured") for line in lines)
    for s in usage["stores"]:
        if s["kind"] == "blob" or not s["entries"]:
            continue
        line = next(x for x in lines if x.startswith(s["store"] + " ") and f" {s['bytes']} " in x)
        path = line.split()[-1]
        expanded = subprocess.run(["bash", "-c", f"printf '%s\\n' {path}"], capture_output=True, text=True).stdout
        assert sorted(expanded.split()) == sorted(e["path"] for e in s["entries"]), (path, s["entries"])
        du = subprocess.run(
            ["bash", "-c", f"du -scb --apparent-size {path}"], capture_output=True, text=True, check=True
        ).stdout
        total = int(du.splitlines()[-1].split()[0])
        assert close(s["bytes"], total), (s["store"], s["bytes"], total)
    paths = [x.split()[-1] for x in lines if " unpacked " in x]
    assert len(paths) == len(set(paths)), "no two rows name the same directories"


def test_tool_calls_do_not_grow_with_tags(lab_env, tmp_path):
    def calls():
        trace = tmp_path / f"trace-{len(list(tmp_path.iterdir()))}.jsonl"
        proc = ctrtool("df", "-A", "-o", "json", env=dict(lab_env, CTRTOOL_TRACE=str(trace)))
        assert proc.returncode == 0, proc.stderr
        return sorted(
            " ".join(a for a in json.loads(x)["argv"] if not a.startswith("/")).split(" --")[0]
            for x in trace.read_text().splitlines()
        ), json.loads(proc.stdout)

    before, data = calls()
    docker = ["docker", "-H", lab_env["DOCKER_HOST"]]
    ctr = ["ctr", "-a", lab_env["CONTAINERD_ADDRESS"]]
    extra = [f"localhost/ctrtool/df-extra:{i}" for i in range(8)]
    try:
        for ref in extra:
            subprocess.run(docker + ["tag", DEMO, ref], check=True, capture_output=True)
            subprocess.run(ctr + ["-n", "default", "images", "tag", DEMO, ref], check=True, capture_output=True)
        after, more = calls()
    finally:
        subprocess.run(docker + ["rmi", *extra], capture_output=True)
        subprocess.run(ctr + ["-n", "default", "images", "rm", *extra], capture_output=True)
    assert len(after) == len(before), (before, after)
    # tags add no bytes: the same directories and blobs
    assert [(s["store"], s["bytes"]) for s in more["stores"]] == [(s["store"], s["bytes"]) for s in data["stores"]]
