"""The byte account, `df --plan` and what a copy costs on containers/storage (the crio lab: CRI-O 1.37
and rootful podman on one store, a user's rootless store beside it), each checked with du.

Every byte under each graph root is in one bucket; the plan never touches the kubelet's store (CRI-O's),
and leaves a copy in a user's store to that user, saying what their own removal frees: the test does
that removal as the user would (podman on their store) and measures it; a copy from a user's store into
CRI-O's says its cost before it runs, and du agrees."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from helpers import ctrtool, ctrtool_json

from ctrtool.lab.common import DEMO_IMAGE, PAUSE_IMAGE
from ctrtool.lab.crio import ROOTLESS_IMAGE, ROOTLESS_USER

pytestmark = pytest.mark.lab

BACKENDS = ("-b", "crictl", "-b", "podman")
SLACK = 64 * 1024  # the stores' databases (images.json, layers.json) change by a few KiB with a name


def du(path) -> int:
    out = subprocess.run(["du", "-sxb", "--apparent-size", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def podman(lab, *args: str, user: bool = False) -> str:
    return lab.tools().podman(*args, rootless=user).stdout


def crictl_images(env) -> dict[str, list[str]]:
    endpoint = env["CONTAINER_RUNTIME_ENDPOINT"]
    got = subprocess.run(
        ["crictl", "--runtime-endpoint", endpoint, "--image-endpoint", endpoint, "images", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {i["id"]: sorted(i["repoTags"]) for i in json.loads(got.stdout)["images"]}


def running(env) -> set[str]:
    rows, _ = ctrtool_json("ps", *BACKENDS, env=env)
    return {r["id"] for r in rows if r["state"] == "running"}


def new_layer_image(lab, tmp_path, ref: str, size: int, user: bool) -> None:
    """An image of one layer of its own (a file of random bytes), imported into a store."""
    data = tmp_path / "data"
    data.write_bytes(os.urandom(size))
    tar = tmp_path / "layer.tar"
    subprocess.run(["tar", "-C", str(tmp_path), "-cf", str(tar), "data"], check=True)
    podman(lab, "import", str(tar), ref, user=user)


def test_every_byte_of_each_store_is_in_one_bucket_as_du_says(crio_env, crio_lab):
    usage, _ = ctrtool_json("df", *BACKENDS, env=crio_env)
    roots = {r["root"]: r for r in usage["account"]}
    graph, mine = os.path.realpath(crio_lab.graphroot), os.path.realpath(crio_lab.rootless_graphroot)
    assert set(roots) == {graph, mine}, roots.keys()
    for root, r in roots.items():
        assert r["tool"] == "containers-storage"
        assert sum(b["bytes"] for b in r["buckets"]) == r["bytes"]
        measured = du(root)
        assert abs(r["bytes"] - measured) <= 0.02 * measured + SLACK, (root, r["bytes"], measured)
    kinds = {b["kind"]: b for b in roots[graph]["buckets"]}
    # CRI-O's container, its pod's infra container and podman's: each a writable layer of its own
    assert kinds["containers"]["items"] >= 3 and kinds["layers"]["bytes"] > 1_000_000, kinds
    assert "orphaned" not in kinds and "dangling" not in kinds, kinds
    table = ctrtool("df", *BACKENDS, env={**crio_env, "COLUMNS": "80"})
    assert table.returncode == 0, table.stderr
    assert f"{graph} (containers-storage)" in table.stdout and "needed" in table.stdout
    # the busybox layer is in both stores: the kubelet's copy (CRI-O's) is the one kept, the user's
    # counts as duplicated; a root too long for 80 columns goes on a line of its own
    after_graph = table.stdout.split(f"{graph} (containers-storage)", 1)[1]
    assert "duplicated 0 B" in after_graph.splitlines()[2], table.stdout
    assert f"\n{mine}\n  (containers-storage): " in table.stdout, table.stdout
    assert all(len(line) <= 80 for line in table.stdout.split("every byte under", 1)[1].splitlines()), table.stdout


def test_the_account_of_cri_os_store_asks_crictl_nothing_more(crio_env, tmp_path):
    """df's listing asks crictl for the runtime and its image filesystem once; the account's root
    comes from the same answers."""
    trace = tmp_path / "trace.jsonl"
    usage, _ = ctrtool_json("df", "-b", "crictl", env={**crio_env, "CTRTOOL_TRACE": str(trace)})
    assert [r["tool"] for r in usage["account"]] == ["containers-storage"]
    argvs = [json.loads(line)["argv"] for line in trace.read_text().splitlines()]
    assert sum("version" in a for a in argvs) == 1 and sum("imagefsinfo" in a for a in argvs) == 1, argvs


def test_an_untagged_image_is_dangling_and_the_kubelets_store_is_never_a_step(crio_env, crio_lab, tmp_path):
    ref = "localhost/ctrtool-test/retagged:1"
    new_layer_image(crio_lab, tmp_path, ref, 300_000, user=False)
    first = podman(crio_lab, "images", "--format", "{{.ID}}", "--no-trunc", ref).split()[0]
    new_layer_image(crio_lab, tmp_path, ref, 200_000, user=False)  # the name moves: the first has none
    try:
        usage, _ = ctrtool_json("df", *BACKENDS, env=crio_env)
        graph = next(r for r in usage["account"] if r["root"] == os.path.realpath(crio_lab.graphroot))
        dangling = [b for b in graph["buckets"] if b["kind"] == "dangling"]
        assert len(dangling) == 1 and 300_000 <= dangling[0]["bytes"] <= 300_000 + SLACK, graph["buckets"]
        plan, _ = ctrtool_json("df", "--plan", *BACKENDS, env=crio_env)
        assert plan["steps"] == [] and plan["frees"] == 0, plan
    finally:
        podman(crio_lab, "rmi", ref, first.removeprefix("sha256:"))


@pytest.fixture
def users_copy(crio_lab):
    """The demo image (in CRI-O's store, used by its container) loaded into the user's store too."""
    podman(crio_lab, "load", "-i", str(crio_lab.images_dir / "demo.tar"), user=True)
    yield DEMO_IMAGE
    crio_lab.tools().podman("rmi", DEMO_IMAGE, rootless=True, check=False)


def test_a_copy_in_a_users_store_is_left_to_the_user_and_their_removal_frees_what_the_plan_says(
    crio_env, crio_lab, users_copy
):
    images, alive = crictl_images(crio_env), running(crio_env)
    plan, _ = ctrtool_json("df", "--plan", *BACKENDS, env=crio_env)
    (step,) = plan["steps"]
    assert step["image"] == DEMO_IMAGE and step["store_owner"] == ROOTLESS_USER, step
    assert step["kept_in"] == "containers/storage" and step["commands"] == [] and step["frees"] == 0, step
    assert plan["frees"] == 0
    assert f"as {ROOTLESS_USER}: podman rmi {DEMO_IMAGE}" in " ".join(step["blockers"])
    # the user's image built on the same layer keeps it: only the demo's own layer goes
    assert step["shared_with"] == [ROOTLESS_IMAGE] and 0 < step["user_frees"] < step["kept_bytes"], step
    table = ctrtool("df", "--plan", *BACKENDS, env={**crio_env, "COLUMNS": "80"})
    assert f"left to user {ROOTLESS_USER}" in table.stdout and "--yes" not in table.stdout, table.stdout
    before = du(crio_lab.rootless_graphroot)
    podman(crio_lab, "rmi", DEMO_IMAGE, user=True)  # what the user runs
    freed = before - du(crio_lab.rootless_graphroot)
    assert abs(freed - step["user_frees"]) <= 0.05 * step["user_frees"] + SLACK, (freed, step["user_frees"])
    # the kubelet's store and its running containers are as they were
    assert crictl_images(crio_env) == images and running(crio_env) == alive
    assert any(PAUSE_IMAGE in tags for tags in images.values())


def test_a_copy_from_a_users_store_to_cri_o_says_its_cost_and_du_agrees(crio_env, crio_lab, tmp_path):
    ref = "localhost/ctrtool-test/users-own:1"
    new_layer_image(crio_lab, tmp_path, ref, 1_500_000, user=True)
    try:
        dry = ctrtool("copy", ref, "--from", "podman", "--to", "crictl", "--dry-run", env=crio_env)
        assert dry.returncode == 0, dry.stderr
        said = int(re.search(r"adds [^(]*\((\d+) bytes\): 1 layer\(s\) unpacked", dry.stderr)[1])
        assert 1_500_000 <= said <= 1_500_000 + SLACK, dry.stderr
        assert "blobs" not in dry.stderr  # containers/storage keeps no blobs
        # explain's recommendation is that copy, with the same cost
        explained, _ = ctrtool_json("explain", ref, *BACKENDS, env=crio_env)
        assert explained["recommendation"]["action"] == "copy", explained["recommendation"]
        assert explained["recommendation"]["copy_adds"]["unpacked"] == said, explained["recommendation"]
        assert [p["store"] for p in explained["places"] if p["has_image"]] == [
            f"containers/storage of user {ROOTLESS_USER}, rootless"
        ]
        before = du(crio_lab.graphroot)
        done = ctrtool("copy", ref, "--from", "podman", "--to", "crictl", "--yes", env=crio_env)
        assert done.returncode == 0, done.stderr
        added = du(crio_lab.graphroot) - before
        assert abs(added - said) <= 0.05 * said + SLACK, (added, said)
        measured = int(re.search(r"it added [^(]*\((\d+) bytes\)", done.stderr)[1])
        assert abs(measured - said) <= 0.05 * said + SLACK, done.stderr
        # podman finds it in its rootful store now, CRI-O's: a second copy writes nothing, and says so
        again = ctrtool("copy", ref, "--from", "podman", "--to", "crictl", "--dry-run", env=crio_env)
        assert again.returncode != 0 and "nothing to copy" in again.stderr, again.stderr
    finally:
        crio_lab.tools().podman("rmi", ref, rootless=True, check=False)
        crio_lab.tools().podman("rmi", ref, check=False)


def test_doctors_copy_fix_on_cri_o_says_what_it_adds(crio_env, crio_lab, tmp_path):
    ref = "localhost/ctrtool-test/users-fix:1"
    new_layer_image(crio_lab, tmp_path, ref, 700_000, user=True)
    try:
        proc = ctrtool("doctor", "--image", ref, "--check", "image", env=crio_env)
        fix = re.search(r"the copy adds [^(]*\((\d+) bytes\): 1 layer\(s\) unpacked", proc.stdout)
        assert fix and 700_000 <= int(fix[1]) <= 700_000 + SLACK, proc.stdout
        assert "--yes" not in proc.stdout
    finally:
        crio_lab.tools().podman("rmi", ref, rootless=True, check=False)


def test_doctor_says_what_the_kubelets_gc_cannot_free_on_cri_o(crio_env, crio_lab):
    usage, _ = ctrtool_json("df", *BACKENDS, env=crio_env)
    mine = next(r for r in usage["account"] if r["root"] == os.path.realpath(crio_lab.rootless_graphroot))
    theirs = sum(b["bytes"] for b in mine["buckets"] if b["kind"] in ("layers", "dangling"))
    proc = ctrtool("doctor", "--check", "disk", "-v", env={**crio_env, "COLUMNS": "400"})
    text = " ".join(proc.stdout.split())
    graph = os.path.realpath(crio_lab.graphroot)
    # CRI-O's containers use the demo and pause images: their layers are the in-use ones
    assert f"under {graph} (the CRI runtime's containers/storage) the kubelet's image GC frees none of" in text, text
    assert f"under {mine['root']} a containers/storage store's" in text and f"({theirs} bytes)" in text, text
    assert "docker's own" not in text and "--yes" not in text


def test_no_advice_on_cri_o_carries_yes(crio_env, users_copy):
    """doctor's fixes (an image only in the user's store among them), the plan's steps and the user's
    command in it, explain's recommendation: none carries --yes."""
    from test_advice_lab import commands_in

    answers = []
    for args in (("doctor", "--image", ROOTLESS_IMAGE), ("doctor", "--image", "localhost/nowhere/at-all:1")):
        proc = ctrtool(*args, "-o", "json", env=crio_env)
        assert proc.returncode in (0, 1), proc.stderr
        answers.append(json.loads(proc.stdout))
    for args in (
        ("df", "--plan", *BACKENDS),
        ("explain", *BACKENDS, ROOTLESS_IMAGE),
        ("explain", *BACKENDS, DEMO_IMAGE),
    ):
        got, _ = ctrtool_json(*args, env=crio_env)
        answers.append(got)
    lines = [c for a in answers for c in commands_in(a)]
    lines += [b for step in answers[2]["steps"] for b in step["blockers"]]
    assert any("ctrtool copy" in c for c in lines) and any("podman rmi" in c for c in lines), lines
    for line in lines:
        assert "--yes" not in line and " -y" not in line, line
